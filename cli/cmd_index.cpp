// opsis index: build and maintain an index folder (catalog + vector indexes).
#include <atomic>
#include <csignal>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/json_text.h"
#include "indexer/job_summary_json.h"
#include "core/utf8.h"
#include "core/error.h"
#include "indexer/folder_watcher.h"
#include "indexer/cluster_plan.h"
#include "indexer/index_job.h"
#include "indexer/merge_shards.h"
#include "index_folder/open_index.h"
#include "cli/precision_option.h"

namespace opsis::cli {
namespace {

using json = nlohmann::json;
using storage::Collection;

struct IndexArgs {
    std::string index, model, image_factory = "Flat", text_factory = "Flat", collection = "all";
    std::string precision;  // empty: the index's (fp32 for a new one)
    std::string shard;      // "i/N": only that part of the files (indexer::InputSlice)
    std::string trained;    // a shared training a new index starts from (index train --out)
    indexer::ClusterPlan plan;
    indexer::MergeOptions merge;
    std::vector<std::string> paths, lists, manifests, text_files, delete_paths;
    std::vector<std::int64_t> ids;
    std::string extensions;
    int settle_ms = 250;
    bool as_json = false;
    indexer::JobOptions job;
};

// Set by SIGINT or SIGTERM: the job stops after committing what it has in flight.
std::atomic<bool> g_interrupted{false};

void on_interrupt(int) {
    g_interrupted = true;
    std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends it at once (the catalog stays consistent)
    std::signal(SIGTERM, SIG_DFL);
}

void print_summary(const indexer::JobSummary& s, const std::string& dir, bool as_json) {
    if (as_json) {
        std::printf("%s\n", json_text(indexer::summary_json(s)).c_str());
        return;
    }
    std::printf(
        "indexed %llu files in %.1f s into %s: %llu added, %llu changed, %llu duplicates, %llu unchanged, "
        "%llu failed",
        static_cast<unsigned long long>(s.files), s.seconds, dir.c_str(), static_cast<unsigned long long>(s.added),
        static_cast<unsigned long long>(s.changed), static_cast<unsigned long long>(s.duplicates),
        static_cast<unsigned long long>(s.unchanged), static_cast<unsigned long long>(s.failed));
    if (s.failed_before)
        std::printf(", %llu failed before (unchanged, skipped)", static_cast<unsigned long long>(s.failed_before));
    if (s.dated)
        std::printf(", %llu indexed before dates were kept: dated now", static_cast<unsigned long long>(s.dated));
    if (s.pruned) std::printf(", %llu pruned", static_cast<unsigned long long>(s.pruned));
    if (s.texts_added) std::printf(", %llu texts added", static_cast<unsigned long long>(s.texts_added));
    if (s.other_shards) std::printf(", %llu left to the other shards", static_cast<unsigned long long>(s.other_shards));
    std::printf("\n");
    for (const auto& [reason, n] : s.failure_reasons)
        std::printf("  failed: %llu x %s\n", static_cast<unsigned long long>(n), reason.c_str());
    if (s.failed) std::printf("  (opsis index errors --index %s lists every failure)\n", dir.c_str());
    for (std::size_t i = 0; i < s.problems.size() && i < 20; ++i) std::printf("  problem: %s\n", s.problems[i].c_str());
    if (s.problems.size() > 20) std::printf("  ... and %zu more problems\n", s.problems.size() - 20);
    if (g_interrupted) std::printf("stopped early on request; run the same command again to continue\n");
}

std::vector<Collection> collections_of(const std::string& name) {
    if (name == "all") return {Collection::images, Collection::texts};
    return {storage::parse_collection(name)};
}

// For the commands that only read: nothing is written to the index (see StoreOptions).
storage::StoreOptions read_only() {
    storage::StoreOptions o;
    o.read_only = true;
    return o;
}

// --ext, when given, replaces the extensions taken from folders.
void apply_extensions(IndexArgs& a) {
    if (!a.extensions.empty()) {
        a.job.walk.extensions.clear();
        std::stringstream in(a.extensions);
        for (std::string e; std::getline(in, e, ',');) {
            if (!e.empty() && e[0] == '.') e.erase(0, 1);
            for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (!e.empty()) a.job.walk.extensions.push_back(e);
        }
    }
}

void run_add(IndexArgs& a) {
    if (a.paths.empty() && a.lists.empty() && a.manifests.empty())
        throw CLI::ValidationError("index add", "give folders or files, --list or --manifest");
    apply_extensions(a);
    if (!a.shard.empty()) a.job.slice = indexer::InputSlice::parse(a.shard);
    std::vector<indexer::InputSpec> inputs;
    for (const auto& p : a.paths) inputs.push_back({indexer::InputKind::path, p});
    for (const auto& p : a.lists) inputs.push_back({indexer::InputKind::list, p});
    for (const auto& p : a.manifests) inputs.push_back({indexer::InputKind::manifest, p});
    storage::StoreOptions options;
    options.image_factory = a.image_factory;
    options.text_factory = a.text_factory;
    options.image_trained = a.trained;
    OpenIndex open = open_index(a.index, a.model, true, true, options, parse_precision_if_given(a.precision));
    a.job.cancel = &g_interrupted;
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    const indexer::JobSummary s = indexer::index_images(*open.store, *open.model, inputs, a.job);
    print_summary(s, a.index, a.as_json);
}

void print_round(const indexer::WatchRound& r, bool as_json) {
    if (as_json) {
        std::printf("%s\n", json_text(indexer::round_json(r)).c_str());
    } else {
        const indexer::JobSummary& s = r.summary;
        if (r.what == "rescan")
            std::printf("watch: rescanned %llu files in %.1f s: ", static_cast<unsigned long long>(s.files), s.seconds);
        else
            std::printf("watch: %.2f s after the first change: ", r.latency_seconds);
        std::printf("%llu added, %llu changed, %llu duplicates, %llu unchanged, %llu failed, %llu removed\n",
                    static_cast<unsigned long long>(s.added), static_cast<unsigned long long>(s.changed),
                    static_cast<unsigned long long>(s.duplicates), static_cast<unsigned long long>(s.unchanged),
                    static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(r.removed));
        for (const auto& [reason, n] : s.failure_reasons)
            std::printf("  failed: %llu x %s\n", static_cast<unsigned long long>(n), reason.c_str());
        for (std::size_t i = 0; i < s.problems.size() && i < 20; ++i)
            std::printf("  problem: %s\n", s.problems[i].c_str());
    }
    std::fflush(stdout);
}

void run_watch(IndexArgs& a) {
    apply_extensions(a);
    storage::StoreOptions options;
    options.image_factory = a.image_factory;
    OpenIndex open = open_index(a.index, a.model, true, true, options, parse_precision_if_given(a.precision));
    indexer::WatchOptions w;
    w.job = a.job;
    w.settle = std::chrono::milliseconds(a.settle_ms);
    w.on_round = [&a](const indexer::WatchRound& r) { print_round(r, a.as_json); };
    indexer::FolderWatcher watcher(*open.store, *open.model, a.paths, w);
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    watcher.start();
    if (!a.as_json)
        std::printf("watch: watching %zu folder(s) (%zu with subfolders) for %s; Ctrl-C stops\n", a.paths.size(),
                    watcher.status().watched_folders, a.index.c_str());
    std::fflush(stdout);
    while (!g_interrupted && !watcher.wait_for(std::chrono::milliseconds(200))) {}
    watcher.stop();
    const indexer::WatchStatus s = watcher.status();
    if (s.state == "failed") throw Error("watch: " + s.error);
    if (!a.as_json)
        std::printf("watch: stopped after %llu rounds: %llu indexed, %llu removed, %llu failed\n",
                    static_cast<unsigned long long>(s.rounds), static_cast<unsigned long long>(s.indexed),
                    static_cast<unsigned long long>(s.removed), static_cast<unsigned long long>(s.failed));
}

void run_add_texts(IndexArgs& a) {
    storage::StoreOptions options;
    options.image_factory = a.image_factory;
    options.text_factory = a.text_factory;
    OpenIndex open = open_index(a.index, a.model, true, true, options, parse_precision_if_given(a.precision));
    a.job.cancel = &g_interrupted;
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    const indexer::JobSummary s = indexer::index_texts(*open.store, *open.model, a.text_files, a.job);
    if (a.as_json) {
        std::printf("%s\n", json_text(indexer::summary_json(s)).c_str());
        return;
    }
    std::printf("read %llu texts in %.1f s into %s: %llu added, %llu duplicates, %llu failed\n",
                static_cast<unsigned long long>(s.files), s.seconds, a.index.c_str(),
                static_cast<unsigned long long>(s.added), static_cast<unsigned long long>(s.duplicates),
                static_cast<unsigned long long>(s.failed));
    if (s.failed) std::printf("  (opsis index errors --index %s lists every failure)\n", a.index.c_str());
}

void run_rebuild(IndexArgs& a) {
    OpenIndex open = open_index(a.index, "", false, false);
    for (Collection c : collections_of(a.collection)) {
        const auto t0 = std::chrono::steady_clock::now();
        open.store->rebuild(c, a.image_factory);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const storage::VectorIndex& v = open.store->vectors(c);
        std::printf("%s: rebuilt as %s from %llu stored vectors in %.1f s%s\n", storage::collection_name(c),
                    v.factory().c_str(), static_cast<unsigned long long>(open.store->catalog().item_count(c)), s,
                    v.is_trained() ? ""
                                   : (" (untrained: needs " + std::to_string(v.min_training_points()) +
                                      " vectors; searches scan the stored vectors until then)")
                                         .c_str());
    }
}

void run_train(IndexArgs& a) {
    OpenIndex open = open_index(a.index, "", false, false, read_only());
    const Collection c = Collection::images;  // what index add --trained starts from
    const auto t0 = std::chrono::steady_clock::now();
    const std::unique_ptr<storage::VectorIndex> trained = open.store->train_shared(c, a.image_factory);
    trained->save(a.plan.trained);
    const std::size_t stored = open.store->catalog().item_count(c);
    const std::size_t need = storage::VectorIndex::create(trained->dim(), trained->factory())->min_training_points();
    std::printf(
        "trained %s on %zu of %zu stored %s in %.1f s: %s (shared training %s…)\n"
        "start shards from it: opsis index add --index SHARD --shard i/N --trained %s ...\n",
        trained->factory().c_str(), storage::training_sample_size(need, stored), stored, storage::collection_name(c),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), a.plan.trained.c_str(),
        trained->trained_from().substr(0, 12).c_str(), a.plan.trained.c_str());
}

void run_plan(IndexArgs& a) {
    indexer::ClusterPlan& p = a.plan;
    for (const auto& x : a.paths) p.inputs.push_back({indexer::InputKind::path, x});
    for (const auto& x : a.lists) p.inputs.push_back({indexer::InputKind::list, x});
    for (const auto& x : a.manifests) p.inputs.push_back({indexer::InputKind::manifest, x});
    p.model = a.model;
    p.factory = a.image_factory == "Flat" ? "" : a.image_factory;
    if (!p.trained.empty()) {
        storage::VectorIndex::load_trained(p.trained);  // checked now, not by every task
        p.factory.clear();
    } else if (!p.factory.empty()) {  // a train job only where the factory trains (IVF, PQ, ...)
        const DualEncoder model = DualEncoder::load(a.model.empty() ? default_model_path() : a.model);
        p.train_job = storage::VectorIndex::create(model.config().embed_dim, p.factory)->min_training_points() > 0;
    }
    if (p.opsis.empty()) p.opsis = std::filesystem::read_symlink("/proc/self/exe").string();
    const indexer::PlannedFiles f = indexer::write_cluster_plan(p);
    std::printf("planned %u shards in %s:\n", p.shards, p.dir.c_str());
    if (p.train_job)
        std::printf("  %s   (indexes 1 slice in %u of the inputs and trains %s on it: the shards share it)\n",
                    f.train_script.c_str(), p.train_slices, p.factory.c_str());
    std::printf(
        "  %s   (%u array tasks: index add --shard i/%u, into shard-i)\n"
        "  %s   (one index of the shards%s)\n"
        "submit them, each after the one before ended well: %s\n"
        "or serve the shards as they are: opsis serve --index DIR/shard-i on each, and opsis serve --shards URL,...\n",
        f.index_script.c_str(), p.shards, p.shards, f.merge_script.c_str(),
        p.train_job || !p.trained.empty() ? ": their lists joined, nothing encoded again" : "",
        f.submit_script.c_str());
}

void run_merge(IndexArgs& a) {
    const indexer::MergeSummary s = indexer::merge_shards(a.paths, a.index, a.merge, [](std::uint64_t items) {
        std::fprintf(stderr, "\rmerge: %llu items", static_cast<unsigned long long>(items));
    });
    json vectors = json::object();
    for (const auto& [c, how] : s.vectors) vectors[storage::collection_name(c)] = how;
    if (a.as_json) {
        std::printf("%s\n", json_text(json{{"shards", s.shards},
                                           {"images", s.images},
                                           {"texts", s.texts},
                                           {"duplicates", s.duplicates},
                                           {"paths_taken", s.paths_taken},
                                           {"vectors", vectors},
                                           {"vector_seconds", s.vector_seconds},
                                           {"seconds", s.seconds}})
                                .c_str());
        return;
    }
    std::fprintf(stderr, "\n");
    std::printf(
        "merged %llu shards into %s in %.1f s: %llu images, %llu texts, %llu met in an earlier shard (their "
        "paths joined it)",
        static_cast<unsigned long long>(s.shards), a.index.c_str(), s.seconds,
        static_cast<unsigned long long>(s.images), static_cast<unsigned long long>(s.texts),
        static_cast<unsigned long long>(s.duplicates));
    if (s.paths_taken)
        std::printf(", %llu paths left out (an earlier shard had them with another picture)",
                    static_cast<unsigned long long>(s.paths_taken));
    std::printf("\nvector indexes (%.1f s): images %s, texts %s\n", s.vector_seconds,
                s.vectors.at(Collection::images).c_str(), s.vectors.at(Collection::texts).c_str());
}

void run_stats(IndexArgs& a) {
    OpenIndex open = open_index(a.index, "", false, false, read_only());
    const json s = open.store->stats();
    if (a.as_json) {
        std::printf("%s\n", json_text(s, 2).c_str());
        return;
    }
    std::printf("index %s\nmodel %s at %s, vectors made at %s\n", a.index.c_str(),
                storage::describe(open.store->model()).c_str(), s["model"]["path"].get<std::string>().c_str(),
                open.store->model().precision.c_str());
    for (const char* c : {"images", "texts"}) {
        const json& j = s[c];
        std::printf("%-7s %llu items, vector index %s (%s%llu indexed, %llu tombstones, snapshot %.1f MB)\n", c,
                    j["items"].get<unsigned long long>(), j["factory"].get<std::string>().c_str(),
                    j["trained"].get<bool>() ? "" : "untrained, ", j["indexed"].get<unsigned long long>(),
                    j["tombstones"].get<unsigned long long>(), j["snapshot_bytes"].get<double>() / 1e6);
    }
    std::printf("paths   %llu, failures %llu image files and %llu text lines, catalog %.1f MB on disk\n",
                s["images"]["paths"].get<unsigned long long>(), s["images"]["failures"].get<unsigned long long>(),
                s["texts"]["failures"].get<unsigned long long>(), s["catalog_bytes"].get<double>() / 1e6);
}

void run_delete(IndexArgs& a) {
    if (a.ids.empty() && a.delete_paths.empty()) throw CLI::ValidationError("index delete", "give item ids or --path");
    OpenIndex open = open_index(a.index, "", false, false);
    const Collection c = storage::parse_collection(a.collection == "all" ? "images" : a.collection);
    storage::Catalog::Batch b(open.store->catalog());
    for (std::int64_t id : a.ids) b.remove_item(c, id);  // an unknown id throws, naming it
    for (const std::string& p : a.delete_paths) {
        const std::string path = absolute_path(p);
        if (!b.find_path(path)) throw input_error("path", path, "not in the index");
        b.remove_path(path);
    }
    open.store->commit(b);
    open.store->snapshot();
    std::printf("deleted %zu item(s) and %zu path(s)\n", a.ids.size(), a.delete_paths.size());
}

int run_verify(IndexArgs& a) {
    OpenIndex open = open_index(a.index, "", false, false, read_only());
    const storage::VerifyReport r = open.store->verify();
    if (a.as_json) {
        json j{{"ok", r.ok()}, {"problems", r.problems}};
        for (const auto& [c, k] : r.collections)
            j[storage::collection_name(c)] = {{"items", k.items},       {"vectors", k.vectors},
                                              {"indexed", k.indexed},   {"tombstones", k.tombstones},
                                              {"compared", k.compared}, {"max_difference", k.max_difference},
                                              {"trained", k.trained},   {"note", k.note}};
        std::printf("%s\n", json_text(j, 2).c_str());
    } else {
        for (const auto& [c, k] : r.collections) {
            std::printf(
                "%-7s %llu items, %llu stored vectors, %llu in the vector index, %llu compared (max difference %.2g)\n",
                storage::collection_name(c), static_cast<unsigned long long>(k.items),
                static_cast<unsigned long long>(k.vectors), static_cast<unsigned long long>(k.indexed),
                static_cast<unsigned long long>(k.compared), static_cast<double>(k.max_difference));
            if (!k.note.empty()) std::printf("        note: %s\n", k.note.c_str());
        }
        for (const std::string& p : r.problems) std::printf("problem: %s\n", p.c_str());
        std::printf("%s\n", r.ok() ? "verify: OK (catalog and vector indexes agree)" : "verify: FAILED");
    }
    return r.ok() ? 0 : 1;
}

void run_errors(IndexArgs& a) {
    OpenIndex open = open_index(a.index, "", false, false, read_only());
    // Image files, then text lines ("file:line"), each collection's apart.
    std::map<storage::Collection, std::size_t> n;
    for (storage::Collection c : storage::kCollections)
        open.store->catalog().for_each_failure(c, [&](const storage::Failure& f) {
            if (a.as_json) {
                const json j{{"collection", storage::collection_name(c)},
                             {"path", f.path},
                             {"reason", f.reason},
                             {"size", f.size},
                             {"at", f.at}};
                std::printf("%s\n", json_text(j).c_str());
            } else {
                if (n[c]++ == 0) std::printf("%s:\n", c == storage::Collection::images ? "image files" : "text lines");
                std::printf("  %s: %s\n", utf8::escaped(f.path).c_str(), f.reason.c_str());
            }
            return true;
        });
    if (!a.as_json)
        std::printf("%zu image file(s) and %zu text line(s) failed\n", n[storage::Collection::images],
                    n[storage::Collection::texts]);
}

void add_job_options(CLI::App* cmd, IndexArgs& a) {
    cmd->add_option("--batch", a.job.batch, "Items per encoder batch")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    cmd->add_option("--progress-every", a.job.progress_every, "Seconds between progress lines when not on a terminal")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--json", a.as_json, "Print the summary as JSON");
}

}  // namespace

