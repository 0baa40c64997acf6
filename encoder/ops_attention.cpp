// Multi-head self-attention: x [B, L, D] (or packed rows of several lengths), qkv from one
// in-projection [3D, D], heads of D/H, an optional causal mask; the training form keeps the
// probabilities for backward, which follows the forwards.
#include <cmath>
#include <limits>

#include "core/error.h"
#include "encoder/blas.h"
#include "encoder/ops.h"

namespace opsis::ops {

namespace {
// One head over one sequence of `len` rows: qkv holds the rows' [q | k | v] (width 3d),
// probs gets softmax(q k^T / sqrt(dh)) with the causal mask applied, and the head's output
// goes to columns [h dh, (h + 1) dh) of out (width d).
void attend_head(const float* qkv, std::int64_t len, std::int64_t d, int h, std::int64_t dh, bool causal, float* probs,
                 float* out) {
    const int l = static_cast<int>(len), dhi = static_cast<int>(dh), ld = static_cast<int>(3 * d);
    const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
    blas::gemm(false, true, l, l, dhi, scale, qkv + h * dh, ld, qkv + d + h * dh, ld, 0.0f, probs, l);
    if (causal)
        for (std::int64_t i = 0; i < len; ++i)
            for (std::int64_t j = i + 1; j < len; ++j) probs[i * len + j] = -std::numeric_limits<float>::infinity();
    softmax_rows(probs, len, len);
    blas::gemm(false, false, l, dhi, l, 1.0f, probs, l, qkv + 2 * d + h * dh, ld, 0.0f, out + h * dh,
               static_cast<int>(d));
}
}  // namespace

Tensor attention_heads(const Tensor& qkv, int heads, bool causal, Tensor* probs) {
    expect_shape("attention", "qkv", qkv, {-1, -1, -1});
    const std::int64_t n = qkv.dim(0), len = qkv.dim(1), d = qkv.dim(2) / 3;
    if (qkv.dim(2) % 3 != 0 || heads < 1 || d % heads != 0)
        throw Error("attention: width " + std::to_string(d) + " not divisible by " + std::to_string(heads) + " heads");
    Tensor kept = Tensor({n, heads, len, len});
    Tensor mixed({n, len, d});
    const std::int64_t dh = d / heads;
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t b = 0; b < n; ++b)
        for (int h = 0; h < heads; ++h)
            attend_head(qkv.data() + b * len * 3 * d, len, d, h, dh, causal, kept.data() + (b * heads + h) * len * len,
                        mixed.data() + b * len * d);
    if (probs) *probs = std::move(kept);
    return mixed;
}

Tensor attention_heads_packed(const Tensor& qkv, const std::vector<std::int64_t>& offsets, int heads, bool causal) {
    expect_shape("attention", "qkv", qkv, {-1, -1});
    const std::int64_t total = qkv.dim(0), d = qkv.dim(1) / 3;
    if (qkv.dim(1) % 3 != 0 || heads < 1 || d % heads != 0)
        throw Error("attention: width " + std::to_string(d) + " not divisible by " + std::to_string(heads) + " heads");
    if (offsets.size() < 2 || offsets.front() != 0 || offsets.back() != total)
        throw Error("attention: packed offsets do not cover the " + std::to_string(total) + " rows");
    Tensor mixed({total, d});
    const std::int64_t n = static_cast<std::int64_t>(offsets.size()) - 1, dh = d / heads;
#pragma omp parallel
    {
        std::vector<float> scores;
#pragma omp for collapse(2) schedule(dynamic)
        for (std::int64_t r = 0; r < n; ++r)
            for (int h = 0; h < heads; ++h) {
                const std::int64_t begin = offsets[static_cast<std::size_t>(r)],
                                   len = offsets[static_cast<std::size_t>(r) + 1] - begin;
                if (len <= 0) continue;
                scores.resize(static_cast<std::size_t>(len * len));
                attend_head(qkv.data() + begin * 3 * d, len, d, h, dh, causal, scores.data(), mixed.data() + begin * d);
            }
    }
    return mixed;
}

Tensor multi_head_attention(const Tensor& x, const AttentionWeights& w, int heads, bool causal) {
    AttentionCache cache;
    return multi_head_attention_train(x, w, heads, causal, cache);
}

