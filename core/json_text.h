#pragma once
// JSON written out for people and programs. Strings that are not UTF-8 (a file name is bytes)
// are shown with U+FFFD where the bytes were, instead of stopping the output.
#include <nlohmann/json.hpp>
#include <string>

namespace opsis {

template <class Json>
std::string json_text(const Json& j, int indent = -1) {
    return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace opsis
