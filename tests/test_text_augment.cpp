// Caption-true text augmentation (train/text_augment.h): articles, plurals, keyword splits,
// and properties of augment_caption over many seeds: it only uses the caption's own words plus
// framing words, Greek gets Greek framings, typos are small, the same seed gives the same text.
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <sstream>

#include "core/utf8.h"
#include "tests/test_support.h"
#include "train/text_augment.h"

using namespace opsis::train;

namespace {

std::vector<std::string> tokens_of(const std::string& text) {  // words, without commas and parentheses
    std::string cleaned = text;
    for (char& c : cleaned)
        if (c == ',' || c == '(' || c == ')' || c == ':') c = ' ';
    std::istringstream in(cleaned);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    return words;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = up;
        }
    }
    return row[b.size()];
}

// The words English templates may add around a caption.
const std::set<std::string> kEnglishFraming{"a",        "an",     "the",     "picture", "pictures", "of",
                                            "image",    "images", "photo",   "icon",    "icons",    "drawing",
                                            "drawings", "sketch", "clipart", "simple",  "cartoon",  "symbol"};
bool sentence_word(const std::string& w) {
    static const std::vector<std::string> words = english_sentence_words();
    return std::find(words.begin(), words.end(), w) != words.end();
}

bool framing_word(const std::string& w) { return kEnglishFraming.count(w) == 1 || sentence_word(w); }

std::string augment(const std::string& caption, CaptionLanguage language, std::uint64_t seed,
                    const TextAugmentOptions& options = {}) {
    std::mt19937_64 rng(seed);
    return augment_caption(caption, language, rng, options);
}

bool has_latin_letter(const std::string& s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); });
}

}  // namespace

TEST_CASE("english_article picks a or an by the sound of the first word", "[text_augment]") {
    CHECK(english_article("cat") == "a");
    CHECK(english_article("apple") == "an");
    CHECK(english_article("umbrella") == "an");
    CHECK(english_article("unicorn") == "a");
    CHECK(english_article("user") == "a");
    CHECK(english_article("uninvited guest") == "an");
    CHECK(english_article("European flag") == "a");
    CHECK(english_article("x-ray") == "an");
    CHECK(english_article("T-shirt") == "a");
    CHECK(english_article("hour glass") == "an");
    CHECK(english_article("honest face") == "an");
    CHECK(english_article("house") == "a");
    CHECK(english_article("one-way sign") == "a");
    CHECK(english_article("octopus") == "an");
    CHECK(english_article("8 ball") == "an");
    CHECK(english_article("1st place medal") == "a");
    CHECK(english_article("SOS button") == "an");
    CHECK(english_article("UFO") == "a");
    CHECK(english_article("") == "a");
}

TEST_CASE("english_plural inflects the head noun", "[text_augment]") {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"cat", "cats"},
        {"box", "boxes"},
        {"bus", "buses"},
        {"church", "churches"},
        {"dish", "dishes"},
        {"baby", "babies"},
        {"day", "days"},
        {"leaf", "leaves"},
        {"knife", "knives"},
        {"man", "men"},
        {"woman", "women"},
        {"child", "children"},
        {"person", "people"},
        {"mouse", "mice"},
        {"foot", "feet"},
        {"tooth", "teeth"},
        {"goose", "geese"},
        {"sheep", "sheep"},
        {"fish", "fish"},
        {"deer", "deer"},
        {"sports car", "sports cars"},
        {"flag of Greece", "flags of Greece"},
        {"glass", "glasses"},
        {"face with tears of joy", "faces with tears of joy"},
        {"x-ray", "x-rays"},
        {"snowman", "snowmen"},
        {"human", "humans"},
        {"potato", "potatoes"},
        {"photo", "photos"},
        {"sunglasses", "sunglasses"},
        {"keycap 9", "keycap 9"},
        {"Greece", "Greece"},
        {"γάτα", "γάτα"},
        // Compounds take an irregular plural only when they are one: "bluetooth" is no tooth.
        {"bluetooth", "bluetooths"},
        {"oman", "omans"},
        {"grandchild", "grandchildren"},
        {"salesperson", "salespeople"},
        {"bookshelf", "bookshelves"}};
    for (const auto& [one, many] : cases) {
        INFO(one);
        CHECK(english_plural(one) == many);
    }
}

