// Model configs, safetensors files and the dual encoder: save -> load -> embed gives identical
// vectors, the towers agree with plain reference forwards, and damaged files are refused.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "encoder/dual_encoder.h"
#include "encoder/safetensors.h"
#include "encoder/tokenizer_train.h"
#include "tests/reference_ops.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::test;
using json = nlohmann::json;

namespace {

json tiny_resnet_json(int vocab) {
    return json::parse(R"({
      "name": "tiny-resnet", "embed_dim": 16,
      "image": {"arch": "resnet", "image_size": 16, "stem_channels": 8, "stem_stride": 1, "stem_pool": true,
                "stage_channels": [8, 12], "stage_blocks": [1, 2]},
      "text": {"context_length": 12, "width": 24, "layers": 2, "heads": 2, "activation": "gelu"}})")
        .patch(json::array({{{"op", "add"}, {"path", "/text/vocab_size"}, {"value", vocab}}}));
}

json tiny_vit_json(int vocab) {
    json j = tiny_resnet_json(vocab);
    j["name"] = "tiny-vit";
    j["image"] = json::parse(R"({"arch": "vit", "image_size": 16, "patch_size": 8, "width": 24, "layers": 2,
                                 "heads": 4, "activation": "quick_gelu"})");
    j["text"]["activation"] = "quick_gelu";
    return j;
}

DualEncoder tiny_model(const json& j, std::uint64_t seed = 3) {
    Tokenizer tok = Tokenizer::bytes_only();
    return DualEncoder::random(parse_model_config(j, "test"), std::move(tok), seed);
}

Tensor random_images(int n, int size, std::mt19937& rng) { return random_tensor({n, size, size, 3}, rng, 2.0f); }

// The ResNet tower from unfused reference ops (conv, then batch-norm, ReLU by hand).
Tensor reference_resnet(const DualEncoder& m, const Tensor& images) {
    const Weights& w = m.weights();
    const ResNetConfig& r = m.config().image.resnet;
    auto conv_bn = [&](const Tensor& x, const std::string& p, int stride, int pad) {
        return reference::batch_norm(reference::conv2d(x, w.at(p + ".conv.weight"), Tensor(), stride, pad, 1),
                                     w.at(p + ".bn.weight"), w.at(p + ".bn.bias"), w.at(p + ".bn.running_mean"),
                                     w.at(p + ".bn.running_var"), 1e-5f);
    };
    auto relu = [](Tensor t) {
        for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = std::max(0.0f, t[i]);
        return t;
    };
    Tensor x = relu(conv_bn(images, "visual.stem", r.stem_stride, 1));
    if (r.stem_pool) x = reference::pool2d(x, 3, 2, 1, true);
    int in = r.stem_channels;
    for (std::size_t s = 0; s < r.stage_channels.size(); ++s)
        for (int b = 0; b < r.stage_blocks[s]; ++b) {
            const std::string p = "visual.layers." + std::to_string(s) + "." + std::to_string(b);
            const int stride = (b == 0 && s > 0) ? 2 : 1;
            Tensor h = conv_bn(relu(conv_bn(x, p + ".conv1", stride, 1)), p + ".conv2", 1, 1);
            const Tensor shortcut =
                (stride != 1 || in != r.stage_channels[s]) ? conv_bn(x, p + ".downsample", stride, 0) : x;
            for (std::int64_t i = 0; i < h.numel(); ++i) h[i] += shortcut[i];
            x = relu(h);
            in = r.stage_channels[s];
        }
    const std::int64_t n = x.dim(0), hw = x.dim(1) * x.dim(2), c = x.dim(3);
    const Tensor& proj = w.at("visual.proj");
    Tensor out({n, proj.dim(1)});
    for (std::int64_t b = 0; b < n; ++b)
        for (std::int64_t o = 0; o < proj.dim(1); ++o) {
            double sum = 0;
            for (std::int64_t ch = 0; ch < c; ++ch) {
                double mean = 0;
                for (std::int64_t p = 0; p < hw; ++p) mean += x[(b * hw + p) * c + ch];
                sum += mean / static_cast<double>(hw) * proj[ch * proj.dim(1) + o];
            }
            out[b * proj.dim(1) + o] = static_cast<float>(sum);
        }
    return out;
}

