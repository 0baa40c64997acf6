#pragma once
// Pretrained CLIP checkpoints as people download them, read into Opsis's own names and config:
//   Hugging Face CLIPModel: config.json, model.safetensors ("vision_model.*", "text_model.*",
//     separate q/k/v projections), vocab.json + merges.txt;
//   OpenCLIP: open_clip_config.json, open_clip_model.safetensors (OpenAI's names, which are
//     Opsis's), tokenized with CLIP's own merges (built in: encoder/clip/).
// Both tokenize as CLIP does (Tokenizer::Cleaning::clip) and take CLIP's preprocessing from
// their config. Anything Opsis cannot run exactly (another activation, a projection that
// disagrees with the config, missing or surplus tensors) is an error naming the file.
#include <optional>
#include <string>

#include "encoder/model_config.h"
#include "encoder/tokenizer.h"
#include "encoder/weights.h"

namespace opsis {

struct CheckpointContents {
    ModelConfig config;
    Weights weights;  // Opsis's names and shapes: DualEncoder::param_specs(config)
    Tokenizer tokenizer;
};

// Which layout a model folder holds: "openclip", "huggingface" (CLIPModel) or "opsis".
std::string checkpoint_format(const std::string& folder);

// nullopt when the folder holds neither CLIP layout (an Opsis model folder, say).
std::optional<CheckpointContents> read_clip_checkpoint(const std::string& folder);

// CLIP's tokenizer: the first 48,894 merges of OpenAI's bpe_simple_vocab_16e6 (MIT licence,
// encoder/clip/), vocabulary 49,408, CLIP's cleaning.
Tokenizer clip_tokenizer();

}  // namespace opsis
