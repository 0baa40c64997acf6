// Training batches with every augmentation on: the pictures the model is shown keep their
// captions true (a picture whose captions name a colour is never greyed, one without may be).
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <tuple>

#include "encoder/tokenizer.h"
#include "tests/test_support.h"
#include "train/batches.h"
#include "train/corpus.h"

using namespace opsis;
using namespace opsis::train;
using opsis::test::TempDir;

namespace {

// A red and green striped square: greying it makes R == G on every pixel.
RgbaImage stripes() {
    RgbaImage img;
    img.width = img.height = 24;
    img.pixels.assign(24 * 24 * 4, 0);
    for (int y = 2; y < 22; ++y)
        for (int x = 2; x < 22; ++x) {
            std::uint8_t* p = &img.pixels[(static_cast<std::size_t>(y) * 24 + x) * 4];
            const bool red = (x / 4) % 2 == 0;
            p[0] = red ? 230 : 20;
            p[1] = red ? 20 : 200;
            p[2] = 30;
            p[3] = 255;
        }
    return img;
}

// Largest |R - G| over the picture as the model sees it (normalised floats, HWC).
float most_colourful(const Tensor& images, int j, int s) {
    float best = 0;
    const float* px = images.data() + static_cast<std::int64_t>(j) * s * s * 3;
    for (int i = 0; i < s * s; ++i) best = std::max(best, std::abs(px[i * 3] - px[i * 3 + 1]));
    return best;
}

// Two items drawn as the same striped picture, with these English captions.
std::vector<CorpusItem> two_striped_items(const TempDir& dir, const std::vector<std::string>& first,
                                          const std::vector<std::string>& second) {
    opsis::test::write_bytes(dir.file("a.png"), opsis::test::encode_png_rgba(stripes()));
    std::vector<CorpusItem> items(2);
    for (int i = 0; i < 2; ++i) {
        items[static_cast<std::size_t>(i)].id = i == 0 ? "first" : "second";
        items[static_cast<std::size_t>(i)].image = dir.file("a.png");
        items[static_cast<std::size_t>(i)].concept_name = i == 0 ? "a" : "b";
    }
    items[0].english = first;
    items[1].english = second;
    return items;
}

// A tiny model whose captions hold up to `context` tokens.
ModelConfig tiny_config(int context) {
    nlohmann::json j = nlohmann::json::parse(R"({
      "name": "batch-tiny", "embed_dim": 8,
      "image": {"arch": "resnet", "image_size": 16, "stem_channels": 4, "stem_stride": 1, "stem_pool": false,
                "stage_channels": [4], "stage_blocks": [1]},
      "text": {"vocab_size": 514, "context_length": 10, "width": 8, "layers": 1, "heads": 2, "activation": "gelu"}})");
    j["text"]["context_length"] = context;
    return parse_model_config(j, "test");
}

// Every picture greyed where its captions allow, on a white background (a grey one would hide it).
AugmentOptions greying_options() {
    AugmentOptions options;
    options.white_background = 1.0f;
    options.image_options.probability.fill(0.0f);
    options.image_options[Challenge::colour_removal] = 1.0f;
    options.image_options.max_strength = 1.0f;
    return options;
}

}  // namespace

TEST_CASE("batches never grey a picture whose captions name a colour", "[training][batches]") {
    TempDir dir;
    const std::vector<CorpusItem> items = two_striped_items(dir, {"red and green stripes"}, {"stripes"});
    const ModelConfig config = tiny_config(10);
    const ImageCache cache({items[0].image, items[1].image}, 18, true, ImageLimits{});
    const Tokenizer tokenizer = Tokenizer::bytes_only();
    const AugmentOptions options = greying_options();
    const BatchMaker batches(items, cache, tokenizer, config, 2, 7, options);
    int coloured_seen = 0, plain_greyed = 0;
    for (std::int64_t step = 0; step < 200; ++step) {
        const Batch batch = batches.make(step);
        for (int j = 0; j < 2; ++j) {
            const float colour = most_colourful(batch.images, j, 16);
            if (batch.items[static_cast<std::size_t>(j)] == 0) {
                CHECK(colour > 0.5f);
                ++coloured_seen;
            } else if (colour < 1e-4f) {
                ++plain_greyed;
            }
        }
    }
    CHECK(coloured_seen == 200);
    CHECK(plain_greyed > 20);  // colour removal does reach pictures whose captions allow it
}

