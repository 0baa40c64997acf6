#pragma once
// SplitMix64: a well-mixed 64-bit value from any counter, for seeding per-sample random
// streams that depend only on (seed, step, index) — what makes training batches and benchmark
// perturbations repeatable bit for bit.
#include <cstdint>

namespace opsis {

inline std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

}  // namespace opsis
