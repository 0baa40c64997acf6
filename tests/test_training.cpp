// The training side: the contrastive loss and the whole trainable dual encoder against
// finite differences, and positives by concept.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>

#include "encoder/dual_encoder.h"
#include "encoder/ops.h"
#include "tests/test_support.h"
#include "train/contrastive_loss.h"
#include "train/trainable_model.h"
#include "train/optimizer.h"

using namespace opsis;
using opsis::test::random_tensor;

namespace {

ModelConfig tiny_config() {
    return parse_model_config(nlohmann::json::parse(R"({
      "name": "train-tiny", "embed_dim": 8,
      "image": {"arch": "resnet", "image_size": 12, "stem_channels": 4, "stem_stride": 1, "stem_pool": false,
                "stage_channels": [4, 6], "stage_blocks": [1, 1]},
      "text": {"vocab_size": 514, "context_length": 10, "width": 8, "layers": 2, "heads": 2, "activation": "gelu"}})"),
                              "test");
}

// The tiny config's trainable model from random weights, at temperature 1/e.
train::TrainableDualEncoder tiny_trainable(std::uint64_t seed) {
    const ModelConfig config = tiny_config();
    Weights weights = random_weights(DualEncoder::param_specs(config), seed);
    weights["logit_scale"][0] = 1.0f;
    return train::TrainableDualEncoder(config, weights);
}

// Probes `per_tensor` random entries of each trainable tensor `include` accepts: the analytic
// gradient in grads against a central difference of loss(). Returns {probes, agreeing}.
std::pair<int, int> probe_gradients(train::TrainableDualEncoder& model, const train::Gradients& grads,
                                    const std::function<double()>& loss, int per_tensor, std::mt19937& rng,
                                    const std::function<bool(const std::string&)>& include) {
    std::uniform_int_distribution<int> coin(0, 1 << 20);
    int checked = 0, agreed = 0;
    for (const ParamSpec& s : model.specs()) {
        if (!s.trainable || !include(s.name)) continue;
        Tensor& w = model.weights().at(s.name);
        const Tensor& g = grads.at(s.name);
        for (int probe = 0; probe < per_tensor; ++probe) {
            const std::int64_t i = coin(rng) % w.numel();
            const double numeric = test::central_difference(w, i, 2e-3f * std::max(1.0f, std::abs(w[i])), loss);
            ++checked;
            const bool ok = test::gradients_agree(g[i], numeric, 2e-3, 5e-2);
            agreed += ok;
            if (!ok) WARN(s.name << "[" << i << "]: analytic " << g[i] << ", numeric " << numeric);
        }
    }
    return {checked, agreed};
}

}  // namespace

TEST_CASE("contrastive loss gradients match finite differences", "[training]") {
    std::mt19937 rng(31);
    Tensor img = random_tensor({5, 4}, rng), txt = random_tensor({5, 4}, rng);
    const std::vector<std::int32_t> concepts{0, 1, 0, 2, 3};
    const float scale = 1.3f;
    const auto r = train::contrastive_loss(img, txt, concepts, scale);
    auto loss = [&] { return train::contrastive_loss(img, txt, concepts, scale).loss; };
    const float eps = 1e-3f;
    for (Tensor* t : {&img, &txt}) {
        const Tensor& analytic = t == &img ? r.d_images : r.d_texts;
        for (std::int64_t i = 0; i < t->numel(); ++i)
            CHECK(test::gradients_agree(analytic[i], test::central_difference(*t, i, eps, loss), 1e-4, 1e-2));
    }
    Tensor scale_tensor({1}, {scale});
    const double numeric_scale = test::central_difference(
        scale_tensor, 0, eps, [&] { return train::contrastive_loss(img, txt, concepts, scale_tensor[0]).loss; });
    CHECK(test::gradients_agree(r.d_logit_scale, numeric_scale, 1e-4, 1e-2));
    // Clamped: exp(10) > 100, so the scale gets no gradient and the temperature is 1/100.
    const auto clamped = train::contrastive_loss(img, txt, concepts, 10.0f);
    CHECK(clamped.d_logit_scale == 0.0);
    CHECK(clamped.temperature == Approx(0.01));
}

