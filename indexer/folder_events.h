#pragma once
// What changes in folder trees, as Linux inotify tells it: files written or moved in, files
// deleted or moved away, folders gone. No polling: the kernel reports, this reads. A folder
// that appears is watched at once and the files already in it are reported (they may have been
// written before its watch was in place).
#include <chrono>
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

namespace opsis::indexer {

struct FolderEvent {
    enum class Kind {
        written,      // a file was closed after writing, moved or linked in: (re)index it
        gone,         // a file was deleted or moved away
        folder_gone,  // a folder was deleted or moved away: everything below it is gone
        overflow,     // the kernel dropped events (its queue filled): only a rescan is sure
        problem,      // not a file's change: a watched root went away, a folder cannot be watched
    };
    Kind kind;
    std::string path;    // absolute; for `problem`, the folder
    std::string reason;  // for `problem`
};

class FolderEvents {
public:
    FolderEvents();  // throws an Error when inotify is not available
    ~FolderEvents();
    FolderEvents(const FolderEvents&) = delete;
    FolderEvents& operator=(const FolderEvents&) = delete;

    // Watches `root` (an existing folder) and every folder below it, hidden ones excepted.
    // Throws an Error naming the folder when it cannot be watched (the root is not a folder,
    // the per-user watch limit is reached: fs.inotify.max_user_watches).
    void watch_tree(const std::string& root);
    // Waits up to `timeout` for the kernel's events and returns them in order, with folders
    // that appeared walked (their files as `written`); empty when nothing happened.
    std::vector<FolderEvent> read(std::chrono::milliseconds timeout);
    std::size_t folders() const { return folder_of_.size(); }

private:
    // Adds watches below `dir` (itself included); files found go to `found` when given.
    void add_tree(const std::string& dir, std::vector<FolderEvent>* found, bool throw_on_error);
    void forget_tree(const std::string& dir);

    int fd_ = -1;
    std::map<int, std::string> folder_of_;       // watch descriptor -> folder
    std::set<std::pair<dev_t, ino_t>> watched_;  // folders reached twice are watched once
    std::map<std::string, std::pair<dev_t, ino_t>> id_of_;
    std::set<std::string> roots_;
};

}  // namespace opsis::indexer
