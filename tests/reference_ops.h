#pragma once
// Plain-loop reference implementations that the optimised ops are checked against.
// Written for clarity, not speed: one output element at a time, straight from the definitions.
#include <cmath>
#include <cstdint>
#include <limits>

#include "encoder/tensor.h"

namespace opsis::reference {

// x NHWC, w [OC, C/groups, KH, KW] (PyTorch layout), bias [OC] or empty.
inline Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int pad, int groups) {
    const std::int64_t n = x.dim(0), h = x.dim(1), wd = x.dim(2), c = x.dim(3);
    const std::int64_t oc = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
    const std::int64_t oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
    const std::int64_t ocg = oc / groups;
    Tensor out({n, oh, ow, oc});
    for (std::int64_t b = 0; b < n; ++b)
        for (std::int64_t y = 0; y < oh; ++y)
            for (std::int64_t xo = 0; xo < ow; ++xo)
                for (std::int64_t o = 0; o < oc; ++o) {
                    const std::int64_t g = o / ocg;
                    double sum = bias.empty() ? 0.0 : bias[o];
                    for (std::int64_t ci = 0; ci < cg; ++ci)
                        for (std::int64_t ky = 0; ky < kh; ++ky)
                            for (std::int64_t kx = 0; kx < kw; ++kx) {
                                const std::int64_t iy = y * stride - pad + ky, ix = xo * stride - pad + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                sum += static_cast<double>(x[((b * h + iy) * wd + ix) * c + g * cg + ci]) *
                                       w[((o * cg + ci) * kh + ky) * kw + kx];
                            }
                    out[((b * oh + y) * ow + xo) * oc + o] = static_cast<float>(sum);
                }
    return out;
}

inline Tensor batch_norm(const Tensor& x, const Tensor& g, const Tensor& b, const Tensor& m, const Tensor& v,
                         float eps) {
    Tensor out(x.shape());
    const std::int64_t c = x.dim(-1);
    for (std::int64_t i = 0; i < x.numel(); ++i) {
        const std::int64_t k = i % c;
        out[i] = (x[i] - m[k]) / std::sqrt(v[k] + eps) * g[k] + b[k];
    }
    return out;
}

inline Tensor pool2d(const Tensor& x, int k, int s, int p, bool max) {
    const std::int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
    const std::int64_t oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    Tensor out({n, oh, ow, c});
    for (std::int64_t b = 0; b < n; ++b)
        for (std::int64_t y = 0; y < oh; ++y)
            for (std::int64_t xo = 0; xo < ow; ++xo)
                for (std::int64_t ch = 0; ch < c; ++ch) {
                    double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) {
                            const std::int64_t iy = y * s - p + ky, ix = xo * s - p + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            const double v = x[((b * h + iy) * w + ix) * c + ch];
                            acc = max ? std::max(acc, v) : acc + v;
                        }
                    out[((b * oh + y) * ow + xo) * c + ch] = static_cast<float>(max ? acc : acc / (k * k));
                }
    return out;
}

inline Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
    const std::int64_t in = w.dim(1), out_f = w.dim(0), rows = x.numel() / in;
    Shape shape = x.shape();
    shape.back() = out_f;
    Tensor out(shape);
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t o = 0; o < out_f; ++o) {
            double sum = bias.empty() ? 0.0 : bias[o];
            for (std::int64_t i = 0; i < in; ++i) sum += static_cast<double>(x[r * in + i]) * w[o * in + i];
            out[r * out_f + o] = static_cast<float>(sum);
        }
    return out;
}

inline Tensor layer_norm(const Tensor& x, const Tensor& g, const Tensor& b, float eps) {
    const std::int64_t d = x.dim(-1), rows = x.numel() / d;
    Tensor out(x.shape());
    for (std::int64_t r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (std::int64_t j = 0; j < d; ++j) mean += x[r * d + j];
        mean /= static_cast<double>(d);
        for (std::int64_t j = 0; j < d; ++j) var += (x[r * d + j] - mean) * (x[r * d + j] - mean);
        var /= static_cast<double>(d);
        for (std::int64_t j = 0; j < d; ++j)
            out[r * d + j] = static_cast<float>((x[r * d + j] - mean) / std::sqrt(var + eps) * g[j] + b[j]);
    }
    return out;
}

inline Tensor softmax(const Tensor& x) {
    const std::int64_t d = x.dim(-1), rows = x.numel() / d;
    Tensor out(x.shape());
    for (std::int64_t r = 0; r < rows; ++r) {
        double sum = 0;
        for (std::int64_t j = 0; j < d; ++j) sum += std::exp(static_cast<double>(x[r * d + j]));
        for (std::int64_t j = 0; j < d; ++j)
            out[r * d + j] = static_cast<float>(std::exp(static_cast<double>(x[r * d + j])) / sum);
    }
    return out;
}

// Attention straight from the definition, one (batch, head, query) at a time.
inline Tensor attention(const Tensor& x, const Tensor& in_w, const Tensor& in_b, const Tensor& out_w,
                        const Tensor& out_b, int heads, bool causal) {
    const std::int64_t n = x.dim(0), len = x.dim(1), d = x.dim(2), dh = d / heads;
    const Tensor qkv = linear(x, in_w, in_b);
    Tensor mixed({n, len, d});
    for (std::int64_t b = 0; b < n; ++b)
        for (std::int64_t h = 0; h < heads; ++h)
            for (std::int64_t i = 0; i < len; ++i) {
                std::vector<double> score(static_cast<std::size_t>(len), 0.0);
                double peak = -1e300;
                for (std::int64_t j = 0; j < len; ++j) {
                    if (causal && j > i) continue;
                    double s = 0;
                    for (std::int64_t k = 0; k < dh; ++k)
                        s += static_cast<double>(qkv[(b * len + i) * 3 * d + h * dh + k]) *
                             qkv[(b * len + j) * 3 * d + d + h * dh + k];
                    score[j] = s / std::sqrt(static_cast<double>(dh));
                    peak = std::max(peak, score[j]);
                }
                double total = 0;
                for (std::int64_t j = 0; j < len; ++j) {
                    score[j] = (causal && j > i) ? 0.0 : std::exp(score[j] - peak);
                    total += score[j];
                }
                for (std::int64_t k = 0; k < dh; ++k) {
                    double v = 0;
                    for (std::int64_t j = 0; j < len; ++j)
                        v += score[j] / total * qkv[(b * len + j) * 3 * d + 2 * d + h * dh + k];
                    mixed[(b * len + i) * d + h * dh + k] = static_cast<float>(v);
                }
            }
    return linear(mixed, out_w, out_b);
}

}  // namespace opsis::reference
