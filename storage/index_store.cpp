#include "storage/index_store.h"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "core/error.h"
#include "core/file_io.h"

namespace opsis::storage {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

json identity_json(const ModelIdentity& m) {
    return json{{"name", m.name}, {"sha256", m.sha256}, {"path", m.path}, {"dim", m.dim}, {"precision", m.precision}};
}

ModelIdentity identity_from(const std::string& text, const std::string& dir) {
    try {
        const json j = json::parse(text);
        return {j.at("name"), j.at("sha256"), j.at("path"), j.at("dim"), j.value("precision", "fp32")};
    } catch (const json::exception& e) {
        throw input_error("index", dir, std::string("corrupt model record: ") + e.what());
    }
}

std::uint64_t folder_bytes(const std::string& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec))
        if (e.is_regular_file(ec)) total += e.file_size(ec);
    return total;
}

}  // namespace

std::string marker_path(const std::string& dir) { return dir + "/index.json"; }

std::string describe(const ModelIdentity& m) {
    return "'" + m.name + "' (weights sha256 " + m.sha256.substr(0, 12) + "…, " + std::to_string(m.dim) + "-d)";
}

std::unique_ptr<IndexStore> IndexStore::open(const std::string& dir, const std::optional<ModelIdentity>& model,
                                             bool create, const StoreOptions& options) {
    std::unique_ptr<IndexStore> s(new IndexStore());
    s->dir_ = dir;
    s->options_ = options;
    // index.json is written last when a folder is created: without it, a creation was
    // interrupted (or never happened), and creating again completes it.
    const bool complete = fs::exists(marker_path(dir));
    if (!complete) {
        if (!create)
            throw input_error("index", dir, "not found (create it with `opsis index add --index " + dir + " ...`)");
        if (!model) throw input_error("index", dir, "a new index needs a model");
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) throw input_error("index", dir, "cannot create the folder: " + ec.message());
    }
    s->catalog_ = Catalog::open(dir + "/catalog", !complete, options.read_only);
    // A snapshot interrupted by a crash leaves its temporary file; the old snapshot is intact.
    std::error_code ec;
    if (!options.read_only)
        for (const auto& e : fs::directory_iterator(dir, ec))
            if (e.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(e.path(), ec);
    const std::optional<std::string> recorded = s->catalog_->meta("model");
    if (!recorded && options.read_only)
        throw input_error("index", dir, "records no model yet (nothing was indexed into it)");
    if (!recorded) {
        if (!model) throw input_error("index", dir, "records no model: run `opsis index add` with --model");
        // First use: record the model and the factories; creating the indexes checks the factories.
        std::string image_factory = options.image_factory;
        if (!options.image_trained.empty()) {
            const std::unique_ptr<VectorIndex> t = VectorIndex::load_trained(options.image_trained);
            if (t->dim() != model->dim || t->trained_for() != model->sha256)
                throw input_error("trained vector index", options.image_trained,
                                  "was trained on another model's vectors (" + std::to_string(t->dim()) +
                                      "-d, model sha256 " + t->trained_for().substr(0, 12) + "…), not " +
                                      describe(*model) + "'s");
            image_factory = t->factory();
            s->model_ = *model;
            s->keep_trained(Collection::images, *t);
        }
        for (Collection c : kCollections)
            VectorIndex::create(model->dim, c == Collection::images ? image_factory : options.text_factory);
        Catalog::Batch b(*s->catalog_);
        b.put_meta("model", identity_json(*model).dump());
        b.put_meta("images.factory", image_factory);
        b.put_meta("texts.factory", options.text_factory);
        s->catalog_->commit(b);
        s->model_ = *model;
    } else {
        s->model_ = identity_from(*recorded, dir);
        if (model && model->sha256 != s->model_.sha256)
            throw input_error(
                "index", dir,
                "was made with model " + describe(s->model_) + ", not " + describe(*model) +
                    ": vectors of different models cannot be compared (use another --index, or omit --model)");
        if (!options.image_trained.empty()) {
            const std::string given = VectorIndex::load_trained(options.image_trained)->trained_from();
            const std::optional<std::string> own = s->shared_training(Collection::images);
            if (!own || VectorIndex::load_trained(*own)->trained_from() != given)
                throw input_error(
                    "index", dir,
                    std::string("was started ") +
                        (own ? "from another shared training than " : "without a shared training, not from ") +
                        options.image_trained + ": its lists could not be joined with the others'");
        }
    }
    if (!complete)
        write_file_atomic(marker_path(dir),
                          json{{"format", "opsis-index 1"}, {"model", identity_json(s->model_)}}.dump(2) + "\n");
    for (Collection c : kCollections) {
        const std::string path = s->snapshot_path(c);
        const std::string factory = s->catalog_->meta(std::string(collection_name(c)) + ".factory").value_or("Flat");
        s->saved_seq_[c] = ~std::uint64_t{0};
        if (fs::exists(path)) {
            // The snapshot is a cache of the catalog: one that is unreadable or does not fit is
            // rebuilt from the stored vectors rather than stopping the index from opening.
            try {
                s->vectors_[c] = VectorIndex::load(path);
                if (s->vectors_[c]->dim() != s->model_.dim)
                    throw input_error("vector index", path,
                                      "dimension " + std::to_string(s->vectors_[c]->dim()) +
                                          " does not match the model's " + std::to_string(s->model_.dim));
                if (s->vectors_[c]->applied_seq() > s->catalog_->last_seq(c))
                    throw input_error("vector index", path, "is ahead of the catalog (copied from elsewhere?)");
                s->saved_seq_[c] = s->vectors_[c]->applied_seq();
            } catch (const Error& e) {
                std::fprintf(stderr, "opsis: warning: %s; rebuilding it from the catalog\n", e.what());
                s->vectors_[c] = s->fresh_vectors(c, factory);
                s->fill_from_catalog(*s->vectors_[c], c);
                s->vectors_[c]->set_applied_seq(s->catalog_->last_seq(c));
            }
        } else {
            s->vectors_[c] = s->fresh_vectors(c, factory);
            // Lost (or a crash came before the first): the log was trimmed at the last snapshot,
            // so the catalog's vectors, not the log, say what the index holds.
            if (s->catalog_->item_count(c) > 0 && s->vectors_[c]->is_trained()) {
                s->fill_from_catalog(*s->vectors_[c], c);
                s->vectors_[c]->set_applied_seq(s->catalog_->last_seq(c));
            }
        }
        s->open_rescore(c);
        s->replay(c);
    }
    return s;
}

