#include "storage/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFastScan.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexIVFPQR.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "storage/flat_scan.h"

namespace opsis::storage {
namespace {

// The search effort without one of its own. IVF: a 64th of the lists, at least 16: on 1M
// synthetic vectors (IVF4096,PQ64, 256 candidates re-scored) recall@10 went from 0.924 at 16
// lists to 0.991 at 64 (bench search), at no cost beside the query's embedding.
std::size_t default_nprobe(std::size_t nlist) {
    return std::min<std::size_t>(nlist, std::max<std::size_t>(16, nlist / 64));
}
constexpr int kDefaultEfSearch = 64;

using json = nlohmann::json;
constexpr char kMagic[8] = {'O', 'P', 'S', 'I', 'S', 'V', 'E', 'C'};
constexpr std::uint64_t kMaxHeader = 1ull << 30;

const faiss::Index* unwrap_transforms(const faiss::Index* index) {
    while (auto* pt = dynamic_cast<const faiss::IndexPreTransform*>(index)) index = pt->index;
    return index;
}

struct CountingWriter : faiss::IOWriter {
    std::size_t bytes = 0;
    size_t operator()(const void*, size_t size, size_t nitems) override {
        bytes += size * nitems;
        return nitems;
    }
};

struct StringWriter : faiss::IOWriter {
    std::string bytes;
    size_t operator()(const void* data, size_t size, size_t nitems) override {
        bytes.append(static_cast<const char*>(data), size * nitems);
        return nitems;
    }
};

// Below 20 queries FAISS scans a flat index (and an IVF's coarse quantiser) query by query
// with its generic, non-SIMD loop; from 2 queries on its sgemm path is already faster
// (17,775 x 256: 4.6 ms a query one by one, 2.1 ms in a pair, 0.6 ms in a batch of 8).
void prefer_blas_for_batches() {
    static std::once_flag once;
    std::call_once(once, [] { faiss::distance_compute_blas_threshold = 2; });
}

}  // namespace

std::size_t training_sample_size(std::size_t min_points, std::size_t available) {
    return std::min(available, std::max<std::size_t>(2 * min_points, 65536));
}

std::unique_ptr<VectorIndex> VectorIndex::create(int dim, const std::string& factory) {
    prefer_blas_for_batches();
    if (dim <= 0) throw input_error("vector index", factory, "dimension must be positive");
    if (factory.rfind("IDMap", 0) == 0)
        throw input_error("index factory", factory, "do not add IDMap: opsis manages the ids itself");
    std::unique_ptr<faiss::Index> base;
    try {
        base.reset(faiss::index_factory(dim, factory.c_str(), faiss::METRIC_INNER_PRODUCT));
    } catch (const faiss::FaissException& e) {
        throw input_error("index factory", factory, std::string("FAISS cannot make it: ") + e.what());
    }
    // Polysemous training (on by default for PQ) only serves Hamming-filtered search, which
    // we never use, and costs minutes of simulated annealing.
    if (auto* ivfpq = dynamic_cast<faiss::IndexIVFPQ*>(const_cast<faiss::Index*>(unwrap_transforms(base.get()))))
        ivfpq->do_polysemous_training = false;
    if (auto* pq = dynamic_cast<faiss::IndexPQ*>(const_cast<faiss::Index*>(unwrap_transforms(base.get()))))
        pq->do_polysemous_training = false;
    std::unique_ptr<VectorIndex> v(new VectorIndex());
    v->factory_ = factory;
    v->dim_ = dim;
    if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(base.get())) {
        // IVF keeps our ids in its lists; a hash direct map lets it find and remove them.
        ivf->set_direct_map_type(faiss::DirectMap::Hashtable);
        v->base_ = base.get();
        v->index_ = std::move(base);
    } else {
        auto idmap = std::make_unique<faiss::IndexIDMap2>(base.get());
        idmap->own_fields = true;
        v->base_ = base.release();
        v->index_ = std::move(idmap);
    }
    v->set_default_effort();
    return v;
}

