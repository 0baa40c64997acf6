// `opsis bench robustness` on a tiny drawn corpus and a random-weights tiny model: every
// challenge at three strengths beside the clean row, strength 0 equal to clean bit for bit,
// colour removal leaving colour-named pictures alone, the JSON and the chart, and errors that
// name the bad input.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "benchmarks/robustness_bench.h"
#include "core/error.h"
#include "core/file_io.h"
#include "encoder/model_config.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::test;
using json = nlohmann::json;

namespace {

// 4 concepts x 2 pictures on transparent 20 x 20 canvases; only "a red square" names a colour.
void draw_corpus(const std::string& dir) {
    struct Kind {
        std::string concept_name, caption;
        std::array<std::uint8_t, 3> rgb;
    };
    const std::vector<Kind> kinds{{"red-square", "a red square", {220, 20, 20}},
                                  {"circle", "a circle", {30, 40, 220}},
                                  {"cross", "a cross", {20, 160, 40}},
                                  {"ring", "a ring", {200, 120, 20}}};
    std::ofstream manifest(dir + "/manifest.jsonl"), val(dir + "/val.txt"), empty(dir + "/empty.txt");
    for (std::size_t k = 0; k < kinds.size(); ++k)
        for (int v = 0; v < 2; ++v) {
            RgbaImage img;
            img.width = img.height = 20;
            img.pixels.assign(20 * 20 * 4, 0);
            const int c = 9 + v, r = 5 + v;
            for (int y = 0; y < 20; ++y)
                for (int x = 0; x < 20; ++x) {
                    const int dx = x - c, dy = y - c, d2 = dx * dx + dy * dy;
                    bool inside = false;
                    if (k == 0) inside = std::abs(dx) <= r && std::abs(dy) <= r;
                    if (k == 1) inside = d2 <= r * r;
                    if (k == 2)
                        inside = (std::abs(dx) <= 1 && std::abs(dy) <= r) || (std::abs(dy) <= 1 && std::abs(dx) <= r);
                    if (k == 3) inside = d2 <= r * r && d2 >= (r - 2) * (r - 2);
                    if (!inside) continue;
                    std::uint8_t* p = &img.pixels[(static_cast<std::size_t>(y) * 20 + x) * 4];
                    p[0] = kinds[k].rgb[0];
                    p[1] = kinds[k].rgb[1];
                    p[2] = static_cast<std::uint8_t>(kinds[k].rgb[2] + 10 * y);
                    p[3] = 255;
                }
            const std::string id = kinds[k].concept_name + "-" + std::to_string(v);
            write_bytes(dir + "/" + id + ".png", encode_png_rgba(img));
            manifest << json{{"id", id},
                             {"image", dir + "/" + id + ".png"},
                             {"captions", {{"en", {kinds[k].caption}}, {"el", json::array()}}},
                             {"concept", kinds[k].concept_name},
                             {"source", "test"},
                             {"style", "test"}}
                            .dump()
                     << "\n";
            val << id << "\n";
        }
}

void make_model(const std::string& folder) {
    const ModelConfig config = parse_model_config(json::parse(R"({
      "name": "robustness-tiny", "embed_dim": 8,
      "image": {"arch": "resnet", "image_size": 16, "stem_channels": 4, "stem_stride": 1, "stem_pool": false,
                "stage_channels": [4, 6], "stage_blocks": [1, 1]},
      "text": {"vocab_size": 514, "context_length": 10, "width": 8, "layers": 1, "heads": 2}})"),
                                                  "test");
    DualEncoder::random(config, Tokenizer::bytes_only(), 11).save(folder);
}

struct Fixture {
    TempDir dir;
    bench::RobustnessBenchOptions options;
    Fixture() {
        draw_corpus(dir.path());
        make_model(dir.file("model"));
        options.model = dir.file("model");
        options.corpus = dir.path();
        options.threads = 1;
        options.seed = 3;
        options.print_table = false;
    }
};

