#include "benchmarks/bench_support.h"

#include <cmath>
#include <cstdlib>
#include <fstream>

namespace opsis::bench {

std::string cache_dir() {
    const char* home = std::getenv("HOME");
    return std::string(home ? home : "/tmp") + "/.cache/opsis";
}

double proc_status_mib(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string key;
    while (in >> key) {
        if (key == std::string(field) + ":") {
            double kib = 0;
            in >> kib;
            return kib / 1024.0;
        }
        in.ignore(1 << 12, '\n');
    }
    return 0;
}

std::vector<float> random_unit_centres(std::size_t clusters, std::size_t dim, std::mt19937_64& rng) {
    std::vector<float> centres(clusters * dim);
    std::normal_distribution<float> g;
    for (std::size_t c = 0; c < clusters; ++c) {
        float norm = 0;
        for (std::size_t d = 0; d < dim; ++d)
            centres[c * dim + d] = g(rng), norm += centres[c * dim + d] * centres[c * dim + d];
        for (std::size_t d = 0; d < dim; ++d) centres[c * dim + d] /= std::sqrt(norm);
    }
    return centres;
}

std::vector<float> clustered_vectors(std::size_t n, std::size_t dim, const std::vector<float>& centres,
                                     std::mt19937_64& rng) {
    const std::size_t clusters = centres.size() / dim;
    std::vector<float> out(n * dim);
    std::normal_distribution<float> noise(0.0f, 0.6f / std::sqrt(static_cast<float>(dim)));
    std::uniform_int_distribution<std::size_t> pick(0, clusters - 1);
    for (std::size_t i = 0; i < n; ++i) {
        const float* c = &centres[pick(rng) * dim];
        float* v = &out[i * dim];
        float norm = 0;
        for (std::size_t d = 0; d < dim; ++d) v[d] = c[d] + noise(rng), norm += v[d] * v[d];
        for (std::size_t d = 0; d < dim; ++d) v[d] /= std::sqrt(norm);
    }
    return out;
}

}  // namespace opsis::bench