std::unique_ptr<VectorIndex> VectorIndex::load(const std::string& path) {
    prefer_blas_for_batches();
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) throw input_error("vector index", path, std::string("cannot open: ") + std::strerror(errno));
    char magic[8];
    std::uint64_t header_size = 0;
    if (std::fread(magic, 1, 8, f.get()) != 8 || std::memcmp(magic, kMagic, 8) != 0)
        throw input_error("vector index", path, "not an Opsis vector index snapshot");
    if (std::fread(&header_size, sizeof header_size, 1, f.get()) != 1 || header_size > kMaxHeader)
        throw input_error("vector index", path, "truncated or corrupt header");
    std::string header(header_size, '\0');
    if (std::fread(header.data(), 1, header_size, f.get()) != header_size)
        throw input_error("vector index", path, "truncated header");
    json h;
    try {
        h = json::parse(header);
    } catch (const json::exception& e) {
        throw input_error("vector index", path, std::string("corrupt header: ") + e.what());
    }
    std::unique_ptr<VectorIndex> v(new VectorIndex());
    v->factory_ = h.value("factory", std::string{});
    v->dim_ = h.value("dim", 0);
    v->applied_seq_ = h.value("applied_seq", std::uint64_t{0});
    v->trained_from_ = h.value("trained_from", std::string{});
    v->trained_for_ = h.value("trained_for", std::string{});
    for (std::int64_t id : h.value("removed", std::vector<std::int64_t>{})) v->removed_.insert(id);
    try {
        v->index_.reset(faiss::read_index(f.get()));
    } catch (const std::exception& e) {  // FaissException, or bad_alloc from a corrupt count
        throw input_error("vector index", path, std::string("corrupt or truncated FAISS data: ") + e.what());
    }
    if (v->index_->d != v->dim_) throw input_error("vector index", path, "dimension does not match its header");
    if (auto* idmap = dynamic_cast<faiss::IndexIDMap2*>(v->index_.get())) {
        v->base_ = idmap->index;
        for (faiss::Index::idx_t id : idmap->id_map)
            if (!v->removed_.count(id)) v->live_.insert(id);
    } else if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(v->index_.get())) {
        v->base_ = ivf;
        for (std::size_t list = 0; list < ivf->nlist; ++list) {
            const std::size_t n = ivf->invlists->list_size(list);
            faiss::InvertedLists::ScopedIds ids(ivf->invlists, list);
            for (std::size_t i = 0; i < n; ++i)
                if (!v->removed_.count(ids[i])) v->live_.insert(ids[i]);
        }
    } else {
        throw input_error("vector index", path, "unexpected FAISS index structure");
    }
    if (v->live_.size() + v->removed_.size() != static_cast<std::size_t>(v->index_->ntotal))
        throw input_error("vector index", path, "duplicate ids in the FAISS data");
    v->set_default_effort();
    return v;
}

std::unique_ptr<VectorIndex> VectorIndex::load_trained(const std::string& path) {
    std::unique_ptr<VectorIndex> v = load(path);
    if (v->trained_from_.empty())
        throw input_error("trained vector index", path,
                          "is not a shared training (make one with `opsis index train --out " + path + " ...`)");
    if (v->index_->ntotal != 0)
        throw input_error("trained vector index", path,
                          "holds " + std::to_string(v->index_->ntotal) +
                              " vectors: a shared training is empty (make one with `opsis index train`)");
    if (!v->is_trained()) throw input_error("trained vector index", path, "is not trained");
    return v;
}

VectorIndex::~VectorIndex() = default;

void VectorIndex::save(const std::string& path) const {
    std::shared_lock lock(mutex_);
    std::vector<std::int64_t> removed(removed_.begin(), removed_.end());
    std::sort(removed.begin(), removed.end());
    json h{{"factory", factory_},
           {"dim", dim_},
           {"applied_seq", applied_seq_},
           {"live", live_.size()},
           {"removed", removed}};
    if (!trained_from_.empty()) h["trained_from"] = trained_from_, h["trained_for"] = trained_for_;
    const std::string header = h.dump();
    write_file_atomic_with(path, [&](std::FILE* f) {
        const std::uint64_t size = header.size();
        if (std::fwrite(kMagic, 1, 8, f) != 8 || std::fwrite(&size, sizeof size, 1, f) != 1 ||
            std::fwrite(header.data(), 1, header.size(), f) != header.size())
            throw Error("write failed");
        try {
            faiss::write_index(index_.get(), f);
        } catch (const faiss::FaissException& e) {
            throw Error(std::string("FAISS could not write the index: ") + e.what());
        }
    });
}

bool VectorIndex::is_trained() const { return index_->is_trained; }

