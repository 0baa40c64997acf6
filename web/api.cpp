#include "web/api.h"

#include <boost/beast/core/detail/base64.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "core/json_text.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "core/utf8.h"
#include "encoder/blas.h"
#include "encoder/image_encode.h"
#include "encoder/image_preprocess.h"
#include "indexer/inputs.h"
#include "indexer/job_summary_json.h"
#include "search/query_text.h"
#include "search/result_json.h"

namespace opsis::web {
namespace {

using json = nlohmann::json;
namespace beast = boost::beast;
using storage::Collection;
namespace fs = std::filesystem;

// The text tower's throughput per text stops growing near a batch of 64.
constexpr std::size_t kMaxSearchBatch = 64;

// A request the API rejects, with its status.
struct ApiError {
    http::status status;
    std::string message;
};
[[noreturn]] void reject(http::status s, std::string message) { throw ApiError{s, std::move(message)}; }

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

std::string url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') out += ' ';
        else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else out += s[i];
    }
    return out;
}

struct Target {
    std::string path;
    std::map<std::string, std::string> query;
};

Target parse_target(const Request& req) {
    const std::string_view target(req.target().data(), req.target().size());
    Target t;
    const std::size_t q = target.find('?');
    t.path = url_decode(target.substr(0, q));
    if (q == std::string_view::npos) return t;
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        const std::size_t amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        const std::size_t eq = pair.find('=');
        std::string key = url_decode(pair.substr(0, eq)), value = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
        // Query parameters become sources, tags and texts that the catalog keeps as text:
        // bytes that are not UTF-8 are refused here, before any route acts on them.
        for (const std::string* s : {&key, &value})
            if (const auto bad = utf8::find_invalid(*s))
                reject(http::status::bad_request, "query parameter '" + utf8::preview(key) + "' is not valid UTF-8 (byte " +
                                                      std::to_string(*bad) + " after decoding)");
        t.query[std::move(key)] = std::move(value);
        if (amp == std::string_view::npos) break;
        rest = rest.substr(amp + 1);
    }
    return t;
}

std::int64_t parse_id(const std::string& text) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v <= 0) reject(http::status::bad_request, "item id '" + text + "' is not a positive integer");
    return v;
}

std::size_t parse_count(const std::map<std::string, std::string>& q, const char* key, std::size_t fallback) {
    const auto it = q.find(key);
    if (it == q.end() || it->second.empty()) return fallback;
    std::size_t v = 0;
    const auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || end != it->second.data() + it->second.size())
        reject(http::status::bad_request, std::string("query parameter '") + key + "' must be a non-negative integer, got '" + it->second + "'");
    return v;
}

Collection parse_collection_param(const std::string& name) {
    if (name.empty() || name == "images") return Collection::images;
    if (name == "texts") return Collection::texts;
    reject(http::status::bad_request, "collection '" + name + "' is unknown (use 'images' or 'texts')");
}

std::vector<unsigned char> base64_bytes(const std::string& text, const std::string& field, std::uint64_t limit) {
    std::string_view s = text;
    if (s.rfind("data:", 0) == 0) {  // a data: URL as browsers make them
        const std::size_t comma = s.find(',');
        if (comma == std::string_view::npos) reject(http::status::bad_request, field + ": malformed data URL");
        s = s.substr(comma + 1);
    }
    namespace b64 = boost::beast::detail::base64;
    std::vector<unsigned char> out(b64::decoded_size(s.size()));
    const auto [written, read] = b64::decode(out.data(), s.data(), s.size());
    std::size_t rest = read;
    while (rest < s.size() && (s[rest] == '=' || std::isspace(static_cast<unsigned char>(s[rest])))) ++rest;
    if (rest != s.size()) reject(http::status::bad_request, field + ": not valid base64 (at character " + std::to_string(read) + ")");
    out.resize(written);
    if (out.empty()) reject(http::status::bad_request, field + ": empty image");
    if (out.size() > limit) reject(http::status::payload_too_large, field + ": image of " + std::to_string(out.size()) + " bytes exceeds the limit of " + std::to_string(limit));
    return out;
}

// The request body as a JSON object; anything else is a 400 that says why.
json json_object_body(const Request& req) {
    json j;
    try {
        j = json::parse(req.body());
    } catch (const json::parse_error& e) {
        reject(http::status::bad_request, std::string("malformed JSON: ") + e.what());
    }
    if (!j.is_object()) reject(http::status::bad_request, "the request body must be a JSON object");
    return j;
}

// ---- strict JSON field access: wrong types and unknown fields are named -------------------

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
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0) reject(http::status::bad_request, where + "." + key + " must be a non-negative integer");
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

const char* content_type_of(const std::string& path) {
    static const std::map<std::string, const char*> types{
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"}, {".json", "application/json"},
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
        default: return "application/octet-stream";
    }
}

