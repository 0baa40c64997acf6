#include "image/encode.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "core/error.h"

namespace opsis {
namespace {

void append_to(void* context, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(context);
    const auto* bytes = static_cast<const unsigned char*>(data);
    out->insert(out->end(), bytes, bytes + size);
}

}  // namespace

std::vector<unsigned char> encode_png(const RgbaImage& image) {
    std::vector<unsigned char> out;
    if (!stbi_write_png_to_func(append_to, &out, image.width, image.height, 4, image.pixels.data(), image.width * 4))
        throw Error("PNG encoding failed");
    return out;
}

std::vector<unsigned char> encode_jpeg(const RgbaImage& image, int quality) {
    std::vector<unsigned char> rgb(static_cast<std::size_t>(image.width) * image.height * 3);
    for (std::size_t i = 0, n = rgb.size() / 3; i < n; ++i) {
        const unsigned a = image.pixels[i * 4 + 3];
        for (int c = 0; c < 3; ++c)
            rgb[i * 3 + static_cast<std::size_t>(c)] = static_cast<unsigned char>(
                (image.pixels[i * 4 + static_cast<std::size_t>(c)] * a + 255 * (255 - a) + 127) / 255);
    }
    std::vector<unsigned char> out;
    if (!stbi_write_jpg_to_func(append_to, &out, image.width, image.height, 3, rgb.data(), quality))
        throw Error("JPEG encoding failed");
    return out;
}

bool has_transparency(const RgbaImage& image) {
    for (std::size_t i = 3; i < image.pixels.size(); i += 4)
        if (image.pixels[i] != 255) return true;
    return false;
}

}  // namespace opsis
