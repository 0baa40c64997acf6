#include "image/decode.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "core/error.h"
#include "core/file_io.h"
#include "image/container_decoders.h"
#include "image/orientation.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>

namespace opsis {
namespace {

bool starts_with(const unsigned char* data, std::size_t size, std::string_view magic) {
    return size >= magic.size() && std::memcmp(data, magic.data(), magic.size()) == 0;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
    if (s.size() < suffix.size()) return false;
    for (std::size_t i = 0; i < suffix.size(); ++i) {
        const char c = s[s.size() - suffix.size() + i];
        if (std::tolower(static_cast<unsigned char>(c)) != suffix[i]) return false;
    }
    return true;
}

// stb_image accepts a JPEG cut off mid-scan and fills the rest with grey. Entropy-coded data
// never contains 0xFF followed by a marker byte, so a complete file has an end-of-image
// marker (FFD9) after its last start-of-scan (FFDA).
bool jpeg_is_complete(const unsigned char* data, std::size_t size) {
    std::size_t last_sos = 0, last_eoi = 0;
    bool seen_sos = false, seen_eoi = false;
    for (std::size_t i = 0; i + 1 < size; ++i) {
        if (data[i] != 0xFF) continue;
        if (data[i + 1] == 0xDA) {
            last_sos = i;
            seen_sos = true;
        }
        if (data[i + 1] == 0xD9) {
            last_eoi = i;
            seen_eoi = true;
        }
    }
    return seen_sos && seen_eoi && last_eoi > last_sos;
}

std::uint32_t be16(const unsigned char* p) { return (std::uint32_t{p[0]} << 8) | p[1]; }
std::uint32_t le16(const unsigned char* p) { return (std::uint32_t{p[1]} << 8) | p[0]; }
std::uint32_t be32(const unsigned char* p) { return (be16(p) << 16) | be16(p + 2); }
std::uint32_t le32(const unsigned char* p) { return (le16(p + 2) << 16) | le16(p); }

struct Dimensions {
    std::uint64_t width = 0, height = 0;
};

// Width and height straight from the file header, without stb: stb refuses huge images with
// a generic message, and the pixel limit must be checked (and reported) before any decoding.
std::optional<Dimensions> header_dimensions(ImageFormat format, const unsigned char* d, std::size_t n) {
    switch (format) {
        case ImageFormat::png:
            if (n < 24 || std::memcmp(d + 12, "IHDR", 4) != 0) return std::nullopt;
            return Dimensions{be32(d + 16), be32(d + 20)};
        case ImageFormat::gif:
            if (n < 10) return std::nullopt;
            return Dimensions{le16(d + 6), le16(d + 8)};
        case ImageFormat::tga:
            if (n < 18) return std::nullopt;
            return Dimensions{le16(d + 12), le16(d + 14)};
        case ImageFormat::bmp: {
            if (n < 26) return std::nullopt;
            if (le32(d + 14) == 12) return Dimensions{le16(d + 18), le16(d + 20)};
            const auto h = static_cast<std::int32_t>(le32(d + 22));
            const auto w = static_cast<std::int32_t>(le32(d + 18));
            return Dimensions{static_cast<std::uint64_t>(w < 0 ? -static_cast<std::int64_t>(w) : w),
                              static_cast<std::uint64_t>(h < 0 ? -static_cast<std::int64_t>(h) : h)};
        }
        case ImageFormat::jpeg: {
            std::size_t i = 2;
            while (i + 4 <= n) {
                if (d[i] != 0xFF) return std::nullopt;
                const unsigned char marker = d[i + 1];
                if (marker == 0xFF) {
                    ++i;
                    continue;
                }  // fill byte
                if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD9)) {
                    i += 2;
                    continue;
                }
                const std::size_t len = be16(d + i + 2);
                const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
                if (sof) {
                    if (i + 9 > n) return std::nullopt;
                    return Dimensions{be16(d + i + 7), be16(d + i + 5)};
                }
                if (marker == 0xDA || len < 2) return std::nullopt;  // scan before any frame header
                i += 2 + len;
            }
            return std::nullopt;
        }
        case ImageFormat::webp:
        case ImageFormat::heif:
        case ImageFormat::avif:
        case ImageFormat::unknown: break;  // their own decoders read their headers
    }
    return std::nullopt;
}

// An ISO base media file's brands (its "ftyp" box): HEIF/HEIC or AVIF, else unknown.
ImageFormat bmff_format(const unsigned char* d, std::size_t n) {
    if (n < 16 || std::memcmp(d + 4, "ftyp", 4) != 0) return ImageFormat::unknown;
    const std::size_t box = std::min<std::size_t>(be32(d), n);
    ImageFormat found = ImageFormat::unknown;
    for (std::size_t at = 8; at + 4 <= box; at += at == 8 ? 8 : 4) {  // the major brand, then the compatible ones
        const std::string brand(reinterpret_cast<const char*>(d + at), 4);
        if (brand == "avif" || brand == "avis") return ImageFormat::avif;
        if (brand == "heic" || brand == "heix" || brand == "heim" || brand == "heis" || brand == "hevc" ||
            brand == "hevx" || brand == "mif1" || brand == "msf1")
            found = ImageFormat::heif;
    }
    return found;
}

