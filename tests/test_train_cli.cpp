// `opsis train` end to end on a corpus the test draws: it learns, resumes bit for bit,
// skips bad manifest lines and images (naming their lines), and stops cleanly on NaN.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/file_io.h"
#include "tests/test_support.h"
#include "train/checkpoint.h"

using namespace opsis;
using namespace opsis::test;
using json = nlohmann::json;

namespace {

const char* kConfig = R"({"name": "train-cli-tiny", "embed_dim": 16,
  "image": {"arch": "resnet", "image_size": 16, "stem_channels": 8, "stem_stride": 1,
            "stage_channels": [8, 16], "stage_blocks": [1, 1]},
  "text": {"context_length": 12, "width": 16, "layers": 1, "heads": 2}})";

// Coloured shapes on transparent canvases: 8 concepts ("a red square", ...), 6 pictures each
// at random places and sizes; 5 of each concept train, 1 validates.
void draw_corpus(const std::string& dir) {
    const std::vector<std::pair<std::string, std::array<std::uint8_t, 3>>> colours{
        {"red", {220, 20, 20}}, {"green", {20, 180, 40}}, {"blue", {30, 40, 220}}, {"yellow", {240, 210, 20}}};
    std::mt19937 rng(5);
    std::ofstream manifest(dir + "/manifest.jsonl"), train(dir + "/train.txt"), val(dir + "/val.txt");
    for (const auto& [name, rgb] : colours)
        for (const std::string shape : {"square", "circle"})
            for (int k = 0; k < 6; ++k) {
                RgbaImage img;
                img.width = img.height = 24;
                img.pixels.assign(24 * 24 * 4, 0);
                const int r = 5 + static_cast<int>(rng() % 4), cx = 9 + static_cast<int>(rng() % 6),
                          cy = 9 + static_cast<int>(rng() % 6);
                for (int y = 0; y < 24; ++y)
                    for (int x = 0; x < 24; ++x) {
                        const bool inside = shape == "square" ? std::abs(x - cx) <= r && std::abs(y - cy) <= r
                                                              : (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
                        if (!inside) continue;
                        std::uint8_t* p = &img.pixels[(static_cast<std::size_t>(y) * 24 + x) * 4];
                        p[0] = rgb[0];
                        p[1] = rgb[1];
                        p[2] = rgb[2];
                        p[3] = 255;
                    }
                const std::string id = name + "-" + shape + "-" + std::to_string(k);
                write_bytes(dir + "/" + id + ".png", encode_png_rgba(img));
                manifest << json{{"id", id},
                                 {"image", dir + "/" + id + ".png"},
                                 {"captions", {{"en", {"a " + name + " " + shape}}, {"el", json::array()}}},
                                 {"concept", name + "-" + shape},
                                 {"source", "test"},
                                 {"style", "test"}}
                                .dump()
                         << "\n";
                (k < 5 ? train : val) << id << "\n";
            }
}

const std::string kFast = " --warmup 5 --lr 5e-3";

std::string train_args(const TempDir& dir, const std::string& out, const std::string& extra) {
    return "train --corpus " + dir.path() + " --config " + dir.file("config.json") + " --out " + dir.file(out) +
           " --vocab-size 600 --batch 8 --threads 1 --log-every 5 " + extra;
}

}  // namespace

