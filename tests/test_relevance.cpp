// "No good match": the relevance rule's file, a query's background, and how search judges
// text hits with them (encoder/relevance.h, search/background.h).
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "core/error.h"
#include "index_folder/open_index.h"
#include "search/background.h"
#include "search/searcher.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::test;
using storage::Collection;

namespace {

RelevanceRule some_rule() {
    RelevanceRule r;
    r.bias = -4.5;
    r.w_score = 6.0;
    r.w_z = 0.8;
    r.threshold = 0.5;
    r.background_sample = 256;
    r.min_background = 32;
    r.cosine_bias = -9.0;
    r.cosine_w = 20.0;
    r.cosine_threshold = 0.3;  // not the background cut, so that a test can tell which one judged
    r.fitted_on = "a test";
    r.model_sha256 = std::string(64, 'a');
    return r;
}

std::vector<float> unit(std::mt19937& rng, int d) {
    std::normal_distribution<float> n;
    std::vector<float> v(static_cast<std::size_t>(d));
    float s = 0;
    for (float& x : v) x = n(rng), s += x * x;
    for (float& x : v) x /= std::sqrt(s);
    return v;
}

// A store of `n` random 16-d pictures, each captioned by its number.
std::unique_ptr<storage::IndexStore> random_store(const std::string& dir, int n, std::uint64_t seed) {
    auto store = storage::IndexStore::open(dir, storage::ModelIdentity{"tiny", std::string(64, 'c'), "/nowhere", 16},
                                           true);
    std::mt19937 rng(static_cast<std::uint32_t>(seed));
    storage::Catalog::Batch b(store->catalog());
    for (int k = 0; k < n; ++k) {
        storage::Item it;
        it.hash = "h" + std::to_string(k);
        const std::vector<float> v = unit(rng, 16);
        const std::int64_t id = b.add_item(Collection::images, it, v.data(), 16);
        b.add_path(id, "/p/" + std::to_string(k) + ".png", 1, 1);
    }
    store->commit(b);
    return store;
}

// The tiny model saved with `rule` beside it, and loaded back (the only way a model gets one).
DualEncoder model_with(const TempDir& dir, const std::optional<RelevanceRule>& rule) {
    const std::string folder = dir.file("model");
    tiny_model("relevance-tiny", 8, 3).save(folder);
    std::filesystem::remove(folder + "/relevance.json");
    if (rule) write_text(folder + "/relevance.json", rule->to_json());
    return DualEncoder::load(folder);
}

}  // namespace

TEST_CASE("a relevance rule reads back what it wrote, and a malformed one is refused by name", "[relevance][bad-input]") {
    const RelevanceRule r = some_rule();
    const RelevanceRule back = RelevanceRule::parse(r.to_json(), "rule.json");
    CHECK(back.bias == r.bias);
    CHECK(back.w_score == r.w_score);
    CHECK(back.w_z == r.w_z);
    CHECK(back.cosine_bias == r.cosine_bias);
    CHECK(back.cosine_w == r.cosine_w);
    CHECK(back.min_background == 32);
    CHECK(back.background_sample == 256);
    CHECK(back.model_sha256 == r.model_sha256);
    CHECK(back.fitted_on == "a test");
    // sigmoid(-4.5 + 6 * 0.5 + 0.8 * 2) = sigmoid(0.1)
    CHECK(r.probability(0.5f, 2.0f) == Approx(1 / (1 + std::exp(-0.1))));
    CHECK(r.probability(0.5f) == Approx(1 / (1 + std::exp(-1.0))));

    auto refused = [&](const std::string& text, const std::string& reason) {
        INFO(text);
        try {
            RelevanceRule::parse(text, "m/relevance.json");
            FAIL("accepted");
        } catch (const Error& e) {
            CHECK_THAT(e.what(), Catch::Contains("relevance rule 'm/relevance.json'") && Catch::Contains(reason));
        }
    };
    nlohmann::json j = nlohmann::json::parse(r.to_json());
    auto with = [&](const std::string& key, const nlohmann::json& value) -> std::string {
        nlohmann::json k = j;
        if (value.is_null()) k.erase(key);
        else k[key] = value;
        return k.dump();
    };
    refused("{", "is not JSON");
    refused("[1]", "is not a JSON object");
    refused(with("format", 2), "\"format\" must be 1");
    refused(with("bias", nullptr), "has no \"bias\"");
    refused(with("w_z", "big"), "\"w_z\" is not a number");
    refused(with("threshold", 1.5), "\"threshold\" must lie strictly between 0 and 1");
    refused(with("background_sample", 8), "\"background_sample\" must be a whole number");
    refused(with("min_background", 512), "\"min_background\" must be a whole number from 2 to background_sample");
    refused(with("model_sha256", "abc"), "\"model_sha256\" must be the 64-digit SHA-256");
}

