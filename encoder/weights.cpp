#include "encoder/weights.h"

#include <random>
#include <set>

#include "core/error.h"
#include "encoder/safetensors.h"

namespace opsis {

const Tensor& weight(const Weights& weights, const std::string& name) {
    const auto it = weights.find(name);
    if (it == weights.end()) throw Error("model weights lack tensor '" + name + "'");
    return it->second;
}

std::int64_t parameter_count(const Weights& weights) {
    std::int64_t n = 0;
    for (const auto& [name, tensor] : weights) n += tensor.numel();
    return n;
}

Weights random_weights(const std::vector<ParamSpec>& specs, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    Weights weights;
    for (const ParamSpec& spec : specs) {
        Tensor t(spec.shape);
        switch (spec.init) {
            case Init::normal: {
                std::normal_distribution<float> normal(0.0f, spec.value);
                for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = normal(rng);
                break;
            }
            case Init::zeros: break;
            case Init::ones: t = Tensor::filled(spec.shape, 1.0f); break;
            case Init::constant: t = Tensor::filled(spec.shape, spec.value); break;
        }
        weights.emplace(spec.name, std::move(t));
    }
    return weights;
}

Weights read_weights(const SafetensorsReader& file, const std::vector<ParamSpec>& specs) {
    Weights weights;
    std::set<std::string> declared;
    for (const ParamSpec& spec : specs) {
        declared.insert(spec.name);
        const auto it = file.entries().find(spec.name);
        if (it == file.entries().end())
            throw input_error("model file", file.path(),
                              "missing tensor '" + spec.name + "' " + shape_to_string(spec.shape));
        if (it->second.shape != spec.shape)
            throw input_error("model file", file.path(),
                              "tensor '" + spec.name + "' has shape " + shape_to_string(it->second.shape) +
                                  " but the config needs " + shape_to_string(spec.shape));
        weights.emplace(spec.name, file.read(spec.name));
    }
    for (const auto& [name, entry] : file.entries())
        if (!declared.count(name))
            throw input_error("model file", file.path(),
                              "unexpected tensor '" + name + "' (not part of the configured model)");
    return weights;
}

void add_layer_norm_params(std::vector<ParamSpec>& specs, const std::string& prefix, std::int64_t width) {
    specs.push_back({prefix + ".weight", {width}, Init::ones, 0.0f, false});
    specs.push_back({prefix + ".bias", {width}, Init::zeros, 0.0f, false});
}

void add_linear_params(std::vector<ParamSpec>& specs, const std::string& prefix, std::int64_t out, std::int64_t in,
                       float stddev, bool closes_residual) {
    specs.push_back({prefix + ".weight", {out, in}, Init::normal, stddev, true, true, closes_residual});
    specs.push_back({prefix + ".bias", {out}, Init::zeros, 0.0f, false, true, closes_residual});
}

}  // namespace opsis
