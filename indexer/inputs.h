#pragma once
// What an indexing job reads: folders (walked recursively), single image files, list files
// (one path a line) and JSONL manifests with captions. Each yields InputFile records in a
// stream, so a million-file collection never sits in memory.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace opsis::indexer {

struct InputFile {
    std::string path;  // absolute, lexically normalised (symlinks kept as named)
    std::vector<std::string> captions;  // from a manifest
    std::string source;
    std::vector<std::string> tags;
};

struct WalkOptions {
    // Lower-case extensions taken from folders; a file named directly is always taken.
    std::vector<std::string> extensions{"jpg", "jpeg", "png", "gif", "bmp", "tga"};
};

enum class InputKind { path, list, manifest };
struct InputSpec {
    InputKind kind = InputKind::path;
    std::string path;
};

// Hidden files and folders, macOS resource forks ("._x.jpg"), .DS_Store, Thumbs.db, ...
bool is_junk_name(const std::string& filename);

// Streams every input's files to `found`. Problems that are not one file's (an unreadable
// folder, a malformed manifest line, a missing list entry) go to `problem` as (name, reason)
// and the walk goes on. Folders reached twice (symlink loops) are walked once.
void for_each_input_file(const std::vector<InputSpec>& inputs, const WalkOptions& options,
                         const std::function<void(InputFile&&)>& found,
                         const std::function<void(const std::string&, const std::string&)>& problem);

std::string absolute_path(const std::string& path);

}  // namespace opsis::indexer
