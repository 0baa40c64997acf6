#include "benchmarks/watch_bench.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <unistd.h>

#include "benchmarks/bench_support.h"
#include "benchmarks/synthetic_photos.h"
#include "core/error.h"
#include "core/json_text.h"
#include "index_folder/open_index.h"
#include "indexer/folder_watcher.h"

namespace opsis::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using storage::Collection;

// Nearest rank: the smallest value with at least q of them at or below it.
double percentile(std::vector<double> values, double q) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

json latency_json(const std::vector<double>& s) {
    return {{"p50", percentile(s, 0.5)},
            {"p90", percentile(s, 0.9)},
            {"p99", percentile(s, 0.99)},
            {"max", percentile(s, 1.0)}};
}

// Searchable: the path is in the catalog and its vector in the vector index (a commit writes
// the catalog first, then the vectors).
bool searchable(const storage::IndexStore& store, const std::string& path, std::size_t vectors_at_least) {
    return store.catalog().find_path(path) && store.vectors(Collection::images).size() >= vectors_at_least;
}

}  // namespace

void run_watch_bench(const WatchBenchOptions& o) {
    int w = 0, h = 0;
    if (std::sscanf(o.photo_size.c_str(), "%dx%d", &w, &h) != 2 || w < 16 || h < 16 || w > 12000 || h > 12000)
        throw input_error("--photo-size", o.photo_size, "expected WIDTHxHEIGHT between 16 and 12000");
    if (o.at_rest + o.burst == 0)
        throw Error("bench watch: give --at-rest or --burst photos", Error::Kind::invalid_input);
    std::string source;
    const std::vector<std::string> photos = synthetic_photo_folder(o.at_rest + o.burst, w, h, source);
    const std::string model_path = o.model.empty() ? default_model_path() : o.model;
    const Precision precision = parse_precision(o.precision);
    const std::string work = cache_dir() + "/bench-watch-" + std::to_string(::getpid());
    fs::remove_all(work);
    fs::create_directories(work + "/watched");
    const std::string watched = work + "/watched";

    std::vector<double> rest, burst_latency;
    double burst_written = 0, burst_done = 0, bulk_seconds = 0;
    indexer::WatchStatus after_burst;
    {
        OpenIndex ix = open_index(work + "/index", model_path, true, true, {}, precision);
        indexer::WatchOptions wo;
        wo.settle = std::chrono::milliseconds(o.settle_ms);
        indexer::FolderWatcher watcher(*ix.store, *ix.model, {watched}, wo);
        watcher.start();
        while (watcher.status().state != "watching") std::this_thread::sleep_for(std::chrono::milliseconds(10));
        std::printf("bench watch: %s, %zu photos %dx%d from %s, settle %d ms\n", ix.model->config().name.c_str(),
                    photos.size(), w, h, source.c_str(), o.settle_ms);
        std::fflush(stdout);

        // At rest: one photo, then wait until it is searchable.
        std::size_t vectors = 0;
        for (std::size_t i = 0; i < o.at_rest; ++i) {
            const std::string to = watched + "/rest-" + std::to_string(i) + ".jpg";
            const auto t0 = Clock::now();
            fs::copy_file(photos[i], to);
            ++vectors;
            while (!searchable(*ix.store, to, vectors)) {
                if (seconds_since(t0) > 60) throw Error("bench watch: " + to + " was not indexed within 60 s");
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            rest.push_back(seconds_since(t0));
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }

        // A burst: every photo copied in as fast as it goes; each polled until searchable.
        const std::size_t n = o.burst;
        std::vector<double> written(n, -1), seen(n, -1);
        std::atomic<std::size_t> copied{0};
        const auto t0 = Clock::now();
        std::thread writer([&] {
            for (std::size_t i = 0; i < n; ++i) {
                fs::copy_file(photos[o.at_rest + i], watched + "/burst-" + std::to_string(i) + ".jpg");
                written[i] = seconds_since(t0);
                copied = i + 1;
            }
        });
        std::size_t done = 0;
        while (done < n) {
            const std::size_t available = copied.load();
            for (std::size_t i = 0; i < available; ++i)
                if (seen[i] < 0 && ix.store->catalog().find_path(watched + "/burst-" + std::to_string(i) + ".jpg")) {
                    seen[i] = seconds_since(t0);
                    ++done;
                }
            if (seconds_since(t0) > 60 + 0.5 * static_cast<double>(n)) {
                writer.join();
                throw Error("bench watch: the burst was not indexed in time (" + std::to_string(done) + " of " +
                            std::to_string(n) + ")");
            }
            // Each look reads every path not yet seen: rarely enough not to slow the watcher.
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        writer.join();
        burst_written = n ? written[n - 1] : 0;
        burst_done = n ? *std::max_element(seen.begin(), seen.end()) : 0;
        for (std::size_t i = 0; i < n; ++i) burst_latency.push_back(seen[i] - written[i]);
        after_burst = watcher.status();
        watcher.stop();
    }
    if (o.burst > 0) {
        // The same photos by a bulk job into a fresh index, for the throughput's reference.
        OpenIndex ix = open_index(work + "/bulk-index", model_path, true, true, {}, precision);
        indexer::JobOptions job;
        job.show_progress = false;
        std::vector<indexer::InputSpec> inputs;
        for (std::size_t i = 0; i < o.burst; ++i) inputs.push_back({indexer::InputKind::path, photos[o.at_rest + i]});
        const auto t0 = Clock::now();
        indexer::index_images(*ix.store, *ix.model, inputs, job);
        bulk_seconds = seconds_since(t0);
    }
    fs::remove_all(work);

    const json figures{
        {"photo_size", o.photo_size},
        {"settle_ms", o.settle_ms},
        {"at_rest", {{"photos", rest.size()}, {"seconds", latency_json(rest)}}},
        {"burst",
         {{"photos", o.burst},
          {"written_in_seconds", burst_written},
          {"all_searchable_after_seconds", burst_done},
          {"photos_per_second", burst_done > 0 ? static_cast<double>(o.burst) / burst_done : 0},
          {"seconds", latency_json(burst_latency)},
          {"rounds", after_burst.rounds},
          {"rescans", after_burst.rescans}}},
        {"bulk", {{"photos_per_second", bulk_seconds > 0 ? static_cast<double>(o.burst) / bulk_seconds : 0}}}};
    if (!rest.empty())
        std::printf("at rest (%zu photos, one at a time): written -> searchable p50 %.3f s, p90 %.3f s, max %.3f s\n",
                    rest.size(), percentile(rest, 0.5), percentile(rest, 0.9), percentile(rest, 1.0));
    if (o.burst > 0) {
        const double rate = figures["burst"]["photos_per_second"], bulk = figures["bulk"]["photos_per_second"];
        std::printf(
            "burst (%zu photos copied in %.1f s): all searchable %.1f s after the first copy began, %.1f photos/s, "
            "in %llu rounds\n  written -> searchable p50 %.2f s, p90 %.2f s, p99 %.2f s, max %.2f s\n",
            o.burst, burst_written, burst_done, rate, static_cast<unsigned long long>(after_burst.rounds),
            percentile(burst_latency, 0.5), percentile(burst_latency, 0.9), percentile(burst_latency, 0.99),
            percentile(burst_latency, 1.0));
        std::printf("bulk index add of the same photos: %.1f photos/s (the watcher's burst ran at %.2fx of it)\n", bulk,
                    bulk > 0 ? rate / bulk : 0);
    }
    if (!o.json_out.empty()) std::ofstream(o.json_out) << json_text(figures, 2) << "\n";
}

}  // namespace opsis::bench
