#pragma once
// What an indexing job reads: folders (walked recursively), single image files, list files
// (one path a line) and JSONL manifests with captions. Each yields InputFile records in a
// stream, so a million-file collection never sits in memory.
#include <cstdint>
#include <functional>
#include <istream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/file_io.h"

namespace opsis::indexer {

struct InputFile {
    std::string path;                   // absolute, lexically normalised (symlinks kept as named)
    std::vector<std::string> captions;  // from a manifest
    std::string source;
    std::vector<std::string> tags;
};

struct WalkOptions {
    // Lower-case extensions taken from folders; a file named directly is always taken.
    std::vector<std::string> extensions{"jpg", "jpeg", "png", "webp", "heic", "heif", "avif", "gif", "bmp", "tga"};
    // Asked between files, folders and lines: true ends the walk where it is (a cancelled job).
    std::function<bool()> stopped;
};

// A line of a list or manifest longer than this is reported and skipped, not held in memory.
inline constexpr std::size_t kMaxInputLineBytes = 1 << 20;

// Why a list, manifest or text file the user named cannot be read line by line ("does not
// exist", "is not a regular file": a FIFO would block forever, /dev/zero never end); "" if it can.
std::string unreadable_reason(const std::string& path);
// The next line of `in` without its newline, at most kMaxInputLineBytes of it (`too_long`: the
// rest was skipped). False at the end of the input.
bool next_line(std::istream& in, std::string& line, bool& too_long);
// One JSON Lines line, parsed. Throws an Error whose message quotes none of the line (it may
// reach a client) and refuses an object naming one key twice, which parsers resolve silently.
nlohmann::json parse_json_line(const std::string& line);

// Part `part` of `parts` of a job's files, chosen by a stable hash of each file's path (the
// same on every machine and in every run): N jobs given the same inputs, one per part, index
// disjoint parts that together hold every file (index add --shard i/N).
struct InputSlice {
    std::uint32_t part = 0, parts = 1;
    bool whole() const { return parts == 1; }
    bool holds(const std::string& path) const;
    // "i/N" with 0 <= i < N; anything else is an error naming the text.
    static InputSlice parse(const std::string& text);
};

enum class InputKind { path, list, manifest };
struct InputSpec {
    InputKind kind = InputKind::path;
    std::string path;
};

// Hidden files and folders, macOS resource forks ("._x.jpg"), .DS_Store, Thumbs.db, ...
bool is_junk_name(const std::string& filename);
// Whether a file met in a folder is taken: not junk, and one of the extensions.
bool taken_from_folder(const std::string& path, const WalkOptions& options);

// Streams every input's files to `found`. Problems that are not one file's (an unreadable
// folder, a malformed manifest line, a missing list entry) go to `problem` as (name, reason)
// and the walk goes on. Folders reached twice (symlink loops) are walked once.
void for_each_input_file(const std::vector<InputSpec>& inputs, const WalkOptions& options,
                         const std::function<void(InputFile&&)>& found,
                         const std::function<void(const std::string&, const std::string&)>& problem);

}  // namespace opsis::indexer
