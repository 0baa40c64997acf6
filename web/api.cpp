#include "web/api.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>

#include "encoder/blas.h"
#include "indexer/job_summary_json.h"
#include "web/api_impl.h"
#include "web/request_parsing.h"
#include "web/responses.h"
#include "web/static_files.h"

namespace opsis::web {
namespace {

using json = nlohmann::json;
using storage::Collection;

// The text tower's throughput per text stops growing near a batch of 64.
constexpr std::size_t kMaxSearchBatch = 64;

}  // namespace

Api::Api(storage::IndexStore& store, const DualEncoder& model, ApiOptions options)
    : impl_(std::make_unique<Impl>(store, model, std::move(options))) {}

Api::~Api() = default;

void Api::handle(Request&& request, const RequestContext& context, Respond respond) {
    impl_->handle(std::move(request), context, std::move(respond));
}

Response Api::error(http::status status, const std::string& message, unsigned version, bool keep_alive) {
    return error_response(status, message, version, keep_alive);
}

Api::Impl::Impl(storage::IndexStore& store, const DualEncoder& model, ApiOptions options)
    : store_(store),
      model_(model),
      options_(std::move(options)),
      searcher_(store, model, options_.limits),
      inference_(options_.inference_workers > 0 ? options_.inference_workers
                                                : std::max(1, static_cast<int>(std::thread::hardware_concurrency())),
                 [] { blas::set_thread_local_single(); }),
      searches_(inference_, kMaxSearchBatch,
                [this](const std::vector<search::Query>& queries) { return searcher_.search_batch(queries); }) {
    if (!options_.watch.empty()) {
        indexer::WatchOptions w = options_.watch_options;
        w.job.limits = options_.limits.image;
        // Each round waits for API writes and bulk jobs, and they for it.
        w.lock_writes = [this] { return std::unique_lock(writes_mutex_); };
        watcher_ = std::make_unique<indexer::FolderWatcher>(store_, model_, options_.watch, std::move(w));
        watcher_->start();
    }
}

Api::Impl::~Impl() {
    if (watcher_) watcher_->stop();
    job_cancel_ = true;  // a running job stops after committing what it has in flight
    if (job_thread_.joinable()) job_thread_.join();
}

void Api::Impl::handle(Request&& req, const RequestContext& context, Respond respond) {
    const auto t0 = std::chrono::steady_clock::now();
    const unsigned version = req.version();
    auto answer = [this, t0, method = std::string(req.method_string()), respond](const std::string& route_name,
                                                                                 Response res) {
        res.set(http::field::server, "opsis");
        metrics_.observe(route_name, method, res.result_int(),
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        respond(std::move(res));
    };
    std::string route_name = "other";
    Routed routed;
    Response refused = answer_or_error(
        version,
        [&] {
            routed = route(req, route_name);
            return Response{};
        },
        error_shape(req));
    if (routed.response) return answer(route_name, std::move(*routed.response));
    if (!routed.search && !routed.work)  // the route threw
        return answer(route_name, std::move(refused));
    if (routed.work)
        return inference_.post([answer, route_name, version,
                                work = std::move(routed.work)] { answer(route_name, answer_or_error(version, work)); },
                               context.remote);
    const SearchShape shape{routed.search->texts};
    // The model's work is shared by turns between client addresses (a fair queue): one
    // client's many costly requests cannot hold every worker while another's wait.
    searches_.submit(
        std::move(*routed.search),
        [this, answer, route_name, shape, version, t0](Outcome<search::Result> outcome) {
            answer(route_name, answer_or_error(version, [&] {
                       return search_response(take(std::move(outcome)), shape, version, t0);
                   }));
        },
        context.remote);
}

Api::Impl::Routed Api::Impl::route(Request& req, std::string& name) {
    const Target t = parse_target(req);
    const auto method = req.method();
    auto only = [&](std::initializer_list<http::verb> allowed, const char* allow) {
        // HEAD is GET without the body (the server drops it), wherever GET is allowed.
        const auto effective = method == http::verb::head ? http::verb::get : method;
        if (std::find(allowed.begin(), allowed.end(), effective) == allowed.end())
            reject(http::status::method_not_allowed,
                   std::string(req.method_string()) + " is not allowed on " + t.path + " (allowed: " + allow + ")");
    };
    if (t.path == "/healthz") {
        name = "/healthz";
        only({http::verb::get}, "GET");
        return json_response(http::status::ok, {{"status", "ok"}}, req.version());
    }
    // Routes answered the same way: a name for the metrics, the methods allowed, the answer.
    struct Simple {
        const char* path;
        http::verb method;
        std::function<Routed()> answer;
    };
    const Simple simple[] = {
        {"/metrics", http::verb::get, [&] { return Routed(metrics(req)); }},
        {"/api/stats", http::verb::get, [&] { return Routed(stats(req)); }},
        {"/api/index/watch", http::verb::get, [&] { return Routed(watch_status(req)); }},
        {"/api/search", http::verb::post, [&] { return Routed(parse_search_json(req)); }},
        {"/api/search/image", http::verb::post, [&] { return Routed(parse_search_image(req)); }},
        {"/api/classify", http::verb::post, [&] { return classify(req); }},
        {"/api/items", http::verb::post, [&] { return write(req, [this](const Request& r) { return add_item(r); }); }},
        {"/api/texts", http::verb::post, [&] { return write(req, [this](const Request& r) { return add_texts(r); }); }},
    };
    for (const Simple& route : simple)
        if (t.path == route.path) {
            name = route.path;
            only({route.method}, route.method == http::verb::get ? "GET" : "POST");
            return route.answer();
        }
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
        if (what == "heatmap") {
            name = "/api/items/{id}/heatmap";
            only({http::verb::get}, "GET");
            return heatmap(req, id);
        }
        if (what == "vector") {
            name = "/api/items/{id}/vector";
            only({http::verb::get}, "GET");
            return item_vector(req, id);
        }
        if (what == "image" || what == "thumbnail") {
            name = "/api/items/{id}/" + what;
            only({http::verb::get}, "GET");
            return item(req, id, what);
        }
        reject(http::status::not_found, "no such endpoint: " + t.path);
    }
    if (is_api_path(t.path))
        reject(http::status::not_found, "no such endpoint: " + t.path);
    if (t.path == "/model" || t.path.rfind("/model/", 0) == 0) {
        // What the model sees (explain/filter_atlas.h), when `opsis model visualize` drew it.
        name = "/model";
        only({http::verb::get}, "GET");
        const std::string atlas = store_.dir() + "/atlas";
        if (!std::filesystem::exists(atlas + "/index.html"))
            reject(
                http::status::not_found,
                "no model visualisation for this index yet: run `opsis model visualize --index " + store_.dir() + "`");
        if (t.path == "/model") {  // the page's pictures are named relative to the folder
            Response moved = bytes_response("", "text/plain", req.version(), "no-cache");
            moved.result(http::status::moved_permanently);
            moved.set(http::field::location, "/model/");
            return moved;
        }
        return static_file(req, t.path, atlas, "/model");
    }
    name = "static";
    only({http::verb::get}, "GET");
    return static_file(req, t.path, options_.static_dir, "");
}

Response Api::Impl::stats(const Request& req) {
    json s = store_.stats();
    s["model"].erase("path");  // a server path is not the client's business
    // "precision" is what the vectors were made at; queries may run at another (serve --precision).
    s["model"]["query_precision"] = precision_name(model_.precision());
    if (watcher_) s["watch"] = indexer::watch_status_json(watcher_->status());
    return json_response(http::status::ok, s, req.version());
}

Response Api::Impl::watch_status(const Request& req) {
    const json body =
        watcher_ ? indexer::watch_status_json(watcher_->status())
                 : json{{"state", "off"}, {"note", "start opsis serve with --watch DIR to keep folders indexed"}};
    return json_response(http::status::ok, body, req.version());
}

Response Api::Impl::metrics(const Request& req) {
    const double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    const auto [batches, queries] = searches_.totals();
    std::vector<std::tuple<std::string, std::string, double>> values{
        {"opsis_index_images", "Images in the index.",
         static_cast<double>(store_.catalog().item_count(Collection::images))},
        {"opsis_index_texts", "Texts in the index.",
         static_cast<double>(store_.catalog().item_count(Collection::texts))},
        {"opsis_uptime_seconds", "Seconds since the server started.", uptime},
        {"opsis_search_batches_total", "Batches the searches were answered in (searches arriving together share one).",
         static_cast<double>(batches)},
        {"opsis_search_batched_queries_total", "Searches answered, counted in their batches.",
         static_cast<double>(queries)},
    };
    if (watcher_) {
        const indexer::WatchStatus w = watcher_->status();
        auto d = [](auto v) { return static_cast<double>(v); };
        const std::vector<std::tuple<std::string, std::string, double>> watch{
            {"opsis_watch_running", "1 while the folder watcher runs, 0 once it stopped or failed.",
             d(w.state != "stopped" && w.state != "failed")},
            {"opsis_watch_folders", "Folders watched (the given ones and their subfolders).", d(w.watched_folders)},
            {"opsis_watch_pending", "Changed paths waiting to be indexed.", d(w.pending)},
            {"opsis_watch_events_total", "File system events read.", d(w.events)},
            {"opsis_watch_rounds_total", "Rounds that indexed or removed what changed.", d(w.rounds)},
            {"opsis_watch_rescans_total", "Full rescans (at start, and when the kernel dropped events).", d(w.rescans)},
            {"opsis_watch_indexed_total", "Files the rounds added, re-embedded or gave a new path.", d(w.indexed)},
            {"opsis_watch_removed_total", "Paths removed because their files went.", d(w.removed)},
            {"opsis_watch_failed_total", "Files that could not be indexed.", d(w.failed)},
            {"opsis_watch_last_latency_seconds", "The last round's oldest change: seen to committed.",
             w.last_latency_seconds},
            {"opsis_watch_max_latency_seconds", "The longest a change has waited to be committed.",
             w.max_latency_seconds},
        };
        values.insert(values.end(), watch.begin(), watch.end());
    }
    const std::string body = metrics_.render(values);
    return bytes_response(body, "text/plain; version=0.0.4; charset=utf-8", req.version(), "no-store");
}

}  // namespace opsis::web
