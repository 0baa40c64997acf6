#include "web/static_files.h"

#include <filesystem>
#include <sstream>

#include "core/file_io.h"
#include "web/request_parsing.h"
#include "web/responses.h"

namespace opsis::web {

namespace fs = std::filesystem;

Response static_file(const Request& req, const std::string& path, const std::string& root_dir,
                     const std::string& prefix) {
    std::string rel = path.substr(prefix.size());
    if (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
    if (rel.empty()) rel = "index.html";
    // Only plain names below the static folder: no "..", no absolute paths, no NUL, no backslash.
    std::stringstream parts(rel);
    for (std::string seg; std::getline(parts, seg, '/');)
        if (seg == ".." || seg == "." || seg.find('\0') != std::string::npos || seg.find('\\') != std::string::npos)
            reject(http::status::bad_request, "path '" + path + "' is not allowed");
    const fs::path root = fs::weakly_canonical(root_dir);
    const fs::path file = fs::weakly_canonical(root / rel);
    const std::string r = root.string() + "/";
    if (file.string().compare(0, r.size(), r) != 0)
        reject(http::status::bad_request, "path '" + path + "' is not allowed");
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) reject(http::status::not_found, "no such file: " + path);
    const auto bytes = read_file(file.string(), 16 << 20);
    Response res = bytes_response(std::string(bytes.begin(), bytes.end()), content_type_of(file.string()),
                                  req.version(), "no-cache");
    // The UI loads only its own files and the pictures it is given; no page may frame it.
    res.set("Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'");
    res.set("X-Frame-Options", "DENY");
    res.set("Referrer-Policy", "no-referrer");
    return res;
}

}  // namespace opsis::web
