#pragma once
// The web UI's files (and the model atlas's), served from a folder: only plain names below it.
#include <string>

#include "web/http_server.h"

namespace opsis::web {

// A file below `root_dir`, named by the request path after `prefix` (its index.html for none).
Response static_file(const Request& req, const std::string& path, const std::string& root_dir,
                     const std::string& prefix);

}  // namespace opsis::web
