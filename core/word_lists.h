#pragma once
// Membership of a word in a short fixed list, and of a prefix: how the caption rules
// (train/text_augment, train/image_augment) read their word lists.
#include <algorithm>
#include <initializer_list>
#include <string_view>

namespace opsis {

inline bool is_one_of(std::string_view word, std::initializer_list<std::string_view> words) {
    return std::find(words.begin(), words.end(), word) != words.end();
}

inline bool starts_with_any(std::string_view word, std::initializer_list<std::string_view> prefixes) {
    return std::any_of(prefixes.begin(), prefixes.end(), [&](std::string_view p) { return word.starts_with(p); });
}

}  // namespace opsis
