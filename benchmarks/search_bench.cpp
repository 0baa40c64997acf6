#include "benchmarks/search_bench.h"

#include "benchmarks/bench_support.h"
#include "benchmarks/lifted_model.h"
#include "benchmarks/synthetic_index.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/error.h"
#include "encoder/blas.h"
#include "core/file_io.h"
#include "index_folder/open_index.h"
#include "search/searcher.h"
#include "web/api.h"
#include "web/http_server.h"

namespace opsis::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using storage::Collection;

struct Percentiles {
    double p50 = 0, p99 = 0, mean = 0;
};
Percentiles percentiles(std::vector<double> ms) {
    std::sort(ms.begin(), ms.end());
    Percentiles p;
    if (ms.empty()) return p;
    p.p50 = ms[ms.size() / 2];
    p.p99 = ms[std::min(ms.size() - 1, static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(ms.size()))) - 1)];
    for (double x : ms) p.mean += x;
    p.mean /= static_cast<double>(ms.size());
    return p;
}

struct Recall {
    double at_10 = 0, rescored = 0;
    std::size_t queries = 0;
};

// The true 10 nearest stored vectors of each text query: an exact scan, blocked matrix products
// over the catalog's float32 vectors.
using Entry = std::pair<float, std::int64_t>;
constexpr std::size_t kTop = 10;
struct ExactTop {
    std::vector<search::Query> queries;
    std::vector<std::vector<Entry>> best;
};

ExactTop exact_top(const storage::IndexStore& store, const search::Searcher& searcher,
                   const std::vector<std::string>& texts, std::size_t n) {
    constexpr std::size_t kBlock = 8192;
    n = std::min(n, texts.size());
    std::vector<search::Query> queries(n);
    std::vector<float> q;
    for (std::size_t i = 0; i < n; ++i) {
        queries[i].texts = {{texts[i], 1.0f}};
        queries[i].k = kTop;
        queries[i].collapse_duplicates = false;
        const std::vector<float> v = searcher.embed(queries[i]);
        q.insert(q.end(), v.begin(), v.end());
    }
    const std::size_t d = q.size() / std::max<std::size_t>(n, 1);
    // Per query, the best kTop (score, id) so far, worst first.
    std::vector<std::vector<Entry>> best(n);
    std::vector<float> block, scores;
    std::vector<std::int64_t> ids;
    auto scan = [&] {
        if (ids.empty()) return;
        const int rows = static_cast<int>(ids.size());
        scores.assign(static_cast<std::size_t>(rows) * n, 0.0f);
        blas::gemm(false, true, rows, static_cast<int>(n), static_cast<int>(d), 1.0f, block.data(), static_cast<int>(d),
                   q.data(), static_cast<int>(d), 0.0f, scores.data(), static_cast<int>(n));
        for (int r = 0; r < rows; ++r)
            for (std::size_t j = 0; j < n; ++j) {
                auto& heap = best[j];
                const Entry e{scores[static_cast<std::size_t>(r) * n + j], ids[static_cast<std::size_t>(r)]};
                if (heap.size() < kTop) {
                    heap.push_back(e);
                    std::push_heap(heap.begin(), heap.end(), std::greater<>());
                } else if (e > heap.front()) {
                    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
                    heap.back() = e;
                    std::push_heap(heap.begin(), heap.end(), std::greater<>());
                }
            }
        block.clear(), ids.clear();
    };
    store.catalog().for_each_vector(Collection::images, [&](std::int64_t id, const float* v, std::size_t dim) {
        if (dim != d) return true;
        block.insert(block.end(), v, v + dim);
        ids.push_back(id);
        if (ids.size() == kBlock) scan();
        return true;
    });
    scan();
    return {std::move(queries), std::move(best)};
}

// What share of the true 10 nearest the searches find at an effort, without collapsing
// near-duplicates.
Recall recall_at(const search::Searcher& searcher, ExactTop truth, int effort, std::size_t rescore = 0) {
    Recall r;
    const std::size_t n = truth.queries.size();
    r.queries = n;
    std::size_t found = 0, total = 0;
    for (std::size_t j = 0; j < n; ++j) {
        truth.queries[j].effort = effort;
        truth.queries[j].rescore = rescore;
        const search::Result got = searcher.search(truth.queries[j]);
        r.rescored += static_cast<double>(got.rescored);
        std::set<std::int64_t> hit;
        for (const search::Hit& h : got.hits) hit.insert(h.id);
        for (const Entry& e : truth.best[j]) found += hit.count(e.second);
        total += truth.best[j].size();
    }
    r.at_10 = total ? static_cast<double>(found) / static_cast<double>(total) : 0;
    r.rescored /= static_cast<double>(std::max<std::size_t>(n, 1));
    return r;
}

}  // namespace

