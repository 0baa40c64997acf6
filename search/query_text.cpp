#include "search/query_text.h"

#include <charconv>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/utf8.h"

namespace opsis::search {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

constexpr std::string_view kMinusSign = "\xE2\x88\x92";  // U+2212

// The length of the operator at `pos` ('+', '-' or U+2212), or 0.
std::size_t operator_at(std::string_view s, std::size_t pos) {
    if (s[pos] == '+' || s[pos] == '-') return 1;
    return s.substr(pos, kMinusSign.size()) == kMinusSign ? kMinusSign.size() : 0;
}

struct Piece {
    int sign = 1;
    bool explicit_sign = false;  // a minus was written (a plus is the default)
    std::string_view text;
};

}  // namespace

std::vector<WeightedText> parse_query_text(std::string_view text, float negative_weight) {
    if (const auto bad = utf8::find_invalid(text))
        throw input_error("query", utf8::preview(text), "invalid UTF-8 at byte " + std::to_string(*bad));
    const std::string name = utf8::preview(text);
    std::string_view rest = trim(text);
    if (rest.empty()) return {};

    // Split at operators with white space on both sides (or the start of the text on the left).
    std::vector<Piece> pieces;
    Piece current;
    if (const std::size_t n = operator_at(rest, 0); n > 0 && rest[0] != '+') {
        current.sign = -1;  // "-people" or "- people"
        current.explicit_sign = true;
        rest = trim(rest.substr(n));
    }
    std::size_t start = 0;
    for (std::size_t i = 1; i < rest.size(); ++i) {
        if (!is_space(rest[i - 1])) continue;
        const std::size_t n = operator_at(rest, i);
        if (n == 0) continue;
        const bool spaced_after = i + n == rest.size() || is_space(rest[i + n]);
        if (!spaced_after) continue;
        current.text = trim(rest.substr(start, i - start));
        pieces.push_back(current);
        current = Piece{rest[i] == '+' ? 1 : -1, rest[i] != '+', {}};
        start = i + n;
    }
    current.text = trim(rest.substr(start));
    pieces.push_back(current);

    std::vector<WeightedText> terms;
    for (std::size_t p = 0; p < pieces.size(); ++p) {
        std::string_view t = pieces[p].text;
        if (t.empty())
            throw input_error("query", name,
                              p + 1 == pieces.size() ? "ends with an operator: put a term after it"
                                                     : "has an operator with no term after it");
        // An optional weight: digits, at most one '.', then '*' ("2*beach", "0.5 * beach").
        float factor = pieces[p].explicit_sign ? negative_weight : 1.0f;
        const std::size_t star = t.find('*');
        if (star != std::string_view::npos) {
            const std::string_view number = trim(t.substr(0, star));
            const bool numeric = !number.empty() && number.find_first_not_of("0123456789.") == std::string_view::npos;
            if (numeric) {
                float value = 0;
                const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
                if (ec != std::errc() || end != number.data() + number.size() || !std::isfinite(value))
                    throw input_error("query", name, "weight '" + std::string(number) + "' is not a decimal number");
                factor = value;
                t = trim(t.substr(star + 1));
                if (t.empty())
                    throw input_error("query", name, "weight " + std::string(number) + "* has no term after it");
            }
        }
        terms.push_back({std::string(t), static_cast<float>(pieces[p].sign) * factor});
    }
    return terms;
}

}  // namespace opsis::search
