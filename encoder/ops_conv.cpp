// Convolution, batch-norm and pooling over NHWC tensors.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "encoder/blas.h"
#include "encoder/ops.h"

namespace opsis::ops {
namespace {

void require(bool ok, const std::string& message) {
    if (!ok) throw Error(message);
}

// Bounds the im2col scratch buffer: large enough for efficient GEMMs, small enough for cache.
constexpr std::int64_t kIm2colFloats = 1 << 21;

}  // namespace

int conv_output_size(int input, int kernel, int stride, int padding) {
    require(stride >= 1, "conv2d: stride must be >= 1, got " + std::to_string(stride));
    require(padding >= 0, "conv2d: padding must be >= 0, got " + std::to_string(padding));
    const int out = (input + 2 * padding - kernel) / stride + 1;
    require(input + 2 * padding >= kernel && out >= 1,
            "conv2d: kernel " + std::to_string(kernel) + " does not fit input of size " +
                std::to_string(input) + " with padding " + std::to_string(padding));
    return out;
}

PackedConv2d pack_conv2d(const Tensor& torch_weight, const Tensor& bias, int stride, int padding, int groups) {
    require(torch_weight.rank() == 4, "conv2d: weight must be [out, in/groups, kh, kw], got " +
                                          torch_weight.shape_string());
    require(groups >= 1, "conv2d: groups must be >= 1");
    const int oc = static_cast<int>(torch_weight.dim(0));
    const int cg = static_cast<int>(torch_weight.dim(1));
    const int kh = static_cast<int>(torch_weight.dim(2));
    const int kw = static_cast<int>(torch_weight.dim(3));
    require(oc % groups == 0, "conv2d: out channels " + std::to_string(oc) + " not divisible by groups " +
                                  std::to_string(groups));
    if (!bias.empty()) expect_shape("conv2d", "bias", bias, {oc});
    (void)conv_output_size(kh, kh, stride, padding);  // validates stride and padding

    PackedConv2d packed;
    packed.geometry = {cg * groups, oc, kh, kw, stride, padding, groups};
    const int ocg = oc / groups;
    const int k = kh * kw * cg;
    packed.weight = Tensor({groups, k, ocg});
    const float* src = torch_weight.data();
    float* dst = packed.weight.data();
    for (int g = 0; g < groups; ++g)
        for (int o = 0; o < ocg; ++o)
            for (int c = 0; c < cg; ++c)
                for (int y = 0; y < kh; ++y)
                    for (int x = 0; x < kw; ++x) {
                        const std::int64_t from = (((static_cast<std::int64_t>(g) * ocg + o) * cg + c) * kh + y) * kw + x;
                        const std::int64_t row = (static_cast<std::int64_t>(y) * kw + x) * cg + c;
                        dst[(static_cast<std::int64_t>(g) * k + row) * ocg + o] = src[from];
                    }
    packed.bias = bias;
    return packed;
}

void fold_batch_norm(Tensor& torch_weight, Tensor& bias, const Tensor& gamma, const Tensor& beta,
                     const Tensor& running_mean, const Tensor& running_var, float eps) {
    const std::int64_t oc = torch_weight.dim(0);
    for (const Tensor* t : {&gamma, &beta, &running_mean, &running_var})
        expect_shape("batch_norm fold", "parameter", *t, {oc});
    if (bias.empty()) bias = Tensor({oc});
    expect_shape("batch_norm fold", "bias", bias, {oc});
    const std::int64_t per_out = torch_weight.numel() / oc;
    for (std::int64_t o = 0; o < oc; ++o) {
        const float scale = gamma[o] / std::sqrt(running_var[o] + eps);
        float* w = torch_weight.data() + o * per_out;
        for (std::int64_t i = 0; i < per_out; ++i) w[i] *= scale;
        bias[o] = (bias[o] - running_mean[o]) * scale + beta[o];
    }
}

Tensor conv2d(const Tensor& x, const PackedConv2d& conv) {
    const ConvGeometry& g = conv.geometry;
    expect_shape("conv2d", "input", x, {-1, -1, -1, g.in_channels});
    const int n = static_cast<int>(x.dim(0)), h = static_cast<int>(x.dim(1)), w = static_cast<int>(x.dim(2));
    const int oh = conv_output_size(h, g.kernel_h, g.stride, g.padding);
    const int ow = conv_output_size(w, g.kernel_w, g.stride, g.padding);
    const int c = g.in_channels, cg = c / g.groups, ocg = g.out_channels / g.groups;
    const int k = g.kernel_h * g.kernel_w * cg;
    const std::int64_t rows = static_cast<std::int64_t>(n) * oh * ow;
    Tensor out({n, oh, ow, g.out_channels});

    const bool pointwise = g.kernel_h == 1 && g.kernel_w == 1 && g.stride == 1 && g.padding == 0 && g.groups == 1;
    if (pointwise) {
        blas::gemm(false, false, static_cast<int>(rows), g.out_channels, c, 1.0f, x.data(), c,
                   conv.weight.data(), g.out_channels, 0.0f, out.data(), g.out_channels);
    } else {
        const std::int64_t chunk = std::max<std::int64_t>(1, kIm2colFloats / k);
        std::vector<float> cols(static_cast<std::size_t>(std::min(rows, chunk) * k));
        const float* xs = x.data();
        for (int grp = 0; grp < g.groups; ++grp) {
            for (std::int64_t r0 = 0; r0 < rows; r0 += chunk) {
                const std::int64_t r1 = std::min(rows, r0 + chunk);
#pragma omp parallel for schedule(static)
                for (std::int64_t r = r0; r < r1; ++r) {
                    const int ox = static_cast<int>(r % ow);
                    const int oy = static_cast<int>((r / ow) % oh);
                    const std::int64_t b = r / (static_cast<std::int64_t>(ow) * oh);
                    float* dst = cols.data() + (r - r0) * k;
                    for (int ky = 0; ky < g.kernel_h; ++ky) {
                        const int iy = oy * g.stride - g.padding + ky;
                        for (int kx = 0; kx < g.kernel_w; ++kx, dst += cg) {
                            const int ix = ox * g.stride - g.padding + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                                std::memset(dst, 0, sizeof(float) * static_cast<std::size_t>(cg));
                            } else {
                                const float* src = xs + ((b * h + iy) * w + ix) * c + static_cast<std::int64_t>(grp) * cg;
                                std::memcpy(dst, src, sizeof(float) * static_cast<std::size_t>(cg));
                            }
                        }
                    }
                }
                blas::gemm(false, false, static_cast<int>(r1 - r0), ocg, k, 1.0f, cols.data(), k,
                           conv.weight.data() + static_cast<std::int64_t>(grp) * k * ocg, ocg, 0.0f,
                           out.data() + r0 * g.out_channels + static_cast<std::int64_t>(grp) * ocg, g.out_channels);
            }
        }
    }
    if (!conv.bias.empty()) {
        const float* bias = conv.bias.data();
        float* o = out.data();
        const int oc = g.out_channels;
#pragma omp parallel for schedule(static)
        for (std::int64_t r = 0; r < rows; ++r)
            for (int j = 0; j < oc; ++j) o[r * oc + j] += bias[j];
    }
    return out;
}

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, float eps) {
    const std::int64_t c = x.dim(-1);
    for (const Tensor* t : {&gamma, &beta, &running_mean, &running_var})
        expect_shape("batch_norm", "parameter", *t, {c});
    std::vector<float> scale(static_cast<std::size_t>(c)), shift(static_cast<std::size_t>(c));
    for (std::int64_t i = 0; i < c; ++i) {
        scale[i] = gamma[i] / std::sqrt(running_var[i] + eps);
        shift[i] = beta[i] - running_mean[i] * scale[i];
    }
    Tensor out(x.shape());
    const std::int64_t rows = x.numel() / c;
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t i = 0; i < c; ++i) out[r * c + i] = x[r * c + i] * scale[i] + shift[i];
    return out;
}

