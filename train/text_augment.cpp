// Caption-true text augmentation (see text_augment.h): keyword subsets, framing templates and
// sentences, English plurals, typos. Small rule sets, chosen so that what comes out stays true
// of the picture: only the caption's own words plus framing words ("a", "picture of", "icon",
// "show me", "for a website").
#include "train/text_augment.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "core/utf8.h"
#include "core/word_lists.h"

namespace opsis::train {
namespace {

// ---- small string helpers (ASCII only: captions may hold any bytes) ----------------------------

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_ascii_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_ascii_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_ascii_letter(char c) { return is_ascii_lower(c) || is_ascii_upper(c); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
char ascii_lower(char c) { return is_ascii_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
char ascii_upper(char c) { return is_ascii_lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_ascii_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ascii_space(s.back())) s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

std::vector<std::string> words_of(std::string_view s) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && is_ascii_space(s[i])) ++i;
        const std::size_t start = i;
        while (i < s.size() && !is_ascii_space(s[i])) ++i;
        if (i > start) words.emplace_back(s.substr(start, i - start));
    }
    return words;
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i) out += separator;
        out += parts[i];
    }
    return out;
}

// ---- randomness: fixed uses of the engine, so results do not depend on the standard library ----

bool chance(std::mt19937_64& rng, float p) {
    if (p <= 0.0f) return false;
    const double unit = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    return unit < static_cast<double>(p);
}

std::size_t pick(std::mt19937_64& rng, std::size_t n) { return static_cast<std::size_t>(rng() % n); }

// ---- English grammar -------------------------------------------------------------------------

// Words after which an article would be wrong: "a the moon", "a two hearts".
bool is_determiner(std::string_view word) {
    return is_one_of(word,
                     {"a",     "an",    "the",    "this",    "that",    "these",    "those",  "my",    "your",  "his",
                      "her",   "its",   "our",    "their",   "some",    "any",      "no",     "every", "each",  "all",
                      "both",  "many",  "few",    "several", "another", "much",     "more",   "most",  "such",  "what",
                      "which", "whose", "one",    "two",     "three",   "four",     "five",   "six",   "seven", "eight",
                      "nine",  "ten",   "eleven", "twelve",  "hundred", "thousand", "million"});
}

// Prepositions that end a noun phrase's head: "flag of Greece", "face with tears of joy".
bool is_preposition(std::string_view word) {
    return is_one_of(word, {"of", "with", "without", "in", "on", "at", "for", "from", "under", "over", "by", "to",
                            "into", "near", "behind", "inside", "above", "below"});
}

// The index of the head noun in a noun phrase: the word before the first preposition, else the last.
std::size_t head_index(const std::vector<std::string>& words) {
    for (std::size_t i = 1; i < words.size(); ++i)
        if (is_preposition(words[i])) return i - 1;
    return words.empty() ? 0 : words.size() - 1;
}

// A word that already reads as a plural ("glasses", "jeans", "thumbs"); singular words ending
// in -ss, -us, -is, -as ("glass", "bus", "iris", "gas") are not.
bool looks_plural(std::string_view w) {
    if (w.size() < 3 || w.back() != 's') return false;
    if (is_one_of(w, {"news", "series", "species"})) return true;
    const char before = w[w.size() - 2];
    return before != 's' && before != 'u' && before != 'i' && before != 'a';
}

// Letters whose English names start with a vowel sound: "an x-ray", "an SOS", "an f".
bool letter_name_takes_an(char letter) {
    const char c = ascii_lower(letter);
    return c == 'a' || c == 'e' || c == 'f' || c == 'h' || c == 'i' || c == 'l' || c == 'm' || c == 'n' || c == 'o' ||
           c == 'r' || c == 's' || c == 'x';
}

bool consonant(char c) { return is_ascii_lower(c) && c != 'a' && c != 'e' && c != 'i' && c != 'o' && c != 'u'; }

