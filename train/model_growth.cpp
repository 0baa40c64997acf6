#include "train/model_growth.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace opsis::train {
namespace {

float largest_difference(const Tensor& a, const Tensor& b) {
    float most = 0.0f;
    for (std::int64_t i = 0; i < a.numel(); ++i) most = std::max(most, std::abs(a[i] - b[i]));
    return most;
}

// Pictures with structure at every scale (gradients, stripes, a disc), at the start model's size.
Tensor probe_pictures(int size) {
    Tensor pictures({2, size, size, 3});
    for (int n = 0; n < 2; ++n)
        for (int y = 0; y < size; ++y)
            for (int x = 0; x < size; ++x)
                for (int c = 0; c < 3; ++c) {
                    const float u = static_cast<float>(x) / size - 0.5f, v = static_cast<float>(y) / size - 0.5f;
                    const float value = n == 0 ? u * (c + 1) - v : (u * u + v * v < 0.1f ? 1.0f : -1.0f) *
                                                                      std::sin(static_cast<float>(3 * x + c));
                    pictures[((static_cast<std::int64_t>(n) * size + y) * size + x) * 3 + c] = value;
                }
    return pictures;
}

}  // namespace

Weights grow_weights(const DualEncoder& start, const std::string& start_path, const ModelConfig& config,
                     const std::string& config_path, std::uint64_t seed) {
    const std::vector<ParamSpec> specs = DualEncoder::param_specs(config);
    Weights grown = random_weights(specs, seed);
    for (const auto& [name, tensor] : start.weights()) {
        const auto at = grown.find(name);
        if (at == grown.end())
            throw input_error("--init model", start_path,
                              "has another architecture than --config " + config_path + ": its parameter '" + name +
                                  "' is not in --config's model");
        if (at->second.shape() != tensor.shape())
            throw input_error("--init model", start_path,
                              "has another architecture than --config " + config_path + ": its parameter '" + name +
                                  "' is " + tensor.shape_string() + " there and " +
                                  at->second.shape_string() + " in --config's model");
        at->second = tensor;
    }
    for (const ParamSpec& spec : specs) {
        if (start.weights().count(spec.name)) continue;
        if (spec.closes_residual) std::fill_n(grown.at(spec.name).data(), grown.at(spec.name).numel(), 0.0f);
    }

    // The weights do not depend on the image size or preprocessing; probe at the start model's.
    ModelConfig probe_config = config;
    probe_config.image.preprocess = start.config().image.preprocess;
    const DualEncoder probe = DualEncoder::from_weights(probe_config, start.tokenizer(), grown);
    const std::vector<std::string> captions{"a red apple", "σημαία της Ελλάδας", "a cat sitting on a mat"};
    const Tensor pictures = probe_pictures(start.config().image.preprocess.image_size);
    const float text_change = largest_difference(start.encode_texts(captions), probe.encode_texts(captions));
    const float image_change = largest_difference(start.encode_images(pictures), probe.encode_images(pictures));
    if (!(text_change <= 1e-5f && image_change <= 1e-5f))
        throw input_error("--config", config_path,
                          "adds parameters to the --init model " + start_path +
                              " that change what it computes (embeddings move by up to " +
                              std::to_string(std::max(text_change, image_change)) +
                              "): a model can only grow by whole blocks within its towers");
    return grown;
}

}  // namespace opsis::train
