#include "indexer/examine.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include "core/error.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "image/preprocess.h"

namespace opsis::indexer {

using storage::Collection;

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string failure_reason(const std::string& message, const std::string& path) {
    const std::string quoted = "'" + path + "': ";
    const std::size_t at = message.find(quoted);
    return at == std::string::npos ? message : message.substr(at + quoted.size());
}

std::string reason_category(const std::string& reason) {
    std::size_t cut = reason.find_first_of("(:");
    std::string c = reason.substr(0, cut);
    while (!c.empty() && c.back() == ' ') c.pop_back();
    return c.empty() ? reason : c;
}

void examine_bytes(FileResult& r, std::span<const unsigned char> bytes, std::string hash,
                   const storage::Catalog& catalog, const DualEncoder& model, const JobOptions& options) {
    try {
        r.hash = std::move(hash);
        if (const std::optional<storage::PathEntry> known = catalog.find_path(r.file.path)) {
            const std::optional<storage::Item> item = catalog.item(Collection::images, known->id);
            if (item && item->hash == r.hash) {
                const bool same_stat = known->size == r.size && known->mtime_ns == r.mtime_ns;
                r.kind = same_stat ? FileResult::Kind::unchanged : FileResult::Kind::touched;
                if (!item->taken) {  // every item indexed since has a date (its EXIF's or its file's)
                    r.dates_missing = true;
                    r.metadata = read_exif(jpeg_exif_block(bytes.data(), bytes.size()));
                }
                return;
            }
        }
        if (catalog.find_hash(Collection::images, r.hash)) {
            r.kind = FileResult::Kind::duplicate;
            return;
        }
        const auto& pre = model.config().image.preprocess;
        // Decoded no larger than the model needs: a JPEG at its smallest DCT scale that still has
        // twice image_size on the short side (decoding, not the model, bounds photo indexing).
        // Twice, because at once the default model's embeddings of 1024x768 photos came within
        // cosine 0.9984 of the full decode's, at twice 0.99996 (`opsis bench decode`).
        const Photo photo = decode_photo(bytes.data(), bytes.size(), r.file.path, options.limits,
                                         DecodeHint{options.full_decode ? 0 : 2 * pre.image_size});
        r.width = photo.width;
        r.height = photo.height;
        r.metadata = photo.metadata;
        r.pixels.resize(static_cast<std::size_t>(pre.image_size) * pre.image_size * 3);
        preprocess_image(photo.image, pre, r.pixels.data());
        r.kind = FileResult::Kind::encode;
    } catch (const std::exception& e) {
        r.kind = FileResult::Kind::failure;
        r.reason = failure_reason(e.what(), r.file.path);
    }
}

FileResult examine(InputFile&& file, const storage::Catalog& catalog, const DualEncoder& model,
                   const JobOptions& options) {
    FileResult r;
    r.file = std::move(file);
    try {
        struct stat st {};
        if (::stat(r.file.path.c_str(), &st) != 0)
            throw input_error("image", r.file.path, std::string("cannot stat: ") + std::strerror(errno));
        if (!S_ISREG(st.st_mode)) throw input_error("image", r.file.path, "not a regular file");
        r.size = static_cast<std::uint64_t>(st.st_size);
        r.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
        const std::optional<storage::Failure> failure = catalog.failure(r.file.path);
        r.had_failure = failure.has_value();
        if (failure && !options.retry_failed && failure->size == r.size && failure->mtime_ns == r.mtime_ns) {
            r.kind = FileResult::Kind::failed_before;
            return r;
        }
        // A known path with the size and modification time it was indexed with is unchanged
        // without reading it: a rescan of a photo library costs a stat per file, not its bytes.
        if (const std::optional<storage::PathEntry> known = catalog.find_path(r.file.path);
            !failure && known && known->size == r.size && known->mtime_ns == r.mtime_ns) {
            const std::optional<storage::Item> item = catalog.item(Collection::images, known->id);
            if (item && item->taken) {  // one without a date is read below, to date it
                r.hash = item->hash;
                r.kind = FileResult::Kind::unchanged;
                return r;
            }
        }
        const std::vector<unsigned char> bytes = read_file(r.file.path, options.limits.max_file_bytes);
        examine_bytes(r, bytes, sha256_hex(bytes.data(), bytes.size()), catalog, model, options);
    } catch (const std::exception& e) {
        r.kind = FileResult::Kind::failure;
        r.reason = failure_reason(e.what(), r.file.path);
    }
    return r;
}

}  // namespace opsis::indexer