std::size_t VectorIndex::min_training_points() const {
    if (index_->is_trained) return 0;
    std::size_t n = 1;
    const faiss::Index* inner = unwrap_transforms(base_);
    if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(inner)) inner = unwrap_transforms(hnsw->storage);
    if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(inner)) n = std::max<std::size_t>(n, ivf->nlist);
    if (auto* ivfpq = dynamic_cast<const faiss::IndexIVFPQ*>(inner))
        n = std::max<std::size_t>(n, std::size_t{1} << ivfpq->pq.nbits);
    if (auto* pq = dynamic_cast<const faiss::IndexPQ*>(inner))
        n = std::max<std::size_t>(n, std::size_t{1} << pq->pq.nbits);
    // FAISS's own threshold for k-means (39 points per centroid); below it the exact scan of
    // the stored vectors is both fast and better than a poorly trained quantiser.
    return 39 * n;
}

void VectorIndex::train(std::size_t n, const float* vectors) {
    std::unique_lock lock(mutex_);
    try {
        index_->train(static_cast<faiss::Index::idx_t>(n), vectors);
    } catch (const faiss::FaissException& e) {
        throw input_error("vector index", factory_, std::string("training failed: ") + e.what());
    }
}

void VectorIndex::share_training(const std::string& model_sha256) {
    std::unique_lock lock(mutex_);
    if (!index_->is_trained) throw input_error("vector index", factory_, "is not trained: nothing to share");
    if (index_->ntotal != 0) throw input_error("vector index", factory_, "must be empty to be shared as a training");
    StringWriter w;
    faiss::write_index(index_.get(), &w);
    trained_from_ = sha256_hex(w.bytes.data(), w.bytes.size());
    trained_for_ = model_sha256;
}

bool VectorIndex::can_join_lists() const {
    // Entries stored one by one (code_size bytes each) and nothing beside the lists: not the
    // fast-scan types (codes packed in blocks), not IVFPQR (refinement codes by row) or
    // IVFFlatDedup (its map of duplicates).
    auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index_.get());
    return ivf && dynamic_cast<const faiss::ArrayInvertedLists*>(ivf->invlists) &&
           !dynamic_cast<const faiss::IndexIVFFastScan*>(ivf) && !dynamic_cast<const faiss::IndexIVFPQR*>(ivf) &&
           !dynamic_cast<const faiss::IndexIVFFlatDedup*>(ivf);
}

void VectorIndex::join_lists(const VectorIndex& other, const std::unordered_map<std::int64_t, std::int64_t>& new_ids) {
    std::unique_lock lock(mutex_);
    std::shared_lock other_lock(other.mutex_);
    if (trained_from_.empty() || other.trained_from_ != trained_from_)
        throw input_error("vector index", factory_, "lists can only be joined between indexes of one shared training");
    auto* into = dynamic_cast<faiss::IndexIVF*>(index_.get());
    auto* from = dynamic_cast<const faiss::IndexIVF*>(other.index_.get());
    if (!can_join_lists() || !other.can_join_lists() || into->nlist != from->nlist ||
        into->code_size != from->code_size)
        throw input_error("vector index", factory_, "has no inverted lists that can be joined");
    for (std::size_t list = 0; list < from->nlist; ++list) {
        const std::size_t n = from->invlists->list_size(list);
        if (n == 0) continue;
        faiss::InvertedLists::ScopedIds ids(from->invlists, list);
        faiss::InvertedLists::ScopedCodes codes(from->invlists, list);
        for (std::size_t i = 0; i < n; ++i) {
            const auto it = new_ids.find(ids[i]);
            if (it == new_ids.end()) continue;
            const std::int64_t id = it->second;
            if (live_.count(id) || removed_.count(id))
                throw input_error("vector index", factory_, "id " + std::to_string(id) + " is already present");
            const std::size_t offset = into->invlists->add_entry(list, id, codes.get() + i * from->code_size);
            into->direct_map.add_single_id(id, static_cast<faiss::Index::idx_t>(list), offset);
            ++into->ntotal;
            live_.insert(id);
        }
    }
}

void VectorIndex::add(std::size_t n, const std::int64_t* ids, const float* vectors) {
    if (n == 0) return;
    std::unique_lock lock(mutex_);
    if (!index_->is_trained) throw input_error("vector index", factory_, "not trained yet");
    for (std::size_t i = 0; i < n; ++i)
        if (live_.count(ids[i]) || removed_.count(ids[i]))
            throw input_error("vector index", factory_, "id " + std::to_string(ids[i]) + " is already present");
    try {
        index_->add_with_ids(static_cast<faiss::Index::idx_t>(n), vectors, ids);
    } catch (const faiss::FaissException& e) {
        throw input_error("vector index", factory_, std::string("FAISS could not add vectors: ") + e.what());
    }
    live_.insert(ids, ids + n);
}