// The plural of one lower-case ASCII word (no hyphens).
std::string plural_word(const std::string& w) {
    if (w.empty()) return w;
    if (is_one_of(w, {"mongoose", "human", "german", "roman", "shaman", "talisman", "caiman", "ottoman", "doberman"}))
        return w + "s";
    if (is_one_of(w, {"sheep", "fish", "deer", "moose", "aircraft", "spacecraft", "hovercraft", "bison", "salmon",
                      "trout", "swine", "offspring", "squid", "cod", "shrimp"}))
        return w;
    static const std::array<std::pair<std::string_view, std::string_view>, 9> irregular{{{"person", "people"},
                                                                                         {"child", "children"},
                                                                                         {"mouse", "mice"},
                                                                                         {"louse", "lice"},
                                                                                         {"tooth", "teeth"},
                                                                                         {"goose", "geese"},
                                                                                         {"foot", "feet"},
                                                                                         {"cactus", "cacti"},
                                                                                         {"fungus", "fungi"}}};
    // Also in compounds, but only known ones: "bluetooth" is not a kind of tooth, "oman" no man.
    for (const auto& [one, many] : irregular)
        if (w == one || (is_one_of(w, {"salesperson", "chairperson", "spokesperson", "grandchild", "stepchild",
                                       "godchild", "schoolchild", "dormouse", "titmouse", "bigfoot"}) &&
                         w.ends_with(one)))
            return w.substr(0, w.size() - one.size()) + std::string(many);
    if (w == "ox") return "oxen";
    if (w == "die") return "dice";
    if (w.ends_with("man") && w != "oman")  // man, woman, snowman, policeman ("roman", "human" are above)
        return w.substr(0, w.size() - 3) + "men";
    for (std::string_view f : {"knife", "wife", "life", "leaf", "loaf", "thief", "sheaf", "wolf", "half", "shelf",
                               "calf", "elf", "self", "scarf", "hoof"})
        if (w == f || (f.size() >= 4 && w.ends_with(f) && f != "life")) {  // "bookshelf", "penknife"; not "wildlife"
            const std::size_t cut = w.back() == 'e' ? 2 : 1;               // knife -> knives, leaf -> leaves
            return w.substr(0, w.size() - cut) + "ves";
        }
    if (is_one_of(w, {"potato", "tomato", "hero", "echo", "torpedo", "veto", "mosquito", "volcano", "domino", "buffalo",
                      "mango"}))
        return w + "es";
    if (w == "quiz") return "quizzes";
    if (looks_plural(w)) return w;
    if (is_one_of(w, {"stomach", "monarch", "epoch"})) return w + "s";  // a hard "ch"
    if (w.ends_with('s') || w.ends_with('x') || w.ends_with('z') || w.ends_with("ch") || w.ends_with("sh"))
        return w + "es";
    if (w.size() >= 2 && w.back() == 'y' && consonant(w[w.size() - 2])) return w.substr(0, w.size() - 1) + "ies";
    return w + "s";
}

// ---- templates -------------------------------------------------------------------------------

enum class Shape { phrase, keyword, list };

std::string english_template(const std::string& text, Shape shape, bool plural, std::mt19937_64& rng) {
    if (shape == Shape::list || text.find_first_of(":,") != std::string::npos) return text;
    std::vector<std::string> candidates;
    if (plural) {
        candidates = {text, "pictures of " + text, "images of " + text, "drawings of " + text, "icons of " + text};
    } else if (shape == Shape::keyword || words_of(text).size() > 5) {
        candidates = {text + " icon", text + " symbol"};
    } else {
        const bool article = takes_english_article(text);
        const std::string noun = article ? english_article(text) + " " + text : text;  // "an apple", "Greece"
        candidates = {"a picture of " + noun, "an image of " + noun,         "a photo of " + noun,
                      "an icon of " + noun,   "a drawing of " + noun,        "a sketch of " + noun,
                      "clipart of " + noun,   "a simple drawing of " + noun, text + " icon",
                      text + " symbol"};
        if (article) {
            // "a cat" is how most people type: twice the weight of the others.
            for (std::string s : {noun, noun, "the " + text, "a cartoon " + text, noun + " icon"})
                candidates.push_back(std::move(s));
        }
    }
    return candidates[pick(rng, candidates.size())];
}

// The words around the phrase. A caption must stay true of the picture as training shows it,
// with a batch-mate or a texture behind it at times: no "on a plain background", "on its own".
// Every ending reads for a plural too ("cats for a website").
constexpr std::array<std::string_view, 10> kRequests{"show me ",      "i am looking for ", "looking for ", "find ",
                                                     "search for ",   "do you have ",      "i need ",      "i want ",
                                                     "can you find ", "give me "};
