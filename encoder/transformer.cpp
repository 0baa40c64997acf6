#include "encoder/transformer.h"

#include <cmath>

namespace opsis {

void add_transformer_params(std::vector<ParamSpec>& specs, const std::string& prefix, const TransformerShape& s) {
    const std::int64_t w = s.width, hidden = static_cast<std::int64_t>(s.width) * s.mlp_ratio;
    const float attn_std = 1.0f / std::sqrt(static_cast<float>(w));
    const float proj_std = attn_std / std::sqrt(2.0f * static_cast<float>(s.layers));
    const float fc_std = 1.0f / std::sqrt(2.0f * static_cast<float>(w));
    for (int i = 0; i < s.layers; ++i) {
        const std::string p = prefix + ".resblocks." + std::to_string(i);
        add_layer_norm_params(specs, p + ".ln_1", w);
        specs.push_back({p + ".attn.in_proj_weight", {3 * w, w}, Init::normal, attn_std, true});
        specs.push_back({p + ".attn.in_proj_bias", {3 * w}, Init::zeros, 0.0f, false});
        add_linear_params(specs, p + ".attn.out_proj", w, w, proj_std, true);
        add_layer_norm_params(specs, p + ".ln_2", w);
        add_linear_params(specs, p + ".mlp.c_fc", hidden, w, fc_std);
        add_linear_params(specs, p + ".mlp.c_proj", w, hidden, proj_std, true);
    }
}

TransformerStack::TransformerStack(const std::string& prefix, const TransformerShape& shape, const Weights& weights,
                                   Precision precision)
    : shape_(shape) {
    const auto dense = [&](const std::string& name) {
        return DenseWeights(weight(weights, name), DenseWeights::Layout::out_in, precision);
    };
    for (int i = 0; i < shape.layers; ++i) {
        const std::string p = prefix + ".resblocks." + std::to_string(i);
        blocks_.push_back({weight(weights, p + ".ln_1.weight"), weight(weights, p + ".ln_1.bias"),
                           dense(p + ".attn.in_proj_weight"), weight(weights, p + ".attn.in_proj_bias"),
                           dense(p + ".attn.out_proj.weight"), weight(weights, p + ".attn.out_proj.bias"),
                           weight(weights, p + ".ln_2.weight"), weight(weights, p + ".ln_2.bias"),
                           dense(p + ".mlp.c_fc.weight"), weight(weights, p + ".mlp.c_fc.bias"),
                           dense(p + ".mlp.c_proj.weight"), weight(weights, p + ".mlp.c_proj.bias")});
    }
}

Tensor TransformerStack::forward(Tensor x, bool causal) const { return run(std::move(x), nullptr, causal, nullptr); }

Tensor TransformerStack::forward_inspected(Tensor x, bool causal, const BlockInspector& inspect) const {
    return run(std::move(x), nullptr, causal, &inspect);
}

Tensor TransformerStack::forward_packed(Tensor x, const std::vector<std::int64_t>& offsets, bool causal) const {
    return run(std::move(x), &offsets, causal, nullptr);
}

Tensor TransformerStack::run(Tensor x, const std::vector<std::int64_t>* offsets, bool causal,
                             const BlockInspector* inspect) const {
    constexpr float eps = 1e-5f;
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
        const Block& b = blocks_[i];
        const Tensor normed = ops::layer_norm(x, b.ln1_w, b.ln1_b, eps);
        const Tensor qkv = ops::linear(normed, b.in_w, b.in_b);
        Tensor probs;  // (the padded path keeps its probabilities anyway: inspecting costs nothing)
        const Tensor mixed = offsets ? ops::attention_heads_packed(qkv, *offsets, shape_.heads, causal)
                                     : ops::attention_heads(qkv, shape_.heads, causal, &probs);
        ops::add_inplace(x, ops::linear(mixed, b.out_w, b.out_b));
        Tensor hidden = ops::linear(ops::layer_norm(x, b.ln2_w, b.ln2_b, eps), b.fc_w, b.fc_b);
        ops::activate(hidden, shape_.activation);
        if (inspect) (*inspect)({static_cast<int>(i), probs, hidden});
        ops::add_inplace(x, ops::linear(hidden, b.proj_w, b.proj_b));
    }
    return x;
}

}  // namespace opsis
