#pragma once
// The architecture of a dual encoder, read from and written to JSON. Unknown keys, missing
// keys and impossible sizes are errors that name the key.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "image/preprocess.h"
#include "encoder/ops.h"
#include "encoder/transformer.h"

namespace opsis {

struct ResNetConfig {
    int stem_channels = 32;
    int stem_stride = 2;
    bool stem_pool = false;  // 3x3 max-pool, stride 2, after the stem
    std::vector<int> stage_channels{32, 64, 128, 256};
    std::vector<int> stage_blocks{1, 1, 1, 1};  // basic blocks per stage; stages after the first halve the size
};

struct VitConfig {
    int patch_size = 32;
    TransformerShape transformer{768, 12, 12, 4, ops::Activation::quick_gelu};
};

struct ImageTowerConfig {
    enum class Arch { resnet, vit } arch = Arch::resnet;
    PreprocessOptions preprocess;  // image_size, mean, std, background
    ResNetConfig resnet;
    VitConfig vit;
};

struct TextTowerConfig {
    int vocab_size = 0;  // must equal the tokenizer's
    int context_length = 32;
    TransformerShape transformer{256, 4, 4, 4, ops::Activation::gelu};
};

struct ModelConfig {
    std::string name = "opsis";
    int embed_dim = 256;
    float logit_scale = 2.6592600f;  // log(1 / 0.07), CLIP's starting temperature
    ImageTowerConfig image;
    TextTowerConfig text;
};

// `source` names where the JSON came from in error messages.
ModelConfig parse_model_config(const nlohmann::json& json, const std::string& source);
// A config file's JSON, unchecked; a malformed file is an error that names it.
nlohmann::json read_model_config_json(const std::string& path);
// A config file for a tokenizer of `vocab_size` tokens: its text.vocab_size may be left out (it
// is the tokenizer's) and otherwise must be that, or the error names the file.
ModelConfig load_model_config(const std::string& path, int vocab_size);
nlohmann::json model_config_to_json(const ModelConfig& config);

}  // namespace opsis
