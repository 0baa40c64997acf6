// Writing a catalog: a Batch gathers changes (and reads through them), and commit writes them
// in one atomic, synced WriteBatch with the counters and the source/tag index kept in step.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "storage/catalog.h"
#include "storage/catalog_records.h"

namespace opsis::storage {

using namespace records;

std::vector<std::pair<Collection, Change>> Catalog::commit(Batch& b) {
    for (const auto& [key, updated] : b.items_) {
        const auto& [c, id] = key;
        const std::optional<Item> before = item(c, id);
        const std::set<std::string> old_keys = before ? facet_keys(*before) : std::set<std::string>{};
        const std::set<std::string> new_keys = updated ? facet_keys(*updated) : std::set<std::string>{};
        for (const std::string& k : old_keys)
            if (!new_keys.count(k)) b.writes_->Delete(cf(family(c, "facets")), k);
        for (const std::string& k : new_keys)
            if (!old_keys.count(k)) b.writes_->Put(cf(family(c, "facets")), k, "");
    }
    Counters& images = b.counters_[Collection::images];
    for (const auto& [path, entry] : b.paths_) {
        const bool before = find_path(path).has_value(), after = entry.has_value();
        images.paths += static_cast<std::uint64_t>(after) - static_cast<std::uint64_t>(before);
    }
    for (const auto& [key, after] : b.failures_) {
        const auto& [c, path] = key;
        bool before = false;
        get(cf(family(c, "errors")), path, before);
        b.counters_[c].failures += static_cast<std::uint64_t>(after) - static_cast<std::uint64_t>(before);
    }
    for (auto& [key, item] : b.items_) {
        const auto& [c, id] = key;
        if (item)
            b.writes_->Put(cf(family(c, "items")), key_of(static_cast<std::uint64_t>(id)), item_value(*item));
        else
            b.writes_->Delete(cf(family(c, "items")), key_of(static_cast<std::uint64_t>(id)));
    }
    for (auto& [path, entry] : b.paths_) {
        if (entry)
            b.writes_->Put(cf("images.paths"), path, path_value(*entry));
        else
            b.writes_->Delete(cf("images.paths"), path);
    }
    for (auto& [key, id] : b.hashes_) {
        if (id)
            b.writes_->Put(cf(family(key.first, "hashes")), key.second, key_of(static_cast<std::uint64_t>(*id)));
        else
            b.writes_->Delete(cf(family(key.first, "hashes")), key.second);
    }
    for (auto& [c, k] : b.counters_) {
        b.writes_->Put(cf("default"), family(c, "next_id"), key_of(static_cast<std::uint64_t>(k.next_id)));
        b.writes_->Put(cf("default"), family(c, "seq"), key_of(k.seq));
        b.writes_->Put(cf("default"), family(c, "count"), key_of(k.count));
        if (c == Collection::images) b.writes_->Put(cf("default"), family(c, "path_count"), key_of(k.paths));
        b.writes_->Put(cf("default"), family(c, "failure_count"), key_of(k.failures));
    }
    // After a failed write RocksDB must not be written again (Debian's 7.8 aborts on the next
    // WAL append: fixed upstream in 9.x), so the first failure closes the catalog to writes
    // until it is opened again; reads go on.
    if (write_failure_) throw *write_failure_;
    rocksdb::WriteOptions w;
    w.sync = true;
    const rocksdb::Status s = db_->Write(w, b.writes_.get());
    if (!s.ok()) fail_writes(s.ToString(), disk_full(s));
    counters_ = b.counters_;
    auto changes = std::move(b.changes_);
    b.items_.clear();
    b.paths_.clear();
    b.hashes_.clear();
    b.failures_.clear();
    b.changes_.clear();
    b.writes_->Clear();
    b.operations_ = 0;
    return changes;
}

void Catalog::fail_writes(const std::string& status, bool disk_full) {
    write_failure_ = Error(std::string("index catalog: ") + (disk_full ? "the disk is full" : "writing failed") + " (" +
                               status + "): nothing more is written until the index is opened again; searches go on",
                           disk_full ? Error::Kind::no_space : Error::Kind::io);
    throw *write_failure_;
}

Catalog::Batch::Batch(Catalog& catalog)
    : catalog_(catalog), writes_(std::make_unique<rocksdb::WriteBatch>()), counters_(catalog.counters_) {}
Catalog::Batch::~Batch() = default;

std::optional<PathEntry> Catalog::Batch::find_path(const std::string& path) const {
    if (auto it = paths_.find(path); it != paths_.end()) return it->second;
    return catalog_.find_path(path);
}

std::optional<std::int64_t> Catalog::Batch::find_hash(Collection c, const std::string& hash) const {
    if (auto it = hashes_.find({c, hash}); it != hashes_.end()) return it->second;
    return catalog_.find_hash(c, hash);
}

std::optional<Item> Catalog::Batch::item(Collection c, std::int64_t id) const {
    if (auto it = items_.find({c, id}); it != items_.end()) return it->second;
    return catalog_.item(c, id);
}

std::int64_t Catalog::Batch::add_item(Collection c, Item item, const float* vector, std::size_t dim) {
    if (c == Collection::images && !item.paths.empty()) throw Error("catalog: add an image's paths with add_path");
    Counters& k = counters_[c];
    item.id = k.next_id++;
    if (item.added_at == 0) item.added_at = unix_now();
    writes_->Put(catalog_.cf(family(c, "vectors")), key_of(static_cast<std::uint64_t>(item.id)),
                 rocksdb::Slice(reinterpret_cast<const char*>(vector), dim * sizeof(float)));
    const std::uint64_t seq = ++k.seq;
    ++k.count;
    writes_->Put(catalog_.cf(family(c, "log")), key_of(seq),
                 std::string("+") + key_of(static_cast<std::uint64_t>(item.id)));
    changes_.push_back({c, Change{seq, true, item.id}});
    hashes_[{c, item.hash}] = item.id;
    const std::int64_t id = item.id;
    items_[{c, id}] = std::move(item);
    ++operations_;
    return id;
}

void Catalog::Batch::add_path(std::int64_t image_id, const std::string& path, std::uint64_t size,
                              std::int64_t mtime_ns) {
    std::optional<Item> it = item(Collection::images, image_id);
    if (!it) throw Error("catalog: no image with id " + std::to_string(image_id));
    if (auto old = find_path(path); old && old->id != image_id) remove_path(path);
    it = item(Collection::images, image_id);
    if (std::find(it->paths.begin(), it->paths.end(), path) == it->paths.end()) it->paths.push_back(path);
    items_[{Collection::images, image_id}] = std::move(*it);
    paths_[path] = PathEntry{image_id, size, mtime_ns};
    ++operations_;
}

void Catalog::Batch::remove_path(const std::string& path) {
    const std::optional<PathEntry> entry = find_path(path);
    if (!entry) return;
    paths_[path] = std::nullopt;
    ++operations_;
    std::optional<Item> it = item(Collection::images, entry->id);
    if (!it) return;
    std::erase(it->paths, path);
    if (it->paths.empty()) {
        remove_item(Collection::images, entry->id);
    } else {
        items_[{Collection::images, entry->id}] = std::move(*it);
    }
}

void Catalog::Batch::remove_item(Collection c, std::int64_t id) {
    const std::optional<Item> it = item(c, id);
    if (!it) throw not_found_error("item", std::string(collection_name(c)) + "/" + std::to_string(id));
    for (const std::string& p : it->paths)
        if (auto e = find_path(p); e && e->id == id) paths_[p] = std::nullopt;
    if (auto h = find_hash(c, it->hash); h && *h == id) hashes_[{c, it->hash}] = std::nullopt;
    items_[{c, id}] = std::nullopt;
    writes_->Delete(catalog_.cf(family(c, "vectors")), key_of(static_cast<std::uint64_t>(id)));
    Counters& k = counters_[c];
    const std::uint64_t seq = ++k.seq;
    --k.count;
    writes_->Put(catalog_.cf(family(c, "log")), key_of(seq), std::string("-") + key_of(static_cast<std::uint64_t>(id)));
    changes_.push_back({c, Change{seq, false, id}});
    ++operations_;
}

void Catalog::Batch::update_item(Collection c, const Item& updated) {
    std::optional<Item> it = item(c, updated.id);
    if (!it) throw not_found_error("item", std::string(collection_name(c)) + "/" + std::to_string(updated.id));
    Item next = updated;
    next.hash = it->hash;
    next.paths = it->paths;
    next.added_at = it->added_at;
    items_[{c, updated.id}] = std::move(next);
    ++operations_;
}

void Catalog::Batch::put_meta(const std::string& key, const std::string& value) {
    writes_->Put(catalog_.cf("default"), "meta." + key, value);
    ++operations_;
}

void Catalog::Batch::record_failure(const Failure& f) {
    writes_->Put(catalog_.cf(family(f.collection, "errors")), f.path, failure_value(f));
    failures_[{f.collection, f.path}] = true;
    ++operations_;
}

void Catalog::Batch::clear_failure(const std::string& path) {
    writes_->Delete(catalog_.cf("images.errors"), path);
    failures_[{Collection::images, path}] = false;
    ++operations_;
}

}  // namespace opsis::storage