std::string error_of(const bench::RobustnessBenchOptions& o) {
    try {
        bench::run_robustness_bench(o);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("robustness bench: every challenge at 1/3, 2/3, 1 beside clean, JSON and chart", "[robustness_bench]") {
    Fixture f;
    f.options.json_out = f.dir.file("out.json");
    f.options.plot_out = f.dir.file("out.png");
    const bench::RobustnessReport report = bench::run_robustness_bench(f.options);

    REQUIRE(report.pictures == 8);
    CHECK(report.captions == 4);
    CHECK(report.names_colour == 2);  // the two red squares
    REQUIRE(report.rows.size() == 1 + train::all_challenges().size() * 3);
    const bench::RobustnessRow& clean = report.rows[0];
    CHECK(clean.challenge == "clean");
    CHECK(clean.strength == 0.0f);
    std::map<std::string, std::set<float>> strengths;
    for (std::size_t i = 1; i < report.rows.size(); ++i) {
        const bench::RobustnessRow& r = report.rows[i];
        INFO(r.challenge << " at " << r.strength);
        strengths[r.challenge].insert(r.strength);
        CHECK(r.drop_r10 == Approx(clean.r10 - r.r10));
        CHECK(r.r1 >= 0.0);
        CHECK(r.r1 <= r.r10);
        CHECK(r.r10 <= 100.0);
        if (r.challenge == "colour-removal") {
            // Exactly the pictures whose captions name a colour are left alone.
            CHECK(r.unchanged == 2);
        } else if (r.challenge == "background-clutter") {
            // Trimmed of their transparent margins, the squares are opaque: no background to clutter.
            CHECK(r.unchanged == 2);
        } else if (r.strength == 1.0f) {
            CHECK(r.unchanged == 0);  // at full strength the challenge changes every picture
        }
    }
    REQUIRE(strengths.size() == train::all_challenges().size());
    for (const train::Challenge c : train::all_challenges()) {
        INFO(train::challenge_name(c));
        CHECK(strengths[train::challenge_name(c)] == std::set<float>{1.0f / 3.0f, 2.0f / 3.0f, 1.0f});
    }

    // The JSON holds the same table and its inputs.
    const json j = json::parse(read_text_file(f.options.json_out, 1 << 20));
    CHECK(j.at("model") == "robustness-tiny");
    CHECK(j.at("corpus") == f.options.corpus);
    CHECK(j.at("split") == "val");
    CHECK(j.at("pictures") == 8);
    CHECK(j.at("seed") == 3);
    REQUIRE(j.at("rows").size() == report.rows.size());
    for (std::size_t i = 0; i < report.rows.size(); ++i) {
        const json& r = j["rows"][i];
        CHECK(r.at("challenge") == report.rows[i].challenge);
        for (const char* k : {"r1", "r10"}) {
            CHECK(r.at(k).get<double>() >= 0.0);
            CHECK(r.at(k).get<double>() <= 100.0);
        }
        CHECK(r.at("r10").get<double>() == Approx(report.rows[i].r10));
        CHECK(r.at("drop_r10").get<double>() == Approx(report.rows[i].drop_r10));
        CHECK(r.at("strength").get<double>() == Approx(report.rows[i].strength).margin(1e-4));
    }

    // The chart decodes, at the size the drawing has, and shows the palette's first colour.
    const RgbaImage drawn = bench::draw_robustness_chart(report);
    const RgbaImage png = load_image(f.options.plot_out, ImageLimits{});
    CHECK(png.width == drawn.width);
    CHECK(png.height == drawn.height);
    CHECK(png.width >= 600);
    CHECK(png.pixels == drawn.pixels);
    std::size_t blue = 0, dark = 0;
    for (std::size_t p = 0; p < png.pixels.size(); p += 4) {
        blue += png.pixels[p] == 31 && png.pixels[p + 1] == 119 && png.pixels[p + 2] == 180;
        dark += png.pixels[p] < 80 && png.pixels[p + 1] < 80 && png.pixels[p + 2] < 80;
    }
    CHECK(blue > 50);   // the first challenge's line
    CHECK(dark > 500);  // axes and text
}

TEST_CASE("robustness bench: strength 0 is the clean picture, bit for bit, and the seed fixes the change",
          "[robustness_bench]") {
    Fixture f;
    const DualEncoder model = DualEncoder::load(f.options.model);
    const bench::RobustnessSet set = bench::load_robustness_set(model, f.options);
    REQUIRE(set.pictures.size() == 8);
    CHECK(set.pictures[0].width == 16);

    const Tensor clean = bench::embed_pictures(model, set, nullptr, 0.0f, 3);
    const eval::RecallAtK clean_recall = bench::score_pictures(set, clean);
    for (const train::Challenge c : train::all_challenges()) {
        INFO(train::challenge_name(c));
        std::size_t unchanged = 0;
        const Tensor zero = bench::embed_pictures(model, set, &c, 0.0f, 3, &unchanged);
        CHECK(unchanged == set.pictures.size());
        CHECK(max_abs_diff(zero, clean) == 0.0f);
        const eval::RecallAtK r = bench::score_pictures(set, zero);
        CHECK(r.r1 == clean_recall.r1);
        CHECK(r.r10 == clean_recall.r10);
        // At full strength the pictures, and so their embeddings, change.
        const Tensor full = bench::embed_pictures(model, set, &c, 1.0f, 3);
        CHECK(max_abs_diff(full, clean) > 0.0f);

        // The same seed gives the same bytes; picture 2 (a circle, no colour named) changes.
        const RgbaImage a = bench::perturb_picture(set, 2, c, 1.0f, 3), b = bench::perturb_picture(set, 2, c, 1.0f, 3);
        CHECK(a.pixels == b.pixels);
        CHECK(a.pixels != set.pictures[2].pixels);
    }
    // Another seed moves at least the occlusion somewhere else.
    CHECK(bench::perturb_picture(set, 2, train::Challenge::occlusion, 1.0f, 3).pixels !=
          bench::perturb_picture(set, 2, train::Challenge::occlusion, 1.0f, 4).pixels);
}

TEST_CASE("robustness bench: the limit takes an evenly spaced sample of the sorted ids", "[robustness_bench]") {
    Fixture f;
    f.options.limit = 4;
    const DualEncoder model = DualEncoder::load(f.options.model);
    const bench::RobustnessSet set = bench::load_robustness_set(model, f.options);
    CHECK(set.ids == std::vector<std::string>{"circle-0", "cross-0", "red-square-0", "ring-0"});
}

TEST_CASE("robustness bench: a bad split, an empty split or a bad model is an error naming it", "[robustness_bench]") {
    Fixture f;
    bench::RobustnessBenchOptions o = f.options;
    o.split = "nosuchsplit";
    CHECK_THAT(error_of(o), Catch::Contains("split 'nosuchsplit'") && Catch::Contains("no split file"));
    o.split = "empty";
    CHECK_THAT(error_of(o), Catch::Contains("split 'empty'") && Catch::Contains("no picture"));
    o = f.options;
    o.model = f.dir.file("no-model-here");
    CHECK_THAT(error_of(o), Catch::Contains("model '" + o.model + "'") && Catch::Contains("does not load"));
}
