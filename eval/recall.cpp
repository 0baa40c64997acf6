#include "eval/recall.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "encoder/blas.h"

namespace opsis::eval {

RecallAtK recall_at_k(const Tensor& queries, const std::vector<std::int32_t>& query_concepts, const Tensor& gallery,
                      const std::vector<std::int32_t>& gallery_concepts) {
    expect_shape("recall", "queries", queries, {static_cast<std::int64_t>(query_concepts.size()), -1});
    expect_shape("recall", "gallery", gallery, {static_cast<std::int64_t>(gallery_concepts.size()), queries.dim(1)});
    const std::int64_t q = queries.dim(0), g = gallery.dim(0), e = queries.dim(1);
    RecallAtK r;
    r.queries = static_cast<std::size_t>(q);
    if (q == 0 || g == 0) return r;
    constexpr std::int64_t kChunk = 512;  // queries scored at once, to bound memory
    std::vector<float> scores(static_cast<std::size_t>(std::min(q, kChunk) * g));
    std::size_t hits1 = 0, hits5 = 0, hits10 = 0;
    for (std::int64_t q0 = 0; q0 < q; q0 += kChunk) {
        const std::int64_t rows = std::min(kChunk, q - q0);
        blas::gemm(false, true, static_cast<int>(rows), static_cast<int>(g), static_cast<int>(e), 1.0f,
                   queries.data() + q0 * e, static_cast<int>(e), gallery.data(), static_cast<int>(e), 0.0f,
                   scores.data(), static_cast<int>(g));
        for (std::int64_t i = 0; i < rows; ++i) {
            const float* row = scores.data() + i * g;
            const std::int32_t wanted = query_concepts[static_cast<std::size_t>(q0 + i)];
            float best_positive = -INFINITY;
            bool any = false;
            for (std::int64_t j = 0; j < g; ++j)
                if (gallery_concepts[static_cast<std::size_t>(j)] == wanted) {
                    best_positive = std::max(best_positive, row[j]);
                    any = true;
                }
            if (!any) continue;  // no right answer exists: a miss at every K
            // The best right answer's rank: how many items score strictly higher.
            std::int64_t above = 0;
            for (std::int64_t j = 0; j < g && above < 10; ++j) above += row[j] > best_positive;
            hits1 += above < 1;
            hits5 += above < 5;
            hits10 += above < 10;
        }
    }
    const double n = static_cast<double>(q);
    r.r1 = 100.0 * static_cast<double>(hits1) / n;
    r.r5 = 100.0 * static_cast<double>(hits5) / n;
    r.r10 = 100.0 * static_cast<double>(hits10) / n;
    return r;
}

}  // namespace opsis::eval
