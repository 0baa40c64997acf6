#include "indexer/folder_watcher.h"

#include <algorithm>
#include <filesystem>
#include <sys/stat.h>

#include "core/error.h"
#include "core/file_io.h"
#include "indexer/examine.h"
#include "indexer/folder_events.h"

namespace opsis::indexer {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxProblems = 20;

}  // namespace

FolderWatcher::FolderWatcher(storage::IndexStore& store, const DualEncoder& model, std::vector<std::string> folders,
                             WatchOptions options)
    : store_(store), model_(model), options_(std::move(options)) {
    for (const std::string& f : folders) folders_.push_back(fs::path(absolute_path(f)).lexically_normal().string());
    options_.job.show_progress = false;
    options_.job.cancel = &stop_;
    status_.folders = folders_;
}

FolderWatcher::~FolderWatcher() { stop(); }

void FolderWatcher::start() {
    if (folders_.empty()) throw Error("watch: give at least one folder", Error::Kind::invalid_input);
    if (model_.config().embed_dim != store_.model().dim) throw Error("the model does not match the index's dimension");
    events_ = std::make_unique<FolderEvents>();
    // Watched before the rescan, so that nothing changed during it goes unseen.
    for (const std::string& f : folders_) events_->watch_tree(f);
    status_.watched_folders = events_->folders();
    reader_ = std::thread([this] { read_loop(); });
    indexer_ = std::thread([this] { index_loop(); });
}

void FolderWatcher::stop() {
    stop_ = true;
    changed_.notify_all();
    if (reader_.joinable()) reader_.join();
    if (indexer_.joinable()) indexer_.join();
    std::lock_guard lock(mutex_);
    if (status_.state != "failed") status_.state = "stopped";
    finished_ = true;
    changed_.notify_all();
}

bool FolderWatcher::wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return finished_; });
}

WatchStatus FolderWatcher::status() const {
    std::lock_guard lock(mutex_);
    WatchStatus s = status_;
    s.pending = pending_.size();
    return s;
}

void FolderWatcher::problem(const std::string& text) {
    status_.problems.push_back(text);
    if (status_.problems.size() > kMaxProblems) status_.problems.erase(status_.problems.begin());
}

void FolderWatcher::read_loop() {
    while (!stop_) {
        std::vector<FolderEvent> events;
        try {
            events = events_->read(std::chrono::milliseconds(100));
        } catch (const std::exception& e) {
            std::lock_guard lock(mutex_);
            status_.state = "failed";
            status_.error = e.what();
            stop_ = true;
            changed_.notify_all();
            return;
        }
        if (events.empty()) continue;
        const auto now = Clock::now();
        std::lock_guard lock(mutex_);
        status_.events += events.size();
        status_.watched_folders = events_->folders();
        for (const FolderEvent& e : events) {
            using K = FolderEvent::Kind;
            if (e.kind == K::overflow) {
                rescan_needed_ = true;
                problem("the kernel's event queue overflowed (fs.inotify.max_queued_events): rescanning");
                continue;
            }
            if (e.kind == K::problem) {
                problem(e.path + ": " + e.reason);
                continue;
            }
            // A folder's key ends in '/', so a file and a folder of one name stay apart.
            const bool folder = e.kind == K::folder_gone;
            auto [it, added] = pending_.try_emplace(folder ? e.path + "/" : e.path);
            if (added) it->second.first_seen = now;
            it->second.last_seen = now;
            it->second.kind = e.kind == K::written ? Pending::Kind::written
                              : folder             ? Pending::Kind::folder_gone
                                                   : Pending::Kind::gone;
        }
        changed_.notify_all();
    }
}

std::map<std::string, FolderWatcher::Pending> FolderWatcher::take_due(Clock::time_point now) {
    std::map<std::string, Pending> due;
    for (auto it = pending_.begin(); it != pending_.end() && due.size() < options_.max_round;) {
        if (now - it->second.last_seen >= options_.settle || now - it->second.first_seen >= options_.max_wait) {
            due.insert(*it);
            it = pending_.erase(it);
        } else {
            ++it;
        }
    }
    return due;
}

Clock::time_point FolderWatcher::next_due() const {
    auto due = Clock::time_point::max();
    for (const auto& [path, p] : pending_)
        due = std::min(due, std::min(p.last_seen + options_.settle, p.first_seen + options_.max_wait));
    return due;
}

