// Imported CLIP checkpoints against PyTorch: benchmarks/reference/clip_reference.py builds a
// tiny CLIP with random weights (OpenAI's architecture, written there), saves it in the
// Hugging Face and OpenCLIP layouts, and records its token ids and embeddings. Every text and
// image must embed at cosine >= 0.9999 with identical token ids, and the ViT's heatmap places
// and per-block maps agree, in both layouts and with both activations; damaged folders are
// refused naming the file. Hidden from the plain run: ctest's
// clip_checkpoints_match_pytorch makes the reference first (tests/run_clip_reference.cmake).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "encoder/clip_checkpoint.h"
#include "encoder/dual_encoder.h"
#include "image/decode.h"
#include "tests/test_support.h"

using namespace opsis;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::string reference_root() {
    const char* dir = std::getenv("OPSIS_CLIP_REFERENCE");
    if (dir == nullptr || *dir == '\0')
        FAIL("set OPSIS_CLIP_REFERENCE to a folder benchmarks/reference/clip_reference.py wrote (ctest does)");
    return dir;
}

nlohmann::json reference(const std::string& dir) {
    return nlohmann::json::parse(read_text_file(dir + "/reference.json", 1 << 24));
}

double cosine(const float* a, const std::vector<float>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        ab += static_cast<double>(a[i]) * b[i];
        aa += static_cast<double>(a[i]) * a[i];
        bb += static_cast<double>(b[i]) * b[i];
    }
    return ab / std::sqrt(aa * bb);
}

void copy_folder(const std::string& from, const std::string& to) {
    fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

void edit_json(const std::string& path, const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json j = nlohmann::json::parse(read_text_file(path, 1 << 24));
    change(j);
    write_file_atomic(path, j.dump(2));
}

// Each reference CLIP (both activations) loaded from each layout, with its reference figures.
void for_each_checkpoint(const std::function<void(const std::string& dir, const nlohmann::json& ref,
                                                  const DualEncoder& model, const std::string& activation)>& check) {
    const std::string root = reference_root();
    for (const char* activation : {"quick_gelu", "gelu"}) {
        const std::string dir = root + "/" + activation;
        const nlohmann::json ref = reference(dir);
        for (const char* layout : {"hf", "openclip"}) {
            INFO(activation << " " << layout);
            check(dir, ref, DualEncoder::load(dir + "/" + layout), activation);
        }
    }
}

// The pictures a reference list names ("images" or "photos"), decoded.
std::vector<RgbaImage> reference_images(const std::string& dir, const nlohmann::json& list) {
    std::vector<RgbaImage> images;
    for (const auto& im : list) {
        const std::string file = im["file"].get<std::string>();
        const std::vector<unsigned char> bytes = read_file(dir + "/" + file, 1 << 20);
        images.push_back(decode_image(bytes.data(), bytes.size(), file, {}));
    }
    return images;
}

}  // namespace

TEST_CASE("CLIP checkpoints embed as PyTorch does, in both layouts and with both activations", "[.clip]") {
    for_each_checkpoint(
        [](const std::string& dir, const nlohmann::json& ref, const DualEncoder& model, const std::string& activation) {
            CHECK(model.config().image.vit.transformer.activation == ops::parse_activation(activation));
            CHECK(std::abs(model.logit_scale() - ref["logit_scale"].get<float>()) < 1e-6f);
            std::vector<std::string> texts;
            for (const auto& t : ref["texts"]) texts.push_back(t["text"].get<std::string>());
            const Tensor vectors = model.encode_texts(texts);
            const std::size_t d = static_cast<std::size_t>(model.config().embed_dim);
            for (std::size_t i = 0; i < texts.size(); ++i) {
                INFO("text \"" << texts[i] << "\"");
                std::vector<std::int32_t> ids = model.tokenizer().encode_for_model(texts[i], 77);
                ids.resize(77, 0);  // the reference pads with 0
                CHECK(ids == ref["texts"][i]["ids"].get<std::vector<std::int32_t>>());
                CHECK(cosine(vectors.data() + i * d, ref["texts"][i]["embedding"].get<std::vector<float>>()) >= 0.9999);
            }
            // Model-sized images, and pictures larger and smaller than the model's input, which
            // go through CLIP's preprocessing (short side resized, centre cropped).
            for (const char* kind : {"images", "photos"}) {
                const std::vector<RgbaImage> images = reference_images(dir, ref[kind]);
                REQUIRE(images.size() == 3);
                const Tensor image_vectors = model.encode_images(model.preprocess(images));
                for (std::size_t i = 0; i < images.size(); ++i) {
                    INFO("image " << ref[kind][i]["file"]);
                    CHECK(cosine(image_vectors.data() + i * d, ref[kind][i]["embedding"].get<std::vector<float>>()) >=
                          0.9999);
                }
            }
        });
}