TEST_CASE("an item's search tags are read from the manifest and become one caption of its name and tags",
          "[training][batches]") {
    TempDir dir;
    opsis::test::write_text(
        dir.file("manifest.jsonl"),
        std::string(R"({"id": "cat", "image": "cat.png", "concept": "cat", "captions": {"en": ["cat: animal"], "el": []},)"
                    R"( "search_tags": ["kitten", "kitty"]})"
                    "\n"
                    R"({"id": "dog", "image": "dog.png", "concept": "dog", "captions": {"en": ["dog"], "el": []}})"
                    "\n"
                    R"({"id": "bad", "image": "b.png", "concept": "b", "captions": {"en": ["b"]}, "search_tags": "kitty"})"
                    "\n"));
    const Manifest manifest = read_manifest(dir.file("manifest.jsonl"));
    REQUIRE(manifest.items.size() == 2);
    REQUIRE(manifest.problems.size() == 1);  // tags that are no list: the line is named and left out
    CHECK_THAT(manifest.problems[0], Catch::Contains("3") && Catch::Contains("search_tags"));
    CHECK(manifest.items[0].search_tags == std::vector<std::string>{"kitten", "kitty"});
    CHECK(search_tags_caption(manifest.items[0]) == "cat: kitten, kitty");  // the name's phrase, not its keywords
    CHECK(search_tags_caption(manifest.items[1]).empty());
}

namespace {

// What 100 steps of batches of two (the two items of two_striped_items, each once a step) show:
// each pair's item, its caption as decoded and whether its picture was greyed.
struct Drawn {
    std::size_t item;
    std::string text;
    bool greyed;
};
std::vector<Drawn> draw_pairs(const std::vector<CorpusItem>& items, const AugmentOptions& options) {
    const ModelConfig config = tiny_config(40);
    const ImageCache cache({items[0].image, items[1].image}, 18, true, ImageLimits{});
    const Tokenizer tokenizer = Tokenizer::bytes_only();
    const BatchMaker batches(items, cache, tokenizer, config, 2, 3, options);
    std::vector<Drawn> drawn;
    for (std::int64_t step = 0; step < 100; ++step) {
        const Batch batch = batches.make(step);
        for (int j = 0; j < 2; ++j)
            drawn.push_back({batch.items[static_cast<std::size_t>(j)],
                             tokenizer.decode(batch.tokens[static_cast<std::size_t>(j)]),
                             most_colourful(batch.images, j, 16) < 1e-4f});
    }
    return drawn;
}

// The share of a caption among the first item's: none at weight 0, one of two at 1 (one name,
// one such caption), three of four at 3.
constexpr std::tuple<int, int, int> kWeightShares[] = {{0, 0, 0}, {1, 30, 70}, {3, 60, 90}};

}  // namespace

TEST_CASE("batches train on an item's search tags as one English caption as often as asked", "[training][batches]") {
    TempDir dir;
    std::vector<CorpusItem> items = two_striped_items(dir, {"stripes"}, {"squares"});
    items[0].search_tags = {"bands", "zebra"};
    items[1].definitions = {"a shape with four equal sides"};  // the second item has no tags
    for (const auto& [weight, low, high] : kWeightShares) {
        AugmentOptions options = greying_options();
        options.text = TextAugmentOptions::none();
        options.search_tags_weight = weight;
        options.definition_weight = 1;
        int names = 0, tags = 0, others = 0;
        for (const Drawn& d : draw_pairs(items, options)) {
            INFO(d.text);
            if (d.item != 0) {
                others += d.text.find("squares") != std::string::npos ||
                          d.text.find("a shape with four equal sides") != std::string::npos;
                continue;
            }
            // Decoded with the punctuation as tokens of its own: "stripes : bands , zebra".
            const bool tagged = d.text.find("stripes") == 0 && d.text.find("bands , zebra") != std::string::npos;
            tags += tagged;
            names += !tagged && d.text.find("stripes") != std::string::npos;
        }
        INFO("search tags weight " << weight);
        CHECK(names + tags == 100);
        CHECK(others == 100);
        CHECK(tags >= low);
        CHECK(tags <= high);
    }
}

TEST_CASE("batches train on an item's definitions as English captions as often as asked, never on its facts",
          "[training][batches]") {
    TempDir dir;
    std::vector<CorpusItem> items = two_striped_items(dir, {"stripes"}, {"squares"});
    items[0].definitions = {"bands of red paint"};  // a colour in a definition does not stop greying
    for (const auto& [weight, low, high] : kWeightShares) {
        AugmentOptions options = greying_options();
        options.text = TextAugmentOptions::none();
        options.definition_weight = weight;
        int names = 0, definitions = 0, greyed = 0;
        for (const Drawn& d : draw_pairs(items, options)) {
            if (d.item != 0) continue;
            INFO(d.text);
            names += d.text.find("stripes") != std::string::npos;
            definitions += d.text.find("bands of red paint") != std::string::npos;
            greyed += d.greyed;
        }
        INFO("definition weight " << weight);
        CHECK(names + definitions == 100);  // each step shows each item once
        CHECK(definitions >= low);
        CHECK(definitions <= high);
        CHECK(greyed > 10);
    }
}
