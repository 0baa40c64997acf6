#pragma once
// What the benchmark commands share: the cache folder, timing, resident memory, and the
// synthetic clustered unit vectors that stand in for a large collection's embeddings.
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace opsis::bench {

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// ~/.cache/opsis: generated data and indexes live there, never in the repository.
std::string cache_dir();

// A /proc/self/status field in MiB: "VmRSS" (resident now) or "VmHWM" (the peak).
double proc_status_mib(const char* field);

// `clusters` random unit centres of `dim` dimensions, one after another.
std::vector<float> random_unit_centres(std::size_t clusters, std::size_t dim, std::mt19937_64& rng);
// Unit vectors around randomly picked centres (embeddings of a real collection cluster by
// topic); the spread makes close neighbours hard to tell apart, as they are in practice.
std::vector<float> clustered_vectors(std::size_t n, std::size_t dim, const std::vector<float>& centres,
                                     std::mt19937_64& rng);

}  // namespace opsis::bench
