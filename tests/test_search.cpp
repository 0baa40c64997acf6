// Search mechanics on a tiny random model: weighted and negative terms, item queries,
// exact re-scoring on compressed indexes, the exact scan while untrained, filters, paging,
// near-duplicate collapsing, long texts, and errors.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "core/calendar.h"
#include "core/error.h"
#include "search/filters.h"
#include "search/query_text.h"
#include "search/result_json.h"
#include "search/searcher.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::search;
using namespace opsis::test;
using storage::Collection;

namespace {

DualEncoder tiny_model() { return test::tiny_model("search-tiny", 8, 7); }

storage::ModelIdentity identity() { return {"search-tiny", std::string(64, 'c'), "/nowhere", 16}; }

std::vector<float> unit(std::mt19937& rng) {
    std::normal_distribution<float> n;
    std::vector<float> v(16);
    float s = 0;
    for (float& x : v) x = n(rng), s += x * x;
    for (float& x : v) x /= std::sqrt(s);
    return v;
}

// 400 random images (source "a" for even ids, "b" for odd; tag "t3" on every third) plus one
// near-copy of item 1.
std::unique_ptr<storage::IndexStore> filled_store(const std::string& dir, const std::string& factory) {
    storage::StoreOptions o;
    o.image_factory = factory;
    auto store = storage::IndexStore::open(dir, identity(), true, o);
    std::mt19937 rng(3);
    storage::Catalog::Batch b(store->catalog());
    std::vector<float> first;
    for (int k = 0; k < 400; ++k) {
        storage::Item it;
        it.hash = "h" + std::to_string(k);
        it.source = k % 2 == 0 ? "a" : "b";
        if (k % 3 == 0) it.tags = {"t3"};
        std::vector<float> v = unit(rng);
        if (k == 0) first = v;
        const std::int64_t id = b.add_item(Collection::images, it, v.data(), 16);
        b.add_path(id, "/photos/" + std::string(k < 200 ? "old/" : "new/") + std::to_string(k) + ".png", 1, 1);
    }
    std::vector<float> near = first;
    near[0] += 0.01f;
    float s = 0;
    for (float x : near) s += x * x;
    for (float& x : near) x /= std::sqrt(s);
    storage::Item copy;
    copy.hash = "near-copy";
    const std::int64_t id = b.add_item(Collection::images, copy, near.data(), 16);
    b.add_path(id, "/photos/copy.png", 1, 1);
    store->commit(b);
    store->train_if_ready(Collection::images);
    return store;
}

}  // namespace

TEST_CASE("every index type returns re-scored results, the same for an exact index and a scan", "[search]") {
    const DualEncoder model = tiny_model();
    TempDir dir;
    auto flat = filled_store(dir.file("flat"), "Flat");
    auto pq = filled_store(dir.file("pq"), "IVF2,PQ4x4");  // trains at 39 * 16 = 624: stays untrained, scans
    auto hnsw = filled_store(dir.file("hnsw"), "HNSW8");
    auto sq = filled_store(dir.file("sq"), "PQ4x2");  // 39 * 4 = 156: trains, lossy
    REQUIRE(sq->vectors(Collection::images).is_trained());
    REQUIRE_FALSE(pq->vectors(Collection::images).is_trained());
    Query q;
    q.texts = {{"a red apple", 1.0f}};
    q.k = 10;
    const Result exact = Searcher(*flat, model).search(q);
    const Result scanned = Searcher(*pq, model).search(q);
    REQUIRE(scanned.exact_scan);
    REQUIRE(exact.hits.size() == 10);
    const std::vector<float> qv = Searcher(*flat, model).embed(q);
    for (std::size_t i = 0; i < 10; ++i) {
        REQUIRE(exact.hits[i].id == scanned.hits[i].id);
        const std::vector<float> v = flat->catalog().vector(Collection::images, exact.hits[i].id);
        float dot = 0;
        for (int d = 0; d < 16; ++d) dot += qv[static_cast<std::size_t>(d)] * v[static_cast<std::size_t>(d)];
        REQUIRE(exact.hits[i].score == Approx(dot).margin(1e-5));
        if (i > 0) REQUIRE(exact.hits[i - 1].score >= exact.hits[i].score);
    }
    // A lossy index ranks by exact scores too: its top hits are among the true top 10.
    const Result lossy = Searcher(*sq, model).search(q);
    REQUIRE_FALSE(lossy.exact_scan);
    REQUIRE(lossy.hits[0].id == exact.hits[0].id);
    // Re-scored against the float16 copies (storage/rescore_vectors.h): within 1e-3.
    REQUIRE(lossy.hits[0].score == Approx(exact.hits[0].score).margin(1e-3));
    REQUIRE(Searcher(*hnsw, model).search(q).hits[0].id == exact.hits[0].id);
}

