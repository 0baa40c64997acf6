#pragma once
// Where a unit of a convolutional feature map looks in the input: the receptive-field
// arithmetic through kernels, strides and padding (Zeiler and Fergus crop each unit's most
// exciting patches to it). Coordinates are input pixels; a unit's field is centred on
// start + index * jump and spans `size` pixels.
#include <vector>

#include "encoder/model_config.h"

namespace opsis::explain {

struct ConvLayer {
    int kernel = 1, stride = 1, padding = 0;
};

struct ReceptiveField {
    double jump = 1;   // input pixels between neighbouring units
    double start = 0;  // the centre of unit 0, in input pixel coordinates (pixel i's centre is i)
    int size = 1;      // input pixels one unit sees, along each axis
};

// The field after each layer of a chain, starting from the input (jump 1, start 0, size 1).
std::vector<ReceptiveField> receptive_fields(const std::vector<ConvLayer>& layers);

struct Box {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // [x0, x1) x [y0, y1), within the image
    bool operator==(const Box&) const = default;
};
// The input pixels unit (y, x) sees, clipped to a square image of `image_size`.
Box receptive_box(const ReceptiveField& field, int y, int x, int image_size);

// The maps ImageTower::stage_maps returns, each with what its channels are and where its
// units look.
struct StageGeometry {
    enum class Units { channels, attention_heads, mlp_units };
    std::string name;  // "stem", "stage 1", ... / "block 1 attention", "block 1 MLP", ...
    Units units = Units::channels;
    ReceptiveField field;
};
// A ResNet's: the stem (after its pooling), then each stage. The main path decides the field:
// the shortcut's 1x1 convolution sees less.
std::vector<StageGeometry> resnet_stage_geometry(const ResNetConfig& config);
// A ViT's: per block, its heads' class-token attention, then its MLP units, each at a patch.
// The field is the token's own patch: attention lets every token see the whole picture, so
// there is no smaller honest box, and the patch is where the token stands.
std::vector<StageGeometry> vit_stage_geometry(const VitConfig& config);
// Either, as the config's tower is.
std::vector<StageGeometry> stage_geometry(const ImageTowerConfig& config);

}  // namespace opsis::explain