TEST_CASE("opsis train learns, checkpoints and resumes bit for bit", "[train][slow]") {
    TempDir dir;
    draw_corpus(dir.path());
    write_text(dir.file("config.json"), kConfig);

    CommandResult straight =
        run_opsis(train_args(dir, "a", "--steps 60 --checkpoint-every 20 --validate-every 20" + kFast));
    INFO(straight.output);
    REQUIRE(straight.exit_code == 0);
    CHECK_THAT(straight.output, Catch::Contains("step 60/60") && Catch::Contains("validation after step 60"));
    // It learns: validation recall climbs well above chance (R@1 12.5% for 8 concepts).
    const train::Checkpoint done = train::load_checkpoint(dir.file("a/checkpoint.safetensors"));
    const json& history = done.meta["history"];
    REQUIRE(history.size() == 3);
    CHECK(history.back()["text_to_image_r1"].get<double>() >= 50.0);
    CHECK(done.step == 60);

    // Interrupted after step 30, then resumed: the same final weights, byte for byte.
    CommandResult first =
        run_opsis(train_args(dir, "b", "--steps 60 --checkpoint-every 20 --validate-every 20 --stop-at 30" + kFast));
    REQUIRE(first.exit_code == 0);
    CHECK_THAT(first.output, Catch::Contains("stopped after step 30"));
    CHECK(train::load_checkpoint(dir.file("b/checkpoint.safetensors")).step == 30);
    // Resumed with another recipe (here label smoothing), it would stop being the same run: refused.
    CommandResult other = run_opsis(train_args(dir, "b",
                                               "--steps 60 --checkpoint-every 20 --validate-every 20 --resume "
                                               "--label-smoothing 0.1" +
                                                   kFast));
    CHECK(other.exit_code != 0);
    CHECK_THAT(other.output, Catch::Contains("label_smoothing") && Catch::Contains("resume with the same options"));
    CommandResult sentences = run_opsis(train_args(
        dir, "b", "--steps 60 --checkpoint-every 20 --validate-every 20 --resume --sentence-framing 0.5" + kFast));
    CHECK(sentences.exit_code != 0);
    CHECK_THAT(sentences.output, Catch::Contains("sentence_framing"));
    CommandResult definitions = run_opsis(train_args(
        dir, "b", "--steps 60 --checkpoint-every 20 --validate-every 20 --resume --definition-weight 2" + kFast));
    CHECK(definitions.exit_code != 0);
    CHECK_THAT(definitions.output, Catch::Contains("definition_weight"));
    CommandResult tags = run_opsis(train_args(
        dir, "b", "--steps 60 --checkpoint-every 20 --validate-every 20 --resume --search-tags-weight 1" + kFast));
    CHECK(tags.exit_code != 0);
    CHECK_THAT(tags.output, Catch::Contains("search_tags_weight"));
    CommandResult again =
        run_opsis(train_args(dir, "b", "--steps 60 --checkpoint-every 20 --validate-every 20 --resume" + kFast));
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.output, Catch::Contains("resuming after step 30"));
    CommandResult refused =
        run_opsis(train_args(dir, "b", "--steps 60 --checkpoint-every 20 --validate-every 20" + kFast));
    CHECK(refused.exit_code != 0);
    CHECK_THAT(refused.output, Catch::Contains("already holds a checkpoint") && Catch::Contains("--resume"));
    CHECK(read_file(dir.file("a/final/model.safetensors"), 1 << 30) ==
          read_file(dir.file("b/final/model.safetensors"), 1 << 30));
    // Another seed gives another model.
    REQUIRE(run_opsis(train_args(dir, "c", "--steps 60 --checkpoint-every 20 --validate-every 20 --seed 2" + kFast))
                .exit_code == 0);
    CHECK(read_file(dir.file("a/final/model.safetensors"), 1 << 30) !=
          read_file(dir.file("c/final/model.safetensors"), 1 << 30));
    // The trained model embeds with opsis embed.
    const CommandResult embed = run_opsis("embed --model " + dir.file("a/best") + " --image " +
                                          dir.file("red-square-5.png") + " --text 'a red square' 'a blue circle'");
    CHECK(embed.exit_code == 0);
}

