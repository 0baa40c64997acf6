#pragma once
// Reading an HTTP request for the API: the target's path and query parameters, ids, counts and
// collections, a JSON object body, base64 pictures, multipart forms and uploads. Whatever
// cannot be read is rejected with an ApiError that says why.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/catalog.h"
#include "web/http_server.h"

namespace opsis::web {

// A request the API rejects, with its status.
struct ApiError {
    http::status status;
    std::string message;
};
[[noreturn]] void reject(http::status s, std::string message);

// The path (percent-decoded) and the query parameters; parameters that are not UTF-8 after
// decoding are refused, before any route acts on them.
struct Target {
    std::string path;
    std::map<std::string, std::string> query;
};
Target parse_target(const Request& req);

std::int64_t parse_id(const std::string& text);
std::size_t parse_count(const std::map<std::string, std::string>& q, const char* key, std::size_t fallback);
// A form or query field that must say true or false; nullopt when absent.
std::optional<bool> parse_flag(const std::map<std::string, std::string>& q, const char* key);
storage::Collection parse_collection_param(const std::string& name);
// The bytes of a base64 picture (a data: URL is fine), at most `limit` of them.
std::vector<unsigned char> base64_bytes(const std::string& text, const std::string& field, std::uint64_t limit);
// The request body as a JSON object; anything else is a 400 that says why.
nlohmann::json json_object_body(const Request& req);
bool iequals(std::string_view a, std::string_view b);

// An uploaded image: the raw body, or the `image` (or `file`) part of a multipart form, whose
// other fields join the query parameters in `fields`.
struct Upload {
    std::string bytes, filename = "upload";
    std::map<std::string, std::string> fields;
};
Upload read_upload(const Request& req, std::map<std::string, std::string> query);

}  // namespace opsis::web
