#include "encoder/clip_checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/file_io.h"
#include "encoder/dual_encoder.h"
#include "encoder/safetensors.h"

// CLIP's merges file, built into the binary (OPSIS_CLIP_MERGES: its path, set by CMake), so an
// OpenCLIP folder, which carries no tokenizer, needs nothing beside it.
__asm__(
    ".pushsection .rodata\n"
    ".balign 16\n"
    "opsis_clip_merges_begin:\n"
    ".incbin \"" OPSIS_CLIP_MERGES
    "\"\n"
    "opsis_clip_merges_end:\n"
    ".popsection\n");
extern "C" const unsigned char opsis_clip_merges_begin[], opsis_clip_merges_end[];

namespace opsis {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::uint64_t kMaxConfigFile = 16ull << 20;
constexpr int kClipMerges = 49152 - 256 - 2;  // the merges CLIP's vocabulary is made of
constexpr int kClipVocabulary = 49408;
// CLIP's normalisation of [0, 1] pixels (its preprocessing's default).
constexpr std::array<float, 3> kClipMean{0.48145466f, 0.4578275f, 0.40821073f};
constexpr std::array<float, 3> kClipStd{0.26862954f, 0.26130258f, 0.27577711f};

std::string gunzip(const unsigned char* data, std::size_t size) {
    z_stream z{};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw Error("CLIP merges: zlib cannot start");
    z.next_in = const_cast<unsigned char*>(data);
    z.avail_in = static_cast<uInt>(size);
    std::string out;
    char buffer[1 << 16];
    int status = Z_OK;
    while (status == Z_OK) {
        z.next_out = reinterpret_cast<unsigned char*>(buffer);
        z.avail_out = sizeof buffer;
        status = inflate(&z, Z_NO_FLUSH);
        out.append(buffer, sizeof buffer - z.avail_out);
    }
    inflateEnd(&z);
    if (status != Z_STREAM_END) throw Error("CLIP merges: the built-in file is damaged");
    return out;
}

json read_json(const std::string& path) {
    try {
        return json::parse(read_text_file(path, kMaxConfigFile));
    } catch (const json::exception& e) {
        throw input_error("checkpoint config", path, std::string("is not valid JSON: ") + e.what());
    }
}

// A config's object of settings, read with defaults; every key must be one Opsis knows, and
// keys that change the architecture must have the value Opsis runs.
class Settings {
public:
    Settings(const json& j, std::string where, std::string path)
        : j_(j), where_(std::move(where)), path_(std::move(path)) {
        if (!j_.is_object()) fail("", "must be an object");
    }
    int integer(const std::string& key, int fallback) {
        seen_.insert(key);
        if (!j_.contains(key) || j_[key].is_null()) return fallback;
        if (!j_[key].is_number_integer() || j_[key].get<long long>() < 1 || j_[key].get<long long>() > 1 << 20)
            fail(key, "must be a whole number from 1 to 1048576");
        return j_[key].get<int>();
    }
    double number(const std::string& key, double fallback) {
        seen_.insert(key);
        if (!j_.contains(key) || j_[key].is_null()) return fallback;
        if (!j_[key].is_number()) fail(key, "must be a number");
        return j_[key].get<double>();
    }
    std::string string(const std::string& key, const std::string& fallback) {
        seen_.insert(key);
        if (!j_.contains(key) || j_[key].is_null()) return fallback;
        if (!j_[key].is_string()) fail(key, "must be a string");
        return j_[key].get<std::string>();
    }
    const json& object(const std::string& key) {
        seen_.insert(key);
        if (!j_.contains(key)) fail(key, "is missing");
        return j_[key];
    }
    // Keys read elsewhere or of no consequence for inference (ids, names, training settings).
    void ignore(std::initializer_list<const char*> keys) { seen_.insert(keys.begin(), keys.end()); }
    // Keys whose only value Opsis runs is `expected` (or absent, or null).
    void expect(const std::string& key, const json& expected) {
        seen_.insert(key);
        if (j_.contains(key) && !j_[key].is_null() && j_[key] != expected)
            fail(key, "is " + j_[key].dump() + "; Opsis runs CLIP's architecture, where it is " + expected.dump());
    }
    // Every other key is an architecture Opsis does not run.
    void finish() const {
        for (const auto& [key, value] : j_.items())
            if (!seen_.count(key)) fail(key, "is not something Opsis knows how to run (" + value.dump() + ")");
    }
    [[noreturn]] void fail(const std::string& key, const std::string& reason) const {
        throw input_error("checkpoint config", path_,
                          where_ + (key.empty() ? "" : (where_.empty() ? "" : ".") + key) + " " + reason);
    }

private:
    const json& j_;
    std::string where_, path_;
    std::set<std::string> seen_;
};

std::string activation_name(const std::string& act, Settings& s, const std::string& key) {
    if (act == "quick_gelu" || act == "gelu") return act;
    s.fail(key, "is '" + act + "'; Opsis runs quick_gelu or gelu");
}

// Opsis's config for a ViT CLIP, checked by Opsis's own config parser as well.
ModelConfig vit_clip_config(const std::string& name, int embed_dim, int image_size, int patch, int vision_width,
                            int vision_layers, int vision_heads, int vision_mlp, const std::string& activation,
                            int vocab, int context, int text_width, int text_layers, int text_heads, int text_mlp,
                            const std::array<float, 3>& mean, const std::array<float, 3>& std,
                            const std::string& path) {
    const json j{{"name", name},
                 {"embed_dim", embed_dim},
                 {"image",
                  {{"arch", "vit"},
                   {"image_size", image_size},
                   {"mean", mean},
                   {"std", std},
                   {"background", {255, 255, 255}},
                   {"trim_transparent", false},
                   {"fit", "resize_crop"},
                   {"patch_size", patch},
                   {"width", vision_width},
                   {"layers", vision_layers},
                   {"heads", vision_heads},
                   {"mlp_ratio", vision_mlp},
                   {"activation", activation}}},
                 {"text",
                  {{"vocab_size", vocab},
                   {"context_length", context},
                   {"width", text_width},
                   {"layers", text_layers},
                   {"heads", text_heads},
                   {"mlp_ratio", text_mlp},
                   {"activation", activation}}}};
    return parse_model_config(j, path);
}

int mlp_ratio(int hidden, int width, Settings& s, const std::string& key) {
    if (hidden % width != 0) s.fail(key, "is " + std::to_string(hidden) + ", not a whole multiple of the width");
    return hidden / width;
}

std::array<float, 3> three(const json& j, const std::array<float, 3>& fallback, const std::string& what,
                           const std::string& path) {
    if (j.is_null()) return fallback;
    if (!j.is_array() || j.size() != 3 || !j[0].is_number() || !j[1].is_number() || !j[2].is_number())
        throw input_error("checkpoint config", path, what + " must be three numbers");
    return {j[0].get<float>(), j[1].get<float>(), j[2].get<float>()};
}

// The checkpoint's tensors must be exactly what the config declares.
Weights checked(Weights weights, const ModelConfig& config, const std::string& path) {
    for (const ParamSpec& spec : DualEncoder::param_specs(config)) {
        const auto it = weights.find(spec.name);
        if (it == weights.end()) throw input_error("model file", path, "missing tensor for '" + spec.name + "'");
        if (it->second.shape() != spec.shape)
            throw input_error("model file", path,
                              "tensor for '" + spec.name + "' has shape " + shape_to_string(it->second.shape()) +
                                  " but the config needs " + shape_to_string(spec.shape));
    }
    return weights;
}

// ---- OpenCLIP ---------------------------------------------------------------------------------

CheckpointContents read_open_clip(const std::string& folder) {
    const std::string config_path = (fs::path(folder) / "open_clip_config.json").string();
    const json j = read_json(config_path);
    Settings top(j, "", config_path);
    const json& model_json = top.object("model_cfg");
    Settings model(model_json, "model_cfg", config_path);
    top.ignore({"preprocess_cfg"});
    top.finish();
    const int embed = model.integer("embed_dim", 512);
    model.ignore({"quick_gelu"});
    if (model_json.contains("quick_gelu") && !model_json["quick_gelu"].is_boolean())
        model.fail("quick_gelu", "must be true or false");
    const bool quick = model_json.value("quick_gelu", false);
    model.expect("custom_text", false);
    model.ignore({"cast_dtype", "init_logit_scale"});
    Settings vision(model.object("vision_cfg"), "model_cfg.vision_cfg", config_path);
    Settings text(model.object("text_cfg"), "model_cfg.text_cfg", config_path);
    model.finish();

    const json& vision_json = model_json["vision_cfg"];
    int image_size = 224;
    if (vision_json.contains("image_size") && vision_json["image_size"].is_array()) {
        const json& size = vision.object("image_size");
        if (size.size() != 2 || size[0] != size[1] || !size[0].is_number_integer())
            vision.fail("image_size", "must be one size or two equal sizes");
        image_size = size[0].get<int>();
    } else {
        image_size = vision.integer("image_size", 224);
    }
    const int vision_width = vision.integer("width", 768), head_width = vision.integer("head_width", 64);
    if (vision_width % head_width != 0) vision.fail("head_width", "does not divide the width");
    const double vision_mlp = vision.number("mlp_ratio", 4.0);
    if (vision_mlp != static_cast<int>(vision_mlp)) vision.fail("mlp_ratio", "must be a whole number");
    const int vision_layers = vision.integer("layers", 12), patch = vision.integer("patch_size", 16);
    vision.expect("ls_init_value", nullptr);
    vision.expect("patch_dropout", 0.0);
    vision.expect("attentional_pool", false);
    vision.expect("global_average_pool", false);
    vision.expect("no_ln_pre", false);
    vision.expect("pool_type", "tok");
    vision.expect("final_ln_after_pool", false);
    vision.expect("output_tokens", false);
    vision.expect("timm_model_name", nullptr);
    vision.finish();

    const int context = text.integer("context_length", 77), vocab = text.integer("vocab_size", kClipVocabulary);
    const int text_width = text.integer("width", 512), text_heads = text.integer("heads", 8);
    const int text_layers = text.integer("layers", 12);
    const double text_mlp = text.number("mlp_ratio", 4.0);
    if (text_mlp != static_cast<int>(text_mlp)) text.fail("mlp_ratio", "must be a whole number");
    text.expect("ls_init_value", nullptr);
    text.expect("hf_model_name", nullptr);
    text.expect("proj_bias", false);
    text.expect("pool_type", "argmax");
    text.expect("embed_cls", false);
    text.expect("no_causal_mask", false);
    text.expect("output_tokens", false);
    text.finish();

    const json preprocess = j.contains("preprocess_cfg") ? j["preprocess_cfg"] : json::object();
    if (!preprocess.is_object()) top.fail("preprocess_cfg", "must be an object");
    const ModelConfig config = vit_clip_config(
        fs::path(folder).filename().string(), embed, image_size, patch, vision_width, vision_layers,
        vision_width / head_width, static_cast<int>(vision_mlp), quick ? "quick_gelu" : "gelu", vocab, context,
        text_width, text_layers, text_heads, static_cast<int>(text_mlp),
        three(preprocess.value("mean", json()), kClipMean, "preprocess_cfg.mean", config_path),
        three(preprocess.value("std", json()), kClipStd, "preprocess_cfg.std", config_path), config_path);
    const SafetensorsReader file((fs::path(folder) / "open_clip_model.safetensors").string());
    return {config, read_weights(file, DualEncoder::param_specs(config)), clip_tokenizer()};
}

// ---- Hugging Face CLIPModel -------------------------------------------------------------------

Tensor transposed(const Tensor& t) {
    const std::int64_t rows = t.shape()[0], cols = t.shape()[1];
    Tensor out({cols, rows});
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) out[c * rows + r] = t[r * cols + c];
    return out;
}

