#pragma once
// The inner product of two vectors of n floats: a query against stored vectors (short, few per
// query; the vector index does the bulk of the scoring).
#include <cstddef>

namespace opsis::search {

inline float dot(const float* a, const float* b, std::size_t n) {
    float s = 0;
    for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

}  // namespace opsis::search