Tensor multi_head_attention_train(const Tensor& x, const AttentionWeights& w, int heads, bool causal,
                                  AttentionCache& cache) {
    expect_shape("attention", "input", x, {-1, -1, -1});
    const std::int64_t d = x.dim(2);
    if (heads < 1 || d % heads != 0)
        throw Error("attention: width " + std::to_string(d) + " not divisible by " + std::to_string(heads) + " heads");
    expect_shape("attention", "in_proj_weight", w.in_proj_weight, {3 * d, d});
    expect_shape("attention", "out_proj_weight", w.out_proj_weight, {d, d});
    cache.qkv = linear(x, w.in_proj_weight, w.in_proj_bias);  // [N, L, 3D]
    cache.mixed = attention_heads(cache.qkv, heads, causal, &cache.probs);
    return linear(cache.mixed, w.out_proj_weight, w.out_proj_bias);
}

Tensor multi_head_attention_packed(const Tensor& x, const std::vector<std::int64_t>& offsets, const AttentionWeights& w,
                                   int heads, bool causal) {
    expect_shape("attention", "input", x, {-1, -1});
    const std::int64_t d = x.dim(1);
    if (heads < 1 || d % heads != 0)
        throw Error("attention: width " + std::to_string(d) + " not divisible by " + std::to_string(heads) + " heads");
    expect_shape("attention", "in_proj_weight", w.in_proj_weight, {3 * d, d});
    return linear(attention_heads_packed(linear(x, w.in_proj_weight, w.in_proj_bias), offsets, heads, causal),
                  w.out_proj_weight, w.out_proj_bias);
}

Tensor multi_head_attention_backward(const Tensor& x, const AttentionWeights& w, int heads, const AttentionCache& cache,
                                     const Tensor& dy, const AttentionGrads& grads) {
    const std::int64_t n = x.dim(0), len = x.dim(1), d = x.dim(2), dh = d / heads;
    const Tensor dmixed =
        linear_backward(cache.mixed, w.out_proj_weight, dy, grads.out_proj_weight, &grads.out_proj_bias);
    Tensor dqkv({n, len, 3 * d});
    const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
    const int ld = static_cast<int>(3 * d), l = static_cast<int>(len), dhi = static_cast<int>(dh),
              di = static_cast<int>(d);
#pragma omp parallel
    {
        std::vector<float> dp(static_cast<std::size_t>(len * len));
#pragma omp for collapse(2) schedule(static)
        for (std::int64_t b = 0; b < n; ++b)
            for (int h = 0; h < heads; ++h) {
                const float* base = cache.qkv.data() + b * len * 3 * d;
                float* dbase = dqkv.data() + b * len * 3 * d;
                const float* p = cache.probs.data() + (b * heads + h) * len * len;
                const float* dm = dmixed.data() + b * len * d + h * dh;
                // dP = dmixed V^T;  dV = P^T dmixed
                blas::gemm(false, true, l, l, dhi, 1.0f, dm, di, base + 2 * d + h * dh, ld, 0.0f, dp.data(), l);
                blas::gemm(true, false, l, dhi, l, 1.0f, p, l, dm, di, 0.0f, dbase + 2 * d + h * dh, ld);
                // Softmax backward: dS = P * (dP - sum_j dP * P); masked entries have P = 0.
                for (std::int64_t i = 0; i < len; ++i) {
                    float dot = 0;
                    for (std::int64_t j = 0; j < len; ++j) dot += dp[i * len + j] * p[i * len + j];
                    for (std::int64_t j = 0; j < len; ++j) dp[i * len + j] = p[i * len + j] * (dp[i * len + j] - dot);
                }
                // dQ = scale dS K;  dK = scale dS^T Q
                blas::gemm(false, false, l, dhi, l, scale, dp.data(), l, base + d + h * dh, ld, 0.0f, dbase + h * dh,
                           ld);
                blas::gemm(true, false, l, dhi, l, scale, dp.data(), l, base + h * dh, ld, 0.0f, dbase + d + h * dh,
                           ld);
            }
    }
    return linear_backward(x, w.in_proj_weight, dqkv, grads.in_proj_weight, &grads.in_proj_bias);
}

}  // namespace opsis::ops