Tensor stacked(const std::vector<Tensor>& parts) {
    Shape shape = parts.front().shape();
    shape[0] = 0;
    for (const Tensor& p : parts) shape[0] += p.shape()[0];
    Tensor out(shape);
    std::int64_t at = 0;
    for (const Tensor& p : parts) {
        std::copy(p.data(), p.data() + p.numel(), out.data() + at);
        at += p.numel();
    }
    return out;
}

class HfTensors {
public:
    explicit HfTensors(const std::string& path) : file_(path) {}
    Tensor take(const std::string& name, const Shape& shape) {
        if (!file_.contains(name))
            throw input_error("model file", file_.path(), "missing tensor '" + name + "' " + shape_to_string(shape));
        if (file_.entries().at(name).shape != shape)
            throw input_error("model file", file_.path(),
                              "tensor '" + name + "' has shape " + shape_to_string(file_.entries().at(name).shape) +
                                  " but config.json says " + shape_to_string(shape));
        used_.insert(name);
        return file_.read(name);
    }
    // Hugging Face keeps position ids beside the weights; anything else left over is a part of
    // a model Opsis would not run.
    void finish() const {
        for (const auto& [name, entry] : file_.entries())
            if (!used_.count(name) && !name.ends_with("embeddings.position_ids"))
                throw input_error(
                    "model file", file_.path(),
                    "unexpected tensor '" + name + "' (not part of a CLIPModel as config.json describes it)");
    }
    const std::string& path() const { return file_.path(); }

private:
    SafetensorsReader file_;
    std::set<std::string> used_;
};

