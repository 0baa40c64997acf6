#pragma once
// The dual encoder in training mode: forward passes that keep what backward needs, and
// backward passes that add every parameter's gradient, side by side. Batch-norm uses batch
// statistics and updates its running statistics in the weights (inference folds them).
#include <cstdint>
#include <vector>

#include "encoder/model_config.h"
#include "encoder/weights.h"
#include "train/contrastive_loss.h"

namespace opsis::train {

// Gradients are keyed like the weights; only trainable parameters have one.
using Gradients = Weights;
Gradients zero_gradients(const std::vector<ParamSpec>& specs);
void clear(Gradients& grads);

struct StepOutcome {
    double loss = 0;
    double temperature = 0;
};

class TrainableDualEncoder {
public:
    // The ResNet image tower and the text tower train; a ViT image tower is inference-only
    // (it exists to run imported CLIP weights), so it is refused here with that reason.
    TrainableDualEncoder(ModelConfig config, Weights weights);
    ~TrainableDualEncoder();
    TrainableDualEncoder(TrainableDualEncoder&&) noexcept;

    const ModelConfig& config() const { return config_; }
    const Weights& weights() const { return weights_; }
    Weights& weights() { return weights_; }
    const std::vector<ParamSpec>& specs() const { return specs_; }

    // One forward and backward pass: images [B, S, S, 3] (preprocessed), token rows from
    // Tokenizer::encode_for_model, concept ids for the loss. Adds gradients into grads.
    StepOutcome forward_backward(const Tensor& images, const std::vector<std::vector<std::int32_t>>& token_rows,
                                 const std::vector<std::int32_t>& concepts, Gradients& grads, float label_smoothing = 0.0f);

private:
    struct ImagePass;
    struct TextPass;
    ModelConfig config_;
    Weights weights_;
    std::vector<ParamSpec> specs_;
};

}  // namespace opsis::train
