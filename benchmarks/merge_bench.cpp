#include "benchmarks/merge_bench.h"

#include <cstdio>
#include <filesystem>

#include "benchmarks/bench_support.h"
#include "benchmarks/lifted_model.h"
#include "benchmarks/search_bench.h"
#include "benchmarks/synthetic_index.h"
#include "core/error.h"
#include "encoder/dual_encoder.h"
#include "index_folder/open_index.h"
#include "indexer/merge_shards.h"
#include "storage/index_store.h"

namespace opsis::bench {
namespace {

namespace fs = std::filesystem;
using storage::Collection;

}  // namespace

void run_merge_bench(const MergeBenchOptions& o) {
    if (o.synthetic == 0) throw Error("bench merge: give --synthetic N");
    if (o.shards < 2) throw input_error("shards", std::to_string(o.shards), "must be at least 2");
    SyntheticIndexOptions so;
    so.images = o.synthetic;
    so.base_model = o.model.empty() ? default_model_path() : o.model;
    const int base_dim = DualEncoder::load(so.base_model).config().embed_dim;
    so.dim = o.dim > 0 ? o.dim : base_dim;
    so.model = so.dim == base_dim ? so.base_model : lifted_model(so.base_model, so.dim, cache_dir());
    so.real = o.real;

    // The train job: a slice, exact, and the shared training made from it.
    SyntheticIndexOptions sample = so;
    sample.factory = "Flat";
    sample.shards = o.train_slices;
    const SyntheticIndex slice = synthetic_index(sample);
    const std::string trained = slice.dir + "/" + o.factory + ".trained";
    double training_s = 0;
    std::size_t sample_size = 0;
    {
        const OpenIndex ix = open_index(slice.dir, "", false, false, {.read_only = true});
        sample_size = ix.store->catalog().item_count(Collection::images);
        if (!fs::exists(trained)) {
            std::printf("training %s on the slice (1 in %u of the vectors) ...\n", o.factory.c_str(), o.train_slices);
            std::fflush(stdout);
            const auto t = Clock::now();
            ix.store->train_shared(Collection::images, o.factory)->save(trained);
            training_s = seconds_since(t);
        }
    }

    // The array tasks: each part from the shared training.
    std::vector<std::string> parts;
    double slowest_part = 0, parts_total = 0;
    for (std::uint32_t i = 0; i < o.shards; ++i) {
        SyntheticIndexOptions part = so;
        part.shard = i;
        part.shards = o.shards;
        part.trained = trained;
        part.factory = o.factory;  // what the training is (named in what it prints)
        const SyntheticIndex made = synthetic_index(part);
        parts.push_back(made.dir);
        const double s = made.build.value("total_s", 0.0);
        slowest_part = std::max(slowest_part, s);
        parts_total += s;
    }

    // The merges, one after the other.
    struct Merged {
        std::string dir;
        indexer::MergeSummary summary;
        double peak_mib = 0;
    };
    auto merge = [&](bool retrain) {
        Merged m;
        m.dir = cache_dir() + "/bench-merge-" + std::to_string(o.synthetic) + "-" + std::to_string(so.dim) + "d-" +
                std::to_string(o.shards) + (retrain ? "-retrained" : "-joined");
        fs::remove_all(m.dir);
        std::printf("merging the %u parts (%s) into %s ...\n", o.shards, retrain ? "training anew" : "joining lists",
                    m.dir.c_str());
        std::fflush(stdout);
        indexer::MergeOptions mo;
        mo.retrain = retrain;
        m.summary = indexer::merge_shards(parts, m.dir, mo);
        m.peak_mib = proc_status_mib("VmHWM");
        return m;
    };
    const Merged joined = merge(false);
    const Merged retrained = merge(true);

    std::printf("\nbench merge: %zu %d-d vectors (%s), %u parts\n", o.synthetic, so.dim, o.factory.c_str(), o.shards);
    char training[64] = "cached (made by an earlier run)";
    if (training_s > 0) std::snprintf(training, sizeof training, "%.1f s", training_s);
    std::printf("  train job: %zu vectors (1 in %u); training %s\n", sample_size, o.train_slices, training);
    std::printf("  parts from the shared training: %.1f s the slowest, %.1f s together (as made, cached)\n",
                slowest_part, parts_total);
    for (const Merged* m : {&joined, &retrained})
        std::printf(
            "  merge, %-44s %7.1f s in all, of it vector index %7.1f s (catalog and float16 copies: the rest)\n",
            (m->summary.vectors.at(Collection::images) + ":").c_str(), m->summary.seconds, m->summary.vector_seconds);
    std::printf("  peak resident memory of this process after both merges: %.0f MiB\n", retrained.peak_mib);
    std::fflush(stdout);

    for (const Merged* m : {&joined, &retrained}) {
        std::printf("\n== searching the index merged by %s ==\n", m->summary.vectors.at(Collection::images).c_str());
        std::fflush(stdout);
        SearchBenchOptions sb;
        sb.index = m->dir;
        sb.model = so.model;
        sb.efforts = o.efforts;
        sb.rescores = o.rescores;
        sb.queries = o.queries;
        run_search_bench(sb);
    }
    if (!o.keep)
        for (const Merged* m : {&joined, &retrained}) fs::remove_all(m->dir);
}

}  // namespace opsis::bench