TEST_CASE("takes_english_article leaves determiners, numbers, names and plurals alone", "[text_augment]") {
    CHECK(takes_english_article("cat face"));
    CHECK(takes_english_article("flag of Greece"));
    CHECK_FALSE(takes_english_article("Greece"));
    CHECK_FALSE(takes_english_article("the moon"));
    CHECK_FALSE(takes_english_article("two hearts"));
    CHECK_FALSE(takes_english_article("8 ball"));
    CHECK_FALSE(takes_english_article("sunglasses"));
    CHECK_FALSE(takes_english_article("cat face: animal"));
    CHECK_FALSE(takes_english_article("one two three four five six"));
}

TEST_CASE("split_keywords separates the phrase from its keywords", "[text_augment]") {
    const CaptionParts with = split_keywords("cat face: animal, cat, face, pet");
    CHECK(with.phrase == "cat face");
    CHECK(with.keywords == std::vector<std::string>{"animal", "cat", "face", "pet"});
    const CaptionParts plain = split_keywords("  sports car ");
    CHECK(plain.phrase == "sports car");
    CHECK(plain.keywords.empty());
    const CaptionParts cldr = split_keywords("family: man, woman, boy: home, parents");
    CHECK(cldr.phrase == "family: man, woman, boy");
    CHECK(cldr.keywords == std::vector<std::string>{"home", "parents"});
    const CaptionParts greek = split_keywords("πρόσωπο γάτας: γάτα, ζώο");
    CHECK(greek.phrase == "πρόσωπο γάτας");
    CHECK(greek.keywords == std::vector<std::string>{"γάτα", "ζώο"});
    CHECK(split_keywords("a:, ,").keywords.empty());
}

TEST_CASE("keyword subsets use only the caption's own words", "[text_augment]") {
    const std::string caption = "cat face: animal, cat, face, pet";
    const std::set<std::string> own{"cat", "face", "animal", "pet"};
    TextAugmentOptions subsets_only = TextAugmentOptions::none();
    subsets_only.keyword_subset = 1.0f;
    std::set<std::string> seen;
    for (std::uint64_t seed = 0; seed < 400; ++seed) {
        const std::string out = augment(caption, CaptionLanguage::english, seed, subsets_only);
        INFO(out);
        CHECK(out.find(':') == std::string::npos);
        for (const std::string& w : tokens_of(out)) CHECK(own.count(w) == 1);
        seen.insert(out);
    }
    CHECK(seen.size() > 20);  // it does vary
    // With everything on (but typos), the only other words are framing words and plurals.
    TextAugmentOptions no_typos;
    no_typos.typo = 0.0f;
    for (std::uint64_t seed = 0; seed < 400; ++seed) {
        const std::string out = augment(caption, CaptionLanguage::english, seed, no_typos);
        INFO(out);
        for (const std::string& w : tokens_of(out)) CHECK((own.count(w) == 1 || framing_word(w) || w == "faces"));
    }
}

TEST_CASE("every augmented 'cat' is still about a cat", "[text_augment]") {
    for (std::uint64_t seed = 0; seed < 500; ++seed) {
        const std::string out = augment("cat", CaptionLanguage::english, seed);
        INFO(out);
        CHECK(out.find("cat") != std::string::npos);
        for (const std::string& w : tokens_of(out)) CHECK((w == "cat" || w == "cats" || framing_word(w)));
    }
}