void hf_blocks(HfTensors& hf, Weights& w, const std::string& from, const std::string& to, int layers, int width,
               int hidden) {
    const std::int64_t W = width, H = hidden;
    for (int i = 0; i < layers; ++i) {
        const std::string a = from + ".encoder.layers." + std::to_string(i) + ".",
                          b = to + "resblocks." + std::to_string(i) + ".";
        w[b + "ln_1.weight"] = hf.take(a + "layer_norm1.weight", {W});
        w[b + "ln_1.bias"] = hf.take(a + "layer_norm1.bias", {W});
        w[b + "attn.in_proj_weight"] =
            stacked({hf.take(a + "self_attn.q_proj.weight", {W, W}), hf.take(a + "self_attn.k_proj.weight", {W, W}),
                     hf.take(a + "self_attn.v_proj.weight", {W, W})});
        w[b + "attn.in_proj_bias"] =
            stacked({hf.take(a + "self_attn.q_proj.bias", {W}), hf.take(a + "self_attn.k_proj.bias", {W}),
                     hf.take(a + "self_attn.v_proj.bias", {W})});
        w[b + "attn.out_proj.weight"] = hf.take(a + "self_attn.out_proj.weight", {W, W});
        w[b + "attn.out_proj.bias"] = hf.take(a + "self_attn.out_proj.bias", {W});
        w[b + "ln_2.weight"] = hf.take(a + "layer_norm2.weight", {W});
        w[b + "ln_2.bias"] = hf.take(a + "layer_norm2.bias", {W});
        w[b + "mlp.c_fc.weight"] = hf.take(a + "mlp.fc1.weight", {H, W});
        w[b + "mlp.c_fc.bias"] = hf.take(a + "mlp.fc1.bias", {H});
        w[b + "mlp.c_proj.weight"] = hf.take(a + "mlp.fc2.weight", {W, H});
        w[b + "mlp.c_proj.bias"] = hf.take(a + "mlp.fc2.bias", {W});
    }
}

