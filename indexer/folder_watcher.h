#pragma once
// A folder that stays indexed. inotify (folder_events.h) reports what changes; a reader
// thread gathers it into pending paths, and an indexing thread takes the paths that have been
// quiet a moment in rounds: written files go through the image job (so a burst of thousands is
// decoded, encoded and committed in batches like a bulk job), deleted and moved-away ones leave
// the index. What a round does follows the files as they are when it runs, so a picture
// written as a temp file and renamed into place is indexed once, under its name, and a file
// created and deleted within a moment never reaches the index. At start, and whenever the
// kernel dropped events, the folders are rescanned (a stat per known file) and files that went
// are pruned, so what changed while nothing watched is caught too.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "encoder/dual_encoder.h"
#include "indexer/index_job.h"
#include "storage/index_store.h"

namespace opsis::indexer {

class FolderEvents;

struct WatchRound {
    std::string what;  // "rescan", "changes"
    JobSummary summary;
    std::uint64_t removed = 0;   // paths that left the index (deleted, moved away)
    double latency_seconds = 0;  // the round's oldest change: seen -> committed
};

struct WatchOptions {
    JobOptions job;  // limits, extensions, decode threads; progress is never shown
    // A changed file is taken once it has been quiet this long (a file written in several
    // opens, a temp file renamed into place) ...
    std::chrono::milliseconds settle{250};
    // ... or once it has waited this long, however often it changes.
    std::chrono::milliseconds max_wait{3000};
    std::size_t max_round = 4096;  // paths a round takes at most (a burst is several rounds)
    bool rescan_at_start = true;
    // Held while a round writes: the server's write lock, so API writes, bulk jobs and the
    // watcher take turns.
    std::function<std::unique_lock<std::mutex>()> lock_writes;
    std::function<void(const WatchRound&)> on_round;  // after each round (the CLI prints it)
};

struct WatchStatus {
    std::string state = "starting";  // starting, rescanning, watching, indexing, stopped, failed
    std::vector<std::string> folders;
    std::size_t watched_folders = 0;
    std::size_t pending = 0;
    std::uint64_t events = 0, rounds = 0, rescans = 0;
    std::uint64_t indexed = 0;  // files added, changed or given a new path by rounds (not rescans)
    std::uint64_t removed = 0, failed = 0;
    double last_latency_seconds = 0, max_latency_seconds = 0;
    std::int64_t last_round_unix = 0;   // 0: none yet
    std::vector<std::string> problems;  // the latest, at most 20
    std::string error;                  // why it failed
};

class FolderWatcher {
public:
    FolderWatcher(storage::IndexStore& store, const DualEncoder& model, std::vector<std::string> folders,
                  WatchOptions options);
    ~FolderWatcher();  // stops
    FolderWatcher(const FolderWatcher&) = delete;
    FolderWatcher& operator=(const FolderWatcher&) = delete;

    // Watches every folder, throwing a clear Error for one that cannot be (nothing runs then);
    // then rescans and follows the changes on threads of its own.
    void start();
    // Stops reading; a round in flight commits what it has. Idempotent.
    void stop();
    // Waits up to `timeout` for the watcher to end (stopped or failed); true if it has.
    bool wait_for(std::chrono::milliseconds timeout);
    WatchStatus status() const;

private:
    struct Pending {
        enum class Kind { written, gone, folder_gone } kind;
        std::chrono::steady_clock::time_point first_seen, last_seen;
    };
    void read_loop();
    void index_loop();
    void rescan();
    // Takes the paths that are due; empty when none is.
    std::map<std::string, Pending> take_due(std::chrono::steady_clock::time_point now);
    std::chrono::steady_clock::time_point next_due() const;  // of the pending paths
    void run_round(std::map<std::string, Pending> round);
    void problem(const std::string& text);

    storage::IndexStore& store_;
    const DualEncoder& model_;
    std::vector<std::string> folders_;
    WatchOptions options_;
    std::unique_ptr<FolderEvents> events_;
    std::atomic<bool> stop_{false};
    std::thread reader_, indexer_;

    mutable std::mutex mutex_;  // guards what follows
    std::condition_variable changed_;
    std::map<std::string, Pending> pending_;
    bool rescan_needed_ = false;
    bool finished_ = false;
    WatchStatus status_;
};

}  // namespace opsis::indexer
