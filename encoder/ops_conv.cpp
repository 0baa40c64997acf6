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

// Rows [r0, r1) of the im2col matrix for group grp: row (b, oy, ox) holds the input patch
// in (ky, kx, c) order, zeros where it hangs over the border.
void im2col(const Tensor& x, const ConvGeometry& g, int grp, std::int64_t r0, std::int64_t r1, int oh, int ow,
            float* cols) {
    const int h = static_cast<int>(x.dim(1)), w = static_cast<int>(x.dim(2)), c = g.in_channels, cg = c / g.groups;
    const std::int64_t k = static_cast<std::int64_t>(g.kernel_h) * g.kernel_w * cg;
    const float* xs = x.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t r = r0; r < r1; ++r) {
        const int ox = static_cast<int>(r % ow);
        const int oy = static_cast<int>((r / ow) % oh);
        const std::int64_t b = r / (static_cast<std::int64_t>(ow) * oh);
        float* dst = cols + (r - r0) * k;
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
}

// The adjoint of im2col: adds each row's patch back onto dx. Rows of one image touch only
// that image, so images run in parallel without write conflicts.
void col2im_add(const float* cols, const ConvGeometry& g, int grp, std::int64_t r0, std::int64_t r1, int oh, int ow,
                Tensor& dx) {
    const int h = static_cast<int>(dx.dim(1)), w = static_cast<int>(dx.dim(2)), c = g.in_channels, cg = c / g.groups;
    const std::int64_t k = static_cast<std::int64_t>(g.kernel_h) * g.kernel_w * cg;
    const std::int64_t per_image = static_cast<std::int64_t>(oh) * ow;
    float* xs = dx.data();
    const std::int64_t b0 = r0 / per_image, b1 = (r1 - 1) / per_image;
#pragma omp parallel for schedule(static)
    for (std::int64_t b = b0; b <= b1; ++b) {
        const std::int64_t lo = std::max(r0, b * per_image), hi = std::min(r1, (b + 1) * per_image);
        for (std::int64_t r = lo; r < hi; ++r) {
            const int ox = static_cast<int>(r % ow);
            const int oy = static_cast<int>((r / ow) % oh);
            const float* src = cols + (r - r0) * k;
            for (int ky = 0; ky < g.kernel_h; ++ky) {
                const int iy = oy * g.stride - g.padding + ky;
                for (int kx = 0; kx < g.kernel_w; ++kx, src += cg) {
                    const int ix = ox * g.stride - g.padding + kx;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                    float* dst = xs + ((b * h + iy) * w + ix) * c + static_cast<std::int64_t>(grp) * cg;
                    for (int j = 0; j < cg; ++j) dst[j] += src[j];
                }
            }
        }
    }
}

}  // namespace

int conv_output_size(int input, int kernel, int stride, int padding) {
    require(stride >= 1, "conv2d: stride must be >= 1, got " + std::to_string(stride));
    require(padding >= 0, "conv2d: padding must be >= 0, got " + std::to_string(padding));
    const int out = (input + 2 * padding - kernel) / stride + 1;
    require(input + 2 * padding >= kernel && out >= 1, "conv2d: kernel " + std::to_string(kernel) +
                                                           " does not fit input of size " + std::to_string(input) +
                                                           " with padding " + std::to_string(padding));
    return out;
}