TEST_CASE("at bf16 and int8 a CLIP checkpoint stays within a cosine of 0.999 of PyTorch's fp32", "[.clip]") {
    // The drift reduced precision costs, on the reference's texts and pictures; a precision
    // this CPU cannot run is refused instead (tests/test_precision.cpp checks the refusal).
    for_each_checkpoint([](const std::string& dir, const nlohmann::json& ref, const DualEncoder& exact,
                           const std::string&) {
        for (const Precision p : {Precision::bf16, Precision::int8}) {
            INFO(precision_name(p));
            if (!precision_unsupported_reason(p).empty()) continue;
            const DualEncoder model = exact.at_precision(p);
            const std::size_t d = static_cast<std::size_t>(model.config().embed_dim);
            std::vector<std::string> texts;
            for (const auto& t : ref["texts"]) texts.push_back(t["text"].get<std::string>());
            const Tensor vectors = model.encode_texts(texts);
            double worst = 1;
            for (std::size_t i = 0; i < texts.size(); ++i)
                worst = std::min(worst,
                                 cosine(vectors.data() + i * d, ref["texts"][i]["embedding"].get<std::vector<float>>()));
            for (const char* kind : {"images", "photos"}) {
                const std::vector<RgbaImage> images = reference_images(dir, ref[kind]);
                const Tensor image_vectors = model.encode_images(model.preprocess(images));
                for (std::size_t i = 0; i < images.size(); ++i)
                    worst = std::min(worst, cosine(image_vectors.data() + i * d,
                                                   ref[kind][i]["embedding"].get<std::vector<float>>()));
            }
            INFO("worst cosine " << worst);
            CHECK(worst >= 0.999);
            WARN(precision_name(p) << ": worst cosine against PyTorch fp32 " << worst);
        }
    });
}

TEST_CASE("a CLIP checkpoint's heatmap places and filter-visualisation maps are PyTorch's", "[.clip]") {
    // What explain/ draws for a ViT tower: each patch token through ln_post and the projection
    // (the heatmap), per block the class token's attention per head and the MLP's hidden units.
    auto close = [](const float* ours, const std::vector<float>& theirs, std::int64_t stride, double tolerance) {
        double worst = 0, scale = 1e-6;
        for (std::size_t i = 0; i < theirs.size(); ++i) {
            worst =
                std::max(worst, std::abs(static_cast<double>(ours[static_cast<std::int64_t>(i) * stride]) - theirs[i]));
            scale = std::max(scale, std::abs(static_cast<double>(theirs[i])));
        }
        return worst <= tolerance * scale;
    };
    for_each_checkpoint(
        [&](const std::string& dir, const nlohmann::json& ref, const DualEncoder& model, const std::string&) {
            const std::vector<RgbaImage> images = reference_images(dir, ref["images"]);
            const Tensor batch = model.preprocess(images);
            const Tensor places = model.encode_image_places(batch);  // [3, G, G, embed]
            const std::vector<Tensor> maps = model.image_stage_maps(batch);
            const std::int64_t cells = places.dim(1) * places.dim(2), d = places.dim(3);
            REQUIRE(maps.size() == 2 * ref["images"][0]["blocks"].size());
            for (std::size_t i = 0; i < images.size(); ++i) {
                const nlohmann::json& r = ref["images"][i];
                INFO("image " << r["file"]);
                REQUIRE(static_cast<std::int64_t>(r["places"].size()) == cells);
                for (std::int64_t p = 0; p < cells; ++p)
                    CHECK(close(places.data() + (static_cast<std::int64_t>(i) * cells + p) * d,
                                r["places"][p].get<std::vector<float>>(), 1, 1e-4));
                for (std::size_t b = 0; b < r["blocks"].size(); ++b) {
                    INFO("block " << b + 1);
                    const Tensor& attention = maps[2 * b];   // [3, G, G, heads]
                    const Tensor& hidden = maps[2 * b + 1];  // [3, G, G, 4 * width]
                    const std::int64_t heads = attention.dim(3), units = hidden.dim(3);
                    const auto& cls = r["blocks"][b]["class_attention"];  // [heads][G*G]
                    REQUIRE(static_cast<std::int64_t>(cls.size()) == heads);
                    for (std::int64_t h = 0; h < heads; ++h)
                        CHECK(close(attention.data() + static_cast<std::int64_t>(i) * cells * heads + h,
                                    cls[h].get<std::vector<float>>(), heads, 1e-4));
                    const auto& mlp = r["blocks"][b]["mlp_hidden"];  // [G*G][4 * width]
                    for (std::int64_t p = 0; p < cells; ++p)
                        CHECK(close(hidden.data() + (static_cast<std::int64_t>(i) * cells + p) * units,
                                    mlp[p].get<std::vector<float>>(), 1, 1e-4));
                }
            }
        });
}

