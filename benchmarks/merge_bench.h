#pragma once
// What a shared training saves when shards are merged (opsis bench merge): a synthetic
// collection (as bench search makes it) split into N parts by item number; a train job's slice
// trains the shared quantiser; each part is built from it, as an array task would; then the
// parts are merged twice, joining their lists and training anew (--retrain), each timed, and
// both merged indexes measured by bench search (recall after re-scoring, latency).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace opsis::bench {

struct MergeBenchOptions {
    std::size_t synthetic = 0;  // vectors in all (the real index's first)
    std::uint32_t shards = 4;
    std::uint32_t train_slices = 4;  // the training sample: every train_slices-th vector
    std::string factory = "IVF4096,PQ64";
    int dim = 0;        // default: the model's
    std::string real;   // an index whose pictures and captions come first
    std::string model;  // default: models/default
    std::vector<int> efforts{64};
    std::vector<std::size_t> rescores{1024};
    std::size_t queries = 200;
    bool keep = false;  // keep the merged indexes (they are remade each run)
};
void run_merge_bench(const MergeBenchOptions& options);

}  // namespace opsis::bench