// stb_image (Debian's 2022 build) trusts two things a hostile file controls. A PNG chunk's
// length is allocated before it is read, so a 50-byte file can ask for a gigabyte; a JPEG
// Huffman table with more than 256 codes overruns stb's table. Both are checked here first.
std::optional<std::string> png_structure_problem(const unsigned char* d, std::size_t n) {
    std::size_t pos = 8;
    while (pos + 12 <= n) {
        const std::uint64_t len = be32(d + pos);
        const std::string type(reinterpret_cast<const char*>(d + pos + 4), 4);
        if (len > n - pos - 12)
            return "truncated PNG (chunk '" + type + "' claims " + std::to_string(len) + " bytes, " +
                   std::to_string(n - pos - 12) + " remain)";
        if (type == "IEND") return std::nullopt;
        pos += 12 + static_cast<std::size_t>(len);
    }
    return std::string("truncated PNG (no IEND chunk)");
}

std::optional<std::string> jpeg_structure_problem(const unsigned char* d, std::size_t n) {
    std::size_t i = 2;
    while (i + 1 < n) {
        if (d[i] != 0xFF) {  // entropy-coded data after a scan header: skip to the next marker
            ++i;
            continue;
        }
        const unsigned char marker = d[i + 1];
        if (marker == 0x00 || marker == 0xFF || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
            i += marker == 0xFF ? 1 : 2;
            continue;
        }
        if (marker == 0xD8) {
            i += 2;
            continue;
        }
        if (marker == 0xD9) return std::nullopt;
        if (i + 4 > n) break;
        const std::size_t len = be16(d + i + 2);
        if (len < 2 || i + 2 + len > n) return std::string("truncated or corrupt JPEG (a segment runs past the end)");
        if (marker == 0xC4) {  // DHT: tables of 1 + 16 + sum(counts) bytes
            std::size_t p = i + 4;
            const std::size_t end = i + 2 + len;
            while (p < end) {
                if (p + 17 > end) return std::string("corrupt JPEG (short Huffman table)");
                std::size_t codes = 0;
                for (int k = 1; k <= 16; ++k) codes += d[p + k];
                if (codes > 256) return std::string("corrupt JPEG (Huffman table with more than 256 codes)");
                p += 17 + codes;
            }
            if (p != end) return std::string("corrupt JPEG (Huffman table overruns its segment)");
        }
        i += 2 + len;
    }
    return std::nullopt;  // a missing end marker is reported by jpeg_is_complete
}

}  // namespace

void detail::check_dimensions(std::uint64_t width, std::uint64_t height, const char* fmt, const std::string& name,
                              const ImageLimits& limits) {
    if (width == 0 || height == 0)
        throw input_error(
            "image", name,
            std::string("zero-sized ") + fmt + " image (" + std::to_string(width) + "x" + std::to_string(height) + ")");
    const std::uint64_t pixels = width * height;
    if (pixels > limits.max_pixels)
        throw input_error("image", name,
                          std::to_string(width) + "x" + std::to_string(height) + " = " + std::to_string(pixels) +
                              " pixels exceeds the limit of " + std::to_string(limits.max_pixels));
}

const char* image_format_name(ImageFormat f) {
    switch (f) {
        case ImageFormat::jpeg: return "JPEG";
        case ImageFormat::png: return "PNG";
        case ImageFormat::bmp: return "BMP";
        case ImageFormat::gif: return "GIF";
        case ImageFormat::tga: return "TGA";
        case ImageFormat::webp: return "WebP";
        case ImageFormat::heif: return "HEIF";
        case ImageFormat::avif: return "AVIF";
        case ImageFormat::unknown: break;
    }
    return "unknown";
}

ImageFormat sniff_image_format(const unsigned char* data, std::size_t size, std::string_view name) {
    if (starts_with(data, size, "\xFF\xD8\xFF")) return ImageFormat::jpeg;
    if (starts_with(data, size, "\x89PNG\r\n\x1A\n")) return ImageFormat::png;
    if (starts_with(data, size, "GIF87a") || starts_with(data, size, "GIF89a")) return ImageFormat::gif;
    if (starts_with(data, size, "BM")) return ImageFormat::bmp;
    if (size >= 12 && starts_with(data, size, "RIFF") && std::memcmp(data + 8, "WEBP", 4) == 0)
        return ImageFormat::webp;
    if (const ImageFormat bmff = bmff_format(data, size); bmff != ImageFormat::unknown) return bmff;
    if (ends_with_ci(name, ".tga")) return ImageFormat::tga;
    return ImageFormat::unknown;
}

