#pragma once
// AdamW with decoupled weight decay (none on norms, biases, embeddings, the logit scale),
// linear warm-up then cosine decay, and clipping by the global gradient norm.
#include <cstdint>
#include <vector>

#include "encoder/weights.h"
#include "train/trainable_model.h"

namespace opsis::train {

struct AdamWOptions {
    float beta1 = 0.9f;
    float beta2 = 0.98f;
    float eps = 1e-6f;
    float weight_decay = 0.1f;
};

struct LearningRateSchedule {
    float peak = 5e-4f;
    std::int64_t warmup_steps = 100;
    std::int64_t total_steps = 1000;
    float final_fraction = 0.02f;  // the cosine ends at peak * final_fraction
    // Step counts from 0; warm-up rises linearly to peak, then a cosine falls to the floor.
    float at(std::int64_t step) const;
};

class AdamW {
public:
    AdamW(const std::vector<ParamSpec>& specs, AdamWOptions options);
    // One update of every trainable weight from its gradient.
    void step(Weights& weights, const Gradients& grads, float lr);

    std::int64_t steps_taken() const { return steps_; }
    // Moments, for checkpoints: keyed like the weights.
    Weights& first_moment() { return m_; }
    Weights& second_moment() { return v_; }
    void set_steps_taken(std::int64_t steps) { steps_ = steps; }

private:
    AdamWOptions options_;
    std::vector<ParamSpec> specs_;
    Weights m_, v_;
    std::int64_t steps_ = 0;
};

// Scales all gradients so their global L2 norm is at most max_norm; returns the norm before.
double clip_gradient_norm(Gradients& grads, double max_norm);

}  // namespace opsis::train
