// opsis serve: the query server, the JSON API and the web UI over one index folder, or over
// the shard servers of a collection split into shards (--shards, web/shard_router.h).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "cli/commands.h"
#include "core/error.h"
#include "index_folder/open_index.h"
#include "cli/precision_option.h"
#include "web/api.h"
#include "web/http_server.h"
#include "web/shard_router.h"

#include <nlohmann/json.hpp>

#ifndef OPSIS_SOURCE_WEB
#define OPSIS_SOURCE_WEB ""
#endif

namespace opsis::cli {
namespace {

namespace fs = std::filesystem;

struct ServeArgs {
    std::string index, model, static_dir, token;
    std::string precision;  // empty: the index's
    web::ServerOptions server;
    std::size_t max_k = 500;
    int read_seconds = 15, idle_seconds = 60;
    int workers = 0;
    bool quiet = false;
    bool any_host = false;
    std::vector<std::string> watch;
    int settle_ms = 250;
    std::string shards;   // "URL,URL|URL,...": split here, so that an empty one is named
    bool router = false;  // --shards was given
    int shard_timeout_ms = 2000;
    std::size_t max_depth = 500;
};

std::string default_static_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
        for (const fs::path& c :
             {exe.parent_path().parent_path() / "web/static", exe.parent_path().parent_path() / "share/opsis/web"})
            if (fs::exists(c / "index.html", ec)) return c.string();
    return std::string(OPSIS_SOURCE_WEB) + "/static";
}

// The web UI's folder: --static, or the one beside the executable or the sources.
std::string static_dir(const ServeArgs& a) {
    const std::string dir = a.static_dir.empty() ? default_static_dir() : a.static_dir;
    if (!fs::exists(dir + "/index.html")) throw input_error("static folder", dir, "has no index.html (pass --static)");
    return dir;
}

void apply_server_args(ServeArgs& a) {
    a.server.access_log = !a.quiet;
    a.server.read_timeout = std::chrono::seconds(a.read_seconds);
    a.server.idle_timeout = std::chrono::seconds(a.idle_seconds);
    if (a.any_host)
        a.server.allowed_hosts.clear();
    else if (a.server.allowed_hosts.empty())
        a.server.allowed_hosts = web::default_allowed_hosts(a.server.address);
}

std::string shown_host(const ServeArgs& a) { return a.server.address == "0.0.0.0" ? "localhost" : a.server.address; }

// serve --shards: no index, no model; every request goes to the shards.
void run_router(ServeArgs& a) {
    web::ShardRouterOptions options;
    options.static_dir = static_dir(a);
    options.client.timeout = std::chrono::milliseconds(a.shard_timeout_ms);
    options.max_depth = a.max_depth;
    std::vector<std::string> urls;
    for (std::size_t from = 0, comma; from <= a.shards.size(); from = comma + 1) {
        comma = std::min(a.shards.find(',', from), a.shards.size());
        urls.push_back(a.shards.substr(from, comma - from));  // an empty one is the client's error
    }
    web::ShardRouter router(urls, options);
    const nlohmann::json stats = router.check_shards();
    apply_server_args(a);
    web::HttpServer server(a.server, std::bind_front(&web::ShardRouter::handle, &router), &web::Api::error);
    server.listen();
    const nlohmann::json& answered = stats["shards"];
    std::printf("opsis: serving %zu shards (%llu images, %llu texts in the %llu answering) on http://%s:%u/\n",
                router.shards(), static_cast<unsigned long long>(stats["images"].value("items", 0ull)),
                static_cast<unsigned long long>(stats["texts"].value("items", 0ull)),
                static_cast<unsigned long long>(answered["answered"].get<std::size_t>()), shown_host(a).c_str(),
                server.port());
    for (const nlohmann::json& s : answered["each"])
        if (s.contains("error"))
            std::printf("opsis: shard %s does not answer yet: %s\n", s["url"].get<std::string>().c_str(),
                        s["error"].get<std::string>().c_str());
    std::fflush(stdout);
    server.run();
    std::printf("opsis: stopped\n");
}

void run(ServeArgs& a) {
    if (a.router) return run_router(a);
    if (a.index.empty()) throw input_error("serve", "", "needs --index DIR, or --shards URL,URL,...");
    web::ApiOptions options;
    options.write_token = a.token;
    if (options.write_token.empty())
        if (const char* env = std::getenv("OPSIS_TOKEN")) options.write_token = env;
    // Without a token nothing can be written: the index is opened read-only (and seen as it
    // was at start), so a full disk or a read-only folder still serves searches.
    storage::StoreOptions store_options;
    // A watched folder's changes are written whatever the token.
    store_options.read_only = options.write_token.empty() && a.watch.empty();
    OpenIndex ix = open_index(a.index, a.model, false, true, store_options, parse_precision_if_given(a.precision));
    options.static_dir = static_dir(a);
    options.limits.max_k = a.max_k;
    options.inference_workers = a.workers;
    options.watch = a.watch;
    options.watch_options.settle = std::chrono::milliseconds(a.settle_ms);
    options.watch_options.on_round = [quiet = a.quiet](const indexer::WatchRound& r) {
        if (quiet || (r.summary.files == 0 && r.removed == 0)) return;
        const indexer::JobSummary& s = r.summary;
        std::printf("opsis: watch %s: %llu added, %llu changed, %llu duplicates, %llu failed, %llu removed",
                    r.what.c_str(), static_cast<unsigned long long>(s.added),
                    static_cast<unsigned long long>(s.changed), static_cast<unsigned long long>(s.duplicates),
                    static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(r.removed));
        if (r.what != "rescan") std::printf(" (%.2f s after the first change)", r.latency_seconds);
        std::printf("\n");
        std::fflush(stdout);
    };
    apply_server_args(a);
    web::Api api(*ix.store, *ix.model, options);
    web::HttpServer server(a.server, std::bind_front(&web::Api::handle, &api), &web::Api::error);
    server.listen();
    const std::string host = shown_host(a);
    std::printf("opsis: serving %s (%llu images, %llu texts) on http://%s:%u/%s\n", a.index.c_str(),
                static_cast<unsigned long long>(ix.store->catalog().item_count(storage::Collection::images)),
                static_cast<unsigned long long>(ix.store->catalog().item_count(storage::Collection::texts)),
                host.c_str(), server.port(),
                options.write_token.empty()
                    ? (a.watch.empty() ? " (read-only: no --token)" : " (only the watcher writes: no --token)")
                    : "");
    std::fflush(stdout);
    server.run();
    std::printf("opsis: stopped\n");
}

}  // namespace

