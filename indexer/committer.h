#pragma once
// The encode and commit stages of an image job. The thread that owns the Committer encodes
// what the examine stage found, in batches (the only thread that runs the model, so OpenMP
// keeps one team); a thread of its own commits each batch atomically, so that the WAL's fsync
// overlaps the next batch's encoding. The commit thread is the only writer, and never runs the
// model: a result it cannot commit as examined (a duplicate whose content left the index
// earlier in the job) goes back to be examined and encoded again.
#include <atomic>
#include <exception>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "encoder/dual_encoder.h"
#include "indexer/bounded_queue.h"
#include "indexer/examine.h"
#include "indexer/index_job.h"
#include "storage/index_store.h"

namespace opsis::indexer {

class Committer {
public:
    Committer(storage::IndexStore& store, const DualEncoder& model, const JobOptions& options, JobSummary& summary);
    ~Committer();

    void take(FileResult&& r);
    bool full() const { return to_encode_ >= static_cast<std::size_t>(options_.batch) || pending_.size() >= 512; }
    bool empty() const { return pending_.empty(); }
    // Encodes what was taken (and what came back from the commit thread) and queues it for
    // commit. Rethrows a commit's failure.
    void flush();
    // Commits everything, including what comes back, then stops the commit thread; rethrows
    // a commit's failure.
    void finish();

    std::uint64_t done() const { return done_.load(); }
    std::uint64_t failed() const { return failed_.load(); }

private:
    struct EncodedBatch {
        std::vector<FileResult> results;
        Tensor vectors;                    // one row per Kind::encode result, in order
        std::vector<storage::Item> texts;  // new captions
        Tensor text_vectors;
    };

    void commit_loop();
    // False when the result went back to be examined again (not committed).
    bool commit_one(storage::Catalog::Batch& b, FileResult& r, const float* vector);
    // A second path (or a second look at the same path) may bring captions, tags or a source
    // the item lacks.
    void add_photo_facts(storage::Catalog::Batch& b, std::int64_t id, const FileResult& r);
    void merge_metadata(storage::Catalog::Batch& b, std::int64_t id, const FileResult& r);
    void rethrow_commit_failure() const;

    storage::IndexStore& store_;
    const DualEncoder& model_;
    const JobOptions& options_;
    JobSummary& summary_;
    std::vector<FileResult> pending_;
    std::size_t to_encode_ = 0;
    std::set<std::string> seen_texts_;
    std::atomic<std::uint64_t> done_{0}, failed_{0};
    std::atomic<std::size_t> in_flight_{0};  // batches queued and not yet committed
    std::mutex returned_mutex_;
    std::vector<InputFile> returned_;  // to examine again (see the class comment)
    std::exception_ptr error_;         // written by the commit thread before commit_failed_
    std::atomic<bool> commit_failed_{false};
    BoundedQueue<EncodedBatch> queue_{2};
    std::thread thread_;
};

}  // namespace opsis::indexer
