#include "encoder/image_preprocess.h"

#include <algorithm>
#include <vector>

#include "core/error.h"

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#include <stb/stb_image_resize.h>

namespace opsis {

void preprocess_image(const RgbaImage& image, const PreprocessOptions& options, float* out) {
    const int size = options.image_size;
    if (size <= 0) throw Error("preprocess: image_size must be positive");
    if (image.width <= 0 || image.height <= 0 ||
        image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 4)
        throw Error("preprocess: malformed RGBA image");

    // Resizing the short side to `size` and cropping the centre square equals resizing the
    // centre square of the short side: crop first, so only the kept pixels are touched.
    const int side = std::min(image.width, image.height);
    const int x0 = (image.width - side) / 2, y0 = (image.height - side) / 2;
    std::vector<std::uint8_t> rgb(static_cast<std::size_t>(side) * side * 3);
    const auto& bg = options.background;
    for (int y = 0; y < side; ++y) {
        const std::uint8_t* src = image.pixels.data() + (static_cast<std::size_t>(y0 + y) * image.width + x0) * 4;
        std::uint8_t* dst = rgb.data() + static_cast<std::size_t>(y) * side * 3;
        for (int x = 0; x < side; ++x, src += 4, dst += 3) {
            const unsigned a = src[3];
            for (int c = 0; c < 3; ++c)
                dst[c] = static_cast<std::uint8_t>((src[c] * a + bg[c] * (255u - a) + 127u) / 255u);
        }
    }

    std::vector<std::uint8_t> resized;
    const std::uint8_t* pixels = rgb.data();
    if (side != size) {
        resized.resize(static_cast<std::size_t>(size) * size * 3);
        // Catmull-Rom with antialiasing on downscale is what PIL's BICUBIC does (CLIP's recipe).
        if (!stbir_resize_uint8_generic(rgb.data(), side, side, 0, resized.data(), size, size, 0, 3,
                                        STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_FILTER_CATMULLROM,
                                        STBIR_COLORSPACE_LINEAR, nullptr))
            throw Error("preprocess: resize failed");
        pixels = resized.data();
    }
    float scale[3], shift[3];
    for (int c = 0; c < 3; ++c) {
        scale[c] = 1.0f / (255.0f * options.std[c]);
        shift[c] = -options.mean[c] / options.std[c];
    }
    const std::size_t n = static_cast<std::size_t>(size) * size;
    for (std::size_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) out[i * 3 + c] = pixels[i * 3 + c] * scale[c] + shift[c];
}

}  // namespace opsis