TEST_CASE("a query's background is the mean and spread of its scores over the sample", "[relevance]") {
    // Three unit vectors; the query scores 1, 0 and -1 against them.
    const BackgroundSample sample(Tensor({3, 2}, {1, 0, 0, 1, -1, 0}));
    const float query[2] = {1, 0};
    const std::optional<QueryBackground> bg = sample.background(query);
    REQUIRE(bg);
    CHECK(bg->mean == Approx(0.0).margin(1e-6));
    CHECK(bg->std == Approx(1.0));  // sample standard deviation of {1, 0, -1}
    CHECK(bg->z(0.5f) == Approx(0.5));
    CHECK_FALSE(BackgroundSample(Tensor({1, 2}, {1, 0})).background(query));  // no spread from one
    CHECK_FALSE(BackgroundSample(Tensor({2, 2}, {1, 0, 1, 0})).background(query));
    CHECK_FALSE(BackgroundSample(Tensor{}).background(query));
}

TEST_CASE("a collection's background sample: every vector of a small one, distinct random ones of a big one",
          "[relevance][storage]") {
    TempDir dir;
    auto store = random_store(dir.file("ix"), 300, 1);
    const Tensor all = search::draw_background_sample(store->catalog(), Collection::images, 1024, 16);
    CHECK(all.shape() == Shape{300, 16});
    const Tensor some = search::draw_background_sample(store->catalog(), Collection::images, 64, 16);
    REQUIRE(some.shape() == Shape{64, 16});
    CHECK(search::draw_background_sample(store->catalog(), Collection::images, 64, 16).values() == some.values());
    // Distinct rows, each one of the collection's vectors.
    std::set<std::vector<float>> rows, stored;
    for (std::int64_t i = 0; i < 300; ++i) stored.insert({all.data() + i * 16, all.data() + (i + 1) * 16});
    for (std::int64_t i = 0; i < 64; ++i) rows.insert({some.data() + i * 16, some.data() + (i + 1) * 16});
    CHECK(rows.size() == 64);
    for (const auto& r : rows) CHECK(stored.count(r) == 1);
    CHECK(search::draw_background_sample(store->catalog(), Collection::texts, 64, 16).numel() == 0);
}