TEST_CASE("paging, filters, min score, duplicates and item queries", "[search]") {
    const DualEncoder model = tiny_model();
    TempDir dir;
    auto store = filled_store(dir.file("ix"), "Flat");
    Searcher s(*store, model);
    Query q;
    q.texts = {{"boats on a lake", 1.0f}};
    q.k = 30;
    const Result all = s.search(q);
    q.k = 10;
    Result paged;
    for (std::size_t page = 0; page < 3; ++page) {
        q.offset = page * 10;
        const Result r = s.search(q);
        REQUIRE(r.more);
        paged.hits.insert(paged.hits.end(), r.hits.begin(), r.hits.end());
    }
    for (std::size_t i = 0; i < 30; ++i) REQUIRE(paged.hits[i].id == all.hits[i].id);

    q.offset = 0;
    q.filters.sources = {"b"};
    q.filters.tags = {"t3"};
    q.filters.path_prefix = "/photos/new/";
    const Result filtered = s.search(q);
    REQUIRE(filtered.hits.size() == 10);
    for (const Hit& h : filtered.hits) {
        REQUIRE(h.item.source == "b");
        REQUIRE(h.item.tags == std::vector<std::string>{"t3"});
        REQUIRE(h.item.paths[0].rfind("/photos/new/", 0) == 0);
    }
    q.filters = {};
    q.min_score = all.hits[4].score;
    REQUIRE(s.search(q).hits.size() == 5);
    q.min_score.reset();

    // Filters too selective for the candidates: a filtered scan of every item finds exactly
    // the ones that pass, ranked as a brute-force scoring of them ranks them.
    {
        storage::Catalog::Batch b(store->catalog());
        std::mt19937 rng(9);
        for (const char* tag : {"q\"uote", "back\\slash", "ünï"}) {
            storage::Item it;
            it.hash = std::string("odd-") + tag;
            it.source = "weird \"source\"";
            it.tags = {tag, "odd"};
            const std::vector<float> v = unit(rng);
            b.add_path(b.add_item(Collection::images, it, v.data(), 16), std::string("/odd/") + tag + ".png", 1, 1);
        }
        store->commit(b);
    }
    q.k = 20;
    q.filters.path_prefix = "/photos/new/39";  // items 390..399
    Result narrow = s.search(q);
    REQUIRE(narrow.exact_scan);
    REQUIRE(narrow.hits.size() == 10);
    const std::vector<float> qv = s.embed(q);
    std::vector<std::pair<float, std::int64_t>> truth;
    store->catalog().for_each_item(Collection::images, [&](const storage::Item& it) {
        if (it.paths[0].rfind("/photos/new/39", 0) == 0) {
            const std::vector<float> v = store->catalog().vector(Collection::images, it.id);
            float dot = 0;
            for (std::size_t i = 0; i < 16; ++i) dot += qv[i] * v[i];
            truth.emplace_back(dot, it.id);
        }
        return true;
    });
    std::sort(truth.rbegin(), truth.rend());
    for (std::size_t i = 0; i < 10; ++i) {
        REQUIRE(narrow.hits[i].id == truth[i].second);
        REQUIRE(narrow.hits[i].score == Approx(truth[i].first).margin(1e-5));
    }
    q.filters = {};
    q.filters.tags = {"q\"uote"};  // JSON escapes must not hide a match from the scan
    REQUIRE(s.search(q).hits.size() == 1);
    q.filters.tags = {"ünï", "odd"};
    q.filters.sources = {"nope", "weird \"source\""};
    narrow = s.search(q);
    REQUIRE(narrow.hits.size() == 1);
    REQUIRE(narrow.hits[0].item.paths[0] == "/odd/ünï.png");
    q.filters = {};
    q.filters.sources = {"no such source"};
    narrow = s.search(q);
    REQUIRE(narrow.hits.empty());
    REQUIRE_FALSE(narrow.more);

    // The same filters without the source/tag and path indexes (through the vector index and
    // a pass over the items): the same answers.
    Limits no_direct;
    no_direct.directly_scored = 0;
    const Searcher scanning(*store, model, no_direct);
    auto filters = [](std::vector<std::string> sources, std::vector<std::string> tags, std::string prefix) {
        Filters f;
        f.sources = std::move(sources);
        f.tags = std::move(tags);
        f.path_prefix = std::move(prefix);
        return f;
    };
    for (const Filters& f : {filters({"b"}, {"t3"}, "/photos/new/"), filters({}, {}, "/photos/new/39"),
                             filters({}, {"q\"uote"}, ""), filters({"nope", "weird \"source\""}, {"ünï", "odd"}, ""),
                             filters({"no such source"}, {}, ""), filters({"a"}, {}, "")}) {
        q.filters = f;
        const Result direct = s.search(q), other = scanning.search(q);
        INFO("filters: " << f.sources.size() << " sources, " << f.tags.size() << " tags, prefix '" << f.path_prefix
                         << "'");
        REQUIRE(direct.hits.size() == other.hits.size());
        REQUIRE(direct.more == other.more);
        for (std::size_t i = 0; i < direct.hits.size(); ++i) {
            REQUIRE(direct.hits[i].id == other.hits[i].id);
            REQUIRE(direct.hits[i].score == Approx(other.hits[i].score).margin(1e-6));
        }
    }
    q.filters = {};
    q.k = 10;

    // "More like" item 1: itself excluded, its near-copy collapsed unless asked for.
    Query like;
    like.items = {{Collection::images, 1, 1.0f}};
    like.k = 5;
    const Result collapsed = s.search(like);
    for (const Hit& h : collapsed.hits) REQUIRE(h.id != 1);
    like.collapse_duplicates = false;
    const Result kept = s.search(like);
    REQUIRE(kept.hits[0].item.paths[0] == "/photos/copy.png");
    REQUIRE(kept.hits[0].score > 0.99f);
    // With the item itself as a negative term next to it, nothing is left.
    like.items.push_back({Collection::images, 1, -1.0f});
    REQUIRE_THROWS_WITH(s.search(like), Catch::Contains("cancel out"));
}