constexpr std::array<std::string_view, 9> kEndings{" in a simple style",    " for my slides",  " for a website",
                                                   " for a school project", " in the picture", " please",
                                                   " in cartoon style",     " for a poster",   " for a presentation"};
// Whole sentences: the text before and after the phrase.
constexpr std::array<std::array<std::string_view, 2>, 4> kSentences{{{"there is ", " in this picture"},
                                                                     {"there are ", " in this picture"},
                                                                     {"a picture that shows ", ""},
                                                                     {"i am searching for a picture of ", ""}}};
// "there is" and "there are" are one choice, made by the phrase's number.
constexpr std::size_t kSentenceChoices = kSentences.size() - 1;

std::string english_sentence_impl(const std::string& text, bool plural, std::mt19937_64& rng) {
    const bool article = !plural && takes_english_article(text);
    const std::string noun = article ? english_article(text) + " " + text : text;
    const std::size_t k = pick(rng, kRequests.size() + kEndings.size() + kSentenceChoices);
    if (k < kRequests.size()) return std::string(kRequests[k]) + noun;
    if (k < kRequests.size() + kEndings.size()) return noun + std::string(kEndings[k - kRequests.size()]);
    const std::size_t choice = k - kRequests.size() - kEndings.size();
    const auto& around = kSentences[choice == 0 ? (plural ? 1 : 0) : choice + 1];
    return std::string(around[0]) + noun + std::string(around[1]);
}

// Greek framings that stay grammatical whatever the noun's gender (no articles, no cases).
std::string greek_template(const std::string& text, std::mt19937_64& rng) {
    if (text.find(':') != std::string::npos) return text + " (εικονίδιο)";
    static const std::array<std::string_view, 5> prefixes{"εικόνα: ", "εικονίδιο: ", "σχέδιο: ", "", "ζωγραφιά: "};
    const std::size_t k = pick(rng, prefixes.size());
    return prefixes[k].empty() ? text + " (εικονίδιο)" : std::string(prefixes[k]) + text;
}

// "Cat face" or "Cat Face" (ASCII letters at the start of words).
std::string change_case(std::string text, std::mt19937_64& rng) {
    const bool title = (rng() & 1) != 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool word_start = i == 0 || is_ascii_space(text[i - 1]);
        if (word_start && (i == 0 || title)) text[i] = ascii_upper(text[i]);
    }
    return text;
}

// ---- typos -----------------------------------------------------------------------------------

// One typo in a sequence of letters (bytes or code points): swap two adjacent different
// letters, drop one, or double one.
template <typename Letters>
void make_typo(Letters& word, std::mt19937_64& rng) {
    const std::size_t n = word.size();
    std::size_t kind = pick(rng, 3);
    if (kind == 0) {
        std::vector<std::size_t> swappable;
        for (std::size_t i = 0; i + 1 < n; ++i)
            if (word[i] != word[i + 1]) swappable.push_back(i);
        if (swappable.empty()) {
            kind = 2;
        } else {
            const std::size_t i = swappable[pick(rng, swappable.size())];
            std::swap(word[i], word[i + 1]);
            return;
        }
    }
    const std::size_t i = pick(rng, n);
    if (kind == 1)
        word.erase(word.begin() + static_cast<std::ptrdiff_t>(i));
    else
        word.insert(word.begin() + static_cast<std::ptrdiff_t>(i), word[i]);
}

constexpr std::size_t kTypoMinLetters = 5;

std::string english_typo(std::string_view text, std::mt19937_64& rng) {
    // Runs of ASCII letters not touching other bytes of a word (no half of "café").
    std::vector<std::pair<std::size_t, std::size_t>> words;  // [start, end)
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_ascii_letter(text[i])) {
            ++i;
            continue;
        }
        const std::size_t start = i;
        while (i < text.size() && is_ascii_letter(text[i])) ++i;
        const bool touches_non_ascii = (start > 0 && static_cast<unsigned char>(text[start - 1]) >= 0x80) ||
                                       (i < text.size() && static_cast<unsigned char>(text[i]) >= 0x80);
        if (i - start >= kTypoMinLetters && !touches_non_ascii) words.emplace_back(start, i);
    }
    if (words.empty()) return std::string(text);
    const auto [start, end] = words[pick(rng, words.size())];
    std::string word(text.substr(start, end - start));
    make_typo(word, rng);
    return std::string(text.substr(0, start)) + word + std::string(text.substr(end));
}