PackedConv2d pack_conv2d(const Tensor& torch_weight, const Tensor& bias, int stride, int padding, int groups,
                         Precision precision) {
    require(torch_weight.rank() == 4,
            "conv2d: weight must be [out, in/groups, kh, kw], got " + torch_weight.shape_string());
    require(groups >= 1, "conv2d: groups must be >= 1");
    const int oc = static_cast<int>(torch_weight.dim(0));
    const int cg = static_cast<int>(torch_weight.dim(1));
    const int kh = static_cast<int>(torch_weight.dim(2));
    const int kw = static_cast<int>(torch_weight.dim(3));
    require(oc % groups == 0,
            "conv2d: out channels " + std::to_string(oc) + " not divisible by groups " + std::to_string(groups));
    if (!bias.empty()) expect_shape("conv2d", "bias", bias, {oc});
    (void)conv_output_size(kh, kh, stride, padding);  // validates stride and padding

    PackedConv2d packed;
    packed.geometry = {cg * groups, oc, kh, kw, stride, padding, groups};
    const int ocg = oc / groups;
    const int k = kh * kw * cg;
    const float* src = torch_weight.data();
    for (int g = 0; g < groups; ++g) {
        Tensor matrix({k, ocg});
        float* dst = matrix.data();
        for (int o = 0; o < ocg; ++o)
            for (int c = 0; c < cg; ++c)
                for (int y = 0; y < kh; ++y)
                    for (int x = 0; x < kw; ++x) {
                        const std::int64_t from =
                            (((static_cast<std::int64_t>(g) * ocg + o) * cg + c) * kh + y) * kw + x;
                        const std::int64_t row = (static_cast<std::int64_t>(y) * kw + x) * cg + c;
                        dst[row * ocg + o] = src[from];
                    }
        packed.weight.emplace_back(matrix, DenseWeights::Layout::in_out, precision);
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
        conv.weight[0].apply(x.data(), rows, out.data(), g.out_channels);
    } else {
        const std::int64_t chunk = std::max<std::int64_t>(1, kIm2colFloats / k);
        std::vector<float> cols(static_cast<std::size_t>(std::min(rows, chunk) * k));
        for (int grp = 0; grp < g.groups; ++grp) {
            for (std::int64_t r0 = 0; r0 < rows; r0 += chunk) {
                const std::int64_t r1 = std::min(rows, r0 + chunk);
                im2col(x, g, grp, r0, r1, oh, ow, cols.data());
                conv.weight[static_cast<std::size_t>(grp)].apply(
                    cols.data(), r1 - r0, out.data() + r0 * g.out_channels + static_cast<std::int64_t>(grp) * ocg,
                    g.out_channels);
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

Tensor conv2d_backward(const Tensor& x, const PackedConv2d& conv, const Tensor& dy, Tensor& dweight, Tensor* dbias,
                       bool skip_dx) {
    const ConvGeometry& g = conv.geometry;
    expect_shape("conv2d backward", "input", x, {-1, -1, -1, g.in_channels});
    const int n = static_cast<int>(x.dim(0)), h = static_cast<int>(x.dim(1)), w = static_cast<int>(x.dim(2));
    const int oh = conv_output_size(h, g.kernel_h, g.stride, g.padding);
    const int ow = conv_output_size(w, g.kernel_w, g.stride, g.padding);
    expect_shape("conv2d backward", "dy", dy, {n, oh, ow, g.out_channels});
    const int cg = g.in_channels / g.groups, ocg = g.out_channels / g.groups, oc = g.out_channels;
    const int k = g.kernel_h * g.kernel_w * cg;
    expect_shape("conv2d backward", "dweight", dweight, {oc, cg, g.kernel_h, g.kernel_w});
    const std::int64_t rows = static_cast<std::int64_t>(n) * oh * ow;

    if (dbias) {
        expect_shape("conv2d backward", "dbias", *dbias, {oc});
        for (std::int64_t r = 0; r < rows; ++r)
            for (int j = 0; j < oc; ++j) (*dbias)[j] += dy[r * oc + j];
    }
    Tensor dpacked({g.groups, k, ocg});  // gradient in the packed layout
    Tensor dx = skip_dx ? Tensor() : Tensor(x.shape());
    const bool pointwise = g.kernel_h == 1 && g.kernel_w == 1 && g.stride == 1 && g.padding == 0 && g.groups == 1;
    if (pointwise) {
        blas::gemm(true, false, k, oc, static_cast<int>(rows), 1.0f, x.data(), k, dy.data(), oc, 0.0f, dpacked.data(),
                   oc);
        if (!skip_dx)
            blas::gemm(false, true, static_cast<int>(rows), k, oc, 1.0f, dy.data(), oc, conv.weight[0].fp32().data(),
                       oc, 0.0f, dx.data(), k);
    } else {
        const std::int64_t chunk = std::max<std::int64_t>(1, kIm2colFloats / k);
        std::vector<float> cols(static_cast<std::size_t>(std::min(rows, chunk) * k));
        for (int grp = 0; grp < g.groups; ++grp) {
            float* dw = dpacked.data() + static_cast<std::int64_t>(grp) * k * ocg;
            const float* wg = conv.weight[static_cast<std::size_t>(grp)].fp32().data();
            for (std::int64_t r0 = 0; r0 < rows; r0 += chunk) {
                const std::int64_t r1 = std::min(rows, r0 + chunk);
                const int m = static_cast<int>(r1 - r0);
                const float* dyg = dy.data() + r0 * oc + static_cast<std::int64_t>(grp) * ocg;
                im2col(x, g, grp, r0, r1, oh, ow, cols.data());
                blas::gemm(true, false, k, ocg, m, 1.0f, cols.data(), k, dyg, oc, 1.0f, dw, ocg);
                if (skip_dx) continue;
                blas::gemm(false, true, m, k, ocg, 1.0f, dyg, oc, wg, ocg, 0.0f, cols.data(), k);
                col2im_add(cols.data(), g, grp, r0, r1, oh, ow, dx);
            }
        }
    }
    // Unpack [groups][(ky, kx, c), o] into PyTorch's [out, c, ky, kx].
    const float* src = dpacked.data();
    float* dst = dweight.data();
    for (int grp = 0; grp < g.groups; ++grp)
        for (int o = 0; o < ocg; ++o)
            for (int c = 0; c < cg; ++c)
                for (int y = 0; y < g.kernel_h; ++y)
                    for (int xk = 0; xk < g.kernel_w; ++xk) {
                        const std::int64_t to =
                            (((static_cast<std::int64_t>(grp) * ocg + o) * cg + c) * g.kernel_h + y) * g.kernel_w + xk;
                        const std::int64_t row = (static_cast<std::int64_t>(y) * g.kernel_w + xk) * cg + c;
                        dst[to] += src[(static_cast<std::int64_t>(grp) * k + row) * ocg + o];
                    }
    return dx;
}

Tensor batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                        Tensor& running_var, float momentum, float eps, BatchNormCache& cache) {
    const std::int64_t c = x.dim(-1);
    for (const Tensor* t :
         {&gamma, &beta, static_cast<const Tensor*>(&running_mean), static_cast<const Tensor*>(&running_var)})
        expect_shape("batch_norm", "parameter", *t, {c});
    const std::int64_t rows = x.numel() / c;
    require(rows > 1, "batch_norm: training needs more than one value per channel");
    std::vector<double> mean(static_cast<std::size_t>(c), 0.0), var(static_cast<std::size_t>(c), 0.0);
    const float* xs = x.data();
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < c; ++j) mean[j] += xs[r * c + j];
    for (std::int64_t j = 0; j < c; ++j) mean[j] /= static_cast<double>(rows);
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < c; ++j) {
            const double d = xs[r * c + j] - mean[j];
            var[j] += d * d;
        }
    cache.inv_std.resize(static_cast<std::size_t>(c));
    std::vector<float> m(static_cast<std::size_t>(c));
    for (std::int64_t j = 0; j < c; ++j) {
        const double biased = var[j] / static_cast<double>(rows);
        cache.inv_std[j] = static_cast<float>(1.0 / std::sqrt(biased + eps));
        m[j] = static_cast<float>(mean[j]);
        running_mean[j] = (1 - momentum) * running_mean[j] + momentum * m[j];
        running_var[j] =
            (1 - momentum) * running_var[j] + momentum * static_cast<float>(var[j] / static_cast<double>(rows - 1));
    }
    cache.normalized = Tensor(x.shape());
    Tensor out(x.shape());
    float* xh = cache.normalized.data();
    float* o = out.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < c; ++j) {
            xh[r * c + j] = (xs[r * c + j] - m[j]) * cache.inv_std[j];
            o[r * c + j] = xh[r * c + j] * gamma[j] + beta[j];
        }
    return out;
}

