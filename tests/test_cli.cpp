// The opsis executable as a user runs it: subcommands, output, exit codes, error messages.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/test_support.h"

using namespace opsis::test;
using json = nlohmann::json;

namespace {
const char* kTinyConfig = R"({"name": "cli-tiny", "embed_dim": 8,
  "image": {"arch": "resnet", "image_size": 16, "stem_channels": 4, "stage_channels": [4, 8], "stage_blocks": [1, 1]},
  "text": {"context_length": 16, "width": 16, "layers": 1, "heads": 2}})";

std::vector<json> json_lines(const std::string& out) {
    std::vector<json> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) lines.push_back(json::parse(line));
    return lines;
}
}  // namespace

TEST_CASE("opsis model init + embed prints embeddings and the similarity matrix", "[cli]") {
    TempDir dir;
    write_text(dir.file("config.json"), kTinyConfig);
    write_text(dir.file("corpus.txt"), "a red apple\na green apple\nη σημαία\n");
    auto r = run_opsis("tokenizer train --input " + dir.file("corpus.txt") +
                       " --vocab-size 530 --min-frequency 1 --out " + dir.file("tok"));
    REQUIRE(r.exit_code == 0);
    r = run_opsis("model init --config " + dir.file("config.json") + " --tokenizer " + dir.file("tok") + " --out " +
                  dir.file("m") + " --seed 4");
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("wrote"));
    write_bytes(dir.file("a.png"), encode_png_rgba(pattern_image(30, 20, true)));
    write_bytes(dir.file("b.jpg"), encode_jpeg(pattern_image(20, 30, false)));

    r = run_opsis("embed --model " + dir.file("m") + " --image " + dir.file("a.png") + " " + dir.file("b.jpg") +
                  " --text 'a red apple' " + shell_quote("Ένα μήλο"));
    REQUIRE(r.exit_code == 0);
    const auto lines = json_lines(r.output);
    REQUIRE(lines.size() == 5);
    CHECK(lines[0]["image"] == dir.file("a.png"));
    CHECK(lines[0]["embedding"].size() == 8);
    CHECK(lines[3]["text"] == "Ένα μήλο");
    const json& sim = lines[4]["similarity"]["cosine"];
    REQUIRE(sim.size() == 2);
    REQUIRE(sim[0].size() == 2);
    double dot = 0;
    for (int k = 0; k < 8; ++k) dot += lines[1]["embedding"][k].get<double>() * lines[2]["embedding"][k].get<double>();
    CHECK(sim[1][0].get<double>() == Approx(dot).margin(1e-5));

    r = run_opsis("embed --model " + dir.file("m") + " --image " + dir.file("a.png") + " --text apple --table");
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("cosine similarity") && Catch::Contains("text1 = \"apple\""));

    r = run_opsis("model info --model " + dir.file("m"));
    CHECK(r.exit_code == 0);
    CHECK(json::parse(r.output)["config"]["name"] == "cli-tiny");

    r = run_opsis("tokenizer encode --tokenizer " + dir.file("tok") + " 'a red apple'");
    CHECK(r.exit_code == 0);
    CHECK(json_lines(r.output)[0]["decoded"] == "a red apple");
}

TEST_CASE("opsis reports bad input and bad flags clearly, with a non-zero exit", "[cli][bad-input]") {
    TempDir dir;
    write_text(dir.file("config.json"), kTinyConfig);
    REQUIRE(run_opsis("model init --config " + dir.file("config.json") + " --out " + dir.file("m")).exit_code == 0);
    write_text(dir.file("not-an-image.png"), "plain text");
    write_bytes(dir.file("bomb.png"), png_header_only(60000, 60000));

    struct Case {
        std::string args, needle;
    };
    const Case cases[] = {
        {"embed --model " + dir.file("m") + " --image " + dir.file("not-an-image.png"),
         "image '" + dir.file("not-an-image.png") + "': not a supported image format"},
        {"embed --model " + dir.file("m") + " --image " + dir.file("bomb.png"), "exceeds the limit"},
        {"embed --model " + dir.file("m") + " --image " + dir.file("nope.png"), "cannot open"},
        {"embed --model " + dir.file("m") + " --text \"$(printf 'bad \\377 byte')\"", "invalid UTF-8 at byte 4"},
        {"embed --model " + dir.file("missing-model") + " --text x", "no such file or folder"},
        {"embed --model " + dir.file("m"), "give at least one --image or --text"},
        {"embed --model " + dir.file("m") + " --text x --max-pixels -5", "max-pixels"},
        {"embed --text x", "--model is required"},
        {"frobnicate", "unknown command 'frobnicate'"},
        {"", "A subcommand is required"},
        {"model init --config " + dir.file("absent.json") + " --out " + dir.file("x"), "absent.json"},
        {"bench encoder --model " + dir.file("m") + " --torch",
         "model '" + dir.file("m") + "': is an Opsis model: --torch runs PyTorch on CLIP checkpoints"},
        {"bench encoder --config " + dir.file("config.json") + " --torch", "--torch needs --model"},
        {"bench encoder --model " + dir.file("m") + " --batches 0", "--batches"},
    };
    for (const Case& c : cases) {
        INFO(c.args);
        const CommandResult r = run_opsis(c.args);
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.output, Catch::Contains(c.needle));
    }
    // A malformed config file names itself and the problem.
    write_text(dir.file("broken.json"), "{\"name\": ");
    const CommandResult r = run_opsis("model init --config " + dir.file("broken.json") + " --out " + dir.file("x"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("model config '" + dir.file("broken.json") + "': malformed JSON"));
}

TEST_CASE("every subcommand has --help", "[cli]") {
    for (const char* cmd : {"", "embed", "model", "model init", "model info", "tokenizer", "tokenizer train",
                            "tokenizer encode", "bench", "bench encoder"}) {
        INFO(cmd);
        const CommandResult r = run_opsis(std::string(cmd) + " --help");
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.output, Catch::Contains("Usage"));
    }
}
