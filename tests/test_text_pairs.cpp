// Word knowledge for the text tower (train/text_pairs.h): the pairs file is read with bad lines
// named and skipped, and batches are a fixed function of (seed, step) that pass over every pair.
#include <catch2/catch.hpp>
#include <set>

#include "core/error.h"
#include "encoder/tokenizer.h"
#include "tests/test_support.h"
#include "train/text_pairs.h"

using namespace opsis;
using namespace opsis::train;
using opsis::test::TempDir;

TEST_CASE("text pairs are read with groups as dense ids and bad lines named", "[training]") {
    TempDir dir;
    test::write_text(dir.file("text_pairs.jsonl"),
                     "{\"a\": \"kitty\", \"b\": \"cat\", \"group\": \"wn:1\", \"kind\": \"synonym\"}\n"
                     "not json\n"
                     "\n"
                     "{\"a\": \"cat\", \"b\": \"feline\", \"group\": \"kind:2\"}\n"
                     "{\"a\": \"cat\", \"b\": \"\", \"group\": \"wn:1\"}\n"
                     "{\"a\": \"cat\", \"b\": \"γάτα\", \"group\": \"wn:1\"}\n"
                     "[1, 2]\n");
    const TextPairs read = read_text_pairs(dir.file("text_pairs.jsonl"));
    REQUIRE(read.pairs.size() == 3);
    CHECK(read.pairs[0].a == "kitty");
    CHECK(read.pairs[2].b == "γάτα");
    CHECK(read.pairs[0].group == 0);
    CHECK(read.pairs[1].group == 1);
    CHECK(read.pairs[2].group == 0);  // wn:1 again
    REQUIRE(read.problems.size() == 3);
    CHECK_THAT(read.problems[0], Catch::Contains("line 2") && Catch::Contains("malformed JSON"));
    CHECK_THAT(read.problems[1], Catch::Contains("line 5") && Catch::Contains("'b'"));
    CHECK_THAT(read.problems[2], Catch::Contains("line 7") && Catch::Contains("not a JSON object"));

    try {
        read_text_pairs(dir.file("missing.jsonl"));
        FAIL("a missing file was read");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("missing.jsonl"));
    }
}

TEST_CASE("text-pair batches depend on (seed, step) alone and pass over every pair", "[training]") {
    std::vector<TextPair> pairs;
    for (int i = 0; i < 12; ++i) pairs.push_back({"word " + std::to_string(i), "meaning " + std::to_string(i), i});
    const Tokenizer tok = Tokenizer::bytes_only();
    const TextPairBatches batches(pairs, tok, 16, 4, 7), same(pairs, tok, 16, 4, 7), other(pairs, tok, 16, 4, 8);
    std::set<std::int32_t> seen;
    for (std::int64_t step = 0; step < 3; ++step) {  // one pass: 12 pairs, 4 a step
        const TextPairBatch b = batches.make(step);
        REQUIRE(b.a.size() == 4);
        REQUIRE(b.b.size() == 4);
        CHECK(b.a == same.make(step).a);
        CHECK(b.groups == same.make(step).groups);
        for (std::size_t k = 0; k < 4; ++k) {
            const TextPair& p = pairs[static_cast<std::size_t>(b.groups[k])];
            CHECK(b.a[k] == tok.encode_for_model(p.a, 16));
            CHECK(b.b[k] == tok.encode_for_model(p.b, 16));
            seen.insert(b.groups[k]);
        }
    }
    CHECK(seen.size() == 12);
    bool differs = false;
    for (std::int64_t step = 0; step < 3; ++step) differs = differs || batches.make(step).groups != other.make(step).groups;
    CHECK(differs);
    CHECK(batches.make(3).groups != batches.make(0).groups);  // the second pass in another order
    CHECK_THROWS_WITH(TextPairBatches(std::vector<TextPair>(pairs.begin(), pairs.begin() + 3), tok, 16, 4, 7),
                      Catch::Contains("fewer than one batch"));
}
