#include "benchmarks/synthetic_index.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>

#include "benchmarks/bench_support.h"
#include "benchmarks/lifted_model.h"
#include "core/error.h"
#include "core/file_io.h"
#include "encoder/dual_encoder.h"
#include "index_folder/open_index.h"
#include "storage/index_store.h"

namespace opsis::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using storage::Collection;

// Adds items through a Catalog::Bulk or a Catalog::Batch, committing every `every` items.
template <class Writer>
class Loader {
public:
    Loader(storage::IndexStore& store, std::size_t every) : store_(store), writer_(store.catalog()), every_(every) {}
    void add(Collection c, storage::Item item, const float* vector, std::size_t dim,
             const std::vector<std::pair<std::string, storage::PathEntry>>& paths) {
        const std::int64_t id = writer_.add_item(c, std::move(item), vector, dim);
        for (const auto& [path, entry] : paths) writer_.add_path(id, path, entry.size, entry.mtime_ns);
        if (++pending_ == every_) flush();
    }
    void flush() {
        if (pending_ == 0) return;
        store_.commit(writer_);
        pending_ = 0;
    }

private:
    storage::IndexStore& store_;
    Writer writer_;
    std::size_t every_, pending_ = 0;
};

struct Progress {
    std::size_t total = 0, done = 0;
    Clock::time_point start = Clock::now(), shown{};
    void step(std::size_t n) {
        done += n;
        if (done < total && Clock::now() - shown < std::chrono::seconds(2)) return;
        shown = Clock::now();
        std::fprintf(stderr, "\r  %zu / %zu items (%.0f/s)   ", done, total,
                     static_cast<double>(done) / std::max(seconds_since(start), 1e-9));
        if (done >= total) std::fprintf(stderr, "\n");
        std::fflush(stderr);
    }
};

std::string cleaned(std::string s) {
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return s;
}

// The real index's vectors, placed in `dim` dimensions when its model's are fewer.
struct RealSource {
    std::unique_ptr<storage::Catalog> catalog;
    int dim = 0;
    std::vector<float> map;  // empty: no lift
};

RealSource open_real(const std::string& real, const std::string& base_model, int dim) {
    RealSource r;
    r.catalog = storage::Catalog::open(real + "/catalog", false, true);
    const std::optional<std::string> recorded = r.catalog->meta("model");
    if (!recorded) throw input_error("index", real, "records no model");
    const json m = json::parse(*recorded);
    const DualEncoder base = DualEncoder::load(base_model);
    const storage::ModelIdentity base_id = identify_model(base_model, base);
    if (m.value("sha256", "") != base_id.sha256)
        throw input_error("index", real,
                          "was made with another model than " + base_model +
                              " (its vectors must come from the model the benchmark's queries use)");
    r.dim = m.value("dim", 0);
    if (r.dim != dim) r.map = lift_map(r.dim, dim);
    return r;
}

template <class Writer>
void load(storage::IndexStore& store, const SyntheticIndexOptions& o, std::size_t every, json& build) {
    Loader<Writer> loader(store, every);
    const std::size_t d = static_cast<std::size_t>(o.dim);
    Progress progress;
    progress.total = o.images;
    std::vector<float> placed(d);
    std::size_t real_images = 0, real_texts = 0;
    // The item numbers of a collection this part holds (bench merge's shards).
    const auto mine = [&o](std::size_t n) { return n % o.shards == o.shard; };
    if (!o.real.empty()) {
        RealSource r = open_real(o.real, o.base_model, o.dim);
        progress.total += r.catalog->item_count(Collection::texts);
        for (Collection c : storage::kCollections)
            r.catalog->for_each_item(c, [&](const storage::Item& it) {
                if (c == Collection::images && real_images == o.images) return false;
                if (!mine(c == Collection::images ? real_images : real_texts)) {
                    ++(c == Collection::images ? real_images : real_texts);
                    progress.step(1);
                    return true;
                }
                const std::vector<float> v = r.catalog->vector(c, it.id);
                if (static_cast<int>(v.size()) != r.dim) return true;
                if (r.map.empty())
                    placed = v;
                else
                    lift(r.map, r.dim, o.dim, v.data(), placed.data(), 1);
                std::vector<std::pair<std::string, storage::PathEntry>> paths;
                if (c == Collection::images)
                    for (const std::string& p : it.paths)
                        paths.push_back({p, r.catalog->find_path(p).value_or(storage::PathEntry{})});
                storage::Item copy = it;
                copy.paths.clear();
                loader.add(c, std::move(copy), placed.data(), d, paths);
                ++(c == Collection::images ? real_images : real_texts);
                progress.step(1);
                return true;
            });
    }
    std::mt19937_64 rng(1);
    const std::vector<float> centres = random_unit_centres(2000, d, rng);
    double generating = 0;
    for (std::size_t done = real_images; done < o.images;) {
        const std::size_t chunk = std::min<std::size_t>(10000, o.images - done);
        const auto t = Clock::now();
        const std::vector<float> vectors = clustered_vectors(chunk, d, centres, rng);
        generating += seconds_since(t);
        for (std::size_t i = 0; i < chunk; ++i, ++done) {
            if (!mine(done)) continue;
            storage::Item it;
            it.hash = "synthetic-" + std::to_string(done);
            loader.add(Collection::images, std::move(it), vectors.data() + i * d, d,
                       {{"/synthetic/" + std::to_string(done) + ".png", storage::PathEntry{}}});
        }
        progress.step(chunk);
    }
    loader.flush();
    build["real_images"] = real_images;
    build["real_texts"] = real_texts;
    build["generating_s"] = generating;
}

}  // namespace

