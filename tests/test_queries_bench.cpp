// `opsis bench queries`: the judging rule (whole words, phrases, plurals, exclusions, case,
// Greek captions), the queries file's validation, the repository's queries file, and a run on
// a tiny index whose figures are known exactly.
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "benchmarks/queries_bench.h"
#include "eval/caption_judge.h"
#include "core/error.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::test;
using opsis::eval::is_relevant;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Strings = std::vector<std::string>;

// The message of the opsis::Error that reading `text` as a queries file throws ("" if none).
std::string queries_error(const TempDir& dir, const std::string& text) {
    const std::string path = dir.file("q.jsonl");
    write_text(path, text);
    try {
        bench::read_queries(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// Solid colours and a checkerboard: pictures the tiny random model tells apart (random noise
// would give near-identical vectors, which the search collapses into one result).
std::vector<unsigned char> picture(int which) {
    const std::uint8_t colours[][3] = {{255, 0, 0}, {0, 0, 255}, {0, 0, 0}, {0, 255, 0}};
    RgbaImage img;
    img.width = img.height = 16;
    img.pixels.resize(16 * 16 * 4);
    for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x) {
            std::uint8_t* p = &img.pixels[static_cast<std::size_t>(y * 16 + x) * 4];
            const bool white = (x / 2 + y / 2) % 2 == 1;
            for (int c = 0; c < 3; ++c) p[c] = which < 4 ? colours[which][c] : white ? 255 : 0;
            p[3] = 255;
        }
    return encode_png_rgba(img);
}

}  // namespace

TEST_CASE("judging: whole words, phrases, plurals, exclusions, case", "[queries_bench]") {
    CHECK(eval::judge_words("A Cat-face, two CATS!") == Strings{"a", "cat", "face", "two", "cats"});
    CHECK(eval::judge_words("Γάτα: ΜΑΎΡΗ") == Strings{"γάτα", "μαύρη"});

    // Whole words, case-insensitive.
    CHECK(is_relevant({"Cat face"}, {"cat"}, {}));
    CHECK(is_relevant({"a black cat"}, {"CAT"}, {}));
    CHECK_FALSE(is_relevant({"category chart"}, {"cat"}, {}));
    CHECK_FALSE(is_relevant({"scatter plot"}, {"cat"}, {}));
    CHECK_FALSE(is_relevant({"catfish"}, {"cat"}, {}));
    CHECK_FALSE(is_relevant({"hot dog"}, {"cat"}, {}));
    // Plurals: regular forms of the term's words, never the other way or other endings.
    CHECK(is_relevant({"two cats"}, {"cat"}, {}));
    CHECK(is_relevant({"boxes of toys"}, {"box"}, {}));
    CHECK(is_relevant({"some cherries"}, {"cherry"}, {}));
    CHECK(is_relevant({"autumn leaves"}, {"leaf"}, {}));
    CHECK(is_relevant({"kitchen knives"}, {"knife"}, {}));
    CHECK(is_relevant({"keys"}, {"key"}, {}));
    CHECK_FALSE(is_relevant({"cat"}, {"cats"}, {}));
    CHECK_FALSE(is_relevant({"pines"}, {"pin"}, {}));
    CHECK_FALSE(is_relevant({"catty"}, {"cat"}, {}));
    CHECK(eval::word_matches("tomato", "tomatoes"));
    CHECK_FALSE(eval::word_matches("key", "kies"));
    // Phrases: consecutive words; punctuation between them does not matter.
    CHECK(is_relevant({"vanilla ice cream"}, {"ice cream"}, {}));
    CHECK(is_relevant({"two ice creams"}, {"ice cream"}, {}));
    CHECK(is_relevant({"a T-shirt"}, {"t shirt"}, {}));
    CHECK(is_relevant({"flag: Greece"}, {"flag greece"}, {}));
    CHECK_FALSE(is_relevant({"ice on the cream"}, {"ice cream"}, {}));
    CHECK_FALSE(is_relevant({"ice"}, {"ice cream"}, {}));
    // Any caption, any term; an exclusion in any caption wins.
    CHECK(is_relevant({"a pet", "kitten"}, {"cat", "kitten"}, {}));
    CHECK_FALSE(is_relevant({"hot dog: food"}, {"dog"}, {"hot dog"}));
    CHECK(is_relevant({"dog face"}, {"dog"}, {"hot dog"}));
    CHECK_FALSE(is_relevant({"orange", "Orange Hearts"}, {"orange"}, {"orange heart"}));
    CHECK_FALSE(is_relevant({"dog face", "dog: HOT DOG"}, {"dog"}, {"hot dog"}));
    // Greek captions never count (the terms are English); no captions or no terms: not relevant.
    CHECK_FALSE(is_relevant({"γάτα (cat)"}, {"cat"}, {}));
    CHECK(is_relevant({"γάτα", "cat"}, {"cat"}, {}));
    CHECK(eval::is_english_caption("cat face: Ω"));
    CHECK_FALSE(eval::is_english_caption("σημαία: Ελλάδα"));
    CHECK_FALSE(eval::is_english_caption("1, 2, 3"));
    CHECK_FALSE(is_relevant({}, {"cat"}, {}));
    CHECK_FALSE(is_relevant({"cat"}, {}, {}));
}

TEST_CASE("the queries file is validated line by line", "[queries_bench]") {
    TempDir dir;
    const std::string path = dir.file("q.jsonl");
    const std::string ok = R"({"query": "a cat", "kind": "article", "relevant": ["cat", "kitten"]})";

    write_text(path,
               "\n" + ok + "\n\n" +
                   R"({"query": "γάτα", "lang": "el", "kind": "greek", "relevant": ["cat"], "not": ["cat food"]})" +
                   "\n" + R"({"query": "an MRI scan", "kind": "absent", "relevant": []})" + "\n");
    const std::vector<bench::BenchQuery> q = bench::read_queries(path);
    REQUIRE(q.size() == 3);
    CHECK(q[0].line == 2);
    CHECK(q[0].lang == "en");
    CHECK(q[0].relevant == Strings{"cat", "kitten"});
    CHECK(q[0].not_terms.empty());
    CHECK(q[1].line == 4);
    CHECK(q[1].lang == "el");
    CHECK(q[1].not_terms == Strings{"cat food"});
    CHECK(q[2].kind == "absent");

    struct Bad {
        std::string text, reason;
    };
    const Bad bad[] = {
        {ok + "\n{\"query\": \"a dog\", \"kind\": \"article\", \"relevant\": [\"dog\"]", "line 2: not valid JSON"},
        {ok + "\n\n[1, 2]", "line 3: not a JSON object"},
        {R"({"query": "cat", "kind": "wrod", "relevant": ["cat"]})", "line 1: unknown kind \"wrod\""},
        {R"({"query": "", "kind": "word", "relevant": ["cat"]})", "line 1: empty query"},
        {R"({"query": " ?! ", "kind": "word", "relevant": ["cat"]})", "line 1: empty query"},
        {R"({"kind": "word", "relevant": ["cat"]})", "line 1: needs \"query\""},
        {R"({"query": "cat", "relevant": ["cat"]})", "line 1: needs \"kind\""},
        {R"({"query": "cat", "kind": "word"})", "line 1: a \"word\" query needs relevant terms"},
        {ok + "\n" + R"({"query": "cat", "kind": "word", "relevant": []})",
         "line 2: a \"word\" query needs relevant terms"},
        {R"({"query": "cat", "kind": "word", "relevant": "cat"})", "line 1: \"relevant\" must be a list of strings"},
        {R"({"query": "cat", "kind": "word", "relevant": ["cat", ""]})", "line 1: a term of \"relevant\" has no words"},
        {R"({"query": "cat", "kind": "word", "relevant": ["cat"], "not": [3]})",
         "line 1: \"not\" must be a list of strings"},
        {R"({"query": "cat", "kind": "word", "relevent": ["cat"]})", "line 1: unknown key \"relevent\""},
        {R"({"query": "the moon at noon", "kind": "absent", "relevant": ["moon"]})",
         "line 1: an \"absent\" query lists no relevant terms"},
        {R"({"query": "cat", "lang": "", "kind": "word", "relevant": ["cat"]})",
         "line 1: \"lang\" must be a non-empty string"},
        {"\n \n", "no queries"},
    };
    for (const Bad& b : bad) {
        INFO(b.text);
        const std::string message = queries_error(dir, b.text);
        CHECK_THAT(message, Catch::Contains("queries file '" + path + "'") && Catch::Contains(b.reason));
    }
    CHECK_THROWS_AS(bench::read_queries(dir.file("missing.jsonl")), Error);
}

TEST_CASE("the repository's queries file is valid and covers every kind", "[queries_bench]") {
    const std::string path = std::string(OPSIS_SOURCE_DIR) + "/benchmarks/queries.jsonl";
    const std::vector<bench::BenchQuery> queries = bench::read_queries(path);
    CHECK(queries.size() >= 170);
    std::map<std::string, int> kinds;
    for (const bench::BenchQuery& q : queries) {
        ++kinds[q.kind];
        INFO(q.line << ": " << q.query);
        CHECK(q.lang == (q.kind == "greek" ? "el" : "en"));
        for (const std::string& t : q.relevant)
            CHECK(eval::judge_words(t) == eval::judge_words(t + " "));  // terms are words
    }
    for (const char* kind : bench::kQueryKinds) {
        INFO(kind);
        CHECK(kinds[kind] >= 15);
    }
    ::setenv("OPSIS_SOURCE_DIR", OPSIS_SOURCE_DIR, 1);
    CHECK(bench::default_queries_path() == path);
}

TEST_CASE("bench queries on a tiny index: exact figures, not-judged queries, --show and --json", "[queries_bench]") {
    TempDir dir;
    write_text(dir.file("m.json"), R"({"name": "queries-tiny", "embed_dim": 8,
      "image": {"arch": "resnet", "image_size": 16, "stem_channels": 4, "stem_stride": 1,)"
                                   R"( "stage_channels": [4], "stage_blocks": [1]},
      "text": {"context_length": 12, "width": 8, "layers": 1, "heads": 2}})");
    REQUIRE(run_opsis("model init --config " + dir.file("m.json") + " --out " + dir.file("model") + " --seed 3")
                .exit_code == 0);

    // Five pictures: every one is a "picture"; two are cats, one is a category chart and one
    // scattered leaves (neither is a cat); one apple.
    const std::vector<std::pair<std::string, std::string>> items = {
        {"1.png", R"({"en": ["a black cat picture"], "el": ["μια μαύρη γάτα"]})"},
        {"2.png", R"(["two cats playing picture"])"},
        {"3.png", R"(["a category chart picture"])"},
        {"4.png", R"(["scattered leaves picture"])"},
        {"5.png", R"(["a red apple picture"])"},
    };
    {
        std::ofstream m(dir.file("manifest.jsonl"));
        for (std::size_t i = 0; i < items.size(); ++i) {
            write_bytes(dir.file(items[i].first), picture(static_cast<int>(i)));
            m << R"({"image": ")" << items[i].first << R"(", "captions": )" << items[i].second << "}\n";
        }
    }
    const std::string index = dir.file("ix");
    const CommandResult added = run_opsis("index add --index " + index + " --model " + dir.file("model") +
                                          " --manifest " + dir.file("manifest.jsonl"));
    INFO(added.output);
    REQUIRE(added.exit_code == 0);

    write_text(dir.file("q.jsonl"),
               R"({"query": "picture", "kind": "word", "relevant": ["picture"]})"
               "\n"
               R"({"query": "cat", "kind": "word", "relevant": ["cat"]})"
               "\n"
               R"({"query": "a zebra", "kind": "article", "relevant": ["zebra"]})"
               "\n"
               R"({"query": "an apple", "kind": "article", "relevant": ["apple", "cat"], "not": ["black cat"]})"
               "\n"
               R"({"query": "γάτα", "lang": "el", "kind": "greek", "relevant": ["cats"]})"
               "\n"
               R"({"query": "an MRI scan of a knee", "kind": "absent"})"
               "\n");
    const CommandResult r = run_opsis("bench queries --index " + index + " --queries " + dir.file("q.jsonl") +
                                      " --show 5 --json " + dir.file("out.json"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    std::ifstream in(dir.file("out.json"));
    const json out = json::parse(in);

    // Every hit of every query is one of the five pictures, judged by its caption.
    const std::map<std::string, std::map<std::string, bool>> expected = {
        {"picture", {{"black", true}, {"two cats", true}, {"category", true}, {"scattered", true}, {"apple", true}}},
        {"cat", {{"black", true}, {"two cats", true}, {"category", false}, {"scattered", false}, {"apple", false}}},
        {"a zebra",
         {{"black", false}, {"two cats", false}, {"category", false}, {"scattered", false}, {"apple", false}}},
        {"an apple",
         {{"black", false}, {"two cats", true}, {"category", false}, {"scattered", false}, {"apple", true}}},
        {"γάτα", {{"black", false}, {"two cats", true}, {"category", false}, {"scattered", false}, {"apple", false}}},
        {"an MRI scan of a knee",
         {{"black", false}, {"two cats", false}, {"category", false}, {"scattered", false}, {"apple", false}}},
    };
    REQUIRE(out["per_query"].size() == 6);
    std::map<std::string, bool> first;
    for (const json& q : out["per_query"]) {
        const std::string query = q["query"];
        INFO(query);
        REQUIRE(q["hits"].size() == 5);  // the whole index, nothing collapsed
        std::size_t relevant = 0;
        for (const json& h : q["hits"]) {
            const std::string caption = h["caption"];
            bool found = false;
            for (const auto& [key, rel] : expected.at(query))
                if (caption.find(key) != std::string::npos) {
                    CHECK(h["relevant"] == rel);
                    found = true;
                }
            CHECK(found);
            relevant += h["relevant"].get<bool>() ? 1 : 0;
        }
        first[query] = q["hits"][0]["relevant"];
        if (query != "a zebra" && query != "an MRI scan of a knee") {
            CHECK(q["judged"] == true);
            CHECK(q["p_at_k"].get<double>() == Approx(relevant / 5.0));
            CHECK(q["first_relevant"] == first[query]);
        }
    }
    const auto s = [&](const char* q) { return first.at(q) ? 1.0 : 0.0; };
    CHECK(out["per_query"][0]["relevant_in_index"] == 5);
    CHECK(out["per_query"][1]["relevant_in_index"] == 2);  // not the category chart, not the scattered leaves
    CHECK(out["per_query"][2]["relevant_in_index"] == 0);
    CHECK(out["per_query"][3]["relevant_in_index"] == 2);  // the apple and the two cats, not the black cat
    CHECK(out["per_query"][4]["relevant_in_index"] == 1);

    // The figures: the whole index is the top 5, so P@5 is the relevant share of the index.
    CHECK(out["images"] == 5);
    CHECK(out["k"] == 5);
    CHECK(out["kinds"]["word"]["queries"] == 2);
    CHECK(out["kinds"]["word"]["judged"] == 2);
    CHECK(out["kinds"]["word"]["p_at_k"].get<double>() == Approx((1.0 + 0.4) / 2));
    CHECK(out["kinds"]["word"]["s_at_1"].get<double>() == Approx((1.0 + s("cat")) / 2));
    CHECK(out["kinds"]["word"]["p_at_k_max"].get<double>() == Approx((1.0 + 0.4) / 2));
    CHECK(out["kinds"]["article"]["queries"] == 2);
    CHECK(out["kinds"]["article"]["judged"] == 1);
    CHECK(out["kinds"]["article"]["p_at_k"].get<double>() == Approx(0.4));
    CHECK(out["kinds"]["greek"]["p_at_k"].get<double>() == Approx(0.2));
    CHECK(out["kinds"]["greek"]["s_at_1"].get<double>() == Approx(s("γάτα")));
    CHECK(out["all"]["queries"] == 5);
    CHECK(out["all"]["judged"] == 4);
    CHECK(out["all"]["p_at_k"].get<double>() == Approx((1.0 + 0.4 + 0.4 + 0.2) / 4));
    CHECK(out["all"]["s_at_1"].get<double>() == Approx((1.0 + s("cat") + s("an apple") + s("γάτα")) / 4));
    CHECK(out["not_judged"] == json::array({"a zebra"}));
    CHECK(out["absent"]["queries"] == 1);
    CHECK(out["absent"]["top1_mean"].get<double>() == Approx(out["per_query"][5]["top1_score"].get<double>()));
    CHECK(out["absent"]["top1_max"].get<double>() == Approx(out["per_query"][5]["top1_score"].get<double>()));

    // The printed table and the marked hits.
    CHECK_THAT(r.output, Catch::Contains("not judged: 1 queries (the index has nothing relevant)") &&
                             Catch::Contains("\"a zebra\""));
    char row[64];
    std::snprintf(row, sizeof row, "%-13s %8d %8d %8.3f", "word", 2, 2, 0.7);
    CHECK_THAT(r.output, Catch::Contains(row));
    const std::size_t cat = r.output.find("[word] cat");
    REQUIRE(cat != std::string::npos);
    const std::string section = r.output.substr(cat, r.output.find("\n[", cat) - cat);
    std::istringstream lines(section);
    int marked = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.find("black cat") != std::string::npos || line.find("two cats") != std::string::npos) {
            CHECK_THAT(line, Catch::Contains("✓"));
            ++marked;
        }
        if (line.find("category") != std::string::npos || line.find("scattered") != std::string::npos) {
            CHECK_THAT(line, Catch::Contains("✗"));
            ++marked;
        }
    }
    CHECK(marked == 4);

    // With a lexicon naming a kind, the kind is searched with its examples unless --no-examples.
    write_text(dir.file("model/lexicon.tsv"), "# opsis-lexicon 1\nknown\tpicture\t5\nknown\tcat\t5\nstop\ten\ta\n"
                                              "examples\tzebra\tcat\tapple\tpicture\n");
    for (const bool examples : {true, false}) {
        const CommandResult e = run_opsis("bench queries --index " + index + " --queries " + dir.file("q.jsonl") +
                                          (examples ? "" : " --no-examples") + " --json " + dir.file("e.json"));
        INFO(e.output);
        REQUIRE(e.exit_code == 0);
        std::ifstream ein(dir.file("e.json"));
        const json eout = json::parse(ein);
        CHECK(eout["rewrite"] == true);
        CHECK(eout["examples"] == examples);
        CHECK((e.output.find("without examples (--no-examples)") != std::string::npos) == !examples);
    }

    // A bad queries file fails before the index is opened, naming the file and the line.
    write_text(dir.file("bad.jsonl"), R"({"query": "cat", "kind": "word", "relevant": ["cat"]})"
                                      "\n"
                                      R"({"query": "dog", "kind": "wrod", "relevant": ["dog"]})"
                                      "\n");
    const CommandResult bad = run_opsis("bench queries --index " + index + " --queries " + dir.file("bad.jsonl"));
    CHECK(bad.exit_code != 0);
    CHECK_THAT(bad.output, Catch::Contains("bad.jsonl") && Catch::Contains("line 2: unknown kind \"wrod\""));
}