TEST_CASE("english_sentence puts the phrase in a request or a sentence true of any picture", "[text_augment]") {
    std::set<std::string> seen;
    for (std::uint64_t seed = 0; seed < 300; ++seed) {
        std::mt19937_64 rng(seed);
        const std::string one = english_sentence("sports car", false, rng);
        const std::string many = english_sentence("sports cars", true, rng);
        INFO(one << " | " << many);
        CHECK(one.find("a sports car") != std::string::npos);  // with its article
        CHECK(many.find("sports cars") != std::string::npos);
        CHECK(many.find("a sports cars") == std::string::npos);
        CHECK(many.find("there is") == std::string::npos);  // "there are sports cars"
        CHECK(one.find("there are") == std::string::npos);
        for (const std::string& w : tokens_of(one + " " + many))
            CHECK((w == "sports" || w == "car" || w == "cars" || sentence_word(w)));
        seen.insert(one);
    }
    CHECK(seen.size() == 22);  // 10 requests, 9 endings, 3 sentences
    // The words a sentence may add name no colour, direction, place, action or background.
    for (const std::string& w : english_sentence_words()) {
        INFO(w);
        for (const std::string_view bad :
             {"red",     "white",      "black",  "colour", "color", "left",  "right",   "up",
              "down",    "facing",     "garden", "park",   "home",  "table", "sitting", "flying",
              "playing", "background", "alone",  "own",    "empty", "plain"})
            CHECK(w != bad);
    }
}

TEST_CASE("the words sentences add are never zero-shot words (data/corpus/splits.py)", "[text_augment]") {
    const std::set<std::string> framing = opsis::test::python_word_set("data/corpus/splits.py", "FRAMING_WORDS");
    // Stop words (splits.py's STOPWORDS) and one-letter words are no zero-shot words anyway.
    const std::set<std::string> stop{"a", "an", "the", "of", "in", "for", "this", "that", "i", "is"};
    for (const std::string& w : english_sentence_words()) {
        if (stop.count(w)) continue;
        const std::string singular = w.ends_with('s') && w.size() > 3 && w != "shows" ? w.substr(0, w.size() - 1) : w;
        INFO(w);
        CHECK(framing.count(singular) == 1);
    }
}

TEST_CASE("sentences go only around short English phrases, and only when asked for", "[text_augment]") {
    TextAugmentOptions sentences_only = TextAugmentOptions::none();
    sentences_only.sentence = 1.0f;
    bool framed = false;
    for (std::uint64_t seed = 0; seed < 100; ++seed) {
        const std::string out = augment("cat", CaptionLanguage::english, seed, sentences_only);
        CHECK(out != "cat");
        framed = framed || out == "show me a cat";
        // Keyword lists, long phrases and Greek are left as they are.
        CHECK(augment("cat face: animal, pet", CaptionLanguage::english, seed, sentences_only) ==
              "cat face: animal, pet");
        CHECK(augment("a very long caption with far too many words", CaptionLanguage::english, seed, sentences_only) ==
              "a very long caption with far too many words");
        CHECK(augment("γάτα", CaptionLanguage::greek, seed, sentences_only) == "γάτα");
    }
    CHECK(framed);
    for (std::uint64_t seed = 0; seed < 100; ++seed)
        CHECK(augment("cat", CaptionLanguage::english, seed, TextAugmentOptions::none()) == "cat");
}

