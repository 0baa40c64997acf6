#include "encoder/dual_encoder.h"

#include <cmath>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "encoder/clip_checkpoint.h"
#include "encoder/ops.h"
#include "encoder/safetensors.h"

namespace opsis {
namespace {
namespace fs = std::filesystem;
constexpr const char* kConfigKey = "opsis.config";
constexpr const char* kWeightsFile = "model.safetensors";
}  // namespace

std::string model_folder(const std::string& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) return path;
    if (fs::path(path).filename() == kWeightsFile || fs::path(path).filename() == "open_clip_model.safetensors")
        return fs::path(path).parent_path().string();
    if (!fs::exists(path, ec)) throw input_error("model", path, "no such file or folder");
    throw input_error("model", path, std::string("expected a model folder or its ") + kWeightsFile);
}

std::string model_weights_file(const std::string& folder) {
    const fs::path f(folder);
    return (fs::exists(f / "open_clip_config.json") ? f / "open_clip_model.safetensors" : f / kWeightsFile).string();
}

std::vector<ParamSpec> DualEncoder::param_specs(const ModelConfig& config) {
    std::vector<ParamSpec> specs = image_tower_params(config);
    for (ParamSpec& s : text_tower_params(config)) specs.push_back(std::move(s));
    specs.push_back({"logit_scale", {}, Init::constant, config.logit_scale, false});
    return specs;
}

DualEncoder DualEncoder::from_weights(ModelConfig config, Tokenizer tokenizer, Weights weights, Precision precision) {
    if (tokenizer.vocab_size() != config.text.vocab_size)
        throw Error("model '" + config.name + "': tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                    " tokens but the config says text.vocab_size = " + std::to_string(config.text.vocab_size));
    DualEncoder e;
    e.config_ = std::move(config);
    e.tokenizer_ = std::move(tokenizer);
    e.weights_ = std::move(weights);
    e.build_towers(precision);
    return e;
}

void DualEncoder::build_towers(Precision precision) {
    require_precision(precision);
    precision_ = precision;
    image_tower_ = make_image_tower(config_, weights_, precision);
    text_tower_ = std::make_shared<TextTower>(config_, weights_, precision);
}

DualEncoder DualEncoder::at_precision(Precision precision) const {
    DualEncoder copy = *this;
    if (precision != precision_) copy.build_towers(precision);
    return copy;
}

DualEncoder DualEncoder::random(ModelConfig config, Tokenizer tokenizer, std::uint64_t seed) {
    Weights weights = random_weights(param_specs(config), seed);
    return from_weights(std::move(config), std::move(tokenizer), std::move(weights));
}

namespace {

// An Opsis model folder: the config in the weights file's metadata, the tokenizer's files.
CheckpointContents read_opsis_folder(const std::string& folder, const std::string& weights_path) {
    const SafetensorsReader file(weights_path);
    const auto meta = file.metadata().find(kConfigKey);
    if (meta == file.metadata().end())
        throw input_error("model file", weights_path, std::string("no '") + kConfigKey + "' entry in its metadata");
    nlohmann::json config_json;
    try {
        config_json = nlohmann::json::parse(meta->second);
    } catch (const nlohmann::json::exception& e) {
        throw input_error("model file", weights_path, std::string("config metadata is malformed JSON: ") + e.what());
    }
    ModelConfig config = parse_model_config(config_json, weights_path);
    Weights weights = read_weights(file, DualEncoder::param_specs(config));
    return {std::move(config), std::move(weights), Tokenizer::load(folder)};
}

}  // namespace

DualEncoder DualEncoder::load(const std::string& path, Precision precision) {
    const std::string folder = model_folder(path);
    const std::string weights_path = model_weights_file(folder);
    std::optional<CheckpointContents> clip = read_clip_checkpoint(folder);
    CheckpointContents contents = clip ? std::move(*clip) : read_opsis_folder(folder, weights_path);
    ModelConfig& config = contents.config;
    Weights& weights = contents.weights;
    // Checked where weights enter from a file (the trainer guards its own): a non-finite weight
    // would make every score NaN; a huge logit scale, every softmax one-hot.
    for (const auto& [name, tensor] : weights)
        for (std::int64_t i = 0; i < tensor.numel(); ++i)
            if (!std::isfinite(tensor[i]))
                throw input_error("model file", weights_path,
                                  "weight '" + name + "' holds a non-finite value at index " + std::to_string(i));
    if (const float scale = weights.at("logit_scale")[0]; !(scale >= 0.0f && scale <= 6.908f))
        throw input_error(
            "model file", weights_path,
            "logit_scale " + std::to_string(scale) + " is outside 0..6.908 (a similarity scale between 1 and 1000)");
    std::optional<Lexicon> lexicon = Lexicon::load(folder);
    std::optional<RelevanceRule> relevance = RelevanceRule::load(folder);
    try {
        DualEncoder model =
            from_weights(std::move(config), std::move(contents.tokenizer), std::move(weights), precision);
        if (lexicon) model.lexicon_ = std::make_shared<const Lexicon>(std::move(*lexicon));
        if (relevance) model.relevance_ = std::make_shared<const RelevanceRule>(std::move(*relevance));
        return model;
    } catch (const Error& e) {
        throw input_error("model", folder, e.what());
    }
}

void DualEncoder::save(const std::string& folder) const {
    fs::create_directories(folder);
    tokenizer_.save(folder);
    write_safetensors((fs::path(folder) / kWeightsFile).string(), weights_,
                      {{kConfigKey, model_config_to_json(config_).dump()}, {"format", "pt"}});
}

std::int64_t DualEncoder::parameter_count() const { return opsis::parameter_count(weights_); }

Tensor DualEncoder::encode_images(const Tensor& images) const {
    const int s = config_.image.preprocess.image_size;
    expect_shape("encode_images", "batch", images, {-1, s, s, 3});
    Tensor features = image_tower_->forward(images);
    ops::l2_normalize_rows(features);
    return features;
}

Tensor DualEncoder::encode_image_places(const Tensor& images) const {
    const int s = config_.image.preprocess.image_size;
    expect_shape("encode_image_places", "batch", images, {-1, s, s, 3});
    return image_tower_->places_forward(images);
}

std::vector<Tensor> DualEncoder::image_stage_maps(const Tensor& images) const {
    const int s = config_.image.preprocess.image_size;
    expect_shape("image_stage_maps", "batch", images, {-1, s, s, 3});
    return image_tower_->stage_maps(images);
}

Tensor DualEncoder::preprocess(const std::vector<RgbaImage>& images) const {
    const int s = config_.image.preprocess.image_size;
    const std::int64_t n = static_cast<std::int64_t>(images.size()), per = static_cast<std::int64_t>(s) * s * 3;
    Tensor batch({n, s, s, 3});
    std::exception_ptr failure;  // exceptions must not escape an OpenMP region
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t i = 0; i < n; ++i) {
        try {
            preprocess_image(images[static_cast<std::size_t>(i)], config_.image.preprocess, batch.data() + i * per);
        } catch (...) {
#pragma omp critical
            if (!failure) failure = std::current_exception();
        }
    }
    if (failure) std::rethrow_exception(failure);
    return batch;
}

Tensor DualEncoder::encode_texts(const std::vector<std::string>& texts) const {
    std::vector<std::vector<std::int32_t>> rows;
    rows.reserve(texts.size());
    for (const std::string& text : texts)
        rows.push_back(tokenizer_.encode_for_model(text, config_.text.context_length));
    Tensor features = text_tower_->forward(rows);
    ops::l2_normalize_rows(features);
    return features;
}

}  // namespace opsis
