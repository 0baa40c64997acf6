#include "web/responses.h"

#include <cstdio>
#include <exception>
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

bool is_api_path(std::string_view target) {
    const std::string_view path = target.substr(0, target.find('?'));
    return path == "/api" || path.starts_with("/api/");
}

ErrorShape error_shape(const Request& req) {
    if (req.method() != http::verb::get && req.method() != http::verb::head) return ErrorShape::json;
    if (is_api_path(std::string_view(req.target().data(), req.target().size()))) return ErrorShape::json;
    const auto accept = req.find(http::field::accept);
    const bool html = accept != req.end() && std::string_view(accept->value().data(), accept->value().size())
                                                     .find("text/html") != std::string_view::npos;
    return html ? ErrorShape::page : ErrorShape::json;
}

namespace {

Response error_page(http::status status, const std::string& message, unsigned version, bool keep_alive) {
    const std::string title = std::to_string(static_cast<int>(status)) + " " + std::string(http::obsolete_reason(status));
    Response res = bytes_response("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                                  "<title>Opsis — " + html_escape(title) + "</title>"
                                  "<link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body><main><h1>" +
                                      html_escape(title) + "</h1>\n<p>" + html_escape(message) +
                                      "</p>\n<p><a href=\"/\">Back to search</a></p></main></body></html>\n",
                                  "text/html; charset=utf-8", version, "no-store");
    res.result(status);
    res.keep_alive(keep_alive);
    return res;
}

// A failure as the client is told of it.
struct Failure {
    http::status status = http::status::internal_server_error;
    std::string message;
    bool keep_alive = true;
};

// What is not the client's fault is only said to have happened; the detail (which may name
// server paths or quote files) goes to the server's log.
Failure internal_failure(const std::exception& e) {
    std::fprintf(stderr, "opsis serve: internal error: %s\n", e.what());
    return {http::status::internal_server_error, "internal error (the server's log has the details)", false};
}

Failure failure_of(const std::exception_ptr& thrown) {
    try {
        std::rethrow_exception(thrown);
    } catch (const ApiError& e) {
        return {e.status, e.message};
    } catch (const Error& e) {
        switch (e.kind()) {  // the one place an error's kind becomes a status
            case Error::Kind::invalid_input: return {http::status::bad_request, e.what()};
            case Error::Kind::not_found: return {http::status::not_found, e.what()};
            case Error::Kind::busy: return {http::status::conflict, e.what()};
            case Error::Kind::no_space:  // the detail names the server's files: it goes to the log
                std::fprintf(stderr, "opsis serve: %s\n", e.what());
                return {http::status::insufficient_storage,
                        "the server's disk is full: nothing was written (searches go on; the server's log has the "
                        "details)"};
            case Error::Kind::io:
            case Error::Kind::corruption: return internal_failure(e);
        }
        return internal_failure(e);
    } catch (const std::exception& e) {
        return internal_failure(e);
    }
}

}  // namespace

Response answer_or_error(unsigned version, const std::function<Response()>& fn, ErrorShape shape) {
    Failure f;
    try {
        return fn();
    } catch (...) {
        f = failure_of(std::current_exception());
    }
    return shape == ErrorShape::page ? error_page(f.status, f.message, version, f.keep_alive)
                                     : error_response(f.status, f.message, version, f.keep_alive);
}

}  // namespace opsis::web
