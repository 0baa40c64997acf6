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

// The text tower's rows grouped by length (sorted, cut to minimise padded tokens plus
// cost_per_group for each group); each group lists row indices. Exposed for its test.
std::vector<std::vector<std::size_t>> group_rows_by_length(const std::vector<std::vector<std::int32_t>>& rows,
                                                           std::int64_t cost_per_group);

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
                                 const std::vector<std::int32_t>& concepts, Gradients& grads,
                                 float label_smoothing = 0.0f);

    // The text tower alone on pairs of texts that mean one thing (train/text_pairs.h): the
    // contrastive loss of rows a against rows b, pairs of one group positives, at the image-text
    // loss's temperature (not learnt from this loss). Adds `weight` times its gradients into grads
    // and returns the loss unweighted.
    StepOutcome forward_backward_text_pairs(const std::vector<std::vector<std::int32_t>>& rows_a,
                                            const std::vector<std::vector<std::int32_t>>& rows_b,
                                            const std::vector<std::int32_t>& groups, Gradients& grads, float weight);

    // The unit embeddings the training towers give, forward only, with batch-norm on its running
    // statistics as inference uses them (nothing is updated): what the inference towers
    // (encoder/*_tower.cpp) must agree with, and a test checks that they do.
    struct Embeddings {
        Tensor images, texts;
    };
    Embeddings embed(const Tensor& images, const std::vector<std::vector<std::int32_t>>& token_rows);

    // The text tower runs on groups of rows of similar length; one more group costs this many
    // padded tokens' worth of work (GEMM set-up, barriers). Any value gives the same loss and
    // gradients; 0 splits at every length, a huge value pads the whole batch to its longest.
    static constexpr std::int64_t kDefaultTextGroupCost = 256;
    void set_text_group_cost(std::int64_t tokens) { text_group_cost_ = tokens; }

private:
    struct ImagePass;
    struct TextPass;
    struct TextGroups;
    ModelConfig config_;
    Weights weights_;
    std::vector<ParamSpec> specs_;
    std::int64_t text_group_cost_ = kDefaultTextGroupCost;
};

}  // namespace opsis::train