std::string greek_typo(std::string_view text, std::mt19937_64& rng) {
    if (utf8::find_invalid(text)) return std::string(text);
    std::u32string cps;
    for (std::size_t pos = 0; pos < text.size();) cps.push_back(utf8::next(text, pos));
    std::vector<std::pair<std::size_t, std::size_t>> words;
    std::size_t i = 0;
    while (i < cps.size()) {
        if (!utf8::is_letter(cps[i])) {
            ++i;
            continue;
        }
        const std::size_t start = i;
        while (i < cps.size() && utf8::is_letter(cps[i])) ++i;
        if (i - start >= kTypoMinLetters) words.emplace_back(start, i);
    }
    if (words.empty()) return std::string(text);
    const auto [start, end] = words[pick(rng, words.size())];
    std::u32string word = cps.substr(start, end - start);
    make_typo(word, rng);
    const std::u32string result = cps.substr(0, start) + word + cps.substr(end);
    std::string out;
    out.reserve(text.size() + 4);
    for (char32_t cp : result) utf8::append(out, cp);
    return out;
}

}  // namespace

// ---- the exposed pieces ------------------------------------------------------------------------

CaptionParts split_keywords(std::string_view caption) {
    CaptionParts parts;
    const std::size_t colon = caption.rfind(": ");
    if (colon == std::string_view::npos) {
        parts.phrase = std::string(trim(caption));
        return parts;
    }
    parts.phrase = std::string(trim(caption.substr(0, colon)));
    std::string_view rest = caption.substr(colon + 2);
    while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view keyword = trim(rest.substr(0, comma));
        if (!keyword.empty()) parts.keywords.emplace_back(keyword);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return parts;
}

std::string english_article(std::string_view phrase) {
    phrase = trim(phrase);
    if (phrase.empty()) return "a";
    if (is_ascii_digit(phrase.front())) {  // "an 8", "an 11", "an 18", "an 800"; "a 1", "a 100"
        std::size_t n = 0;
        while (n < phrase.size() && is_ascii_digit(phrase[n])) ++n;
        const std::string_view digits = phrase.substr(0, n);
        if (digits.front() == '8') return "an";
        if ((digits.starts_with("11") || digits.starts_with("18")) && digits.size() % 3 == 2) return "an";
        return "a";
    }
    std::size_t n = 0;
    while (n < phrase.size() && is_ascii_letter(phrase[n])) ++n;
    if (n == 0) return "a";
    const std::string_view letters = phrase.substr(0, n);
    // A lone letter ("x-ray", "T-shirt", "U-turn") or a short acronym ("SOS", "UFO") is read letter by letter.
    const bool acronym = n <= 3 && std::all_of(letters.begin(), letters.end(), is_ascii_upper);
    if (n == 1 || acronym) return letter_name_takes_an(letters.front()) ? "an" : "a";
    const std::string w = lower(letters);
    if (starts_with_any(w, {"hour", "honest", "honor", "honour", "heir"})) return "an";
    switch (w.front()) {
        case 'a':
        case 'i': return "an";
        case 'e': return starts_with_any(w, {"eu", "ewe"}) ? "a" : "an";  // "a European", "a ewe"
        case 'o': return (w == "one" || w == "once") ? "a" : "an";        // "a one-way sign"
        case 'u': {
            // A "yoo" sound: "a unicorn", "a user", "a utensil", "a ukulele"; but "an uninvited", "an umbrella".
            const bool uni = w.starts_with("uni") && (w.size() == 3 || (w[3] != 'n' && w[3] != 'm' && w[3] != 'd'));
            const bool you = uni || starts_with_any(w, {"unan", "use", "usu", "uti", "ute", "uto", "ura", "ure", "uri",
                                                        "uro", "uku", "ubi", "ufo"});
            return you ? "a" : "an";
        }
        default: return "a";
    }
}

std::string english_plural(std::string_view phrase) {
    std::vector<std::string> words = words_of(phrase);
    if (words.empty()) return std::string(trim(phrase));
    std::string& head = words[head_index(words)];
    // Inflect the part after the last hyphen ("x-ray" -> "x-rays", "jack-o-lantern" -> "jack-o-lanterns").
    const std::size_t hyphen = head.rfind('-');
    const std::string last = hyphen == std::string::npos ? head : head.substr(hyphen + 1);
    if (!last.empty() && std::all_of(last.begin(), last.end(), is_ascii_lower))
        head = (hyphen == std::string::npos ? std::string() : head.substr(0, hyphen + 1)) + plural_word(last);
    return join(words, " ");
}