CheckpointContents read_hugging_face(const std::string& folder) {
    const std::string config_path = (fs::path(folder) / "config.json").string();
    const json j = read_json(config_path);
    Settings top(j, "", config_path);
    const int embed = top.integer("projection_dim", 512);
    top.ignore({"architectures", "model_type", "logit_scale_init_value", "initializer_factor", "torch_dtype",
                "transformers_version", "text_config_dict", "vision_config_dict", "_name_or_path", "_commit_hash"});
    Settings text(top.object("text_config"), "text_config", config_path);
    Settings vision(top.object("vision_config"), "vision_config", config_path);
    top.finish();
    for (Settings* s : {&text, &vision}) {
        if (const double eps = s->number("layer_norm_eps", 1e-5); std::abs(eps - 1e-5) > 1e-12)
            s->fail("layer_norm_eps", "is " + std::to_string(eps) + "; Opsis's layer norms use CLIP's 1e-5");
        if (s->integer("projection_dim", embed) != embed)
            s->fail("projection_dim", "disagrees with the model's projection_dim " + std::to_string(embed));
        // Training settings, token ids and the names transformers writes: no bearing on inference.
        s->ignore({"attention_dropout",
                   "dropout",
                   "initializer_range",
                   "initializer_factor",
                   "model_type",
                   "bos_token_id",
                   "eos_token_id",
                   "pad_token_id",
                   "transformers_version",
                   "torch_dtype",
                   "_name_or_path",
                   "architectures",
                   "return_dict",
                   "output_hidden_states",
                   "output_attentions",
                   "use_bfloat16",
                   "tie_word_embeddings",
                   "is_encoder_decoder",
                   "is_decoder",
                   "add_cross_attention",
                   "chunk_size_feed_forward",
                   "problem_type",
                   "id2label",
                   "label2id",
                   "gradient_checkpointing",
                   "torchscript",
                   "tf_legacy_loss",
                   "pruned_heads",
                   "finetuning_task",
                   "tokenizer_class",
                   "prefix",
                   "sep_token_id",
                   "decoder_start_token_id",
                   "task_specific_params",
                   "cross_attention_hidden_size",
                   "max_length",
                   "min_length",
                   "do_sample",
                   "early_stopping",
                   "num_beams",
                   "num_beam_groups",
                   "diversity_penalty",
                   "temperature",
                   "top_k",
                   "top_p",
                   "typical_p",
                   "repetition_penalty",
                   "length_penalty",
                   "no_repeat_ngram_size",
                   "encoder_no_repeat_ngram_size",
                   "bad_words_ids",
                   "num_return_sequences",
                   "output_scores",
                   "return_dict_in_generate",
                   "forced_bos_token_id",
                   "forced_eos_token_id",
                   "remove_invalid_values",
                   "exponential_decay_length_penalty",
                   "suppress_tokens",
                   "begin_suppress_tokens"});
    }
    const std::string text_act = activation_name(text.string("hidden_act", "quick_gelu"), text, "hidden_act");
    const std::string vision_act = activation_name(vision.string("hidden_act", "quick_gelu"), vision, "hidden_act");
    if (text_act != vision_act) vision.fail("hidden_act", "differs from text_config's; Opsis runs one activation");
    const int text_width = text.integer("hidden_size", 512), text_hidden = text.integer("intermediate_size", 2048);
    const int text_heads = text.integer("num_attention_heads", 8), text_layers = text.integer("num_hidden_layers", 12);
    const int context = text.integer("max_position_embeddings", 77), vocab = text.integer("vocab_size", 49408);
    const int vision_width = vision.integer("hidden_size", 768),
              vision_hidden = vision.integer("intermediate_size", 3072);
    const int vision_heads = vision.integer("num_attention_heads", 12);
    const int vision_layers = vision.integer("num_hidden_layers", 12), image_size = vision.integer("image_size", 224);
    const int patch = vision.integer("patch_size", 32);
    vision.expect("num_channels", 3);
    const int text_mlp = mlp_ratio(text_hidden, text_width, text, "intermediate_size");
    const int vision_mlp = mlp_ratio(vision_hidden, vision_width, vision, "intermediate_size");
    text.finish();
    vision.finish();

    std::array<float, 3> mean = kClipMean, std = kClipStd;
    if (const std::string pre = (fs::path(folder) / "preprocessor_config.json").string(); fs::exists(pre)) {
        const json p = read_json(pre);
        mean = three(p.value("image_mean", json()), kClipMean, "image_mean", pre);
        std = three(p.value("image_std", json()), kClipStd, "image_std", pre);
    }
    const ModelConfig config = vit_clip_config(
        fs::path(folder).filename().string(), embed, image_size, patch, vision_width, vision_layers, vision_heads,
        vision_mlp, vision_act, vocab, context, text_width, text_layers, text_heads, text_mlp, mean, std, config_path);
    HfTensors hf((fs::path(folder) / "model.safetensors").string());
    const std::int64_t VW = vision_width, TW = text_width, E = embed, grid = image_size / patch;
    Weights w;
    w["visual.conv1.weight"] = hf.take("vision_model.embeddings.patch_embedding.weight", {VW, 3, patch, patch});
    w["visual.class_embedding"] = hf.take("vision_model.embeddings.class_embedding", {VW});
    w["visual.positional_embedding"] =
        hf.take("vision_model.embeddings.position_embedding.weight", {grid * grid + 1, VW});
    w["visual.ln_pre.weight"] = hf.take("vision_model.pre_layrnorm.weight", {VW});
    w["visual.ln_pre.bias"] = hf.take("vision_model.pre_layrnorm.bias", {VW});
    hf_blocks(hf, w, "vision_model", "visual.transformer.", vision_layers, vision_width, vision_hidden);
    w["visual.ln_post.weight"] = hf.take("vision_model.post_layernorm.weight", {VW});
    w["visual.ln_post.bias"] = hf.take("vision_model.post_layernorm.bias", {VW});
    w["visual.proj"] = transposed(hf.take("visual_projection.weight", {E, VW}));
    w["token_embedding.weight"] = hf.take("text_model.embeddings.token_embedding.weight", {vocab, TW});
    w["positional_embedding"] = hf.take("text_model.embeddings.position_embedding.weight", {context, TW});
    hf_blocks(hf, w, "text_model", "transformer.", text_layers, text_width, text_hidden);
    w["ln_final.weight"] = hf.take("text_model.final_layer_norm.weight", {TW});
    w["ln_final.bias"] = hf.take("text_model.final_layer_norm.bias", {TW});
    w["text_projection"] = transposed(hf.take("text_projection.weight", {E, TW}));
    w["logit_scale"] = hf.take("logit_scale", {});
    hf.finish();

    Tokenizer tokenizer = Tokenizer::load(folder);
    tokenizer.set_cleaning(Tokenizer::Cleaning::clip);
    return {config, checked(std::move(w), config, hf.path()), std::move(tokenizer)};
}

}  // namespace

