#pragma once
// Inference ops for the image and text towers. Layouts: images NHWC, sequences [N, L, D],
// linear weights [out, in] (PyTorch's), projections [in, out] (applied as x @ P, as in CLIP).
// Every op checks its shapes and throws opsis::Error naming the op and the mismatch.
#include <cstdint>
#include <string>
#include <vector>

#include "encoder/dense_weights.h"
#include "encoder/precision.h"
#include "encoder/tensor.h"

namespace opsis::ops {

// ---- convolution --------------------------------------------------------------------------
struct ConvGeometry {
    int in_channels = 0, out_channels = 0;
    int kernel_h = 1, kernel_w = 1;
    int stride = 1, padding = 0, groups = 1;
};

// A convolution whose weight is packed once for NHWC im2col + GEMM, a matrix per group:
// weight[g] [kernel_h * kernel_w * in_channels / groups, out_channels / groups] (in_out).
struct PackedConv2d {
    ConvGeometry geometry;
    std::vector<DenseWeights> weight;
    Tensor bias;  // [out_channels], or empty for none
};

// torch_weight: [out, in / groups, kh, kw]; bias: [out] or empty. Backward needs fp32.
PackedConv2d pack_conv2d(const Tensor& torch_weight, const Tensor& bias, int stride, int padding, int groups,
                         Precision precision = Precision::fp32);

// Folds an inference batch-norm that follows a convolution into the convolution's weight
// [out, ...] and bias [out] (bias may start empty: it is created).
void fold_batch_norm(Tensor& torch_weight, Tensor& bias, const Tensor& gamma, const Tensor& beta,
                     const Tensor& running_mean, const Tensor& running_var, float eps);

Tensor conv2d(const Tensor& x, const PackedConv2d& conv);  // x [N, H, W, C] -> [N, OH, OW, OC]
int conv_output_size(int input, int kernel, int stride, int padding);
// Backward of conv2d: returns dx (unless skip_dx) and adds the gradients of the PyTorch-layout
// weight [out, in/groups, kh, kw] and of the bias (when given) into dweight / dbias.
Tensor conv2d_backward(const Tensor& x, const PackedConv2d& conv, const Tensor& dy, Tensor& dweight, Tensor* dbias,
                       bool skip_dx = false);

// Inference batch-norm over the last axis (channels of NHWC).
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, float eps);

// Training batch-norm over the last axis: normalises with the batch's statistics, updates the
// running statistics (PyTorch's momentum, unbiased variance), and keeps what backward needs.
struct BatchNormCache {
    Tensor normalized;           // x_hat
    std::vector<float> inv_std;  // per channel
};
Tensor batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                        Tensor& running_var, float momentum, float eps, BatchNormCache& cache);
// Returns dx; adds into dgamma, dbeta.
Tensor batch_norm_backward(const Tensor& dy, const BatchNormCache& cache, const Tensor& gamma, Tensor& dgamma,
                           Tensor& dbeta);

// ---- pooling ------------------------------------------------------------------------------
Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding);
// Padding counts as zeros in the average (PyTorch's count_include_pad=True).
Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding);
Tensor global_avg_pool(const Tensor& x);  // [N, H, W, C] -> [N, C]
Tensor max_pool2d_backward(const Tensor& x, const Tensor& dy, int kernel, int stride, int padding);
Tensor global_avg_pool_backward(const Tensor& dy, const Shape& input_shape);

// ---- element-wise -------------------------------------------------------------------------
enum class Activation { relu, gelu, quick_gelu };
Activation parse_activation(const std::string& name);  // "relu" | "gelu" | "quick_gelu"
const char* activation_name(Activation a);
void activate(Tensor& x, Activation a);        // in place
void add_inplace(Tensor& x, const Tensor& y);  // residual: shapes must match
void l2_normalize_rows(Tensor& x);             // each row of the last axis to unit length
// Given the activation's input x, turns dy (gradient of its output) into dx in place.
void activate_backward(const Tensor& x, Activation a, Tensor& dy);
// y = normalize(x): dx = (dy - y (y . dy)) / |x|, row by row.
Tensor l2_normalize_backward(const Tensor& x, const Tensor& y, const Tensor& dy);

// ---- dense --------------------------------------------------------------------------------
// x [..., in] @ weight[out, in]^T + bias -> [..., out]; uses gemv for a single row.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
// x [..., in] @ projection [in, out] -> [..., out]
Tensor project(const Tensor& x, const Tensor& projection);
// The same at inference, at the weights' precision: x [..., in] @ W + bias -> [..., out].
Tensor linear(const Tensor& x, const DenseWeights& weight, const Tensor& bias);
Tensor project(const Tensor& x, const DenseWeights& projection);
Tensor embedding(const std::vector<std::int32_t>& ids, const Tensor& table);  // -> [ids, D]
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
void softmax_rows(float* x, std::int64_t rows, std::int64_t cols);
void softmax(Tensor& x);  // over the last axis, in place

// Backward of linear/project/embedding/layer_norm: return dx and add parameter gradients.
Tensor linear_backward(const Tensor& x, const Tensor& weight, const Tensor& dy, Tensor& dweight, Tensor* dbias);
Tensor project_backward(const Tensor& x, const Tensor& projection, const Tensor& dy, Tensor& dprojection);
void embedding_backward(const std::vector<std::int32_t>& ids, const Tensor& dy, Tensor& dtable);
Tensor layer_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& dy, Tensor& dgamma, Tensor& dbeta,
                           float eps);

// ---- attention ----------------------------------------------------------------------------
struct AttentionWeights {
    const Tensor& in_proj_weight;   // [3D, D]: q, k, v stacked
    const Tensor& in_proj_bias;     // [3D]
    const Tensor& out_proj_weight;  // [D, D]
    const Tensor& out_proj_bias;    // [D]
};
// The heads' part of self-attention: qkv [N, L, 3D] (q | k | v) -> mixed [N, L, D], before the
// output projection; causal masks keys after each query; the probabilities [N, heads, L, L] are
// written to `probs` when given.
Tensor attention_heads(const Tensor& qkv, int heads, bool causal, Tensor* probs);
// The same over sequences packed without padding: qkv [T, 3D], sequence r in rows
// [offsets[r], offsets[r + 1]).
Tensor attention_heads_packed(const Tensor& qkv, const std::vector<std::int64_t>& offsets, int heads, bool causal);

// Multi-head self-attention over x [N, L, D]; causal masks keys after each query.
Tensor multi_head_attention(const Tensor& x, const AttentionWeights& w, int heads, bool causal);

// Self-attention over a batch of sequences of different lengths packed without padding:
// x [T, D] holds sequence r in rows [offsets[r], offsets[r + 1]).
Tensor multi_head_attention_packed(const Tensor& x, const std::vector<std::int64_t>& offsets, const AttentionWeights& w,
                                   int heads, bool causal);

// Training attention keeps the projections and attention probabilities for backward.
struct AttentionCache {
    Tensor qkv;    // [N, L, 3D]
    Tensor probs;  // [N, heads, L, L]
    Tensor mixed;  // [N, L, D], before the output projection
};
Tensor multi_head_attention_train(const Tensor& x, const AttentionWeights& w, int heads, bool causal,
                                  AttentionCache& cache);
struct AttentionGrads {
    Tensor& in_proj_weight;
    Tensor& in_proj_bias;
    Tensor& out_proj_weight;
    Tensor& out_proj_bias;
};
Tensor multi_head_attention_backward(const Tensor& x, const AttentionWeights& w, int heads, const AttentionCache& cache,
                                     const Tensor& dy, const AttentionGrads& grads);

}  // namespace opsis::ops
