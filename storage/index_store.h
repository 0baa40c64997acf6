#pragma once
// An index folder: the catalog (RocksDB, durable truth) plus one vector index per collection
// (FAISS, rebuildable), kept in step. Layout:
//   DIR/catalog/         RocksDB
//   DIR/images.vectors   snapshot of the images' vector index (see VectorIndex::save)
//   DIR/texts.vectors    snapshot of the texts' vector index
//   DIR/images.f16       float16 copies of the vectors, for re-scoring a compressed index's
//                        candidates (rescore_vectors.h; only beside a compressed index)
//   DIR/images.trained   the shared training the images' index started from (opsis index
//                        train; only in an index made with one): a lost snapshot starts again
//                        from it, and index merge joins the lists of shards that share it
//   DIR/index.json       written last at creation (format, model): the folder is an index
// Opening replays whatever the catalog logged beyond each snapshot, so a crash between a
// commit and a snapshot loses nothing.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "storage/catalog.h"
#include "storage/rescore_vectors.h"
#include "storage/vector_index.h"

namespace opsis::storage {

// Which model made an index's vectors: vectors of two models are not comparable.
struct ModelIdentity {
    std::string name;
    // Of model.safetensors, which holds an Opsis model's config too; for a CLIP checkpoint, of
    // its weights file's, config files' and tokenizer files' digests (index_folder/open_index).
    std::string sha256;
    std::string path;  // where it was loaded from (absolute), to reload it later
    int dim = 0;
    // The precision its vectors were made at (encoder/precision.h); indexes made before
    // precisions existed record none and were made at fp32.
    std::string precision = "fp32";
};

struct StoreOptions {
    std::string image_factory = "Flat";  // used when the folder is created
    std::string text_factory = "Flat";
    // A shared training (opsis index train: a trained, empty vector index) the images' index
    // starts from instead of image_factory, when the folder is created. An index that exists
    // must have started from the same one.
    std::string image_trained;
    std::uint64_t snapshot_every = 50000;  // changes between periodic snapshots
    // Only reading (stats, verify, errors, search, a server without a token): the catalog is
    // opened read-only, so nothing is written — no log, no snapshot — and a full disk or a
    // read-only folder does not stop it. The index is seen as it was when opened.
    bool read_only = false;
};

struct CollectionCheck {
    std::uint64_t items = 0, vectors = 0, indexed = 0, tombstones = 0, compared = 0;
    float max_difference = 0;
    bool trained = true;
    std::string note;
};

struct VerifyReport {
    std::map<Collection, CollectionCheck> collections;
    std::vector<std::string> problems;
    bool ok() const { return problems.empty(); }
};

class IndexStore {
public:
    // Opens DIR. With create, a missing folder is made and records `model`; an existing one
    // must have been made by the same model (same weights hash) when `model` is given.
    static std::unique_ptr<IndexStore> open(const std::string& dir, const std::optional<ModelIdentity>& model,
                                            bool create, const StoreOptions& options = {});
    ~IndexStore();

    const std::string& dir() const { return dir_; }
    const ModelIdentity& model() const { return model_; }
    Catalog& catalog() { return *catalog_; }
    const Catalog& catalog() const { return *catalog_; }
    VectorIndex& vectors(Collection c) { return *vectors_.at(c); }
    const VectorIndex& vectors(Collection c) const { return *vectors_.at(c); }
    // The float16 copies a compressed vector index's candidates are re-scored against; null
    // when the index holds exact vectors itself (or, read-only, when the file lags the catalog:
    // candidates are then re-scored from the catalog).
    const RescoreVectors* rescore_vectors(Collection c) const {
        const auto it = rescore_.find(c);
        return it == rescore_.end() ? nullptr : it->second.get();
    }

    // Commits the batch to the catalog, then brings the vector indexes up to date with it.
    void commit(Catalog::Batch& batch);
    // The same for many new items at once (Catalog::Bulk): the vectors go to the vector index
    // and the float16 copies from the bulk, not read back.
    void commit(Catalog::Bulk& bulk);
    // Saves every vector index that changed since its last snapshot and trims the logs;
    // also done by commit() every snapshot_every changes and by the destructor.
    void snapshot();
    // An untrained index (IVF, PQ) trains once the collection holds enough vectors; returns
    // whether it is trained now.
    bool train_if_ready(Collection c);
    // A new vector index from the stored embeddings (no re-encoding), saved atomically.
    void rebuild(Collection c, const std::string& factory);
    // Takes `index` (index merge's joined lists) as the collection's vector index: whatever
    // stored vector it lacks is added, it is marked as holding every catalog change and saved;
    // `trained` (a shared training's file, or "") is kept as DIR/<collection>.trained.
    void adopt(Collection c, std::unique_ptr<VectorIndex> index, const std::string& trained);
    // A shared training for shards (opsis index train): a new `factory` index trained on a
    // sample of the collection's stored vectors, left empty. Too few vectors is an error.
    std::unique_ptr<VectorIndex> train_shared(Collection c, const std::string& factory) const;
    // DIR/<collection>.trained when the collection's index started from a shared training.
    std::optional<std::string> shared_training(Collection c) const;
    VerifyReport verify() const;
    nlohmann::json stats() const;

private:
    IndexStore() = default;
    std::string snapshot_path(Collection c) const;
    std::string rescore_path(Collection c) const;
    std::string trained_path(Collection c) const;
    // A new, empty vector index for the collection: from its shared training when it has one.
    std::unique_ptr<VectorIndex> fresh_vectors(Collection c, const std::string& factory) const;
    // Keeps a shared training (loaded, so checked) as DIR/<collection>.trained.
    void keep_trained(Collection c, const VectorIndex& trained);
    // Opens, or builds from the catalog, the collection's float16 copies when its vector index
    // is compressed; removes them when it is exact.
    void open_rescore(Collection c);
    // The changes' vectors come from `bulk` when it holds them, else from the catalog.
    void apply(Collection c, const std::vector<Change>& changes, const Catalog::Bulk* bulk = nullptr);
    void apply_committed(const std::vector<std::pair<Collection, Change>>& changes, const Catalog::Bulk* bulk);
    void replay(Collection c);
    void fill_from_catalog(VectorIndex& index, Collection c);
    void train_on_sample(VectorIndex& index, Collection c) const;
    // Both with write_mutex_ held: every changed index, or one collection's, saved and its
    // log trimmed to what the snapshot includes.
    void snapshot_changed();
    void save_snapshot(Collection c);

    std::string dir_;
    ModelIdentity model_;
    StoreOptions options_;
    std::unique_ptr<Catalog> catalog_;
    std::map<Collection, std::unique_ptr<VectorIndex>> vectors_;
    std::map<Collection, std::unique_ptr<RescoreVectors>> rescore_;
    std::map<Collection, std::uint64_t> saved_seq_;
    std::uint64_t changes_since_snapshot_ = 0;
    std::mutex write_mutex_;
};

std::string describe(const ModelIdentity& model);
// DIR/index.json: written when a folder's creation has completed; an index exists iff it does.
std::string marker_path(const std::string& dir);

}  // namespace opsis::storage
