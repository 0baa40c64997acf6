#pragma once
// Learning BPE merges from a text corpus.
#include <string>
#include <vector>

#include "encoder/tokenizer.h"

namespace opsis {

struct BpeTrainingOptions {
    int vocab_size = 8192;  // including the 512 byte symbols and the 2 special tokens
    int min_frequency = 2;  // a pair seen fewer times is never merged
};

// Deterministic: ties between equally frequent pairs go to the smaller token ids.
Tokenizer train_bpe(const std::vector<std::string>& texts, const BpeTrainingOptions& options);

}  // namespace opsis
