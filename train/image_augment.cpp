#include "train/image_augment.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "core/utf8.h"
#include "core/word_lists.h"
#include "image/preprocess.h"

namespace opsis::train {
namespace {

constexpr float pi = 3.14159265358979f;

// ---------------------------------------------------------------------------------------------
// Random numbers: only the engine's raw output is used (the standard distributions' use of the
// engine is not fixed by the standard), so a seed gives the same bytes with any library.

float unit(std::mt19937_64& rng) { return static_cast<float>(rng() >> 40) * (1.0f / 16777216.0f); }  // [0, 1)
float uniform(std::mt19937_64& rng, float a, float b) { return a + (b - a) * unit(rng); }
float random_sign(std::mt19937_64& rng) { return (rng() >> 63) ? 1.0f : -1.0f; }
// A random sign times a magnitude uniform in [lo, hi] x scale, the two draws in a fixed order
// (the operands of one expression are evaluated in an unspecified order).
float signed_amount(std::mt19937_64& rng, float scale, float lo, float hi) {
    const float sign = random_sign(rng);
    return sign * scale * uniform(rng, lo, hi);
}
int below(std::mt19937_64& rng, int n) { return n <= 1 ? 0 : static_cast<int>(rng() % static_cast<std::uint64_t>(n)); }

std::uint8_t to_byte(float v) {
    if (!(v > 0.0f)) return 0;  // also NaN
    if (v >= 255.0f) return 255;
    return static_cast<std::uint8_t>(v + 0.5f);
}

// ---------------------------------------------------------------------------------------------
// Premultiplied float pixels (RGB premultiplied by alpha, all on 0..255), so that resampling
// never bleeds the colour of transparent pixels into visible ones.

// Scratch space kept per thread and reused: a fresh buffer of ~100 KB for every call costs more
// than the work itself (glibc hands freed memory that size back to the system, so each call
// page-faults it in again). Slot 0 holds premultiplied pixels, slot 1 sums or backgrounds.
float* scratch(int slot, std::size_t n) {
    thread_local std::vector<float> buffers[2];
    std::vector<float>& b = buffers[slot];
    if (b.size() < n) b.resize(n);
    return b.data();
}

// Premultiplied pixels with a border `pad` pixels wide around them: transparent, or, with
// `clamp`, copies of the nearest edge pixel (the scene goes on beyond the frame).
struct Premultiplied {
    int width = 0, height = 0, pad = 0, stride = 0;  // stride in pixels
    float* values = nullptr;                         // scratch slot 0
    const float* at(int x, int y) const {
        return values + (static_cast<std::size_t>(y + pad) * stride + static_cast<std::size_t>(x + pad)) * 4;
    }
};

Premultiplied premultiply(const RgbaImage& image, int pad, bool clamp) {
    Premultiplied out;
    const int w = image.width, h = image.height;
    out.width = w;
    out.height = h;
    out.pad = pad;
    out.stride = w + 2 * pad;
    const std::size_t size = static_cast<std::size_t>(out.stride) * (h + 2 * pad) * 4;
    out.values = scratch(0, size);
    if (!clamp) std::fill_n(out.values, size, 0.0f);
    for (int y = 0; y < h; ++y) {
        const std::uint8_t* p = image.pixels.data() + static_cast<std::size_t>(y) * w * 4;
        float* q = out.values + (static_cast<std::size_t>(y + pad) * out.stride + pad) * 4;
        for (int x = 0; x < w * 4; x += 4) {
            const float a = p[x + 3] * (1.0f / 255.0f);
            q[x + 0] = p[x + 0] * a;
            q[x + 1] = p[x + 1] * a;
            q[x + 2] = p[x + 2] * a;
            q[x + 3] = p[x + 3];
        }
        if (clamp)
            for (int x = 0; x < pad; ++x) {
                std::copy_n(q, 4, q - (x + 1) * 4);
                std::copy_n(q + (w - 1) * 4, 4, q + (w + x) * 4);
            }
    }
    if (clamp) {
        const std::size_t row = static_cast<std::size_t>(out.stride) * 4;
        for (int y = 0; y < pad; ++y) {
            std::copy_n(out.values + pad * row, row, out.values + y * row);
            std::copy_n(out.values + (pad + h - 1) * row, row, out.values + (pad + h + y) * row);
        }
    }
    return out;
}

// Rounds a premultiplied pixel back to straight 8-bit RGBA, without branches (the alpha of
// resampled pictures is unpredictable).
inline void store_premultiplied(const float* v, std::uint8_t* p) {
    const float a = v[3] > 0.0f ? (v[3] < 255.0f ? v[3] : 255.0f) : 0.0f;  // NaN -> 0
    const float inv = a >= 0.5f ? 255.0f / a : 0.0f;
    for (int c = 0; c < 3; ++c) {
        const float x = v[c] * inv;
        p[c] = static_cast<std::uint8_t>((x > 0.0f ? (x < 255.0f ? x : 255.0f) : 0.0f) + 0.5f);
    }
    p[3] = static_cast<std::uint8_t>(a + 0.5f);
}

// Bilinear sample at (x, y) in pixel coordinates (pixel i's centre is at i) of an image with a
// transparent border one pixel wide; beyond that border, transparent.
inline void sample(const Premultiplied& pm, float x, float y, float out[4]) {
    if (!(x > -1.0f && y > -1.0f && x < static_cast<float>(pm.width) && y < static_cast<float>(pm.height))) {
        out[0] = out[1] = out[2] = out[3] = 0.0f;
        return;
    }
    const float fx0 = std::floor(x), fy0 = std::floor(y);
    const float tx = x - fx0, ty = y - fy0;
    const float* a = pm.at(static_cast<int>(fx0), static_cast<int>(fy0));
    const float* b = a + static_cast<std::size_t>(pm.stride) * 4;
    const float w00 = (1 - tx) * (1 - ty), w10 = tx * (1 - ty), w01 = (1 - tx) * ty, w11 = tx * ty;
    for (int k = 0; k < 4; ++k) out[k] = w00 * a[k] + w10 * a[4 + k] + w01 * b[k] + w11 * b[4 + k];
}

RgbaImage blank_like(const RgbaImage& image) {
    RgbaImage out;
    out.width = image.width;
    out.height = image.height;
    out.pixels.assign(image.pixels.size(), 0);
    return out;
}

// Inverse warp: each output pixel (x, y) takes the bilinear sample at map(x, y) of the input.
template <class Map>
RgbaImage warp(const RgbaImage& image, Map map) {
    const Premultiplied pm = premultiply(image, 1, false);
    RgbaImage out = blank_like(image);
    const int w = image.width, h = image.height;
    float v[4];
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float sx, sy;
            map(x, y, sx, sy);
            sample(pm, sx, sy, v);
            store_premultiplied(v, out.pixels.data() + (static_cast<std::size_t>(y) * w + x) * 4);
        }
    return out;
}

int short_side(const RgbaImage& image) { return std::min(image.width, image.height); }

// ---------------------------------------------------------------------------------------------
// The challenges. Each receives strength in (0, 1].

// Rotation by 30 degrees x strength (random sense), a mild shear, and a mirror image half the
// time unless the captions name a direction.
RgbaImage viewpoint(const RgbaImage& image, float s, const CaptionFacts& facts, std::mt19937_64& rng) {
    const float angle = signed_amount(rng, (30.0f * pi / 180.0f) * s, 0.6f, 1.0f);
    const float shear = uniform(rng, -0.15f, 0.15f) * s;
    const bool flip = !facts.names_direction && unit(rng) < 0.5f;
    // Forward: p' = R(angle) * Shear * Flip * p about the centre; we need the inverse.
    const float c = std::cos(angle), sn = std::sin(angle);
    const float cx = image.width * 0.5f, cy = image.height * 0.5f;
    return warp(image, [&](int x, int y, float& sx, float& sy) {
        const float u = x + 0.5f - cx, v = y + 0.5f - cy;
        const float ru = c * u + sn * v, rv = -sn * u + c * v;  // R^-1
        float qu = ru - shear * rv;                             // Shear^-1
        if (flip) qu = -qu;
        sx = qu + cx - 0.5f;
        sy = rv + cy - 0.5f;
    });
}

// Brightness, contrast and gamma, the same monotone curve on R, G and B (so the order of the
// channels, hence the hue family, is kept); alpha untouched.
RgbaImage illumination(const RgbaImage& image, float s, std::mt19937_64& rng) {
    const float contrast = 1.0f + signed_amount(rng, 0.5f * s, 0.5f, 1.0f);  // x[0.5, 1.5] at strength 1
    const float gamma = std::exp2(signed_amount(rng, s, 0.5f, 1.0f));        // [0.5, 2]
    const float gain = 1.0f + signed_amount(rng, 0.4f * s, 0.5f, 1.0f);      // +-40%
    std::uint8_t lut[256];
    for (int v = 0; v < 256; ++v) {
        float x = (v / 255.0f - 0.5f) * contrast + 0.5f;
        x = std::pow(std::clamp(x, 0.0f, 1.0f), gamma) * gain;
        lut[v] = to_byte(x * 255.0f);
    }
    RgbaImage out = image;
    std::uint8_t* p = out.pixels.data();
    const std::size_t n = out.pixels.size() / 4;
    for (std::size_t i = 0; i < n; ++i, p += 4) {
        p[0] = lut[p[0]];
        p[1] = lut[p[1]];
        p[2] = lut[p[2]];
    }
    return out;
}

// Zoom out (content shrunk to as little as half, at a random place on a transparent square) or
// zoom in (the centre 60% of the side, resized back).
RgbaImage scale(const RgbaImage& image, float s, std::mt19937_64& rng) {
    const int w = image.width, h = image.height;
    if (unit(rng) < 0.5f) {
        const float f = 1.0f - 0.5f * s;
        const int nw = std::max(1, static_cast<int>(std::lround(w * f))),
                  nh = std::max(1, static_cast<int>(std::lround(h * f)));
        const RgbaImage small = resize_rgba(image, nw, nh);
        const int ox = below(rng, w - nw + 1), oy = below(rng, h - nh + 1);
        RgbaImage out = blank_like(image);
        for (int y = 0; y < nh; ++y)
            std::copy_n(small.pixels.data() + static_cast<std::size_t>(y) * nw * 4, static_cast<std::size_t>(nw) * 4,
                        out.pixels.data() + (static_cast<std::size_t>(oy + y) * w + ox) * 4);
        return out;
    }
    const float f = 1.0f - 0.4f * s;
    const int cw = std::max(1, static_cast<int>(std::lround(w * f))),
              ch = std::max(1, static_cast<int>(std::lround(h * f)));
    const int x0 = (w - cw) / 2, y0 = (h - ch) / 2;
    RgbaImage crop;
    crop.width = cw;
    crop.height = ch;
    crop.pixels.resize(static_cast<std::size_t>(cw) * ch * 4);
    for (int y = 0; y < ch; ++y)
        std::copy_n(image.pixels.data() + (static_cast<std::size_t>(y0 + y) * w + x0) * 4,
                    static_cast<std::size_t>(cw) * 4, crop.pixels.data() + static_cast<std::size_t>(y) * cw * 4);
    return resize_rgba(crop, w, h);
}

// A smooth random displacement field: random vectors on a coarse grid (3 to 4 cells a side),
// smoothstep-interpolated, scaled so the largest is 8% of the side x strength.
RgbaImage deformation(const RgbaImage& image, float s, std::mt19937_64& rng) {
    const int cells = 3 + below(rng, 2), nodes = cells + 1;
    float dx[25], dy[25];
    float largest = 0.0f;
    for (int i = 0; i < nodes * nodes; ++i) {
        dx[i] = uniform(rng, -1.0f, 1.0f);
        dy[i] = uniform(rng, -1.0f, 1.0f);
        largest = std::max(largest, std::sqrt(dx[i] * dx[i] + dy[i] * dy[i]));
    }
    const float amount = 0.08f * short_side(image) * s / std::max(largest, 1e-3f);
    for (int i = 0; i < nodes * nodes; ++i) {
        dx[i] *= amount;
        dy[i] *= amount;
    }
    const int w = image.width, h = image.height;
    // Per column: the cell and its smoothstep weight; per row, the nodes' field interpolated
    // down to that row, so a pixel costs one interpolation across.
    auto locate = [cells](int i, int n, int& cell, float& t) {
        const float g = (i + 0.5f) / n * cells;
        cell = std::min(static_cast<int>(g), cells - 1);
        t = g - cell;
        t = t * t * (3.0f - 2.0f * t);
    };
    std::vector<int> column_cell(static_cast<std::size_t>(w));
    std::vector<float> column_t(static_cast<std::size_t>(w));
    for (int x = 0; x < w; ++x)
        locate(x, w, column_cell[static_cast<std::size_t>(x)], column_t[static_cast<std::size_t>(x)]);
    float row_dx[5], row_dy[5];
    int row = -1;
    return warp(image, [&](int x, int y, float& sx, float& sy) {
        if (y != row) {
            row = y;
            int gy;
            float ty;
            locate(y, h, gy, ty);
            for (int i = 0; i < nodes; ++i) {
                row_dx[i] = dx[gy * nodes + i] + (dx[(gy + 1) * nodes + i] - dx[gy * nodes + i]) * ty;
                row_dy[i] = dy[gy * nodes + i] + (dy[(gy + 1) * nodes + i] - dy[gy * nodes + i]) * ty;
            }
        }
        const int gx = column_cell[static_cast<std::size_t>(x)];
        const float tx = column_t[static_cast<std::size_t>(x)];
        sx = x + row_dx[gx] + (row_dx[gx + 1] - row_dx[gx]) * tx;
        sy = y + row_dy[gx] + (row_dy[gx + 1] - row_dy[gx]) * tx;
    });
}

// 1-3 opaque flat rectangles (grey or a colour), 25% of the area x strength in all, each
// centred on a visible pixel so that it hides part of the thing.
RgbaImage occlusion(const RgbaImage& image, float s, std::mt19937_64& rng) {
    const int w = image.width, h = image.height;
    RgbaImage out = image;
    std::vector<int> visible;
    visible.reserve(static_cast<std::size_t>(w) * h);
    for (int i = 0; i < w * h; ++i)
        if (image.pixels[static_cast<std::size_t>(i) * 4 + 3] > 0) visible.push_back(i);
    const int count = 1 + below(rng, 3);
    float share[3], total_share = 0.0f;
    for (int k = 0; k < count; ++k) total_share += share[k] = uniform(rng, 0.5f, 1.0f);
    const float total_area = 0.25f * s * w * h;
    for (int k = 0; k < count; ++k) {
        const float area = total_area * share[k] / total_share;
        const float aspect = std::exp(uniform(rng, -0.7f, 0.7f));  // width / height in [1/2, 2]
        const int rw = std::clamp(static_cast<int>(std::lround(std::sqrt(area * aspect))), 1, w);
        const int rh = std::clamp(static_cast<int>(std::lround(area / rw)), 1, h);
        const int centre = visible.empty()
                               ? below(rng, w * h)
                               : visible[static_cast<std::size_t>(below(rng, static_cast<int>(visible.size())))];
        const int x0 = std::clamp(centre % w - rw / 2, 0, w - rw), y0 = std::clamp(centre / w - rh / 2, 0, h - rh);
        std::uint8_t colour[3];
        const std::uint64_t bits = rng();
        if (unit(rng) < 0.5f) {
            colour[0] = colour[1] = colour[2] = static_cast<std::uint8_t>(bits);
        } else {
            colour[0] = static_cast<std::uint8_t>(bits);
            colour[1] = static_cast<std::uint8_t>(bits >> 8);
            colour[2] = static_cast<std::uint8_t>(bits >> 16);
        }
        for (int y = y0; y < y0 + rh; ++y)
            for (int x = x0; x < x0 + rw; ++x) {
                std::uint8_t* p = out.pixels.data() + (static_cast<std::size_t>(y) * w + x) * 4;
                p[0] = colour[0];
                p[1] = colour[1];
                p[2] = colour[2];
                p[3] = 255;
            }
    }
    return out;
}

struct Rgb {
    float r, g, b;
};
Rgb random_colour(std::mt19937_64& rng) {
    const std::uint64_t bits = rng();
    return {static_cast<float>(bits & 255), static_cast<float>((bits >> 8) & 255),
            static_cast<float>((bits >> 16) & 255)};
}

// A busy background: coarse colour noise with grain, stripes, a gradient or checks.
void procedural_background(int w, int h, std::mt19937_64& rng, float* bg) {
    const int kind = below(rng, 4);
    const Rgb a = random_colour(rng), b = random_colour(rng);
    auto put = [&](int x, int y, float t) {  // mix of a and b
        float* p = bg + (static_cast<std::size_t>(y) * w + x) * 3;
        p[0] = a.r + (b.r - a.r) * t;
        p[1] = a.g + (b.g - a.g) * t;
        p[2] = a.b + (b.b - a.b) * t;
    };
    const float angle = uniform(rng, 0.0f, pi), ca = std::cos(angle), sa = std::sin(angle);
    const float period = uniform(rng, 4.0f, 16.0f);
    if (kind == 0) {  // noise: random colours on a coarse grid, bilinear, plus per-pixel grain
        const int cells = 3 + below(rng, 6), nodes = cells + 1;
        Rgb grid[100];
        for (int i = 0; i < nodes * nodes; ++i) grid[i] = random_colour(rng);
        for (int y = 0; y < h; ++y) {
            const float gy = (y + 0.5f) / h * cells;
            const int cy = std::min(static_cast<int>(gy), cells - 1);
            const float ty = gy - cy;
            for (int x = 0; x < w; ++x) {
                const float gx = (x + 0.5f) / w * cells;
                const int cx = std::min(static_cast<int>(gx), cells - 1);
                const float tx = gx - cx;
                const Rgb& c00 = grid[cy * nodes + cx];
                const Rgb& c10 = grid[cy * nodes + cx + 1];
                const Rgb& c01 = grid[(cy + 1) * nodes + cx];
                const Rgb& c11 = grid[(cy + 1) * nodes + cx + 1];
                const float w00 = (1 - tx) * (1 - ty), w10 = tx * (1 - ty), w01 = (1 - tx) * ty, w11 = tx * ty;
                const std::uint64_t grain = rng();
                float* p = bg + (static_cast<std::size_t>(y) * w + x) * 3;
                p[0] = w00 * c00.r + w10 * c10.r + w01 * c01.r + w11 * c11.r + static_cast<float>(grain & 63) - 32.0f;
                p[1] = w00 * c00.g + w10 * c10.g + w01 * c01.g + w11 * c11.g + static_cast<float>((grain >> 8) & 63) -
                       32.0f;
                p[2] = w00 * c00.b + w10 * c10.b + w01 * c01.b + w11 * c11.b + static_cast<float>((grain >> 16) & 63) -
                       32.0f;
            }
        }
    } else if (kind == 1) {  // stripes at a random angle
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const float d = (x * ca + y * sa) / period;
                put(x, y, d - std::floor(d) < 0.5f ? 0.0f : 1.0f);
            }
    } else if (kind == 2) {  // linear gradient at a random angle
        const float span = std::abs(ca) * w + std::abs(sa) * h;
        const float lo = std::min(0.0f, ca * w) + std::min(0.0f, sa * h);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) put(x, y, std::clamp((x * ca + y * sa - lo) / span, 0.0f, 1.0f));
    } else {  // checks
        const int cell = std::max(2, static_cast<int>(period));
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) put(x, y, static_cast<float>(((x / cell) + (y / cell)) & 1));
    }
}