bool iequals(std::string_view a, std::string_view b) {
    return beast::iequals(beast::string_view(a.data(), a.size()), beast::string_view(b.data(), b.size()));
}

// A parameter of a header value such as `form-data; name="image"; filename="a.png"` or
// `multipart/form-data; boundary=x`: names compare without case, values may be quoted.
std::string header_parameter(std::string_view value, std::string_view name) {
    std::size_t pos = value.find(';');
    while (pos != std::string_view::npos) {
        std::size_t start = pos + 1;
        while (start < value.size() && (value[start] == ' ' || value[start] == '\t')) ++start;
        const std::size_t eq = value.find('=', start);
        if (eq == std::string_view::npos) return "";
        std::string_view v = value.substr(eq + 1);
        std::size_t next;
        if (v.starts_with('"')) {
            const std::size_t close = v.find('"', 1);
            next = close == std::string_view::npos ? std::string_view::npos : value.find(';', eq + 1 + close);
            v = v.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
        } else {
            next = value.find(';', eq + 1);
            v = v.substr(0, next == std::string_view::npos ? std::string_view::npos : next - eq - 1);
            while (v.ends_with(' ') || v.ends_with('\t')) v.remove_suffix(1);
        }
        if (iequals(value.substr(start, eq - start), name)) return std::string(v);
        pos = next;
    }
    return "";
}

// The parts of a multipart/form-data body: name -> (filename, bytes).
std::map<std::string, std::pair<std::string, std::string>> parse_multipart(const Request& req) {
    const std::string boundary = header_parameter(std::string(req[http::field::content_type]), "boundary");
    if (boundary.empty()) reject(http::status::bad_request, "multipart body without a boundary");
    const std::string delimiter = "--" + boundary;
    const std::string& body = req.body();
    std::map<std::string, std::pair<std::string, std::string>> parts;
    std::size_t pos = body.find(delimiter);
    if (pos == std::string::npos) reject(http::status::bad_request, "multipart body does not contain its boundary");
    while (true) {
        pos += delimiter.size();
        if (body.compare(pos, 2, "--") == 0) break;  // the closing delimiter
        if (body.compare(pos, 2, "\r\n") != 0) reject(http::status::bad_request, "malformed multipart body");
        pos += 2;
        const std::size_t headers_end = body.find("\r\n\r\n", pos);
        if (headers_end == std::string::npos) reject(http::status::bad_request, "malformed multipart part headers");
        const std::string headers = body.substr(pos, headers_end - pos);
        const std::size_t next = body.find("\r\n" + delimiter, headers_end + 4);
        if (next == std::string::npos) reject(http::status::bad_request, "multipart body ends inside a part");
        // The part's Content-Disposition line (header names compare without case).
        std::string disposition;
        for (std::size_t line = 0; line < headers.size();) {
            const std::size_t end = std::min(headers.find("\r\n", line), headers.size());
            const std::string_view h = std::string_view(headers).substr(line, end - line);
            if (iequals(h.substr(0, 20), "content-disposition:")) disposition = std::string(h.substr(20));
            line = end + 2;
        }
        parts[header_parameter(disposition, "name")] = {header_parameter(disposition, "filename"),
                                                       body.substr(headers_end + 4, next - headers_end - 4)};
        pos = next + 2;
    }
    return parts;
}

// An uploaded image: the raw body, or the `image` (or `file`) part of a multipart form, whose
// other fields join the query parameters in `fields`.
struct Upload {
    std::string bytes, filename = "upload";
    std::map<std::string, std::string> fields;
};

Upload read_upload(const Request& req, std::map<std::string, std::string> query) {
    Upload u;
    u.fields = std::move(query);
    if (const beast::string_view type = req[http::field::content_type]; beast::iequals(type.substr(0, 19), "multipart/form-data")) {
        auto parts = parse_multipart(req);
        bool found = false;
        for (const char* key : {"image", "file"})
            if (auto it = parts.find(key); it != parts.end()) {
                found = true;
                if (!it->second.first.empty()) u.filename = it->second.first;
                u.bytes = std::move(it->second.second);
            }
        for (const auto& [name, part] : parts) {
            if (!part.first.empty() || name == "image" || name == "file") continue;
            if (const auto bad = utf8::find_invalid(part.second))
                reject(http::status::bad_request, "multipart field '" + utf8::preview(name) + "' is not valid UTF-8 (byte " +
                                                      std::to_string(*bad) + ")");
            u.fields[name] = part.second;
        }
        if (!found) reject(http::status::bad_request, "multipart upload has no 'image' (or 'file') part");
    } else {
        u.bytes = req.body();
    }
    if (u.bytes.empty()) reject(http::status::bad_request, "empty image upload");
    return u;
}

}  // namespace

