#pragma once
// The image tower: preprocessed images [N, S, S, 3] (NHWC) -> features [N, embed_dim]
// (projected, not yet normalised). Two architectures behind one interface, chosen by config.
#include <memory>
#include <vector>

#include "encoder/model_config.h"
#include "encoder/precision.h"
#include "encoder/weights.h"

namespace opsis {

class ImageTower {
public:
    virtual ~ImageTower() = default;
    virtual Tensor forward(const Tensor& images) const = 0;
    // Each place of the last feature map projected into the joint space: [N, h, w, embed_dim].
    // ResNet: exact, forward() is their mean (global average pooling, then a linear
    // projection). ViT: each patch token through ln_post and the projection, an approximation
    // (the class token, not the patches, is what forward() projects).
    virtual Tensor places_forward(const Tensor& images) const = 0;
    // The maps a filter visualisation looks into, [N, h, w, C] each (explain/receptive_field.h
    // gives where their units look). ResNet: the stem's output (after its pooling) and each
    // stage's. ViT, per block: the class token's attention to each patch, a channel per head
    // [N, G, G, heads], then the MLP's hidden units at each patch [N, G, G, mlp_ratio * width].
    virtual std::vector<Tensor> stage_maps(const Tensor& images) const = 0;
};

// ResNet: "visual.stem.*", "visual.layers.<stage>.<block>.*", "visual.proj".
// ViT (CLIP's names): "visual.conv1.weight", "visual.class_embedding", "visual.positional_embedding",
// "visual.ln_pre.*", "visual.transformer.resblocks.*", "visual.ln_post.*", "visual.proj".
std::vector<ParamSpec> image_tower_params(const ModelConfig& config);
// Its weight products run at `precision` (encoder/precision.h).
std::unique_ptr<ImageTower> make_image_tower(const ModelConfig& config, const Weights& weights, Precision precision);

}  // namespace opsis
