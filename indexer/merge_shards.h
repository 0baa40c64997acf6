#pragma once
// Shard indexes made into one (opsis index merge): every item of every shard, with its paths,
// metadata and vector, written in bulk (storage Catalog::Bulk: sorted tables ingested, no
// re-encoding) under new ids, given in shard order; the same picture in two shards (by content
// hash) becomes one item holding the paths of both, a text in two shards one text. The shards
// must share the model; the merged index takes the first shard's vector index types. Shards
// started from one shared training (opsis index train, index add --trained) give their
// inverted lists over as they are, under the new ids: nothing is encoded again. Otherwise the
// merged index is trained on its own vectors once they are all in, and encodes them.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "storage/catalog.h"

namespace opsis::indexer {

struct MergeSummary {
    std::uint64_t shards = 0;
    std::uint64_t images = 0, texts = 0;  // items written
    std::uint64_t duplicates = 0;         // items met in an earlier shard: their paths joined it
    std::uint64_t paths_taken = 0;        // paths met in an earlier shard with another picture: left out
    // How each collection's vector index was made: "lists joined", "trained on the merged
    // vectors and encoded", ... ; and the seconds that took, together.
    std::map<storage::Collection, std::string> vectors;
    double vector_seconds = 0;
    double seconds = 0;
};

// `out` must not be an index yet. Throws naming the shard that is not an index, or serves
// another model. `progress` is told items done so far, now and then.
struct MergeOptions {
    // Train the merged index anew on all its vectors even when the shards share a training
    // (its sample was poor, or to compare): every vector is encoded again.
    bool retrain = false;
};

MergeSummary merge_shards(const std::vector<std::string>& shards, const std::string& out,
                          const MergeOptions& options = {},
                          const std::function<void(std::uint64_t items)>& progress = {});

}  // namespace opsis::indexer
