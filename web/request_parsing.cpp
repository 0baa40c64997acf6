#include "web/request_parsing.h"

#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/core/string.hpp>

#include <cctype>
#include <charconv>

#include "core/utf8.h"

namespace opsis::web {
namespace {

namespace beast = boost::beast;
using json = nlohmann::json;

std::string url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+')
            out += ' ';
        else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else
            out += s[i];
    }
    return out;
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

}  // namespace

void reject(http::status s, std::string message) { throw ApiError{s, std::move(message)}; }

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
        std::string key = url_decode(pair.substr(0, eq)),
                    value = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
        // Query parameters become sources, tags and texts that the catalog keeps as text:
        // bytes that are not UTF-8 are refused here, before any route acts on them.
        for (const std::string* s : {&key, &value})
            if (const auto bad = utf8::find_invalid(*s))
                reject(http::status::bad_request, "query parameter '" + utf8::preview(key) +
                                                      "' is not valid UTF-8 (byte " + std::to_string(*bad) +
                                                      " after decoding)");
        t.query[std::move(key)] = std::move(value);
        if (amp == std::string_view::npos) break;
        rest = rest.substr(amp + 1);
    }
    return t;
}

std::int64_t parse_id(const std::string& text) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v <= 0)
        reject(http::status::bad_request, "item id '" + text + "' is not a positive integer");
    return v;
}

std::size_t parse_count(const std::map<std::string, std::string>& q, const char* key, std::size_t fallback) {
    const auto it = q.find(key);
    if (it == q.end() || it->second.empty()) return fallback;
    std::size_t v = 0;
    const auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || end != it->second.data() + it->second.size())
        reject(http::status::bad_request,
               std::string("query parameter '") + key + "' must be a non-negative integer, got '" + it->second + "'");
    return v;
}

std::optional<bool> parse_flag(const std::map<std::string, std::string>& q, const char* key) {
    const auto it = q.find(key);
    if (it == q.end()) return std::nullopt;
    if (it->second != "true" && it->second != "false")
        reject(http::status::bad_request, std::string(key) + " must be true or false, got '" + it->second + "'");
    return it->second == "true";
}

storage::Collection parse_collection_param(const std::string& name) {
    if (name.empty() || name == "images") return storage::Collection::images;
    if (name == "texts") return storage::Collection::texts;
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
    if (rest != s.size())
        reject(http::status::bad_request, field + ": not valid base64 (at character " + std::to_string(read) + ")");
    out.resize(written);
    if (out.empty()) reject(http::status::bad_request, field + ": empty image");
    if (out.size() > limit)
        reject(http::status::payload_too_large, field + ": image of " + std::to_string(out.size()) +
                                                    " bytes exceeds the limit of " + std::to_string(limit));
    return out;
}

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

bool iequals(std::string_view a, std::string_view b) {
    return beast::iequals(beast::string_view(a.data(), a.size()), beast::string_view(b.data(), b.size()));
}

Upload read_upload(const Request& req, std::map<std::string, std::string> query) {
    Upload u;
    u.fields = std::move(query);
    if (const beast::string_view type = req[http::field::content_type];
        beast::iequals(type.substr(0, 19), "multipart/form-data")) {
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
                reject(http::status::bad_request, "multipart field '" + utf8::preview(name) +
                                                      "' is not valid UTF-8 (byte " + std::to_string(*bad) + ")");
            u.fields[name] = part.second;
        }
        if (!found) reject(http::status::bad_request, "multipart upload has no 'image' (or 'file') part");
    } else {
        u.bytes = req.body();
    }
    if (u.bytes.empty()) reject(http::status::bad_request, "empty image upload");
    return u;
}

}  // namespace opsis::web