IndexStore::~IndexStore() {
    if (options_.read_only) return;
    try {
        snapshot();
    } catch (...) {
        // The catalog holds everything; the next open replays what the snapshot lacks.
    }
}

std::string IndexStore::snapshot_path(Collection c) const { return dir_ + "/" + collection_name(c) + ".vectors"; }

std::string IndexStore::rescore_path(Collection c) const { return dir_ + "/" + collection_name(c) + ".f16"; }

std::string IndexStore::trained_path(Collection c) const { return dir_ + "/" + collection_name(c) + ".trained"; }

std::optional<std::string> IndexStore::shared_training(Collection c) const {
    if (!fs::exists(trained_path(c))) return std::nullopt;
    return trained_path(c);
}

std::unique_ptr<VectorIndex> IndexStore::fresh_vectors(Collection c, const std::string& factory) const {
    if (const std::optional<std::string> trained = shared_training(c)) {
        try {
            return VectorIndex::load_trained(*trained);
        } catch (const Error& e) {
            std::fprintf(stderr, "opsis: warning: %s; training the index anew (shards will merge by re-adding)\n",
                         e.what());
        }
    }
    return VectorIndex::create(model_.dim, factory);
}

void IndexStore::keep_trained(Collection c, const VectorIndex& trained) { trained.save(trained_path(c)); }

