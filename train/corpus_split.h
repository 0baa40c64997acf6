#pragma once
// A corpus split as evaluation sees it (the benchmarks, relevance calibration): each picture
// with its concept, source and first caption per language, and the pictures embedded through
// the inference path.
#include <cstdint>
#include <string>
#include <vector>

#include "encoder/dual_encoder.h"

namespace opsis::train {

struct Pair {
    std::string image;
    std::int32_t concept_id;
    std::string source;
    std::vector<std::string> english, greek;
};

// The items of SPLIT.txt in a folder from data/build-corpus; manifest problems are counted on
// stderr under `who` and skipped.
std::vector<Pair> read_corpus_split(const std::string& corpus, const std::string& split, const std::string& who);

// Decoded, preprocessed and embedded in batches of 64; a picture that fails to decode is reported
// under `who` and left out (its `ok` comes back false).
Tensor embed_split_images(const DualEncoder& model, const std::vector<Pair>& pairs, std::vector<bool>& ok,
                          const std::string& who);

}  // namespace opsis::train
