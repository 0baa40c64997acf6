// The model's lexicon and the query rewriting that brings typed words to it: parsing and its
// errors, accent folding and edit distance, each kind of change, and the searcher embedding
// the rewritten text (and reporting it) unless asked not to.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "encoder/lexicon.h"
#include "search/query_rewrite.h"
#include "search/result_json.h"
#include "search/searcher.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::search;
using Catch::Matchers::Contains;

namespace {

const char* kLexicon =
    "# opsis-lexicon 1\n"
    "known\tcat\t365\nknown\tdog\t271\nknown\ttree\t505\nknown\ttrees\t14\nknown\thouse\t120\n"
    "known\thouses\t100\nknown\tbox\t80\nknown\tleaf\t318\nknown\telephant\t36\nknown\tσημαία\t2558\n"
    "known\tελλάδα\t10\nknown\tκαφέ\t40\nknown\tsit\t60\nknown\tmat\t12\nknown\tno\t50\nknown\tsmoking\t20\n"
    "known\tcar\t400\nknown\tcap\t90\nknown\tthe\t900\nknown\telements\t50\n"
    "known\tquery\t30\nknown\tfor\t800\nknown\tforest\t20\nknown\tsweat\t90\nknown\tsweater\t12\nknown\ttub\t200\nknown\ttube\t30\n"
    "known\tmusical\t15\nknown\tinstrument\t20\nknown\tguitar\t32\nknown\tpiano\t19\nknown\tdrum\t18\n"
    "stop\ten\ta\nstop\ten\tthe\nstop\ten\ton\nstop\ten\tfor\nstop\tel\tτης\n"
    "map\tpuppy\tdog\tkind\nmap\tleaves\tleaf\tinflection\nmap\tautomobile\tcar\tsynonym\n"
    "real\tcart\nkeep\tsweater\n"
    "examples\tmusical instrument\tguitar\tpiano\tdrum\n"
    "examples\tautomobile\tcar\ttub\tbox\nexamples\teven toed ungulate\tdog\tcat\tbox\n";

Lexicon lexicon() { return Lexicon::parse(kLexicon, "test lexicon"); }

std::string searched(const std::string& text) { return rewrite_query(lexicon(), text).text; }

}  // namespace

TEST_CASE("a lexicon file: entries, and a clear error naming the file and line", "[rewrite]") {
    const Lexicon lex = lexicon();
    CHECK(lex.known_words() == 32);
    CHECK(lex.count("tree") == 505);
    CHECK(lex.count("oak") == 0);
    CHECK(lex.stop("the"));
    CHECK(lex.real("cart"));
    CHECK(lex.keep("sweater"));
    CHECK_FALSE(lex.keep("sweat"));
    REQUIRE(lex.mapping("puppy") != nullptr);
    CHECK(lex.mapping("puppy")->target == "dog");
    CHECK(lex.same_but_accents("σημαια") == "σημαία");
    CHECK(lex.nearest("elefant", 2) == "elephant");
    CHECK(lex.nearest("elefant", 0) == "elephant");  // sounds the same
    CHECK_FALSE(lex.nearest("elxfxnt", 1));
    CHECK(lex.nearest("cax", 1) == "car");  // cat, car and cap are one edit away: the most frequent

    CHECK_THROWS_WITH(Lexicon::parse("known\tcat\t3\nknown\tdog\tmany\n", "m/lexicon.tsv"),
                      Contains("lexicon 'm/lexicon.tsv': line 2 has a count that is not a number"));
    CHECK_THROWS_WITH(Lexicon::parse("synonyms\tcat\tfeline\n", "m/lexicon.tsv"),
                      Contains("line 1 is not 'known WORD COUNT'"));
    REQUIRE(lex.examples("musical instrument") != nullptr);
    CHECK(*lex.examples("musical instrument") == std::vector<std::string>{"guitar", "piano", "drum"});
    CHECK(lex.examples("guitar") == nullptr);
    for (const char* bad : {"examples\tmusical instrument\n", "examples\tinstrument\tguitar\t\n"})
        CHECK_THROWS_WITH(Lexicon::parse(bad, "m/lexicon.tsv"), Contains("'examples PHRASE NAME...'"));
    CHECK_THROWS_WITH(Lexicon::parse("known\tcat\t0\n", "x"), Contains("count below 1"));
    CHECK_THROWS_WITH(Lexicon::parse("real\t\xff\n", "x"), Contains("line 1 is not valid UTF-8"));

    test::TempDir dir;
    CHECK_FALSE(Lexicon::load(dir.path()));  // no lexicon: none, not an error
    write_file_atomic(dir.file("lexicon.tsv"), "known\tcat\t3\nbad line\n");
    CHECK_THROWS_WITH(Lexicon::load(dir.path()), Contains(dir.file("lexicon.tsv")) && Contains("line 2"));
}