void IndexStore::open_rescore(Collection c) {
    // Copies already open are in step (commits keep them so): reopening would drop what they
    // hold beyond their last save (rebuild and adopt call this after every change).
    if (rescore_.count(c) && !vectors_.at(c)->stores_exact_vectors()) return;
    rescore_.erase(c);
    const std::string path = rescore_path(c);
    std::error_code ec;
    if (vectors_.at(c)->stores_exact_vectors()) {
        if (!options_.read_only) fs::remove(path, ec);
        return;
    }
    const std::uint64_t last = catalog_->last_seq(c);
    std::unique_ptr<RescoreVectors> r = RescoreVectors::open(path, model_.dim, options_.read_only);
    if (r && r->applied_seq() > last) r.reset();  // ahead of the catalog: copied from elsewhere
    if (options_.read_only) {                     // nothing can be written: used only when current
        if (r && r->applied_seq() == last) rescore_[c] = std::move(r);
        return;
    }
    if (r && r->applied_seq() < last) {  // the log must still hold every change since
        bool contiguous = false;
        catalog_->for_each_change(c, r->applied_seq(), [&](const Change& ch) {
            contiguous = ch.seq == r->applied_seq() + 1;
            return false;
        });
        if (!contiguous) r.reset();
    }
    if (!r) {
        if (catalog_->item_count(c) > 0)
            std::fprintf(stderr,
                         "opsis: writing %s (float16 copies of %llu vectors, for re-scoring) from the catalog\n",
                         path.c_str(), static_cast<unsigned long long>(catalog_->item_count(c)));
        r = RescoreVectors::create(path, model_.dim);
        catalog_->for_each_vector(c, [&](std::int64_t id, const float* v, std::size_t dim) {
            if (static_cast<int>(dim) == model_.dim) r->put(id, v);
            return true;
        });
        r->set_applied_seq(last);
        r->save();
    }
    rescore_[c] = std::move(r);
}

void IndexStore::replay(Collection c) {
    VectorIndex& index = *vectors_.at(c);
    RescoreVectors* rescore = rescore_.count(c) ? rescore_.at(c).get() : nullptr;
    std::uint64_t from = index.is_trained() ? index.applied_seq() : ~std::uint64_t{0};
    if (rescore) from = std::min(from, rescore->applied_seq());
    if (from != ~std::uint64_t{0}) {
        std::vector<Change> pending;
        catalog_->for_each_change(c, from, [&](const Change& ch) {
            pending.push_back(ch);
            if (pending.size() >= 65536) apply(c, pending), pending.clear();
            return true;
        });
        apply(c, pending);
    }
    if (!index.is_trained()) train_if_ready(c);
}

void IndexStore::apply(Collection c, const std::vector<Change>& changes, const Catalog::Bulk* bulk) {
    if (changes.empty()) return;
    VectorIndex& index = *vectors_.at(c);
    RescoreVectors* rescore = rescore_.count(c) ? rescore_.at(c).get() : nullptr;
    // Each keeps its own log position: on open, the one that lags takes the changes it lacks.
    // An untrained index takes none (training adds every stored vector anyway).
    const std::uint64_t index_from = index.is_trained() ? index.applied_seq() : ~std::uint64_t{0};
    const std::uint64_t rescore_from = rescore ? rescore->applied_seq() : ~std::uint64_t{0};
    std::vector<std::int64_t> ids;
    std::vector<float> data, stored;
    auto flush = [&] {
        index.add(ids.size(), ids.data(), data.data());
        ids.clear(), data.clear();
    };
    for (const Change& ch : changes) {
        const bool to_rescore = ch.seq > rescore_from;
        bool to_index = ch.seq > index_from;
        if (ch.added) {
            if (to_index && index.contains(ch.id)) to_index = false;
            if (!to_index && !to_rescore) continue;
            // A bulk's vectors are at hand; anything else is read back from the catalog.
            const float* v = bulk ? bulk->vector(c, ch.id) : nullptr;
            if (!v) {
                stored = catalog_->vector(c, ch.id);
                if (stored.empty()) continue;  // removed again later in the log
                if (static_cast<int>(stored.size()) != index.dim())
                    throw input_error("index", dir_,
                                      "stored vector of item " + std::to_string(ch.id) + " has the wrong size");
                v = stored.data();
            }
            if (to_rescore) rescore->put(ch.id, v);
            if (to_index) {
                ids.push_back(ch.id);
                data.insert(data.end(), v, v + index.dim());
            }
        } else {
            if (to_rescore) rescore->clear(ch.id);
            if (to_index) {
                flush();
                index.remove({ch.id});
            }
        }
    }
    flush();
    if (index.applied_seq() < changes.back().seq) index.set_applied_seq(changes.back().seq);
    if (rescore && rescore->applied_seq() < changes.back().seq) rescore->set_applied_seq(changes.back().seq);
}

