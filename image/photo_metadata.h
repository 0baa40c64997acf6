#pragma once
// What a photo says about itself in its EXIF block (libexif): how it is turned, when and where
// it was taken, and by which camera. Read from the bytes already in memory; an absent or
// damaged block is simply no metadata (the picture itself is still good).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace opsis {

struct PhotoMetadata {
    // EXIF Orientation, 1..8: how the stored pixels must be turned to stand upright (1 where
    // the tag is absent or out of range).
    int orientation = 1;
    // DateTimeOriginal: the wall-clock time where the photo was taken, counted in seconds as
    // if that clock were UTC (cameras record local time); with OffsetTimeOriginal when present.
    std::optional<std::int64_t> taken_local;
    std::optional<int> taken_offset_minutes;
    std::string make, model;
    std::optional<double> latitude, longitude;  // degrees, north and east positive

    bool operator==(const PhotoMetadata&) const = default;
    // "Canon EOS 5D" from make "Canon" and model "Canon EOS 5D"; "Apple iPhone 12"; "" if neither.
    std::string camera() const;
};

// The EXIF block of a JPEG (its APP1 "Exif" segment), empty if it has none. Stops at the first
// scan, so it reads only the header of a large file.
std::span<const unsigned char> jpeg_exif_block(const unsigned char* data, std::size_t size);

// Parses an EXIF block (starting with "Exif\0\0" or directly with the TIFF header).
PhotoMetadata read_exif(std::span<const unsigned char> block);

// "2024:06:01 14:30:00" (EXIF) -> seconds as if UTC; "+02:00" -> 120. Nullopt for blanks,
// zeros and anything malformed (cameras without a clock write "0000:00:00 00:00:00").
std::optional<std::int64_t> parse_exif_datetime(const std::string& text);
std::optional<int> parse_exif_offset(const std::string& text);

// The same picture with an EXIF block holding `metadata` inserted after the start marker
// (any block it had is left in place after ours, which readers then ignore): for tests and
// benchmarks that need photos as cameras write them.
std::vector<unsigned char> jpeg_with_exif(std::span<const unsigned char> jpeg, const PhotoMetadata& metadata);

}  // namespace opsis