TEST_CASE("collapsing near-duplicates keeps exactly what comparing with every kept result keeps", "[search]") {
    const DualEncoder model = tiny_model();
    TempDir dir;
    auto store = filled_store(dir.file("ix"), "Flat");
    Searcher s(*store, model);
    for (const float threshold : {0.5f, 0.9f, 0.985f}) {
        Query q;
        q.texts = {{"boats on a lake", 1.0f}};
        q.k = 200;
        q.collapse_duplicates = false;
        const Result all = s.search(q);
        // The reference: best first, a result is kept unless a kept one is within the threshold.
        std::vector<std::int64_t> expected;
        std::vector<std::vector<float>> kept;
        for (const Hit& h : all.hits) {
            const std::vector<float> v = store->catalog().vector(Collection::images, h.id);
            bool duplicate = false;
            for (const auto& k : kept) {
                float cosine = 0;
                for (std::size_t i = 0; i < v.size(); ++i) cosine += k[i] * v[i];
                duplicate = duplicate || cosine > threshold;
            }
            if (!duplicate) expected.push_back(h.id), kept.push_back(v);
        }
        q.collapse_duplicates = true;
        q.duplicate_threshold = threshold;
        q.k = std::min<std::size_t>(expected.size(), 20);
        const Result collapsed = s.search(q);
        INFO("threshold " << threshold << ": " << expected.size() << " of " << all.hits.size() << " kept");
        REQUIRE(collapsed.hits.size() == q.k);
        for (std::size_t i = 0; i < q.k; ++i) CHECK(collapsed.hits[i].id == expected[i]);
    }
}

