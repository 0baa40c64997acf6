#pragma once
// The text tower (CLIP's layout): token + positional embedding, a causal Transformer,
// ln_final at the end token, projection. Token rows -> features [N, embed_dim].
#include <cstdint>
#include <vector>

#include "encoder/model_config.h"
#include "encoder/transformer.h"
#include "encoder/weights.h"

namespace opsis {

// "token_embedding.weight", "positional_embedding", "transformer.resblocks.*", "ln_final.*",
// "text_projection".
std::vector<ParamSpec> text_tower_params(const ModelConfig& config);

class TextTower {
public:
    TextTower(const ModelConfig& config, const Weights& weights, Precision precision);
    // Each row starts with the start token and ends with the end token (Tokenizer::
    // encode_for_model); rows may differ in length and are packed without padding. The end
    // token's state is pooled.
    Tensor forward(const std::vector<std::vector<std::int32_t>>& rows) const;

private:
    TextTowerConfig config_;
    Tensor token_embedding_, positional_embedding_;
    TransformerStack transformer_;
    Tensor ln_final_w_, ln_final_b_;
    DenseWeights projection_;
};

}  // namespace opsis
