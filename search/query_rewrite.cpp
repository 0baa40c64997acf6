#include "search/query_rewrite.h"

#include <cctype>
#include <optional>

#include "core/utf8.h"

namespace opsis::search {
namespace {

struct Token {
    std::string text;
    bool word = false;  // letters (and inner apostrophes) only: a candidate for rewriting
};

bool is_apostrophe(char32_t c) { return c == U'\'' || c == U'\u2019'; }

// Words (letter runs), and runs of anything else that is not a space: numbers, emoji, symbols.
// ASCII punctuation alone carries nothing a picture shows and is left out.
std::vector<Token> tokens_of(std::string_view text) {
    std::vector<Token> out;
    Token current;
    auto flush = [&] {
        while (current.word && !current.text.empty() && (current.text.back() == '\'')) current.text.pop_back();
        bool only_punctuation = !current.word;
        for (char c : current.text)
            only_punctuation = only_punctuation && c > 0 && std::ispunct(static_cast<unsigned char>(c));
        if (!current.text.empty() && !only_punctuation) out.push_back(current);
        current = {};
    };
    for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t start = pos;
        const char32_t c = utf8::next(text, pos);
        const std::string_view bytes = text.substr(start, pos - start);
        if (utf8::is_space(c)) {
            flush();
        } else if (utf8::is_letter(c) || (is_apostrophe(c) && current.word && !current.text.empty())) {
            if (!current.word) flush();
            current.word = true;
            if (is_apostrophe(c))
                current.text += '\'';
            else
                utf8::append(current.text, utf8::to_lower(c));
        } else {
            if (current.word) flush();
            current.text.append(bytes);
        }
    }
    flush();
    return out;
}

std::size_t letters_in(std::string_view word) {
    std::size_t n = 0;
    for (std::size_t pos = 0; pos < word.size(); ++n) utf8::next(word, pos);
    return n;
}

bool is_ascii(std::string_view word) {
    for (char c : word)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

// Two slips only in a long word: a six-letter word two edits from a known one is as likely
// another word, or none ("qwerty" is not "query").
int typos_allowed(std::size_t letters) { return letters <= 2 ? 0 : letters <= 6 ? 1 : 2; }

// How many times more often the base form of a known word must have been seen for the word
// to be brought to it ("trees", seen 14 times, to "tree", seen 505): the model learns a word
// from its captions, so the form it saw most is the one it knows best.
constexpr std::int64_t kBaseMoreFrequent = 3;

// A word brought to the form the model knows best: nullopt when nothing fits (or it is best
// as it is).
std::optional<WordChange> bring_to_known(const Lexicon& lex, const std::string& word) {
    if (const LexiconMapping* m = lex.mapping(word)) return WordChange{word, m->target, m->why};
    const std::int64_t seen = lex.count(word);
    if (is_ascii(word) && !lex.keep(word)) {
        for (const std::string& base : english_bases(word)) {
            if (lex.stop(base)) continue;  // "forest" is not "for" + "est"
            if (lex.count(base) > 0 && lex.count(base) >= kBaseMoreFrequent * seen)
                return WordChange{word, base, "inflection"};
            if (const LexiconMapping* m = lex.mapping(base); m != nullptr && seen == 0)
                return WordChange{word, m->target, m->why};
        }
    }
    if (seen > 0) return std::nullopt;
    if (std::optional<std::string> same = lex.same_but_accents(word)) return WordChange{word, *same, "accents"};
    if (lex.real(word)) return std::nullopt;
    if (is_ascii(word))
        for (const std::string& base : english_bases(word))
            if (lex.real(base)) return std::nullopt;
    if (std::optional<std::string> near = lex.nearest(word, typos_allowed(letters_in(word))))
        return WordChange{word, *near, "spelling"};
    return std::nullopt;
}

}  // namespace

std::vector<std::string> english_bases(const std::string& w) {
    std::vector<std::string> out;
    auto ends = [&](std::string_view s) { return w.size() > s.size() + 1 && w.ends_with(s); };
    auto stem = [&](std::size_t cut, std::string_view add = "") {
        out.push_back(w.substr(0, w.size() - cut) + std::string(add));
    };
    auto doubled = [&](std::size_t cut) {  // "running" -> "run", "stopped" -> "stop"
        const std::size_t n = w.size() - cut;
        if (n >= 3 && w[n - 1] == w[n - 2]) out.push_back(w.substr(0, n - 1));
    };
    if (ends("ies")) stem(3, "y");
    if (ends("ves")) {
        stem(3, "f");
        stem(3, "fe");
    }
    // "-es" only after a hiss or an "o" ("boxes", "dishes", "potatoes"); else it is "-e" + "-s"
    // ("tubes" -> "tube", never "tub").
    if (ends("es")) {
        const std::string_view before(w.data(), w.size() - 2);
        if (before.ends_with('s') || before.ends_with('x') || before.ends_with('z') || before.ends_with("ch") ||
            before.ends_with("sh") || before.ends_with('o'))
            stem(2);
    }
    if (ends("s") && !ends("ss")) stem(1);
    if (ends("men")) stem(3, "man");
    if (ends("ing")) {
        stem(3);
        doubled(3);
        stem(3, "e");
    }
    if (ends("ied")) stem(3, "y");
    if (ends("ed")) {
        stem(2);
        doubled(2);
        stem(1);
    }
    if (ends("iest")) stem(4, "y");
    if (ends("est")) stem(3);
    if (ends("ier")) stem(3, "y");
    if (ends("er")) stem(2);
    return out;
}

namespace {

// The lexicon's examples of the kind a text names, its last word also taken in its base forms
// ("sports" -> "sport": a plural the model knows stays as typed).
const std::vector<std::string>* examples_of(const Lexicon& lex, const std::string& text) {
    if (const std::vector<std::string>* examples = lex.examples(text)) return examples;
    const std::size_t space = text.rfind(' ');
    const std::size_t last = space == std::string::npos ? 0 : space + 1;
    for (const std::string& base : english_bases(text.substr(last)))
        if (const std::vector<std::string>* examples = lex.examples(text.substr(0, last) + base)) return examples;
    return nullptr;
}

}  // namespace

Rewrite rewrite_query(const Lexicon& lex, std::string_view text) {
    const std::vector<Token> tokens = tokens_of(text);
    std::vector<std::string> kept;
    std::string typed;  // the words but function words, as typed (lower-cased)
    std::vector<WordChange> changes;
    for (const Token& t : tokens) {
        if (!(t.word && lex.stop(t.text))) typed += (typed.empty() ? "" : " ") + t.text;
        if (t.word && lex.stop(t.text)) {
            changes.push_back({t.text, "", "function word"});
        } else if (!t.word || t.text.find('\'') != std::string::npos) {
            kept.push_back(t.text);
        } else if (std::optional<WordChange> c = bring_to_known(lex, t.text)) {
            // A corrected word may itself have a better-known base ("circels" -> "circles" -> "circle").
            if (c->why == "spelling" || c->why == "accents")
                if (std::optional<WordChange> base = bring_to_known(lex, c->to); base && base->why == "inflection")
                    c->to = base->to;
            kept.push_back(c->to);
            changes.push_back(std::move(*c));
        } else {
            kept.push_back(t.text);
        }
    }
    // Nothing but function words ("it", "the who"): the query is all there is to search for.
    if (kept.empty()) return {std::string(text), {}};
    Rewrite r;
    for (const std::string& k : kept) r.text += (r.text.empty() ? "" : " ") + k;
    // A kind named as typed, or as searched ("dwelling" is searched as "home", a kind of its own).
    const std::vector<std::string>* examples = examples_of(lex, typed);
    if (examples == nullptr) examples = examples_of(lex, r.text);
    if (examples != nullptr) r.examples = *examples;
    r.changes = std::move(changes);
    if (!r.changed()) r.text = std::string(text);
    return r;
}

}  // namespace opsis::search