TEST_CASE("weighted terms, long texts and bad queries", "[search]") {
    const DualEncoder model = tiny_model();
    TempDir dir;
    auto store = filled_store(dir.file("ix"), "Flat");
    Searcher s(*store, model);
    Query a, b, both;
    a.texts = {{"beach", 1.0f}};
    b.texts = {{"people", 1.0f}};
    both.texts = {{"beach", 1.0f}, {"people", -0.5f}};
    const auto va = s.embed(a), vb = s.embed(b), vboth = s.embed(both);
    std::vector<float> expected(16);
    float n = 0;
    for (std::size_t i = 0; i < 16; ++i) {
        expected[i] = va[i] - 0.5f * vb[i];
        n += expected[i] * expected[i];
    }
    for (std::size_t i = 0; i < 16; ++i) REQUIRE(vboth[i] == Approx(expected[i] / std::sqrt(n)).margin(1e-5));

    // context 8 leaves 6 tokens a chunk; a long text is split, not truncated
    const auto chunks = split_for_context(model.tokenizer(), "one two three four five six seven eight nine ten", 6);
    REQUIRE(chunks.size() > 1);
    Query long_text;
    long_text.texts = {{std::string(5000, 'x') + " and more words at the end", 1.0f}};
    REQUIRE(s.search(long_text).hits.size() == 20);

    // More chunks than go through the tower at once (256): pooled from every slice.
    std::string many_words;
    for (int i = 0; i < 900; ++i) many_words += "w" + std::to_string(i) + " ";
    const auto many_chunks = split_for_context(model.tokenizer(), many_words, 6);
    REQUIRE(many_chunks.size() > 256);
    const Tensor rows = model.encode_texts(many_chunks);
    std::vector<float> pooled(16, 0.0f);
    for (std::size_t r = 0; r < many_chunks.size(); ++r)
        for (std::size_t i = 0; i < 16; ++i) pooled[i] += rows.data()[r * 16 + i];
    float pooled_norm = 0;
    for (float x : pooled) pooled_norm += x * x;
    Query many;
    many.texts = {{many_words, 1.0f}};
    const auto vmany = s.embed(many);
    for (std::size_t i = 0; i < 16; ++i) REQUIRE(vmany[i] == Approx(pooled[i] / std::sqrt(pooled_norm)).margin(1e-5));
    // ... and the result says so, beside each text term, so the user is told (the UI and CLI do).
    many.texts.push_back({"ten", 1.0f});
    const Result pooled_result = s.search(many);
    REQUIRE(pooled_result.rewrites.size() == 2);
    CHECK(pooled_result.rewrites[0].parts == many_chunks);
    CHECK(pooled_result.rewrites[0].part_tokens == 6);
    CHECK(pooled_result.rewrites[1].parts == std::vector<std::string>{"ten"});
    const nlohmann::json pooled_json = result_json(pooled_result, many.texts);
    CHECK(pooled_json["texts"][0]["parts"] == many_chunks.size());
    CHECK(pooled_json["texts"][0]["part_tokens"] == 6);
    CHECK_FALSE(pooled_json["texts"][1].contains("parts"));

    Query bad;
    REQUIRE_THROWS_WITH(s.search(bad), Catch::Contains("has no text, image, item or vector"));
    bad.texts = {{"\xff\xfe", 1.0f}};
    REQUIRE_THROWS_WITH(s.search(bad), Catch::Contains("invalid UTF-8"));
    bad.texts = {{"fine", std::numeric_limits<float>::quiet_NaN()}};
    REQUIRE_THROWS_WITH(s.search(bad),
                        Catch::Contains("query weight 'fine'") && Catch::Contains("not a finite number"));
    bad.texts = {{"fine", 1.0f}};
    bad.k = 100000;
    REQUIRE_THROWS_WITH(s.search(bad), Catch::Contains("query k") && Catch::Contains("between 1 and"));
    bad.k = 5;
    // Costs are bounded before any work: deep pages of collapsed results, and texts together.
    bad.offset = 995;
    bad.k = 10;
    REQUIRE_THROWS_WITH(s.search(bad),
                        Catch::Contains("query offset + k '1005'") && Catch::Contains("collapse_duplicates off"));
    bad.collapse_duplicates = false;
    REQUIRE_NOTHROW(s.search(bad));
    bad.offset = 0;
    bad.k = 5;
    bad.collapse_duplicates = true;
    bad.texts = {{std::string(15000, 'a'), 1.0f}, {std::string(15000, 'b'), 1.0f}};
    REQUIRE_THROWS_WITH(s.search(bad), Catch::Contains("30000 bytes") && Catch::Contains("together"));
    bad.texts = {{"fine", 1.0f}};
    bad.images = {{std::vector<unsigned char>{'G', 'I', 'F'}, "upload.gif", 1.0f}};
    REQUIRE_THROWS_WITH(s.search(bad), Catch::Contains("upload.gif"));
    bad.images.clear();
    bad.items = {{Collection::images, 9999, 1.0f}};
    REQUIRE_THROWS_WITH(s.search(bad), Catch::Contains("images/9999") && Catch::Contains("not found"));
}