void run_search_bench(const SearchBenchOptions& o) {
    std::string index = o.index, model_path = o.model;
    json build;
    bool made_now = false;
    if (o.synthetic > 0) {
        SyntheticIndexOptions so;
        so.images = o.synthetic;
        so.factory = o.factory;
        so.base_model = model_path.empty() ? default_model_path() : model_path;
        const int base_dim = DualEncoder::load(so.base_model).config().embed_dim;
        so.dim = o.dim > 0 ? o.dim : base_dim;
        so.model = so.dim == base_dim ? so.base_model : lifted_model(so.base_model, so.dim, cache_dir());
        so.real = o.real;
        so.batches = o.batches;
        const SyntheticIndex made = synthetic_index(so);
        index = made.dir;
        model_path = so.model;
        build = made.build;
        made_now = made.made_now;
    }
    if (index.empty()) throw Error("bench search: give --index DIR or --synthetic N");
    OpenIndex ix = open_index(index, model_path, false, true, {}, parse_precision_if_given(o.precision));
    search::Searcher searcher(*ix.store, *ix.model);

    // Queries: captions from the texts collection (or fixed phrases), images from the index's
    // files (or generated pictures for a synthetic index).
    std::vector<std::string> texts;
    ix.store->catalog().for_each_item(Collection::texts, [&](const storage::Item& it) {
        texts.push_back(it.text);
        return texts.size() < o.queries;
    });
    const char* fallback[] = {
        "a red apple",         "flag of Greece",   "a dog running on the beach",   "woman with blond hair",
        "sunset over the sea", "a green triangle", "smiling face with heart eyes", "a blue car"};
    for (std::size_t i = 0; texts.size() < o.queries; ++i)
        texts.push_back(std::string(fallback[i % 8]) + (i >= 8 ? " " + std::to_string(i) : ""));
    std::vector<std::vector<unsigned char>> images;
    ix.store->catalog().for_each_item(Collection::images, [&](const storage::Item& it) {
        for (const std::string& p : it.paths)
            if (fs::is_regular_file(p)) {
                images.push_back(read_file(p, 64 << 20));
                break;
            }
        return images.size() < o.queries;
    });
    if (images.empty()) {  // synthetic: the demo samples shipped with the source
        for (const auto& e :
             fs::directory_iterator(fs::path(default_model_path()).parent_path().parent_path() / "demo/samples"))
            if (e.path().extension() == ".png") images.push_back(read_file(e.path().string(), 64 << 20));
    }
    if (images.empty()) throw Error("bench search: no query images");

    auto in_process = [&](bool image, int effort = 0, std::size_t rescore = 0) {
        std::vector<double> ms;
        for (std::size_t i = 0; i < o.queries; ++i) {
            search::Query q;
            q.k = o.k;
            q.effort = effort;
            q.rescore = rescore;
            if (image)
                q.images.push_back({images[i % images.size()], "query", 1.0f});
            else
                q.texts.push_back({texts[i % texts.size()], 1.0f});
            const auto t = Clock::now();
            searcher.search(q);
            ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
        }
        return percentiles(ms);
    };
    in_process(false);  // warm-up: page in the model and the index
    const Percentiles text_local = in_process(false), image_local = in_process(true);
    const ExactTop truth = exact_top(*ix.store, searcher, texts, o.queries);
    const Recall recall = recall_at(searcher, truth, 0);
    struct EffortRow {
        int effort;
        std::size_t rescore;
        Recall recall;
        Percentiles text;
    };
    std::vector<EffortRow> sweep;
    if (!o.efforts.empty() || !o.rescores.empty())
        for (int effort : o.efforts.empty() ? std::vector<int>{0} : o.efforts)
            for (std::size_t rescore : o.rescores.empty() ? std::vector<std::size_t>{0} : o.rescores)
                sweep.push_back(
                    {effort, rescore, recall_at(searcher, truth, effort, rescore), in_process(false, effort, rescore)});

    // The same over HTTP: the real server, in this process, on a free port.
    web::ApiOptions api_options;
    api_options.static_dir = "/nonexistent";
    web::Api api(*ix.store, *ix.model, api_options);
    web::ServerOptions so;
    so.port = 0;
    so.access_log = false;
    web::HttpServer server(so, std::bind_front(&web::Api::handle, &api), &web::Api::error);
    server.listen();
    std::thread serving([&] { server.run(); });
    namespace asio = boost::asio;
    namespace beast = boost::beast;
    namespace http = beast::http;
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), server.port()});
    socket.set_option(asio::ip::tcp::no_delay(true));
    beast::flat_buffer buffer;
    auto over_http = [&](bool image) {
        std::vector<double> ms;
        for (std::size_t i = 0; i < o.queries; ++i) {
            json body{{"k", o.k}};
            if (image) {
                const auto& bytes = images[i % images.size()];
                std::string b64(beast::detail::base64::encoded_size(bytes.size()), '\0');
                b64.resize(beast::detail::base64::encode(b64.data(), bytes.data(), bytes.size()));
                body["image"] = b64;
            } else {
                body["text"] = texts[i % texts.size()];
            }
            http::request<http::string_body> req{http::verb::post, "/api/search", 11};
            req.set(http::field::host, "localhost");
            req.set(http::field::content_type, "application/json");
            req.body() = body.dump();
            req.prepare_payload();
            const auto t = Clock::now();
            http::write(socket, req);
            http::response<http::string_body> res;
            http::read(socket, buffer, res);
            ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
            if (res.result_int() != 200)
                throw Error("bench search: HTTP " + std::to_string(res.result_int()) + ": " + res.body());
        }
        return percentiles(ms);
    };
    const Percentiles text_http = over_http(false), image_http = over_http(true);
    server.stop();
    serving.join();
    const double rss = proc_status_mib("VmRSS"), rss_anon = proc_status_mib("RssAnon"),
                 rss_file = proc_status_mib("RssFile"), peak = proc_status_mib("VmHWM");

    const auto& v = ix.store->vectors(Collection::images);
    std::printf("\nquery latency on %s: %llu images, vector index %s%s, k = %zu, %zu queries each (ms)\n",
                index.c_str(), static_cast<unsigned long long>(ix.store->catalog().item_count(Collection::images)),
                v.factory().c_str(), v.is_trained() ? "" : " (untrained: exact scan)", o.k, o.queries);
    std::printf("%-24s %8s %8s %8s\n", "", "p50", "p99", "mean");
    const std::pair<const char*, Percentiles> rows[] = {{"text, in-process", text_local},
                                                        {"text, over HTTP", text_http},
                                                        {"image, in-process", image_local},
                                                        {"image, over HTTP", image_http}};
    json j = json::object();
    for (const auto& [name, p] : rows) {
        std::printf("%-24s %8.2f %8.2f %8.2f\n", name, p.p50, p.p99, p.mean);
        j[name] = {{"p50_ms", p.p50}, {"p99_ms", p.p99}, {"mean_ms", p.mean}};
    }
    std::printf(
        "recall of the text searches' top 10 against an exact scan of the stored vectors: %.3f "
        "(%zu queries, %.1f candidates re-scored a query)\n",
        recall.at_10, recall.queries, recall.rescored);
    j["recall_at_10"] = recall.at_10;
    j["rescored"] = recall.rescored;
    if (!sweep.empty()) {
        std::printf("\n%-8s %8s %10s %10s %10s %10s\n", "effort", "rescore", "recall@10", "rescored", "text p50",
                    "text p99");
        for (const EffortRow& r : sweep) {
            std::printf("%-8d %8zu %10.3f %10.1f %10.2f %10.2f\n", r.effort, r.rescore, r.recall.at_10,
                        r.recall.rescored, r.text.p50, r.text.p99);
            j["efforts"].push_back({{"effort", r.effort},
                                    {"rescore", r.rescore},
                                    {"recall_at_10", r.recall.at_10},
                                    {"rescored", r.recall.rescored},
                                    {"text_p50_ms", r.text.p50},
                                    {"text_p99_ms", r.text.p99}});
        }
        std::printf(
            "(effort: the IVF lists probed; rescore: compressed candidates re-scored exactly; in-process text queries; "
            "0 is the default)\n");
    }
    std::printf("memory at the end: resident %.0f MiB (anonymous %.0f, mapped files %.0f), peak %.0f MiB%s\n", rss,
                rss_anon, rss_file, peak, made_now ? " (the peak includes making the index)" : "");
    j["memory_mib"] = {{"resident", rss}, {"anonymous", rss_anon}, {"file", rss_file}, {"peak", peak}};
    if (!build.empty()) {
        const double gb = 1e9;
        std::printf(
            "index made (%s): loading %.1f s (generating vectors %.1f of it), training and adding %.1f s, %.1f s in "
            "all; "
            "peak memory %.0f MiB; on disk: catalog %.2f GB, float16 copies %.2f GB, vector index %.2f GB\n",
            build.value("load", "").c_str(), build.value("loading_s", 0.0), build.value("generating_s", 0.0),
            build.value("training_adding_s", 0.0), build.value("total_s", 0.0), build.value("peak_rss_mib", 0.0),
            build.value("catalog_bytes", 0.0) / gb, build.value("rescore_bytes", 0.0) / gb,
            build.value("snapshot_bytes", 0.0) / gb);
        j["build"] = build;
    }
    if (!o.json_out.empty()) write_file_atomic(o.json_out, j.dump(2));
}

}  // namespace opsis::bench
