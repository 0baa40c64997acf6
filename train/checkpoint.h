#pragma once
// A training checkpoint: weights (batch-norm statistics included), AdamW moments and the
// step, in one safetensors file written atomically, with the run's settings as metadata.
// Everything else a step needs derives from (seed, step), so resuming is bit-for-bit.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "encoder/weights.h"

namespace opsis::train {

struct Checkpoint {
    std::int64_t step = 0;  // steps completed
    std::int64_t adam_steps = 0;
    Weights weights, adam_m, adam_v;
    nlohmann::json meta;  // seed, config, best validation, history
};

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
Checkpoint load_checkpoint(const std::string& path);

}  // namespace opsis::train
