#pragma once
// The dual encoder: image and text towers projecting into one L2-normalised space, plus the
// learned logit scale. A model is a folder: model.safetensors (weights, with the config as
// JSON under the metadata key "opsis.config"), vocab.json and merges.txt (the tokenizer), and
// optionally lexicon.tsv (the words it was trained on: encoder/lexicon.h) and relevance.json
// (when a hit is likely relevant: encoder/relevance.h).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "image/decode.h"
#include "encoder/image_tower.h"
#include "encoder/lexicon.h"
#include "encoder/model_config.h"
#include "encoder/precision.h"
#include "encoder/relevance.h"
#include "encoder/text_tower.h"
#include "encoder/tokenizer.h"
#include "encoder/weights.h"

namespace opsis {

class DualEncoder {
public:
    // `path` is a model folder or its model.safetensors file: Opsis's own, or a CLIP checkpoint
    // (encoder/clip_checkpoint.h). Every tensor is checked against the config; the tokenizer's
    // size must match the config's vocab_size. The towers' weight products run at `precision`
    // (encoder/precision.h: bf16 and int8 only where the CPU has them, else an Error).
    static DualEncoder load(const std::string& path, Precision precision = Precision::fp32);
    static DualEncoder from_weights(ModelConfig config, Tokenizer tokenizer, Weights weights,
                                    Precision precision = Precision::fp32);
    static DualEncoder random(ModelConfig config, Tokenizer tokenizer, std::uint64_t seed);
    void save(const std::string& folder) const;

    // Every parameter the config declares, in a fixed order.
    static std::vector<ParamSpec> param_specs(const ModelConfig& config);

    const ModelConfig& config() const { return config_; }
    const Tokenizer& tokenizer() const { return tokenizer_; }
    // The words it was trained on, when its folder has a lexicon (loaded, never saved: the
    // lexicon is written by data/build-lexicon beside the weights); else null.
    const Lexicon* lexicon() const { return lexicon_.get(); }
    // When its hits are likely relevant, when its folder has a calibrated rule (loaded, never
    // saved: `opsis model calibrate` writes it for the weights it measured); else null.
    const RelevanceRule* relevance() const { return relevance_.get(); }
    const Weights& weights() const { return weights_; }
    Precision precision() const { return precision_; }
    // A copy of the model with its towers packed for another precision.
    DualEncoder at_precision(Precision precision) const;
    float logit_scale() const { return weights_.at("logit_scale")[0]; }
    std::int64_t parameter_count() const;

    // Preprocessed images [N, S, S, 3] -> unit vectors [N, embed_dim].
    Tensor encode_images(const Tensor& images) const;
    // Preprocessed images [N, S, S, 3] -> each place of the last feature map in the joint
    // space [N, h, w, embed_dim], not normalised (ImageTower::places_forward).
    Tensor encode_image_places(const Tensor& images) const;
    // Preprocessed images -> the maps a filter visualisation looks into (ImageTower::stage_maps).
    std::vector<Tensor> image_stage_maps(const Tensor& images) const;
    // Decoded images -> the towers' input batch (in parallel).
    Tensor preprocess(const std::vector<RgbaImage>& images) const;
    // Texts -> unit vectors [N, embed_dim]; invalid UTF-8 throws, long texts are truncated.
    Tensor encode_texts(const std::vector<std::string>& texts) const;

private:
    DualEncoder() = default;
    void build_towers(Precision precision);
    ModelConfig config_;
    Tokenizer tokenizer_ = Tokenizer::bytes_only();
    Weights weights_;
    Precision precision_ = Precision::fp32;
    std::shared_ptr<const ImageTower> image_tower_;
    std::shared_ptr<const TextTower> text_tower_;
    std::shared_ptr<const Lexicon> lexicon_;
    std::shared_ptr<const RelevanceRule> relevance_;
};

// Resolves a model path (folder or .safetensors file) to its folder.
std::string model_folder(const std::string& path);
// The file holding a model folder's weights: model.safetensors, or an OpenCLIP folder's
// open_clip_model.safetensors.
std::string model_weights_file(const std::string& folder);

}  // namespace opsis
