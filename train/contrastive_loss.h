#pragma once
// Symmetric InfoNCE over a batch of paired image and text embeddings (unit vectors), where
// every pair whose concepts match counts as a positive, not a negative: two Google and
// Twitter pictures of "red apple" in one batch must not be pushed apart.
#include <cstdint>
#include <vector>

#include "encoder/tensor.h"

namespace opsis::train {

struct ContrastiveResult {
    double loss = 0;
    Tensor d_images;           // dL/d image embeddings [B, E]
    Tensor d_texts;            // dL/d text embeddings [B, E]
    double d_logit_scale = 0;  // dL/d logit_scale (0 while the scale is clamped)
    double temperature = 0;    // 1 / exp(logit_scale) as used
};

// logits = exp(logit_scale) * images . texts^T, exp(logit_scale) clamped to max_scale.
// loss = (mean_i -log sum_{j~i} softmax_row_i(j) + mean_j -log sum_{i~j} softmax_col_j(i)) / 2
// With label smoothing e, each row's (and column's) term is (1 - e) times that plus e times
// the cross-entropy against the uniform distribution, -mean_j log softmax(j).
ContrastiveResult contrastive_loss(const Tensor& images, const Tensor& texts, const std::vector<std::int32_t>& concepts,
                                   float logit_scale, float max_scale = 100.0f, float label_smoothing = 0.0f);

}  // namespace opsis::train