// The text tower from reference ops, one text at a time with no padding.
Tensor reference_text(const DualEncoder& m, const std::string& text) {
    const Weights& w = m.weights();
    const TextTowerConfig& t = m.config().text;
    const auto ids = m.tokenizer().encode_for_model(text, t.context_length);
    const std::int64_t len = static_cast<std::int64_t>(ids.size()), d = t.transformer.width;
    Tensor x({1, len, d});
    for (std::int64_t i = 0; i < len; ++i)
        for (std::int64_t j = 0; j < d; ++j)
            x[i * d + j] = w.at("token_embedding.weight")[ids[i] * d + j] + w.at("positional_embedding")[i * d + j];
    for (int l = 0; l < t.transformer.layers; ++l) {
        const std::string p = "transformer.resblocks." + std::to_string(l);
        const Tensor a = reference::attention(
            reference::layer_norm(x, w.at(p + ".ln_1.weight"), w.at(p + ".ln_1.bias"), 1e-5f),
            w.at(p + ".attn.in_proj_weight"), w.at(p + ".attn.in_proj_bias"), w.at(p + ".attn.out_proj.weight"),
            w.at(p + ".attn.out_proj.bias"), t.transformer.heads, true);
        for (std::int64_t i = 0; i < x.numel(); ++i) x[i] += a[i];
        Tensor h = reference::linear(reference::layer_norm(x, w.at(p + ".ln_2.weight"), w.at(p + ".ln_2.bias"), 1e-5f),
                                     w.at(p + ".mlp.c_fc.weight"), w.at(p + ".mlp.c_fc.bias"));
        for (std::int64_t i = 0; i < h.numel(); ++i) {
            const double v = h[i];
            h[i] = static_cast<float>(t.transformer.activation == ops::Activation::gelu
                                          ? 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))
                                          : v / (1 + std::exp(-1.702 * v)));
        }
        const Tensor o = reference::linear(h, w.at(p + ".mlp.c_proj.weight"), w.at(p + ".mlp.c_proj.bias"));
        for (std::int64_t i = 0; i < x.numel(); ++i) x[i] += o[i];
    }
    Tensor last({1, d});
    std::copy_n(x.data() + (len - 1) * d, d, last.data());
    last = reference::layer_norm(last, w.at("ln_final.weight"), w.at("ln_final.bias"), 1e-5f);
    const Tensor& proj = w.at("text_projection");
    Tensor out({1, proj.dim(1)});
    double norm = 0;
    for (std::int64_t o = 0; o < proj.dim(1); ++o) {
        double s = 0;
        for (std::int64_t j = 0; j < d; ++j) s += static_cast<double>(last[j]) * proj[j * proj.dim(1) + o];
        out[o] = static_cast<float>(s);
        norm += s * s;
    }
    for (std::int64_t o = 0; o < proj.dim(1); ++o) out[o] = static_cast<float>(out[o] / std::sqrt(norm));
    return out;
}

float row_dot(const Tensor& a, std::int64_t i, const Tensor& b, std::int64_t j) {
    const std::int64_t d = a.dim(1);
    float s = 0;
    for (std::int64_t k = 0; k < d; ++k) s += a[i * d + k] * b[j * d + k];
    return s;
}

}  // namespace

