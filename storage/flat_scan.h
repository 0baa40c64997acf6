#pragma once
// Exact top-k by inner product over a row-major matrix, for one query. FAISS's flat search
// of a single query runs its generic (non-SIMD) distance loop or an sgemm that packs the
// whole database first; one sgemv reads the rows once and is 2-2.5x faster (`opsis bench
// vectors` prints both). Batches of queries stay with FAISS, whose sgemm path wins.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace opsis::storage {

struct RowScore {
    std::size_t row = 0;
    float score = 0;
};

// The k rows with the largest inner product with `query`, best first; equal scores keep row
// order. `rows` is n x d.
std::vector<RowScore> flat_top_k(const float* rows, std::size_t n, std::size_t d, const float* query, std::size_t k);

// The plain loop the kernel above is checked against.
std::vector<RowScore> flat_top_k_reference(const float* rows, std::size_t n, std::size_t d, const float* query,
                                           std::size_t k);

}  // namespace opsis::storage