TEST_CASE("accent folding and the edit distance", "[rewrite]") {
    CHECK(fold_letters("Ελλάδας") == U"ελλαδασ");
    CHECK(fold_letters("Café") == U"cafe");
    CHECK(fold_letters("ΐϋ") == U"ιυ");
    CHECK(spelling_key(U"elephant") == U"elefant");
    CHECK(spelling_key(U"scissors") == U"scisors");
    CHECK(spelling_key(U"backpack") == U"bakpak");
    CHECK(spelling_key(U"ελλαδα") == U"ελαδα");
    CHECK(edit_distance(U"elefant", U"elephant", 5) == 2);
    CHECK(edit_distance(U"calender", U"calendar", 5) == 1);
    CHECK(edit_distance(U"hte", U"the", 5) == 1);  // a transposition is one edit
    CHECK(edit_distance(U"", U"abc", 5) == 3);
    CHECK(edit_distance(U"abcdef", U"uvwxyz", 2) == 3);  // past the limit: limit + 1
    CHECK(edit_distance(U"a", U"abcdef", 2) == 3);
}

TEST_CASE("each kind of change, reported word by word", "[rewrite]") {
    const Rewrite r = rewrite_query(lexicon(), "a Cat sitting on the Mat");
    CHECK(r.text == "cat sit mat");
    CHECK(r.changes == std::vector<WordChange>{{"a", "", "function word"},
                                               {"sitting", "sit", "inflection"},
                                               {"on", "", "function word"},
                                               {"the", "", "function word"}});
    CHECK(searched("cats") == "cat");       // unknown plural -> its known base
    CHECK(searched("boxes") == "box");      // -es
    CHECK(searched("trees") == "tree");     // known, but its base was seen far more often
    CHECK(searched("houses") == "houses");  // seen about as often as "house": kept
    CHECK(searched("leaves") == "leaf");    // an irregular plural, from the lexicon
    CHECK(searched("puppy") == "dog");      // an unknown word -> its kind
    CHECK(searched("puppies") == "dog");    // ... also inflected
    CHECK(searched("automobile") == "car");
    CHECK(searched("σημαια της Ελλαδας") == "σημαία ελλάδα");  // accents restored; a Greek ending
    CHECK(rewrite_query(lexicon(), "σημαια").changes.front().why == "accents");
    CHECK(searched("elefant") == "elephant");  // a misspelling, two edits in a long word
    CHECK(searched("treees") == "tree");
    CHECK(searched("qwerty") == "qwerty");  // two edits from "query", but only six letters: left as typed
    CHECK(searched("elefants") == "elephant");  // "ph" sounds as "f": nearer than "elements"       // a misspelling of
                                                // a word whose base is better known
    CHECK(rewrite_query(lexicon(), "elefant").changes.front().why == "spelling");
    CHECK(searched("cart") == "cart");              // a real word is never "corrected" to "cat"
    CHECK(searched("carts") == "carts");            // ... nor its plural
    CHECK(searched("ct") == "ct");                  // too short to guess at
    CHECK(searched("no smoking") == "no smoking");  // unchanged: the query as typed
    CHECK_FALSE(rewrite_query(lexicon(), "no smoking").changed());
    CHECK(searched("the") == "the");              // nothing but function words: searched as typed
    CHECK(searched("cat, dog!") == "cat, dog!");  // nothing to change: searched as typed
    CHECK(searched("cats, dog!") == "cat dog");   // else punctuation alone, carrying nothing, goes
    CHECK(searched("🐱 cats 2") == "🐱 cat 2");     // emoji and numbers are kept
    CHECK(searched("dog's") == "dog's");
}

TEST_CASE("a word whose ending only looks like an inflection stays as it is", "[rewrite]") {
    CHECK(searched("sweater") == "sweater");  // a word of its own (keep), not "sweat" + "er"
    CHECK(searched("forest") == "forest");    // never shortened to a function word
    CHECK(searched("tubes") == "tube");       // "-es" only after a hiss: not "tub" + "es"
    CHECK(searched("boxes") == "box");
    CHECK(english_bases("tubes") == std::vector<std::string>{"tube"});
    CHECK(english_bases("dishes") == std::vector<std::string>{"dish", "dishe"});
}

TEST_CASE("plurals come apart by the rules the lexicon builder uses", "[rewrite]") {
    // data/corpus/lexicon.py regular_singulars is held to the same file (data/tests/test_corpus.py).
    const std::string path = std::string(OPSIS_SOURCE_DIR) + "/data/tests/regular_plurals.tsv";
    std::istringstream lines(read_text_file(path, 1 << 20));
    int rows = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#') continue;
        const std::size_t tab = line.find('\t');
        REQUIRE(tab != std::string::npos);
        const std::string word = line.substr(0, tab);
        std::vector<std::string> singulars;
        std::istringstream words(line.substr(tab + 1));
        for (std::string w; words >> w;) singulars.push_back(w);
        INFO(word);
        CHECK(english_bases(word) == singulars);
        ++rows;
    }
    CHECK(rows > 10);
}

