#pragma once
// Photos in the modern formats, made with the encoders of the Debian libraries the decoders come
// from, for the tests and `bench decode`: WebP (libwebp, an EXIF chunk with libwebpmux, animations
// with its animation encoder), HEIC (libheif + x265) and AVIF (libheif + aom).
#include <span>
#include <vector>

#include "image/decode.h"

namespace opsis::bench {

std::vector<unsigned char> encode_webp(const RgbaImage& image, bool lossless = true,
                                       std::span<const unsigned char> exif_tiff = {});
// Two frames: the first covers the canvas's top-left quarter (the rest transparent), the
// second all of it.
std::vector<unsigned char> encode_animated_webp(const RgbaImage& first_quarter, const RgbaImage& second);
// HEIC or AVIF (format heif or avif), lossy at high quality, with an EXIF block when given.
// thumbnail_box > 0 adds a thumbnail fitting that box, as phones do (an iPhone's: 320).
std::vector<unsigned char> encode_heif(const RgbaImage& image, ImageFormat format,
                                       std::span<const unsigned char> exif_tiff = {}, int thumbnail_box = 0);
// The TIFF-headed EXIF block of a JPEG written by jpeg_with_exif (what containers carry).
std::vector<unsigned char> exif_tiff_block(const PhotoMetadata& metadata);

}  // namespace opsis::bench