TEST_CASE("bench encoder --torch: Opsis and PyTorch on the same checkpoint, side by side", "[.clip]") {
    test::TempDir tmp;
    for (const char* layout : {"hf", "openclip"}) {
        INFO(layout);
        const std::string json_out = tmp.file(std::string(layout) + ".json");
        const auto r =
            test::run_opsis("bench encoder --model " + test::shell_quote(reference_root() + "/gelu/" + layout) +
                            " --torch --seconds 0.1 --threads 1 --batches 1,3 --json " + json_out);
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        CHECK_THAT(r.output, Contains("PyTorch/s") && Contains("padded to 77 tokens"));
        const nlohmann::json j = nlohmann::json::parse(read_text_file(json_out, 1 << 20));
        // Every tower and batch measured on both sides, in fp32 at least.
        for (const char* tower : {"image", "text"})
            for (const int batch : {1, 3}) {
                INFO(tower << " " << batch);
                int ours = 0, theirs = 0;
                for (const auto& f : j["figures"])
                    ours += f["tower"] == tower && f["batch"] == batch && f["items_per_s"].get<double>() > 0;
                for (const auto& f : j["torch"]["figures"])
                    theirs += f["tower"] == tower && f["batch"] == batch && f["precision"] == "fp32" &&
                              f["items_per_s"].get<double>() > 0;
                CHECK(ours == 1);
                CHECK(theirs == 1);
            }
    }
}

