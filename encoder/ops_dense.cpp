// Element-wise and dense ops over row-major tensors, each backward directly after its forward
// (attention is in ops_attention.cpp). Shapes: N rows, D features, T tokens, V vocabulary.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "encoder/blas.h"
#include "encoder/fast_math.h"
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
        throw Error(std::string(op) + ": input has shape " + x.shape_string() +
                    ", needs rank >= " + std::to_string(rank));
}

}  // namespace
// ---- activations: x any shape; activate in place; backward turns dy (same shape) into dx in place ---

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
            fast::map8(
                v, n, [](fast::f8 x, std::int64_t) { return 0.5f * x * (1.0f + fast::erf(x * 0.70710678118654752f)); });
            break;
        case Activation::quick_gelu:
            fast::map8(v, n, [](fast::f8 x, std::int64_t) { return x / (1.0f + fast::exp(-1.702f * x)); });
            break;
    }
}

void activate_backward(const Tensor& x, Activation a, Tensor& dy) {
    if (x.shape() != dy.shape())
        throw Error("activation backward: shapes " + x.shape_string() + " and " + dy.shape_string());
    const float* v = x.data();
    float* g = dy.data();
    const std::int64_t n = x.numel();
    switch (a) {
        case Activation::relu:
#pragma omp parallel for simd schedule(static)
            for (std::int64_t i = 0; i < n; ++i) g[i] = v[i] > 0.0f ? g[i] : 0.0f;
            break;
        // map8 walks dy; the matching inputs are read at the same offset.
        case Activation::gelu:
            fast::map8(g, n, [v, n](fast::f8 grad, std::int64_t at) {
                fast::f8 x = fast::splat(0.0f);
                std::memcpy(&x, v + at, static_cast<std::size_t>(std::min<std::int64_t>(8, n - at)) * sizeof(float));
                const fast::f8 cdf = 0.5f * (1.0f + fast::erf(x * 0.70710678118654752f));
                const fast::f8 pdf = 0.39894228040143268f * fast::exp(-0.5f * x * x);
                return grad * (cdf + x * pdf);
            });
            break;
        case Activation::quick_gelu:
            fast::map8(g, n, [v, n](fast::f8 grad, std::int64_t at) {
                fast::f8 x = fast::splat(0.0f);
                std::memcpy(&x, v + at, static_cast<std::size_t>(std::min<std::int64_t>(8, n - at)) * sizeof(float));
                const fast::f8 s = 1.0f / (1.0f + fast::exp(-1.702f * x));
                return grad * (s + 1.702f * x * s * (1.0f - s));
            });
            break;
    }
}

// ---- residuals: x += y, same shapes --------------------------------------------------------------

void add_inplace(Tensor& x, const Tensor& y) {
    if (x.shape() != y.shape()) throw Error("add: shapes " + x.shape_string() + " and " + y.shape_string() + " differ");
    float* a = x.data();
    const float* b = y.data();
    const std::int64_t n = x.numel();
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < n; ++i) a[i] += b[i];
}

// ---- L2 normalisation of rows: x [N, D] -> unit rows; backward from the kept input and output ----

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

Tensor l2_normalize_backward(const Tensor& x, const Tensor& y, const Tensor& dy) {
    if (x.shape() != y.shape() || x.shape() != dy.shape()) throw Error("l2_normalize backward: shapes differ");
    const std::int64_t d = x.dim(-1), rows = d ? x.numel() / d : 0;
    Tensor dx(x.shape());
    for (std::int64_t r = 0; r < rows; ++r) {
        double norm = 0, dot = 0;
        for (std::int64_t j = 0; j < d; ++j) {
            norm += static_cast<double>(x[r * d + j]) * x[r * d + j];
            dot += static_cast<double>(y[r * d + j]) * dy[r * d + j];
        }
        if (norm <= 0) continue;
        const double inv = 1.0 / std::sqrt(norm);
        for (std::int64_t j = 0; j < d; ++j)
            dx[r * d + j] = static_cast<float>((dy[r * d + j] - y[r * d + j] * dot) * inv);
    }
    return dx;
}

// ---- linear: x [.., IN], weight [OUT, IN] (PyTorch layout), bias [OUT] -> [.., OUT] --------------

namespace {
void add_bias(Tensor& out, const Tensor& bias) {
    if (bias.empty()) return;
    const std::int64_t width = out.dim(-1), rows = width ? out.numel() / width : 0;
    float* o = out.data();
    const float* b = bias.data();
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < width; ++j) o[r * width + j] += b[j];
}
}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
    require_rank_at_least("linear", x, 1);
    expect_shape("linear", "weight", weight, {-1, x.dim(-1)});
    const std::int64_t in = weight.dim(1), out_features = weight.dim(0);
    if (!bias.empty()) expect_shape("linear", "bias", bias, {out_features});
    const std::int64_t rows = in ? x.numel() / in : 0;
    Tensor out(with_last(x.shape(), out_features));
    dense_fp32(x.data(), rows, weight.data(), DenseWeights::Layout::out_in, in, out_features, out.data(), out_features);
    add_bias(out, bias);
    return out;
}

Tensor linear(const Tensor& x, const DenseWeights& weight, const Tensor& bias) {
    require_rank_at_least("linear", x, 1);
    const std::int64_t in = weight.in_features(), out_features = weight.out_features();
    if (x.dim(-1) != in)
        throw Error("linear: input has shape " + x.shape_string() + ", the weight takes " + std::to_string(in) +
                    " features");
    if (!bias.empty()) expect_shape("linear", "bias", bias, {out_features});
    const std::int64_t rows = in ? x.numel() / in : 0;
    Tensor out(with_last(x.shape(), out_features));
    weight.apply(x.data(), rows, out.data(), out_features);
    add_bias(out, bias);
    return out;
}