void IndexStore::commit(Catalog::Batch& batch) {
    std::lock_guard lock(write_mutex_);
    apply_committed(catalog_->commit(batch), nullptr);
}

void IndexStore::commit(Catalog::Bulk& bulk) {
    std::lock_guard lock(write_mutex_);
    apply_committed(catalog_->commit(bulk), &bulk);
}

void IndexStore::apply_committed(const std::vector<std::pair<Collection, Change>>& changes, const Catalog::Bulk* bulk) {
    std::map<Collection, std::vector<Change>> by_collection;
    for (const auto& [c, ch] : changes) by_collection[c].push_back(ch);
    for (auto& [c, list] : by_collection) apply(c, list, bulk);
    changes_since_snapshot_ += changes.size();
    if (changes_since_snapshot_ >= options_.snapshot_every) snapshot_changed();
}

void IndexStore::snapshot() {
    std::lock_guard lock(write_mutex_);
    snapshot_changed();
}

void IndexStore::snapshot_changed() {
    for (Collection c : kCollections) {
        const RescoreVectors* rescore = rescore_vectors(c);
        if (vectors_.at(c)->applied_seq() != saved_seq_.at(c) ||
            (rescore && rescore->applied_seq() != saved_seq_.at(c)))
            save_snapshot(c);
    }
    changes_since_snapshot_ = 0;
}

void IndexStore::save_snapshot(Collection c) {
    const VectorIndex& index = *vectors_.at(c);
    index.save(snapshot_path(c));
    std::uint64_t saved = index.applied_seq();
    if (rescore_.count(c)) {
        rescore_.at(c)->save();
        saved = std::min(saved, rescore_.at(c)->applied_seq());
    }
    saved_seq_[c] = saved;
    catalog_->truncate_log(c, saved);  // what both hold
}

void IndexStore::train_on_sample(VectorIndex& index, Collection c) const {
    const std::size_t n = catalog_->item_count(c);
    const std::size_t need = index.min_training_points();
    if (index.is_trained() || n < need) return;
    // A uniform sample (reservoir, fixed seed) so that training is reproducible.
    const std::size_t want = training_sample_size(need, n);
    std::vector<float> sample(want * static_cast<std::size_t>(index.dim()));
    std::mt19937_64 rng(1);
    std::size_t seen = 0;
    catalog_->for_each_vector(c, [&](std::int64_t, const float* v, std::size_t dim) {
        std::size_t slot = seen < want ? seen : std::uniform_int_distribution<std::size_t>(0, seen)(rng);
        if (slot < want) std::copy(v, v + dim, sample.begin() + static_cast<std::ptrdiff_t>(slot * dim));
        ++seen;
        return true;
    });
    index.train(std::min(seen, want), sample.data());
}

std::unique_ptr<VectorIndex> IndexStore::train_shared(Collection c, const std::string& factory) const {
    std::unique_ptr<VectorIndex> index = VectorIndex::create(model_.dim, factory);
    train_on_sample(*index, c);
    if (!index->is_trained())
        throw input_error("index", dir_,
                          std::string("holds ") + std::to_string(catalog_->item_count(c)) + " " + collection_name(c) +
                              ", but " + factory + " trains on at least " +
                              std::to_string(index->min_training_points()));
    index->share_training(model_.sha256);
    return index;
}

void IndexStore::fill_from_catalog(VectorIndex& index, Collection c) {
    train_on_sample(index, c);
    if (!index.is_trained()) return;
    std::vector<std::int64_t> ids;
    std::vector<float> data;
    catalog_->for_each_vector(c, [&](std::int64_t id, const float* v, std::size_t dim) {
        if (index.contains(id)) return true;
        ids.push_back(id);
        data.insert(data.end(), v, v + dim);
        if (ids.size() == 65536) index.add(ids.size(), ids.data(), data.data()), ids.clear(), data.clear();
        return true;
    });
    index.add(ids.size(), ids.data(), data.data());
    index.set_applied_seq(catalog_->last_seq(c));
}

bool IndexStore::train_if_ready(Collection c) {
    std::lock_guard lock(write_mutex_);
    VectorIndex& index = *vectors_.at(c);
    if (index.is_trained()) return true;
    fill_from_catalog(index, c);
    if (!index.is_trained()) return false;
    save_snapshot(c);
    return true;
}

