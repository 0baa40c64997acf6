#include "encoder/html_unescape.h"

#include <algorithm>
#include <utility>

#include "core/utf8.h"

namespace opsis {
namespace {

#include "encoder/clip/html_entities.inc"

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

const std::string_view* named(std::string_view name) {
    const auto* end = std::end(kNamedReferences);
    const auto* it = std::lower_bound(std::begin(kNamedReferences), end, name,
                                      [](const auto& entry, std::string_view n) { return entry.first < n; });
    return it != end && it->first == name ? &it->second : nullptr;
}

// A numeric reference's digits (after "&#" or "&#x") as Python reads them: any number of
// digits, values past U+10FFFF all alike.
std::string numeric(std::string_view digits, int base) {
    std::uint64_t n = 0;
    for (char c : digits) {
        const int d = is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
        n = std::min<std::uint64_t>(n * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d), 0x110000);
    }
    const auto cp = static_cast<char32_t>(n);
    for (const auto& [number, replacement] : kRemappedNumbers)
        if (number == cp) return std::string(replacement);
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return "\xEF\xBF\xBD";
    if (std::find(std::begin(kDroppedNumbers), std::end(kDroppedNumbers), cp) != std::end(kDroppedNumbers)) return "";
    std::string out;
    utf8::append(out, cp);
    return out;
}

}  // namespace

std::string html_unescape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t amp = text.find('&', pos);
        if (amp == std::string_view::npos) break;
        out.append(text.substr(pos, amp - pos));
        pos = amp + 1;
        // Python's pattern: &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
        if (pos < text.size() && text[pos] == '#') {
            const bool hex = pos + 1 < text.size() && (text[pos + 1] == 'x' || text[pos + 1] == 'X');
            std::size_t start = pos + (hex ? 2 : 1), end = start;
            while (end < text.size() && (hex ? is_hex(text[end]) : is_digit(text[end]))) ++end;
            if (end == start) {  // "&#" without digits: not a reference
                out += '&';
                continue;
            }
            out += numeric(text.substr(start, end - start), hex ? 16 : 10);
            pos = end < text.size() && text[end] == ';' ? end + 1 : end;
            continue;
        }
        std::size_t end = pos, chars = 0;
        while (end < text.size() && chars < 32) {
            const char c = text[end];
            if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';') break;
            std::size_t next = end;
            utf8::next(text, next);
            end = next;
            ++chars;
        }
        if (chars == 0) {
            out += '&';
            continue;
        }
        if (end < text.size() && text[end] == ';') ++end;
        const std::string_view name = text.substr(pos, end - pos);
        pos = end;
        if (const std::string_view* r = named(name)) {
            out += *r;
            continue;
        }
        // The longest name the standard knows at the start ("&notit;" -> "¬it;"), at least two
        // characters (the names are ASCII, so bytes are characters here).
        bool found = false;
        for (std::size_t x = name.size() - 1; x >= 2 && !found; --x)
            if (const std::string_view* r = named(name.substr(0, x))) {
                out += *r;
                out += name.substr(x);
                found = true;
            }
        if (!found) out += '&' + std::string(name);
    }
    out.append(text.substr(std::min(pos, text.size())));
    return out;
}

}  // namespace opsis
