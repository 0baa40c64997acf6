#pragma once
// Recall@K for retrieval by concept: a query scores a hit at K when any of the K gallery
// items nearest to it (exact dot-product search over unit vectors) has the query's concept.
#include <cstdint>
#include <vector>

#include "encoder/tensor.h"

namespace opsis::eval {

struct RecallAtK {
    double r1 = 0, r5 = 0, r10 = 0;  // in percent
    std::size_t queries = 0;
};

RecallAtK recall_at_k(const Tensor& queries, const std::vector<std::int32_t>& query_concepts, const Tensor& gallery,
                      const std::vector<std::int32_t>& gallery_concepts);

}  // namespace opsis::eval
