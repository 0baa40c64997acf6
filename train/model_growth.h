#pragma once
// A deeper model from a trained one (`opsis train --init MODEL --config DEEPER`): the trained
// model's parameters are kept, and each block the config adds (a transformer layer, a ResNet
// block within a stage) starts as the identity — its residual branch's last layer at zero — so
// the grown model embeds exactly as the trained one did and training goes on from there.
#include <cstdint>
#include <string>

#include "encoder/dual_encoder.h"

namespace opsis::train {

// The weights of `config` grown from `start` (read from `start_path`): each of start's
// parameters must be config's, with its shape, or the error names it; each parameter config adds
// is drawn as a fresh model's would be (seed), except those closing a residual branch, zero.
// Checked, not assumed: the grown model's embeddings of a few captions and pictures must be
// start's, or the error says that config adds more than whole blocks (`config_path`).
Weights grow_weights(const DualEncoder& start, const std::string& start_path, const ModelConfig& config,
                     const std::string& config_path, std::uint64_t seed);

}  // namespace opsis::train