Photo decode_photo(const unsigned char* data, std::size_t size, const std::string& name, const ImageLimits& limits,
                   DecodeHint hint) {
    if (size == 0) throw input_error("image", name, "empty file");
    if (size > limits.max_file_bytes)
        throw input_error(
            "image", name,
            "file too large (" + std::to_string(size) + " bytes, limit " + std::to_string(limits.max_file_bytes) + ")");
    if (size > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw input_error("image", name, "file too large for the decoder");
    const ImageFormat format = sniff_image_format(data, size, name);
    if (format == ImageFormat::unknown)
        throw input_error("image", name,
                          "not a supported image format (JPEG, PNG, WebP, HEIC, AVIF, BMP, GIF or TGA expected)");
    const char* fmt = image_format_name(format);
    if (format == ImageFormat::webp) return detail::decode_webp(data, size, name, limits, hint.min_short_side);
    if (format == ImageFormat::heif || format == ImageFormat::avif)
        return detail::decode_heif(data, size, name, limits, format, hint.min_short_side);

    if (const auto dims = header_dimensions(format, data, size)) {
        const std::uint64_t pixels = dims->width * dims->height;
        // A GIF's logical screen is decoded whatever its frames cover, at 9 bytes a pixel (the
        // canvas, the background and the history) against 4 for other formats: a 54-byte GIF
        // claiming 65535x762 cost 200 MB. Its limit is the same memory.
        if (format == ImageFormat::gif && pixels * 9 > limits.max_pixels * 4)
            throw input_error("image", name,
                              "GIF logical screen " + std::to_string(dims->width) + "x" + std::to_string(dims->height) +
                                  " exceeds the limit of " + std::to_string(limits.max_pixels * 4 / 9) + " pixels");
        detail::check_dimensions(dims->width, dims->height, fmt, name, limits);
    }
    int w = 0, h = 0, channels = 0;
    const int len = static_cast<int>(size);
    if (!stbi_info_from_memory(data, len, &w, &h, &channels))
        throw input_error("image", name, std::string("corrupt ") + fmt + " header: " + stbi_failure_reason());
    if (w <= 0 || h <= 0) throw input_error("image", name, std::string("zero-sized ") + fmt + " image");
    if (static_cast<std::uint64_t>(w) * static_cast<std::uint64_t>(h) > limits.max_pixels)
        throw input_error("image", name, "pixel count exceeds the limit of " + std::to_string(limits.max_pixels));
    if (format == ImageFormat::jpeg && !jpeg_is_complete(data, size))
        throw input_error("image", name, "truncated JPEG (no end-of-image marker after the last scan)");
    const auto problem = format == ImageFormat::png    ? png_structure_problem(data, size)
                         : format == ImageFormat::jpeg ? jpeg_structure_problem(data, size)
                                                       : std::nullopt;
    if (problem) throw input_error("image", name, *problem);

    Photo photo;
    if (format == ImageFormat::jpeg) {
        photo.metadata = read_exif(jpeg_exif_block(data, size));
        std::optional<RgbaImage> turbo;
        if (!hint.jpeg_by_stb) turbo = detail::decode_jpeg_turbo(data, size, hint.min_short_side);
        if (turbo) {
            const bool turned = photo.metadata.orientation >= 5;
            photo.width = turned ? h : w;
            photo.height = turned ? w : h;
            photo.image = turn_upright(*turbo, photo.metadata.orientation);
            return photo;
        }
    }
    int dw = 0, dh = 0, dc = 0;
    stbi_uc* decoded = stbi_load_from_memory(data, len, &dw, &dh, &dc, 4);
    if (!decoded)
        throw input_error("image", name, std::string("corrupt or truncated ") + fmt + ": " + stbi_failure_reason());
    RgbaImage image;
    image.width = dw;
    image.height = dh;
    image.pixels.assign(decoded, decoded + static_cast<std::size_t>(dw) * dh * 4);
    stbi_image_free(decoded);
    if (dw != w || dh != h) throw input_error("image", name, "decoded size differs from header");
    photo.image = turn_upright(image, photo.metadata.orientation);
    photo.width = photo.image.width;
    photo.height = photo.image.height;
    return photo;
}

RgbaImage decode_image(const unsigned char* data, std::size_t size, const std::string& name,
                       const ImageLimits& limits) {
    return decode_photo(data, size, name, limits).image;
}

RgbaImage load_image(const std::string& path, const ImageLimits& limits) {
    std::vector<unsigned char> bytes;
    try {
        bytes = read_file(path, limits.max_file_bytes);
    } catch (const Error& e) {
        // read_file names the file; restate as an image error so the caller sees one shape.
        const std::string what = e.what();
        const auto colon = what.find("': ");
        throw input_error("image", path, colon == std::string::npos ? what : what.substr(colon + 3));
    }
    return decode_image(bytes.data(), bytes.size(), path, limits);
}

LoadedImages load_images(const std::vector<std::string>& paths, const ImageLimits& limits) {
    LoadedImages out;
    out.images.resize(paths.size());
    out.errors.resize(paths.size());
    const auto n = static_cast<std::int64_t>(paths.size());
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t i = 0; i < n; ++i) {
        const auto k = static_cast<std::size_t>(i);
        try {
            out.images[k] = load_image(paths[k], limits);
        } catch (const std::exception& e) {
            out.errors[k] = *e.what() ? e.what() : "unknown failure";
        }
    }
    return out;
}

}  // namespace opsis
