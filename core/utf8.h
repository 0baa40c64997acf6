#pragma once
// UTF-8 validation and code-point iteration, plus Unicode-aware lower-casing and character
// classes (from glibc's C.UTF-8 locale, which covers Greek and the rest of Unicode).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace opsis::utf8 {

// Byte offset of the first invalid sequence (overlong, surrogate, > U+10FFFF, truncated),
// or nullopt when the text is valid UTF-8.
std::optional<std::size_t> find_invalid(std::string_view text);

// Decodes the code point at text[pos] (which must be valid) and advances pos.
char32_t next(std::string_view text, std::size_t& pos);
void append(std::string& out, char32_t cp);

char32_t to_lower(char32_t cp);
bool is_letter(char32_t cp);
bool is_number(char32_t cp);
bool is_space(char32_t cp);
bool is_greek(char32_t cp);  // Greek and Coptic, Greek Extended

// A text's letters, and how many of them are Greek: which language a caption or label is in.
// `text` must be valid UTF-8.
struct LetterCount {
    std::size_t letters = 0, greek = 0;
};
LetterCount count_letters(std::string_view text);

// A short, printable preview of a text for error messages (invalid bytes shown as \xNN).
std::string preview(std::string_view text, std::size_t max_chars = 40);
// The whole text, printable the same way (for messages that must name, say, a file name that
// is not UTF-8, as it is).
inline std::string escaped(std::string_view text) { return preview(text, text.size()); }

}  // namespace opsis::utf8
