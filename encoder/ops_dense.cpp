// Element-wise, dense and attention ops over row-major tensors.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "encoder/blas.h"
#include "encoder/ops.h"

namespace opsis::ops {
namespace {

Shape with_last(const Shape& shape, std::int64_t last) {
    Shape s = shape;
    s.back() = last;
    return s;
}

void require_rank_at_least(const char* op, const Tensor& x, int rank) {
    if (x.rank() < rank)
        throw Error(std::string(op) + ": input has shape " + x.shape_string() + ", needs rank >= " +
                    std::to_string(rank));
}

}  // namespace

Activation parse_activation(const std::string& name) {
    if (name == "relu") return Activation::relu;
    if (name == "gelu") return Activation::gelu;
    if (name == "quick_gelu") return Activation::quick_gelu;
    throw Error("unknown activation '" + name + "' (expected relu, gelu or quick_gelu)");
}

const char* activation_name(Activation a) {
    switch (a) {
        case Activation::relu: return "relu";
        case Activation::gelu: return "gelu";
        case Activation::quick_gelu: return "quick_gelu";
    }
    return "?";
}

void activate(Tensor& x, Activation a) {
    float* v = x.data();
    const std::int64_t n = x.numel();
    switch (a) {
        case Activation::relu:
#pragma omp parallel for simd schedule(static)
            for (std::int64_t i = 0; i < n; ++i) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
            break;
        case Activation::gelu:
#pragma omp parallel for schedule(static)
            for (std::int64_t i = 0; i < n; ++i) v[i] = 0.5f * v[i] * (1.0f + std::erf(v[i] * 0.70710678118654752f));
            break;
        case Activation::quick_gelu:
#pragma omp parallel for schedule(static)
            for (std::int64_t i = 0; i < n; ++i) v[i] = v[i] / (1.0f + std::exp(-1.702f * v[i]));
            break;
    }
}

void add_inplace(Tensor& x, const Tensor& y) {
    if (x.shape() != y.shape())
        throw Error("add: shapes " + x.shape_string() + " and " + y.shape_string() + " differ");
    float* a = x.data();
    const float* b = y.data();
    const std::int64_t n = x.numel();
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < n; ++i) a[i] += b[i];
}

void l2_normalize_rows(Tensor& x) {
    require_rank_at_least("l2_normalize", x, 1);
    const std::int64_t d = x.dim(-1);
    const std::int64_t rows = d ? x.numel() / d : 0;
    for (std::int64_t r = 0; r < rows; ++r) {
        float* row = x.data() + r * d;
        double sum = 0;
        for (std::int64_t j = 0; j < d; ++j) sum += static_cast<double>(row[j]) * row[j];
        const float inv = sum > 0 ? static_cast<float>(1.0 / std::sqrt(sum)) : 0.0f;
        for (std::int64_t j = 0; j < d; ++j) row[j] *= inv;
    }
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
    require_rank_at_least("linear", x, 1);
    expect_shape("linear", "weight", weight, {-1, x.dim(-1)});
    const std::int64_t in = weight.dim(1), out_features = weight.dim(0);
    if (!bias.empty()) expect_shape("linear", "bias", bias, {out_features});
    const std::int64_t rows = in ? x.numel() / in : 0;
    Tensor out(with_last(x.shape(), out_features));
    if (rows == 1) {
        // sgemv reads the [out, in] weight row by row; sgemm with a transposed B is ~10x slower here.
        blas::gemv(false, static_cast<int>(out_features), static_cast<int>(in), 1.0f, weight.data(),
                   static_cast<int>(in), x.data(), 0.0f, out.data());
    } else {
        blas::gemm(false, true, static_cast<int>(rows), static_cast<int>(out_features), static_cast<int>(in), 1.0f,
                   x.data(), static_cast<int>(in), weight.data(), static_cast<int>(in), 0.0f, out.data(),
                   static_cast<int>(out_features));
    }
    if (!bias.empty()) {
        float* o = out.data();
        const float* b = bias.data();
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t j = 0; j < out_features; ++j) o[r * out_features + j] += b[j];
    }
    return out;
}

Tensor project(const Tensor& x, const Tensor& projection) {
    require_rank_at_least("project", x, 1);
    expect_shape("project", "projection", projection, {x.dim(-1), -1});
    const std::int64_t in = projection.dim(0), out_features = projection.dim(1);
    const std::int64_t rows = in ? x.numel() / in : 0;
    Tensor out(with_last(x.shape(), out_features));
    if (rows == 1)
        blas::gemv(true, static_cast<int>(in), static_cast<int>(out_features), 1.0f, projection.data(),
                   static_cast<int>(out_features), x.data(), 0.0f, out.data());
    else
        blas::gemm(false, false, static_cast<int>(rows), static_cast<int>(out_features), static_cast<int>(in), 1.0f,
                   x.data(), static_cast<int>(in), projection.data(), static_cast<int>(out_features), 0.0f,
                   out.data(), static_cast<int>(out_features));
    return out;
}

