#include "image/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#include <stb/stb_image_resize.h>

namespace opsis {
namespace {

constexpr std::uint8_t kVisibleAlpha = 8;  // fainter pixels do not count as content

void check_image(const RgbaImage& image) {
    if (image.width <= 0 || image.height <= 0 ||
        image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 4)
        throw Error("preprocess: malformed RGBA image");
}

RgbaImage crop(const RgbaImage& image, int x0, int y0, int w, int h) {
    RgbaImage out;
    out.width = w;
    out.height = h;
    out.pixels.resize(static_cast<std::size_t>(w) * h * 4);
    for (int y = 0; y < h; ++y)
        std::memcpy(out.pixels.data() + static_cast<std::size_t>(y) * w * 4,
                    image.pixels.data() + (static_cast<std::size_t>(y0 + y) * image.width + x0) * 4,
                    static_cast<std::size_t>(w) * 4);
    return out;
}

// The side of the transparent square a w x h visible part is centred on, with a small border.
int padded_side(int w, int h) { return std::max(w, h) + std::max(w, h) / 16; }
// Larger squares are not made: the towers take 64-224 pixels, and resizing a mostly empty
// 2048-pixel square to them cost 160 ms.
constexpr int kMaxPaddedSide = 1024;

// The w x h region at (x0, y0), centred on a transparent square of padded_side(w, h).
RgbaImage pad_to_square(const RgbaImage& image, int x0, int y0, int w, int h) {
    const int side = padded_side(w, h);
    RgbaImage square;
    square.width = square.height = side;
    square.pixels.assign(static_cast<std::size_t>(side) * side * 4, 0);
    const int ox = (side - w) / 2, oy = (side - h) / 2;
    for (int y = 0; y < h; ++y)
        std::memcpy(square.pixels.data() + (static_cast<std::size_t>(oy + y) * side + ox) * 4,
                    image.pixels.data() + (static_cast<std::size_t>(y0 + y) * image.width + x0) * 4,
                    static_cast<std::size_t>(w) * 4);
    return square;
}

}  // namespace

RgbaImage square_region(const RgbaImage& image, bool trim_transparent) {
    check_image(image);
    if (trim_transparent) {
        int x0 = image.width, y0 = image.height, x1 = -1, y1 = -1;
        for (int y = 0; y < image.height; ++y) {
            const std::uint8_t* row = image.pixels.data() + static_cast<std::size_t>(y) * image.width * 4;
            for (int x = 0; x < image.width; ++x)
                if (row[x * 4 + 3] >= kVisibleAlpha) {
                    x0 = std::min(x0, x);
                    x1 = std::max(x1, x);
                    y0 = std::min(y0, y);
                    y1 = std::max(y1, y);
                }
        }
        const bool has_margin = x1 >= 0 && (x0 > 0 || y0 > 0 || x1 < image.width - 1 || y1 < image.height - 1);
        if (has_margin) {
            const int w = x1 - x0 + 1, h = y1 - y0 + 1;
            if (padded_side(w, h) <= kMaxPaddedSide) return pad_to_square(image, x0, y0, w, h);
            // A long, thin visible part (a 650-byte TGA can be 65,524 x 9) would make a square
            // of gigabytes, nearly all of it empty: the visible part is shrunk first.
            const double f = static_cast<double>(kMaxPaddedSide) / padded_side(w, h);
            const RgbaImage visible = resize_rgba(crop(image, x0, y0, w, h), std::max(1, static_cast<int>(w * f + 0.5)),
                                                  std::max(1, static_cast<int>(h * f + 0.5)));
            return pad_to_square(visible, 0, 0, visible.width, visible.height);
        }
    }
    const int side = std::min(image.width, image.height);
    if (image.width == image.height) return image;
    return crop(image, (image.width - side) / 2, (image.height - side) / 2, side, side);
}

RgbaImage resize_rgba(const RgbaImage& image, int width, int height) {
    check_image(image);
    if (width <= 0 || height <= 0) throw Error("preprocess: target size must be positive");
    if (image.width == width && image.height == height) return image;
    RgbaImage out;
    out.width = width;
    out.height = height;
    out.pixels.resize(static_cast<std::size_t>(width) * height * 4);
    // Alpha-aware (stb premultiplies internally), so transparent pixels do not bleed colour.
    if (!stbir_resize_uint8_generic(image.pixels.data(), image.width, image.height, 0, out.pixels.data(), width, height,
                                    0, 4, 3, 0, STBIR_EDGE_CLAMP, STBIR_FILTER_CATMULLROM, STBIR_COLORSPACE_LINEAR,
                                    nullptr))
        throw Error("preprocess: resize failed");
    return out;
}

void composite_and_normalise(const RgbaImage& image, const PreprocessOptions& options,
                             const std::array<std::uint8_t, 3>& background, float* out) {
    check_image(image);
    if (image.width != options.image_size || image.height != options.image_size)
        throw Error("preprocess: composite expects a " + std::to_string(options.image_size) + "-pixel square");
    float scale[3], shift[3];
    for (int c = 0; c < 3; ++c) {
        scale[c] = 1.0f / (255.0f * options.std[c]);
        shift[c] = -options.mean[c] / options.std[c];
    }
    const std::size_t n = static_cast<std::size_t>(image.width) * image.height;
    const std::uint8_t* p = image.pixels.data();
    for (std::size_t i = 0; i < n; ++i, p += 4) {
        const float a = p[3] * (1.0f / 255.0f);
        for (int c = 0; c < 3; ++c) {
            const float v = p[c] * a + background[c] * (1.0f - a);
            out[i * 3 + c] = v * scale[c] + shift[c];
        }
    }
}

RgbaImage fitted_square(const RgbaImage& image, const PreprocessOptions& options, int side) {
    if (side <= 0) throw Error("preprocess: image_size must be positive");
    if (options.fit == PreprocessOptions::Fit::resize_crop) {
        check_image(image);
        // As torchvision's Resize(S) and CenterCrop(S) count: the long side int(S * long /
        // short), the crop's offset rounded half to even.
        const int short_side = std::min(image.width, image.height);
        const auto scaled = [&](int length) {
            return length == short_side ? side
                                        : static_cast<int>(static_cast<std::int64_t>(side) * length / short_side);
        };
        const RgbaImage resized = resize_rgba(image, scaled(image.width), scaled(image.height));
        const int left = static_cast<int>(std::nearbyint((resized.width - side) / 2.0)),
                  top = static_cast<int>(std::nearbyint((resized.height - side) / 2.0));
        return crop(resized, left, top, side, side);
    }
    return resize_rgba(square_region(image, options.trim_transparent), side, side);
}

void preprocess_image(const RgbaImage& image, const PreprocessOptions& options, float* out) {
    composite_and_normalise(fitted_square(image, options, options.image_size), options, options.background, out);
}

}  // namespace opsis
