#include "web/responses.h"

#include <cstdio>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/html_escape.h"
#include "core/json_text.h"
#include "web/request_parsing.h"

namespace opsis::web {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// What a client learns of a failure that is not its fault: that it happened. The detail (which
// may name server paths or quote files) goes to the server's log.
Response internal_error(const std::exception& e, unsigned version) {
    std::fprintf(stderr, "opsis serve: internal error: %s\n", e.what());
    return error_response(http::status::internal_server_error, "internal error (the server's log has the details)",
                          version, false);
}

}  // namespace

Response json_response(http::status status, const json& body, unsigned version) {
    Response res{status, version};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.body() = json_text(body);
    return res;
}

Response bytes_response(const std::string& body, const std::string& type, unsigned version, const char* cache) {
    Response res{http::status::ok, version};
    res.set(http::field::content_type, type);
    res.set(http::field::cache_control, cache);
    res.set("X-Content-Type-Options", "nosniff");
    res.body() = body;
    return res;
}

const char* content_type_of(const std::string& path) {
    static const std::map<std::string, const char*> types{{".html", "text/html; charset=utf-8"},
                                                          {".js", "text/javascript; charset=utf-8"},
                                                          {".css", "text/css; charset=utf-8"},
                                                          {".svg", "image/svg+xml"},
                                                          {".png", "image/png"},
                                                          {".ico", "image/x-icon"},
                                                          {".json", "application/json"},
                                                          {".txt", "text/plain; charset=utf-8"}};
    const auto it = types.find(fs::path(path).extension().string());
    return it == types.end() ? "application/octet-stream" : it->second;
}

const char* image_mime(ImageFormat f) {
    switch (f) {
        case ImageFormat::jpeg: return "image/jpeg";
        case ImageFormat::png: return "image/png";
        case ImageFormat::gif: return "image/gif";
        case ImageFormat::bmp: return "image/bmp";
        case ImageFormat::tga: return "image/x-tga";
        case ImageFormat::webp: return "image/webp";
        case ImageFormat::heif: return "image/heic";
        case ImageFormat::avif: return "image/avif";
        default: return "application/octet-stream";
    }
}

Response error_response(http::status status, const std::string& message, unsigned version, bool keep_alive) {
    Response res =
        json_response(status, json{{"error", {{"status", static_cast<int>(status)}, {"message", message}}}}, version);
    res.keep_alive(keep_alive);
    return res;
}

bool wants_page(const Request& req) {
    if (req.method() != http::verb::get && req.method() != http::verb::head) return false;
    const std::string_view target(req.target().data(), req.target().size());
    if (target.starts_with("/api/") || target == "/api" || target.starts_with("/api?")) return false;
    const auto accept = req.find(http::field::accept);
    return accept != req.end() &&
           std::string_view(accept->value().data(), accept->value().size()).find("text/html") != std::string_view::npos;
}

Response error_page(const Response& json_error) {
    std::string message = "something went wrong";
    try {
        message = json::parse(json_error.body()).at("error").at("message").get<std::string>();
    } catch (const std::exception&) {  // not one of error_response's bodies: the status says enough
    }
    const std::string status = std::to_string(json_error.result_int()) + " " + std::string(json_error.reason());
    Response res = bytes_response("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                                  "<title>Opsis — " + html_escape(status) + "</title>"
                                  "<link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body><main><h1>" +
                                      html_escape(status) + "</h1>\n<p>" + html_escape(message) +
                                      "</p>\n<p><a href=\"/\">Back to search</a></p></main></body></html>\n",
                                  "text/html; charset=utf-8", json_error.version(), "no-store");
    res.result(json_error.result());
    res.keep_alive(json_error.keep_alive());
    return res;
}

Response answer_or_error(unsigned version, const std::function<Response()>& fn) {
    try {
        return fn();
    } catch (const ApiError& e) {
        return error_response(e.status, e.message, version, true);
    } catch (const Error& e) {
        switch (e.kind()) {  // the one place an error's kind becomes a status
            case Error::Kind::invalid_input: return error_response(http::status::bad_request, e.what(), version, true);
            case Error::Kind::not_found: return error_response(http::status::not_found, e.what(), version, true);
            case Error::Kind::busy: return error_response(http::status::conflict, e.what(), version, true);
            case Error::Kind::no_space:  // the detail names the server's files: it goes to the log
                std::fprintf(stderr, "opsis serve: %s\n", e.what());
                return error_response(
                    http::status::insufficient_storage,
                    "the server's disk is full: nothing was written (searches go on; the server's log has the details)",
                    version, true);
            case Error::Kind::io:
            case Error::Kind::corruption: return internal_error(e, version);
        }
        return internal_error(e, version);
    } catch (const std::exception& e) {
        return internal_error(e, version);
    }
}

}  // namespace opsis::web