TEST_CASE("the searcher embeds the rewritten text, reports it, and can be told not to", "[rewrite]") {
    test::TempDir dir;
    test::tiny_model("rewrite-tiny", 8, 7).save(dir.file("model"));
    write_file_atomic(dir.file("model/lexicon.tsv"), kLexicon);
    const DualEncoder model = DualEncoder::load(dir.file("model"));
    REQUIRE(model.lexicon() != nullptr);
    const storage::ModelIdentity identity{"rewrite-tiny", std::string(64, 'c'), "/nowhere", 16};
    auto store = storage::IndexStore::open(dir.file("index"), identity, true, storage::StoreOptions{});
    const Searcher searcher(*store, model);

    Query typed;
    typed.texts = {{"a cats", 1.0f}};
    Query plain = typed;
    plain.texts = {{"cat", 1.0f}};
    Query as_typed = typed;
    as_typed.rewrite = false;
    const std::vector<float> rewritten = searcher.embed(typed), cat = searcher.embed(plain),
                             unchanged = searcher.embed(as_typed);
    CHECK(rewritten == cat);
    CHECK(unchanged != cat);

    const Result r = searcher.search(typed);
    REQUIRE(r.rewrites.size() == 1);
    CHECK(r.rewrites[0].text == "cat");
    const nlohmann::json j = result_json(r, typed.texts);
    CHECK(j["texts"][0]["text"] == "a cats");
    CHECK(j["texts"][0]["searched"] == "cat");
    CHECK(j["texts"][0]["changes"][1] == nlohmann::json{{"from", "cats"}, {"to", "cat"}, {"why", "inflection"}});
    const nlohmann::json untouched = result_json(searcher.search(as_typed), as_typed.texts);
    CHECK_FALSE(untouched["texts"][0].contains("searched"));
}

TEST_CASE("a text naming a kind of thing brings the lexicon's examples of it", "[rewrite]") {
    const Rewrite r = rewrite_query(lexicon(), "A Musical Instruments");
    CHECK(r.text == "musical instrument");
    CHECK(r.examples == std::vector<std::string>{"guitar", "piano", "drum"});
    CHECK(rewrite_query(lexicon(), "musical instrument").examples.size() == 3);  // nothing changed, still a kind
    CHECK(rewrite_query(lexicon(), "a musical instrument case").examples.empty());  // the whole text must name it
    CHECK(rewrite_query(lexicon(), "guitar").examples.empty());
    // A kind as typed, though searched as another word ("automobile" -> "car"); hyphens apart.
    const Rewrite mapped = rewrite_query(lexicon(), "the automobile");
    CHECK(mapped.text == "car");
    CHECK(mapped.examples == std::vector<std::string>{"car", "tub", "box"});
    CHECK(rewrite_query(lexicon(), "Even-toed ungulates").examples.size() == 3);
}

