// inotify: one descriptor, one watch per folder, events read in whole buffers.
#include "indexer/folder_events.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "indexer/inputs.h"

namespace opsis::indexer {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kFolderMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                      IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK;

bool below(const std::string& path, const std::string& dir) {
    return path == dir ||
           (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

}  // namespace

FolderEvents::FolderEvents() {
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0)
        throw Error(std::string("watching folders: inotify is not available: ") + std::strerror(errno) +
                        (errno == EMFILE ? " (fs.inotify.max_user_instances reached)" : ""),
                    Error::Kind::io);
}

FolderEvents::~FolderEvents() {
    if (fd_ >= 0) ::close(fd_);
}

void FolderEvents::watch_tree(const std::string& root) {
    const std::string dir = fs::path(absolute_path(root)).lexically_normal().string();
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw input_error("watched folder", root, "is not a folder");
    roots_.insert(dir);
    add_tree(dir, nullptr, true);
}

void FolderEvents::add_tree(const std::string& dir, std::vector<FolderEvent>* found, bool throw_on_error) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return;                    // gone again already
    if (!watched_.insert({st.st_dev, st.st_ino}).second) return;  // a symlink loop or a second way in
    const int wd = ::inotify_add_watch(fd_, dir.c_str(), kFolderMask);
    if (wd < 0) {
        watched_.erase({st.st_dev, st.st_ino});
        const int err = errno;
        std::string reason = std::string("cannot be watched: ") + std::strerror(err);
        if (err == ENOSPC)
            reason +=
                " (the per-user inotify watch limit is reached: raise fs.inotify.max_user_watches, e.g. "
                "sysctl fs.inotify.max_user_watches=1048576)";
        if (throw_on_error) throw input_error("watched folder", dir, reason, Error::Kind::io);
        if (found) found->push_back({FolderEvent::Kind::problem, dir, reason});
        return;
    }
    folder_of_[wd] = dir;
    id_of_[dir] = {st.st_dev, st.st_ino};
    std::error_code ec;
    fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
        if (found) found->push_back({FolderEvent::Kind::problem, dir, "cannot list the folder: " + ec.message()});
        return;
    }
    std::vector<fs::directory_entry> entries;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) break;
        entries.push_back(*it);
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path() < b.path(); });
    for (const fs::directory_entry& e : entries) {
        const std::string name = e.path().filename().string();
        if (is_junk_name(name)) continue;
        std::error_code sec;
        const fs::file_status status = e.status(sec);  // follows symlinks, as the walk does
        if (sec) continue;
        if (fs::is_directory(status))
            add_tree(e.path().string(), found, throw_on_error);
        else if (found && fs::is_regular_file(status))
            found->push_back({FolderEvent::Kind::written, e.path().string(), {}});
    }
}

void FolderEvents::forget_tree(const std::string& dir) {
    for (auto it = folder_of_.begin(); it != folder_of_.end();) {
        if (!below(it->second, dir)) {
            ++it;
            continue;
        }
        ::inotify_rm_watch(fd_, it->first);  // fails harmlessly for a folder the kernel dropped
        if (auto id = id_of_.find(it->second); id != id_of_.end()) {
            watched_.erase(id->second);
            id_of_.erase(id);
        }
        it = folder_of_.erase(it);
    }
}

std::vector<FolderEvent> FolderEvents::read(std::chrono::milliseconds timeout) {
    std::vector<FolderEvent> events;
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (ready < 0 && errno != EINTR) throw Error(std::string("watching folders: poll: ") + std::strerror(errno));
    if (ready <= 0) return events;
    alignas(inotify_event) char buffer[64 * 1024];
    // Drains what is queued (bounded, so a flood still returns to the caller now and then).
    for (int reads = 0; reads < 64; ++reads) {
        const ssize_t n = ::read(fd_, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            throw Error(std::string("watching folders: reading inotify: ") + std::strerror(errno), Error::Kind::io);
        }
        for (const char* at = buffer; at < buffer + n;) {
            const auto* e = reinterpret_cast<const inotify_event*>(at);
            at += sizeof(inotify_event) + e->len;
            if (e->mask & IN_Q_OVERFLOW) {
                events.push_back({FolderEvent::Kind::overflow, {}, {}});
                continue;
            }
            const auto folder = folder_of_.find(e->wd);
            if (folder == folder_of_.end()) continue;  // a folder already forgotten
            const std::string dir = folder->second;
            if (e->mask & IN_IGNORED) {
                forget_tree(dir);
                continue;
            }
            if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
                // A folder below a root is reported by its parent; a root has none watched.
                if (roots_.count(dir))
                    events.push_back({FolderEvent::Kind::problem, dir,
                                      e->mask & IN_DELETE_SELF ? "the watched folder was deleted"
                                                               : "the watched folder was moved away"});
                continue;
            }
            if (e->len == 0) continue;
            const std::string path = dir + "/" + e->name;
            const bool is_dir = e->mask & IN_ISDIR;
            if (is_dir) {
                if (e->mask & (IN_CREATE | IN_MOVED_TO)) {
                    if (!is_junk_name(e->name)) add_tree(path, &events, false);
                } else if (e->mask & (IN_DELETE | IN_MOVED_FROM)) {
                    forget_tree(path);
                    events.push_back({FolderEvent::Kind::folder_gone, path, {}});
                }
            } else if (e->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
                events.push_back({FolderEvent::Kind::written, path, {}});
            } else if (e->mask & IN_CREATE) {
                // A file written in place is taken when closed; a link has no write to wait for.
                struct stat st {};
                if (::lstat(path.c_str(), &st) == 0 && (S_ISLNK(st.st_mode) || st.st_nlink > 1))
                    events.push_back({FolderEvent::Kind::written, path, {}});
            } else if (e->mask & (IN_DELETE | IN_MOVED_FROM)) {
                events.push_back({FolderEvent::Kind::gone, path, {}});
            }
        }
    }
    return events;
}

}  // namespace opsis::indexer
