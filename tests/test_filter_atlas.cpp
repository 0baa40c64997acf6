// Filter visualisation (explain/receptive_field.h, explain/filter_atlas.h): the receptive-field
// arithmetic, checked by hand and against the tower itself, and the top patches against a
// brute-force search over a tiny collection.
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
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
    CHECK((g[0].field.size == 7 && g[0].field.jump == 4));      // conv 3/2, pool 3/2
    CHECK((g[1].field.size == 23 && g[1].field.jump == 4));     // + two 3x3 convs at jump 4
    CHECK((g[2].field.size == 47 && g[2].field.jump == 8));     // + a stride-2 3x3 and a 3x3
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
            for (int ch = 0; ch < c; ++ch) sum += std::abs(m[(static_cast<std::int64_t>(y) * w + x) * c + ch] - maps[s][(static_cast<std::int64_t>(y) * w + x) * c + ch]);
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
    std::vector<AtlasPicture> pictures;
    for (int k = 0; k < 12; ++k) {
        RgbaImage img = pattern_image(20 + 3 * k, 24 + 2 * k, k % 2 == 0);
        std::mt19937 rng(static_cast<std::uint32_t>(k));
        for (auto& p : img.pixels) p = static_cast<std::uint8_t>(std::clamp<int>(p + static_cast<int>(rng() % 61) - 30, 0, 255));
        const std::string path = dir.file(std::to_string(k) + ".png");
        write_bytes(path, encode_png_rgba(img));
        pictures.push_back({100 + k, path, "picture " + std::to_string(k)});
    }
    pictures.push_back({999, dir.file("missing.png"), "gone"});
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
    for (std::size_t s = 0; s < 3; ++s) {
        const AtlasStage& stage = atlas.stages[s];
        REQUIRE(stage.units.size() == 2);
        CHECK(stage.units[0].channel == 0);
        CHECK(stage.units[1].channel == stage.channels / 2);
        for (const AtlasUnit& unit : stage.units) {
            // Brute force: each picture alone, its strongest place for the unit.
            std::vector<std::pair<float, std::size_t>> best;
            for (std::size_t p = 0; p < 12; ++p) {
                const Tensor m = model.image_stage_maps(model.preprocess({load_image(pictures[p].path, ImageLimits{})}))[s];
                float top = m[unit.channel];
                for (std::int64_t i = 0; i < m.dim(1) * m.dim(2); ++i) top = std::max(top, m[i * m.dim(3) + unit.channel]);
                best.push_back({top, p});
            }
            std::stable_sort(best.begin(), best.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
            REQUIRE(unit.patches.size() == 4);
            for (std::size_t i = 0; i < 4; ++i) {
                CHECK(unit.patches[i].activation == Approx(best[i].first).epsilon(1e-4));
                CHECK(unit.patches[i].picture == best[i].second);
                const Box b = unit.patches[i].box;
                CHECK((b.x0 < b.x1 && b.y0 < b.y1 && b.x1 <= 32 && b.y1 <= 32));
            }
        }
    }
    write_atlas(model, pictures, atlas, o, "atlas-tiny", dir.file("atlas"));
    for (const char* f : {"index.html", "atlas.css", "atlas.json", "filters.png", "stem.png", "stage-1.png", "stage-2.png"})
        CHECK(std::filesystem::exists(dir.file(std::string("atlas/") + f)));
    const RgbaImage grid = load_image(dir.file("atlas/stage-1.png"), ImageLimits{});
    CHECK(grid.width == 4 * (64 + 2) + 2);
    CHECK(grid.height == 2 * (64 + 2) + 2);
}
