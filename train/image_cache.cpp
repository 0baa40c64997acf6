#include "train/image_cache.h"

#include <cstring>

#include "core/error.h"

namespace opsis::train {

ImageCache::ImageCache(const std::vector<std::string>& paths, int side, bool trim_transparent,
                       const ImageLimits& limits)
    : side_(side), pixels_(paths.size() * static_cast<std::size_t>(side) * side * 4, 0), failures_(paths.size()) {
    const std::int64_t n = static_cast<std::int64_t>(paths.size());
#pragma omp parallel for schedule(dynamic, 16)
    for (std::int64_t i = 0; i < n; ++i) {
        const std::size_t k = static_cast<std::size_t>(i);
        try {
            const RgbaImage small =
                resize_rgba(square_region(load_image(paths[k], limits), trim_transparent), side, side);
            std::memcpy(pixels_.data() + k * bytes_per_image(), small.pixels.data(), bytes_per_image());
        } catch (const std::exception& e) {
            failures_[k] = e.what();
            if (failures_[k].empty()) failures_[k] = "unknown failure";
        }
    }
}

RgbaImage ImageCache::image(std::size_t i) const {
    RgbaImage img;
    img.width = img.height = side_;
    img.pixels.assign(pixels(i), pixels(i) + bytes_per_image());
    return img;
}

}  // namespace opsis::train
