#include "image/photo_metadata.h"

#include <libexif/exif-data.h>
#include <libexif/exif-utils.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>

#include "core/error.h"

namespace opsis {
namespace {

struct ExifDataFree {
    void operator()(ExifData* d) const { exif_data_unref(d); }
};
using ExifDataPtr = std::unique_ptr<ExifData, ExifDataFree>;

std::uint32_t be16(const unsigned char* p) { return (std::uint32_t{p[0]} << 8) | p[1]; }

std::string ascii_of(ExifData* data, ExifIfd ifd, ExifTag tag) {
    ExifEntry* e = exif_content_get_entry(data->ifd[ifd], tag);
    if (!e || e->format != EXIF_FORMAT_ASCII || !e->data) return {};
    std::string s(reinterpret_cast<const char*>(e->data), e->size);
    s = s.substr(0, s.find('\0'));
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
    while (!s.empty() && s.front() == ' ') s.erase(s.begin());
    return s;
}

// A GPS coordinate: three rationals (degrees, minutes, seconds) and its reference letter.
std::optional<double> coordinate_of(ExifData* data, ExifTag value_tag, ExifTag ref_tag, char negative, double limit) {
    ExifEntry* e = exif_content_get_entry(data->ifd[EXIF_IFD_GPS], value_tag);
    if (!e || e->format != EXIF_FORMAT_RATIONAL || e->components != 3 || e->size < 24) return std::nullopt;
    const ExifByteOrder order = exif_data_get_byte_order(data);
    double parts[3];
    for (int i = 0; i < 3; ++i) {
        const ExifRational r = exif_get_rational(e->data + 8 * i, order);
        if (r.denominator == 0) return std::nullopt;
        parts[i] = static_cast<double>(r.numerator) / r.denominator;
    }
    double degrees = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0;
    const std::string ref = ascii_of(data, EXIF_IFD_GPS, ref_tag);
    if (!ref.empty() && (ref[0] == negative || ref[0] == negative + ('a' - 'A'))) degrees = -degrees;
    if (!std::isfinite(degrees) || std::abs(degrees) > limit) return std::nullopt;
    return degrees;
}

void put_entry(ExifData* data, ExifIfd ifd, ExifTag tag, ExifFormat format, unsigned long components, const void* bytes,
               unsigned int size) {
    ExifEntry* e = exif_entry_new();
    e->tag = tag;
    e->format = format;
    e->components = components;
    e->size = size;
    e->data = static_cast<unsigned char*>(std::malloc(size));  // freed by libexif's default allocator
    if (!e->data) throw std::bad_alloc();
    std::memcpy(e->data, bytes, size);
    exif_content_add_entry(data->ifd[ifd], e);
    exif_entry_unref(e);
}

void put_ascii(ExifData* data, ExifIfd ifd, ExifTag tag, const std::string& text) {
    put_entry(data, ifd, tag, EXIF_FORMAT_ASCII, text.size() + 1, text.c_str(),
              static_cast<unsigned int>(text.size() + 1));
}

void put_coordinate(ExifData* data, ExifTag value_tag, ExifTag ref_tag, double degrees, char positive, char negative) {
    const ExifByteOrder order = exif_data_get_byte_order(data);
    const double a = std::abs(degrees);
    const double whole = std::floor(a), minutes = std::floor((a - whole) * 60.0);
    const double seconds = ((a - whole) * 60.0 - minutes) * 60.0;
    unsigned char raw[24];
    exif_set_rational(raw, order, {static_cast<ExifLong>(whole), 1});
    exif_set_rational(raw + 8, order, {static_cast<ExifLong>(minutes), 1});
    exif_set_rational(raw + 16, order, {static_cast<ExifLong>(std::llround(seconds * 10000.0)), 10000});
    put_entry(data, EXIF_IFD_GPS, value_tag, EXIF_FORMAT_RATIONAL, 3, raw, sizeof raw);
    put_ascii(data, EXIF_IFD_GPS, ref_tag, std::string(1, degrees < 0 ? negative : positive));
}

std::string two_digits(int v) {
    return std::string(1, static_cast<char>('0' + v / 10)) + static_cast<char>('0' + v % 10);
}

}  // namespace

std::string PhotoMetadata::camera() const {
    if (model.empty()) return make;
    if (make.empty() || model.rfind(make, 0) == 0) return model;
    // "NIKON CORPORATION" + "NIKON D750": the model already names the make's first word.
    const std::string first_word = make.substr(0, make.find(' '));
    if (model.rfind(first_word, 0) == 0) return model;
    return make + " " + model;
}

std::span<const unsigned char> jpeg_exif_block(const unsigned char* d, std::size_t n) {
    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return {};
    std::size_t i = 2;
    while (i + 4 <= n) {
        if (d[i] != 0xFF) return {};
        const unsigned char marker = d[i + 1];
        if (marker == 0xFF) {  // fill byte
            ++i;
            continue;
        }
        if (marker == 0xDA || marker == 0xD9) return {};  // the scan: no metadata after it
        const std::size_t len = be16(d + i + 2);
        if (len < 2 || i + 2 + len > n) return {};
        if (marker == 0xE1 && len >= 8 && std::memcmp(d + i + 4, "Exif\0\0", 6) == 0) return {d + i + 4, len - 2};
        i += 2 + len;
    }
    return {};
}

std::optional<std::int64_t> parse_exif_datetime(const std::string& text) {
    // "YYYY:MM:DD HH:MM:SS" (some writers use '-' in the date or 'T' between the two)
    if (text.size() < 19) return std::nullopt;
    int field[6];
    const std::size_t at[6] = {0, 5, 8, 11, 14, 17};
    const std::size_t width[6] = {4, 2, 2, 2, 2, 2};
    for (int k = 0; k < 6; ++k) {
        int v = 0;
        for (std::size_t j = 0; j < width[k]; ++j) {
            const char c = text[at[k] + j];
            if (c < '0' || c > '9') return std::nullopt;
            v = v * 10 + (c - '0');
        }
        field[k] = v;
    }
    const auto sep = [&](std::size_t i, const char* allowed) { return std::strchr(allowed, text[i]) != nullptr; };
    if (!sep(4, ":-") || !sep(7, ":-") || !sep(10, " T") || text[13] != ':' || text[16] != ':') return std::nullopt;
    if (field[0] < 1800 || field[1] < 1 || field[1] > 12 || field[2] < 1 || field[2] > 31 || field[3] > 23 ||
        field[4] > 59 || field[5] > 60)
        return std::nullopt;
    std::tm tm{};
    tm.tm_year = field[0] - 1900;
    tm.tm_mon = field[1] - 1;
    tm.tm_mday = field[2];
    tm.tm_hour = field[3];
    tm.tm_min = field[4];
    tm.tm_sec = field[5];
    const std::time_t t = timegm(&tm);
    if (tm.tm_mday != field[2]) return std::nullopt;  // 31 June rolled over into July
    return static_cast<std::int64_t>(t);
}

std::optional<int> parse_exif_offset(const std::string& text) {
    // "+HH:MM" or "-HH:MM"
    if (text.size() != 6 || (text[0] != '+' && text[0] != '-') || text[3] != ':') return std::nullopt;
    for (int i : {1, 2, 4, 5})
        if (text[static_cast<std::size_t>(i)] < '0' || text[static_cast<std::size_t>(i)] > '9') return std::nullopt;
    const int hours = (text[1] - '0') * 10 + (text[2] - '0'), minutes = (text[4] - '0') * 10 + (text[5] - '0');
    if (hours > 14 || minutes > 59) return std::nullopt;
    return (text[0] == '-' ? -1 : 1) * (hours * 60 + minutes);
}

PhotoMetadata read_exif(std::span<const unsigned char> block) {
    PhotoMetadata m;
    if (block.size() < 8 || block.size() > 0xFFFFFFu) return m;
    ExifDataPtr data(exif_data_new());
    if (!data) return m;
    // Read what is there: no default entries made up (libexif would otherwise add a current
    // date), no tags it does not know dropped (OffsetTimeOriginal is newer than some builds).
    exif_data_unset_option(data.get(), EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_unset_option(data.get(), EXIF_DATA_OPTION_IGNORE_UNKNOWN_TAGS);
    // libexif wants the "Exif\0\0" header that JPEG's segment has; WebP's and HEIF's blocks
    // start at the TIFF header.
    std::vector<unsigned char> headed;
    if (std::memcmp(block.data(), "Exif\0\0", 6) != 0) {
        headed.assign({'E', 'x', 'i', 'f', 0, 0});
        headed.insert(headed.end(), block.begin(), block.end());
        block = headed;
    }
    exif_data_load_data(data.get(), block.data(), static_cast<unsigned int>(block.size()));
    const ExifByteOrder order = exif_data_get_byte_order(data.get());
    if (ExifEntry* e = exif_content_get_entry(data->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
        e && e->format == EXIF_FORMAT_SHORT && e->size >= 2) {
        const int o = exif_get_short(e->data, order);
        if (o >= 1 && o <= 8) m.orientation = o;
    }
    m.taken_local = parse_exif_datetime(ascii_of(data.get(), EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_ORIGINAL));
    if (!m.taken_local) m.taken_local = parse_exif_datetime(ascii_of(data.get(), EXIF_IFD_0, EXIF_TAG_DATE_TIME));
    if (m.taken_local)
        m.taken_offset_minutes = parse_exif_offset(ascii_of(data.get(), EXIF_IFD_EXIF, EXIF_TAG_OFFSET_TIME_ORIGINAL));
    m.make = ascii_of(data.get(), EXIF_IFD_0, EXIF_TAG_MAKE);
    m.model = ascii_of(data.get(), EXIF_IFD_0, EXIF_TAG_MODEL);
    m.latitude = coordinate_of(data.get(), static_cast<ExifTag>(EXIF_TAG_GPS_LATITUDE),
                               static_cast<ExifTag>(EXIF_TAG_GPS_LATITUDE_REF), 'S', 90.0);
    m.longitude = coordinate_of(data.get(), static_cast<ExifTag>(EXIF_TAG_GPS_LONGITUDE),
                                static_cast<ExifTag>(EXIF_TAG_GPS_LONGITUDE_REF), 'W', 180.0);
    if (!m.latitude || !m.longitude) m.latitude = m.longitude = std::nullopt;  // half a position is none
    return m;
}

std::vector<unsigned char> jpeg_with_exif(std::span<const unsigned char> jpeg, const PhotoMetadata& m) {
    if (jpeg.size() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) throw Error("jpeg_with_exif: not a JPEG");
    ExifDataPtr data(exif_data_new());
    exif_data_unset_option(data.get(), EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_set_byte_order(data.get(), EXIF_BYTE_ORDER_INTEL);
    const ExifByteOrder order = EXIF_BYTE_ORDER_INTEL;
    unsigned char orientation[2];
    exif_set_short(orientation, order, static_cast<ExifShort>(m.orientation));
    put_entry(data.get(), EXIF_IFD_0, EXIF_TAG_ORIENTATION, EXIF_FORMAT_SHORT, 1, orientation, 2);
    if (!m.make.empty()) put_ascii(data.get(), EXIF_IFD_0, EXIF_TAG_MAKE, m.make);
    if (!m.model.empty()) put_ascii(data.get(), EXIF_IFD_0, EXIF_TAG_MODEL, m.model);
    if (m.taken_local) {
        const std::time_t t = static_cast<std::time_t>(*m.taken_local);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char text[64];
        std::snprintf(text, sizeof text, "%04d:%02d:%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec);
        put_ascii(data.get(), EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_ORIGINAL, text);
        if (m.taken_offset_minutes) {
            const int off = std::abs(*m.taken_offset_minutes);
            put_ascii(data.get(), EXIF_IFD_EXIF, EXIF_TAG_OFFSET_TIME_ORIGINAL,
                      std::string(*m.taken_offset_minutes < 0 ? "-" : "+") + two_digits(off / 60) + ":" +
                          two_digits(off % 60));
        }
    }
    if (m.latitude && m.longitude) {
        put_coordinate(data.get(), static_cast<ExifTag>(EXIF_TAG_GPS_LATITUDE),
                       static_cast<ExifTag>(EXIF_TAG_GPS_LATITUDE_REF), *m.latitude, 'N', 'S');
        put_coordinate(data.get(), static_cast<ExifTag>(EXIF_TAG_GPS_LONGITUDE),
                       static_cast<ExifTag>(EXIF_TAG_GPS_LONGITUDE_REF), *m.longitude, 'E', 'W');
    }
    unsigned char* block = nullptr;
    unsigned int size = 0;
    exif_data_save_data(data.get(), &block, &size);
    std::unique_ptr<unsigned char, decltype(&std::free)> owned(block, &std::free);
    if (!block || size == 0 || size + 2 > 0xFFFF) throw Error("jpeg_with_exif: libexif could not write the block");
    const unsigned int len = size + 2;
    std::vector<unsigned char> out;
    out.reserve(jpeg.size() + size + 4);
    for (const unsigned char b : {0xFFu, 0xD8u, 0xFFu, 0xE1u, len >> 8, len & 0xFFu})
        out.push_back(static_cast<unsigned char>(b));
    out.insert(out.end(), block, block + size);
    out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
    return out;
}

}  // namespace opsis
