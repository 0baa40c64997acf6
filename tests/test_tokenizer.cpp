// The byte-level BPE tokenizer: cleaning, word splitting, round trips, training, files.
#include <catch2/catch.hpp>
#include <algorithm>

#include "core/error.h"
#include "encoder/tokenizer.h"
#include "encoder/tokenizer_train.h"
#include "tests/test_support.h"

using namespace opsis;

namespace {
const std::vector<std::string> kCorpus = {
    "a red apple on a table",
    "a green apple",
    "the flag of Germany",
    "the flag of Greece",
    "woman with blond hair and dark skin tone",
    "man with red hair",
    "a smiling cat face",
    "a cat sleeping",
    "Ένα κόκκινο μήλο",
    "η σημαία της Ελλάδας",
    "ένα πράσινο μήλο",
    "don't stop, it's a red rocket!",
};
}

TEST_CASE("text is cleaned: whitespace collapsed, Unicode lower-cased", "[tokenizer]") {
    CHECK(clean_text("  A  Red\t\nApple ") == "a red apple");
    CHECK(clean_text("ΈΝΑ ΜΉΛΟ") == "ένα μήλο");
    CHECK(clean_text("") == "");
    CHECK_THROWS_WITH(clean_text("ok \xC3\x28 bad"), Catch::Contains("invalid UTF-8 at byte 3"));
    CHECK_THROWS_AS(clean_text("\xED\xA0\x80"), Error);  // an encoded surrogate
    CHECK_THROWS_AS(clean_text("\xC0\xAF"), Error);      // overlong
}

TEST_CASE("words split like CLIP's pattern", "[tokenizer]") {
    CHECK(split_words("don't stop 42 cats!!") == std::vector<std::string>{"don", "'t", "stop", "4", "2", "cats", "!!"});
    CHECK(split_words("η σημαία") == std::vector<std::string>{"η", "σημαία"});
    CHECK(split_words("flag: 🇩🇪") == std::vector<std::string>{"flag", ":", "🇩🇪"});
}

TEST_CASE("any UTF-8 text round-trips through the byte-level vocabulary", "[tokenizer]") {
    const Tokenizer bytes = Tokenizer::bytes_only();
    CHECK(bytes.vocab_size() == 514);
    const Tokenizer trained = train_bpe(kCorpus, {600, 2});
    auto without_spaces = [](std::string s) {
        s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
        return s;
    };
    for (const Tokenizer* t : {&bytes, &trained}) {
        // Words separated by spaces come back exactly...
        for (const std::string text : {"a red apple", "Ένα κόκκινο μήλο στο τραπέζι", "emoji 😀🇬🇷 and café"})
            CHECK(t->decode(t->encode(text)) == clean_text(text));
        // ...and every byte survives; like CLIP, decoding puts a space between adjacent words.
        for (const std::string text : {"x\x01y", "don't!", "\xF0\x9F\x98\x80\xC2\xA0tab\tnbsp"})
            CHECK(without_spaces(t->decode(t->encode(text))) == without_spaces(clean_text(text)));
    }
}

TEST_CASE("training learns merges that shorten frequent words", "[tokenizer]") {
    const Tokenizer t = train_bpe(kCorpus, {600, 2});
    CHECK(t.vocab_size() > 514);
    CHECK(t.vocab_size() <= 600);
    CHECK(t.encode("apple").size() == 1);
    CHECK(t.encode("μήλο").size() < Tokenizer::bytes_only().encode("μήλο").size());
    // Deterministic: the same corpus gives the same merges.
    CHECK(train_bpe(kCorpus, {600, 2}).merges() == t.merges());
    CHECK_THROWS_AS(train_bpe(kCorpus, {100, 2}), Error);
}

TEST_CASE("encode_for_model adds start/end and truncates keeping the end", "[tokenizer]") {
    const Tokenizer t = Tokenizer::bytes_only();
    const auto ids = t.encode_for_model("abcdefghij", 6);
    REQUIRE(ids.size() == 6);
    CHECK(ids.front() == t.start_token());
    CHECK(ids.back() == t.end_token());
    CHECK(t.decode(ids) == "abcd");
    CHECK(t.encode_for_model("", 6).size() == 2);
}

TEST_CASE("BPE-dropout splits words into known pieces that decode to the same text", "[tokenizer]") {
    const Tokenizer t = train_bpe(kCorpus, {600, 2});
    const std::string text = "a smiling cat face, η σημαία της Ελλάδας";
    const auto whole = t.encode_for_model(text, 64);
    CHECK(t.encode_for_model_sampled(text, 64, 0.0f, 7) == whole);  // no dropout: the plain encoding
    CHECK(t.encode_for_model_sampled(text, 64, 0.3f, 7) == t.encode_for_model_sampled(text, 64, 0.3f, 7));
    bool finer = false;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        const auto sampled = t.encode_for_model_sampled(text, 64, 0.3f, seed);
        CHECK(t.decode(sampled) == t.decode(whole));  // same bytes, only cut differently
        CHECK(sampled.size() >= whole.size());        // BPE merges greedily: dropping merges never shortens
        finer = finer || sampled.size() > whole.size();
    }
    CHECK(finer);
    CHECK_THROWS_AS(t.encode_for_model_sampled(text, 64, 1.0f, 1), Error);
}

TEST_CASE("tokenizer files save, load and reject damage", "[tokenizer][bad-input]") {
    test::TempDir dir;
    const Tokenizer t = train_bpe(kCorpus, {600, 2});
    t.save(dir.path());
    const Tokenizer back = Tokenizer::load(dir.path());
    CHECK(back.vocab_size() == t.vocab_size());
    CHECK(back.encode("a red apple, η σημαία") == t.encode("a red apple, η σημαία"));

    test::write_text(dir.file("merges.txt"), "#version: 0.2\na b c\n");
    CHECK_THROWS_WITH(Tokenizer::load(dir.path()), Catch::Contains("merges.txt") && Catch::Contains("line 2"));
    t.save(dir.path());
    test::write_text(dir.file("vocab.json"), "{\"a\": 0, ");
    CHECK_THROWS_WITH(Tokenizer::load(dir.path()), Catch::Contains("vocab.json") && Catch::Contains("malformed JSON"));
    test::write_text(dir.file("vocab.json"), "{\"a\": 0}");
    CHECK_THROWS_WITH(Tokenizer::load(dir.path()), Catch::Contains("lacks the symbol"));
    CHECK_THROWS_WITH(Tokenizer::load(dir.file("nowhere")), Catch::Contains("cannot open"));
}
