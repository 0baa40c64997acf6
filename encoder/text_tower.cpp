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
    specs.push_back({"text_projection", {width, c.embed_dim}, Init::normal, 1.0f / std::sqrt(static_cast<float>(width)), true});
    return specs;
}

TextTower::TextTower(const ModelConfig& c, const Weights& w)
    : config_(c.text),
      token_embedding_(weight(w, "token_embedding.weight")),
      positional_embedding_(weight(w, "positional_embedding")),
      transformer_("transformer", config_.transformer, w),
      ln_final_w_(weight(w, "ln_final.weight")),
      ln_final_b_(weight(w, "ln_final.bias")),
      projection_(weight(w, "text_projection")) {}

Tensor TextTower::forward(const std::vector<std::vector<std::int32_t>>& rows) const {
    const std::int64_t n = static_cast<std::int64_t>(rows.size()), width = config_.transformer.width;
    std::size_t longest = 0;
    for (const auto& row : rows) {
        if (row.empty() || row.size() > static_cast<std::size_t>(config_.context_length))
            throw Error("text tower: a token row has length " + std::to_string(row.size()) + ", expected 1.." +
                        std::to_string(config_.context_length));
        longest = std::max(longest, row.size());
    }
    // Rows are padded only to the longest row in the batch: the causal mask keeps padding
    // after a row's end token from reaching the end token, so the result does not change.
    const std::int64_t len = static_cast<std::int64_t>(longest);
    std::vector<std::int32_t> ids;
    ids.reserve(static_cast<std::size_t>(n * len));
    for (const auto& row : rows) {
        ids.insert(ids.end(), row.begin(), row.end());
        ids.insert(ids.end(), longest - row.size(), row.back());
    }
    Tensor x = ops::embedding(ids, token_embedding_).reshaped({n, len, width});
    for (std::int64_t b = 0; b < n; ++b)
        for (std::int64_t i = 0; i < len * width; ++i) x[b * len * width + i] += positional_embedding_[i];
    x = transformer_.forward(std::move(x), true);
    Tensor pooled({n, width});
    for (std::int64_t b = 0; b < n; ++b) {
        const std::int64_t end = static_cast<std::int64_t>(rows[static_cast<std::size_t>(b)].size()) - 1;
        std::copy_n(x.data() + (b * len + end) * width, width, pooled.data() + b * width);
    }
    return ops::project(ops::layer_norm(pooled, ln_final_w_, ln_final_b_, 1e-5f), projection_);
}

}  // namespace opsis
