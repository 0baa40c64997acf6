#include "core/utf8.h"

#include <clocale>
#include <cwctype>
#include <locale.h>
#include <wctype.h>

namespace opsis::utf8 {
namespace {

// glibc >= 2.35 builds C.UTF-8 in, so this never depends on installed locales.
locale_t unicode_locale() {
    static const locale_t loc = [] {
        locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
        return l ? l : newlocale(LC_CTYPE_MASK, "C", static_cast<locale_t>(nullptr));
    }();
    return loc;
}

int sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

}  // namespace

std::optional<std::size_t> find_invalid(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        const int len = sequence_length(lead);
        if (len == 0 || i + static_cast<std::size_t>(len) > text.size()) return i;
        for (int k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return i;
        if (len >= 3) {
            const auto second = static_cast<unsigned char>(text[i + 1]);
            if (lead == 0xE0 && second < 0xA0) return i;  // overlong
            if (lead == 0xED && second > 0x9F) return i;  // surrogate
            if (lead == 0xF0 && second < 0x90) return i;  // overlong
            if (lead == 0xF4 && second > 0x8F) return i;  // above U+10FFFF
        }
        i += static_cast<std::size_t>(len);
    }
    return std::nullopt;
}

char32_t next(std::string_view text, std::size_t& pos) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    const int len = sequence_length(lead);
    char32_t cp;
    switch (len) {
        case 1: cp = lead; break;
        case 2: cp = lead & 0x1F; break;
        case 3: cp = lead & 0x0F; break;
        default: cp = lead & 0x07; break;
    }
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[pos + k]) & 0x3F);
    pos += static_cast<std::size_t>(len < 1 ? 1 : len);
    return cp;
}

void append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

char32_t to_lower(char32_t cp) { return static_cast<char32_t>(towlower_l(static_cast<wint_t>(cp), unicode_locale())); }
bool is_letter(char32_t cp) { return iswalpha_l(static_cast<wint_t>(cp), unicode_locale()) && !is_number(cp); }
bool is_number(char32_t cp) {
    return iswdigit_l(static_cast<wint_t>(cp), unicode_locale()) || (cp >= 0x660 && cp <= 0x669);
}
bool is_space(char32_t cp) { return iswspace_l(static_cast<wint_t>(cp), unicode_locale()) || cp == 0xA0; }

bool is_greek(char32_t cp) { return (cp >= 0x370 && cp <= 0x3FF) || (cp >= 0x1F00 && cp <= 0x1FFF); }

LetterCount count_letters(std::string_view text) {
    LetterCount c;
    for (std::size_t pos = 0; pos < text.size();) {
        const char32_t cp = next(text, pos);
        if (!is_letter(cp)) continue;
        ++c.letters;
        if (is_greek(cp)) ++c.greek;
    }
    return c;
}

std::string preview(std::string_view text, std::size_t max_chars) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    std::size_t shown = 0, i = 0;
    for (; i < text.size() && shown < max_chars; ++shown) {
        const auto c = static_cast<unsigned char>(text[i]);
        const int len = sequence_length(c);
        const bool valid = len > 0 && !find_invalid(text.substr(i, static_cast<std::size_t>(len)));
        if (valid && c >= 0x20 && c != 0x7F) {
            out.append(text.substr(i, static_cast<std::size_t>(len)));
            i += static_cast<std::size_t>(len);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
            ++i;
        }
    }
    if (i < text.size()) out += "...";
    return out;
}

}  // namespace opsis::utf8