TEST_CASE("the ResNet image tower equals conv + batch-norm reference forward", "[model]") {
    std::mt19937 rng(11);
    const DualEncoder m = tiny_model(tiny_resnet_json(514));
    // Non-trivial batch-norm statistics so that folding is really exercised.
    Weights w = m.weights();
    for (auto& [name, t] : w)
        if (name.find(".bn.running_var") != std::string::npos)
            for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = 0.5f + static_cast<float>(i % 5) * 0.3f;
        else if (name.find(".bn.") != std::string::npos)
            for (std::int64_t i = 0; i < t.numel(); ++i) t[i] += 0.1f * static_cast<float>(i % 3);
    const DualEncoder m2 = DualEncoder::from_weights(m.config(), m.tokenizer(), w);
    const Tensor images = random_images(3, 16, rng);
    Tensor want = reference_resnet(m2, images);
    ops::l2_normalize_rows(want);
    CHECK(max_abs_diff(m2.encode_images(images), want) < 1e-4f);
}

TEST_CASE("the text tower equals the reference forward, whatever the padding in its batch", "[model]") {
    const DualEncoder m = tiny_model(tiny_resnet_json(514));
    const std::vector<std::string> texts{"a cat", "a considerably longer caption here", "μήλο"};
    const Tensor batch = m.encode_texts(texts);
    for (std::size_t i = 0; i < texts.size(); ++i) {
        const Tensor alone = m.encode_texts({texts[i]});
        const Tensor want = reference_text(m, texts[i]);
        for (std::int64_t k = 0; k < 16; ++k) {
            CHECK(batch[static_cast<std::int64_t>(i) * 16 + k] == Approx(want[k]).margin(1e-4));
            CHECK(alone[k] == Approx(want[k]).margin(1e-4));
        }
    }
}

TEST_CASE("save -> load -> embed gives identical vectors (ResNet and ViT)", "[model]") {
    std::mt19937 rng(12);
    const Tokenizer tok = train_bpe({"a red apple", "a red rocket", "a green apple"}, {530, 1});
    for (const json& j : {tiny_resnet_json(tok.vocab_size()), tiny_vit_json(tok.vocab_size())}) {
        TempDir dir;
        const DualEncoder m = DualEncoder::random(parse_model_config(j, "test"), tok, 5);
        m.save(dir.path());
        const DualEncoder back = DualEncoder::load(dir.path());
        const DualEncoder by_file = DualEncoder::load(dir.file("model.safetensors"));
        const Tensor images = random_images(2, 16, rng);
        const std::vector<std::string> texts{"a red apple", "η σημαία"};
        INFO(j["name"]);
        CHECK(max_abs_diff(m.encode_images(images), back.encode_images(images)) == 0.0f);
        CHECK(max_abs_diff(m.encode_texts(texts), back.encode_texts(texts)) == 0.0f);
        CHECK(max_abs_diff(m.encode_texts(texts), by_file.encode_texts(texts)) == 0.0f);
        CHECK(back.logit_scale() == Approx(m.logit_scale()));
        CHECK(model_config_to_json(back.config()) == model_config_to_json(m.config()));
        const Tensor e = back.encode_images(images);
        CHECK(row_dot(e, 0, e, 0) == Approx(1.0f).margin(1e-5));
        // Batch 1 and batch N agree (the gemv and gemm paths).
        const Tensor one =
            back.encode_images(Tensor({1, 16, 16, 3}, std::vector<float>(images.data(), images.data() + 16 * 16 * 3)));
        CHECK(row_dot(one, 0, e, 0) == Approx(1.0f).margin(1e-5));
    }
}

TEST_CASE("random initialisation is deterministic for a seed", "[model]") {
    const DualEncoder a = tiny_model(tiny_resnet_json(514), 9), b = tiny_model(tiny_resnet_json(514), 9);
    const DualEncoder c = tiny_model(tiny_resnet_json(514), 10);
    CHECK(a.weights().at("visual.proj").values() == b.weights().at("visual.proj").values());
    CHECK(a.weights().at("visual.proj").values() != c.weights().at("visual.proj").values());
}

