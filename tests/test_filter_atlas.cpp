// Filter visualisation (explain/receptive_field.h, explain/filter_atlas.h): the receptive-field
// arithmetic, checked by hand and against the tower itself, and the top patches against a
// brute-force search over a tiny collection.
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/file_io.h"
#include "encoder/model_config.h"
#include "explain/filter_atlas.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::explain;
using namespace opsis::test;

namespace {

// Strides, padding and pooling: a 32-px ResNet with a stride-2 stem, a max-pool and two stages.
DualEncoder strided_model(std::uint64_t seed) {
    const nlohmann::json j = {
        {"name", "atlas-tiny"},
        {"embed_dim", 8},
        {"image",
         {{"arch", "resnet"},
          {"image_size", 32},
          {"stem_channels", 4},
          {"stem_stride", 2},
          {"stem_pool", true},
          {"stage_channels", {4, 6}},
          {"stage_blocks", {1, 1}}}},
        {"text", {{"context_length", 8}, {"width", 8}, {"layers", 1}, {"heads", 2}, {"vocab_size", 514}}}};
    return DualEncoder::random(parse_model_config(j, "test"), Tokenizer::bytes_only(), seed);
}

// A 32-px ViT: 8-px patches (a 4x4 grid), two blocks of two heads.
DualEncoder tiny_vit(std::uint64_t seed) {
    const nlohmann::json j = {
        {"name", "atlas-vit"},
        {"embed_dim", 8},
        {"image", {{"arch", "vit"}, {"image_size", 32}, {"patch_size", 8}, {"width", 16}, {"layers", 2}, {"heads", 2}}},
        {"text", {{"context_length", 8}, {"width", 8}, {"layers", 1}, {"heads", 2}, {"vocab_size", 514}}}};
    return DualEncoder::random(parse_model_config(j, "test"), Tokenizer::bytes_only(), seed);
}

// Twelve noisy pictures of different sizes and one missing file.
std::vector<AtlasPicture> noisy_pictures(TempDir& dir) {
    std::vector<AtlasPicture> pictures;
    for (int k = 0; k < 12; ++k) {
        RgbaImage img = pattern_image(20 + 3 * k, 24 + 2 * k, k % 2 == 0);
        std::mt19937 rng(static_cast<std::uint32_t>(k));
        for (auto& p : img.pixels)
            p = static_cast<std::uint8_t>(std::clamp<int>(p + static_cast<int>(rng() % 61) - 30, 0, 255));
        const std::string path = dir.file(std::to_string(k) + ".png");
        write_bytes(path, encode_png_rgba(img));
        pictures.push_back({100 + k, path, "picture " + std::to_string(k)});
    }
    pictures.push_back({999, dir.file("missing.png"), "gone"});
    return pictures;
}

// Each unit's top patches against a brute-force search: each picture alone, its strongest place.
void check_against_brute_force(const DualEncoder& model, const std::vector<AtlasPicture>& pictures, const Atlas& atlas,
                               std::size_t top) {
    for (std::size_t s = 0; s < atlas.stages.size(); ++s) {
        const AtlasStage& stage = atlas.stages[s];
        for (const AtlasUnit& unit : stage.units) {
            INFO(stage.geometry.name << " unit " << unit.channel);
            std::vector<std::pair<float, std::size_t>> best;
            for (std::size_t p = 0; p + 1 < pictures.size(); ++p) {
                const Tensor m =
                    model.image_stage_maps(model.preprocess({load_image(pictures[p].path, ImageLimits{})}))[s];
                float strongest = m[unit.channel];
                for (std::int64_t i = 0; i < m.dim(1) * m.dim(2); ++i)
                    strongest = std::max(strongest, m[i * m.dim(3) + unit.channel]);
                best.push_back({strongest, p});
            }
            std::stable_sort(best.begin(), best.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
            REQUIRE(unit.patches.size() == top);
            for (std::size_t i = 0; i < top; ++i) {
                CHECK(unit.patches[i].activation == Approx(best[i].first).epsilon(1e-4));
                CHECK(unit.patches[i].picture == best[i].second);
                const Box b = unit.patches[i].box;
                CHECK((b.x0 < b.x1 && b.y0 < b.y1 && b.x1 <= 32 && b.y1 <= 32));
            }
        }
    }
}

}  // namespace

TEST_CASE("receptive fields through kernels, strides, padding and pooling, by hand", "[atlas]") {
    // ResNet-50's stem: a 7x7 stride-2 conv (padding 3), then a 3x3 stride-2 max-pool (padding 1).
    std::vector<ReceptiveField> f = receptive_fields({{7, 2, 3}, {3, 2, 1}});
    CHECK(f[0].size == 7);
    CHECK(f[0].jump == 2);
    CHECK(f[0].start == 0);
    CHECK(f[1].size == 11);
    CHECK(f[1].jump == 4);
    CHECK(f[1].start == 0);
    // Without padding, unit 0 is centred inside the picture.
    f = receptive_fields({{3, 1, 0}, {3, 1, 0}});
    CHECK(f[1].size == 5);
    CHECK(f[1].start == 2);
    // Boxes: centred on start + index * jump, clipped to the picture.
    const ReceptiveField r{4, 0, 11};
    CHECK(receptive_box(r, 2, 3, 16) == Box{7, 3, 16, 14});  // x 7..18 clipped at 16, y 3..14
    CHECK(receptive_box(r, 0, 0, 16) == Box{0, 0, 6, 6});    // -5..6 clipped at 0

    ResNetConfig c;
    c.stem_stride = 2;
    c.stem_pool = true;
    c.stage_channels = {4, 6};
    c.stage_blocks = {1, 1};
    const std::vector<StageGeometry> g = resnet_stage_geometry(c);
    REQUIRE(g.size() == 3);
    CHECK(g[0].name == "stem");
    CHECK((g[0].field.size == 7 && g[0].field.jump == 4));   // conv 3/2, pool 3/2
    CHECK((g[1].field.size == 23 && g[1].field.jump == 4));  // + two 3x3 convs at jump 4
    CHECK((g[2].field.size == 47 && g[2].field.jump == 8));  // + a stride-2 3x3 and a 3x3
    CHECK(g[2].name == "stage 2");
}

TEST_CASE("a unit depends on the pixels of its receptive box and on no other", "[atlas]") {
    const DualEncoder model = strided_model(4);
    const std::vector<StageGeometry> g = resnet_stage_geometry(model.config().image.resnet);
    std::mt19937 rng(9);
    const Tensor base = random_tensor({1, 32, 32, 3}, rng);
    const std::vector<Tensor> maps = model.image_stage_maps(base);
    REQUIRE(maps.size() == 3);
    for (std::size_t s = 0; s < 2; ++s) {  // stage 2's field covers the whole 32-px picture
        const int y = 5, x = 2, w = static_cast<int>(maps[s].dim(2)), c = static_cast<int>(maps[s].dim(3));
        const Box box = receptive_box(g[s].field, y, x, 32);
        INFO("stage " << s << " box " << box.x0 << "," << box.y0 << " - " << box.x1 << "," << box.y1);
        auto unit_sum = [&](const Tensor& input) {  // every channel of the unit's place
            const Tensor m = model.image_stage_maps(input)[s];
            double sum = 0;
            for (int ch = 0; ch < c; ++ch)
                sum += std::abs(m[(static_cast<std::int64_t>(y) * w + x) * c + ch] -
                                maps[s][(static_cast<std::int64_t>(y) * w + x) * c + ch]);
            return sum;
        };
        bool inside_matters = false;
        for (int py = 0; py < 32; ++py)
            for (int px = 0; px < 32; ++px) {
                const bool inside = px >= box.x0 && px < box.x1 && py >= box.y0 && py < box.y1;
                if (!inside && (px + py) % 3 != 0) continue;  // every inside pixel, a third of the outside
                Tensor changed = base;
                for (int ch = 0; ch < 3; ++ch) changed[(static_cast<std::int64_t>(py) * 32 + px) * 3 + ch] += 5.0f;
                const double d = unit_sum(changed);
                if (!inside) {
                    INFO("pixel " << px << "," << py << " outside the box changed the unit");
                    CHECK(d == 0.0);
                }
                inside_matters |= inside && d > 0;
            }
        CHECK(inside_matters);
    }
}

TEST_CASE("the top patches of each unit are those a brute-force search finds", "[atlas]") {
    TempDir dir;
    const DualEncoder model = strided_model(5);
    const std::vector<AtlasPicture> pictures = noisy_pictures(dir);
    AtlasOptions o;
    o.units = 2;
    o.top = 4;
    o.batch = 5;  // several batches
    std::size_t calls = 0;
    const Atlas atlas = find_top_patches(model, pictures, o, [&](std::size_t, std::size_t) { ++calls; });
    CHECK(calls == 3);
    CHECK(atlas.pictures_read == 12);
    CHECK(atlas.pictures_failed == 1);
    REQUIRE(atlas.stages.size() == 3);
    for (const AtlasStage& stage : atlas.stages) {
        REQUIRE(stage.units.size() == 2);
        CHECK(stage.units[0].channel == 0);
        CHECK(stage.units[1].channel == stage.channels / 2);
    }
    check_against_brute_force(model, pictures, atlas, 4);
    write_atlas(model, pictures, atlas, o, "atlas-tiny", dir.file("atlas"));
    for (const char* f :
         {"index.html", "atlas.css", "atlas.json", "filters.png", "stem.png", "stage-1.png", "stage-2.png"})
        CHECK(std::filesystem::exists(dir.file(std::string("atlas/") + f)));
    const RgbaImage grid = load_image(dir.file("atlas/stage-1.png"), ImageLimits{});
    CHECK(grid.width == 4 * (64 + 2) + 2);
    CHECK(grid.height == 2 * (64 + 2) + 2);
}

TEST_CASE("a ViT's maps: per block, its heads' class-token attention and its MLP units, at each patch", "[atlas]") {
    const DualEncoder model = tiny_vit(6);
    std::mt19937 rng(3);
    const Tensor images = random_tensor({3, 32, 32, 3}, rng);
    const std::vector<Tensor> maps = model.image_stage_maps(images);
    const std::vector<StageGeometry> g = stage_geometry(model.config().image);
    REQUIRE(maps.size() == 4);
    REQUIRE(g.size() == 4);
    CHECK(g[0].name == "block 1 attention");
    CHECK(g[0].units == StageGeometry::Units::attention_heads);
    CHECK(g[3].name == "block 2 MLP");
    CHECK(g[3].units == StageGeometry::Units::mlp_units);
    for (std::size_t s = 0; s < 4; s += 2) {
        CHECK(maps[s].shape() == Shape{3, 4, 4, 2});
        CHECK(maps[s + 1].shape() == Shape{3, 4, 4, 64});  // mlp_ratio 4 x width 16
        // Probabilities: the class token's weights over the patches (and itself) sum to one.
        for (std::int64_t n = 0; n < 3; ++n)
            for (std::int64_t h = 0; h < 2; ++h) {
                double sum = 0;
                for (std::int64_t p = 0; p < 16; ++p) {
                    const float a = maps[s][(n * 16 + p) * 2 + h];
                    CHECK((a > 0.0f && a < 1.0f));
                    sum += a;
                }
                CHECK((sum > 0.0 && sum < 1.0));
            }
    }
    // A token's box is its own patch.
    for (const StageGeometry& geometry : g)
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x < 4; ++x)
                CHECK(receptive_box(geometry.field, y, x, 32) == Box{8 * x, 8 * y, 8 * x + 8, 8 * y + 8});
}

