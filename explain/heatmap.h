#pragma once
// Why this result: where in a picture a text matches. Each place of the image tower's last
// feature map is projected into the joint space and compared with the text's unit vector
// (class-activation mapping, forward only). For the ResNet tower the picture's vector is the
// mean of those places, so the map's mean is the picture's cosine with the text exactly; for a
// ViT tower the patch tokens stand in (an approximation).
#include <string>
#include <vector>

#include "encoder/dual_encoder.h"
#include "image/decode.h"

namespace opsis::explain {

struct Heatmap {
    int width = 0, height = 0;  // places of the feature map
    // Row-major, one per place: its projected feature . text / |picture's feature| (ResNet: their
    // mean is `cosine`).
    std::vector<float> values;
    float cosine = 0;  // the picture's vector with the text's
    // The hottest place's centre, as fractions of the model's square view (0 left/top, 1 right/bottom).
    float peak_x = 0, peak_y = 0;
};

// Invalid UTF-8 in `text` is an opsis::Error (as in encode_texts).
Heatmap text_heatmap(const DualEncoder& model, const RgbaImage& picture, const std::string& text);

// The square the model sees (image/preprocess.h fitted_square) at `side` pixels, over the
// model's background, in grey, with the map drawn over it: the map scaled to its own range
// (relative within the picture), smoothly enlarged, blue where the text matches least through
// red where it matches most.
RgbaImage heatmap_overlay(const RgbaImage& picture, const PreprocessOptions& options, const Heatmap& map, int side);

// Both at once, the overlay as PNG bytes: what `opsis explain` writes and GET
// /api/items/{id}/heatmap answers.
struct DrawnHeatmap {
    Heatmap map;
    std::vector<unsigned char> png;
};
DrawnHeatmap draw_heatmap(const DualEncoder& model, const RgbaImage& picture, const std::string& text, int side);

}  // namespace opsis::explain