TEST_CASE("search judges text hits over pictures by the model's rule: each hit's chance, and no good match",
          "[relevance][search]") {
    TempDir dir;
    auto store = random_store(dir.file("ix"), 300, 2);
    RelevanceRule rule = some_rule();
    const DualEncoder model = model_with(dir, rule);
    REQUIRE(model.relevance() != nullptr);
    search::Searcher searcher(*store, model);
    search::Query q;
    q.texts = {{"a red apple", 1.0f}};
    q.k = 10;
    const search::Result r = searcher.search(q);
    REQUIRE(r.hits.size() == 10);
    REQUIRE(r.no_good_match.has_value());
    // By hand: the query's background over the sample the searcher draws (256 of the 300).
    const std::vector<float> v = searcher.embed(q);
    const auto bg = BackgroundSample(search::draw_background_sample(store->catalog(), Collection::images, 256, 16))
                        .background(v.data());
    REQUIRE(bg);
    for (const search::Hit& h : r.hits) {
        REQUIRE(h.relevance);
        CHECK(*h.relevance == Approx(rule.probability(h.score, bg->z(h.score))).epsilon(1e-5));
        REQUIRE(h.likely_relevant);
        CHECK(*h.likely_relevant == (rule.probability(h.score, bg->z(h.score)) >= rule.threshold));
    }
    CHECK(*r.no_good_match == (rule.probability(r.hits[0].score, bg->z(r.hits[0].score)) < 0.5));
    CHECK(r.relevance_threshold == 0.5f);
    // The second page is judged too, and says the same of the query as a whole.
    q.offset = 10;
    const search::Result page2 = searcher.search(q);
    CHECK(page2.no_good_match == r.no_good_match);
    REQUIRE(page2.hits.size() == 10);
    CHECK(page2.hits[0].relevance.has_value());

    // Pictures or items as the query, or captions as the target: not judged.
    search::Query by_item;
    by_item.items = {{Collection::images, 1, 1.0f}};
    CHECK_FALSE(searcher.search(by_item).no_good_match.has_value());
    CHECK_FALSE(searcher.search(by_item).hits.front().relevance.has_value());
    search::Query texts = q;
    texts.offset = 0;
    texts.target = Collection::texts;
    CHECK_FALSE(searcher.search(texts).no_good_match.has_value());
    // A model without a rule: nothing is judged.
    const DualEncoder plain = model_with(dir, std::nullopt);
    search::Searcher unjudged(*store, plain);
    q.offset = 0;
    const search::Result u = unjudged.search(q);
    CHECK_FALSE(u.no_good_match.has_value());
    CHECK_FALSE(u.hits.front().relevance.has_value());

    // Certain rules: every hit likely relevant, or none.
    rule.bias = 50;
    const DualEncoder sure = model_with(dir, rule);
    CHECK(search::Searcher(*store, sure).search(q).no_good_match == false);
    rule.bias = -50;
    const DualEncoder doubtful = model_with(dir, rule);
    CHECK(search::Searcher(*store, doubtful).search(q).no_good_match == true);
}

TEST_CASE("a collection too small for a background is judged by the cosine alone", "[relevance][search]") {
    TempDir dir;
    auto store = random_store(dir.file("ix"), 20, 3);  // under min_background (32)
    const RelevanceRule rule = some_rule();
    const DualEncoder model = model_with(dir, rule);
    search::Searcher searcher(*store, model);
    search::Query q;
    q.texts = {{"a blue boat", 1.0f}};
    q.k = 5;
    const search::Result r = searcher.search(q);
    REQUIRE(r.hits.size() == 5);
    // Its cut is the cosine fit's own, for the answer and for each hit.
    CHECK(r.relevance_threshold == Approx(rule.cosine_threshold));
    for (const search::Hit& h : r.hits) {
        CHECK(*h.relevance == Approx(rule.probability(h.score)).epsilon(1e-5));
        CHECK(*h.likely_relevant == (rule.probability(h.score) >= rule.cosine_threshold));
    }
}

TEST_CASE("a relevance rule calibrated for other weights is refused where the index opens", "[relevance][bad-input]") {
    TempDir dir;
    const RelevanceRule rule = some_rule();  // for weights "aaaa…", not these
    model_with(dir, rule);
    try {
        open_index(dir.file("ix"), dir.file("model"), true, true);
        FAIL("opened");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("relevance.json") && Catch::Contains("calibrated for other weights") &&
                                 Catch::Contains("opsis model calibrate"));
    }
    // With the right weights' fingerprint it opens.
    RelevanceRule right = rule;
    right.model_sha256 = identify_model(dir.file("model"), DualEncoder::load(dir.file("model"))).sha256;
    write_text(dir.file("model/relevance.json"), right.to_json());
    CHECK(open_index(dir.file("ix"), dir.file("model"), true, true).model->relevance() != nullptr);
}
