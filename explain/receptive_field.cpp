#include "explain/receptive_field.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace opsis::explain {

std::vector<ReceptiveField> receptive_fields(const std::vector<ConvLayer>& layers) {
    std::vector<ReceptiveField> out;
    ReceptiveField f;
    for (const ConvLayer& l : layers) {
        // A unit of this layer covers `kernel` units of the previous one, whose centres lie
        // `jump` apart; its first unit's window starts `padding` units before the input's.
        f.size += (l.kernel - 1) * static_cast<int>(std::lround(f.jump));
        f.start += ((l.kernel - 1) / 2.0 - l.padding) * f.jump;
        f.jump *= l.stride;
        out.push_back(f);
    }
    return out;
}

Box receptive_box(const ReceptiveField& f, int y, int x, int image_size) {
    auto span = [&](int i, int& lo, int& hi) {
        const double centre = f.start + i * f.jump;
        lo = static_cast<int>(std::lround(centre - (f.size - 1) / 2.0));
        hi = lo + f.size;
        lo = std::clamp(lo, 0, image_size);
        hi = std::clamp(hi, 0, image_size);
    };
    Box b;
    span(x, b.x0, b.x1);
    span(y, b.y0, b.y1);
    return b;
}

std::vector<StageGeometry> resnet_stage_geometry(const ResNetConfig& r) {
    std::vector<ConvLayer> chain{{3, r.stem_stride, 1}};
    if (r.stem_pool) chain.push_back({3, 2, 1});
    std::vector<StageGeometry> out{{"stem", StageGeometry::Units::channels, receptive_fields(chain).back()}};
    for (std::size_t s = 0; s < r.stage_channels.size(); ++s) {
        for (int b = 0; b < r.stage_blocks[s]; ++b) {
            chain.push_back({3, (b == 0 && s > 0) ? 2 : 1, 1});  // conv1
            chain.push_back({3, 1, 1});                          // conv2
        }
        out.push_back(
            {"stage " + std::to_string(s + 1), StageGeometry::Units::channels, receptive_fields(chain).back()});
    }
    return out;
}

std::vector<StageGeometry> vit_stage_geometry(const VitConfig& v) {
    const ReceptiveField patch = receptive_fields({{v.patch_size, v.patch_size, 0}}).back();
    std::vector<StageGeometry> out;
    for (int b = 1; b <= v.transformer.layers; ++b) {
        out.push_back({"block " + std::to_string(b) + " attention", StageGeometry::Units::attention_heads, patch});
        out.push_back({"block " + std::to_string(b) + " MLP", StageGeometry::Units::mlp_units, patch});
    }
    return out;
}

std::vector<StageGeometry> stage_geometry(const ImageTowerConfig& c) {
    return c.arch == ImageTowerConfig::Arch::resnet ? resnet_stage_geometry(c.resnet) : vit_stage_geometry(c.vit);
}

}  // namespace opsis::explain