TEST_CASE("a caption without keywords is never given a colon in English", "[text_augment]") {
    const TextAugmentOptions all_on{1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    for (const std::string caption : {"grinning face", "sports car", "flag of Greece", "cat", "Greece"})
        for (std::uint64_t seed = 0; seed < 200; ++seed) {
            CHECK(augment(caption, CaptionLanguage::english, seed).find(':') == std::string::npos);
            CHECK(augment(caption, CaptionLanguage::english, seed, all_on).find(':') == std::string::npos);
        }
}

TEST_CASE("Greek captions get only Greek framings", "[text_augment]") {
    const TextAugmentOptions all_on{1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    for (const std::string caption : {"γάτα", "πρόσωπο γάτας: γάτα, ζώο", "σημαία Ελλάδας"})
        for (std::uint64_t seed = 0; seed < 300; ++seed)
            for (const TextAugmentOptions& o : {TextAugmentOptions{}, all_on}) {
                const std::string out = augment(caption, CaptionLanguage::greek, seed, o);
                INFO(out);
                CHECK_FALSE(has_latin_letter(out));
                CHECK_FALSE(opsis::utf8::find_invalid(out));
                CHECK_FALSE(out.empty());
            }
}

TEST_CASE("the same seed gives the same caption", "[text_augment]") {
    const TextAugmentOptions all_on{1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    for (std::uint64_t seed = 0; seed < 200; ++seed) {
        CHECK(augment("cat face: animal, cat, face, pet", CaptionLanguage::english, seed) ==
              augment("cat face: animal, cat, face, pet", CaptionLanguage::english, seed));
        CHECK(augment("πρόσωπο γάτας: γάτα, ζώο", CaptionLanguage::greek, seed, all_on) ==
              augment("πρόσωπο γάτας: γάτα, ζώο", CaptionLanguage::greek, seed, all_on));
    }
    CHECK(augment("grinning face", CaptionLanguage::english, 7, TextAugmentOptions::none()) == "grinning face");
}

TEST_CASE("augment_caption never returns an empty text and survives invalid UTF-8", "[text_augment]") {
    const TextAugmentOptions all_on{1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    const std::vector<std::string> captions{":",
                                            ": ",
                                            ": ,",
                                            " , : , ",
                                            "a:",
                                            "x",
                                            "   ",
                                            "caf\xC3 latte: \xFF\xFE, crema",
                                            "\xCE\xB3\xCE",
                                            "γάτα\xFF: ζώο"};
    for (const std::string& caption : captions)
        for (const CaptionLanguage language : {CaptionLanguage::english, CaptionLanguage::greek})
            for (std::uint64_t seed = 0; seed < 100; ++seed)
                for (const TextAugmentOptions& o : {TextAugmentOptions{}, all_on}) {
                    const std::string out = augment(caption, language, seed, o);
                    CHECK(!out.empty());
                }
}

TEST_CASE("a typo changes one word by an edit distance of at most two", "[text_augment]") {
    const std::string text = "a picture of a kitten sitting on a table";
    std::size_t changed = 0;
    for (std::uint64_t seed = 0; seed < 300; ++seed) {
        std::mt19937_64 rng(seed);
        const std::string out = with_typo(text, CaptionLanguage::english, rng);
        const std::vector<std::string> before = tokens_of(text), after = tokens_of(out);
        REQUIRE(before.size() == after.size());
        std::size_t words_changed = 0;
        for (std::size_t i = 0; i < before.size(); ++i)
            if (before[i] != after[i]) {
                ++words_changed;
                CHECK(before[i].size() >= 5);
                CHECK(edit_distance(before[i], after[i]) <= 2);
            }
        CHECK(words_changed <= 1);
        changed += words_changed;
    }
    CHECK(changed > 250);  // nearly always a visible typo
    // Greek typos work on whole code points; short words and invalid UTF-8 are left alone.
    for (std::uint64_t seed = 0; seed < 100; ++seed) {
        std::mt19937_64 rng(seed);
        const std::string out = with_typo("πρόσωπο γάτα", CaptionLanguage::greek, rng);
        CHECK_FALSE(opsis::utf8::find_invalid(out));
        CHECK(out.ends_with(" γάτα"));
        std::mt19937_64 again(seed);
        CHECK(with_typo("γάτα \xFF", CaptionLanguage::greek, again) == "γάτα \xFF");
    }
    std::mt19937_64 rng(1);
    CHECK(with_typo("a cat", CaptionLanguage::english, rng) == "a cat");
    CHECK(with_typo("caf\xC3\xA9s", CaptionLanguage::english, rng) == "caf\xC3\xA9s");
}