// The image composited over a clutter picture (or a procedural texture) faded toward white by
// (1 - strength); the result is opaque.
RgbaImage background_clutter(const RgbaImage& image, float s, std::mt19937_64& rng, const RgbaImage* clutter) {
    const int w = image.width, h = image.height;
    const std::size_t n = static_cast<std::size_t>(w) * h;
    float* bg = scratch(1, n * 3);
    if (clutter && clutter->width > 0 && clutter->height > 0 &&
        clutter->pixels.size() == static_cast<std::size_t>(clutter->width) * clutter->height * 4) {
        const RgbaImage resized =
            (clutter->width == w && clutter->height == h) ? RgbaImage{} : resize_rgba(*clutter, w, h);
        const RgbaImage& c = resized.pixels.empty() ? *clutter : resized;
        for (std::size_t i = 0; i < n; ++i) {
            const float a = c.pixels[i * 4 + 3] * (1.0f / 255.0f);
            for (int k = 0; k < 3; ++k) bg[i * 3 + k] = c.pixels[i * 4 + k] * a + 255.0f * (1.0f - a);
        }
    } else {
        procedural_background(w, h, rng, bg);
    }
    RgbaImage out = image;
    std::uint8_t* p = out.pixels.data();
    for (std::size_t i = 0; i < n; ++i, p += 4) {
        const float a = p[3] * (1.0f / 255.0f);
        for (int k = 0; k < 3; ++k) {
            const float back = 255.0f + (bg[i * 3 + k] - 255.0f) * s;
            p[k] = to_byte(p[k] * a + back * (1.0f - a));
        }
        p[3] = 255;
    }
    return out;
}