TEST_CASE("a kind of thing is searched with its examples, their best matches interleaved", "[rewrite][search]") {
    test::TempDir dir;
    test::tiny_model("rewrite-tiny", 8, 7).save(dir.file("model"));
    write_file_atomic(dir.file("model/lexicon.tsv"), kLexicon);
    const DualEncoder model = DualEncoder::load(dir.file("model"));
    const storage::ModelIdentity identity{"rewrite-tiny", std::string(64, 'c'), "/nowhere", 16};
    auto store = storage::IndexStore::open(dir.file("index"), identity, true, storage::StoreOptions{});
    const Searcher searcher(*store, model);

    // Each term's own picture (its text's embedding, source "a") and a close copy of it
    // (source "b"), among 60 random pictures.
    auto embedding = [&](const std::string& text) {
        Query q;
        q.texts = {{text, 1.0f}};
        q.rewrite = false;
        return searcher.embed(q);
    };
    std::map<std::int64_t, std::string> picture_of;
    {
        storage::Catalog::Batch b(store->catalog());
        std::mt19937 rng(5);
        std::normal_distribution<float> n;
        auto add = [&](std::vector<float> v, const std::string& name, const std::string& source) {
            float s = 0;
            for (float x : v) s += x * x;
            for (float& x : v) x /= std::sqrt(s);
            storage::Item it;
            it.hash = name + source;
            it.source = source;
            const std::int64_t id = b.add_item(storage::Collection::images, it, v.data(), v.size());
            b.add_path(id, "/pictures/" + name + "-" + source + ".png", 1, 1);
            picture_of[id] = name + "-" + source;
        };
        for (const std::string term : {"musical instrument", "guitar", "piano", "drum"}) {
            std::vector<float> v = embedding(term);
            add(v, term, "a");
            for (float& x : v) x += 0.002f * n(rng);
            add(v, term, "b");
        }
        for (int k = 0; k < 60; ++k) {
            std::vector<float> v(16);
            for (float& x : v) x = n(rng);
            add(v, "random" + std::to_string(k), "c");
        }
        store->commit(b);
    }

    Query kind;
    kind.texts = {{"a musical instrument", 1.0f}};
    kind.k = 4;
    kind.collapse_duplicates = false;
    const Result first = searcher.search(kind);
    REQUIRE(first.rewrites.size() == 1);
    CHECK(first.rewrites[0].examples == std::vector<std::string>{"guitar", "piano", "drum"});
    // The best match of each term first, each saying which example found it; then the second best.
    std::map<std::string, std::string> via;
    for (const Hit& h : first.hits) via[picture_of.at(h.id)] = h.via;
    CHECK(via == std::map<std::string, std::string>{
                     {"musical instrument-a", ""}, {"guitar-a", "guitar"}, {"piano-a", "piano"}, {"drum-a", "drum"}});
    CHECK(first.more);
    Query next = kind;
    next.offset = 4;
    std::set<std::string> second;
    for (const Hit& h : searcher.search(next).hits) second.insert(picture_of.at(h.id));
    CHECK(second == std::set<std::string>{"musical instrument-b", "guitar-b", "piano-b", "drum-b"});
    Query whole = kind;
    whole.k = 8;
    std::vector<std::int64_t> one_page, two_pages;
    for (const Hit& h : searcher.search(whole).hits) one_page.push_back(h.id);
    for (const Query& page : {kind, next})
        for (const Hit& h : searcher.search(page).hits) two_pages.push_back(h.id);
    CHECK(one_page == two_pages);

    const nlohmann::json j = result_json(first, kind.texts);
    CHECK(j["texts"][0]["examples"] == nlohmann::json{"guitar", "piano", "drum"});
    std::size_t with_via = 0;
    for (const auto& h : j["hits"]) with_via += h.contains("via");
    CHECK(with_via == 3);

    // The query's filters hold for its examples too.
    Query filtered = kind;
    filtered.filters.sources = {"b"};
    const Result only_b = searcher.search(filtered);
    REQUIRE(only_b.hits.size() == 4);
    std::size_t found_by_examples = 0;
    for (const Hit& h : only_b.hits) {
        CHECK(picture_of.at(h.id).ends_with("-b"));
        found_by_examples += !h.via.empty();
    }
    CHECK(found_by_examples == 3);

    // Near-duplicates that different terms found are one result when collapsing: each "-b"
    // copy is within 0.985 of its "-a" picture.
    Query collapsing = kind;
    collapsing.k = 8;
    collapsing.collapse_duplicates = true;
    std::set<std::string> collapsed;
    for (const Hit& h : searcher.search(collapsing).hits) collapsed.insert(picture_of.at(h.id));
    for (const char* term : {"musical instrument", "guitar", "piano", "drum"})
        CHECK(collapsed.count(std::string(term) + "-a") + collapsed.count(std::string(term) + "-b") == 1);

    // In a batch, each query is answered as alone, a bad one failing alone.
    Query plain;
    plain.texts = {{"tree", 1.0f}};
    plain.k = 5;
    Query empty;
    empty.texts = {{"", 1.0f}};
    const std::vector<Query> batch{kind, plain, empty, next, filtered};
    const std::vector<Outcome<Result>> answers = searcher.search_batch(batch);
    REQUIRE(answers.size() == batch.size());
    CHECK(std::holds_alternative<std::exception_ptr>(answers[2]));
    for (std::size_t i : {0, 1, 3, 4}) {
        REQUIRE(std::holds_alternative<Result>(answers[i]));
        const Result alone = searcher.search(batch[i]);
        const Result& together = std::get<Result>(answers[i]);
        // The same page (terms' best matches tie at ~1.0 here, and a batch's float rounding may
        // order ties otherwise).
        std::set<std::pair<std::int64_t, std::string>> a, t;
        for (const Hit& h : alone.hits) a.insert({h.id, h.via});
        for (const Hit& h : together.hits) t.insert({h.id, h.via});
        CHECK(t == a);
        CHECK(together.more == alone.more);
    }

    // Not as typed, and not beside another term: there the sum is what is asked.
    Query as_typed = kind;
    as_typed.rewrite = false;
    Query two_terms = kind;
    two_terms.texts.push_back({"tree", 1.0f});
    for (const Query& q : {as_typed, two_terms}) {
        const Result r = searcher.search(q);
        CHECK(r.rewrites[0].examples.empty());
        for (const Hit& h : r.hits) CHECK(h.via.empty());
    }
}
