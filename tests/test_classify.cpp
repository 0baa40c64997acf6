// Zero-shot labels: the softmax at the model's temperature over prompt-ensembled label vectors,
// checked against a computation by hand; bad labels; and the default model labelling the demo
// pictures (four labels, four pictures: all right only if the model sees them).
#include <boost/beast/core/detail/base64.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "classify/zero_shot.h"
#include "core/error.h"
#include "core/file_io.h"
#include "tests/server_fixture.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::classify;
using Catch::Matchers::Contains;

namespace {

DualEncoder tiny_model() { return test::tiny_model("classify-tiny", 16, 11); }

}  // namespace

TEST_CASE("zero-shot probabilities are the softmax of the cosines at the model's temperature", "[classify]") {
    const DualEncoder model = tiny_model();
    ZeroShotOptions options;
    options.templates = {"{}", "a {} here"};
    const ZeroShotClassifier classifier(model, {"cat", " dog ", "tree"}, options);
    CHECK(classifier.labels() == std::vector<std::string>{"cat", "dog", "tree"});  // trimmed

    // Label vectors by hand: the mean of the templates' unit vectors, normalised.
    const Tensor t = model.encode_texts({"cat", "a cat here", "dog", "a dog here", "tree", "a tree here"});
    std::vector<std::vector<double>> labels(3, std::vector<double>(16));
    for (int l = 0; l < 3; ++l) {
        double norm = 0;
        for (int i = 0; i < 16; ++i) {
            labels[l][i] = t.data()[(2 * l) * 16 + i] + t.data()[(2 * l + 1) * 16 + i];
            norm += labels[l][i] * labels[l][i];
        }
        for (double& x : labels[l]) x /= std::sqrt(norm);
    }
    std::mt19937 rng(5);
    const Tensor images = test::random_tensor({4, 16}, rng);
    Tensor unit = images;
    for (int r = 0; r < 4; ++r) {
        double norm = 0;
        for (int i = 0; i < 16; ++i) norm += unit.data()[r * 16 + i] * unit.data()[r * 16 + i];
        for (int i = 0; i < 16; ++i)
            unit.data()[r * 16 + i] = static_cast<float>(unit.data()[r * 16 + i] / std::sqrt(norm));
    }
    const auto result = classifier.classify(unit);
    REQUIRE(result.size() == 4);
    const double scale = std::exp(static_cast<double>(model.logit_scale()));
    for (int r = 0; r < 4; ++r) {
        double expected[3], sum = 0;
        for (int l = 0; l < 3; ++l) {
            double dot = 0;
            for (int i = 0; i < 16; ++i) dot += unit.data()[r * 16 + i] * labels[l][i];
            sum += expected[l] = std::exp(scale * dot);
        }
        double total = 0;
        for (std::size_t k = 0; k < 3; ++k) {
            const LabelScore& s = result[r][k];
            const int l = s.label == "cat" ? 0 : s.label == "dog" ? 1 : 2;
            CHECK(s.probability == Approx(expected[l] / sum).margin(1e-5));
            if (k > 0) CHECK(s.probability <= result[r][k - 1].probability);
            total += s.probability;
        }
        CHECK(total == Approx(1.0).margin(1e-5));
    }
    // Asked for the best two, the same two first entries, probabilities still over all three.
    const auto top2 = classifier.classify(unit, 2);
    for (int r = 0; r < 4; ++r) {
        REQUIRE(top2[r].size() == 2);
        for (std::size_t k = 0; k < 2; ++k) {
            CHECK(top2[r][k].label == result[r][k].label);
            CHECK(top2[r][k].probability == result[r][k].probability);
        }
    }
}

TEST_CASE("bad labels and templates are refused by name", "[classify][bad-input]") {
    const DualEncoder model = tiny_model();
    CHECK_THROWS_WITH(ZeroShotClassifier(model, {"cat", ""}), Contains("one of them is empty"));
    CHECK_THROWS_WITH(ZeroShotClassifier(model, {"Cat", "dog", "cat"}), Contains("label 'cat': is given twice"));
    CHECK_THROWS_WITH(ZeroShotClassifier(model, {"cat"}), Contains("at least two"));
    CHECK_THROWS_WITH(ZeroShotClassifier(model, {"cat", "d\xffg"}), Contains("not valid UTF-8"));
    CHECK_THROWS_WITH(ZeroShotClassifier(model, {"cat", std::string(300, 'x')}), Contains("longer than 200 bytes"));
    ZeroShotOptions options;
    options.templates = {"a photo"};
    CHECK_THROWS_WITH(ZeroShotClassifier(model, {"cat", "dog"}, options),
                      Contains("template 'a photo': has no {} for the label"));
    CHECK(split_labels(" cat, dog ,car") == std::vector<std::string>{"cat", "dog", "car"});
    CHECK(default_templates("γάτα").size() == 5);
    CHECK(default_templates("γάτα")[1] == "εικόνα: {}");
    CHECK(default_templates("cat")[1] == "a picture of {}");
    test::TempDir dir;
    test::write_text(dir.file("labels.txt"), "# animals\ncat\n\n dog \n");
    CHECK(labels_from_file(dir.file("labels.txt")) == std::vector<std::string>{"cat", "dog"});
    test::write_text(dir.file("empty.txt"), "# nothing\n");
    CHECK_THROWS_WITH(labels_from_file(dir.file("empty.txt")), Contains("holds no labels"));
}