void register_index(CLI::App& app) {
    auto a = std::make_shared<IndexArgs>();
    CLI::App* index =
        app.add_subcommand("index", "Build and maintain an index folder (RocksDB catalog + FAISS vectors)");
    index->require_subcommand(1);
    auto with_index = [&](CLI::App* cmd) { cmd->add_option("--index", a->index, "Index folder")->required(); };

    CLI::App* add = index->add_subcommand("add", "Index images from folders, files, list files or a JSONL manifest");
    with_index(add);
    add->add_option("paths", a->paths, "Folders (walked recursively) or image files");
    add->add_option("--list", a->lists, "A file listing image paths, one a line");
    add->add_option("--manifest", a->manifests,
                    "A JSONL manifest: {\"image\": path, \"captions\": ..., \"source\": ..., \"tags\": [...]}");
    add->add_option("--model,-m", a->model,
                    "Model folder (default: the index's model, or models/default for a new index)");
    add_precision_option(add, a->precision, "default: the index's, fp32 for a new index");
    CLI::Option* add_factory = add->add_option("--factory", a->image_factory,
                                               "FAISS index_factory string for images, when the index is created")
                                   ->capture_default_str();
    add->add_option("--trained", a->trained,
                    "Start a new index's images from this shared training (opsis index train) instead of --factory: "
                    "shards that share one merge by joining their lists")
        ->check(CLI::ExistingFile);
    add->add_option("--text-factory", a->text_factory,
                    "FAISS index_factory string for texts, when the index is created")
        ->capture_default_str();
    add->add_option("--ext", a->extensions,
                    "Extensions taken from folders (default jpg,jpeg,png,webp,heic,heif,avif,gif,bmp,tga)");
    add->add_option("--threads", a->job.decode_threads, "Decoding threads (0: cores - 1)")
        ->capture_default_str()
        ->check(CLI::Range(0, 256));
    add->add_option("--shard", a->shard,
                    "Index only part i of N of the files (i/N, 0 <= i < N), chosen by a stable hash of each path: N "
                    "jobs over the same inputs, one per part, each into its own index, make the shards of "
                    "opsis serve --shards");
    add->add_flag("--prune", a->job.prune, "Remove entries of files gone from the given folders");
    add->add_flag("--retry-failed", a->job.retry_failed, "Retry files that failed before even if unchanged");
    add->add_flag("--full-decode", a->job.full_decode,
                  "Decode JPEGs at full size (default: at the smallest DCT scale with twice the model's input)");
    add->add_flag("!--no-captions-as-texts", a->job.captions_as_texts,
                  "Do not add a manifest's captions to the texts collection");
    add->add_option("--max-pixels", a->job.limits.max_pixels, "Refuse images with more pixels")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    add->add_option("--max-file-bytes", a->job.limits.max_file_bytes, "Refuse larger files")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    add_job_options(add, *a);
    add->callback([a, add_factory] {
        if (add_factory->count() && !a->trained.empty())
            throw CLI::ValidationError("--factory", "--trained gives the index type itself: give one of them");
        run_add(*a);
    });

    CLI::App* watch = index->add_subcommand(
        "watch", "Keep folders indexed: rescan them, then index what changes as it changes (inotify) until Ctrl-C");
    with_index(watch);
    watch->add_option("folders", a->paths, "Folders to watch, with their subfolders")
        ->required()
        ->check(CLI::ExistingDirectory);
    watch->add_option("--model,-m", a->model,
                      "Model folder (default: the index's model, or models/default for a new index)");
    add_precision_option(watch, a->precision, "default: the index's, fp32 for a new index");
    watch->add_option("--factory", a->image_factory, "FAISS index_factory string for images, when the index is created")
        ->capture_default_str();
    watch->add_option("--ext", a->extensions,
                      "Extensions taken (default jpg,jpeg,png,webp,heic,heif,avif,gif,bmp,tga)");
    watch->add_option("--threads", a->job.decode_threads, "Decoding threads (0: cores - 1)")
        ->capture_default_str()
        ->check(CLI::Range(0, 256));
    watch->add_option("--settle-ms", a->settle_ms, "A changed file is indexed once it has been quiet this long")
        ->capture_default_str()
        ->check(CLI::Range(0, 60000));
    watch->add_option("--batch", a->job.batch, "Items per encoder batch")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    watch->add_flag("--json", a->as_json, "Print each round as a JSON line");
    watch->callback([a] { run_watch(*a); });

    CLI::App* texts =
        index->add_subcommand("add-texts", "Index sentences from text files (one a line) or JSONL ({\"text\": ...})");
    with_index(texts);
    texts->add_option("files", a->text_files, "Text or .jsonl files")->required()->check(CLI::ExistingFile);
    texts->add_option("--model,-m", a->model,
                      "Model folder (default: the index's model, or models/default for a new index)");
    add_precision_option(texts, a->precision, "default: the index's, fp32 for a new index");
    add_job_options(texts, *a);
    texts->callback([a] { run_add_texts(*a); });

    CLI::App* rebuild =
        index->add_subcommand("rebuild", "Build new vector indexes from the stored embeddings (no re-encoding)");
    with_index(rebuild);
    rebuild->add_option("--factory", a->image_factory, "FAISS index_factory string, e.g. Flat, HNSW32, IVF4096,PQ64")
        ->required();
    rebuild->add_option("--collection", a->collection, "images, texts or all")
        ->capture_default_str()
        ->check(CLI::IsMember({"images", "texts", "all"}));
    rebuild->callback([a] { run_rebuild(*a); });

    CLI::App* plan = index->add_subcommand(
        "plan", "Plan a bulk indexing job for a Slurm cluster: an array of index add --shard i/N tasks, then a merge");
    plan->add_option("--out", a->plan.dir, "The plan's folder: scripts, logs, the shards and the merged index")
        ->required();
    plan->add_option("--shards", a->plan.shards, "Array tasks, one shard each")
        ->required()
        ->check(CLI::Range(1, 100000));
    plan->add_option("paths", a->paths, "Folders (walked recursively) or image files");
    plan->add_option("--list", a->lists, "A file listing image paths, one a line");
    plan->add_option("--manifest", a->manifests, "A JSONL manifest");
    plan->add_option("--model,-m", a->model, "Model folder (default: models/default)");
    plan->add_option("--factory", a->image_factory, "FAISS index_factory string for the shards' images");
    plan->add_option("--train-slices", a->plan.train_slices,
                     "With a trained --factory (IVF…): the train job indexes 1 slice in this many of the inputs and "
                     "trains on it (give it 39 pictures a list: IVF4096 wants 160k in the slice)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
    plan->add_option("--trained", a->plan.trained, "A shared training the shards start from (no train job)")
        ->check(CLI::ExistingFile);
    plan->add_option("--cpus-per-task", a->plan.cpus_per_task, "Cores each task asks for")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    plan->add_option("--sbatch", a->plan.sbatch_options,
                     "One more #SBATCH line for every script (repeatable): --sbatch=--partition=batch")
        ->allow_extra_args(false);  // one value an occurrence: what follows is an input
    plan->add_option("--opsis", a->plan.opsis, "The opsis executable the tasks run (default: this one)");
    plan->callback([a] { run_plan(*a); });

    CLI::App* train = index->add_subcommand(
        "train",
        "Train a vector index type on an index's stored image vectors and save it empty, for shards to start from");
    with_index(train);
    train->add_option("--factory", a->image_factory, "FAISS index_factory string, e.g. IVF4096,PQ64")->required();
    train->add_option("--out", a->plan.trained, "The shared training's file (index add --trained FILE)")->required();
    train->callback([a] { run_train(*a); });

    CLI::App* merge = index->add_subcommand(
        "merge", "Make one index of shard indexes (index add --shard i/N): items, paths and vectors in bulk, new ids");
    merge->add_option("--index", a->index, "The merged index: a new folder")->required();
    merge->add_option("indexes", a->paths, "The shard indexes, in order")->required()->check(CLI::ExistingDirectory);
    merge->add_flag("--retrain", a->merge.retrain,
                    "Train the merged vector index anew on all vectors, even when the shards share a training");
    merge->add_flag("--json", a->as_json, "Print the summary as JSON");
    merge->callback([a] { run_merge(*a); });

    CLI::App* stats = index->add_subcommand("stats", "Counts, index types and sizes");
    with_index(stats);
    stats->callback([a] { run_stats(*a); });

    CLI::App* del =
        index->add_subcommand("delete", "Remove items by id, or paths (an image left with no path is removed)");
    with_index(del);
    del->add_option("ids", a->ids, "Item ids");
    del->add_option("--path", a->delete_paths, "Indexed file paths");
    del->add_option("--collection", a->collection, "images or texts (for ids)")
        ->check(CLI::IsMember({"images", "texts", "all"}));
    del->callback([a] { run_delete(*a); });

    CLI::App* verify =
        index->add_subcommand("verify", "Check that the catalog and the vector indexes agree (exit 1 if not)");
    with_index(verify);
    verify->callback([a] {
        const int code = run_verify(*a);
        if (code != 0) throw CLI::RuntimeError(code);
    });

    CLI::App* errors = index->add_subcommand("errors", "List the files indexing jobs could not index, with reasons");
    with_index(errors);
    errors->callback([a] { run_errors(*a); });
    for (CLI::App* cmd : {stats, verify, errors}) cmd->add_flag("--json", a->as_json, "Print JSON");
}

}  // namespace opsis::cli
