#include "encoder/text_tower.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace opsis {
std::vector<ParamSpec> text_tower_params(const ModelConfig& c) {
    const TextTowerConfig& t = c.text;
    std::vector<ParamSpec> specs;
    const int width = t.transformer.width;
    specs.push_back({"token_embedding.weight", {t.vocab_size, width}, Init::normal, 0.02f, false});
    specs.push_back({"positional_embedding", {t.context_length, width}, Init::normal, 0.01f, false});
    add_transformer_params(specs, "transformer", t.transformer);
    add_layer_norm_params(specs, "ln_final", width);
    specs.push_back(
        {"text_projection", {width, c.embed_dim}, Init::normal, 1.0f / std::sqrt(static_cast<float>(width)), true});
    return specs;
}

TextTower::TextTower(const ModelConfig& c, const Weights& w, Precision precision)
    : config_(c.text),
      token_embedding_(weight(w, "token_embedding.weight")),
      positional_embedding_(weight(w, "positional_embedding")),
      transformer_("transformer", config_.transformer, w, precision),
      ln_final_w_(weight(w, "ln_final.weight")),
      ln_final_b_(weight(w, "ln_final.bias")),
      projection_(weight(w, "text_projection"), DenseWeights::Layout::in_out, precision) {}

Tensor TextTower::forward(const std::vector<std::vector<std::int32_t>>& rows) const {
    const std::int64_t n = static_cast<std::int64_t>(rows.size()), width = config_.transformer.width;
    // Rows are packed end to end without padding; attention keeps each to its own span.
    std::vector<std::int64_t> offsets{0};
    std::vector<std::int32_t> ids;
    for (const auto& row : rows) {
        if (row.empty() || row.size() > static_cast<std::size_t>(config_.context_length))
            throw Error("text tower: a token row has length " + std::to_string(row.size()) + ", expected 1.." +
                        std::to_string(config_.context_length));
        ids.insert(ids.end(), row.begin(), row.end());
        offsets.push_back(offsets.back() + static_cast<std::int64_t>(row.size()));
    }
    Tensor x = ops::embedding(ids, token_embedding_);
    for (std::int64_t r = 0; r < n; ++r)
        for (std::int64_t t = offsets[static_cast<std::size_t>(r)]; t < offsets[static_cast<std::size_t>(r) + 1]; ++t) {
            const std::int64_t position = t - offsets[static_cast<std::size_t>(r)];
            for (std::int64_t j = 0; j < width; ++j) x[t * width + j] += positional_embedding_[position * width + j];
        }
    x = transformer_.forward_packed(std::move(x), offsets, true);
    Tensor pooled({n, width});
    for (std::int64_t r = 0; r < n; ++r)  // each row's end token is its last
        std::copy_n(x.data() + (offsets[static_cast<std::size_t>(r) + 1] - 1) * width, width,
                    pooled.data() + r * width);
    return ops::project(ops::layer_norm(pooled, ln_final_w_, ln_final_b_, 1e-5f), projection_);
}

}  // namespace opsis