TEST_CASE("opsis classify labels the demo pictures with the default model, in English and Greek", "[classify][cli]") {
    const std::string samples = std::string(OPSIS_SOURCE_DIR) + "/demo/samples/";
    const std::string pictures =
        test::shell_quote(samples + "red-circle.png") + " " + test::shell_quote(samples + "blue-square.png") + " " +
        test::shell_quote(samples + "green-triangle.png") + " " + test::shell_quote(samples + "yellow-star.png");
    const std::string model = test::shell_quote(std::string(OPSIS_SOURCE_DIR) + "/models/default");
    for (const auto& [labels, expected] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"red circle, blue square, green triangle, yellow star",
              {"red circle", "blue square", "green triangle", "yellow star"}},
             {"κόκκινος κύκλος, μπλε τετράγωνο, πράσινο τρίγωνο, κίτρινο αστέρι",
              {"κόκκινος κύκλος", "μπλε τετράγωνο", "πράσινο τρίγωνο", "κίτρινο αστέρι"}}}) {
        const auto r =
            test::run_opsis("classify -m " + model + " -l " + test::shell_quote(labels) + " --json " + pictures);
        REQUIRE(r.exit_code == 0);
        const nlohmann::json j = nlohmann::json::parse(r.output);
        REQUIRE(j.size() == 4);
        for (std::size_t i = 0; i < 4; ++i) {
            INFO(j[i]["image"]);
            CHECK(j[i]["labels"][0]["label"] == expected[i]);
            CHECK(j[i]["labels"].size() == 4);
        }
    }
    // A picture that cannot be read is named; the others are still labelled; the exit says so.
    const auto bad =
        test::run_opsis("classify -m " + model + " -l 'cat, dog' " + test::shell_quote(samples + "captions.txt") + " " +
                        test::shell_quote(samples + "red-circle.png"));
    CHECK(bad.exit_code != 0);
    CHECK_THAT(bad.output, Contains("captions.txt") && Contains("red-circle.png") && Contains("1 of 2 pictures"));
}

TEST_CASE("POST /api/classify labels an uploaded picture, and refuses bad requests clearly", "[classify][server]") {
    using namespace opsis::test::server;
    test::TempDir dir;
    const std::string samples = std::string(OPSIS_SOURCE_DIR) + "/demo/samples";
    REQUIRE(test::run_opsis("index add --index " + dir.file("ix") + " --model " +
                            test::shell_quote(std::string(OPSIS_SOURCE_DIR) + "/models/default") + " " +
                            test::shell_quote(samples))
                .exit_code == 0);
    Server server("--index " + dir.file("ix"));
    Client c(server.port());
    const std::vector<unsigned char> png = read_file(samples + "/yellow-star.png", 1 << 20);
    std::string b64(beast::detail::base64::encoded_size(png.size()), '\0');
    b64.resize(beast::detail::base64::encode(b64.data(), png.data(), png.size()));
    const std::string image = "data:image/png;base64," + b64;

    Reply r = c.post(
        "/api/classify",
        json{{"image", image}, {"labels", {"red circle", "yellow star", "blue square", "cat"}}, {"top", 2}}.dump());
    REQUIRE(r.status == 200);
    const json d = r.data();
    REQUIRE(d["labels"].size() == 2);
    CHECK(d["labels"][0]["label"] == "yellow star");
    CHECK(d["labels"][0]["probability"].get<double>() > d["labels"][1]["probability"].get<double>());
    CHECK(d["model"] == "opsis-small");

    r = c.post("/api/classify", json{{"image", image}, {"labels", {"cat"}}}.dump());
    CHECK(r.status == 400);
    CHECK_THAT(error_message(r), Contains("give at least two"));
    r = c.post("/api/classify", json{{"image", "aGVsbG8="}, {"labels", {"cat", "dog"}}}.dump());
    CHECK(r.status == 400);
    CHECK_THAT(error_message(r), Contains("classify.image") && Contains("not a supported image format"));
    r = c.post("/api/classify", json{{"labels", {"cat", "dog"}}}.dump());
    CHECK(r.status == 400);
    CHECK_THAT(error_message(r), Contains("classify.image"));
    r = c.post("/api/classify", json{{"image", image}}.dump());
    CHECK(r.status == 400);
    CHECK_THAT(error_message(r), Contains("classify.labels is missing"));
    r = c.post("/api/classify", json{{"image", image}, {"labels", {"cat", "dog"}}, {"colour", true}}.dump());
    CHECK(r.status == 400);
    CHECK_THAT(error_message(r), Contains("colour"));
    r = c.post("/api/classify", json{{"image", image}, {"labels", {"cat", "dog"}}, {"templates", {"a photo"}}}.dump());
    CHECK(r.status == 400);
    CHECK_THAT(error_message(r), Contains("has no {}"));
    CHECK(c.get("/api/classify").status == 405);
    CHECK(c.get("/healthz").status == 200);  // and it keeps serving
}