Tensor batch_norm_backward(const Tensor& dy, const BatchNormCache& cache, const Tensor& gamma, Tensor& dgamma,
                           Tensor& dbeta) {
    const Tensor& xh = cache.normalized;
    if (dy.shape() != xh.shape()) throw Error("batch_norm backward: dy has shape " + dy.shape_string());
    const std::int64_t c = xh.dim(-1), rows = xh.numel() / c;
    std::vector<double> sum_dy(static_cast<std::size_t>(c), 0.0), sum_dy_xh(static_cast<std::size_t>(c), 0.0);
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < c; ++j) {
            sum_dy[j] += dy[r * c + j];
            sum_dy_xh[j] += static_cast<double>(dy[r * c + j]) * xh[r * c + j];
        }
    std::vector<float> mean_dy(static_cast<std::size_t>(c)), mean_dy_xh(static_cast<std::size_t>(c));
    for (std::int64_t j = 0; j < c; ++j) {
        dgamma[j] += static_cast<float>(sum_dy_xh[j]);
        dbeta[j] += static_cast<float>(sum_dy[j]);
        mean_dy[j] = static_cast<float>(sum_dy[j] / static_cast<double>(rows));
        mean_dy_xh[j] = static_cast<float>(sum_dy_xh[j] / static_cast<double>(rows));
    }
    Tensor dx(xh.shape());
    float* d = dx.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < c; ++j)
            d[r * c + j] = gamma[j] * cache.inv_std[j] * (dy[r * c + j] - mean_dy[j] - xh[r * c + j] * mean_dy_xh[j]);
    return dx;
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

