#pragma once
// Inference ops for the image and text towers. Layouts: images NHWC, sequences [N, L, D],
// linear weights [out, in] (PyTorch's), projections [in, out] (applied as x @ P, as in CLIP).
// Every op checks its shapes and throws opsis::Error naming the op and the mismatch.
#include <cstdint>
#include <string>
#include <vector>

#include "encoder/tensor.h"

namespace opsis::ops {

// ---- convolution --------------------------------------------------------------------------
struct ConvGeometry {
    int in_channels = 0, out_channels = 0;
    int kernel_h = 1, kernel_w = 1;
    int stride = 1, padding = 0, groups = 1;
};

// A convolution whose weight is packed once for NHWC im2col + GEMM:
// weight [groups, kernel_h * kernel_w * in_channels / groups, out_channels / groups].
struct PackedConv2d {
    ConvGeometry geometry;
    Tensor weight;
    Tensor bias;  // [out_channels], or empty for none
};

// torch_weight: [out, in / groups, kh, kw]; bias: [out] or empty.
PackedConv2d pack_conv2d(const Tensor& torch_weight, const Tensor& bias, int stride, int padding, int groups);

// Folds an inference batch-norm that follows a convolution into the convolution's weight
// [out, ...] and bias [out] (bias may start empty: it is created).
void fold_batch_norm(Tensor& torch_weight, Tensor& bias, const Tensor& gamma, const Tensor& beta,
                     const Tensor& running_mean, const Tensor& running_var, float eps);

Tensor conv2d(const Tensor& x, const PackedConv2d& conv);  // x [N, H, W, C] -> [N, OH, OW, OC]
int conv_output_size(int input, int kernel, int stride, int padding);

// Inference batch-norm over the last axis (channels of NHWC).
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, float eps);

// ---- pooling ------------------------------------------------------------------------------
Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding);
// Padding counts as zeros in the average (PyTorch's count_include_pad=True).
Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding);
Tensor global_avg_pool(const Tensor& x);  // [N, H, W, C] -> [N, C]

// ---- element-wise -------------------------------------------------------------------------
enum class Activation { relu, gelu, quick_gelu };
Activation parse_activation(const std::string& name);  // "relu" | "gelu" | "quick_gelu"
const char* activation_name(Activation a);
void activate(Tensor& x, Activation a);  // in place
void add_inplace(Tensor& x, const Tensor& y);  // residual: shapes must match
void l2_normalize_rows(Tensor& x);             // each row of the last axis to unit length

// ---- dense --------------------------------------------------------------------------------
// x [..., in] @ weight[out, in]^T + bias -> [..., out]; uses gemv for a single row.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
// x [..., in] @ projection [in, out] -> [..., out]
Tensor project(const Tensor& x, const Tensor& projection);
Tensor embedding(const std::vector<std::int32_t>& ids, const Tensor& table);  // -> [ids, D]
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
void softmax_rows(float* x, std::int64_t rows, std::int64_t cols);
void softmax(Tensor& x);  // over the last axis, in place

// ---- attention ----------------------------------------------------------------------------
struct AttentionWeights {
    const Tensor& in_proj_weight;   // [3D, D]: q, k, v stacked
    const Tensor& in_proj_bias;     // [3D]
    const Tensor& out_proj_weight;  // [D, D]
    const Tensor& out_proj_bias;    // [D]
};
// Multi-head self-attention over x [N, L, D]; causal masks keys after each query.
Tensor multi_head_attention(const Tensor& x, const AttentionWeights& w, int heads, bool causal);

}  // namespace opsis::ops