void FolderWatcher::index_loop() {
    try {
        if (options_.rescan_at_start) rescan();
        while (!stop_) {
            std::map<std::string, Pending> round;
            bool rescan_now = false;
            {
                std::unique_lock lock(mutex_);
                status_.state = "watching";
                // Woken by the first event; then at the moment the next path is due.
                if (pending_.empty())
                    changed_.wait_for(lock, std::chrono::milliseconds(500),
                                      [this] { return stop_ || rescan_needed_ || !pending_.empty(); });
                else
                    changed_.wait_until(lock, next_due(), [this] { return stop_ || rescan_needed_; });
                if (stop_) break;
                if (rescan_needed_) {
                    rescan_needed_ = false;
                    pending_.clear();  // the rescan sees the folders as they are now
                    rescan_now = true;
                } else {
                    round = take_due(Clock::now());
                }
            }
            if (rescan_now)
                rescan();
            else if (!round.empty())
                run_round(std::move(round));
        }
    } catch (const std::exception& e) {
        std::lock_guard lock(mutex_);
        status_.state = "failed";
        status_.error = e.what();
        stop_ = true;
        finished_ = true;
        changed_.notify_all();
    }
}

void FolderWatcher::rescan() {
    {
        std::lock_guard lock(mutex_);
        status_.state = "rescanning";
        ++status_.rescans;
    }
    JobOptions job = options_.job;
    job.prune = true;
    std::vector<InputSpec> inputs;
    for (const std::string& f : folders_) inputs.push_back({InputKind::path, f});
    WatchRound r{"rescan", {}, 0, 0};
    {
        std::unique_lock<std::mutex> writes;
        if (options_.lock_writes) writes = options_.lock_writes();
        r.summary = index_images(store_, model_, inputs, job);
    }
    r.removed = r.summary.pruned;
    {
        std::lock_guard lock(mutex_);
        status_.removed += r.removed;
        status_.failed += r.summary.failed;
        for (const std::string& p : r.summary.problems) problem(p);
    }
    if (options_.on_round) options_.on_round(r);
}

void FolderWatcher::run_round(std::map<std::string, Pending> round) {
    std::vector<InputSpec> inputs;
    std::vector<std::string> gone_files, gone_folders;
    auto oldest = Clock::time_point::max();
    for (const auto& [path, p] : round) {
        oldest = std::min(oldest, p.first_seen);
        if (p.kind == Pending::Kind::folder_gone) {
            gone_folders.push_back(path);
            continue;
        }
        struct stat st {};
        const bool file = ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
        if (!file)
            gone_files.push_back(path);  // deleted, moved away, or written and gone again since
        else if (p.kind == Pending::Kind::written && taken_from_folder(path, options_.job.walk))
            inputs.push_back({InputKind::path, path});
        // A file that exists again after a "gone" is being written: its close brings it.
    }
    if (inputs.empty() && gone_files.empty() && gone_folders.empty()) return;
    {
        std::lock_guard lock(mutex_);
        status_.state = "indexing";
    }
    WatchRound r{"changes", {}, 0, 0};
    {
        std::unique_lock<std::mutex> writes;
        if (options_.lock_writes) writes = options_.lock_writes();
        JobOptions job = options_.job;
        job.snapshot_at_end = false;  // the store's periodic snapshots; the catalog's log covers the rest
        // Written first: a file renamed within the folders gains its new path before the old
        // one goes, so its picture is kept, not embedded again.
        if (!inputs.empty()) r.summary = index_images(store_, model_, inputs, job);
        r.removed = remove_gone_paths(store_, gone_files, gone_folders);
    }
    r.latency_seconds = std::chrono::duration<double>(Clock::now() - oldest).count();
    {
        std::lock_guard lock(mutex_);
        ++status_.rounds;
        status_.indexed += r.summary.added + r.summary.changed + r.summary.duplicates;
        status_.removed += r.removed;
        status_.failed += r.summary.failed;
        status_.last_latency_seconds = r.latency_seconds;
        status_.max_latency_seconds = std::max(status_.max_latency_seconds, r.latency_seconds);
        status_.last_round_unix = now_seconds();
        for (const std::string& p : r.summary.problems) problem(p);
    }
    if (options_.on_round) options_.on_round(r);
}

}  // namespace opsis::indexer
