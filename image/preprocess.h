#pragma once
// From decoded RGBA pixels to the image tower's input, in three steps that training reuses:
//   1. square_region: the centred square of the short side, or, for a picture on a
//      transparent page (clip art, stamps), its visible part padded to a square;
//   2. resize_rgba: antialiased Catmull-Rom resize (PIL's bicubic, CLIP's recipe), alpha-aware;
//   3. composite_and_normalise: alpha over the background colour, then per-channel mean/std.
// Output is HWC float, the layout the towers consume.
#include <array>
#include <cstdint>

#include "image/decode.h"

namespace opsis {

struct PreprocessOptions {
    int image_size = 64;
    std::array<float, 3> mean{0.5f, 0.5f, 0.5f};  // on [0, 1] pixel values
    std::array<float, 3> std{0.5f, 0.5f, 0.5f};
    std::array<std::uint8_t, 3> background{255, 255, 255};
    bool trim_transparent = true;  // crop transparent margins before squaring
    // How a picture becomes a square: `square` takes the (visible part's) square first, then
    // resizes it (icons: nothing is cut off); `resize_crop` is CLIP's: the short side resized to
    // image_size, then the centre cropped.
    enum class Fit { square, resize_crop } fit = Fit::square;
};

RgbaImage square_region(const RgbaImage& image, bool trim_transparent);
RgbaImage resize_rgba(const RgbaImage& image, int width, int height);
// `image` must be image_size x image_size; writes image_size^2 * 3 floats to out.
void composite_and_normalise(const RgbaImage& image, const PreprocessOptions& options,
                             const std::array<std::uint8_t, 3>& background, float* out);

// Steps 1 and 2 at any side: the square the tower sees, e.g. larger to draw a heatmap over it.
RgbaImage fitted_square(const RgbaImage& image, const PreprocessOptions& options, int side);

// All three steps; writes image_size * image_size * 3 floats to out.
void preprocess_image(const RgbaImage& image, const PreprocessOptions& options, float* out);

}  // namespace opsis
