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

// A ResNet tower's feature maps as ImageTower::stage_maps returns them (the stem, after its
// pooling, then each stage), each with its field. The main path decides it: the shortcut's
// 1x1 convolution sees less.
struct StageGeometry {
    std::string name;  // "stem", "stage 1", ...
    ReceptiveField field;
};
std::vector<StageGeometry> resnet_stage_geometry(const ResNetConfig& config);

}  // namespace opsis::explain
