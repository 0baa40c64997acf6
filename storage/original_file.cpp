#include "storage/original_file.h"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <cstdlib>
#include <memory>

#include "core/error.h"
#include "core/file_io.h"
#include "core/sha256.h"

namespace opsis::storage {
namespace {

// Whether resolving the path passes through no symbolic link ("." and ".." are resolved
// lexically by the indexer, so a recorded path is already in its plain form).
bool no_link_on_the_way(const std::string& path) {
    const std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr), &std::free);
    return resolved && path == resolved.get();
}

}  // namespace

OriginalFile read_original(const Catalog& catalog, const Item& item, std::uint64_t max_bytes) {
    OriginalFile out;
    for (const std::string& path : item.paths) {
        FileSnapshot file;
        try {
            file = read_file_snapshot(path, std::min(max_bytes, item.file_size));
        } catch (const Error&) {
            // Missing, unreadable, not a regular file, or larger than the indexed file.
            std::error_code ec;
            if (std::filesystem::exists(path, ec)) out.state = OriginalFile::State::changed;
            continue;
        }
        const std::optional<PathEntry> recorded = catalog.find_path(path);
        // (The read was capped at the indexed size, so equal sizes mean every byte was read.)
        const bool same_as_recorded = file.size == item.file_size && recorded && recorded->id == item.id &&
                                      recorded->size == file.size && recorded->mtime_ns == file.mtime_ns &&
                                      no_link_on_the_way(path);
        if (!same_as_recorded &&
            (file.bytes.size() != item.file_size || sha256_hex(file.bytes.data(), file.bytes.size()) != item.hash)) {
            out.state = OriginalFile::State::changed;
            continue;
        }
        out.state = OriginalFile::State::found;
        out.path = path;
        out.bytes = std::move(file.bytes);
        return out;
    }
    return out;
}

}  // namespace opsis::storage