TEST_CASE("label-smoothed contrastive loss gradients match finite differences", "[training]") {
    std::mt19937 rng(37);
    Tensor img = random_tensor({6, 4}, rng), txt = random_tensor({6, 4}, rng);
    const std::vector<std::int32_t> concepts{0, 1, 0, 2, 3, 1};
    const float scale = 1.1f, smoothing = 0.2f;
    const auto r = train::contrastive_loss(img, txt, concepts, scale, 100.0f, smoothing);
    auto loss = [&] { return train::contrastive_loss(img, txt, concepts, scale, 100.0f, smoothing).loss; };
    for (Tensor* t : {&img, &txt}) {
        const Tensor& analytic = t == &img ? r.d_images : r.d_texts;
        for (std::int64_t i = 0; i < t->numel(); ++i)
            CHECK(test::gradients_agree(analytic[i], test::central_difference(*t, i, 1e-3f, loss), 1e-4, 1e-2));
    }
    Tensor scale_tensor({1}, {scale});
    CHECK(test::gradients_agree(
        r.d_logit_scale,
        test::central_difference(
            scale_tensor, 0, 1e-3f,
            [&] { return train::contrastive_loss(img, txt, concepts, scale_tensor[0], 100.0f, smoothing).loss; }),
        1e-4, 1e-2));
    // Smoothing changes the loss (and 0 is the plain loss); a share outside [0, 1) is refused.
    CHECK(r.loss != Approx(train::contrastive_loss(img, txt, concepts, scale).loss));
    CHECK(train::contrastive_loss(img, txt, concepts, scale, 100.0f, 0.0f).loss ==
          Approx(train::contrastive_loss(img, txt, concepts, scale).loss));
    CHECK_THROWS(train::contrastive_loss(img, txt, concepts, scale, 100.0f, 1.0f));
}

TEST_CASE("pairs of the same concept are positives, not negatives", "[training]") {
    Tensor same({2, 2}, {1, 0, 1, 0});  // two identical pictures and captions
    // Different concepts: each row cannot tell its partner from the other, so loss = log 2.
    CHECK(train::contrastive_loss(same, same, {0, 1}, 0.0f).loss == Approx(std::log(2.0)));
    // Same concept: both are right answers, the loss is zero and nothing pushes them apart.
    const auto r = train::contrastive_loss(same, same, {7, 7}, 0.0f);
    CHECK(r.loss == Approx(0.0).margin(1e-12));
    for (std::int64_t i = 0; i < 4; ++i) CHECK(r.d_images[i] == Approx(0.0f).margin(1e-7));
}

TEST_CASE("the whole trainable dual encoder's gradients match finite differences", "[training]") {
    std::mt19937 rng(32);
    train::TrainableDualEncoder model = tiny_trainable(4);
    const auto& specs = model.specs();
    const Tensor images = random_tensor({4, 12, 12, 3}, rng, 2.0f);
    const Tokenizer tok = Tokenizer::bytes_only();
    const std::vector<std::vector<std::int32_t>> rows{tok.encode_for_model("red", 10),
                                                      tok.encode_for_model("a cat", 10),
                                                      tok.encode_for_model("red!", 10), tok.encode_for_model("xy", 10)};
    const std::vector<std::int32_t> concepts{0, 1, 0, 2};
    train::Gradients grads = train::zero_gradients(specs);
    const double loss0 = model.forward_backward(images, rows, concepts, grads).loss;
    CHECK(std::isfinite(loss0));
    CHECK(grads.count("visual.stem.bn.running_mean") == 0);  // statistics are not trained

    auto loss = [&] {
        train::Gradients scratch = train::zero_gradients(specs);
        return model.forward_backward(images, rows, concepts, scratch).loss;
    };
    const auto [checked, agreed] = probe_gradients(model, grads, loss, 2, rng, [](const std::string&) { return true; });
    // A ReLU kink can sit inside a finite-difference step (max-pool ones are left out by the
    // config; max-pool's backward is checked on its own); allow one miss.
    INFO(agreed << " of " << checked << " probes agree");
    CHECK(agreed >= checked - 1);
    CHECK(checked > 60);
}