TEST_CASE("damaged CLIP checkpoint folders are refused, naming the file and the reason", "[.clip]") {
    const std::string dir = reference_root() + "/quick_gelu";
    test::TempDir tmp;
    const std::string hf = tmp.file("hf"), oc = tmp.file("openclip");
    auto fresh = [&] {
        fs::remove_all(hf);
        fs::remove_all(oc);
        copy_folder(dir + "/hf", hf);
        copy_folder(dir + "/openclip", oc);
    };

    fresh();
    fs::remove(hf + "/vocab.json");
    CHECK_THROWS_WITH(DualEncoder::load(hf), Contains(hf + "/vocab.json"));
    fresh();
    fs::remove(oc + "/open_clip_model.safetensors");
    CHECK_THROWS_WITH(DualEncoder::load(oc), Contains(oc + "/open_clip_model.safetensors"));

    fresh();
    edit_json(hf + "/config.json", [](nlohmann::json& j) { j["text_config"]["hidden_act"] = "silu"; });
    CHECK_THROWS_WITH(DualEncoder::load(hf),
                      Contains(hf + "/config.json") && Contains("text_config.hidden_act") && Contains("silu"));
    fresh();
    edit_json(hf + "/config.json", [](nlohmann::json& j) {
        j["vision_config"]["hidden_size"] = 48;
        j["vision_config"]["intermediate_size"] = 192;
    });
    CHECK_THROWS_WITH(DualEncoder::load(hf),
                      Contains(hf + "/model.safetensors") && Contains("vision_model.embeddings") && Contains("[48"));
    fresh();
    edit_json(hf + "/config.json", [](nlohmann::json& j) { j["projection_dim"] = 32; });
    CHECK_THROWS_WITH(DualEncoder::load(hf), Contains("projection_dim"));
    fresh();
    edit_json(hf + "/config.json", [](nlohmann::json& j) { j["vision_config"]["use_rotary"] = true; });
    CHECK_THROWS_WITH(DualEncoder::load(hf), Contains("vision_config.use_rotary is not something Opsis knows"));

    fresh();
    edit_json(oc + "/open_clip_config.json", [](nlohmann::json& j) { j["model_cfg"]["embed_dim"] = 32; });
    CHECK_THROWS_WITH(DualEncoder::load(oc),
                      Contains(oc + "/open_clip_model.safetensors") && Contains("visual.proj") && Contains("[64, 32]"));
    fresh();
    edit_json(oc + "/open_clip_config.json",
              [](nlohmann::json& j) { j["model_cfg"]["vision_cfg"]["timm_model_name"] = "convnext_base"; });
    CHECK_THROWS_WITH(DualEncoder::load(oc), Contains("model_cfg.vision_cfg.timm_model_name"));
    fresh();
    edit_json(oc + "/open_clip_config.json", [](nlohmann::json& j) { j["model_cfg"]["text_cfg"]["width"] = 40; });
    CHECK_THROWS_WITH(DualEncoder::load(oc), Contains("token_embedding.weight") && Contains("[49408, 40]"));
}

TEST_CASE("the built-in CLIP tokenizer: CLIP's vocabulary, ids and cleaning", "[clip-tokenizer]") {
    const Tokenizer t = clip_tokenizer();
    CHECK(t.vocab_size() == 49408);
    CHECK(t.start_token() == 49406);
    CHECK(t.end_token() == 49407);
    // Ids every CLIP user knows: "a photo of a cat".
    CHECK(t.encode("a photo of a cat") == std::vector<std::int32_t>{320, 1125, 539, 320, 2368});
    CHECK(t.encode("A  PHOTO\tof a Cat") == t.encode("a photo of a cat"));
    CHECK(t.encode("Tom &amp;amp; Jerry") == t.encode("tom & jerry"));  // unescaped twice, as CLIP does
    CHECK(t.decode(t.encode("καλημέρα 🐱")) == "καλημέρα 🐱");
}

TEST_CASE("an index made with a CLIP checkpoint works end to end, and refuses another model", "[.clip]") {
    using test::run_opsis;
    using test::shell_quote;
    const std::string dir = reference_root() + "/quick_gelu";
    test::TempDir tmp;
    const std::string index = tmp.file("index"), oc = shell_quote(dir + "/openclip");
    const auto info = run_opsis("model info --model " + oc);
    REQUIRE(info.exit_code == 0);
    const nlohmann::json j = nlohmann::json::parse(info.output);
    CHECK(j["format"] == "openclip");
    CHECK(j["tokenizer_cleaning"] == "clip");
    CHECK(j["config"]["image"]["fit"] == "resize_crop");

    const auto added =
        run_opsis("index add --index " + shell_quote(index) + " --model " + oc + " " + shell_quote(dir + "/images"));
    REQUIRE(added.exit_code == 0);
    CHECK_THAT(added.output, Contains("6 added"));
    // The index remembers its model: searching needs no --model, and the text goes through
    // CLIP's tokenizer and text tower. The query's embedding is the reference's own for that
    // text, so the scores are the reference's cosines with the pictures.
    const auto found = run_opsis("search --index " + shell_quote(index) + " -q " + shell_quote("a photo of a cat") +
                                 " -k 6 --no-collapse --json");
    REQUIRE(found.exit_code == 0);
    const nlohmann::json hits = nlohmann::json::parse(found.output)["hits"];
    CHECK(hits.size() == 6);
    // Another model's weights are refused, naming both.
    const auto other = run_opsis("search --index " + shell_quote(index) + " --model " +
                                 shell_quote(reference_root() + "/gelu/openclip") + " -q cat");
    CHECK(other.exit_code != 0);
    CHECK_THAT(other.output, Contains("openclip"));
}
