#include <faiss/IndexFlat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <unistd.h>

#include "benchmarks/bench_support.h"
#include "benchmarks/index_bench.h"
#include "core/error.h"
#include "core/file_io.h"
#include "storage/vector_index.h"

namespace opsis::bench {
namespace {

using json = nlohmann::json;
double recall(const std::vector<std::int64_t>& found, const std::int64_t* truth, int k) {
    std::set<std::int64_t> t(truth, truth + k);
    int hits = 0;
    for (int i = 0; i < k && i < static_cast<int>(found.size()); ++i)
        hits += t.count(found[static_cast<std::size_t>(i)]) > 0;
    return static_cast<double>(hits) / k;
}

}  // namespace

void run_vector_bench(const VectorBenchOptions& o) {
    std::mt19937_64 rng(1);
    const std::size_t dim = static_cast<std::size_t>(o.dim);
    const std::vector<float> centres = random_unit_centres(static_cast<std::size_t>(o.clusters), dim, rng);
    std::printf("generating %zu + %zu clustered %d-d unit vectors (%d clusters) ...\n", o.n, o.queries, o.dim,
                o.clusters);
    std::fflush(stdout);
    const std::vector<float> base = clustered_vectors(o.n, dim, centres, rng);
    const std::vector<float> queries = clustered_vectors(o.queries, dim, centres, rng);
    std::vector<std::int64_t> ids(o.n);
    for (std::size_t i = 0; i < o.n; ++i) ids[i] = static_cast<std::int64_t>(i);

    // Exact top-k by FAISS's flat index, batched (its BLAS path): the ground truth.
    std::vector<std::int64_t> truth(o.queries * static_cast<std::size_t>(o.k));
    faiss::IndexFlatIP exact(o.dim);
    exact.add(static_cast<faiss::Index::idx_t>(o.n), base.data());
    {
        std::vector<float> scores(truth.size());
        exact.search(static_cast<faiss::Index::idx_t>(o.queries), queries.data(), o.k, scores.data(), truth.data());
    }
    // FAISS's own flat search of single queries, one after another: the reference for ours.
    const std::size_t flat_queries = o.n >= 200000 ? std::min<std::size_t>(o.queries, 20) : o.queries;
    double faiss_single_qps = 0;
    {
        std::vector<float> scores(static_cast<std::size_t>(o.k));
        std::vector<faiss::Index::idx_t> found(static_cast<std::size_t>(o.k));
        const auto t = Clock::now();
        for (std::size_t q = 0; q < flat_queries; ++q)
            exact.search(1, queries.data() + q * dim, o.k, scores.data(), found.data());
        faiss_single_qps = static_cast<double>(flat_queries) / seconds_since(t);
    }

    json rows = json::array();
    std::printf("\n%-16s %10s %10s %10s %12s %12s %10s %14s %12s\n", "index", "train s", "add s", "memory MiB",
                "queries/s", "batched q/s", ("R@" + std::to_string(o.k)).c_str(), "rescored R@k", "rescored q/s");
    double opsis_flat_single_qps = 0;
    for (const std::string& factory : o.factories) {
        const double rss0 = proc_status_mib("VmRSS");
        auto index = storage::VectorIndex::create(o.dim, factory);
        double train_s = 0;
        if (!index->is_trained()) {
            const std::size_t m = storage::training_sample_size(index->min_training_points(), o.n);
            const auto t = Clock::now();
            index->train(m, base.data());  // the vectors are in random order: a prefix is a sample
            train_s = seconds_since(t);
        }
        const auto t_add = Clock::now();
        for (std::size_t i = 0; i < o.n; i += 65536) {
            const std::size_t m = std::min<std::size_t>(65536, o.n - i);
            index->add(m, ids.data() + i, base.data() + i * dim);
        }
        const double add_s = seconds_since(t_add);
        const double memory = static_cast<double>(index->memory_bytes()) / (1 << 20);
        const double rss_growth = proc_status_mib("VmRSS") - rss0;

        // Queries one at a time, as a server answers them.
        const std::size_t nq = factory.rfind("Flat", 0) == 0 ? flat_queries : o.queries;
        double r_plain = 0, r_rescored = 0;
        auto t = Clock::now();
        for (std::size_t q = 0; q < nq; ++q) {
            const auto hits = index->search(queries.data() + q * dim, static_cast<std::size_t>(o.k));
            std::vector<std::int64_t> found;
            for (const auto& h : hits) found.push_back(h.id);
            r_plain += recall(found, truth.data() + q * static_cast<std::size_t>(o.k), o.k);
        }
        const double qps = static_cast<double>(nq) / seconds_since(t);
        if (factory == "Flat") opsis_flat_single_qps = qps;
        // Batches of 64, as the server answers searches that arrive together.
        t = Clock::now();
        for (std::size_t q = 0; q < nq; q += 64)
            index->search(std::min<std::size_t>(64, nq - q), queries.data() + q * dim, static_cast<std::size_t>(o.k));
        const double batched_qps = static_cast<double>(nq) / seconds_since(t);
        // Re-scoring: more candidates from the index, then exact inner products with the
        // stored vectors (which Opsis keeps in its catalog).
        t = Clock::now();
        for (std::size_t q = 0; q < nq; ++q) {
            const float* qv = queries.data() + q * dim;
            auto hits = index->search(qv, static_cast<std::size_t>(std::max(o.rescore, o.k)));
            for (auto& h : hits) {
                const float* v = base.data() + static_cast<std::size_t>(h.id) * dim;
                float dot = 0;
                for (std::size_t d = 0; d < dim; ++d) dot += qv[d] * v[d];
                h.score = dot;
            }
            std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
            std::vector<std::int64_t> found;
            for (std::size_t i = 0; i < hits.size() && i < static_cast<std::size_t>(o.k); ++i)
                found.push_back(hits[i].id);
            r_rescored += recall(found, truth.data() + q * static_cast<std::size_t>(o.k), o.k);
        }
        const double qps_rescored = static_cast<double>(nq) / seconds_since(t);
        r_plain /= static_cast<double>(nq);
        r_rescored /= static_cast<double>(nq);
        std::printf("%-16s %10.1f %10.1f %10.0f %12.1f %12.1f %10.3f %14.3f %12.1f\n", factory.c_str(), train_s, add_s,
                    memory, qps, batched_qps, r_plain, r_rescored, qps_rescored);
        std::fflush(stdout);
        rows.push_back({{"factory", factory},
                        {"train_s", train_s},
                        {"add_s", add_s},
                        {"memory_mib", memory},
                        {"rss_growth_mib", rss_growth},
                        {"queries", nq},
                        {"queries_per_s", qps},
                        {"batched_queries_per_s", batched_qps},
                        {"recall", r_plain},
                        {"rescored_recall", r_rescored},
                        {"rescored_queries_per_s", qps_rescored}});
    }
    std::printf(
        "(n = %zu, d = %d, k = %d, %zu queries; re-scoring takes the top %d from the index and ranks them exactly;\n"
        " queries/s are single queries one after another, batched q/s in batches of 64; Flat at 200k+ is timed on its\n"
        " first 20 queries)\n",
        o.n, o.dim, o.k, o.queries, o.rescore);
    if (opsis_flat_single_qps > 0)
        std::printf("single-query Flat: opsis (sgemv) %.1f q/s, FAISS IndexFlatIP %.1f q/s: %.2fx\n",
                    opsis_flat_single_qps, faiss_single_qps, opsis_flat_single_qps / faiss_single_qps);
    if (!o.json_out.empty())
        write_file_atomic(o.json_out, json{{"n", o.n},
                                           {"dim", o.dim},
                                           {"k", o.k},
                                           {"rows", rows},
                                           {"faiss_flat_single_queries_per_s", faiss_single_qps}}
                                          .dump(2));
}

}  // namespace opsis::bench