TEST_CASE("the text-pairs loss's gradients match finite differences and reach only the text tower", "[training]") {
    std::mt19937 rng(41);
    train::TrainableDualEncoder model = tiny_trainable(5);
    const auto& specs = model.specs();
    const Tokenizer tok = Tokenizer::bytes_only();
    const std::vector<std::vector<std::int32_t>> a{tok.encode_for_model("kitty", 10), tok.encode_for_model("car", 10),
                                                   tok.encode_for_model("dog", 10), tok.encode_for_model("tom", 10)},
        b{tok.encode_for_model("cat", 10), tok.encode_for_model("a motor vehicle", 10),
          tok.encode_for_model("canine", 10), tok.encode_for_model("cat", 10)};
    const std::vector<std::int32_t> groups{0, 1, 2, 0};  // "kitty" and "tom" mean one thing
    const float weight = 0.7f;
    train::Gradients grads = train::zero_gradients(specs);
    const double loss0 = model.forward_backward_text_pairs(a, b, groups, grads, weight).loss;
    CHECK(std::isfinite(loss0));
    CHECK(loss0 > 0);

    auto loss = [&] {
        train::Gradients scratch = train::zero_gradients(specs);
        return weight * model.forward_backward_text_pairs(a, b, groups, scratch, weight).loss;
    };
    const auto not_this_loss = [](const std::string& name) {
        return name.rfind("visual.", 0) == 0 || name == "logit_scale";  // the image tower, the temperature
    };
    for (const ParamSpec& s : specs) {
        if (!s.trainable || !not_this_loss(s.name)) continue;
        const Tensor& g = grads.at(s.name);
        float largest = 0;
        for (std::int64_t i = 0; i < g.numel(); ++i) largest = std::max(largest, std::abs(g[i]));
        INFO(s.name);
        CHECK(largest == 0.0f);
    }
    const auto [checked, agreed] =
        probe_gradients(model, grads, loss, 3, rng, [&](const std::string& name) { return !not_this_loss(name); });
    INFO(agreed << " of " << checked << " probes agree");
    CHECK(agreed == checked);
    CHECK(checked > 30);
}

TEST_CASE("text rows grouped by length give the loss and gradients of the padded batch", "[training]") {
    std::vector<std::vector<std::int32_t>> lengths_only;
    for (int len : {3, 9, 3, 4, 30, 4, 3, 31}) lengths_only.emplace_back(static_cast<std::size_t>(len), 1);
    const auto groups = train::group_rows_by_length(lengths_only, 8);
    // Sorted by length, every row exactly once: {3,3,3,4,4} {9} {30,31} at 8 tokens a group.
    REQUIRE(groups.size() == 3);
    CHECK(groups[0] == std::vector<std::size_t>{0, 2, 6, 3, 5});
    CHECK(groups[1] == std::vector<std::size_t>{1});
    CHECK(groups[2] == std::vector<std::size_t>{4, 7});
    CHECK(train::group_rows_by_length(lengths_only, 1000).size() == 1);

    ModelConfig config = tiny_config();
    config.text.context_length = 40;
    const auto specs = DualEncoder::param_specs(config);
    std::mt19937 rng(11);
    const Tensor images = random_tensor({6, 12, 12, 3}, rng, 2.0f);
    const Tokenizer tok = Tokenizer::bytes_only();
    const std::vector<std::vector<std::int32_t>> rows{tok.encode_for_model("a cat", 40),
                                                      tok.encode_for_model("a long caption that pads the others", 40),
                                                      tok.encode_for_model("dog", 40),
                                                      tok.encode_for_model("red", 40),
                                                      tok.encode_for_model("one more long caption, longer still", 40),
                                                      tok.encode_for_model("sun", 40)};
    const std::vector<std::int32_t> concepts{0, 1, 2, 3, 4, 5};
    auto run = [&](std::int64_t group_cost, train::Gradients& grads) {
        train::TrainableDualEncoder model(config, random_weights(specs, 4));
        model.set_text_group_cost(group_cost);
        return model.forward_backward(images, rows, concepts, grads).loss;
    };
    REQUIRE(train::group_rows_by_length(rows, 0).size() > 2);
    train::Gradients padded = train::zero_gradients(specs), grouped = train::zero_gradients(specs);
    const double loss_padded = run(1'000'000, padded), loss_grouped = run(0, grouped);
    CHECK(loss_grouped == Approx(loss_padded).epsilon(1e-6));
    // Only the order of float sums differs: each tensor agrees to within a small part of its scale.
    for (const auto& [name, g] : padded) {
        float scale = 1e-6f, worst = 0.0f;
        for (std::int64_t i = 0; i < g.numel(); ++i) scale = std::max(scale, std::abs(g[i]));
        for (std::int64_t i = 0; i < g.numel(); ++i) worst = std::max(worst, std::abs(grouped.at(name)[i] - g[i]));
        INFO(name << ": largest difference " << worst << " at scale " << scale);
        CHECK(worst <= 1e-4f * scale);
    }
}

