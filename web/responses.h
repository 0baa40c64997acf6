#pragma once
// What the API answers: JSON and byte responses, error responses in one shape
// ({"error": {"status", "message"}}), and the one place an exception becomes its status.
#include <exception>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "image/decode.h"
#include "web/http_server.h"

namespace opsis::web {

Response json_response(http::status status, const nlohmann::json& body, unsigned version);
Response bytes_response(const std::string& body, const std::string& type, unsigned version, const char* cache);
Response error_response(http::status status, const std::string& message, unsigned version, bool keep_alive);
const char* content_type_of(const std::string& path);
const char* image_mime(ImageFormat format);

// A browser asking for a page (GET or HEAD, Accept naming text/html, outside /api): an error
// is then shown as a page with the same message and a way back to search, not as JSON.
bool wants_page(const Request& req);
// The page for an error_response (its status and message).
Response error_page(const Response& json_error);

// Runs fn; an exception becomes the response it stands for: an ApiError its own status, an
// opsis::Error the status of its kind (400, 404, 409, 507; I/O and corruption 500), anything
// else 500. What is not the client's fault is logged, and the client told only that it happened.
Response answer_or_error(unsigned version, const std::function<Response()>& fn);

}  // namespace opsis::web