SyntheticIndex synthetic_index(const SyntheticIndexOptions& o) {
    std::string name =
        "bench-search-" + std::to_string(o.images) + "-" + std::to_string(o.dim) + "d-" + cleaned(o.factory);
    if (!o.real.empty()) name += "-real-" + cleaned(fs::path(o.real).filename().string());
    if (o.batches) name += "-batches";
    if (o.shards > 1) name += "-part-" + std::to_string(o.shard) + "-of-" + std::to_string(o.shards);
    if (!o.trained.empty())
        name += "-trained-" + storage::VectorIndex::load_trained(o.trained)->trained_from().substr(0, 12);
    SyntheticIndex out{(o.cache.empty() ? cache_dir() : o.cache) + "/" + name, json::object()};
    if (fs::exists(out.dir + "/complete")) {
        out.build = json::parse(read_file(out.dir + "/build.json", 1 << 20));
        return out;
    }
    fs::remove_all(out.dir);
    std::printf("making a synthetic index of %zu %d-d vectors (%s%s, %s) in %s ...\n", o.images, o.dim,
                o.factory.c_str(),
                o.real.empty() ? "" : (", the pictures and captions of " + o.real + " first").c_str(),
                o.batches ? "catalog batches of 10,000" : "catalog bulks of 100,000", out.dir.c_str());
    std::fflush(stdout);
    const DualEncoder model = DualEncoder::load(o.model);
    if (model.config().embed_dim != o.dim)
        throw input_error(
            "model", o.model,
            "makes " + std::to_string(model.config().embed_dim) + "-d vectors, not " + std::to_string(o.dim) + "-d");
    storage::StoreOptions so;
    so.image_factory = o.factory;
    so.image_trained = o.trained;
    so.snapshot_every = ~std::uint64_t{0};
    json& b = out.build;
    b["load"] = o.batches ? "batches of 10,000" : "bulks of 100,000";
    const auto start = Clock::now();
    {
        auto store = storage::IndexStore::open(out.dir, identify_model(o.model, model), true, so);
        if (o.batches)
            load<storage::Catalog::Batch>(*store, o, 10000, b);
        else
            load<storage::Catalog::Bulk>(*store, o, 100000, b);
        b["loading_s"] = seconds_since(start);
        std::printf("  loaded in %.1f s (%.1f s of it generating vectors); training the vector index and adding...\n",
                    b["loading_s"].get<double>(), b["generating_s"].get<double>());
        std::fflush(stdout);
        const auto t = Clock::now();
        store->train_if_ready(Collection::images);
        store->train_if_ready(Collection::texts);
        store->snapshot();
        b["training_adding_s"] = seconds_since(t);
        const json stats = store->stats();
        b["catalog_bytes"] = stats.at("catalog_bytes");
        b["rescore_bytes"] = stats.at("images").at("rescore_bytes");
        b["snapshot_bytes"] = stats.at("images").at("snapshot_bytes");
        b["images"] = stats.at("images").at("items");
    }
    b["total_s"] = seconds_since(start);  // the catalog closed: its compactions finished
    b["peak_rss_mib"] = proc_status_mib("VmHWM");
    write_file_atomic(out.dir + "/build.json", b.dump(2) + "\n");
    write_file_atomic(out.dir + "/complete", std::string("ok\n"));
    out.made_now = true;
    return out;
}

}  // namespace opsis::bench
