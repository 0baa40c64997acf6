// Growing a trained model by whole blocks (train/model_growth.h): the grown model embeds exactly
// as the one it grew from, its new blocks can learn, and what is not growth by whole blocks is
// refused, naming the parameter or the change.
#include <catch2/catch.hpp>
#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "encoder/model_config.h"
#include "tests/test_support.h"
#include "train/model_growth.h"

using namespace opsis;
using namespace opsis::test;
using json = nlohmann::json;

namespace {

json resnet_config(int text_layers, json stage_channels, json stage_blocks) {
    return {{"name", "growth-tiny"},
            {"embed_dim", 8},
            {"image",
             {{"arch", "resnet"},
              {"image_size", 24},
              {"stem_channels", 4},
              {"stem_stride", 1},
              {"stage_channels", std::move(stage_channels)},
              {"stage_blocks", std::move(stage_blocks)}}},
            {"text", {{"context_length", 12}, {"width", 8}, {"layers", text_layers}, {"heads", 2}, {"vocab_size", 514}}}};
}

ModelConfig config_of(const json& j) { return parse_model_config(j, "test"); }

// A trained-looking start: random weights with batch-norm statistics that are not the identity's.
DualEncoder start_model(const json& j) {
    ModelConfig config = config_of(j);
    Weights weights = random_weights(DualEncoder::param_specs(config), 3);
    std::mt19937 rng(4);
    std::uniform_real_distribution<float> around_one(0.5f, 1.5f), around_zero(-0.5f, 0.5f);
    for (auto& [name, tensor] : weights) {
        const bool scale = name.ends_with(".bn.weight") || name.ends_with(".bn.running_var");
        if (scale || name.ends_with(".bn.bias") || name.ends_with(".bn.running_mean"))
            for (std::int64_t i = 0; i < tensor.numel(); ++i) tensor[i] = scale ? around_one(rng) : around_zero(rng);
    }
    return DualEncoder::from_weights(std::move(config), Tokenizer::bytes_only(), std::move(weights));
}

Tensor pictures(int size, std::uint32_t seed) {
    Tensor t({3, size, size, 3});
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = normal(rng);
    return t;
}

bool all_zero(const Tensor& t) {
    return std::all_of(t.data(), t.data() + t.numel(), [](float v) { return v == 0.0f; });
}

}  // namespace

TEST_CASE("a model grown by whole blocks embeds exactly as the model it grew from", "[train][growth]") {
    const DualEncoder start = start_model(resnet_config(1, {4, 8}, {1, 1}));
    const ModelConfig deeper = config_of(resnet_config(3, {4, 8}, {2, 3}));
    const Weights grown = train::grow_weights(start, "start", deeper, "deeper.json", 7);
    const DualEncoder model = DualEncoder::from_weights(deeper, Tokenizer::bytes_only(), grown);

    const std::vector<std::string> texts{"a dog", "μήλο", "two birds on a wire", "x"};
    CHECK(max_abs_diff(start.encode_texts(texts), model.encode_texts(texts)) == 0.0f);
    const Tensor batch = pictures(24, 11);
    CHECK(max_abs_diff(start.encode_images(batch), model.encode_images(batch)) < 1e-6f);

    // Kept: every parameter of the start, bit for bit.
    for (const auto& [name, tensor] : start.weights()) CHECK(max_abs_diff(tensor, grown.at(name)) == 0.0f);
    // New blocks: their residual branches close at zero, and everything else in them can learn.
    for (const std::string layer : {"1", "2"}) {
        const std::string p = "transformer.resblocks." + layer;
        CHECK(all_zero(grown.at(p + ".attn.out_proj.weight")));
        CHECK(all_zero(grown.at(p + ".mlp.c_proj.weight")));
        CHECK_FALSE(all_zero(grown.at(p + ".attn.in_proj_weight")));
        CHECK_FALSE(all_zero(grown.at(p + ".mlp.c_fc.weight")));
    }
    CHECK(all_zero(grown.at("visual.layers.1.2.conv2.bn.weight")));
    CHECK_FALSE(all_zero(grown.at("visual.layers.1.2.conv1.conv.weight")));
    CHECK_FALSE(all_zero(grown.at("visual.layers.0.1.conv2.conv.weight")));
    CHECK(grown.size() == DualEncoder::param_specs(deeper).size());
}

TEST_CASE("growth that is not by whole blocks is refused, naming what differs", "[train][growth]") {
    const DualEncoder start = start_model(resnet_config(1, {4, 8}, {1, 1}));
    auto refusal = [&](const json& config) {
        try {
            train::grow_weights(start, "start-model", config_of(config), "other.json", 7);
        } catch (const Error& e) {
            CHECK(e.kind() == Error::Kind::invalid_input);
            return std::string(e.what());
        }
        FAIL("grown without complaint");
        return std::string();
    };
    // A wider stage: the start's parameter no longer fits.
    CHECK_THAT(refusal(resnet_config(1, {4, 12}, {1, 1})),
               Catch::Contains("start-model") && Catch::Contains("another architecture") &&
                   Catch::Contains("'visual.layers.1.0.conv1.bn.bias' is [8] there and [12]"));
    // A shallower text tower: the start's layer has nowhere to go.
    const DualEncoder two_layers = start_model(resnet_config(2, {4, 8}, {1, 1}));
    try {
        train::grow_weights(two_layers, "two-layers", config_of(resnet_config(1, {4, 8}, {1, 1})), "one.json", 7);
        FAIL("shrunk without complaint");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("transformer.resblocks.1") && Catch::Contains("not in --config"));
    }
    // A new stage of the same width: every old parameter fits, but its first block halves the
    // picture through a new shortcut, which is no identity; the check of the embeddings says so.
    CHECK_THAT(refusal(resnet_config(1, {4, 8, 8}, {1, 1, 1})),
               Catch::Contains("other.json") && Catch::Contains("change what it computes") &&
                   Catch::Contains("whole blocks"));
}
