#pragma once
// Every training image decoded once, squared (transparent margins trimmed) and resized to a
// small RGBA square kept in memory, so epochs never decode files again. Augmentation crops
// and composites from here; alpha is kept so each step can put a different background behind.
#include <cstdint>
#include <string>
#include <vector>

#include "image/decode.h"
#include "image/preprocess.h"

namespace opsis::train {

class ImageCache {
public:
    // Decodes in parallel; a file that fails is recorded with its reason, never fatal.
    ImageCache(const std::vector<std::string>& paths, int side, bool trim_transparent, const ImageLimits& limits);

    int side() const { return side_; }
    std::size_t size() const { return failures_.size(); }
    bool ok(std::size_t i) const { return failures_[i].empty(); }
    const std::string& failure(std::size_t i) const { return failures_[i]; }
    // side x side x 4 bytes, row-major RGBA.
    const std::uint8_t* pixels(std::size_t i) const { return pixels_.data() + i * bytes_per_image(); }
    RgbaImage image(std::size_t i) const;

private:
    std::size_t bytes_per_image() const { return static_cast<std::size_t>(side_) * side_ * 4; }
    int side_;
    std::vector<std::uint8_t> pixels_;
    std::vector<std::string> failures_;
};

}  // namespace opsis::train