TEST_CASE("opsis train --init continues a model's weights and tokenizer on a fresh schedule", "[train][slow]") {
    TempDir dir;
    draw_corpus(dir.path());
    write_text(dir.file("config.json"), kConfig);
    REQUIRE(run_opsis(train_args(dir, "a", "--steps 60 --checkpoint-every 60 --validate-every 60" + kFast)).exit_code ==
            0);
    // The first steps of a fresh run are at chance (ln 8 ≈ 2.08); from the trained model, far below.
    auto first_loss = [](const std::string& output) {
        const auto at = output.find("step 5/");
        REQUIRE(at != std::string::npos);
        return std::stod(output.substr(output.find("loss ", at) + 5));
    };
    const CommandResult fresh = run_opsis(train_args(dir, "fresh", "--steps 10" + kFast));
    const CommandResult continued = run_opsis(train_args(dir, "b", "--steps 10 --init " + dir.file("a/final") + kFast));
    INFO(continued.output);
    REQUIRE(fresh.exit_code == 0);
    REQUIRE(continued.exit_code == 0);
    CHECK_THAT(continued.output, Catch::Contains("starting from the weights of"));
    CHECK(first_loss(continued.output) < 0.5 * first_loss(fresh.output));
    CHECK(read_file(dir.file("b/final/vocab.json"), 1 << 30) == read_file(dir.file("a/final/vocab.json"), 1 << 30));
    CHECK(train::load_checkpoint(dir.file("b/checkpoint.safetensors")).meta["init"] == dir.file("a/final"));

    // Another architecture, or another tokenizer beside it: refused, naming what differs.
    json wide = json::parse(kConfig);
    wide["embed_dim"] = 24;
    write_text(dir.file("wide.json"), wide.dump());
    const CommandResult other =
        run_opsis("train --corpus " + dir.path() + " --config " + dir.file("wide.json") + " --out " + dir.file("c") +
                  " --init " + dir.file("a/final") + " --batch 8 --steps 5 --threads 1");
    CHECK(other.exit_code != 0);
    CHECK_THAT(other.output, Catch::Contains("--init model") && Catch::Contains("another architecture"));
    // A larger input for the same ResNet: the same parameters, so it continues, saying what changed.
    json larger = json::parse(kConfig);
    larger["image"]["image_size"] = 24;
    write_text(dir.file("larger.json"), larger.dump());
    const CommandResult grown =
        run_opsis("train --corpus " + dir.path() + " --config " + dir.file("larger.json") + " --out " + dir.file("e") +
                  " --init " + dir.file("a/final") + " --batch 8 --steps 5 --threads 1");
    INFO(grown.output);
    CHECK(grown.exit_code == 0);
    CHECK_THAT(grown.output, Catch::Contains("changes the --init model's /image/image_size to 24"));
    CHECK(train::load_checkpoint(dir.file("e/checkpoint.safetensors")).meta["config"]["image"]["image_size"] == 24);
    // A deeper model (another text layer, another block in each stage): grown from the trained
    // one, its new blocks the identity, so its first steps are the trained model's, not chance's.
    json deeper = json::parse(kConfig);
    deeper["text"]["layers"] = 2;
    deeper["image"]["stage_blocks"] = {2, 2};
    write_text(dir.file("deeper.json"), deeper.dump());
    auto train_deeper = [&](const std::string& out, const std::string& init) {
        return run_opsis("train --corpus " + dir.path() + " --config " + dir.file("deeper.json") + " --out " +
                         dir.file(out) + " --init " + dir.file(init) + " --batch 8 --steps 10 --threads 1 --log-every 5" +
                         kFast);
    };
    const CommandResult deep = train_deeper("g", "a/final");
    INFO(deep.output);
    REQUIRE(deep.exit_code == 0);
    CHECK_THAT(deep.output, Catch::Contains("grows the --init model by") &&
                                Catch::Contains("changes the --init model's /text/layers to 2"));
    CHECK(first_loss(deep.output) < 0.5 * first_loss(fresh.output));
    CHECK(train::load_checkpoint(dir.file("g/checkpoint.safetensors")).meta["config"]["text"]["layers"] == 2);
    // `model grow` writes what that run started from (the same seed draws the same new blocks):
    // a run from it takes the same steps, and the two ends can be averaged.
    const CommandResult grew = run_opsis("model grow --model " + dir.file("a/final") + " --config " +
                                         dir.file("deeper.json") + " --seed 1 --out " + dir.file("grown"));
    INFO(grew.output);
    REQUIRE(grew.exit_code == 0);
    CHECK_THAT(grew.output, Catch::Contains("each new block the identity"));
    const CommandResult from_grown = train_deeper("h", "grown");
    INFO(from_grown.output);
    REQUIRE(from_grown.exit_code == 0);
    CHECK(first_loss(from_grown.output) == first_loss(deep.output));
    CHECK(run_opsis("model average " + dir.file("grown") + " " + dir.file("g/final") + " --out " + dir.file("soup"))
              .exit_code == 0);
    const CommandResult narrower = run_opsis("model grow --model " + dir.file("a/final") + " --config " +
                                             dir.file("wide.json") + " --out " + dir.file("no"));
    CHECK(narrower.exit_code != 0);
    CHECK_THAT(narrower.output, Catch::Contains("wide.json") && Catch::Contains("another architecture"));
    const CommandResult both = run_opsis(train_args(
        dir, "d", "--steps 5 --init " + dir.file("a/final") + " --tokenizer " + dir.file("a/final") + kFast));
    CHECK(both.exit_code != 0);
    CHECK_THAT(both.output, Catch::Contains("leave out --tokenizer"));
}

