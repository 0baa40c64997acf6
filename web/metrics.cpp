#include "web/metrics.h"

#include <cstdio>

namespace opsis::web {

void Metrics::observe(const std::string& route, const std::string& method, int status, double seconds) {
    std::lock_guard lock(mutex_);
    ++requests_[{route, method, status}];
    Histogram& h = latency_[route];
    for (std::size_t i = 0; i < std::size(kBuckets); ++i)
        if (seconds <= kBuckets[i]) ++h.counts[i];
    ++h.total;
    h.sum += seconds;
}

std::string Metrics::render(const std::vector<std::tuple<std::string, std::string, double>>& values) const {
    std::lock_guard lock(mutex_);
    std::string out;
    char line[512];
    out += "# HELP opsis_http_requests_total HTTP requests answered, by route, method and status.\n";
    out += "# TYPE opsis_http_requests_total counter\n";
    for (const auto& [key, n] : requests_) {
        const auto& [route, method, status] = key;
        std::snprintf(line, sizeof line, "opsis_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
                      route.c_str(), method.c_str(), status, static_cast<unsigned long long>(n));
        out += line;
    }
    out += "# HELP opsis_http_request_duration_seconds Time from a request's first byte to its response, by route.\n";
    out += "# TYPE opsis_http_request_duration_seconds histogram\n";
    for (const auto& [route, h] : latency_) {
        for (std::size_t i = 0; i < std::size(kBuckets); ++i) {
            std::snprintf(line, sizeof line, "opsis_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                          route.c_str(), kBuckets[i], static_cast<unsigned long long>(h.counts[i]));
            out += line;
        }
        std::snprintf(line, sizeof line,
                      "opsis_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                      "opsis_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                      "opsis_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                      route.c_str(), static_cast<unsigned long long>(h.total), route.c_str(), h.sum, route.c_str(),
                      static_cast<unsigned long long>(h.total));
        out += line;
    }
    for (const auto& [name, help, value] : values) {
        out += "# HELP " + name + " " + help + "\n# TYPE " + name + (name.ends_with("_total") ? " counter\n" : " gauge\n");
        std::snprintf(line, sizeof line, "%s %.17g\n", name.c_str(), value);
        out += line;
    }
    return out;
}

}  // namespace opsis::web
