#pragma once
// The lines of a text file's contents, as the readers of line formats walk them (manifests,
// merges, lexicons): fn(line, number) for each '\n'-separated line, numbered from 1, without
// its newline (a final line without one included).
#include <cstddef>
#include <string_view>

namespace opsis {

template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
    std::size_t number = 0;
    for (std::size_t pos = 0; pos < text.size();) {
        std::size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        fn(text.substr(pos, eol - pos), ++number);
        pos = eol + 1;
    }
}

}  // namespace opsis
