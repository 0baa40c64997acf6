#pragma once
// Decoders beside stb_image (image/decode.cpp's internals): JPEG through libjpeg-turbo, WebP through
// libwebp (the first frame of an animation), HEIF/HEIC and AVIF through libheif (the primary
// image, turned as its container says). Each checks the size from the header against the
// limits before decoding any pixel, reads the EXIF block the container carries, and throws
// opsis::Error "image '<name>': …" for anything corrupt.
#include <cstddef>
#include <optional>
#include <string>

#include "image/decode.h"

namespace opsis::detail {

// With min_short_side > 0, a still WebP comes scaled while decoding (libwebp's area-averaging
// rescaler) so that its short side is that many pixels; `width` and `height` keep its size.
Photo decode_webp(const unsigned char* data, std::size_t size, const std::string& name, const ImageLimits& limits,
                  int min_short_side);
// With min_short_side > 0, the smallest thumbnail the file carries whose short side has that
// many pixels is decoded instead of the primary image (phones store one: an iPhone's 320x240
// decodes ~50x faster than its 12 MP picture); `width` and `height` keep the primary's size.
Photo decode_heif(const unsigned char* data, std::size_t size, const std::string& name, const ImageLimits& limits,
                  ImageFormat format, int min_short_side);

// A JPEG through libjpeg-turbo, at the smallest DCT scale (1/8 to 1) whose short side is still
// at least `min_short_side` (0: full size). Nullopt where TurboJPEG cannot (CMYK, a fatal error):
// stb_image then decodes it, or says what is wrong. The structure checks come first (decode.cpp).
std::optional<RgbaImage> decode_jpeg_turbo(const unsigned char* data, std::size_t size, int min_short_side);

// The limit check every decoder shares: zero sizes and pixel counts over the limit, named.
void check_dimensions(std::uint64_t width, std::uint64_t height, const char* format, const std::string& name,
                      const ImageLimits& limits);

}  // namespace opsis::detail