TEST_CASE("the training towers and the inference towers give the same embeddings", "[training]") {
    // Written twice (train/trainable_model.cpp keeps what backward needs; encoder/*_tower.cpp
    // folds batch-norm and packs weights): the same weights and inputs must give the same vectors.
    std::mt19937 rng(5);
    const ModelConfig config = tiny_config();
    const auto specs = DualEncoder::param_specs(config);
    train::TrainableDualEncoder model(config, random_weights(specs, 9));
    const Tensor images = random_tensor({5, 12, 12, 3}, rng, 2.0f);
    const Tokenizer tok = Tokenizer::bytes_only();
    const std::vector<std::string> texts{"red", "a cat on a mat", "ψ", "", "a longer caption, with punctuation!"};
    std::vector<std::vector<std::int32_t>> rows;
    for (const std::string& t : texts) rows.push_back(tok.encode_for_model(t, 10));
    // A training step first, so the running statistics are the trained ones, not 0 and 1.
    train::Gradients grads = train::zero_gradients(specs);
    model.forward_backward(images, rows, {0, 1, 2, 3, 4}, grads);
    const train::TrainableDualEncoder::Embeddings trained = model.embed(images, rows);
    const DualEncoder inference = DualEncoder::from_weights(config, tok, model.weights());
    const Tensor image_vectors = inference.encode_images(images), text_vectors = inference.encode_texts(texts);
    REQUIRE(image_vectors.shape() == trained.images.shape());
    REQUIRE(text_vectors.shape() == trained.texts.shape());
    for (std::int64_t i = 0; i < image_vectors.numel(); ++i)
        CHECK(image_vectors[i] == Approx(trained.images[i]).margin(1e-5));
    for (std::int64_t i = 0; i < text_vectors.numel(); ++i)
        CHECK(text_vectors[i] == Approx(trained.texts[i]).margin(1e-5));
}

TEST_CASE("training refuses the inference-only ViT tower", "[training]") {
    ModelConfig config = tiny_config();
    config.image.arch = ImageTowerConfig::Arch::vit;
    config.image.vit.patch_size = 4;
    config.image.vit.transformer = {8, 1, 2, 2, ops::Activation::gelu};
    CHECK_THROWS_WITH(train::TrainableDualEncoder(config, random_weights(DualEncoder::param_specs(config), 1)),
                      Catch::Contains("only the ResNet image tower trains"));
}

TEST_CASE("AdamW updates match the formula, decaying only what should decay", "[training]") {
    const std::vector<ParamSpec> specs{{"w", {2}, Init::zeros, 0, true},
                                       {"b", {2}, Init::zeros, 0, false},
                                       {"stat", {1}, Init::zeros, 0, false, false}};
    Weights w{{"w", Tensor({2}, {1.0f, -2.0f})}, {"b", Tensor({2}, {1.0f, -2.0f})}, {"stat", Tensor({1}, {3.0f})}};
    train::Gradients g{{"w", Tensor({2}, {0.5f, 0.1f})}, {"b", Tensor({2}, {0.5f, 0.1f})}};
    train::AdamW adam(specs, {0.9f, 0.98f, 1e-8f, 0.1f});
    adam.step(w, g, 0.01f);
    // First step: m_hat = g, v_hat = g^2, so the update is lr * sign(g) (plus decay on w).
    CHECK(w.at("w")[0] == Approx(1.0 * (1 - 0.001) - 0.01).epsilon(1e-6));
    CHECK(w.at("w")[1] == Approx(-2.0 * (1 - 0.001) - 0.01).epsilon(1e-6));
    CHECK(w.at("b")[0] == Approx(1.0 - 0.01).epsilon(1e-6));
    CHECK(w.at("stat")[0] == 3.0f);
    adam.step(w, g, 0.01f);
    CHECK(adam.steps_taken() == 2);
    CHECK(adam.first_moment().at("w")[0] == Approx(0.5 * (1 - 0.81)).epsilon(1e-6));
}

TEST_CASE("the learning rate warms up linearly and decays by a cosine", "[training]") {
    const train::LearningRateSchedule s{1.0f, 10, 110, 0.0f};
    CHECK(s.at(0) == Approx(0.1));
    CHECK(s.at(9) == Approx(1.0));
    CHECK(s.at(10) == Approx(1.0));
    CHECK(s.at(60) == Approx(0.5));
    CHECK(s.at(110) == Approx(0.0).margin(1e-6));
    CHECK(s.at(500) == Approx(0.0).margin(1e-6));
}

TEST_CASE("gradient clipping bounds the global norm", "[training]") {
    train::Gradients g{{"a", Tensor({2}, {3.0f, 0.0f})}, {"b", Tensor({1}, {4.0f})}};
    CHECK(train::clip_gradient_norm(g, 10.0) == Approx(5.0));
    CHECK(g.at("a")[0] == 3.0f);
    CHECK(train::clip_gradient_norm(g, 1.0) == Approx(5.0));
    CHECK(g.at("a")[0] == Approx(0.6f));
    CHECK(g.at("b")[0] == Approx(0.8f));
}