TEST_CASE("a ViT's atlas: the top patches of each head and MLP unit, and its page", "[atlas]") {
    TempDir dir;
    const DualEncoder model = tiny_vit(7);
    const std::vector<AtlasPicture> pictures = noisy_pictures(dir);
    AtlasOptions o;
    o.units = 3;
    o.top = 4;
    o.batch = 5;
    const Atlas atlas = find_top_patches(model, pictures, o, nullptr);
    CHECK(atlas.pictures_read == 12);
    REQUIRE(atlas.stages.size() == 4);
    CHECK(atlas.stages[0].units.size() == 2);  // both heads: fewer than asked for
    CHECK(atlas.stages[1].units.size() == 3);
    CHECK(atlas.stages[1].units[2].channel == 42);  // 64 units, three evenly spaced
    check_against_brute_force(model, pictures, atlas, 4);
    write_atlas(model, pictures, atlas, o, "atlas-vit", dir.file("atlas"));
    for (const char* f : {"filters.png", "block-1-attention.png", "block-1-MLP.png", "block-2-attention.png",
                          "block-2-MLP.png", "index.html"})
        CHECK(std::filesystem::exists(dir.file(std::string("atlas/") + f)));
    // The patch embedding's 16 filters of 8x8, drawn 8 pixels a weight, 16 to a row.
    const RgbaImage filters = load_image(dir.file("atlas/filters.png"), ImageLimits{});
    CHECK(filters.width == 16 * (64 + 2) + 2);
    CHECK(filters.height == 64 + 2 + 2);
    const std::string html = read_text_file(dir.file("atlas/index.html"), 1 << 20);
    CHECK_THAT(html, Catch::Contains("patch embedding") && Catch::Contains("class token attends to most") &&
                         Catch::Contains("hidden units of the MLP"));
    const nlohmann::json doc = nlohmann::json::parse(read_text_file(dir.file("atlas/atlas.json"), 1 << 20));
    CHECK(doc["stages"][0]["channels_are"] == "attention heads");
    CHECK(doc["stages"][1]["channels_are"] == "MLP units");
}