TEST_CASE("opsis train killed with SIGKILL at random moments resumes to the same model", "[train][slow]") {
    TempDir dir;
    draw_corpus(dir.path());
    write_text(dir.file("config.json"), kConfig);
    const std::string args = "--steps 60 --checkpoint-every 4 --validate-every 20 --resume" + kFast;
    REQUIRE(run_opsis(train_args(dir, "straight", args)).exit_code == 0);
    // Each attempt is killed a little later than the last; every one resumes from the last
    // checkpoint, so the run always finishes, wherever the kills land.
    int attempts = 0, killed = 0;
    for (; attempts < 60; ++attempts) {
        const std::string limit = std::to_string(0.05 + 0.02 * attempts);
        const CommandResult r =
            run_opsis_with_prefix("timeout -s KILL " + limit + " ", train_args(dir, "killed", args));
        if (r.exit_code == 0) break;
        REQUIRE(r.exit_code == 128 + 9);  // killed, not failed
        ++killed;
    }
    INFO(killed << " kills");
    CHECK(killed >= 1);
    REQUIRE(attempts < 60);
    CHECK(read_file(dir.file("straight/final/model.safetensors"), 1 << 30) ==
          read_file(dir.file("killed/final/model.safetensors"), 1 << 30));
}

TEST_CASE("opsis train --text-pairs-weight learns word knowledge beside the pictures, and resumes only with it",
          "[train]") {
    TempDir dir;
    draw_corpus(dir.path());
    write_text(dir.file("config.json"), kConfig);
    const std::string args = "--steps 20 --checkpoint-every 10 --validate-every 20 --text-pairs-weight 0.5" + kFast;
    // Without the corpus's pairs file: refused, naming it.
    const CommandResult missing = run_opsis(train_args(dir, "a", args));
    CHECK(missing.exit_code != 0);
    CHECK_THAT(missing.output, Catch::Contains("text_pairs.jsonl"));

    std::string pairs;
    for (const std::string colour : {"red", "green", "blue", "yellow"})
        for (const std::string shape : {"square", "circle"})
            pairs += json{{"a", "a " + colour + " " + shape}, {"b", shape + " in " + colour},
                          {"group", colour + "-" + shape}, {"kind", "synonym"}}
                         .dump() +
                     "\n";
    write_text(dir.path() + "/text_pairs.jsonl", pairs + "{\"a\": \"bad line\"}\n");
    const CommandResult trained = run_opsis(train_args(dir, "a", args + " --text-pairs-batch 4 --stop-at 10"));
    INFO(trained.output);
    REQUIRE(trained.exit_code == 0);
    CHECK_THAT(trained.output, Catch::Contains("8 text pairs, 4 a step at weight 0.5") &&
                                   Catch::Contains("skipped 1 text pairs") && Catch::Contains("  text pairs "));
    // The same run resumed without the pairs would be another run: refused.
    const CommandResult other = run_opsis(
        train_args(dir, "a", "--steps 20 --checkpoint-every 10 --validate-every 20 --resume" + kFast));
    CHECK(other.exit_code != 0);
    CHECK_THAT(other.output, Catch::Contains("text_pairs_weight") && Catch::Contains("resume with the same options"));
    const CommandResult resumed = run_opsis(train_args(dir, "a", args + " --text-pairs-batch 4 --resume"));
    INFO(resumed.output);
    CHECK(resumed.exit_code == 0);
    CHECK_THAT(resumed.output, Catch::Contains("step 20/20"));
}

