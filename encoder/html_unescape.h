#pragma once
// HTML character references replaced as Python's html.unescape does it ("&amp;" -> "&",
// "&#x1F600;" -> the emoji, "&ampx" -> "&x", "&#0;" -> U+FFFD), which CLIP's tokenizer applies
// twice to every text before it splits it; imported CLIP models must see the same text.
#include <string>
#include <string_view>

namespace opsis {

// `text` must be valid UTF-8.
std::string html_unescape(std::string_view text);

}  // namespace opsis
