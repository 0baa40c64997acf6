#pragma once
// Word knowledge for the text tower: pairs of texts that mean one thing ("kitty" - "cat",
// "giraffe" - "tallest living quadruped; ...", "cat" - "γάτα"), from WordNet and FreeDict
// (data/corpus/text_pairs.py writes the corpus's text_pairs.jsonl). Training pulls each pair's
// two embeddings together against the other pairs of a batch (a contrastive loss beside the
// image-text one, TrainableDualEncoder::forward_backward_text_pairs), so words no picture is
// named by still land near the pictures they mean.
#include <cstdint>
#include <string>
#include <vector>

#include "encoder/tokenizer.h"

namespace opsis::train {

struct TextPair {
    std::string a, b;
    std::int32_t group = 0;  // pairs of one group mean one thing: positives, never negatives
};

struct TextPairs {
    std::vector<TextPair> pairs;
    std::vector<std::string> problems;  // "text_pairs.jsonl line 12: <reason>"; those lines are skipped
};

// One JSON object a line: {"a": ..., "b": ..., "group": ...}; groups become dense ids in order
// of first appearance. A missing file throws (naming it); a bad line is reported and skipped.
TextPairs read_text_pairs(const std::string& path);

struct TextPairBatch {
    std::vector<std::vector<std::int32_t>> a, b;  // token rows (Tokenizer::encode_for_model)
    std::vector<std::int32_t> groups;
};

// Batches of pairs in a fresh random order each pass over them, derived from (seed, step)
// alone, so a resumed run sees exactly the batches it would have.
class TextPairBatches {
public:
    TextPairBatches(std::vector<TextPair> pairs, const Tokenizer& tokenizer, int context_length, int batch_size,
                    std::uint64_t seed);
    TextPairBatch make(std::int64_t step) const;
    std::size_t size() const { return pairs_.size(); }

private:
    std::vector<TextPair> pairs_;
    const Tokenizer& tokenizer_;
    int context_length_, batch_size_;
    std::uint64_t seed_;
};

}  // namespace opsis::train
