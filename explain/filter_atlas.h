#pragma once
// Zeiler and Fergus's figures for an image tower: the first layer's filters as pictures, and for
// chosen units of every map ImageTower::stage_maps gives (a ResNet's stem and stages; a ViT's
// attention heads and MLP units, block by block), the patches of a collection's pictures that
// excite each most (one patch a picture, at the unit's strongest place), cropped to the unit's
// receptive field (a ViT token's: its own patch). `opsis model visualize` writes them as PNG grids, atlas.json and an
// HTML page; the server shows the page at /model.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "encoder/dual_encoder.h"
#include "explain/receptive_field.h"

namespace opsis::explain {

struct AtlasPicture {
    std::int64_t id = 0;  // the item's, in the index
    std::string path;
    std::string caption;
};

struct AtlasOptions {
    int units = 8;           // per map, evenly spaced over its channels
    int top = 9;             // patches per unit
    int crop = 64;           // pixels a side of each patch in the grids
    std::size_t batch = 32;  // pictures through the tower at once
};

struct AtlasPatch {
    float activation = 0;
    std::size_t picture = 0;  // into the pictures given
    int y = 0, x = 0;         // the unit's place in its map
    Box box;                  // in the tower's input pixels
};
struct AtlasUnit {
    int channel = 0;
    std::vector<AtlasPatch> patches;  // strongest first
};
struct AtlasStage {
    StageGeometry geometry;
    int height = 0, width = 0, channels = 0;
    std::vector<AtlasUnit> units;
};
struct Atlas {
    std::vector<AtlasStage> stages;
    std::size_t pictures_read = 0, pictures_failed = 0;
};

// `units` channels evenly spaced over `channels` (all of them when there are fewer).
std::vector<int> chosen_units(int channels, int units);

// One pass over the pictures; `progress(done, failed)` after each batch. A picture that
// cannot be read is counted and left out.
Atlas find_top_patches(const DualEncoder& model, const std::vector<AtlasPicture>& pictures, const AtlasOptions& options,
                       const std::function<void(std::size_t, std::size_t)>& progress);

// The first layer's filters (a ResNet's stem, a ViT's patch embedding; at most 256) as one
// picture: each filter's 3 x k x k weights scaled to 0..255 (per filter), about 64 pixels a
// filter, 16 to a row.
RgbaImage first_layer_filters(const DualEncoder& model);

// Writes OUT/filters.png, OUT/<stage>.png (a row a unit, its patches strongest first),
// OUT/atlas.json, OUT/index.html and its OUT/atlas.css.
void write_atlas(const DualEncoder& model, const std::vector<AtlasPicture>& pictures, const Atlas& atlas,
                 const AtlasOptions& options, const std::string& model_name, const std::string& out);

}  // namespace opsis::explain
