#pragma once
// Strict access to a request's JSON fields: a wrong type or an unknown field is a 400 naming it
// (`where` is the field's place, "search" or "search.texts[]").
#include <cstddef>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace opsis::web {

void check_fields(const nlohmann::json& j, const std::set<std::string>& known, const std::string& where);
float number_field(const nlohmann::json& j, const char* key, float fallback, const std::string& where);
std::size_t count_field(const nlohmann::json& j, const char* key, std::size_t fallback, const std::string& where);
// A string, or a list of strings.
std::vector<std::string> string_list(const nlohmann::json& j, const char* key, const std::string& where);

}  // namespace opsis::web