TEST_CASE("a batch answers each query as it would be answered alone, and a bad query fails alone", "[search]") {
    const DualEncoder model = tiny_model();
    TempDir dir;
    auto store = filled_store(dir.file("ix"), "Flat");
    Searcher s(*store, model);
    std::vector<Query> batch(7);
    batch[0].texts = {{"a red apple", 1.0f}};
    batch[1].texts = {{"beach", 1.0f}, {"people", -0.5f}};
    batch[1].k = 7;
    batch[1].offset = 3;
    batch[2].k = 0;  // bad: k
    batch[2].texts = {{"fine", 1.0f}};
    batch[3].images = {{encode_png_rgba(pattern_image(20, 12, false)), "pattern.png", 1.0f}};
    batch[3].filters.sources = {"b"};
    batch[4].texts = {{"\xff\xfe", 1.0f}};  // bad: UTF-8
    batch[5].items = {{Collection::images, 1, 1.0f}};
    batch[5].texts = {{std::string(300, 'y') + " a long text in several chunks", 0.5f}};
    batch[6].images = {{std::vector<unsigned char>{'G', 'I', 'F'}, "broken.gif", 1.0f}};  // bad: image

    const std::vector<Outcome<Result>> together = s.search_batch(batch);
    REQUIRE(together.size() == batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        INFO("query " << i);
        const bool bad = i == 2 || i == 4 || i == 6;
        if (bad) {
            REQUIRE(std::holds_alternative<std::exception_ptr>(together[i]));
            std::string alone_message, batch_message;
            try {
                s.search(batch[i]);
            } catch (const std::exception& e) {
                alone_message = e.what();
            }
            try {
                std::rethrow_exception(std::get<std::exception_ptr>(together[i]));
            } catch (const std::exception& e) {
                batch_message = e.what();
            }
            REQUIRE_FALSE(alone_message.empty());
            REQUIRE(batch_message == alone_message);
            continue;
        }
        REQUIRE(std::holds_alternative<Result>(together[i]));
        const Result& r = std::get<Result>(together[i]);
        const Result alone = s.search(batch[i]);
        REQUIRE(r.batch == batch.size());
        REQUIRE(alone.batch == 1);
        REQUIRE(r.more == alone.more);
        REQUIRE(r.hits.size() == alone.hits.size());
        REQUIRE_FALSE(r.hits.empty());
        for (std::size_t h = 0; h < r.hits.size(); ++h) {
            REQUIRE(r.hits[h].id == alone.hits[h].id);
            REQUIRE(r.hits[h].score == Approx(alone.hits[h].score).margin(1e-5));
        }
    }
    for (const Hit& h : std::get<Result>(together[3]).hits) REQUIRE(h.item.source == "b");

    // 90 images in three queries: more than go through the image tower at once (64).
    std::vector<Query> pictures(3);
    for (std::size_t qi = 0; qi < 3; ++qi)
        for (int m = 0; m < 30; ++m) {
            RgbaImage im = pattern_image(12 + m, 10 + static_cast<int>(qi), false);
            im.pixels[0] = static_cast<std::uint8_t>(m * 7 + qi);
            pictures[qi].images.push_back({encode_png_rgba(im), "p.png", m % 3 == 0 ? -0.3f : 1.0f});
        }
    const std::vector<Outcome<std::vector<float>>> embedded = s.embed_batch(pictures);
    for (std::size_t qi = 0; qi < 3; ++qi) {
        const std::vector<float> alone = s.embed(pictures[qi]);
        const std::vector<float>& in_batch = std::get<std::vector<float>>(embedded[qi]);
        for (std::size_t i = 0; i < 16; ++i) REQUIRE(in_batch[i] == Approx(alone[i]).margin(1e-5));
    }
    for (const Hit& h : std::get<Result>(together[5]).hits) REQUIRE(h.id != 1);
    REQUIRE(s.search_batch({}).empty());
}

