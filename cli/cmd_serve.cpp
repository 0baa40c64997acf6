// opsis serve: the query server, the JSON API and the web UI over one index folder.
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

void run(ServeArgs& a) {
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
    options.static_dir = a.static_dir.empty() ? default_static_dir() : a.static_dir;
    if (!fs::exists(options.static_dir + "/index.html"))
        throw input_error("static folder", options.static_dir, "has no index.html (pass --static)");
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
    a.server.access_log = !a.quiet;
    a.server.read_timeout = std::chrono::seconds(a.read_seconds);
    a.server.idle_timeout = std::chrono::seconds(a.idle_seconds);
    if (a.any_host)
        a.server.allowed_hosts.clear();
    else if (a.server.allowed_hosts.empty())
        a.server.allowed_hosts = web::default_allowed_hosts(a.server.address);
    web::Api api(*ix.store, *ix.model, options);
    web::HttpServer server(a.server, std::bind_front(&web::Api::handle, &api), &web::Api::error);
    server.listen();
    const std::string host = a.server.address == "0.0.0.0" ? "localhost" : a.server.address;
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
    cmd->add_option("--index", a->index, "Index folder")->required();
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
    cmd->callback([a] { run(*a); });
}

}  // namespace opsis::cli
