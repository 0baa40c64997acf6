#pragma once
// Decoding image files (JPEG with libjpeg-turbo; PNG incl. 16-bit and palette, BMP, GIF first
// frame, TGA with stb_image, and JPEG where TurboJPEG cannot; WebP with libwebp, its first frame; HEIF/HEIC and AVIF
// with libheif) into 8-bit RGBA, with limits checked from the header before any pixel is decoded.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "image/photo_metadata.h"

namespace opsis {

struct ImageLimits {
    std::uint64_t max_file_bytes = 64ull << 20;  // 64 MiB
    std::uint64_t max_pixels = 50'000'000;       // ~200 MB of RGBA once decoded
};

enum class ImageFormat { unknown, jpeg, png, bmp, gif, tga, webp, heif, avif };
const char* image_format_name(ImageFormat f);

// Identifies the format from magic bytes; TGA has none, so it is only accepted when the
// name ends in ".tga" (stb would otherwise take many random files for TGA).
ImageFormat sniff_image_format(const unsigned char* data, std::size_t size, std::string_view name);

struct RgbaImage {
    int width = 0, height = 0;
    std::vector<std::uint8_t> pixels;  // width * height * 4, row-major RGBA
};

// A decoded picture, upright, and what its EXIF block says (photo_metadata.h).
struct Photo {
    RgbaImage image;
    int width = 0, height = 0;  // the whole picture's size, upright (image may be smaller: DecodeHint)
    PhotoMetadata metadata;
};

// What the pixels are for. min_short_side: a picture whose short side has at least this many
// pixels serves (a model's input, a thumbnail); a JPEG is then decoded in the DCT domain at the
// smallest scale (1/8 to 1) that still gives it. 0: the full size.
struct DecodeHint {
    int min_short_side = 0;
    bool jpeg_by_stb = false;  // stb_image's JPEG decoder, full size: the reference `bench decode` measures against
};

// `name` is used in error messages and for the TGA rule; throws opsis::Error "image '<name>': …".
// The pixels are turned upright by the file's EXIF orientation, so every path (embedding,
// thumbnails, heatmaps) sees a sideways phone photo the way it was meant.
Photo decode_photo(const unsigned char* data, std::size_t size, const std::string& name, const ImageLimits& limits,
                   DecodeHint hint = {});
RgbaImage decode_image(const unsigned char* data, std::size_t size, const std::string& name, const ImageLimits& limits);
RgbaImage load_image(const std::string& path, const ImageLimits& limits);

// Files loaded in parallel (OpenMP), in order: a file that fails leaves its image empty and
// the reason in `errors` (empty where it loaded).
struct LoadedImages {
    std::vector<RgbaImage> images;
    std::vector<std::string> errors;
};
LoadedImages load_images(const std::vector<std::string>& paths, const ImageLimits& limits);

}  // namespace opsis
