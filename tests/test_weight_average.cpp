// `opsis model average` (train/weight_average.h): each weight the share-weighted mean of the
// models', a model averaged with itself unchanged, and models that cannot be averaged refused,
// naming the one that differs.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "tests/test_support.h"
#include "train/weight_average.h"

using namespace opsis;
using namespace opsis::test;

TEST_CASE("a weight average is each weight's share-weighted mean", "[train][average]") {
    TempDir dir;
    const DualEncoder a = tiny_model("a", 12, 1), b = tiny_model("a", 12, 2);
    a.save(dir.file("a"));
    b.save(dir.file("b"));

    const DualEncoder half = train::average_models({dir.file("a"), dir.file("b")}, {});
    const DualEncoder quarter = train::average_models({dir.file("a"), dir.file("b")}, {3, 1});
    REQUIRE(half.weights().size() == a.weights().size());
    for (const auto& [name, wa] : a.weights()) {
        const Tensor& wb = b.weights().at(name);
        for (std::int64_t i = 0; i < wa.numel(); ++i) {
            CHECK(half.weights().at(name)[i] == Approx(0.5 * wa[i] + 0.5 * wb[i]).margin(1e-7));
            CHECK(quarter.weights().at(name)[i] == Approx(0.75 * wa[i] + 0.25 * wb[i]).margin(1e-7));
        }
    }
    // The two models differ, so the average is neither.
    CHECK(max_abs_diff(half.weights().at("text_projection"), a.weights().at("text_projection")) > 1e-3f);

    // With itself: the same model, embedding the same.
    const DualEncoder same = train::average_models({dir.file("a"), dir.file("a"), dir.file("a")}, {});
    const std::vector<std::string> texts{"a red apple", "γάτα"};
    CHECK(max_abs_diff(same.encode_texts(texts), a.encode_texts(texts)) < 1e-6f);

    // From the command line: a model folder others load, saying what is left to make.
    const CommandResult cli =
        run_opsis("model average " + dir.file("a") + " " + dir.file("b") + " --shares 3,1 --out " + dir.file("c"));
    INFO(cli.output);
    REQUIRE(cli.exit_code == 0);
    CHECK_THAT(cli.output, Catch::Contains("(share 3)") && Catch::Contains("data/build-lexicon"));
    const DualEncoder written = DualEncoder::load(dir.file("c"));
    CHECK(max_abs_diff(written.encode_texts(texts), quarter.encode_texts(texts)) == 0.0f);
}

TEST_CASE("models that cannot be averaged are refused, naming the one that differs", "[train][average]") {
    TempDir dir;
    tiny_model("a", 12, 1).save(dir.file("a"));
    tiny_model("a", 16, 2).save(dir.file("longer"));  // another context length: another config
    auto refusal = [&](const std::vector<std::string>& paths, const std::vector<double>& shares) {
        try {
            train::average_models(paths, shares);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        FAIL("averaged without complaint");
        return std::string();
    };
    CHECK_THAT(refusal({dir.file("a"), dir.file("longer")}, {}),
               Catch::Contains(dir.file("longer")) && Catch::Contains("another config"));
    CHECK_THAT(refusal({dir.file("a")}, {}), Catch::Contains("at least two"));
    CHECK_THAT(refusal({dir.file("a"), dir.file("a")}, {1}), Catch::Contains("1 shares for 2 models"));
    CHECK_THAT(refusal({dir.file("a"), dir.file("a")}, {0, 0}), Catch::Contains("sum to 0"));
    CHECK_THAT(refusal({dir.file("a"), dir.file("a")}, {1, -1}), Catch::Contains("at least 0"));

    // Another tokenizer with the same config: two tokens' ids exchanged in vocab.json.
    std::filesystem::copy(dir.file("a"), dir.file("swapped"), std::filesystem::copy_options::recursive);
    nlohmann::ordered_json vocab = nlohmann::ordered_json::parse(read_file(dir.file("swapped/vocab.json"), 1 << 24));
    const auto first = vocab.begin(), second = std::next(first);
    const nlohmann::ordered_json id = first.value();
    first.value() = second.value();
    second.value() = id;
    write_text(dir.file("swapped/vocab.json"), vocab.dump());
    CHECK_THAT(refusal({dir.file("a"), dir.file("swapped")}, {}),
               Catch::Contains(dir.file("swapped")) && Catch::Contains("another tokenizer"));
}
