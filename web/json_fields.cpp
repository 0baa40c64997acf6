#include "web/json_fields.h"

#include "web/request_parsing.h"

namespace opsis::web {

using json = nlohmann::json;

void check_fields(const json& j, const std::set<std::string>& known, const std::string& where) {
    for (const auto& [key, value] : j.items())
        if (!known.count(key)) {
            std::string list;
            for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
            reject(http::status::bad_request, where + ": unknown field '" + key + "' (known: " + list + ")");
        }
}

float number_field(const json& j, const char* key, float fallback, const std::string& where) {
    if (!j.contains(key)) return fallback;
    if (!j.at(key).is_number()) reject(http::status::bad_request, where + "." + key + " must be a number");
    return j.at(key).get<float>();
}

std::size_t count_field(const json& j, const char* key, std::size_t fallback, const std::string& where) {
    if (!j.contains(key)) return fallback;
    const json& v = j.at(key);
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
        reject(http::status::bad_request, where + "." + key + " must be a non-negative integer");
    return v.get<std::size_t>();
}

std::vector<std::string> string_list(const json& j, const char* key, const std::string& where) {
    if (!j.contains(key)) return {};
    const json& v = j.at(key);
    if (v.is_string()) return {v.get<std::string>()};
    if (!v.is_array()) reject(http::status::bad_request, where + "." + key + " must be a string or a list of strings");
    std::vector<std::string> out;
    for (const json& s : v) {
        if (!s.is_string()) reject(http::status::bad_request, where + "." + key + " must contain only strings");
        out.push_back(s.get<std::string>());
    }
    return out;
}

}  // namespace opsis::web