TEST_CASE("opsis train skips bad manifest lines and images, naming them", "[train][bad-input]") {
    TempDir dir;
    draw_corpus(dir.path());
    write_text(dir.file("config.json"), kConfig);
    {
        std::ofstream m(dir.file("manifest.jsonl"), std::ios::app);
        m << "{not json\n";
        m << json{{"id", "ghost"},
                  {"image", dir.file("nowhere.png")},
                  {"captions", {{"en", {"a ghost"}}}},
                  {"concept", "ghost"}}
                 .dump()
          << "\n";
        m << json{{"id", "broken"},
                  {"image", dir.file("broken.png")},
                  {"captions", {{"en", {"broken"}}}},
                  {"concept", "broken"}}
                 .dump()
          << "\n";
        m << json{{"id", "nocaption"}, {"image", dir.file("red-square-0.png")}, {"concept", "x"}}.dump() << "\n";
        std::ofstream t(dir.file("train.txt"), std::ios::app);
        t << "ghost\nbroken\nunknown-id\n";
    }
    write_text(dir.file("broken.png"), "\x89PNG\r\n\x1A\n garbage");
    const CommandResult r = run_opsis(train_args(dir, "run", "--steps 3 --checkpoint-every 3" + kFast));
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("skipped 5 inputs"));
    const std::string problems = read_text_file(dir.file("run/problems.txt"), 1 << 20);
    CHECK_THAT(problems, Catch::Contains("line 49: malformed JSON"));
    CHECK_THAT(problems, Catch::Contains("line 52: 'captions' is missing"));
    CHECK_THAT(problems, Catch::Contains("'unknown-id'"));
    CHECK_THAT(problems,
               Catch::Contains("manifest line 50 (ghost): image '" + dir.file("nowhere.png") + "': cannot open"));
    CHECK_THAT(problems, Catch::Contains("manifest line 51 (broken)"));
}

TEST_CASE("opsis train stops on a NaN loss and keeps the last good checkpoint", "[train][bad-input]") {
    TempDir dir;
    draw_corpus(dir.path());
    write_text(dir.file("config.json"), kConfig);
    // An absurd learning rate blows the weights up after the first update.
    const CommandResult r =
        run_opsis(train_args(dir, "run", "--steps 20 --checkpoint-every 1 --warmup 0 --clip 0 --lr 1e30"));
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("NaN or infinite at step") && Catch::Contains("is intact at"));
    const train::Checkpoint last = train::load_checkpoint(dir.file("run/checkpoint.safetensors"));
    CHECK(last.step >= 1);
    CHECK(last.step < 20);
}