// Linear motion blur, 15% of the side x strength long, at a random angle; premultiplied, edges
// clamped (the scene goes on beyond the frame). The taps along the line (about one a pixel) are
// bilinear with the same weights at every pixel, so they fold into one small kernel of integer
// offsets, applied row by row.
RgbaImage fast_motion(const RgbaImage& image, float s, std::mt19937_64& rng) {
    const float length = 0.15f * short_side(image) * s;
    const float angle = uniform(rng, 0.0f, pi);
    const float ux = std::cos(angle), uy = std::sin(angle);
    const int taps = std::max(2, static_cast<int>(std::ceil(length)) + 1);
    const int radius = static_cast<int>(std::ceil(length * 0.5f)) + 1, k = 2 * radius + 1;
    std::vector<float> kernel(static_cast<std::size_t>(k) * k, 0.0f);
    for (int t = 0; t < taps; ++t) {
        const float d = (static_cast<float>(t) / (taps - 1) - 0.5f) * length;
        const float x = d * ux, y = d * uy, fx = std::floor(x), fy = std::floor(y), tx = x - fx, ty = y - fy;
        float* at = kernel.data() + static_cast<std::size_t>(static_cast<int>(fy) + radius) * k +
                    (static_cast<int>(fx) + radius);
        at[0] += (1 - tx) * (1 - ty) / taps;
        at[1] += tx * (1 - ty) / taps;
        at[k] += (1 - tx) * ty / taps;
        at[k + 1] += tx * ty / taps;
    }
    const int w = image.width, h = image.height;
    const Premultiplied pm = premultiply(image, radius, true);
    float* sum = scratch(1, static_cast<std::size_t>(w) * h * 4);
    std::fill_n(sum, static_cast<std::size_t>(w) * h * 4, 0.0f);
    for (int ky = 0; ky < k; ++ky)
        for (int kx = 0; kx < k; ++kx) {
            const float weight = kernel[static_cast<std::size_t>(ky) * k + kx];
            if (weight <= 0.0f) continue;
            for (int y = 0; y < h; ++y) {
                const float* src = pm.at(kx - radius, y + ky - radius);
                float* dst = sum + static_cast<std::size_t>(y) * w * 4;
                for (int i = 0; i < w * 4; ++i) dst[i] += weight * src[i];
            }
        }
    RgbaImage out = blank_like(image);
    for (std::size_t i = 0; i < out.pixels.size(); i += 4) store_premultiplied(sum + i, out.pixels.data() + i);
    return out;
}

