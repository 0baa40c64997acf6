#pragma once
// The vector index of one collection: any FAISS index_factory string (Flat, HNSW32,
// IVF4096,PQ64, ...) over inner product of unit vectors, addressed by our 64-bit item ids.
// It is a cache of the catalog: rebuildable from the stored embeddings at any time, saved as
// atomic snapshots that record the catalog change-log position they include.
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace faiss {
struct Index;
}

namespace opsis::storage {

struct SearchHit {
    std::int64_t id = -1;
    float score = 0;  // inner product (cosine for unit vectors), as the index computes it
};

// What one search may ask of the index, per call, in the manner of faiss::SearchParameters
// (nothing is set on the shared index, so concurrent searches can differ).
struct SearchParams {
    // IVF: lists probed (nprobe); HNSW: candidate list size (efSearch). 0: the index's default
    // (IVF min(nlist, 16); HNSW 64). Exact indexes ignore it.
    int effort = 0;
    // Ids never to return (sorted ascending), as faiss::IDSelector leaves them out: "more like
    // this" excludes the item it starts from. Removed ids are always left out.
    const std::vector<std::int64_t>* excluded = nullptr;
};

// How many stored vectors to train a quantiser on, of `available`: twice FAISS's threshold
// (39 a centroid) or 65,536, whichever is more. More barely helps recall and k-means cost
// grows with it (IVF4096 on all of 1M vectors would take ~17 minutes on two cores).
std::size_t training_sample_size(std::size_t min_points, std::size_t available);

class VectorIndex {
public:
    // Throws naming the factory string when FAISS cannot make it.
    static std::unique_ptr<VectorIndex> create(int dim, const std::string& factory);
    // Reads a snapshot; a missing, truncated or foreign file is a clear error.
    static std::unique_ptr<VectorIndex> load(const std::string& path);
    // Reads a shared training (see share_training): trained, empty and marked, or an error.
    static std::unique_ptr<VectorIndex> load_trained(const std::string& path);
    ~VectorIndex();

    // Temporary file, fsync, rename: a crash leaves the previous snapshot intact.
    void save(const std::string& path) const;

    const std::string& factory() const { return factory_; }
    int dim() const { return dim_; }
    // Log position of the catalog changes this index includes.
    std::uint64_t applied_seq() const { return applied_seq_; }
    void set_applied_seq(std::uint64_t seq) { applied_seq_ = seq; }

    // Index types with a trained quantiser (IVF, PQ) need this many vectors before training.
    bool is_trained() const;
    std::size_t min_training_points() const;
    void train(std::size_t n, const float* vectors);

    // A trained, empty index made the start of many (opsis index train): shard indexes that
    // start from it share its quantiser, so their lists can later be joined (join_lists)
    // instead of every vector being encoded again. It records the digest of its trained state
    // and the model whose vectors trained it; every index started from it carries both.
    void share_training(const std::string& model_sha256);
    const std::string& trained_from() const { return trained_from_; }  // "": trained apart
    const std::string& trained_for() const { return trained_for_; }    // the model's sha256
    // Whether join_lists can take this index's entries as they are (a plain IVF: our ids are
    // the ids in its lists). Others (Flat, HNSW, a transform before the IVF) re-add vectors.
    bool can_join_lists() const;
    // Takes every entry of `other` (same shared training) whose id `new_ids` maps, under the
    // new id, copying its code: nothing is encoded again. Ids already present are an error.
    void join_lists(const VectorIndex& other, const std::unordered_map<std::int64_t, std::int64_t>& new_ids);

    // Adding to an untrained index is an error; ids already present are an error.
    void add(std::size_t n, const std::int64_t* ids, const float* vectors);
    // Ids not present are ignored. Index types that cannot delete (HNSW) keep the vector but
    // mark the id removed: searches skip it, and it no longer counts.
    void remove(const std::vector<std::int64_t>& ids);
    bool contains(std::int64_t id) const;
    std::size_t size() const;               // live vectors
    std::size_t tombstones() const;         // removed but still stored (see remove)
    std::vector<std::int64_t> ids() const;  // live ids, ascending

    // The k nearest by inner product of each of n queries (n x dim, row-major), best first,
    // removed ids skipped. A batch costs far less than its queries one by one (FAISS's flat
    // and IVF scans share one sgemm or one pass over the lists).
    std::vector<std::vector<SearchHit>> search(std::size_t n, const float* queries, std::size_t k,
                                               const SearchParams& params = {}) const;
    std::vector<SearchHit> search(const float* query, std::size_t k, const SearchParams& params = {}) const {
        return search(1, query, k, params).front();
    }
    // Whether reconstruct() returns the vectors exactly as added (Flat, HNSW-Flat, IVF-Flat)
    // and, the same thing, whether search() scores are the exact inner products.
    bool stores_exact_vectors() const;
    // The vector the index holds for id (decoded for compressed indexes); false if absent.
    bool reconstruct(std::int64_t id, float* out) const;
    // What a compressed index would hold for `vector` (encode + decode); the vector itself
    // for exact ones. False when the index type has no standalone codec.
    bool round_trip(const float* vector, float* out) const;
    std::size_t memory_bytes() const;  // the serialised size, as an estimate of its RAM

private:
    VectorIndex() = default;
    void wire_ids();
    // What a search without an effort of its own gets (and what a search through an index type
    // that takes no per-call parameters always gets).
    void set_default_effort();
    std::string factory_;
    int dim_ = 0;
    std::uint64_t applied_seq_ = 0;
    std::string trained_from_, trained_for_;  // see share_training
    std::unique_ptr<faiss::Index> index_;     // what we talk to: IDMap2(base) or an IVF
    faiss::Index* base_ = nullptr;            // the factory's index
    std::unordered_set<std::int64_t> live_;
    std::unordered_set<std::int64_t> removed_;  // tombstones (types without remove_ids)
    mutable std::shared_mutex mutex_;
};

}  // namespace opsis::storage
