#include "web/metrics.h"

#include <array>
#include <charconv>
#include <cmath>

namespace opsis::web {
namespace {

// A label value as the exposition format wants it: backslash, quote and newline escaped.
void append_label(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += "=\"";
    for (const char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    out += '"';
}

void append_number(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    std::array<char, 32> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), ec == std::errc{} ? end : buf.data());
}

void append_count(std::string& out, std::uint64_t n) { out += std::to_string(n); }

}  // namespace

std::string_view Metrics::method_label(std::string_view method) {
    static constexpr std::string_view kKnown[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (const std::string_view known : kKnown)
        if (method == known) return known;
    return "other";
}

void Metrics::observe(const std::string& route, std::string_view method, int status, double seconds) {
    std::lock_guard lock(mutex_);
    ++requests_[{route, method_label(method), status}];
    Histogram& h = latency_[route];
    for (std::size_t i = 0; i < std::size(kBuckets); ++i)
        if (seconds <= kBuckets[i]) ++h.counts[i];
    ++h.total;
    h.sum += seconds;
}

std::string Metrics::render(const std::vector<std::tuple<std::string, std::string, double>>& values) const {
    std::lock_guard lock(mutex_);
    std::string out;
    out += "# HELP opsis_http_requests_total HTTP requests answered, by route, method and status.\n";
    out += "# TYPE opsis_http_requests_total counter\n";
    for (const auto& [key, n] : requests_) {
        const auto& [route, method, status] = key;
        out += "opsis_http_requests_total{";
        append_label(out, "route", route);
        out += ',';
        append_label(out, "method", method);
        out += ',';
        append_label(out, "status", std::to_string(status));
        out += "} ";
        append_count(out, n);
        out += '\n';
    }
    out += "# HELP opsis_http_request_duration_seconds Time from a request's first byte to its response, by route.\n";
    out += "# TYPE opsis_http_request_duration_seconds histogram\n";
    for (const auto& [route, h] : latency_) {
        auto series = [&, &route = route](std::string_view suffix) {
            out += "opsis_http_request_duration_seconds";
            out += suffix;
            out += '{';
            append_label(out, "route", route);
        };
        for (std::size_t i = 0; i < std::size(kBuckets); ++i) {
            series("_bucket");
            out += ',';
            std::string le;
            append_number(le, kBuckets[i]);
            append_label(out, "le", le);
            out += "} ";
            append_count(out, h.counts[i]);
            out += '\n';
        }
        series("_bucket");
        out += ",le=\"+Inf\"} ";
        append_count(out, h.total);
        out += '\n';
        series("_sum");
        out += "} ";
        append_number(out, h.sum);
        out += '\n';
        series("_count");
        out += "} ";
        append_count(out, h.total);
        out += '\n';
    }
    for (const auto& [name, help, value] : values) {
        out +=
            "# HELP " + name + " " + help + "\n# TYPE " + name + (name.ends_with("_total") ? " counter\n" : " gauge\n");
        out += name;
        out += ' ';
        append_number(out, value);
        out += '\n';
    }
    return out;
}

}  // namespace opsis::web
