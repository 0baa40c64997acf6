#pragma once
// Encoding pictures to PNG or JPEG in memory (stb_image_write): thumbnails, generated images.
#include <cstdint>
#include <vector>

#include "image/decode.h"

namespace opsis {

std::vector<unsigned char> encode_png(const RgbaImage& image);
// Alpha is composited onto white first (JPEG has none).
std::vector<unsigned char> encode_jpeg(const RgbaImage& image, int quality = 85);
bool has_transparency(const RgbaImage& image);

}  // namespace opsis