void VectorIndex::remove(const std::vector<std::int64_t>& ids) {
    std::unique_lock lock(mutex_);
    std::vector<faiss::Index::idx_t> present;
    for (std::int64_t id : ids)
        if (live_.count(id)) present.push_back(id);
    if (present.empty()) return;
    // IDMap2 renumbers after its sub-index deletes, which is only right for flat code arrays;
    // IVF deletes by id itself. Everything else (HNSW, transforms) keeps tombstones.
    if (dynamic_cast<faiss::IndexIVF*>(index_.get()) != nullptr) {
        // IVF's hash direct map takes an IDSelectorArray and looks each id up.
        faiss::IDSelectorArray selector(present.size(), present.data());
        index_->remove_ids(selector);
    } else if (dynamic_cast<faiss::IndexFlatCodes*>(base_) != nullptr) {
        // IDMap2 asks about every stored id: a hashed batch answers in O(1).
        faiss::IDSelectorBatch selector(present.size(), present.data());
        index_->remove_ids(selector);
    } else {
        removed_.insert(present.begin(), present.end());
    }
    for (faiss::Index::idx_t id : present) live_.erase(id);
}

bool VectorIndex::contains(std::int64_t id) const {
    std::shared_lock lock(mutex_);
    return live_.count(id) > 0;
}

std::size_t VectorIndex::size() const {
    std::shared_lock lock(mutex_);
    return live_.size();
}

std::size_t VectorIndex::tombstones() const {
    std::shared_lock lock(mutex_);
    return removed_.size();
}

std::vector<std::int64_t> VectorIndex::ids() const {
    std::shared_lock lock(mutex_);
    std::vector<std::int64_t> out(live_.begin(), live_.end());
    std::sort(out.begin(), out.end());
    return out;
}

namespace {

// The ids a search leaves out, asked by FAISS about each candidate it meets. FAISS 1.7.3's
// IDMap does not translate selectors, so for an index behind our IDMap2 the selector is given
// the row -> id map and sees rows.
struct LeftOut : faiss::IDSelector {
    const std::unordered_set<std::int64_t>& removed;
    const std::vector<std::int64_t>* excluded;        // sorted
    const std::vector<faiss::Index::idx_t>* row_ids;  // null: FAISS passes our ids (IVF)
    LeftOut(const std::unordered_set<std::int64_t>& r, const std::vector<std::int64_t>* e,
            const std::vector<faiss::Index::idx_t>* rows)
        : removed(r), excluded(e), row_ids(rows) {}
    bool left_out(std::int64_t id) const {
        return removed.count(id) || (excluded && std::binary_search(excluded->begin(), excluded->end(), id));
    }
    bool is_member(faiss::Index::idx_t i) const override {
        return !left_out(row_ids ? (*row_ids)[static_cast<std::size_t>(i)] : i);
    }
};

}  // namespace