TEST_CASE("model configs reject unknown keys and impossible sizes, naming the key", "[model][bad-input]") {
    json j = tiny_resnet_json(514);
    CHECK_NOTHROW(parse_model_config(j, "c.json"));
    auto rejects = [](json bad, const std::string& needle) {
        INFO(bad.dump());
        CHECK_THROWS_WITH(parse_model_config(bad, "c.json"),
                          Catch::Contains("model config 'c.json'") && Catch::Contains(needle));
    };
    json bad = j;
    bad["image"]["stem_chanels"] = 8;
    rejects(bad, "'image.stem_chanels' is not a known key");
    bad = j;
    bad["image"]["patch_size"] = 8;  // a ViT key on a ResNet
    rejects(bad, "'image.patch_size' is not a known key");
    bad = j;
    bad["colour"] = 1;
    rejects(bad, "'colour' is not a known key");
    bad = j;
    bad["text"]["heads"] = 5;
    rejects(bad, "'text.heads' must divide text.width");
    bad = j;
    bad["text"].erase("vocab_size");
    rejects(bad, "'text.vocab_size' is missing");
    bad = j;
    bad["embed_dim"] = "big";
    rejects(bad, "'embed_dim' must be an integer");
    bad = j;
    bad["image"]["stage_blocks"] = {1};
    rejects(bad, "as many entries");
    bad = j;
    bad["image"]["std"] = {0.5, 0, 0.5};
    rejects(bad, "'image.std' values must lie in");
    bad = tiny_vit_json(514);
    bad["image"]["patch_size"] = 5;
    rejects(bad, "'image.patch_size' must divide image.image_size");
    bad["image"]["arch"] = "mlp";
    rejects(bad, "'image.arch' must be 'resnet' or 'vit'");
    rejects(json::array(), "must be a JSON object");
}

TEST_CASE("a config file takes its text.vocab_size from the tokenizer, or must agree with it", "[model][bad-input]") {
    TempDir dir;
    json without = tiny_resnet_json(514);
    without["text"].erase("vocab_size");
    write_text(dir.file("without.json"), without.dump());
    CHECK(load_model_config(dir.file("without.json"), 600).text.vocab_size == 600);
    write_text(dir.file("same.json"), tiny_resnet_json(600).dump());
    CHECK(load_model_config(dir.file("same.json"), 600).text.vocab_size == 600);
    CHECK_THROWS_WITH(load_model_config(dir.file("same.json"), 700),
                      Catch::Contains("model config '" + dir.file("same.json") + "'") &&
                          Catch::Contains("text.vocab_size differs from the tokenizer's 700 tokens"));
    write_text(dir.file("broken.json"), "{\"text\": ");
    CHECK_THROWS_WITH(load_model_config(dir.file("broken.json"), 600), Catch::Contains("malformed JSON"));
    CHECK_THROWS_WITH(load_model_config(dir.file("absent.json"), 600), Catch::Contains("absent.json"));
}