void IndexStore::rebuild(Collection c, const std::string& factory) {
    std::lock_guard lock(write_mutex_);
    std::unique_ptr<VectorIndex> fresh = VectorIndex::create(model_.dim, factory);
    std::error_code ec;
    fs::remove(trained_path(c), ec);  // trained apart now: its lists no longer join a shared training's
    fill_from_catalog(*fresh, c);
    if (!fresh->is_trained()) fresh->set_applied_seq(catalog_->last_seq(c));
    vectors_[c] = std::move(fresh);
    open_rescore(c);   // a compressed type needs the float16 copies, an exact one not
    save_snapshot(c);  // before the new factory is recorded: a snapshot names its own type
    Catalog::Batch b(*catalog_);
    b.put_meta(std::string(collection_name(c)) + ".factory", factory);
    catalog_->commit(b);
}

void IndexStore::adopt(Collection c, std::unique_ptr<VectorIndex> index, const std::string& trained) {
    std::lock_guard lock(write_mutex_);
    if (index->dim() != model_.dim)
        throw input_error("vector index", index->factory(), "does not have the model's dimension");
    if (index->size() < catalog_->item_count(c)) fill_from_catalog(*index, c);
    index->set_applied_seq(catalog_->last_seq(c));
    if (!trained.empty()) keep_trained(c, *VectorIndex::load_trained(trained));
    vectors_[c] = std::move(index);
    open_rescore(c);
    save_snapshot(c);
    Catalog::Batch b(*catalog_);
    b.put_meta(std::string(collection_name(c)) + ".factory", vectors_[c]->factory());
    catalog_->commit(b);
}

