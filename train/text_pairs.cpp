#include "train/text_pairs.h"

#include <random>
#include <unordered_map>

#include "core/error.h"
#include "core/splitmix.h"
#include "train/json_lines.h"

namespace opsis::train {
namespace {

constexpr std::uint64_t kMaxPairsBytes = 1ull << 30;

}  // namespace

TextPairs read_text_pairs(const std::string& path) {
    TextPairs out;
    std::unordered_map<std::string, std::int32_t> groups;
    for_each_json_object(
        path, kMaxPairsBytes,
        [&](const nlohmann::json& j, std::size_t) {
            TextPair pair{required_string(j, "a"), required_string(j, "b"), 0};
            const auto [it, fresh] = groups.emplace(required_string(j, "group"), static_cast<std::int32_t>(groups.size()));
            pair.group = it->second;
            out.pairs.push_back(std::move(pair));
        },
        out.problems);
    return out;
}

TextPairBatches::TextPairBatches(std::vector<TextPair> pairs, const Tokenizer& tokenizer, int context_length,
                                 int batch_size, std::uint64_t seed)
    : pairs_(std::move(pairs)),
      tokenizer_(tokenizer),
      context_length_(context_length),
      batch_size_(batch_size),
      seed_(seed) {
    if (batch_size < 2) throw Error("training: a batch of text pairs must hold at least 2");
    if (pairs_.size() < static_cast<std::size_t>(batch_size))
        throw Error("training: " + std::to_string(pairs_.size()) + " text pairs, fewer than one batch of " +
                    std::to_string(batch_size));
}

TextPairBatch TextPairBatches::make(std::int64_t step) const {
    const auto per_pass = static_cast<std::int64_t>(pairs_.size()) / batch_size_;
    const std::int64_t pass = step / per_pass, position = step % per_pass;
    // The pass's order, by Fisher-Yates by hand (std::shuffle's use of the engine is not fixed
    // by the standard); a stream apart from the image batches' (another constant in the seed).
    std::vector<std::uint32_t> order(pairs_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
    std::mt19937_64 rng(splitmix64(seed_ ^ 0x7465787470616972ull ^ splitmix64(static_cast<std::uint64_t>(pass) + 1)));
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    TextPairBatch batch;
    for (std::int64_t k = 0; k < batch_size_; ++k) {
        const TextPair& p = pairs_[order[static_cast<std::size_t>(position * batch_size_ + k)]];
        batch.a.push_back(tokenizer_.encode_for_model(p.a, context_length_));
        batch.b.push_back(tokenizer_.encode_for_model(p.b, context_length_));
        batch.groups.push_back(p.group);
    }
    return batch;
}

}  // namespace opsis::train
