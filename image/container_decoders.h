#pragma once
// Decoders for the formats stb_image does not read (image/decode.cpp's internals): WebP through
// libwebp (the first frame of an animation), HEIF/HEIC and AVIF through libheif (the primary
// image, turned as its container says). Each checks the size from the header against the
// limits before decoding any pixel, reads the EXIF block the container carries, and throws
// opsis::Error "image '<name>': …" for anything corrupt.
#include <cstddef>
#include <string>

#include "image/decode.h"

namespace opsis::detail {

Photo decode_webp(const unsigned char* data, std::size_t size, const std::string& name, const ImageLimits& limits);
Photo decode_heif(const unsigned char* data, std::size_t size, const std::string& name, const ImageLimits& limits,
                  ImageFormat format);

// The limit check every decoder shares: zero sizes and pixel counts over the limit, named.
void check_dimensions(std::uint64_t width, std::uint64_t height, const char* format, const std::string& name,
                      const ImageLimits& limits);

}  // namespace opsis::detail