Api::Api(storage::IndexStore& store, const DualEncoder& model, ApiOptions options)
    : store_(store),
      model_(model),
      options_(std::move(options)),
      searcher_(store, model, options_.limits),
      inference_(options_.inference_workers > 0 ? options_.inference_workers
                                                : std::max(1, static_cast<int>(std::thread::hardware_concurrency())),
                 [] { blas::set_thread_local_single(); }),
      searches_(inference_, kMaxSearchBatch, [this](const std::vector<search::Query>& queries) { return searcher_.search_batch(queries); }) {}

Api::~Api() {
    job_cancel_ = true;  // a running job stops after committing what it has in flight
    if (job_thread_.joinable()) job_thread_.join();
}

Response Api::error(http::status status, const std::string& message, unsigned version, bool keep_alive) {
    Response res = json_response(status, json{{"error", {{"status", static_cast<int>(status)}, {"message", message}}}}, version);
    res.keep_alive(keep_alive);
    return res;
}

namespace {

// What a client learns of a failure that is not its fault: that it happened. The detail (which
// may name server paths or quote files) goes to the server's log.
Response internal_error(const std::exception& e, unsigned version) {
    std::fprintf(stderr, "opsis serve: internal error: %s\n", e.what());
    return Api::error(http::status::internal_server_error, "internal error (the server's log has the details)", version, false);
}

// Runs fn; an exception becomes the error response it stands for.
Response answer_or_error(unsigned version, const std::function<Response()>& fn) {
    try {
        return fn();
    } catch (const ApiError& e) {
        return Api::error(e.status, e.message, version, true);
    } catch (const Error& e) {
        switch (e.kind()) {  // the one place an error's kind becomes a status
            case Error::Kind::invalid_input: return Api::error(http::status::bad_request, e.what(), version, true);
            case Error::Kind::not_found: return Api::error(http::status::not_found, e.what(), version, true);
            case Error::Kind::busy: return Api::error(http::status::conflict, e.what(), version, true);
            case Error::Kind::no_space:  // the detail names the server's files: it goes to the log
                std::fprintf(stderr, "opsis serve: %s\n", e.what());
                return Api::error(http::status::insufficient_storage,
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

}  // namespace

void Api::handle(Request&& req, const RequestContext& context, Respond respond) {
    const auto t0 = std::chrono::steady_clock::now();
    const unsigned version = req.version();
    auto answer = [this, t0, method = std::string(req.method_string()), respond](const std::string& route_name, Response res) {
        res.set(http::field::server, "opsis");
        metrics_.observe(route_name, method, res.result_int(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        respond(std::move(res));
    };
    std::string route_name = "other";
    Routed routed;
    Response refused = answer_or_error(version, [&] {
        routed = route(req, route_name);
        return Response{};
    });
    if (routed.response) return answer(route_name, std::move(*routed.response));
    if (!routed.search && !routed.work) return answer(route_name, std::move(refused));  // the route threw
    if (routed.work)
        return inference_.post([answer, route_name, version, work = std::move(routed.work)] { answer(route_name, answer_or_error(version, work)); },
                               context.remote);
    const SearchShape shape{routed.search->texts};
    // The model's work is shared by turns between client addresses (a fair queue): one
    // client's many costly requests cannot hold every worker while another's wait.
    searches_.submit(std::move(*routed.search), [this, answer, route_name, shape, version, t0](Outcome<search::Result> outcome) {
        answer(route_name, answer_or_error(version, [&] { return search_response(take(std::move(outcome)), shape, version, t0); }));
    }, context.remote);
}

Api::Routed Api::route(Request& req, std::string& name) {
    const Target t = parse_target(req);
    const auto method = req.method();
    auto only = [&](std::initializer_list<http::verb> allowed, const char* allow) {
        // HEAD is GET without the body (the server drops it), wherever GET is allowed.
        const auto effective = method == http::verb::head ? http::verb::get : method;
        if (std::find(allowed.begin(), allowed.end(), effective) == allowed.end())
            reject(http::status::method_not_allowed, std::string(req.method_string()) + " is not allowed on " + t.path + " (allowed: " + allow + ")");
    };
    if (t.path == "/healthz") {
        name = "/healthz";
        only({http::verb::get}, "GET");
        return json_response(http::status::ok, {{"status", "ok"}}, req.version());
    }
    if (t.path == "/metrics") return name = "/metrics", only({http::verb::get}, "GET"), metrics(req);
    if (t.path == "/api/stats") return name = "/api/stats", only({http::verb::get}, "GET"), stats(req);
    if (t.path == "/api/search") return name = "/api/search", only({http::verb::post}, "POST"), parse_search_json(req);
    if (t.path == "/api/search/image") return name = "/api/search/image", only({http::verb::post}, "POST"), parse_search_image(req);
    if (t.path == "/api/items") return name = "/api/items", only({http::verb::post}, "POST"), write(req, [this](const Request& r) { return add_item(r); });
    if (t.path == "/api/texts") return name = "/api/texts", only({http::verb::post}, "POST"), write(req, [this](const Request& r) { return add_texts(r); });
    if (t.path == "/api/index/jobs") {
        name = "/api/index/jobs";
        only({http::verb::get, http::verb::post}, "GET, POST");
        return method == http::verb::post ? start_job(req) : job_status(req);
    }
    if (t.path == "/api/index/jobs/current") {
        name = "/api/index/jobs/current";
        only({http::verb::get, http::verb::delete_}, "GET, DELETE");
        return method == http::verb::delete_ ? cancel_job(req) : job_status(req);
    }
    if (t.path.rfind("/api/items/", 0) == 0) {
        const std::string rest = t.path.substr(11);
        const std::size_t slash = rest.find('/');
        const std::int64_t id = parse_id(rest.substr(0, slash));
        const std::string what = slash == std::string::npos ? "" : rest.substr(slash + 1);
        if (what.empty()) {
            name = "/api/items/{id}";
            only({http::verb::get, http::verb::delete_}, "GET, DELETE");
            if (method == http::verb::delete_)
                return write(req, [this, id](const Request& r) { return delete_item(r, id); });
            return item(req, id, "");
        }
        if (what == "image" || what == "thumbnail") {
            name = "/api/items/{id}/" + what;
            only({http::verb::get}, "GET");
            return item(req, id, what);
        }
        reject(http::status::not_found, "no such endpoint: " + t.path);
    }
    if (t.path.rfind("/api/", 0) == 0 || t.path == "/api") reject(http::status::not_found, "no such endpoint: " + t.path);
    name = "static";
    only({http::verb::get}, "GET");
    return static_file(req, t.path);
}

Response Api::search_response(const search::Result& r, const SearchShape& shape, unsigned version,
                              std::chrono::steady_clock::time_point started) {
    json body = search::result_json(r, shape.texts);
    body["took_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    return json_response(http::status::ok, body, version);
}

search::Query Api::parse_search_json(const Request& req) {
    const json j = json_object_body(req);
    check_fields(j, {"q", "text", "texts", "image", "images", "item", "items", "negative", "negative_weight", "collection",
                     "k", "offset", "min_score", "filters", "collapse_duplicates", "effort"}, "search");
    search::Query q;
    const float negative_weight = number_field(j, "negative_weight", 0.5f, "search");
    if (j.contains("q")) {  // what a person typed: "beach + sunset - people"
        if (!j["q"].is_string()) reject(http::status::bad_request, "search.q must be a string");
        q.texts = search::parse_query_text(j["q"].get<std::string>(), negative_weight);
    }
    for (const std::string& t : string_list(j, "text", "search")) q.texts.push_back({t, 1.0f});
    for (const std::string& t : string_list(j, "negative", "search")) q.texts.push_back({t, -negative_weight});
    if (j.contains("texts")) {
        if (!j["texts"].is_array()) reject(http::status::bad_request, "search.texts must be a list");
        for (const json& t : j["texts"]) {
            if (t.is_string()) { q.texts.push_back({t.get<std::string>(), 1.0f}); continue; }
            if (!t.is_object() || !t.contains("text") || !t["text"].is_string())
                reject(http::status::bad_request, "search.texts entries must be strings or {\"text\": string, \"weight\": number}");
            check_fields(t, {"text", "weight"}, "search.texts[]");
            q.texts.push_back({t["text"].get<std::string>(), number_field(t, "weight", 1.0f, "search.texts[]")});
        }
    }
    const std::uint64_t image_limit = options_.limits.image.max_file_bytes;
    if (j.contains("image")) {
        if (!j["image"].is_string()) reject(http::status::bad_request, "search.image must be a base64 string");
        q.images.push_back({base64_bytes(j["image"].get<std::string>(), "search.image", image_limit), "search.image", 1.0f});
    }
    if (j.contains("images")) {
        if (!j["images"].is_array()) reject(http::status::bad_request, "search.images must be a list");
        for (const json& im : j["images"]) {
            if (!im.is_object() || !im.contains("data") || !im["data"].is_string())
                reject(http::status::bad_request, "search.images entries must be {\"data\": base64 string, \"weight\": number}");
            check_fields(im, {"data", "weight"}, "search.images[]");
            q.images.push_back({base64_bytes(im["data"].get<std::string>(), "search.images[]", image_limit), "search.images[]",
                                number_field(im, "weight", 1.0f, "search.images[]")});
        }
    }
    if (j.contains("item")) {
        if (!j["item"].is_number_integer()) reject(http::status::bad_request, "search.item must be an item id (integer)");
        q.items.push_back({Collection::images, j["item"].get<std::int64_t>(), 1.0f});
    }
    if (j.contains("items")) {
        if (!j["items"].is_array()) reject(http::status::bad_request, "search.items must be a list");
        for (const json& it : j["items"]) {
            if (!it.is_object() || !it.contains("id") || !it["id"].is_number_integer())
                reject(http::status::bad_request, "search.items entries must be {\"id\": integer, \"collection\": ..., \"weight\": number}");
            check_fields(it, {"id", "collection", "weight"}, "search.items[]");
            q.items.push_back({parse_collection_param(it.value("collection", "images")), it["id"].get<std::int64_t>(),
                               number_field(it, "weight", 1.0f, "search.items[]")});
        }
    }
    if (j.contains("collection") && !j["collection"].is_string()) reject(http::status::bad_request, "search.collection must be a string");
    q.target = parse_collection_param(j.value("collection", "images"));
    q.k = count_field(j, "k", 20, "search");
    q.offset = count_field(j, "offset", 0, "search");
    q.effort = static_cast<int>(std::min<std::size_t>(count_field(j, "effort", 0, "search"), 1u << 30));
    if (j.contains("min_score")) q.min_score = number_field(j, "min_score", 0, "search");
    if (j.contains("collapse_duplicates")) {
        if (!j["collapse_duplicates"].is_boolean()) reject(http::status::bad_request, "search.collapse_duplicates must be true or false");
        q.collapse_duplicates = j["collapse_duplicates"].get<bool>();
    }
    if (j.contains("filters")) {
        const json& f = j["filters"];
        if (!f.is_object()) reject(http::status::bad_request, "search.filters must be an object");
        check_fields(f, {"source", "tags", "path_prefix"}, "search.filters");
        q.filters.sources = string_list(f, "source", "search.filters");
        q.filters.tags = string_list(f, "tags", "search.filters");
        if (f.contains("path_prefix")) {
            if (!f["path_prefix"].is_string()) reject(http::status::bad_request, "search.filters.path_prefix must be a string");
            q.filters.path_prefix = f["path_prefix"].get<std::string>();
        }
    }
    return q;
}

search::Query Api::parse_search_image(const Request& req) {
    const Target t = parse_target(req);
    search::Query q;
    Upload upload = read_upload(req, t.query);
    std::map<std::string, std::string>& fields = upload.fields;
    q.images.push_back({std::vector<unsigned char>(upload.bytes.begin(), upload.bytes.end()), upload.filename, 1.0f});
    q.target = parse_collection_param(fields.count("collection") ? fields["collection"] : "images");
    q.k = parse_count(fields, "k", 20);
    q.offset = parse_count(fields, "offset", 0);
    if (auto it = fields.find("collapse_duplicates"); it != fields.end()) {
        if (it->second != "true" && it->second != "false")
            reject(http::status::bad_request, "collapse_duplicates must be true or false, got '" + it->second + "'");
        q.collapse_duplicates = it->second == "true";
    }
    return q;
}

Api::Routed Api::item(const Request& req, std::int64_t id, const std::string& what) {
    const Target t = parse_target(req);
    const Collection c = parse_collection_param(t.query.count("collection") ? t.query.at("collection") : "images");
    const std::optional<storage::Item> it = store_.catalog().item(c, id);
    if (!it) reject(http::status::not_found, std::string("item ") + storage::collection_name(c) + "/" + std::to_string(id) + " not found");
    if (what.empty()) return json_response(http::status::ok, search::item_json(*it, c), req.version());
    if (c != Collection::images) reject(http::status::not_found, "texts have no image");
    if (what == "thumbnail") {
        std::string type;
        if (std::optional<std::string> body = cached_thumbnail(id, type))
            return bytes_response(*body, type, req.version(), "public, max-age=86400");
        // Decoding and resizing a large photo takes tens of milliseconds: not on a connection thread.
        return std::function<Response()>([this, item = *it, version = req.version()] {
            std::string made_type;
            const std::string body = make_thumbnail(item, made_type);
            return bytes_response(body, made_type, version, "public, max-age=86400");
        });
    }
    const storage::OriginalFile original = original_of(*it);
    const std::vector<unsigned char>& bytes = original.bytes;
    return bytes_response(std::string(bytes.begin(), bytes.end()),
                          image_mime(sniff_image_format(bytes.data(), bytes.size(), original.path)), req.version(),
                          "public, max-age=3600");
}

// Clients never name files: the item's recorded paths are read, and only while one still holds
// the indexed content (storage/original_file.h), so a path swapped for a link to another file
// serves nothing.
storage::OriginalFile Api::original_of(const storage::Item& item) const {
    storage::OriginalFile original = storage::read_original(store_.catalog(), item, options_.limits.image.max_file_bytes);
    const std::string name = "item images/" + std::to_string(item.id);
    if (original.state == storage::OriginalFile::State::missing)
        reject(http::status::not_found, name + ": none of its files exists any more");
    if (original.state == storage::OriginalFile::State::changed)
        reject(http::status::gone, name + ": its file no longer holds the picture that was indexed (index the folder again)");
    return original;
}

std::optional<std::string> Api::cached_thumbnail(std::int64_t id, std::string& content_type) const {
    const std::string dir = store_.dir() + "/thumbnails";
    for (const auto& [ext, type] : {std::pair<const char*, const char*>{".jpg", "image/jpeg"}, {".png", "image/png"}}) {
        const std::string cached = dir + "/" + std::to_string(id) + ext;
        std::error_code ec;
        if (fs::exists(cached, ec)) {
            content_type = type;
            const auto bytes = read_file(cached, 64 << 20);
            return std::string(bytes.begin(), bytes.end());
        }
    }
    return std::nullopt;
}

std::string Api::make_thumbnail(const storage::Item& item, std::string& content_type) {
    const std::string dir = store_.dir() + "/thumbnails";
    const storage::OriginalFile original = original_of(item);
    const RgbaImage image = decode_image(original.bytes.data(), original.bytes.size(),
                                         "images/" + std::to_string(item.id), options_.limits.image);
    const int side = options_.thumbnail_size;
    const double scale = std::min(1.0, static_cast<double>(side) / std::max(image.width, image.height));
    const RgbaImage small = scale < 1.0 ? resize_rgba(image, std::max(1, static_cast<int>(image.width * scale + 0.5)),
                                                      std::max(1, static_cast<int>(image.height * scale + 0.5)))
                                        : image;
    const bool alpha = has_transparency(small);
    const std::vector<unsigned char> bytes = alpha ? encode_png(small) : encode_jpeg(small, 85);
    std::error_code ec;
    fs::create_directories(dir, ec);
    try {
        write_file_atomic(dir + "/" + std::to_string(item.id) + (alpha ? ".png" : ".jpg"), bytes.data(), bytes.size());
    } catch (const Error& e) {  // a full disk: the thumbnail is still answered, made again next time
        std::fprintf(stderr, "opsis serve: thumbnail not kept: %s\n", e.what());
    }
    content_type = alpha ? "image/png" : "image/jpeg";
    return std::string(bytes.begin(), bytes.end());
}

Api::Routed Api::write(Request& req, std::function<Response(const Request&)> fn) {
    require_token(req);
    // Decoding, encoding and the synced commit take milliseconds to seconds: on a worker.
    return std::function<Response()>([this, fn = std::move(fn), request = std::make_shared<const Request>(std::move(req))] {
        const std::unique_lock lock = lock_for_write();
        return fn(*request);
    });
}

std::unique_lock<std::mutex> Api::lock_for_write() {
    // API writes wait for one another (each is short), but not for a bulk job, which holds the
    // lock until it ends: waiting would hold a worker, and the client, for the whole job.
    std::unique_lock lock(writes_mutex_, std::defer_lock);
    while (true) {
        if (job_running_)  // from the moment the job is accepted, before its thread has the lock
            reject(http::status::conflict, "an indexing job is running (GET /api/index/jobs): writes are refused until it ends");
        if (lock.try_lock()) return lock;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

void Api::require_token(const Request& req) const {
    if (options_.write_token.empty())
        reject(http::status::forbidden, "writes are disabled: start opsis serve with --token (or OPSIS_TOKEN) to allow them");
    // "Bearer" is a scheme name, which HTTP compares without case (RFC 9110 §11.1).
    const beast::string_view header = req[http::field::authorization];
    const std::string_view auth(header.data(), header.size());
    const std::size_t space = auth.find(' ');
    const bool bearer = space != std::string_view::npos && iequals(auth.substr(0, space), "bearer");
    std::string_view given = bearer ? auth.substr(space + 1) : std::string_view{};
    while (given.starts_with(' ')) given.remove_prefix(1);
    const std::string& expected = options_.write_token;
    // Compared in constant time: the token is a secret.
    bool same = bearer && given.size() == expected.size();
    unsigned char diff = 0;
    for (std::size_t i = 0; i < std::min(given.size(), expected.size()); ++i) diff |= static_cast<unsigned char>(given[i] ^ expected[i]);
    if (!same || diff != 0) reject(http::status::unauthorized, "writes need the header 'Authorization: Bearer <token>' with the server's token");
}

Response Api::add_item(const Request& req) {
    const Target t = parse_target(req);
    Upload upload = read_upload(req, t.query);
    const std::string& filename = upload.filename;
    const std::vector<unsigned char> bytes(upload.bytes.begin(), upload.bytes.end());
    const ImageFormat format = sniff_image_format(bytes.data(), bytes.size(), filename);
    if (format == ImageFormat::unknown)
        reject(http::status::unsupported_media_type,
               "upload '" + filename + "': not a supported image format (JPEG, PNG, BMP, GIF or TGA)");
    // Uploads are kept in the index folder, named by content, so the item has a file to serve.
    static const std::map<ImageFormat, const char*> ext{{ImageFormat::jpeg, ".jpg"}, {ImageFormat::png, ".png"},
                                                        {ImageFormat::gif, ".gif"}, {ImageFormat::bmp, ".bmp"},
                                                        {ImageFormat::tga, ".tga"}};
    const std::string dir = store_.dir() + "/uploads";
    indexer::InputFile file;
    file.path = dir + "/" + sha256_hex(bytes.data(), bytes.size()) + ext.at(format);
    if (upload.fields.count("source")) file.source = upload.fields["source"];
    if (upload.fields.count("tags")) {
        std::stringstream in(upload.fields["tags"]);
        for (std::string tag; std::getline(in, tag, ',');)
            if (!tag.empty()) file.tags.push_back(tag);
    }
    const auto keep = [&] {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (!fs::exists(file.path, ec)) write_file_atomic(file.path, bytes.data(), bytes.size());
    };
    indexer::JobOptions o;
    o.show_progress = false;
    o.limits = options_.limits.image;
    const indexer::UploadOutcome added = indexer::index_upload(store_, model_, filename, bytes, file, keep, o);
    const std::optional<storage::Item> item = store_.catalog().item(Collection::images, added.id);
    if (!item) reject(http::status::internal_server_error, "upload indexed but not found");
    json body = search::item_json(*item, Collection::images);
    body["created"] = added.created;
    return json_response(added.created ? http::status::created : http::status::ok, body, req.version());
}

Response Api::add_texts(const Request& req) {
    const json j = json_object_body(req);
    check_fields(j, {"text", "texts", "source", "tags"}, "texts");
    std::vector<std::string> texts = string_list(j, "text", "texts");
    for (const std::string& t : string_list(j, "texts", "texts")) texts.push_back(t);
    if (texts.empty()) reject(http::status::bad_request, "give \"text\" or \"texts\"");
    if (texts.size() > 1000) reject(http::status::payload_too_large, "at most 1000 texts per request");
    std::vector<storage::Item> items;
    for (const std::string& t : texts) {
        if (auto bad = utf8::find_invalid(t)) reject(http::status::bad_request, "text: invalid UTF-8 at byte " + std::to_string(*bad));
        if (t.find_first_not_of(" \t\r\n") == std::string::npos) reject(http::status::bad_request, "text: empty");
        // The same limit as a query's text: a stored text is embedded the same way.
        if (t.size() > options_.limits.max_text_bytes)
            reject(http::status::payload_too_large,
                   "text: " + std::to_string(t.size()) + " bytes, longer than " + std::to_string(options_.limits.max_text_bytes));
        storage::Item it;
        it.text = t;
        if (j.contains("source")) {
            if (!j["source"].is_string()) reject(http::status::bad_request, "texts.source must be a string");
            it.source = j["source"].get<std::string>();
        }
        it.tags = string_list(j, "tags", "texts");
        items.push_back(std::move(it));
    }
    json results = json::array();
    std::size_t added = 0;
    for (const auto& [id, created] : indexer::add_text_items(store_, model_, std::move(items))) {
        results.push_back({{"id", id}, {"created", created}});
        added += created;
    }
    return json_response(added > 0 ? http::status::created : http::status::ok, {{"items", results}}, req.version());
}

Response Api::delete_item(const Request& req, std::int64_t id) {
    const Target t = parse_target(req);
    const Collection c = parse_collection_param(t.query.count("collection") ? t.query.at("collection") : "images");
    const std::optional<storage::Item> item = store_.catalog().item(c, id);
    if (!item) reject(http::status::not_found, std::string("item ") + storage::collection_name(c) + "/" + std::to_string(id) + " not found");
    storage::Catalog::Batch b(store_.catalog());
    b.remove_item(c, id);
    store_.commit(b);
    // What the server made of the item goes with it, after the commit (a crash before leaves
    // files that nothing refers to, never an item without its file): its thumbnails, and an
    // upload's kept copy (named by content, so no other item shares it).
    if (c == Collection::images) {
        std::error_code ec;
        for (const char* ext : {".jpg", ".png"}) fs::remove(store_.dir() + "/thumbnails/" + std::to_string(id) + ext, ec);
        const std::string uploads = store_.dir() + "/uploads/";
        for (const std::string& p : item->paths)
            if (p.rfind(uploads, 0) == 0 && p.find('/', uploads.size()) == std::string::npos) fs::remove(p, ec);
    }
    return json_response(http::status::ok, {{"deleted", id}, {"collection", storage::collection_name(c)}}, req.version());
}

Response Api::start_job(const Request& req) {
    require_token(req);
    // Everything is validated before any state changes: a bad request leaves no job behind.
    const json j = json_object_body(req);
    check_fields(j, {"paths", "manifests", "prune"}, "job");
    std::vector<indexer::InputSpec> inputs;
    for (const std::string& p : string_list(j, "paths", "job")) inputs.push_back({indexer::InputKind::path, p});
    for (const std::string& p : string_list(j, "manifests", "job")) inputs.push_back({indexer::InputKind::manifest, p});
    if (inputs.empty()) reject(http::status::bad_request, "give \"paths\" (folders or files on the server) or \"manifests\"");
    if (j.contains("prune") && !j["prune"].is_boolean()) reject(http::status::bad_request, "job.prune must be true or false");
    indexer::JobOptions o;
    o.show_progress = false, o.limits = options_.limits.image, o.prune = j.value("prune", false);
    o.cancel = &job_cancel_;

    std::lock_guard lock(job_mutex_);
    if (job_running_) reject(http::status::conflict, "an indexing job is already running (GET /api/index/jobs)");
    if (job_thread_.joinable()) job_thread_.join();
    job_cancel_ = false;
    job_running_ = true;
    job_status_ = {{"state", "running"}, {"inputs", j}};
    try {
        job_thread_ = std::thread([this, inputs, o] {
            json status;
            try {
                std::lock_guard w(writes_mutex_);
                const indexer::JobSummary s = indexer::index_images(store_, model_, inputs, o);
                status = indexer::summary_json(s);
                status["state"] = job_cancel_ ? "cancelled" : "done";
            } catch (const std::exception& e) {
                status = {{"state", "failed"}, {"error", e.what()}};
            }
            std::lock_guard lock(job_mutex_);
            job_status_ = status;
            job_running_ = false;
        });
    } catch (...) {
        job_running_ = false;
        job_status_ = {{"state", "failed"}, {"error", "the job could not start"}};
        throw;
    }
    return json_response(http::status::accepted, job_status_, req.version());
}

Response Api::cancel_job(const Request& req) {
    require_token(req);
    std::lock_guard lock(job_mutex_);
    if (!job_running_) reject(http::status::not_found, "no indexing job is running");
    job_cancel_ = true;
    job_status_["state"] = "cancelling";
    return json_response(http::status::accepted, job_status_, req.version());
}

Response Api::job_status(const Request& req) {
    std::lock_guard lock(job_mutex_);
    return json_response(http::status::ok, job_status_, req.version());
}

Response Api::stats(const Request& req) {
    json s = store_.stats();
    s["model"].erase("path");  // a server path is not the client's business
    return json_response(http::status::ok, s, req.version());
}

Response Api::metrics(const Request& req) {
    const double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    const auto [batches, queries] = searches_.totals();
    const std::string body = metrics_.render({
        {"opsis_index_images", "Images in the index.", static_cast<double>(store_.catalog().item_count(Collection::images))},
        {"opsis_index_texts", "Texts in the index.", static_cast<double>(store_.catalog().item_count(Collection::texts))},
        {"opsis_uptime_seconds", "Seconds since the server started.", uptime},
        {"opsis_search_batches_total", "Batches the searches were answered in (searches arriving together share one).",
         static_cast<double>(batches)},
        {"opsis_search_batched_queries_total", "Searches answered, counted in their batches.", static_cast<double>(queries)},
    });
    return bytes_response(body, "text/plain; version=0.0.4; charset=utf-8", req.version(), "no-store");
}

Response Api::static_file(const Request& req, const std::string& path) {
    std::string rel = path == "/" ? "index.html" : path.substr(1);
    // Only plain names below the static folder: no "..", no absolute paths, no NUL, no backslash.
    std::stringstream parts(rel);
    for (std::string seg; std::getline(parts, seg, '/');)
        if (seg == ".." || seg == "." || seg.find('\0') != std::string::npos || seg.find('\\') != std::string::npos)
            reject(http::status::bad_request, "path '" + path + "' is not allowed");
    const fs::path root = fs::weakly_canonical(options_.static_dir);
    const fs::path file = fs::weakly_canonical(root / rel);
    const std::string r = root.string() + "/";
    if (file.string().compare(0, r.size(), r) != 0) reject(http::status::bad_request, "path '" + path + "' is not allowed");
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) reject(http::status::not_found, "no such file: " + path);
    const auto bytes = read_file(file.string(), 16 << 20);
    Response res = bytes_response(std::string(bytes.begin(), bytes.end()), content_type_of(file.string()), req.version(), "no-cache");
    // The UI loads only its own files and the pictures it is given; no page may frame it.
    res.set("Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'");
    res.set("X-Frame-Options", "DENY");
    res.set("Referrer-Policy", "no-referrer");
    return res;
}

}  // namespace opsis::web