VerifyReport IndexStore::verify() const {
    VerifyReport report;
    auto problem = [&](Collection c, const std::string& what) {
        report.problems.push_back(std::string(collection_name(c)) + ": " + what);
    };
    for (Collection c : kCollections) {
        CollectionCheck& check = report.collections[c];
        const VectorIndex& index = *vectors_.at(c);
        std::set<std::int64_t> items;
        catalog_->for_each_item(c, [&](const Item& it) {
            items.insert(it.id);
            if (auto h = catalog_->find_hash(c, it.hash); !h || *h != it.id)
                problem(c, "item " + std::to_string(it.id) + ": its hash does not lead back to it");
            if (c == Collection::images) {
                if (it.paths.empty()) problem(c, "item " + std::to_string(it.id) + " has no path");
                for (const std::string& p : it.paths)
                    if (auto e = catalog_->find_path(p); !e || e->id != it.id)
                        problem(c, "item " + std::to_string(it.id) + ": path '" + p + "' does not lead back to it");
            }
            return true;
        });
        check.items = items.size();
        if (check.items != catalog_->item_count(c))
            problem(c, "the item counter says " + std::to_string(catalog_->item_count(c)) + " but " +
                           std::to_string(check.items) + " items are stored");
        std::vector<float> held(static_cast<std::size_t>(model_.dim)), expected(held.size()), half(held.size());
        check.trained = index.is_trained();
        const RescoreVectors* rescore = rescore_vectors(c);
        catalog_->for_each_vector(c, [&](std::int64_t id, const float* v, std::size_t dim) {
            ++check.vectors;
            if (!items.count(id)) problem(c, "vector " + std::to_string(id) + " belongs to no item");
            if (static_cast<int>(dim) != model_.dim) {
                problem(c, "vector " + std::to_string(id) + " has " + std::to_string(dim) + " dimensions");
                return true;
            }
            if (rescore) {  // float16 keeps 11 significant bits: a unit vector's parts within 2.5e-4
                float diff = 0;
                if (!rescore->get(id, half.data()))
                    problem(c, "item " + std::to_string(id) + " is missing from the float16 copies (" +
                                   rescore_path(c) + ")");
                else
                    for (std::size_t k = 0; k < dim; ++k) diff = std::max(diff, std::abs(half[k] - v[k]));
                if (diff > 1e-3f)
                    problem(c, "item " + std::to_string(id) + ": its float16 copy differs from the stored vector");
            }
            double norm = 0;
            for (std::size_t k = 0; k < dim; ++k) norm += static_cast<double>(v[k]) * v[k];
            if (!std::isfinite(norm) || std::abs(norm - 1.0) > 1e-3)
                problem(c, "vector " + std::to_string(id) + " is not a unit vector");
            if (!check.trained) return true;
            if (!index.reconstruct(id, held.data())) {
                problem(c, "item " + std::to_string(id) + " is missing from the vector index");
                return true;
            }
            if (!index.round_trip(v, expected.data())) return true;
            float diff = 0;
            for (std::size_t k = 0; k < dim; ++k) diff = std::max(diff, std::abs(held[k] - expected[k]));
            check.max_difference = std::max(check.max_difference, diff);
            ++check.compared;
            if (diff > 1e-4f) problem(c, "item " + std::to_string(id) + ": the vector index holds a different vector");
            return true;
        });
        if (check.vectors != check.items)
            problem(c, std::to_string(check.items) + " items but " + std::to_string(check.vectors) + " stored vectors");
        check.tombstones = index.tombstones();
        if (check.trained) {
            const std::vector<std::int64_t> ids = index.ids();
            check.indexed = ids.size();
            for (std::int64_t id : ids)
                if (!items.count(id))
                    problem(c, "the vector index holds id " + std::to_string(id) + ", which the catalog does not");
            if (check.indexed != check.items)
                problem(c, "the catalog has " + std::to_string(check.items) + " items, the vector index " +
                               std::to_string(check.indexed));
            if (check.compared < check.items && !index.stores_exact_vectors())
                check.note = "this index type cannot re-encode a vector, so vectors were checked by id only";
        } else if (check.items >= index.min_training_points()) {
            problem(c, "the vector index is untrained although " + std::to_string(check.items) + " vectors are stored");
        } else {
            check.note = index.factory() + " trains once " + std::to_string(index.min_training_points()) +
                         " vectors are stored; until then searches scan the stored vectors exactly";
        }
    }
    for (Collection c : kCollections)
        for (const std::string& p : catalog_->check_facets(c)) problem(c, p);
    std::uint64_t paths = 0;
    catalog_->for_each_path([&](const std::string& p, const PathEntry& e) {
        ++paths;
        const std::optional<Item> it = catalog_->item(Collection::images, e.id);
        if (!it || std::find(it->paths.begin(), it->paths.end(), p) == it->paths.end())
            problem(Collection::images,
                    "path '" + p + "' points at item " + std::to_string(e.id) + ", which does not list it");
        return true;
    });
    if (paths != catalog_->path_count())
        problem(Collection::images, "the path counter says " + std::to_string(catalog_->path_count()) + " but " +
                                        std::to_string(paths) + " paths are stored");
    for (Collection c : kCollections) {
        std::uint64_t failures = 0;
        catalog_->for_each_failure(c, [&](const Failure&) {
            ++failures;
            return true;
        });
        if (failures != catalog_->failure_count(c))
            problem(c, "the failure counter says " + std::to_string(catalog_->failure_count(c)) + " but " +
                           std::to_string(failures) + " failures are stored");
    }
    return report;
}

json IndexStore::stats() const {
    json out{{"model", identity_json(model_)}};
    for (Collection c : kCollections) {
        const VectorIndex& index = *vectors_.at(c);
        json j{{"items", catalog_->item_count(c)},
               {"factory", index.factory()},
               {"trained", index.is_trained()},
               {"indexed", index.size()},
               {"tombstones", index.tombstones()},
               {"snapshot_bytes", fs::exists(snapshot_path(c)) ? fs::file_size(snapshot_path(c)) : 0},
               {"rescore_bytes", rescore_vectors(c) ? rescore_vectors(c)->file_bytes() : 0},
               {"log_position", catalog_->last_seq(c)},
               {"snapshot_position", index.applied_seq()}};
        if (!index.is_trained()) j["training_needs"] = index.min_training_points();
        if (!index.trained_from().empty()) j["shared_training"] = index.trained_from();
        j["failures"] = catalog_->failure_count(c);
        out[collection_name(c)] = j;
    }
    out["images"]["paths"] = catalog_->path_count();
    out["catalog_bytes"] = folder_bytes(dir_ + "/catalog");
    return out;
}

}  // namespace opsis::storage