TEST_CASE("damaged or mismatched model files are refused with the reason", "[model][bad-input]") {
    TempDir dir;
    const DualEncoder m = tiny_model(tiny_resnet_json(514));
    m.save(dir.path());
    const std::string file = dir.file("model.safetensors");
    const auto good = read_file(file, 1 << 30);
    auto expect_refused = [&](const std::vector<unsigned char>& bytes, const std::string& needle) {
        write_bytes(file, bytes);
        INFO(needle);
        CHECK_THROWS_WITH(DualEncoder::load(dir.path()), Catch::Contains(file) && Catch::Contains(needle));
    };
    expect_refused(
        std::vector<unsigned char>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2)),
        "outside");
    expect_refused(std::vector<unsigned char>(good.begin(), good.begin() + 5), "truncated");
    expect_refused(std::vector<unsigned char>(good.begin(), good.begin() + 40), "truncated: header needs");
    expect_refused({}, "truncated");
    auto garbage = good;
    garbage[7] = 0x7F;
    expect_refused(garbage, "implausible");
    auto bad_json = good;
    bad_json[8] = '[';
    expect_refused(bad_json, "malformed header JSON");

    // Consistent files that disagree with their config.
    Weights w = m.weights();
    const std::map<std::string, std::string> meta{{"opsis.config", model_config_to_json(m.config()).dump()}};
    auto write_weights = [&](const Weights& weights, const std::map<std::string, std::string>& metadata) {
        write_safetensors(file, weights, metadata);
    };
    Weights missing = w;
    missing.erase("visual.proj");
    write_weights(missing, meta);
    CHECK_THROWS_WITH(DualEncoder::load(dir.path()), Catch::Contains("missing tensor 'visual.proj'"));
    Weights reshaped = w;
    reshaped["visual.proj"] = Tensor({3, 16});
    write_weights(reshaped, meta);
    CHECK_THROWS_WITH(DualEncoder::load(dir.path()),
                      Catch::Contains("'visual.proj' has shape [3, 16] but the config needs [12, 16]"));
    Weights extra = w;
    extra["visual.extra"] = Tensor({2});
    write_weights(extra, meta);
    CHECK_THROWS_WITH(DualEncoder::load(dir.path()), Catch::Contains("unexpected tensor 'visual.extra'"));
    write_weights(w, {});
    CHECK_THROWS_WITH(DualEncoder::load(dir.path()), Catch::Contains("no 'opsis.config' entry"));
    json cfg = model_config_to_json(m.config());
    cfg["text"]["dropout"] = 0.1;
    write_weights(w, {{"opsis.config", cfg.dump()}});
    CHECK_THROWS_WITH(DualEncoder::load(dir.path()), Catch::Contains("'text.dropout' is not a known key"));
    Weights nan = w;
    nan["visual.proj"][0] = NAN;
    write_weights(nan, meta);
    CHECK_THROWS_WITH(DualEncoder::load(dir.path()), Catch::Contains("NaN"));

    // A tokenizer of another size than the config's vocabulary.
    write_weights(w, meta);
    train_bpe({"aa bb aa bb", "aa bb"}, {520, 1}).save(dir.path());
    CHECK_THROWS_WITH(DualEncoder::load(dir.path()),
                      Catch::Contains("tokenizer has") && Catch::Contains("vocab_size = 514"));
    CHECK_THROWS_WITH(DualEncoder::load(dir.file("nothing-here")), Catch::Contains("no such file or folder"));
}

TEST_CASE("safetensors reads F16 and BF16 as float32", "[model]") {
    TempDir dir;
    // Two tensors: F16 [1.0, -2.5, 65504, 2^-24] and BF16 [1.0, -3.0].
    const std::vector<std::uint16_t> f16{0x3C00, 0xC100, 0x7BFF, 0x0001}, bf16{0x3F80, 0xC040};
    std::string header = R"({"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})";
    std::vector<unsigned char> bytes(8);
    const std::uint64_t len = header.size();
    std::memcpy(bytes.data(), &len, 8);
    bytes.insert(bytes.end(), header.begin(), header.end());
    for (auto v : f16)
        bytes.push_back(static_cast<unsigned char>(v & 0xFF)), bytes.push_back(static_cast<unsigned char>(v >> 8));
    for (auto v : bf16)
        bytes.push_back(static_cast<unsigned char>(v & 0xFF)), bytes.push_back(static_cast<unsigned char>(v >> 8));
    write_bytes(dir.file("h.safetensors"), bytes);
    const SafetensorsReader r(dir.file("h.safetensors"));
    const Tensor a = r.read("a"), b = r.read("b");
    CHECK(a.shape() == Shape{2, 2});
    CHECK(a[0] == 1.0f);
    CHECK(a[1] == -2.5f);
    CHECK(a[2] == 65504.0f);
    CHECK(a[3] == Approx(std::ldexp(1.0, -24)));
    CHECK(b[0] == 1.0f);
    CHECK(b[1] == -3.0f);

    header = R"({"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},)"
             R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]}})";
    std::memcpy(bytes.data(), &len, 8);
    std::copy(header.begin(), header.end(), bytes.begin() + 8);
    write_bytes(dir.file("o.safetensors"), bytes);
    CHECK_THROWS_WITH(SafetensorsReader(dir.file("o.safetensors")), Catch::Contains("overlap"));
}
