#include "encoder/model_config.h"

#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/file_io.h"

namespace opsis {
namespace {

using json = nlohmann::json;

// Reads the keys of one JSON object, remembering which were used so that leftovers
// (typos, keys of another architecture) are reported instead of silently ignored.
class ObjectReader {
public:
    ObjectReader(const json& object, std::string path, const std::string& source)
        : object_(object), path_(std::move(path)), source_(source) {
        if (!object_.is_object()) fail(path_.empty() ? "top level" : path_, "must be a JSON object");
    }

    [[noreturn]] void fail(const std::string& key, const std::string& reason) const {
        throw input_error("model config", source_, "'" + key + "' " + reason);
    }
    std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

    const json* find(const std::string& key) {
        used_.insert(key);
        const auto it = object_.find(key);
        return it == object_.end() ? nullptr : &*it;
    }
    const json& need(const std::string& key) {
        const json* v = find(key);
        if (!v) fail(key_path(key), "is missing");
        return *v;
    }

    int integer(const std::string& key, int fallback, int min, int max, bool required = false) {
        const json* v = required ? &need(key) : find(key);
        if (!v) return fallback;
        if (!v->is_number_integer()) fail(key_path(key), "must be an integer");
        const auto x = v->get<std::int64_t>();
        if (x < min || x > max)
            fail(key_path(key),
                 "must be in " + std::to_string(min) + ".." + std::to_string(max) + ", got " + std::to_string(x));
        return static_cast<int>(x);
    }
    float number(const std::string& key, float fallback) {
        const json* v = find(key);
        if (!v) return fallback;
        if (!v->is_number()) fail(key_path(key), "must be a number");
        return v->get<float>();
    }
    float number(const std::string& key, float fallback, float lo, float hi) {
        const json* v = find(key);
        if (!v) return fallback;
        if (!v->is_number()) fail(key_path(key), "must be a number");
        // Compared in double: a JSON 1e39 is an infinite float, which must not slip through.
        const double given = v->get<double>();
        if (!(given >= lo && given <= hi))
            fail(key_path(key), "must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + v->dump());
        return static_cast<float>(given);
    }
    bool boolean(const std::string& key, bool fallback) {
        const json* v = find(key);
        if (!v) return fallback;
        if (!v->is_boolean()) fail(key_path(key), "must be true or false");
        return v->get<bool>();
    }
    std::string string(const std::string& key, const std::string& fallback) {
        const json* v = find(key);
        if (!v) return fallback;
        if (!v->is_string()) fail(key_path(key), "must be a string");
        return v->get<std::string>();
    }
    std::vector<int> int_list(const std::string& key, const std::vector<int>& fallback, int min) {
        const json* v = find(key);
        if (!v) return fallback;
        if (!v->is_array() || v->empty()) fail(key_path(key), "must be a non-empty array of integers");
        std::vector<int> out;
        for (const json& e : *v) {
            if (!e.is_number_integer() || e.get<std::int64_t>() < min || e.get<std::int64_t>() > 1 << 20)
                fail(key_path(key), "must hold integers >= " + std::to_string(min));
            out.push_back(e.get<int>());
        }
        return out;
    }
    std::array<float, 3> triple(const std::string& key, std::array<float, 3> fallback, float min, float max) {
        const json* v = find(key);
        if (!v) return fallback;
        if (!v->is_array() || v->size() != 3) fail(key_path(key), "must be an array of 3 numbers");
        std::array<float, 3> out{};
        for (int i = 0; i < 3; ++i) {
            if (!(*v)[i].is_number()) fail(key_path(key), "must be an array of 3 numbers");
            out[i] = (*v)[i].get<float>();
            if (!(out[i] >= min && out[i] <= max))
                fail(key_path(key), "values must lie in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
        }
        return out;
    }
    ops::Activation activation(const std::string& key, ops::Activation fallback) {
        const std::string name = string(key, ops::activation_name(fallback));
        try {
            return ops::parse_activation(name);
        } catch (const Error&) {
            fail(key_path(key), "must be relu, gelu or quick_gelu, got '" + name + "'");
        }
    }
    void reject_unknown() const {
        for (const auto& [key, value] : object_.items())
            if (!used_.count(key)) fail(key_path(key), "is not a known key");
    }

private:
    const json& object_;
    std::string path_;
    const std::string& source_;
    std::set<std::string> used_;
};

constexpr int kMaxDim = 1 << 16;
constexpr float kMaxLogitScale = 6.908f;  // ln 1000

TransformerShape read_transformer(ObjectReader& r, const std::string& section, TransformerShape t) {
    t.width = r.integer("width", t.width, 1, kMaxDim);
    t.layers = r.integer("layers", t.layers, 1, 256);
    t.heads = r.integer("heads", t.heads, 1, 1024);
    t.mlp_ratio = r.integer("mlp_ratio", t.mlp_ratio, 1, 64);
    t.activation = r.activation("activation", t.activation);
    if (t.width % t.heads != 0) r.fail(section + ".heads", "must divide " + section + ".width");
    return t;
}

void write_transformer(json& j, const TransformerShape& t) {
    j["width"] = t.width;
    j["layers"] = t.layers;
    j["heads"] = t.heads;
    j["mlp_ratio"] = t.mlp_ratio;
    j["activation"] = ops::activation_name(t.activation);
}

}  // namespace

ModelConfig parse_model_config(const json& j, const std::string& source) {
    ModelConfig c;
    ObjectReader top(j, "", source);
    c.name = top.string("name", c.name);
    c.embed_dim = top.integer("embed_dim", c.embed_dim, 1, kMaxDim);
    // The natural log of the similarity scale: exp(6.908) = 1000, far past any trained model's.
    c.logit_scale = top.number("logit_scale", c.logit_scale, 0.0f, kMaxLogitScale);

    ObjectReader img(top.need("image"), "image", source);
    const std::string arch = img.string("arch", "resnet");
    PreprocessOptions& pre = c.image.preprocess;
    pre.image_size = img.integer("image_size", pre.image_size, 8, 4096);
    pre.mean = img.triple("mean", pre.mean, -10.0f, 10.0f);
    pre.std = img.triple("std", pre.std, 1e-6f, 10.0f);
    const auto bg = img.triple("background", {255, 255, 255}, 0, 255);
    for (int i = 0; i < 3; ++i) pre.background[i] = static_cast<std::uint8_t>(bg[i]);
    pre.trim_transparent = img.boolean("trim_transparent", pre.trim_transparent);
    if (const std::string fit = img.string("fit", "square"); fit == "resize_crop")
        pre.fit = PreprocessOptions::Fit::resize_crop;
    else if (fit != "square")
        img.fail("image.fit", "must be 'square' or 'resize_crop', got '" + fit + "'");
    if (arch == "resnet") {
        c.image.arch = ImageTowerConfig::Arch::resnet;
        ResNetConfig& r = c.image.resnet;
        r.stem_channels = img.integer("stem_channels", r.stem_channels, 1, kMaxDim);
        r.stem_stride = img.integer("stem_stride", r.stem_stride, 1, 4);
        r.stem_pool = img.boolean("stem_pool", r.stem_pool);
        r.stage_channels = img.int_list("stage_channels", r.stage_channels, 1);
        r.stage_blocks = img.int_list("stage_blocks", r.stage_blocks, 1);
        if (r.stage_channels.size() != r.stage_blocks.size())
            img.fail("image.stage_blocks", "must have as many entries as image.stage_channels");
    } else if (arch == "vit") {
        c.image.arch = ImageTowerConfig::Arch::vit;
        VitConfig& v = c.image.vit;
        v.patch_size = img.integer("patch_size", v.patch_size, 1, 1024);
        v.transformer = read_transformer(img, "image", v.transformer);
        if (pre.image_size % v.patch_size != 0) img.fail("image.patch_size", "must divide image.image_size");
    } else {
        img.fail("image.arch", "must be 'resnet' or 'vit', got '" + arch + "'");
    }
    img.reject_unknown();

    ObjectReader txt(top.need("text"), "text", source);
    TextTowerConfig& t = c.text;
    t.vocab_size = txt.integer("vocab_size", 0, 514, 1 << 24, true);
    t.context_length = txt.integer("context_length", t.context_length, 2, 4096);
    t.transformer = read_transformer(txt, "text", t.transformer);
    txt.reject_unknown();
    top.reject_unknown();
    return c;
}

json read_model_config_json(const std::string& path) {
    try {
        return json::parse(read_text_file(path, 1 << 20));
    } catch (const json::exception& e) {
        throw input_error("model config", path, std::string("malformed JSON: ") + e.what());
    }
}

ModelConfig load_model_config(const std::string& path, int vocab_size) {
    json j = read_model_config_json(path);
    if (j.is_object() && j.contains("text") && j["text"].is_object()) {
        if (j["text"].contains("vocab_size") && j["text"]["vocab_size"] != vocab_size)
            throw input_error("model config", path,
                              "text.vocab_size differs from the tokenizer's " + std::to_string(vocab_size) + " tokens");
        j["text"]["vocab_size"] = vocab_size;
    }
    return parse_model_config(j, path);
}

json model_config_to_json(const ModelConfig& c) {
    const PreprocessOptions& pre = c.image.preprocess;
    json image = {{"image_size", pre.image_size},
                  {"mean", pre.mean},
                  {"std", pre.std},
                  {"background", {pre.background[0], pre.background[1], pre.background[2]}},
                  {"trim_transparent", pre.trim_transparent},
                  {"fit", pre.fit == PreprocessOptions::Fit::resize_crop ? "resize_crop" : "square"}};
    if (c.image.arch == ImageTowerConfig::Arch::resnet) {
        const ResNetConfig& r = c.image.resnet;
        image["arch"] = "resnet";
        image["stem_channels"] = r.stem_channels;
        image["stem_stride"] = r.stem_stride;
        image["stem_pool"] = r.stem_pool;
        image["stage_channels"] = r.stage_channels;
        image["stage_blocks"] = r.stage_blocks;
    } else {
        image["arch"] = "vit";
        image["patch_size"] = c.image.vit.patch_size;
        write_transformer(image, c.image.vit.transformer);
    }
    const TextTowerConfig& t = c.text;
    json text = {{"vocab_size", t.vocab_size}, {"context_length", t.context_length}};
    write_transformer(text, t.transformer);
    return {
        {"name", c.name}, {"embed_dim", c.embed_dim}, {"logit_scale", c.logit_scale}, {"image", image}, {"text", text}};
}

}  // namespace opsis
