#pragma once
// Bulk indexing jobs. Images: walk -> read, hash, decode and resize on worker threads ->
// batched encode -> batched atomic commit, with bounded queues between the stages. Texts:
// read -> batched encode -> commit. Idempotent (unchanged files are skipped, changed ones
// re-embedded, identical content stored once with all its paths) and resumable after a kill:
// each commit is atomic, and a re-run skips what was committed.
#include <atomic>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "encoder/dual_encoder.h"
#include "indexer/inputs.h"
#include "storage/index_store.h"

namespace opsis::indexer {

struct JobOptions {
    int decode_threads = 0;         // 0: one less than the hardware threads, at least one
    int batch = 64;                 // images per encoder batch
    bool prune = false;             // remove index entries of files gone from the given folders
    bool retry_failed = false;      // retry files that failed before even if unchanged
    bool captions_as_texts = true;  // a manifest's captions also join the texts collection
    // JPEGs decoded at full size rather than at the smallest DCT scale the model's input allows
    // (the slower path, kept for measuring the fast one against).
    bool full_decode = false;
    InputSlice slice;  // only this part of the files (index add --shard i/N)
    ImageLimits limits;
    WalkOptions walk;
    double progress_every = 10;  // seconds between plain progress lines (not on a terminal)
    bool show_progress = true;
    // The vector indexes saved when the job ends. A watcher's small jobs leave it to the
    // store's periodic snapshots (the catalog's log replays the rest at open).
    bool snapshot_at_end = true;
    // Set from another thread to stop the job as SIGINT does: what is in flight is committed,
    // nothing more is read (the server's DELETE /api/index/jobs/current).
    const std::atomic<bool>* cancel = nullptr;
    bool cancelled() const { return cancel && cancel->load(); }
};

struct JobSummary {
    std::uint64_t files = 0;           // files considered
    std::uint64_t added = 0;           // new content, embedded
    std::uint64_t changed = 0;         // a known path whose content changed, re-embedded
    std::uint64_t duplicates = 0;      // a new path for content already indexed
    std::uint64_t unchanged = 0;       // same path, size, mtime and hash: skipped
    std::uint64_t dated = 0;           // of them, items from before Opsis kept dates: dated now
    std::uint64_t failed = 0;          // could not be indexed (reason recorded)
    std::uint64_t failed_before = 0;   // failed in an earlier run and unchanged since: skipped
    std::uint64_t pruned = 0;          // paths removed because their files are gone
    std::uint64_t texts_added = 0;     // sentences embedded into the texts collection
    std::uint64_t examined_again = 0;  // new paths of content that left the index while the job ran
    std::uint64_t other_shards = 0;    // files of the other parts (JobOptions::slice), left to their jobs
    std::map<std::string, std::uint64_t> failure_reasons;
    std::vector<std::string> problems;  // not one file's: unreadable folders, bad manifest lines
    double seconds = 0;
};

JobSummary index_images(storage::IndexStore& store, const DualEncoder& model, const std::vector<InputSpec>& inputs,
                        const JobOptions& options);

// Text files (one sentence a line) or JSONL ({"text": ..., "source": ..., "tags": [...]}).
JobSummary index_texts(storage::IndexStore& store, const DualEncoder& model, const std::vector<std::string>& files,
                       const JobOptions& options);

// Adds sentences to the texts collection in one commit: each is hashed, known ones keep their
// id, new ones are embedded. Returns (id, added) per input, in order. Items need only `text`
// (and optionally source, tags); the text must be valid UTF-8.
std::vector<std::pair<std::int64_t, bool>> add_text_items(storage::IndexStore& store, const DualEncoder& model,
                                                          std::vector<storage::Item> items);

// An uploaded image, indexed from its bytes through the same examine and commit stages as a
// file job, with file.source, file.tags and file.captions in the same commit. The bytes are
// examined first (a picture that cannot be decoded is an invalid-input error, and nothing is
// kept), then kept in the index folder, named by content (uploads/<sha256><extension>), so the
// item has a file to serve; that is its path. Content already indexed gains the path and merges
// the metadata. Errors name the upload as `name` (what the client called it), never the
// server's path.
struct UploadOutcome {
    std::int64_t id = 0;
    bool created = false;  // new content, embedded
};
UploadOutcome index_upload(storage::IndexStore& store, const DualEncoder& model, const std::string& name,
                           std::span<const unsigned char> bytes, const std::string& extension, InputFile file,
                           const JobOptions& options);

// Removes from the index the paths (and recorded failures) of files that no longer exist: those
// named, and those below the folders named (each ending in '/'); a path that exists again is
// left alone. Returns how many paths left. `add --prune` and the folder watcher use it.
std::uint64_t remove_gone_paths(storage::IndexStore& store, const std::vector<std::string>& files,
                                const std::vector<std::string>& folders);

// The reason of an opsis::Error message without its "image 'path': " prefix.
std::string failure_reason(const std::string& message, const std::string& path);

}  // namespace opsis::indexer