bool takes_english_article(std::string_view phrase) {
    phrase = trim(phrase);
    if (phrase.empty() || !is_ascii_lower(phrase.front())) return false;
    if (phrase.find_first_of(":,") != std::string_view::npos) return false;
    const std::vector<std::string> words = words_of(phrase);
    if (words.size() > 5 || is_determiner(words.front())) return false;
    return !looks_plural(words[head_index(words)]);  // no "a sunglasses"
}

std::string english_sentence(std::string_view phrase, bool plural, std::mt19937_64& rng) {
    return english_sentence_impl(std::string(trim(phrase)), plural, rng);
}

std::vector<std::string> english_sentence_words() {
    std::vector<std::string> all{"a", "an"};  // the article english_sentence may put before the phrase
    auto add = [&](std::string_view text) {
        for (const std::string& w : words_of(text))
            if (std::find(all.begin(), all.end(), w) == all.end()) all.push_back(w);
    };
    for (const std::string_view r : kRequests) add(r);
    for (const std::string_view e : kEndings) add(e);
    for (const auto& around : kSentences) add(std::string(around[0]) + " " + std::string(around[1]));
    return all;
}

std::string with_typo(std::string_view text, CaptionLanguage language, std::mt19937_64& rng) {
    return language == CaptionLanguage::english ? english_typo(text, rng) : greek_typo(text, rng);
}

std::string augment_caption(const std::string& caption, CaptionLanguage language, std::mt19937_64& rng,
                            const TextAugmentOptions& options) {
    const bool english = language == CaptionLanguage::english;
    const CaptionParts parts = split_keywords(caption);

    // 1. Which of the caption's own words: all of it, or a subset of {phrase, keywords}.
    std::string text;
    Shape shape = parts.keywords.empty() ? Shape::phrase : Shape::list;
    if (!parts.keywords.empty() && chance(rng, options.keyword_subset)) {
        std::vector<std::string> pool;
        if (!parts.phrase.empty()) pool.push_back(parts.phrase);
        for (const std::string& k : parts.keywords)
            if (std::find(pool.begin(), pool.end(), k) == pool.end()) pool.push_back(k);
        std::vector<std::string> chosen;
        for (const std::string& p : pool)
            if (rng() & 1) chosen.push_back(p);
        if (chosen.empty()) chosen.push_back(pool[pick(rng, pool.size())]);
        for (std::size_t i = chosen.size(); i > 1; --i) std::swap(chosen[i - 1], chosen[pick(rng, i)]);
        if (chosen.size() == 1) {
            text = chosen.front();
            shape = text == parts.phrase ? Shape::phrase : Shape::keyword;
        } else {
            text = join(chosen, (rng() & 1) ? ", " : " ");
            shape = Shape::list;
        }
    } else {
        text = parts.keywords.empty() ? parts.phrase : std::string(trim(caption));
    }

    // 2. English plural of a short noun phrase ("cats", "flags of Greece").
    bool plural = false;
    if (english && shape == Shape::phrase && chance(rng, options.plural) && takes_english_article(text) &&
        text.find(" and ") == std::string::npos && words_of(text).size() <= 4) {
        std::string many = english_plural(text);
        plural = many != text;
        if (plural) text = std::move(many);
    }

    // 3. One typo, in the caption's words (before the framing).
    if (chance(rng, options.typo)) text = with_typo(text, language, rng);

    // 4. Framing words: a sentence around a short phrase, or a template.
    if (english && shape == Shape::phrase && (plural || takes_english_article(text)) && chance(rng, options.sentence))
        text = english_sentence_impl(text, plural, rng);
    else if (chance(rng, options.template_))
        text = english ? english_template(text, shape, plural, rng) : greek_template(text, rng);

    // 5. Letter case (English; see TextAugmentOptions::case_change).
    if (english && chance(rng, options.case_change)) text = change_case(std::move(text), rng);

    return trim(text).empty() ? caption : text;
}

}  // namespace opsis::train
