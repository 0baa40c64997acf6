#pragma once
// A stack of pre-LN Transformer blocks (CLIP's layout and parameter names), shared by the
// text tower and the ViT image tower:
//   x = x + attn(ln_1(x));  x = x + c_proj(act(c_fc(ln_2(x))))
#include <functional>
#include <string>
#include <vector>

#include "encoder/ops.h"
#include "encoder/weights.h"

namespace opsis {

struct TransformerShape {
    int width = 256, layers = 4, heads = 4, mlp_ratio = 4;
    ops::Activation activation = ops::Activation::gelu;
};

// Parameters under "<prefix>.resblocks.<i>." with CLIP's initialisation.
void add_transformer_params(std::vector<ParamSpec>& specs, const std::string& prefix, const TransformerShape& shape);

// What one block computed, for looking inside a tower (explain/): its attention probabilities
// [N, heads, L, L] and its MLP's hidden units after the activation [N, L, mlp_ratio * width].
struct BlockInternals {
    int block = 0;
    const Tensor& attention;
    const Tensor& mlp_hidden;
};
using BlockInspector = std::function<void(const BlockInternals&)>;

class TransformerStack {
public:
    // Its weight products run at `precision` (encoder/precision.h).
    TransformerStack(const std::string& prefix, const TransformerShape& shape, const Weights& weights,
                     Precision precision);
    // x [N, L, width] -> same shape.
    Tensor forward(Tensor x, bool causal) const;
    // forward(), handing each block's internals to `inspect` as it goes.
    Tensor forward_inspected(Tensor x, bool causal, const BlockInspector& inspect) const;
    // Sequences packed without padding: x [T, width], sequence r in rows [offsets[r], offsets[r+1]).
    Tensor forward_packed(Tensor x, const std::vector<std::int64_t>& offsets, bool causal) const;

private:
    Tensor run(Tensor x, const std::vector<std::int64_t>* offsets, bool causal, const BlockInspector* inspect) const;
    struct Block {
        Tensor ln1_w, ln1_b;
        DenseWeights in_w;
        Tensor in_b;
        DenseWeights out_w;
        Tensor out_b, ln2_w, ln2_b;
        DenseWeights fc_w;
        Tensor fc_b;
        DenseWeights proj_w;
        Tensor proj_b;
    };
    TransformerShape shape_;
    std::vector<Block> blocks_;
};

}  // namespace opsis
