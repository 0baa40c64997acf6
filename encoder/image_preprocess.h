#pragma once
// From decoded RGBA pixels to the image tower's input: alpha composited onto a background,
// the centred square of the short side resized (antialiased) to image_size, per-channel
// mean/std normalisation. Output is HWC float, the layout the towers consume.
#include <array>
#include <cstdint>

#include "encoder/image_decode.h"

namespace opsis {

struct PreprocessOptions {
    int image_size = 64;
    std::array<float, 3> mean{0.5f, 0.5f, 0.5f};  // on [0, 1] pixel values
    std::array<float, 3> std{0.5f, 0.5f, 0.5f};
    std::array<std::uint8_t, 3> background{255, 255, 255};
};

// Writes image_size * image_size * 3 floats to out.
void preprocess_image(const RgbaImage& image, const PreprocessOptions& options, float* out);

}  // namespace opsis
