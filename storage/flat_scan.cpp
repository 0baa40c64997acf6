#include "storage/flat_scan.h"

#include <cblas.h>

#include <algorithm>

namespace opsis::storage {
namespace {

bool better(const RowScore& a, const RowScore& b) { return a.score > b.score || (a.score == b.score && a.row < b.row); }

std::vector<RowScore> best_k(const std::vector<float>& scores, std::size_t k) {
    k = std::min(k, scores.size());
    std::vector<RowScore> all(scores.size());
    for (std::size_t i = 0; i < scores.size(); ++i) all[i] = {i, scores[i]};
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), better);
    all.resize(k);
    return all;
}

}  // namespace

std::vector<RowScore> flat_top_k(const float* rows, std::size_t n, std::size_t d, const float* query, std::size_t k) {
    if (n == 0 || k == 0) return {};
    std::vector<float> scores(n);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(n), static_cast<int>(d), 1.0f, rows, static_cast<int>(d),
                query, 1, 0.0f, scores.data(), 1);
    return best_k(scores, k);
}

std::vector<RowScore> flat_top_k_reference(const float* rows, std::size_t n, std::size_t d, const float* query,
                                           std::size_t k) {
    std::vector<float> scores(n);
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < d; ++j) s += static_cast<double>(rows[i * d + j]) * query[j];
        scores[i] = static_cast<float>(s);
    }
    return best_k(scores, k);
}

}  // namespace opsis::storage
