#pragma once
// Request metrics in Prometheus's text format: counts by route, method and status, and
// latency histograms by route. Thread-safe. Every label comes from a closed set, so the
// number of series stays bounded whatever clients send: routes are patterns
// ("/api/items/{id}") chosen by the router, methods outside the standard few count as
// "other", and statuses are HTTP's three digits.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace opsis::web {

class Metrics {
public:
    void observe(const std::string& route, std::string_view method, int status, double seconds);
    // `values` are appended as they are: (name, help, value); a name ending in _total is a
    // counter, any other a gauge.
    std::string render(const std::vector<std::tuple<std::string, std::string, double>>& values) const;
    // The label a request method is counted under: itself when standard, else "other".
    static std::string_view method_label(std::string_view method);

private:
    static constexpr double kBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    struct Histogram {
        std::vector<std::uint64_t> counts = std::vector<std::uint64_t>(std::size(kBuckets), 0);
        std::uint64_t total = 0;
        double sum = 0;
    };
    mutable std::mutex mutex_;
    std::map<std::tuple<std::string, std::string_view, int>, std::uint64_t> requests_;
    std::map<std::string, Histogram> latency_;
};

}  // namespace opsis::web