Tensor linear_backward(const Tensor& x, const Tensor& weight, const Tensor& dy, Tensor& dweight, Tensor* dbias) {
    const std::int64_t in = weight.dim(1), out_features = weight.dim(0);
    const std::int64_t rows = in ? x.numel() / in : 0;
    if (x.dim(-1) != in || dy.dim(-1) != out_features || dy.numel() != rows * out_features)
        throw Error("linear backward: x " + x.shape_string() + ", weight " + weight.shape_string() + ", dy " +
                    dy.shape_string());
    expect_shape("linear backward", "dweight", dweight, {out_features, in});
    const int m = static_cast<int>(rows), o = static_cast<int>(out_features), k = static_cast<int>(in);
    blas::gemm(true, false, o, k, m, 1.0f, dy.data(), o, x.data(), k, 1.0f, dweight.data(), k);
    if (dbias)
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t j = 0; j < out_features; ++j) (*dbias)[j] += dy[r * out_features + j];
    Tensor dx(x.shape());
    blas::gemm(false, false, m, k, o, 1.0f, dy.data(), o, weight.data(), k, 0.0f, dx.data(), k);
    return dx;
}

// ---- projection: x [N, IN], projection [IN, OUT] (CLIP layout, no bias) -> [N, OUT] --------------

Tensor project(const Tensor& x, const Tensor& projection) {
    require_rank_at_least("project", x, 1);
    expect_shape("project", "projection", projection, {x.dim(-1), -1});
    const std::int64_t in = projection.dim(0), out_features = projection.dim(1);
    const std::int64_t rows = in ? x.numel() / in : 0;
    Tensor out(with_last(x.shape(), out_features));
    dense_fp32(x.data(), rows, projection.data(), DenseWeights::Layout::in_out, in, out_features, out.data(),
               out_features);
    return out;
}

Tensor project(const Tensor& x, const DenseWeights& projection) { return linear(x, projection, Tensor()); }

Tensor project_backward(const Tensor& x, const Tensor& projection, const Tensor& dy, Tensor& dprojection) {
    const std::int64_t in = projection.dim(0), out_features = projection.dim(1);
    const std::int64_t rows = in ? x.numel() / in : 0;
    if (x.dim(-1) != in || dy.dim(-1) != out_features || dy.numel() != rows * out_features)
        throw Error("project backward: x " + x.shape_string() + ", projection " + projection.shape_string() + ", dy " +
                    dy.shape_string());
    const int m = static_cast<int>(rows), o = static_cast<int>(out_features), k = static_cast<int>(in);
    blas::gemm(true, false, k, o, m, 1.0f, x.data(), k, dy.data(), o, 1.0f, dprojection.data(), o);
    Tensor dx(x.shape());
    blas::gemm(false, true, m, k, o, 1.0f, dy.data(), o, projection.data(), o, 0.0f, dx.data(), k);
    return dx;
}

// ---- embedding: ids [T], table [V, D] -> [T, D]; backward adds rows into dtable ------------------

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

void embedding_backward(const std::vector<std::int32_t>& ids, const Tensor& dy, Tensor& dtable) {
    const std::int64_t d = dtable.dim(1);
    expect_shape("embedding backward", "dy", dy, {static_cast<std::int64_t>(ids.size()), d});
    for (std::size_t i = 0; i < ids.size(); ++i)
        for (std::int64_t j = 0; j < d; ++j) dtable[ids[i] * d + j] += dy[static_cast<std::int64_t>(i) * d + j];
}

// ---- layer norm over the last axis: x [.., D], gamma and beta [D] --------------------------------

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

Tensor layer_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& dy, Tensor& dgamma, Tensor& dbeta,
                           float eps) {
    const std::int64_t d = x.dim(-1), rows = d ? x.numel() / d : 0;
    if (dy.shape() != x.shape()) throw Error("layer_norm backward: dy has shape " + dy.shape_string());
    Tensor dx(x.shape()), normalized(x.shape());
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* src = x.data() + r * d;
        const float* g = dy.data() + r * d;
        float* xh = normalized.data() + r * d;
        float mean = 0;
        for (std::int64_t j = 0; j < d; ++j) mean += src[j];
        mean /= static_cast<float>(d);
        float var = 0;
        for (std::int64_t j = 0; j < d; ++j) var += (src[j] - mean) * (src[j] - mean);
        const float inv = 1.0f / std::sqrt(var / static_cast<float>(d) + eps);
        float sum_g = 0, sum_g_xh = 0;
        for (std::int64_t j = 0; j < d; ++j) {
            xh[j] = (src[j] - mean) * inv;
            const float gx = g[j] * gamma[j];
            sum_g += gx;
            sum_g_xh += gx * xh[j];
        }
        float* out = dx.data() + r * d;
        const float invd = 1.0f / static_cast<float>(d);
        for (std::int64_t j = 0; j < d; ++j) out[j] = inv * (g[j] * gamma[j] - invd * sum_g - xh[j] * invd * sum_g_xh);
    }
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < d; ++j) {
            dgamma[j] += dy[r * d + j] * normalized[r * d + j];
            dbeta[j] += dy[r * d + j];
        }
    return dx;
}

// ---- softmax over the last axis (rows of a matrix; used by attention too) ------------------------

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

}  // namespace opsis::ops