Tensor embedding(const std::vector<std::int32_t>& ids, const Tensor& table) {
    expect_shape("embedding", "table", table, {-1, -1});
    const std::int64_t vocab = table.dim(0), d = table.dim(1);
    Tensor out({static_cast<std::int64_t>(ids.size()), d});
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] < 0 || ids[i] >= vocab)
            throw Error("embedding: token id " + std::to_string(ids[i]) + " outside vocabulary of " +
                        std::to_string(vocab));
        std::copy_n(table.data() + ids[i] * d, d, out.data() + static_cast<std::int64_t>(i) * d);
    }
    return out;
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
    require_rank_at_least("layer_norm", x, 1);
    const std::int64_t d = x.dim(-1);
    expect_shape("layer_norm", "gamma", gamma, {d});
    expect_shape("layer_norm", "beta", beta, {d});
    Tensor out(x.shape());
    const std::int64_t rows = d ? x.numel() / d : 0;
    const float* g = gamma.data();
    const float* b = beta.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* src = x.data() + r * d;
        float* dst = out.data() + r * d;
        float mean = 0;
        for (std::int64_t j = 0; j < d; ++j) mean += src[j];
        mean /= static_cast<float>(d);
        float var = 0;
        for (std::int64_t j = 0; j < d; ++j) var += (src[j] - mean) * (src[j] - mean);
        var /= static_cast<float>(d);
        const float inv = 1.0f / std::sqrt(var + eps);
        for (std::int64_t j = 0; j < d; ++j) dst[j] = (src[j] - mean) * inv * g[j] + b[j];
    }
    return out;
}

void softmax_rows(float* x, std::int64_t rows, std::int64_t cols) {
    for (std::int64_t r = 0; r < rows; ++r) {
        float* row = x + r * cols;
        float peak = -std::numeric_limits<float>::infinity();
        for (std::int64_t j = 0; j < cols; ++j) peak = std::max(peak, row[j]);
        float sum = 0;
        for (std::int64_t j = 0; j < cols; ++j) {
            row[j] = std::exp(row[j] - peak);
            sum += row[j];
        }
        const float inv = 1.0f / sum;
        for (std::int64_t j = 0; j < cols; ++j) row[j] *= inv;
    }
}

void softmax(Tensor& x) {
    require_rank_at_least("softmax", x, 1);
    const std::int64_t d = x.dim(-1);
    softmax_rows(x.data(), d ? x.numel() / d : 0, d);
}

Tensor multi_head_attention(const Tensor& x, const AttentionWeights& w, int heads, bool causal) {
    expect_shape("attention", "input", x, {-1, -1, -1});
    const std::int64_t n = x.dim(0), len = x.dim(1), d = x.dim(2);
    if (heads < 1 || d % heads != 0)
        throw Error("attention: width " + std::to_string(d) + " not divisible by " + std::to_string(heads) + " heads");
    expect_shape("attention", "in_proj_weight", w.in_proj_weight, {3 * d, d});
    expect_shape("attention", "out_proj_weight", w.out_proj_weight, {d, d});
    const Tensor qkv = linear(x, w.in_proj_weight, w.in_proj_bias);  // [N, L, 3D]
    const std::int64_t dh = d / heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
    Tensor mixed({n, len, d});
    const float* q_all = qkv.data();
    float* mixed_data = mixed.data();
#pragma omp parallel
    {
        std::vector<float> scores(static_cast<std::size_t>(len * len));
#pragma omp for collapse(2) schedule(static)
        for (std::int64_t b = 0; b < n; ++b)
            for (int h = 0; h < heads; ++h) {
                const float* base = q_all + b * len * 3 * d;
                const float* q = base + h * dh;
                const float* k = base + d + h * dh;
                const float* v = base + 2 * d + h * dh;
                blas::gemm(false, true, static_cast<int>(len), static_cast<int>(len), static_cast<int>(dh), scale, q,
                           static_cast<int>(3 * d), k, static_cast<int>(3 * d), 0.0f, scores.data(),
                           static_cast<int>(len));
                if (causal)
                    for (std::int64_t i = 0; i < len; ++i)
                        for (std::int64_t j = i + 1; j < len; ++j)
                            scores[i * len + j] = -std::numeric_limits<float>::infinity();
                softmax_rows(scores.data(), len, len);
                blas::gemm(false, false, static_cast<int>(len), static_cast<int>(dh), static_cast<int>(len), 1.0f,
                           scores.data(), static_cast<int>(len), v, static_cast<int>(3 * d), 0.0f,
                           mixed_data + b * len * d + h * dh, static_cast<int>(d));
            }
    }
    return linear(mixed, w.out_proj_weight, w.out_proj_bias);
}

}  // namespace opsis::ops
