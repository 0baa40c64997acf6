#include "train/optimizer.h"

#include <cmath>

#include "core/error.h"

namespace opsis::train {

float LearningRateSchedule::at(std::int64_t step) const {
    if (warmup_steps > 0 && step < warmup_steps)
        return peak * static_cast<float>(step + 1) / static_cast<float>(warmup_steps);
    const double span = static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps));
    const double progress = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
    const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
    return static_cast<float>(peak * (final_fraction + (1.0 - final_fraction) * cosine));
}

AdamW::AdamW(const std::vector<ParamSpec>& specs, AdamWOptions options) : options_(options) {
    for (const ParamSpec& s : specs)
        if (s.trainable) {
            specs_.push_back(s);
            m_.emplace(s.name, Tensor(s.shape));
            v_.emplace(s.name, Tensor(s.shape));
        }
}

void AdamW::step(Weights& weights, const Gradients& grads, float lr) {
    ++steps_;
    const double correction1 = 1.0 - std::pow(static_cast<double>(options_.beta1), static_cast<double>(steps_));
    const double correction2 = 1.0 - std::pow(static_cast<double>(options_.beta2), static_cast<double>(steps_));
    const float step_size = static_cast<float>(lr / correction1);
    const float inv_sqrt_c2 = static_cast<float>(1.0 / std::sqrt(correction2));
    const float b1 = options_.beta1, b2 = options_.beta2, eps = options_.eps;
    for (const ParamSpec& s : specs_) {
        Tensor& w = weights.at(s.name);
        const Tensor& g = grads.at(s.name);
        float* m = m_.at(s.name).data();
        float* v = v_.at(s.name).data();
        const float decay = s.decay ? 1.0f - lr * options_.weight_decay : 1.0f;
        float* wd = w.data();
        const float* gd = g.data();
        const std::int64_t n = w.numel();
#pragma omp parallel for simd schedule(static)
        for (std::int64_t i = 0; i < n; ++i) {
            m[i] = b1 * m[i] + (1.0f - b1) * gd[i];
            v[i] = b2 * v[i] + (1.0f - b2) * gd[i] * gd[i];
            wd[i] = wd[i] * decay - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + eps);
        }
    }
}

double clip_gradient_norm(Gradients& grads, double max_norm) {
    double sum = 0;
    for (const auto& [name, g] : grads)
        for (std::int64_t i = 0; i < g.numel(); ++i) sum += static_cast<double>(g[i]) * g[i];
    const double norm = std::sqrt(sum);
    if (max_norm > 0 && norm > max_norm) {
        const float scale = static_cast<float>(max_norm / norm);
        for (auto& [name, g] : grads)
            for (std::int64_t i = 0; i < g.numel(); ++i) g[i] *= scale;
    }
    return norm;
}

}  // namespace opsis::train