TEST_CASE("opsis bench recall scores corpus splits and the Karpathy protocol", "[train][bench]") {
    TempDir dir;
    draw_corpus(dir.path());
    write_text(dir.file("config.json"), kConfig);
    // The vision challenges slow a 40-step run down; what is checked here is the benchmark.
    REQUIRE(
        run_opsis(train_args(dir, "run", "--steps 40 --checkpoint-every 40 --no-image-augment" + kFast)).exit_code ==
        0);

    CommandResult r = run_opsis("bench recall --model " + dir.file("run/best") + " --corpus " + dir.path() +
                                " --splits val,train --json " + dir.file("recall.json"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("text->image R@1/5/10"));
    const json out = json::parse(read_text_file(dir.file("recall.json"), 1 << 20));
    REQUIRE(out["rows"].size() == 2);  // English rows of val and train (no Greek captions, one source)
    for (const auto& row : out["rows"]) {
        for (const char* dir_name : {"text_to_image", "image_to_text"}) {
            const auto& k = row[dir_name];
            CHECK(k["r1"].get<double>() <= k["r5"].get<double>());
            CHECK(k["r5"].get<double>() <= k["r10"].get<double>());
            CHECK(k["r10"].get<double>() <= 100.0);
        }
        if (row["split"] == "train") CHECK(row["text_to_image"]["r1"].get<double>() >= 50.0);
    }
    CHECK(out["rows"][0]["images"] == 8);
    CHECK(out["rows"][0]["captions"] == 8);

    // The same pictures in Karpathy's format: each image its own concept, two sentences each.
    json karpathy = {{"images", json::array()}};
    for (const std::string colour : {"red", "green", "blue", "yellow"})
        karpathy["images"].push_back(
            {{"filename", colour + "-circle-5.png"},
             {"split", "test"},
             {"sentences", {{{"raw", "a " + colour + " circle"}}, {{"raw", "a round " + colour + " thing"}}}}});
    karpathy["images"].push_back({{"filename", "red-square-0.png"}, {"split", "train"}, {"sentences", json::array()}});
    write_text(dir.file("dataset_test.json"), karpathy.dump());
    r = run_opsis("bench recall --model " + dir.file("run/best") + " --karpathy " + dir.file("dataset_test.json") +
                  " --images " + dir.path());
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("karpathy-test"));

    write_text(dir.file("bad.json"), "{\"images\": 3}");
    r = run_opsis("bench recall --model " + dir.file("run/best") + " --karpathy " + dir.file("bad.json") +
                  " --images " + dir.path());
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("no 'images' list"));
}

