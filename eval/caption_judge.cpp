#include "eval/caption_judge.h"

#include <optional>

#include "core/utf8.h"

namespace opsis::eval {

std::vector<std::string> judge_words(std::string_view text) {
    std::vector<std::string> words;
    // Invalid UTF-8 (never in a caption read from JSON, but possible in a catalog written by
    // other means): the bad byte separates words.
    if (const std::optional<std::size_t> bad = utf8::find_invalid(text)) {
        words = judge_words(text.substr(0, *bad));
        for (std::string& w : judge_words(text.substr(*bad + 1))) words.push_back(std::move(w));
        return words;
    }
    std::string word;
    for (std::size_t pos = 0; pos < text.size();) {
        const char32_t cp = utf8::next(text, pos);
        if (utf8::is_letter(cp) || utf8::is_number(cp)) {
            utf8::append(word, utf8::to_lower(cp));
        } else if (!word.empty()) {
            words.push_back(std::move(word));
            word.clear();
        }
    }
    if (!word.empty()) words.push_back(std::move(word));
    return words;
}

bool word_matches(std::string_view t, std::string_view c) {
    if (c == t) return true;
    if (t.empty() || c.size() <= t.size()) return false;
    auto ends = [&](std::string_view s) { return t.size() >= s.size() && t.substr(t.size() - s.size()) == s; };
    if (c.substr(0, t.size()) == t) {
        const std::string_view suffix = c.substr(t.size());
        if (suffix == "s") return true;
        if (suffix == "es") return ends("s") || ends("x") || ends("z") || ends("ch") || ends("sh") || ends("o");
    }
    const auto is_vowel = [](char ch) { return std::string_view("aeiou").find(ch) != std::string_view::npos; };
    if (ends("y") && t.size() >= 2 && !is_vowel(t[t.size() - 2]))
        return c.size() == t.size() + 2 && c.substr(0, t.size() - 1) == t.substr(0, t.size() - 1) &&
               c.substr(t.size() - 1) == "ies";
    if (ends("fe"))
        return c.size() == t.size() + 1 && c.substr(0, t.size() - 2) == t.substr(0, t.size() - 2) &&
               c.substr(t.size() - 2) == "ves";
    if (ends("f"))
        return c.size() == t.size() + 2 && c.substr(0, t.size() - 1) == t.substr(0, t.size() - 1) &&
               c.substr(t.size() - 1) == "ves";
    return false;
}

bool is_english_caption(std::string_view caption) {
    if (utf8::find_invalid(caption)) return false;
    const utf8::LetterCount c = utf8::count_letters(caption);
    return c.letters > 0 && c.greek < c.letters - c.greek;
}

namespace {

bool contains(const Words& caption, const Words& term) {
    if (term.empty() || term.size() > caption.size()) return false;
    for (std::size_t i = 0; i + term.size() <= caption.size(); ++i) {
        std::size_t j = 0;
        while (j < term.size() && word_matches(term[j], caption[i + j])) ++j;
        if (j == term.size()) return true;
    }
    return false;
}

}  // namespace

bool contains_any(const std::vector<Words>& captions, const std::vector<Words>& terms) {
    for (const Words& c : captions)
        for (const Words& t : terms)
            if (contains(c, t)) return true;
    return false;
}

// The English captions of an item, as words.
std::vector<Words> english_words(const std::vector<std::string>& captions) {
    std::vector<Words> out;
    for (const std::string& c : captions)
        if (is_english_caption(c)) out.push_back(judge_words(c));
    return out;
}

std::vector<Words> terms_words(const std::vector<std::string>& terms) {
    std::vector<Words> out;
    for (const std::string& t : terms) out.push_back(judge_words(t));
    return out;
}

bool relevant_words(const std::vector<Words>& captions, const std::vector<Words>& relevant,
                    const std::vector<Words>& not_terms) {
    return contains_any(captions, relevant) && !contains_any(captions, not_terms);
}

bool is_relevant(const std::vector<std::string>& captions, const std::vector<std::string>& relevant,
                 const std::vector<std::string>& not_terms) {
    return relevant_words(english_words(captions), terms_words(relevant), terms_words(not_terms));
}

}  // namespace opsis::eval
