// The image job: walk -> examine on worker threads -> encode and commit (committer.h), with
// bounded queues between the stages; and an upload, indexed from its bytes through the same
// examine and commit stages.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <sys/stat.h>
#include <thread>

#include "core/error.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "indexer/bounded_queue.h"
#include "indexer/committer.h"
#include "indexer/examine.h"
#include "indexer/index_job.h"
#include "indexer/progress.h"

namespace opsis::indexer {
namespace {

using storage::Catalog;
using storage::Collection;
namespace fs = std::filesystem;

void prune_missing(storage::IndexStore& store, const std::vector<InputSpec>& inputs, JobSummary& summary) {
    std::vector<std::string> roots;
    for (const InputSpec& in : inputs)
        if (in.kind == InputKind::path && fs::is_directory(in.path)) roots.push_back(absolute_path(in.path) + "/");
    summary.pruned = remove_gone_paths(store, {}, roots);
}

}  // namespace

std::uint64_t remove_gone_paths(storage::IndexStore& store, const std::vector<std::string>& files,
                                const std::vector<std::string>& folders) {
    const storage::Catalog& catalog = store.catalog();
    auto gone = [](const std::string& p) {
        std::error_code ec;
        return !fs::exists(p, ec);
    };
    std::vector<std::string> paths, failures;
    for (const std::string& f : files) {
        if (!gone(f)) continue;
        if (catalog.find_path(f)) paths.push_back(f);
        if (catalog.failure(f)) failures.push_back(f);
    }
    for (const std::string& dir : folders) {
        catalog.for_each_path(
            [&](const std::string& p, const storage::PathEntry&) {
                if (gone(p)) paths.push_back(p);
                return true;
            },
            dir);
        catalog.for_each_failure(
            Collection::images,
            [&](const storage::Failure& f) {
                if (gone(f.path)) failures.push_back(f.path);
                return true;
            },
            dir);
    }
    // Nested folders, or a file and its folder, name a path twice.
    for (std::vector<std::string>* v : {&paths, &failures}) {
        std::sort(v->begin(), v->end());
        v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    for (std::size_t i = 0; i < paths.size() || i < failures.size(); i += 1024) {
        Catalog::Batch b(store.catalog());
        for (std::size_t j = i; j < std::min(paths.size(), i + 1024); ++j) b.remove_path(paths[j]);
        for (std::size_t j = i; j < std::min(failures.size(), i + 1024); ++j) b.clear_failure(failures[j]);
        store.commit(b);
    }
    return paths.size();
}

JobSummary index_images(storage::IndexStore& store, const DualEncoder& model, const std::vector<InputSpec>& inputs,
                        const JobOptions& options) {
    if (model.config().embed_dim != store.model().dim) throw Error("the model does not match the index's dimension");
    const auto start = std::chrono::steady_clock::now();
    JobSummary summary;
    std::mutex problems_mutex;
    std::atomic<std::uint64_t> walked{0}, other_shards{0};
    std::atomic<bool> walk_done{false};

    const int workers = options.decode_threads > 0
                            ? options.decode_threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) - 1);
    BoundedQueue<InputFile> files(1024);
    BoundedQueue<FileResult> results(static_cast<std::size_t>(std::max(2 * options.batch, 16)));
    std::exception_ptr walk_error;

    std::thread walker([&] {
        try {
            WalkOptions walk = options.walk;
            walk.stopped = [&options] { return options.cancelled(); };
            for_each_input_file(
                inputs, walk,
                [&](InputFile&& f) {
                    if (!options.slice.holds(f.path)) {
                        ++other_shards;
                        return;
                    }
                    if (files.push(std::move(f))) ++walked;
                },
                [&](const std::string& name, const std::string& reason) {
                    std::lock_guard lock(problems_mutex);
                    summary.problems.push_back(name + ": " + reason);
                });
        } catch (...) {
            walk_error = std::current_exception();
        }
        walk_done = true;
        files.close();
    });
    std::atomic<int> running{workers};
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w)
        pool.emplace_back([&] {
            // Once stopped, queued files are dropped unread (a re-run takes them), so a stop
            // takes a moment, not the decoding of everything queued.
            while (std::optional<InputFile> f = files.pop())
                if (!options.cancelled() && !results.push(examine(std::move(*f), store.catalog(), model, options)))
                    break;
            if (--running == 0) results.close();
        });

    Progress progress("index", options.progress_every);
    Committer committer(store, model, options, summary);
    std::exception_ptr commit_error;
    try {
        while (true) {
            std::optional<FileResult> r = results.pop_for(std::chrono::milliseconds(25));
            if (r) committer.take(std::move(*r));
            if (committer.full() || (!r && !committer.empty())) committer.flush();
            if (options.show_progress) {
                progress.set_total(walked.load(), walk_done.load());
                progress.update(committer.done(), committer.failed());
            }
            if (!r && results.closed_and_empty()) break;
        }
        committer.flush();
        committer.finish();
    } catch (...) {
        commit_error = std::current_exception();
        files.close();
        results.close();
    }
    walker.join();
    for (std::thread& t : pool) t.join();
    if (commit_error) std::rethrow_exception(commit_error);
    if (walk_error) std::rethrow_exception(walk_error);
    if (options.show_progress) {
        progress.set_total(walked.load(), true);
        progress.update(committer.done(), committer.failed());
        progress.finish();
    }
    summary.files = committer.done();
    summary.other_shards = other_shards.load();
    summary.failed = committer.failed();
    if (options.prune && !options.cancelled()) prune_missing(store, inputs, summary);
    store.train_if_ready(Collection::images);
    store.train_if_ready(Collection::texts);
    if (options.snapshot_at_end) store.snapshot();
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return summary;
}

UploadOutcome index_upload(storage::IndexStore& store, const DualEncoder& model, const std::string& name,
                           std::span<const unsigned char> bytes, const std::string& extension, InputFile file,
                           const JobOptions& options) {
    if (model.config().embed_dim != store.model().dim) throw Error("the model does not match the index's dimension");
    std::string hash = sha256_hex(bytes.data(), bytes.size());
    const std::string dir = store.dir() + "/uploads", path = dir + "/" + hash + extension;
    FileResult r;
    r.file = std::move(file);
    r.file.path = path;
    // Examined before the copy is kept, so with no time yet: a path already known with these
    // bytes comes out "touched", and its entry takes the kept file's stat below when committed.
    r.size = bytes.size();
    examine_bytes(r, bytes, std::move(hash), store.catalog(), model, options);
    if (r.kind == FileResult::Kind::failure) throw input_error("upload", name, failure_reason(r.reason, path));
    // The bytes are an image: now they are kept where the item's path points.
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::exists(path, ec)) write_file_atomic(path, bytes.data(), bytes.size());
    struct stat st {};
    if (::stat(r.file.path.c_str(), &st) != 0)
        throw Error("upload '" + name + "': its kept copy vanished: " + std::strerror(errno), Error::Kind::io);
    r.size = static_cast<std::uint64_t>(st.st_size);
    r.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    JobSummary summary;
    {
        Committer committer(store, model, options, summary);
        committer.take(std::move(r));
        committer.finish();
    }
    const std::optional<storage::PathEntry> entry = store.catalog().find_path(path);
    if (!entry) throw Error("upload '" + name + "': committed but not found in the catalog", Error::Kind::corruption);
    return {entry->id, summary.added > 0};
}

}  // namespace opsis::indexer
