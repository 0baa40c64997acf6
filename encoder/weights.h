#pragma once
// Named parameters: what a model declares (ParamSpec: name, shape, how to initialise, whether
// weight decay applies), and the tensors that fill those declarations.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "encoder/tensor.h"

namespace opsis {

class SafetensorsReader;

enum class Init { normal, zeros, ones, constant };

struct ParamSpec {
    std::string name;
    Shape shape;
    Init init = Init::normal;
    float value = 0.0f;     // standard deviation for normal, the value for constant
    bool decay = true;      // AdamW weight decay (off for norms, biases, embeddings)
    bool trainable = true;  // false for statistics such as batch-norm running means
    // The last layer of a residual branch: in a block a model grows by (train --init with a
    // deeper --config) it starts at zero, so the block starts as the identity.
    bool closes_residual = false;
};

using Weights = std::map<std::string, Tensor>;

// How many numbers the tensors hold together.
std::int64_t parameter_count(const Weights& weights);

// The tensor called name; throws opsis::Error if it is absent.
const Tensor& weight(const Weights& weights, const std::string& name);

// Deterministic for a seed: parameters are drawn in the order of specs.
Weights random_weights(const std::vector<ParamSpec>& specs, std::uint64_t seed);

// Reads exactly the declared tensors: each must be present with its declared shape, and the
// file may hold nothing else. Errors name the file and the tensor.
Weights read_weights(const SafetensorsReader& file, const std::vector<ParamSpec>& specs);

// Helpers for building spec lists.
void add_layer_norm_params(std::vector<ParamSpec>& specs, const std::string& prefix, std::int64_t width);
void add_linear_params(std::vector<ParamSpec>& specs, const std::string& prefix, std::int64_t out, std::int64_t in,
                       float stddev, bool closes_residual = false);

}  // namespace opsis
