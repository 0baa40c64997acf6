#include "explain/heatmap.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"
#include "image/encode.h"
#include "image/preprocess.h"

namespace opsis::explain {
namespace {

// Jet: blue, cyan, yellow, red as t goes from 0 to 1.
std::array<float, 3> jet(float t) {
    const auto ramp = [](float x) { return std::clamp(1.5f - std::abs(x), 0.0f, 1.0f); };
    return {ramp(4 * t - 3), ramp(4 * t - 2), ramp(4 * t - 1)};
}

// The map's value at a point of the view in [0, 1]^2, bilinear between place centres.
float sample(const Heatmap& map, float x, float y) {
    const float gx = std::clamp(x * static_cast<float>(map.width) - 0.5f, 0.0f, static_cast<float>(map.width - 1));
    const float gy = std::clamp(y * static_cast<float>(map.height) - 0.5f, 0.0f, static_cast<float>(map.height - 1));
    const int x0 = static_cast<int>(gx), y0 = static_cast<int>(gy);
    const int x1 = std::min(x0 + 1, map.width - 1), y1 = std::min(y0 + 1, map.height - 1);
    const float fx = gx - static_cast<float>(x0), fy = gy - static_cast<float>(y0);
    const auto at = [&](int px, int py) { return map.values[static_cast<std::size_t>(py) * map.width + px]; };
    return (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x1, y0)) + fy * ((1 - fx) * at(x0, y1) + fx * at(x1, y1));
}

}  // namespace

Heatmap text_heatmap(const DualEncoder& model, const RgbaImage& picture, const std::string& text) {
    const Tensor input = model.preprocess({picture});
    const Tensor places = model.encode_image_places(input);  // [1, h, w, E]
    const Tensor text_vector = model.encode_texts({text});   // [1, E], unit
    const std::int64_t h = places.dim(1), w = places.dim(2), e = places.dim(3);
    Heatmap map;
    map.height = static_cast<int>(h);
    map.width = static_cast<int>(w);
    std::vector<double> mean(static_cast<std::size_t>(e), 0.0);
    for (std::int64_t p = 0; p < h * w; ++p)
        for (std::int64_t i = 0; i < e; ++i) mean[static_cast<std::size_t>(i)] += places.data()[p * e + i];
    double norm = 0;
    for (double& m : mean) {
        m /= static_cast<double>(h * w);
        norm += m * m;
    }
    norm = std::sqrt(norm);
    if (!(norm > 0)) norm = 1;  // a picture whose features are all zero matches nothing anywhere
    std::size_t best = 0;
    for (std::int64_t p = 0; p < h * w; ++p) {
        double dot = 0;
        for (std::int64_t i = 0; i < e; ++i)
            dot += static_cast<double>(places.data()[p * e + i]) * text_vector.data()[i];
        map.values.push_back(static_cast<float>(dot / norm));
        if (map.values.back() > map.values[best]) best = static_cast<std::size_t>(p);
    }
    map.peak_x = (static_cast<float>(best % static_cast<std::size_t>(w)) + 0.5f) / static_cast<float>(w);
    map.peak_y = (static_cast<float>(best / static_cast<std::size_t>(w)) + 0.5f) / static_cast<float>(h);
    double cosine = 0;
    if (model.config().image.arch == ImageTowerConfig::Arch::resnet) {
        // The picture's vector is the places' mean, normalised (pooling and projection commute):
        // no second pass through the tower.
        for (std::int64_t i = 0; i < e; ++i) cosine += mean[static_cast<std::size_t>(i)] * text_vector.data()[i];
        cosine /= norm;
    } else {
        const Tensor image_vector = model.encode_images(input);
        for (std::int64_t i = 0; i < e; ++i)
            cosine += static_cast<double>(image_vector.data()[i]) * text_vector.data()[i];
    }
    map.cosine = static_cast<float>(cosine);
    return map;
}

RgbaImage heatmap_overlay(const RgbaImage& picture, const PreprocessOptions& options, const Heatmap& map, int side) {
    if (map.width <= 0 || map.height <= 0 || map.values.size() != static_cast<std::size_t>(map.width) * map.height)
        throw Error("heatmap: the map has no places");
    RgbaImage view = fitted_square(picture, options, side);
    const auto [low, high] = std::minmax_element(map.values.begin(), map.values.end());
    const float range = *high - *low;
    constexpr float kOpacity = 0.55f;
    constexpr float kLuma[3] = {0.299f, 0.587f, 0.114f};
    for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x) {
            std::uint8_t* px = &view.pixels[(static_cast<std::size_t>(y) * side + x) * 4];
            const float t = range > 0 ? (sample(map, (static_cast<float>(x) + 0.5f) / static_cast<float>(side),
                                                (static_cast<float>(y) + 0.5f) / static_cast<float>(side)) -
                                         *low) /
                                            range
                                      : 0.0f;
            const std::array<float, 3> colour = jet(t);
            // The picture in grey beneath, so that its own colours are not read as heat.
            const float alpha = static_cast<float>(px[3]) / 255.0f;
            float grey = 0;
            for (int c = 0; c < 3; ++c)
                grey += kLuma[c] * (alpha * px[c] + (1 - alpha) * options.background[static_cast<std::size_t>(c)]);
            for (int c = 0; c < 3; ++c)
                px[c] = static_cast<std::uint8_t>(std::lround((1 - kOpacity) * grey + kOpacity * 255.0f * colour[c]));
            px[3] = 255;
        }
    return view;
}

DrawnHeatmap draw_heatmap(const DualEncoder& model, const RgbaImage& picture, const std::string& text, int side) {
    DrawnHeatmap drawn;
    drawn.map = text_heatmap(model, picture, text);
    drawn.png = encode_png(heatmap_overlay(picture, model.config().image.preprocess, drawn.map, side));
    return drawn;
}

}  // namespace opsis::explain
