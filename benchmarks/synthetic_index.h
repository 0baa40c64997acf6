#pragma once
// A large index for the scale benchmarks, made once and cached under ~/.cache/opsis: synthetic
// clustered unit vectors (no files behind them), optionally after the real pictures and
// captions of another index (the demo's), in the model's dimension or placed in more
// (benchmarks/lifted_model.h), loaded through the catalog's bulk path or its batches.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace opsis::bench {

struct SyntheticIndexOptions {
    std::size_t images = 0;                // in all, real ones included
    std::string factory = "IVF4096,Flat";  // the images' vector index
    std::string model;                     // the model the index records (the lifted one for dim > its own)
    std::string base_model;                // the model `real`'s vectors come from (= model unless lifted)
    int dim = 0;                           // the model's
    std::string real;                      // an index whose images and texts come first (same base model)
    bool batches = false;                  // Catalog::Batch commits of 10,000 instead of bulks of 100,000
    // Only every `shards`-th item of that collection, from the `shard`-th (bench merge's parts).
    std::uint32_t shard = 0, shards = 1;
    std::string trained;  // a shared training the images' index starts from (instead of factory)
    std::string cache;    // where it is kept (default ~/.cache/opsis)
};

struct SyntheticIndex {
    std::string dir;
    // How it was made, as recorded when it was (build.json): seconds per stage, peak memory,
    // bytes on disk.
    nlohmann::json build;
    bool made_now = false;  // by this call (not found in the cache)
};

SyntheticIndex synthetic_index(const SyntheticIndexOptions& options);

}  // namespace opsis::bench