// Calls visit(offset) with the offset (in floats, channel 0) of every input pixel inside the
// pooling window of output (b, oy, ox); pixels in the padding are skipped.
template <class Visit>
void for_each_in_window(int b, int oy, int ox, int h, int w, int c, int kernel, int stride, int padding, Visit visit) {
    for (int ky = 0; ky < kernel; ++ky) {
        const int iy = oy * stride - padding + ky;
        if (iy < 0 || iy >= h) continue;
        for (int kx = 0; kx < kernel; ++kx) {
            const int ix = ox * stride - padding + kx;
            if (ix < 0 || ix >= w) continue;
            visit(((static_cast<std::int64_t>(b) * h + iy) * w + ix) * c);
        }
    }
}

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
                for_each_in_window(b, oy, ox, h, w, c, kernel, stride, padding, [&](std::int64_t at) {
                    const float* src = xs + at;
                    if (kind == PoolKind::max)
                        for (int j = 0; j < c; ++j) dst[j] = std::max(dst[j], src[j]);
                    else
                        for (int j = 0; j < c; ++j) dst[j] += src[j];
                });
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

namespace opsis::ops {

Tensor max_pool2d_backward(const Tensor& x, const Tensor& dy, int kernel, int stride, int padding) {
    const int n = static_cast<int>(x.dim(0)), h = static_cast<int>(x.dim(1)), w = static_cast<int>(x.dim(2));
    const int c = static_cast<int>(x.dim(3));
    const int oh = conv_output_size(h, kernel, stride, padding), ow = conv_output_size(w, kernel, stride, padding);
    expect_shape("max_pool2d backward", "dy", dy, {n, oh, ow, c});
    Tensor dx(x.shape());
    const float* xs = x.data();
#pragma omp parallel for schedule(static)
    for (int b = 0; b < n; ++b)
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox)
                for (int j = 0; j < c; ++j) {
                    // The gradient goes to the first maximum, as the forward's max picks it.
                    std::int64_t best = -1;
                    float best_value = -std::numeric_limits<float>::infinity();
                    for_each_in_window(b, oy, ox, h, w, c, kernel, stride, padding, [&](std::int64_t pixel) {
                        const std::int64_t at = pixel + j;
                        if (best < 0 || xs[at] > best_value) {
                            best = at;
                            best_value = xs[at];
                        }
                    });
                    dx[best] += dy[((static_cast<std::int64_t>(b) * oh + oy) * ow + ox) * c + j];
                }
    return dx;
}

Tensor global_avg_pool_backward(const Tensor& dy, const Shape& input_shape) {
    if (input_shape.size() != 4) throw Error("global_avg_pool backward: input must be NHWC");
    const std::int64_t n = input_shape[0], hw = input_shape[1] * input_shape[2], c = input_shape[3];
    expect_shape("global_avg_pool backward", "dy", dy, {n, c});
    Tensor dx(input_shape);
    const float inv = 1.0f / static_cast<float>(hw);
    for (std::int64_t b = 0; b < n; ++b)
        for (std::int64_t p = 0; p < hw; ++p)
            for (std::int64_t j = 0; j < c; ++j) dx[(b * hw + p) * c + j] = dy[b * c + j] * inv;
    return dx;
}

}  // namespace opsis::ops
