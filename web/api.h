#pragma once
// The JSON API and the static web UI, over one index folder: routes requests to search,
// items, thumbnails, stats, health, metrics and the authenticated writes. Every rejected
// request gets a 4xx with {"error": {"status": N, "message": "..."}} saying what was wrong.
// Its parts live in web/api_impl.h: reading requests (request_parsing, json_fields), searches
// (search_requests), media (items, thumbnails, static files), writes and jobs, responses.
#include <memory>
#include <string>
#include <vector>

#include "encoder/dual_encoder.h"
#include "indexer/folder_watcher.h"
#include "search/query.h"
#include "storage/index_store.h"
#include "web/http_server.h"

namespace opsis::web {

struct ApiOptions {
    std::string static_dir;   // the web UI's files
    std::string write_token;  // bearer token for writes; empty: writes are refused
    search::Limits limits;
    int thumbnail_size = 256;
    int inference_workers = 0;  // 0: one per core
    // Folders kept indexed while serving (serve --watch): watched from the start, their changes
    // committed between API writes (indexer/folder_watcher.h).
    std::vector<std::string> watch;
    indexer::WatchOptions watch_options;
};

class Api {
public:
    Api(storage::IndexStore& store, const DualEncoder& model, ApiOptions options);
    ~Api();  // a running job stops after committing what it has in flight

    // Answers at once, except searches, which wait for their batch on the model workers.
    void handle(Request&& request, const RequestContext& context, Respond respond);
    static Response error(http::status status, const std::string& message, unsigned version, bool keep_alive);

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace opsis::web