void register_serve(CLI::App& app) {
    auto a = std::make_shared<ServeArgs>();
    CLI::App* cmd = app.add_subcommand("serve", "Serve the search web UI and JSON API over an index");
    CLI::Option* index = cmd->add_option("--index", a->index, "Index folder");
    CLI::Option* shards =
        cmd->add_option("--shards", a->shards,
                        "Serve a collection split into shards: the URLs (http://host:port) of the opsis serve of each, "
                        "comma-separated, in shard order; searches go to all and are merged, items to their own. A "
                        "shard's replicas (servers over copies of its index) joined by '|': http://a:1|http://b:1 "
                        "take turns, and one that fails is passed over")
            ->excludes(index);
    index->excludes(shards);
    cmd->add_option("--shard-timeout-ms", a->shard_timeout_ms,
                    "With --shards: how long a shard may take; one slower, or down, is left out of the answer")
        ->capture_default_str()
        ->check(CLI::Range(1, 600000));
    cmd->add_option("--max-depth", a->max_depth,
                    "With --shards: the deepest result a search may reach (offset + k), what each shard is asked for; "
                    "start the shards with --max-k at least this")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    cmd->add_option("--port,-p", a->server.port, "TCP port (0: any free one)")->capture_default_str();
    cmd->add_option("--address", a->server.address, "Address to listen on (0.0.0.0 for every interface)")
        ->capture_default_str();
    cmd->add_option("--threads", a->server.threads, "Server threads")->capture_default_str()->check(CLI::Range(1, 256));
    cmd->add_option("--token", a->token, "Bearer token that allows writes (default: $OPSIS_TOKEN; none: read-only)");
    cmd->add_option("--static", a->static_dir, "Folder of the web UI's files")->check(CLI::ExistingDirectory);
    cmd->add_option("--max-body-bytes", a->server.max_body_bytes, "Largest request body")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--read-timeout", a->read_seconds, "Seconds a client has to send a request once started")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    cmd->add_option("--idle-timeout", a->idle_seconds, "Seconds a kept-alive connection may stay idle")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    cmd->add_option("--workers", a->workers,
                    "Threads that run the model and the vector search (default: one per core); searches that arrive "
                    "while all are busy are answered together in one batch")
        ->check(CLI::Range(1, 256));
    cmd->add_option("--max-connections", a->server.max_connections,
                    "Open connections at most; the longest idle is closed to make room (0: half the open-file limit)")
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 20));
    cmd->add_option("--max-k", a->max_k, "Most results one request may ask for")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    cmd->add_option("--model,-m", a->model, "Model folder (default: the index's model)");
    add_precision_option(cmd, a->precision, "default: the precision the index was made at");
    cmd->add_option("--allowed-host", a->server.allowed_hosts,
                    "Host header value to answer (repeatable; default: the --address, localhost and loopback, and for "
                    "0.0.0.0 also this machine's name and addresses); other hosts get 421, which stops DNS rebinding");
    cmd->add_flag("--any-host", a->any_host, "Answer whatever the Host header says (behind a proxy that checks it)")
        ->excludes("--allowed-host");
    cmd->add_flag("--quiet", a->quiet, "No access log");
    cmd->add_option("--watch", a->watch,
                    "Keep this folder indexed while serving (repeatable): rescanned at start, then its changes "
                    "indexed as they happen (inotify)")
        ->check(CLI::ExistingDirectory);
    cmd->add_option("--settle-ms", a->settle_ms, "A changed file is indexed once it has been quiet this long")
        ->capture_default_str()
        ->check(CLI::Range(0, 60000));
    // What only a server over one index does.
    for (const char* name : {"--token", "--model", "--precision", "--workers", "--watch", "--settle-ms"})
        shards->excludes(cmd->get_option(name));
    cmd->callback([a, shards] {
        a->router = shards->count() > 0;
        run(*a);
    });
}

}  // namespace opsis::cli