TEST_CASE("opsis model calibrate fits when a hit is likely relevant, and search then judges hits by it",
          "[relevance][train][slow]") {
    TempDir dir;
    draw_corpus(dir.path());
    write_text(dir.file("config.json"), kConfig);
    REQUIRE(run_opsis(train_args(dir, "m", "--steps 40 --checkpoint-every 40 --no-image-augment" + kFast)).exit_code ==
            0);
    const std::string model = dir.file("m/final");
    CommandResult r = run_opsis("model calibrate --model " + model + " --corpus " + dir.path() +
                                " --split train --top 3 --background 16 --json " + dir.file("cal.json"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("held out") && Catch::Contains("cosine + z"));
    const json cal = json::parse(read_text_file(dir.file("cal.json"), 1 << 20));
    CHECK(cal["queries"] == 8);           // one per concept (English captions only)
    CHECK(cal["examples"] == 8 * 2 * 3);  // top 3, with and without the concept's pictures
    REQUIRE(cal["held_out"].size() == 3);
    const json rule = json::parse(read_text_file(model + "/relevance.json", 1 << 20));
    CHECK(rule == cal["rule"]);
    // A model that learnt the shapes scores its right pictures higher: the chance of relevance
    // grows with the cosine (the weight of z counts per unit of the background's spread).
    CHECK(rule["w_score"].get<double>() + rule["w_z"].get<double>() > 0);
    CHECK(rule["cosine_w"].get<double>() > 0);
    CHECK(rule["min_background"] == 16);

    // Searching an index made with it: each hit's chance, and the answer's no_good_match.
    std::ofstream m(dir.file("pictures.jsonl"));
    for (const std::string name : {"red-square", "blue-circle", "green-square", "yellow-circle"})
        for (int k = 0; k < 6; ++k)
            m << json{{"image", dir.file(name + "-" + std::to_string(k) + ".png")}}.dump() << "\n";
    m.close();
    REQUIRE(run_opsis("index add --index " + dir.file("ix") + " --model " + model + " --manifest " +
                      dir.file("pictures.jsonl"))
                .exit_code == 0);
    r = run_opsis("search --index " + dir.file("ix") + " --text 'a red square' -k 24 --no-collapse --json");
    REQUIRE(r.exit_code == 0);
    const json found = json::parse(r.output);
    REQUIRE(found["hits"].size() >= 20);  // pictures drawn alike are one item
    REQUIRE(found["no_good_match"].is_boolean());
    CHECK(found["no_good_match"] == !found["hits"][0]["likely_relevant"].get<bool>());
    for (std::size_t i = 1; i < found["hits"].size(); ++i)  // one query: the chance falls with the score
        CHECK(found["hits"][i]["relevance"].get<double>() <= found["hits"][i - 1]["relevance"].get<double>() + 1e-6);
    r = run_opsis("search --index " + dir.file("ix") + " --text 'a red square' -k 3");
    CHECK_THAT(r.output, Catch::Contains("%"));
}

TEST_CASE("a heatmap from a model trained on red squares and blue circles finds the red square's corner",
          "[explain][slow]") {
    TempDir dir;
    draw_corpus(dir.path());
    write_text(dir.file("config.json"), kConfig);
    const CommandResult trained =
        run_opsis(train_args(dir, "m", "--steps 60 --checkpoint-every 60 --validate-every 60" + kFast));
    REQUIRE(trained.exit_code == 0);
    // A red square in one corner of a plain white picture (opaque: nothing is trimmed away).
    auto picture = [&](bool top_left) {
        RgbaImage img;
        img.width = img.height = 32;
        img.pixels.assign(32 * 32 * 4, 255);
        const int x0 = top_left ? 2 : 20, y0 = top_left ? 2 : 20;
        for (int y = y0; y < y0 + 10; ++y)
            for (int x = x0; x < x0 + 10; ++x) {
                std::uint8_t* p = &img.pixels[(static_cast<std::size_t>(y) * 32 + x) * 4];
                p[0] = 220, p[1] = 20, p[2] = 20;
            }
        const std::string path = dir.file(top_left ? "top-left.png" : "bottom-right.png");
        write_bytes(path, encode_png_rgba(img));
        return path;
    };
    for (const bool top_left : {true, false}) {
        const std::string path = picture(top_left);
        const CommandResult r = run_opsis("explain --model " + dir.file("m/final") + " --image " + path +
                                          " --text 'a red square' --json --out " + dir.file("heat.png"));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        const json map = json::parse(r.output);
        const double x = map["peak"][0], y = map["peak"][1];
        CHECK(map["places"][0].get<int>() >= 4);
        if (top_left)
            CHECK((x < 0.5 && y < 0.5));
        else
            CHECK((x > 0.5 && y > 0.5));
        // The map's mean is the picture's cosine with the text (ResNet: pooling is the mean).
        double mean = 0;
        for (const auto& v : map["values"]) mean += v.get<double>();
        CHECK(mean / static_cast<double>(map["values"].size()) == Approx(map["cosine"].get<double>()).margin(1e-4));
        // ... and that cosine is the one the towers give the picture and the text.
        const CommandResult embedded =
            run_opsis("embed --model " + dir.file("m/final") + " --image " + path + " --text 'a red square'");
        REQUIRE(embedded.exit_code == 0);
        const std::string last = embedded.output.substr(embedded.output.rfind("{\"similarity\""));
        CHECK(json::parse(last)["similarity"]["cosine"][0][0].get<double>() ==
              Approx(map["cosine"].get<double>()).margin(1e-4));
        const RgbaImage drawn = load_image(dir.file("heat.png"), ImageLimits{});
        CHECK(drawn.width == 384);
    }
}