TEST_CASE("the query language: operators need spaces, weights, a leading minus, and clear errors", "[search]") {
    using T = std::vector<WeightedText>;
    CHECK(parse_query_text("beach + sunset - people") == T{{"beach", 1.0f}, {"sunset", 1.0f}, {"people", -0.5f}});
    CHECK(parse_query_text("  a red apple  ") == T{{"a red apple", 1.0f}});
    CHECK(parse_query_text("t-shirt + x-ray") == T{{"t-shirt", 1.0f}, {"x-ray", 1.0f}});  // no spaces: inside words
    CHECK(parse_query_text("-people cat") == T{{"people cat", -0.5f}});
    CHECK(parse_query_text("cat \xE2\x88\x92 dog") == T{{"cat", 1.0f}, {"dog", -0.5f}});  // U+2212
    CHECK(parse_query_text("2*beach + 0.5 * sunset - 3*people") ==
          T{{"beach", 2.0f}, {"sunset", 0.5f}, {"people", -3.0f}});
    CHECK(parse_query_text("cat - dog", 0.25f) == T{{"cat", 1.0f}, {"dog", -0.25f}});
    CHECK(parse_query_text("a*b") == T{{"a*b", 1.0f}});  // not a number before '*': part of the text
    CHECK(parse_query_text("σημαία + θάλασσα") == T{{"σημαία", 1.0f}, {"θάλασσα", 1.0f}});
    CHECK(parse_query_text(" \t ").empty());
    CHECK_THROWS_WITH(parse_query_text("cat +"), Catch::Contains("ends with an operator"));
    CHECK_THROWS_WITH(parse_query_text("cat + + dog"), Catch::Contains("operator with no term after it"));
    CHECK_THROWS_WITH(parse_query_text("1.2.3*cat"), Catch::Contains("weight '1.2.3' is not a decimal number"));
    CHECK_THROWS_WITH(parse_query_text("2* "), Catch::Contains("has no term after it"));
    CHECK_THROWS_WITH(parse_query_text("\xff"), Catch::Contains("invalid UTF-8"));
    try {
        parse_query_text("cat +");
    } catch (const Error& e) {
        CHECK(e.kind() == Error::Kind::invalid_input);
    }
}

TEST_CASE("an exact index's own scores are used; only a compressed index's are re-scored", "[search]") {
    const DualEncoder model = tiny_model();
    TempDir dir;
    Query q;
    q.texts = {{"a red apple", 1.0f}};
    q.k = 10;
    for (const std::string factory : {"Flat", "HNSW8", "IVF2,Flat", "PQ4x2"}) {
        INFO(factory);
        auto store = filled_store(dir.file(factory), factory);
        REQUIRE(store->vectors(Collection::images).is_trained());
        const Searcher s(*store, model);
        const Result r = s.search(q);
        const bool exact = factory != "PQ4x2";
        REQUIRE_FALSE(r.exact_scan);
        CHECK(r.rescored == (exact ? 0u : r.candidates));
        REQUIRE(r.hits.size() == 10);
        const std::vector<float> qv = s.embed(q);
        for (const Hit& h : r.hits) {
            const std::vector<float> v = store->catalog().vector(Collection::images, h.id);
            float dot = 0;
            for (int d = 0; d < 16; ++d) dot += qv[static_cast<std::size_t>(d)] * v[static_cast<std::size_t>(d)];
            CHECK(h.score == Approx(dot).margin(exact ? 1e-5 : 1e-3));  // compressed: float16 copies
        }
        // Collapsing reads the candidates' vectors from the index itself when it holds them.
        Query like;
        like.items = {{Collection::images, 1, 1.0f}};
        like.k = 5;
        const Result collapsed = s.search(like);
        CHECK(collapsed.rescored == (exact ? 0u : collapsed.candidates));
        for (const Hit& h : collapsed.hits) CHECK(h.id != 1);
    }
}

