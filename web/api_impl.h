#pragma once
// The API's state and its parts (web/api.h is its face). Files: api.cpp (life cycle, routing,
// stats, metrics), search_requests.cpp, media.cpp (items, originals, thumbnails, static files),
// writes.cpp (uploads, texts, deletes, jobs).
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "core/batcher.h"
#include "core/worker_pool.h"
#include "search/searcher.h"
#include "storage/original_file.h"
#include "web/api.h"
#include "web/heatmap_cache.h"
#include "web/metrics.h"

namespace opsis::web {

struct Api::Impl {
    Impl(storage::IndexStore& store, const DualEncoder& model, ApiOptions options);
    ~Impl();
    void handle(Request&& request, const RequestContext& context, Respond respond);

    // What a route comes to: a response, a search for the batcher, or work too heavy for a
    // connection thread (making a thumbnail) for the workers.
    struct Routed {
        Routed() = default;
        Routed(Response r) : response(std::move(r)) {}
        Routed(search::Query q) : search(std::move(q)) {}
        Routed(std::function<Response()> w) : work(std::move(w)) {}
        std::optional<Response> response;
        std::optional<search::Query> search;
        std::function<Response()> work;
    };
    struct SearchShape {  // what a search response repeats of its query (the rest the result says)
        std::vector<search::WeightedText> texts;
    };
    // `req` may be moved from (a write takes it to a worker).
    Routed route(Request& req, std::string& route_name);
    // A write runs on a worker, after the token check, holding the write lock (lock_for_write).
    Routed write(Request& req, std::function<Response(const Request&)> fn);
    std::unique_lock<std::mutex> lock_for_write();
    search::Query parse_search_json(const Request& req);
    Routed classify(const Request& req);
    search::Query parse_search_image(const Request& req);
    Response search_response(const search::Result& result, const SearchShape& shape, unsigned version,
                             std::chrono::steady_clock::time_point started);
    // The item a request names (id, and ?collection=, images by default); not_found if none.
    struct RequestedItem {
        storage::Collection collection;
        storage::Item item;
    };
    RequestedItem requested_item(const Request& req, std::int64_t id) const;
    Routed item(const Request& req, std::int64_t id, const std::string& what);
    Routed heatmap(const Request& req, std::int64_t id);
    Response item_vector(const Request& req, std::int64_t id) const;
    Response add_item(const Request& req);
    Response add_texts(const Request& req);
    Response delete_item(const Request& req, std::int64_t id);
    Response start_job(const Request& req);
    Response job_status(const Request& req);
    Response cancel_job(const Request& req);
    Response stats(const Request& req);
    Response watch_status(const Request& req);
    Response metrics(const Request& req);
    void require_token(const Request& req) const;
    storage::OriginalFile original_of(const storage::Item& item) const;
    std::optional<std::string> cached_thumbnail(std::int64_t id, std::string& content_type) const;
    std::string make_thumbnail(const storage::Item& item, std::string& content_type);

    storage::IndexStore& store_;
    const DualEncoder& model_;
    ApiOptions options_;
    search::Searcher searcher_;
    Metrics metrics_;
    WorkerPool inference_;  // every model call of a request runs here: one single-threaded worker a core
    // Searches that arrive while the workers are busy are answered together (see Batcher).
    Batcher<search::Query, search::Result> searches_;
    HeatmapCache heatmaps_{64};
    std::mutex writes_mutex_;  // API writes and the background job take turns (a job holds it to its end)
    std::mutex job_mutex_;
    std::thread job_thread_;
    nlohmann::json job_status_ = {{"state", "idle"}};
    std::atomic<bool> job_running_{false};
    std::atomic<bool> job_cancel_{false};
    const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::unique_ptr<indexer::FolderWatcher> watcher_;  // serve --watch; last, so stopped first
};

}  // namespace opsis::web
