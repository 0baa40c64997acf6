#pragma once
// The original file of an image item, read only while one of its recorded paths still holds
// the content the catalog recorded. The server reads files that clients never name; a path
// swapped since indexing (for a symbolic link to a secret, or for another picture) must not
// be served, nor turned into a thumbnail.
#include <cstdint>
#include <string>
#include <vector>

#include "storage/catalog.h"

namespace opsis::storage {

struct OriginalFile {
    enum class State {
        found,    // bytes hold the indexed content
        missing,  // none of the recorded paths can be opened as a file
        changed,  // a recorded path exists but holds other content now
    };
    State state = State::missing;
    std::string path;                  // the path read (found)
    std::vector<unsigned char> bytes;  // its content (found)
};

// A path is trusted as unchanged without hashing when the file read has the size and
// modification time recorded for that path and no symbolic link lies on the way to it;
// otherwise (a moved folder, a link, a touched file) its bytes must hash to the item's hash.
// Files over max_bytes are not read (state changed when the recorded size is larger too).
OriginalFile read_original(const Catalog& catalog, const Item& item, std::uint64_t max_bytes);

}  // namespace opsis::storage