int luma(const std::uint8_t* p) { return (77 * p[0] + 150 * p[1] + 29 * p[2] + 128) >> 8; }  // Rec. 601

// Below 0.5: mixed toward grey (fully grey at 0.5); up to 0.75: greyscale; above: line art, the
// edges of the picture over white (so the outline that alpha draws is one) as dark lines, on
// transparency if the picture had any, else on white. Edges are the largest Sobel magnitude of
// R, G and B, so two colours of the same luma still get a line between them.
RgbaImage colour_removal(const RgbaImage& image, float s) {
    const int w = image.width, h = image.height;
    const std::size_t n = static_cast<std::size_t>(w) * h;
    RgbaImage out = image;
    if (s < 0.75f) {
        const float t = std::min(1.0f, 2.0f * s);
        std::uint8_t* p = out.pixels.data();
        for (std::size_t i = 0; i < n; ++i, p += 4) {
            const int l = luma(p);
            if (t >= 1.0f) {
                p[0] = p[1] = p[2] = static_cast<std::uint8_t>(l);
            } else {
                for (int k = 0; k < 3; ++k) p[k] = to_byte(p[k] + (l - p[k]) * t);
            }
        }
        return out;
    }
    float* over_white = scratch(1, n * 3);
    bool transparent = false;
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* p = image.pixels.data() + i * 4;
        const float a = p[3] * (1.0f / 255.0f);
        for (int c = 0; c < 3; ++c) over_white[i * 3 + c] = (p[c] * a + 255.0f * (1.0f - a)) * (1.0f / 255.0f);
        transparent |= p[3] < 255;
    }
    for (int y = 0; y < h; ++y) {
        const float* up = over_white + static_cast<std::size_t>(std::max(y - 1, 0)) * w * 3;
        const float* mid = over_white + static_cast<std::size_t>(y) * w * 3;
        const float* down = over_white + static_cast<std::size_t>(std::min(y + 1, h - 1)) * w * 3;
        for (int x = 0; x < w; ++x) {
            const int l = std::max(x - 1, 0) * 3, m = x * 3, r = std::min(x + 1, w - 1) * 3;
            float magnitude = 0.0f;
            for (int c = 0; c < 3; ++c) {
                const float gx =
                    (up[r + c] + 2 * mid[r + c] + down[r + c]) - (up[l + c] + 2 * mid[l + c] + down[l + c]);
                const float gy =
                    (down[l + c] + 2 * down[m + c] + down[r + c]) - (up[l + c] + 2 * up[m + c] + up[r + c]);
                magnitude = std::max(magnitude, gx * gx + gy * gy);
            }
            magnitude = std::sqrt(magnitude) * 0.25f;  // 1 for a black/white step
            const float line = std::clamp((magnitude - 0.06f) * 4.0f, 0.0f, 1.0f);
            std::uint8_t* p = out.pixels.data() + (static_cast<std::size_t>(y) * w + x) * 4;
            if (transparent) {
                p[0] = p[1] = p[2] = 0;
                p[3] = to_byte(line * 255.0f);
            } else {
                p[0] = p[1] = p[2] = to_byte((1.0f - line) * 255.0f);
                p[3] = 255;
            }
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Captions: words lower-cased, Greek accents and final sigma folded.

char32_t fold(char32_t cp) {
    cp = utf8::to_lower(cp);
    switch (cp) {
        case U'ά': return U'α';
        case U'έ': return U'ε';
        case U'ή': return U'η';
        case U'ί':
        case U'ϊ':
        case U'ΐ': return U'ι';
        case U'ό': return U'ο';
        case U'ύ':
        case U'ϋ':
        case U'ΰ': return U'υ';
        case U'ώ': return U'ω';
        case U'ς': return U'σ';
        default: return cp;
    }
}

// Letters and digits make words; combining marks (decomposed accents) are skipped; invalid
// UTF-8 bytes separate words.
void split_words(std::string_view text, std::vector<std::string>& out) {
    std::string word;
    auto flush = [&] {
        if (!word.empty()) out.push_back(std::move(word));
        word.clear();
    };
    while (!text.empty()) {
        const std::optional<std::size_t> bad = utf8::find_invalid(text);
        const std::string_view valid = text.substr(0, bad.value_or(text.size()));
        for (std::size_t pos = 0; pos < valid.size();) {
            const char32_t cp = utf8::next(valid, pos);
            if (cp >= 0x300 && cp <= 0x36F) continue;
            if (utf8::is_letter(cp) || utf8::is_number(cp))
                utf8::append(word, fold(cp));
            else
                flush();
        }
        flush();
        if (!bad) break;
        text.remove_prefix(*bad + 1);
    }
}

bool colour_word(std::string_view w) {
    return is_one_of(
               w, {"red",        "reds",        "reddish",      "orange",        "yellow",   "yellowish", "green",
                   "greenish",   "blue",        "bluish",       "purple",        "purplish", "violet",    "pink",
                   "pinkish",    "brown",       "brownish",     "black",         "white",    "grey",      "gray",
                   "greyish",    "grayish",     "gold",         "golden",        "silver",   "silvery",   "beige",
                   "cyan",       "magenta",     "turquoise",    "navy",          "maroon",   "crimson",   "scarlet",
                   "indigo",     "teal",        "khaki",        "ivory",         "amber",    "bronze",    "colour",
                   "colours",    "color",       "colors",       "colored",       "coloured", "colorful",  "colourful",
                   "multicolor", "multicolour", "multicolored", "multicoloured", "rainbow",  "blond",     "blonde",
                   "redhead",    "brunette",    "skintone"}) ||
           // Greek (accents folded): κόκκινο, πορτοκαλί, κίτρινο, πράσινο, γαλάζιο, μαύρο, λευκό,
           // άσπρο, χρυσό, ασημί, απόχρωση, χρώμα/χρωματιστό, πολύχρωμο, ξανθό, γκρίζο, καφετί, ...
           starts_with_any(
               w, {"κοκκιν", "πορτοκαλ", "κιτριν", "πρασιν", "γαλαζι", "μαυρ", "λευκ", "ασπρ", "χρυσ", "ασημ",
                   "αποχρωσ", "χρωμ", "πολυχρωμ", "ξανθ", "γκριζ", "καφετ", "μενεξεδ", "βυσσιν", "τιρκουαζ"}) ||
           is_one_of(w, {"μπλε", "μωβ", "μοβ", "ροζ", "καφε", "γκρι", "μπεζ", "λιλα", "χακι", "φουξια"});
}

bool direction_word(std::string_view w) {
    return is_one_of(
               w, {"left", "right", "leftward", "leftwards", "rightward", "rightwards", "facing", "clockwise",
                   "anticlockwise", "counterclockwise", "east", "west", "eastward", "eastwards", "westward",
                   "westwards", "northeast", "northwest", "southeast", "southwest",
                   // things whose mirror image is a different thing
                   "flag", "flags", "arrow", "arrows", "letter", "letters", "keycap", "keycaps", "digit", "digits",
                   "sign", "signs", "text", "alphabet", "number", "numbers", "symbol", "symbols", "clock",
                   // controls and actions whose mirror image is the opposite one
                   "play", "forward", "backward", "backwards", "rewind", "next", "previous", "skip", "undo", "redo",
                   "reply", "login", "logout", "italic", "button", "return", "back", "send", "indent", "outdent",
                   "align", "redirect", "share", "export", "import", "enter", "exit", "rotate", "turn", "wrap", "σημα",
                   "σηματα", "δυση"}) ||
           starts_with_any(w, {"αριστερ", "δεξι", "ανατολ", "δυτικ", "σημαι", "βελο", "βελη", "βελακ", "γραμμα", "ψηφι",
                               "πληκτρ", "πινακιδ", "κειμεν", "αριθμ", "συμβολ", "ρολοι"});
}

bool skin_tone(const std::vector<std::string>& words, std::size_t i) {
    if (i + 1 >= words.size()) return false;
    const std::string_view a = words[i], b = words[i + 1];
    return (a == "skin" && (b == "tone" || b == "tones" || b == "toned")) ||
           (is_one_of(a, {"τονοσ", "τονου", "τονο", "τονοι", "τονων"}) && starts_with_any(b, {"δερματ"}));
}

}  // namespace

// ---------------------------------------------------------------------------------------------

const char* challenge_name(Challenge c) {
    switch (c) {
        case Challenge::viewpoint: return "viewpoint";
        case Challenge::illumination: return "illumination";
        case Challenge::scale: return "scale";
        case Challenge::deformation: return "deformation";
        case Challenge::occlusion: return "occlusion";
        case Challenge::background_clutter: return "background-clutter";
        case Challenge::fast_motion: return "fast-motion";
        case Challenge::colour_removal: return "colour-removal";
    }
    return "unknown";
}

std::optional<Challenge> challenge_from_name(std::string_view name) {
    std::string dashed(name);
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    for (Challenge c : all_challenges())
        if (dashed == challenge_name(c)) return c;
    return std::nullopt;
}

const std::vector<Challenge>& all_challenges() {
    static const std::vector<Challenge> all{
        Challenge::viewpoint, Challenge::illumination,       Challenge::scale,       Challenge::deformation,
        Challenge::occlusion, Challenge::background_clutter, Challenge::fast_motion, Challenge::colour_removal};
    return all;
}

CaptionFacts caption_facts(const std::vector<std::string>& english, const std::vector<std::string>& greek) {
    CaptionFacts facts;
    std::vector<std::string> words;
    for (const auto* list : {&english, &greek})
        for (const std::string& caption : *list) {
            words.clear();
            split_words(caption, words);
            for (std::size_t i = 0; i < words.size(); ++i) {
                facts.names_colour = facts.names_colour || colour_word(words[i]) || skin_tone(words, i);
                facts.names_direction = facts.names_direction || direction_word(words[i]);
            }
        }
    return facts;
}

RgbaImage apply_challenge(const RgbaImage& image, Challenge c, float strength, const CaptionFacts& facts,
                          std::mt19937_64& rng, const RgbaImage* clutter) {
    if (image.width < 0 || image.height < 0 ||
        image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 4)
        throw Error("augment: the image's pixels do not match its size");
    if (!(strength > 0.0f) || image.width == 0 || image.height == 0) return image;  // also NaN
    const float s = std::min(strength, 1.0f);
    switch (c) {
        case Challenge::viewpoint: return viewpoint(image, s, facts, rng);
        case Challenge::illumination: return illumination(image, s, rng);
        case Challenge::scale: return scale(image, s, rng);
        case Challenge::deformation: return deformation(image, s, rng);
        case Challenge::occlusion: return occlusion(image, s, rng);
        case Challenge::background_clutter: return background_clutter(image, s, rng, clutter);
        case Challenge::fast_motion: return fast_motion(image, s, rng);
        case Challenge::colour_removal: return facts.names_colour ? image : colour_removal(image, s);
    }
    throw Error("augment: unknown challenge");
}

RgbaImage random_augment(const RgbaImage& image, const CaptionFacts& facts, std::mt19937_64& rng,
                         const RandomAugmentOptions& options, const RgbaImage* clutter) {
    static constexpr Challenge order[] = {Challenge::viewpoint,    Challenge::scale,
                                          Challenge::deformation,  Challenge::colour_removal,
                                          Challenge::occlusion,    Challenge::background_clutter,
                                          Challenge::illumination, Challenge::fast_motion};
    RgbaImage current = image;
    for (Challenge c : order) {
        if (!(unit(rng) < options[c])) continue;
        const float strength = unit(rng) * std::clamp(options.max_strength, 0.0f, 1.0f);
        current = apply_challenge(current, c, strength, facts, rng, clutter);
    }
    return current;
}

}  // namespace opsis::train