std::vector<std::vector<SearchHit>> VectorIndex::search(std::size_t n, const float* queries, std::size_t k,
                                                        const SearchParams& params) const {
    std::shared_lock lock(mutex_);
    std::vector<std::vector<SearchHit>> out(n);
    if (n == 0 || !index_->is_trained || index_->ntotal == 0 || k == 0) return out;
    if (params.effort < 0)
        throw input_error("vector search effort", std::to_string(params.effort), "must be at least 0");
    const std::size_t excluded = params.excluded ? params.excluded->size() : 0;
    // Every index type is asked for enough to fill k after what is left out, whether or not it
    // honours the selector (the results are filtered below as well).
    const std::size_t want =
        std::min<std::size_t>(k + removed_.size() + excluded, static_cast<std::size_t>(index_->ntotal));
    auto* idmap = dynamic_cast<const faiss::IndexIDMap2*>(index_.get());
    const LeftOut left_out(removed_, params.excluded, idmap ? &idmap->id_map : nullptr);
    auto* flat = dynamic_cast<const faiss::IndexFlat*>(base_);
    if (n == 1 && flat && flat->metric_type == faiss::METRIC_INNER_PRODUCT) {
        for (const RowScore& r : flat_top_k(flat->get_xb(), static_cast<std::size_t>(flat->ntotal),
                                            static_cast<std::size_t>(dim_), queries, want)) {
            const std::int64_t id = idmap->id_map[r.row];
            if (!left_out.left_out(id) && out[0].size() < k) out[0].push_back({id, r.score});
        }
        return out;
    }
    // The effort and the selector travel with this call only.
    faiss::SearchParametersIVF ivf_params;
    faiss::SearchParametersHNSW hnsw_params;
    faiss::SearchParameters plain_params;
    faiss::SearchParameters* chosen = &plain_params;
    const faiss::Index* inner = unwrap_transforms(base_);
    if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(inner)) {
        ivf_params.nprobe = params.effort > 0 ? static_cast<std::size_t>(params.effort) : default_nprobe(ivf->nlist);
        chosen = &ivf_params;
    } else if (dynamic_cast<const faiss::IndexHNSW*>(inner)) {
        hnsw_params.efSearch = params.effort > 0 ? params.effort : kDefaultEfSearch;
        chosen = &hnsw_params;
    }
    // A selector costs a call per candidate: only when something is to be left out.
    if (!removed_.empty() || excluded) chosen->sel = const_cast<LeftOut*>(&left_out);
    const faiss::SearchParameters* given = chosen == &plain_params && !chosen->sel ? nullptr : chosen;
    const faiss::Index* searched = idmap ? base_ : index_.get();
    std::vector<float> scores(n * want);
    std::vector<faiss::Index::idx_t> ids(n * want);
    try {
        searched->search(static_cast<faiss::Index::idx_t>(n), queries, static_cast<faiss::Index::idx_t>(want),
                         scores.data(), ids.data(), given);
    } catch (const faiss::FaissException&) {
        // Index types that take no parameters (PQ, those behind a transform) are asked plainly,
        // at their own default effort (set_default_effort); the filter below still applies.
        if (!given) throw;
        searched->search(static_cast<faiss::Index::idx_t>(n), queries, static_cast<faiss::Index::idx_t>(want),
                         scores.data(), ids.data());
    }
    for (std::size_t q = 0; q < n; ++q)
        for (std::size_t i = q * want; i < (q + 1) * want && out[q].size() < k; ++i) {
            if (ids[i] < 0) continue;
            const std::int64_t id = idmap ? idmap->id_map[static_cast<std::size_t>(ids[i])] : ids[i];
            if (!left_out.left_out(id)) out[q].push_back({id, scores[i]});
        }
    return out;
}

void VectorIndex::set_default_effort() {
    faiss::Index* inner = base_;
    while (auto* pt = dynamic_cast<faiss::IndexPreTransform*>(inner)) inner = pt->index;
    if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(inner)) ivf->nprobe = default_nprobe(ivf->nlist);
    if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(inner)) hnsw->hnsw.efSearch = kDefaultEfSearch;
}

bool VectorIndex::stores_exact_vectors() const {
    const faiss::Index* inner = base_;
    if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(inner)) inner = hnsw->storage;
    return dynamic_cast<const faiss::IndexFlat*>(inner) != nullptr ||
           dynamic_cast<const faiss::IndexIVFFlat*>(inner) != nullptr;
}

bool VectorIndex::reconstruct(std::int64_t id, float* out) const {
    std::shared_lock lock(mutex_);
    if (!live_.count(id)) return false;
    try {
        index_->reconstruct(id, out);
    } catch (const faiss::FaissException& e) {
        throw input_error("vector index", factory_, std::string("cannot reconstruct a vector: ") + e.what());
    }
    return true;
}

bool VectorIndex::round_trip(const float* vector, float* out) const {
    if (stores_exact_vectors()) {
        std::copy(vector, vector + dim_, out);
        return true;
    }
    std::shared_lock lock(mutex_);
    try {
        std::vector<std::uint8_t> code(base_->sa_code_size());
        base_->sa_encode(1, vector, code.data());
        base_->sa_decode(1, code.data(), out);
        return true;
    } catch (const faiss::FaissException&) {
        return false;
    }
}

std::size_t VectorIndex::memory_bytes() const {
    std::shared_lock lock(mutex_);
    CountingWriter w;
    faiss::write_index(index_.get(), &w);
    return w.bytes;
}

}  // namespace opsis::storage