TEST_CASE("search effort and excluded ids go to the vector index per call", "[search]") {
    std::mt19937 rng(11);
    std::vector<float> data;
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 800; ++i) {
        const std::vector<float> v = unit(rng);
        data.insert(data.end(), v.begin(), v.end());
        ids.push_back(1000 + i);
    }
    const std::vector<float> query = unit(rng);
    auto exact_top = [&](std::size_t k, const std::vector<std::int64_t>& excluded) {
        std::vector<std::pair<float, std::int64_t>> all;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            float dot = 0;
            for (std::size_t d = 0; d < 16; ++d) dot += query[d] * data[i * 16 + d];
            if (!std::binary_search(excluded.begin(), excluded.end(), ids[i])) all.emplace_back(dot, ids[i]);
        }
        std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        std::vector<std::int64_t> top;
        for (std::size_t i = 0; i < k; ++i) top.push_back(all[i].second);
        return top;
    };
    auto ids_of = [](const std::vector<storage::SearchHit>& hits) {
        std::vector<std::int64_t> out;
        for (const auto& h : hits) out.push_back(h.id);
        return out;
    };
    const std::vector<std::int64_t> best = exact_top(10, {});
    const std::vector<std::int64_t> excluded{best[0], best[3], best[7]};  // sorted below
    std::vector<std::int64_t> sorted_excluded = excluded;
    std::sort(sorted_excluded.begin(), sorted_excluded.end());
    for (const std::string factory : {"Flat", "HNSW16", "IVF8,Flat"}) {
        INFO(factory);
        auto index = storage::VectorIndex::create(16, factory);
        if (!index->is_trained()) index->train(ids.size(), data.data());
        index->add(ids.size(), ids.data(), data.data());
        storage::SearchParams all_lists;
        all_lists.effort = factory == "HNSW16" ? 800 : 8;  // every IVF list; an HNSW search as wide as the data
        CHECK(ids_of(index->search(query.data(), 10, all_lists)) == best);
        storage::SearchParams leave_out = all_lists;
        leave_out.excluded = &sorted_excluded;
        const std::vector<std::int64_t> got = ids_of(index->search(query.data(), 10, leave_out));
        CHECK(got == exact_top(10, sorted_excluded));
        // Batched searches take the same parameters.
        const std::vector<float> two(query.begin(), query.end());
        std::vector<float> pair = two;
        pair.insert(pair.end(), two.begin(), two.end());
        for (const auto& hits : index->search(2, pair.data(), 10, leave_out)) CHECK(ids_of(hits) == got);
    }
    // One list probed finds fewer of the true neighbours than all of them; the index keeps no
    // setting between calls.
    auto ivf = storage::VectorIndex::create(16, "IVF8,Flat");
    ivf->train(ids.size(), data.data());
    ivf->add(ids.size(), ids.data(), data.data());
    storage::SearchParams one, every;
    one.effort = 1;
    every.effort = 8;
    const auto narrow = ids_of(ivf->search(query.data(), 50, one));
    CHECK(ids_of(ivf->search(query.data(), 50, every)) == exact_top(50, {}));
    CHECK(narrow != exact_top(50, {}));
    CHECK_THROWS_WITH(ivf->search(query.data(), 5, storage::SearchParams{-1, nullptr}), Catch::Contains("effort"));
}

