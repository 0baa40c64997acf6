#include "benchmarks/search_bench.h"

#include "benchmarks/bench_support.h"

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

// An index of n clustered unit vectors (no files behind them) made with the model's identity,
// so real query embeddings search it.
std::string synthetic_index(std::size_t n, const std::string& factory, const std::string& model_path) {
    std::string name = factory;
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    const std::string dir = cache_dir() + "/bench-search-" + std::to_string(n) + "-" + name;
    if (fs::exists(dir + "/complete")) return dir;
    fs::remove_all(dir);
    std::printf("making a synthetic index of %zu vectors (%s) in %s ...\n", n, factory.c_str(), dir.c_str());
    std::fflush(stdout);
    const DualEncoder model = DualEncoder::load(model_path);
    storage::StoreOptions o;
    o.image_factory = factory;
    o.snapshot_every = ~std::uint64_t{0};
    auto store = storage::IndexStore::open(dir, identify_model(model_path, model), true, o);
    const std::size_t d = static_cast<std::size_t>(model.config().embed_dim);
    std::mt19937_64 rng(1);
    const std::vector<float> centres = random_unit_centres(2000, d, rng);
    for (std::size_t done = 0; done < n;) {
        const std::size_t chunk = std::min<std::size_t>(10000, n - done);
        const std::vector<float> vectors = clustered_vectors(chunk, d, centres, rng);
        storage::Catalog::Batch b(store->catalog());
        for (std::size_t i = 0; i < chunk; ++i, ++done) {
            storage::Item it;
            it.hash = "synthetic-" + std::to_string(done);
            const std::int64_t id = b.add_item(Collection::images, it, vectors.data() + i * d, d);
            b.add_path(id, "/synthetic/" + std::to_string(done) + ".png", 0, 0);
        }
        store->commit(b);
    }
    store->train_if_ready(Collection::images);
    store->snapshot();
    write_file_atomic(dir + "/complete", std::string("ok\n"));
    return dir;
}

struct Recall {
    double at_10 = 0, rescored = 0;
    std::size_t queries = 0;
};

// What share of the true 10 nearest stored vectors (an exact scan, blocked matrix products
// over the catalog) the searches find, without collapsing near-duplicates.
Recall text_recall(const storage::IndexStore& store, const search::Searcher& searcher,
                   const std::vector<std::string>& texts, std::size_t n) {
    constexpr std::size_t kTop = 10, kBlock = 8192;
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
    using Entry = std::pair<float, std::int64_t>;
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
    Recall r;
    r.queries = n;
    std::size_t found = 0, truth = 0;
    for (std::size_t j = 0; j < n; ++j) {
        const search::Result got = searcher.search(queries[j]);
        r.rescored += static_cast<double>(got.rescored);
        std::set<std::int64_t> hit;
        for (const search::Hit& h : got.hits) hit.insert(h.id);
        for (const Entry& e : best[j]) found += hit.count(e.second);
        truth += best[j].size();
    }
    r.at_10 = truth ? static_cast<double>(found) / static_cast<double>(truth) : 0;
    r.rescored /= static_cast<double>(std::max<std::size_t>(n, 1));
    return r;
}

}  // namespace

void run_search_bench(const SearchBenchOptions& o) {
    std::string index = o.index, model_path = o.model;
    if (o.synthetic > 0) {
        if (model_path.empty()) model_path = default_model_path();
        index = synthetic_index(o.synthetic, o.factory, model_path);
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

    auto in_process = [&](bool image) {
        std::vector<double> ms;
        for (std::size_t i = 0; i < o.queries; ++i) {
            search::Query q;
            q.k = o.k;
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
    const Recall recall = text_recall(*ix.store, searcher, texts, o.queries);

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
    if (!o.json_out.empty()) write_file_atomic(o.json_out, j.dump(2));
}

}  // namespace opsis::bench
