#pragma once
// What the API answers: JSON and byte responses, error responses in one shape
// ({"error": {"status", "message"}}), and the one place an exception becomes its status.
#include <exception>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "image/decode.h"
#include "web/http_server.h"

namespace opsis::web {

Response json_response(http::status status, const nlohmann::json& body, unsigned version);
Response bytes_response(const std::string& body, const std::string& type, unsigned version, const char* cache);
Response error_response(http::status status, const std::string& message, unsigned version, bool keep_alive);
const char* content_type_of(const std::string& path);
const char* image_mime(ImageFormat format);

// Whether a request target ("/api/search?q=x") or path is the JSON API's: "/api" or under it.
bool is_api_path(std::string_view target);

// How an error is shown: JSON ({"error": {"status", "message"}}), or, to a browser asking for a
// page (GET or HEAD, Accept naming text/html, outside /api), a page with the same status and
// message and a way back to search.
enum class ErrorShape { json, page };
ErrorShape error_shape(const Request& req);

// Runs fn; an exception becomes the response it stands for, in `shape`: an ApiError its own
// status, an opsis::Error the status of its kind (400, 404, 409, 507; I/O and corruption 500),
// anything else 500. What is not the client's fault is logged, and the client told only that it
// happened.
Response answer_or_error(unsigned version, const std::function<Response()>& fn, ErrorShape shape = ErrorShape::json);

}  // namespace opsis::web