TEST_CASE("photos filtered by date, camera and place, and ordered by date", "[search][photo]") {
    const DualEncoder model = tiny_model();
    TempDir dir;
    auto store = filled_store(dir.file("ix"), "Flat");
    // 90 photos: one a week from 2023-01-02 (local time), three cameras, half of them placed
    // around Athens or Paris; every tenth has no date.
    const std::int64_t day = 86400, start = *calendar::parse_iso("2023-01-02T10:00");
    const char* cameras[] = {"Apple iPhone 12", "Canon EOS 5D", "NIKON D750"};
    const storage::GeoPoint athens{37.9715, 23.7257}, paris{48.8566, 2.3522};
    std::mt19937 rng(21);
    {
        storage::Catalog::Batch b(store->catalog());
        for (int k = 0; k < 90; ++k) {
            storage::Item it;
            it.hash = "photo" + std::to_string(k);
            if (k % 10 != 9) it.taken = storage::TakenAt{start + 7 * day * k, 120, false};
            it.camera = cameras[k % 3];
            if (k % 2 == 0) {
                const storage::GeoPoint at = k % 4 == 0 ? athens : paris;
                it.position = storage::GeoPoint{at.latitude + 0.01 * (k % 7), at.longitude - 0.01 * (k % 5)};
            }
            const std::vector<float> v = unit(rng);
            b.add_path(b.add_item(Collection::images, it, v.data(), 16), "/photos/cam/" + std::to_string(k) + ".jpg", 1,
                       1);
        }
        store->commit(b);
    }
    REQUIRE(store->catalog().check_facets(Collection::images).empty());
    CHECK(store->catalog().ids_taken_between(Collection::images, start, start + 7 * day, 100).size() == 1);
    CHECK(store->catalog().ids_with_camera(Collection::images, "Canon EOS 5D", 100).size() == 30);

    Searcher direct(*store, model);
    Limits no_direct;
    no_direct.directly_scored = 0;
    const Searcher scanning(*store, model, no_direct);
    Query q;
    q.texts = {{"holiday photos", 1.0f}};
    q.k = 100;
    auto photo_filters = [&](std::optional<std::string> after, std::optional<std::string> before, std::string camera,
                             std::optional<Near> near) {
        Filters f;
        if (after) f.taken_after = parse_date_filter("after", *after);
        if (before) f.taken_before = parse_date_filter("before", *before);
        f.camera = std::move(camera);
        f.near = near;
        return f;
    };
    const Near near_athens = parse_near("near", "37.97,23.72,5");
    for (const Filters& f :
         {photo_filters("2023-06-01", "2023-09-01", "", std::nullopt), photo_filters("2024-01-01", {}, "", {}),
          photo_filters({}, "2023-02-01", "", {}), photo_filters({}, {}, "Canon EOS 5D", {}),
          photo_filters("2023-03-01", "2024-03-01", "NIKON D750", {}), photo_filters({}, {}, "", near_athens),
          photo_filters("2023-01-01", "2023-07-01", "", parse_near("near", "48.86,2.35,3")),
          photo_filters("2030-01-01", {}, "", {})}) {
        q.filters = f;
        std::set<std::int64_t> truth;
        store->catalog().for_each_item(Collection::images, [&](const storage::Item& it) {
            if (passes(f, it)) truth.insert(it.id);
            return true;
        });
        const Result a = direct.search(q), b = scanning.search(q);
        INFO("after " << f.taken_after.value_or(0) << " before " << f.taken_before.value_or(0) << " camera '"
                      << f.camera << "' near " << f.near.has_value());
        REQUIRE(a.hits.size() == truth.size());
        REQUIRE(b.hits.size() == truth.size());
        for (std::size_t i = 0; i < a.hits.size(); ++i) {
            REQUIRE(truth.count(a.hits[i].id));
            REQUIRE(a.hits[i].id == b.hits[i].id);
        }
    }
    // A week's window holds exactly its photo; places are judged by distance.
    q.filters = photo_filters("2023-01-09", "2023-01-10", "", {});
    REQUIRE(direct.search(q).hits.size() == 1);
    CHECK(distance_km(athens, paris) == Approx(2095).epsilon(0.01));

    // Ordered by date: newest first, undated last, paged within the window.
    q.filters = photo_filters({}, {}, "Apple iPhone 12", {});
    q.order = Query::Order::date;
    q.k = 40;
    const Result by_date = direct.search(q);
    REQUIRE(by_date.hits.size() == 30);
    for (std::size_t i = 1; i < by_date.hits.size(); ++i) {
        const auto& prev = by_date.hits[i - 1].item.taken;
        const auto& cur = by_date.hits[i].item.taken;
        if (cur) REQUIRE((prev && prev->local >= cur->local));
    }
    REQUIRE_FALSE(by_date.hits.back().item.taken);
    q.k = 10;
    q.offset = 10;
    const Result second_page = direct.search(q);
    REQUIRE(second_page.more);
    for (std::size_t i = 0; i < 10; ++i) REQUIRE(second_page.hits[i].id == by_date.hits[10 + i].id);
    q.offset = 495;
    REQUIRE_THROWS_WITH(direct.search(q), Catch::Contains("ordered by date"));

    // Bad values: named, with the reason.
    REQUIRE_THROWS_WITH(parse_date_filter("--after", "2024-02-30"),
                        Catch::Contains("--after") && Catch::Contains("not a date"));
    REQUIRE_THROWS_WITH(parse_date_filter("--after", "yesterday"), Catch::Contains("YYYY-MM-DD"));
    REQUIRE_THROWS_WITH(parse_near("--near", "91,0,5"), Catch::Contains("latitude"));
    REQUIRE_THROWS_WITH(parse_near("--near", "37,23"), Catch::Contains("latitude,longitude,radius_km"));
    REQUIRE_THROWS_WITH(parse_near("--near", "37,23,0"), Catch::Contains("radius"));
    REQUIRE_THROWS_WITH(parse_order("newest"), Catch::Contains("relevance or date"));
}

TEST_CASE("a compressed index re-scores more candidates as it grows, or as a query asks", "[search]") {
    using opsis::search::default_rescore;
    using opsis::search::first_fetch;
    REQUIRE(default_rescore(0) == 256);
    REQUIRE(default_rescore(1000000) == 256);
    REQUIRE(default_rescore(4999999) == 256);
    REQUIRE(default_rescore(10000000) == 1024);
    REQUIRE(default_rescore(1000000000) == 4096);
    opsis::search::Query q;
    q.k = 20;
    REQUIRE(first_fetch(q, 21, 0, true, 10000000) == 1024);
    REQUIRE(first_fetch(q, 21, 0, false, 10000000) == 64);  // exact scores need no re-scoring
    q.rescore = 3000;
    REQUIRE(first_fetch(q, 21, 0, true, 10000000) == 3000);
    REQUIRE(first_fetch(q, 21, 0, false, 10000000) == 64);
    q.filters.sources = {"x"};  // filters may reject many: four times as many
    REQUIRE(first_fetch(q, 21, 0, true, 100) == 12000);
    q.rescore = 70000;
    REQUIRE_THROWS_WITH(opsis::search::validate_paging(q, {}), Catch::Contains("query rescore '70000'"));
}
