#pragma once
// The examine stage of an image job (on worker threads): what one file is to the index —
// unchanged, failed before and unchanged since, a known path touched, a new path for known
// content, new content to embed (with the encoder's input ready), or a failure with its
// reason. An upload is examined from its bytes the same way.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "encoder/dual_encoder.h"
#include "image/photo_metadata.h"
#include "indexer/index_job.h"
#include "indexer/inputs.h"
#include "storage/catalog.h"

namespace opsis::indexer {

struct FileResult {
    enum class Kind { unchanged, failed_before, touched, duplicate, encode, failure } kind = Kind::failure;
    InputFile file;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::string hash, reason;
    int width = 0, height = 0;  // upright
    PhotoMetadata metadata;     // what its EXIF says, for Kind::encode and dates_missing
    // unchanged/touched: its item was indexed by an Opsis that kept no dates; metadata is then
    // read from the bytes, and the committer adds date, camera and place to the item.
    bool dates_missing = false;
    std::vector<float> pixels;  // the encoder's input, for Kind::encode
    bool had_failure = false;
};

// Stats and reads the file, then examine_bytes. Never throws: failures are a Kind.
FileResult examine(InputFile&& file, const storage::Catalog& catalog, const DualEncoder& model,
                   const JobOptions& options);

// Compares the bytes (whose SHA-256 is `hash`) with what the catalog knows of r.file.path
// (r.size and r.mtime_ns must be set), and decodes and preprocesses new content. Never throws.
void examine_bytes(FileResult& r, std::span<const unsigned char> bytes, std::string hash,
                   const storage::Catalog& catalog, const DualEncoder& model, const JobOptions& options);

// The short category of a failure, for the summary ("too large", "truncated file", ...).
std::string reason_category(const std::string& reason);

std::int64_t now_seconds();

}  // namespace opsis::indexer