Tokenizer clip_tokenizer() {
    const std::string text =
        gunzip(opsis_clip_merges_begin, static_cast<std::size_t>(opsis_clip_merges_end - opsis_clip_merges_begin));
    std::vector<Merge> merges;
    std::size_t pos = text.find('\n') + 1;  // the first line is a header
    while (static_cast<int>(merges.size()) < kClipMerges && pos < text.size()) {
        const std::size_t eol = text.find('\n', pos), space = text.find(' ', pos);
        merges.emplace_back(text.substr(pos, space - pos), text.substr(space + 1, eol - space - 1));
        pos = eol + 1;
    }
    Tokenizer t = Tokenizer::from_merges(merges);
    if (t.vocab_size() != kClipVocabulary) throw Error("CLIP merges: the built-in file gives the wrong vocabulary");
    t.set_cleaning(Tokenizer::Cleaning::clip);
    return t;
}

std::string checkpoint_format(const std::string& folder) {
    const fs::path f(folder);
    if (fs::exists(f / "open_clip_config.json")) return "openclip";
    if (fs::exists(f / "config.json") && fs::exists(f / "model.safetensors") &&
        SafetensorsReader((f / "model.safetensors").string()).contains("text_model.embeddings.token_embedding.weight"))
        return "huggingface";
    return "opsis";
}

std::optional<CheckpointContents> read_clip_checkpoint(const std::string& folder) {
    const std::string format = checkpoint_format(folder);
    if (format == "openclip") return read_open_clip(folder);
    if (format == "huggingface") return read_hugging_face(folder);
    return std::nullopt;
}

}  // namespace opsis