namespace {
enum class PoolKind { max, average };

Tensor pool2d(const Tensor& x, int kernel, int stride, int padding, PoolKind kind) {
    const char* op = kind == PoolKind::max ? "max_pool2d" : "avg_pool2d";
    expect_shape(op, "input", x, {-1, -1, -1, -1});
    require(kernel >= 1, std::string(op) + ": kernel must be >= 1");
    require(padding * 2 <= kernel, std::string(op) + ": padding must be at most half the kernel");
    const int n = static_cast<int>(x.dim(0)), h = static_cast<int>(x.dim(1)), w = static_cast<int>(x.dim(2));
    const int c = static_cast<int>(x.dim(3));
    const int oh = conv_output_size(h, kernel, stride, padding);
    const int ow = conv_output_size(w, kernel, stride, padding);
    Tensor out({n, oh, ow, c});
    const float inv_area = 1.0f / static_cast<float>(kernel * kernel);
    const float* xs = x.data();
    float* os = out.data();
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; ++b)
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox) {
                float* dst = os + ((static_cast<std::int64_t>(b) * oh + oy) * ow + ox) * c;
                const float init = kind == PoolKind::max ? -std::numeric_limits<float>::infinity() : 0.0f;
                std::fill(dst, dst + c, init);
                for (int ky = 0; ky < kernel; ++ky) {
                    const int iy = oy * stride - padding + ky;
                    if (iy < 0 || iy >= h) continue;
                    for (int kx = 0; kx < kernel; ++kx) {
                        const int ix = ox * stride - padding + kx;
                        if (ix < 0 || ix >= w) continue;
                        const float* src = xs + ((static_cast<std::int64_t>(b) * h + iy) * w + ix) * c;
                        if (kind == PoolKind::max)
                            for (int j = 0; j < c; ++j) dst[j] = std::max(dst[j], src[j]);
                        else
                            for (int j = 0; j < c; ++j) dst[j] += src[j];
                    }
                }
                if (kind == PoolKind::average)
                    for (int j = 0; j < c; ++j) dst[j] *= inv_area;
            }
    return out;
}
}  // namespace

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding) {
    return pool2d(x, kernel, stride, padding, PoolKind::max);
}

Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding) {
    return pool2d(x, kernel, stride, padding, PoolKind::average);
}

Tensor global_avg_pool(const Tensor& x) {
    expect_shape("global_avg_pool", "input", x, {-1, -1, -1, -1});
    const std::int64_t n = x.dim(0), hw = x.dim(1) * x.dim(2), c = x.dim(3);
    require(hw > 0, "global_avg_pool: empty spatial extent");
    Tensor out({n, c});
    for (std::int64_t b = 0; b < n; ++b) {
        float* dst = out.data() + b * c;
        const float* src = x.data() + b * hw * c;
        for (std::int64_t p = 0; p < hw; ++p)
            for (std::int64_t j = 0; j < c; ++j) dst[j] += src[p * c + j];
        for (std::int64_t j = 0; j < c; ++j) dst[j] /= static_cast<float>(hw);
    }
    return out;
}

}  // namespace opsis::ops
