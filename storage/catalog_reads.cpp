// Reading a catalog: point reads, key-range reads of the source/tag and path indexes, and
// scans in key order.
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>

#include "core/error.h"
#include "storage/catalog.h"
#include "storage/catalog_records.h"

namespace opsis::storage {

using namespace records;

namespace {

template <typename Fn>
void scan(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* family, const std::string& start, Fn&& fn) {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(ro, family));
    for (start.empty() ? it->SeekToFirst() : it->Seek(start); it->Valid(); it->Next())
        if (!fn(it->key(), it->value())) break;
    if (!it->status().ok()) throw Error("index catalog: scan failed: " + it->status().ToString(), Error::Kind::io);
}

// Ids from the keys starting with `prefix` whose last 8 bytes are the id; at most limit + 1.
std::vector<std::int64_t> ids_in_range(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* family, const std::string& prefix,
                                       std::size_t limit) {
    std::vector<std::int64_t> ids;
    scan(db, family, prefix, [&](const rocksdb::Slice& k, const rocksdb::Slice&) {
        if (!k.starts_with(prefix)) return false;
        ids.push_back(static_cast<std::int64_t>(number_of(rocksdb::Slice(k.data() + k.size() - 8, 8))));
        return ids.size() <= limit;
    });
    return ids;
}
}  // namespace

std::optional<std::string> Catalog::meta(const std::string& key) const {
    bool found = false;
    std::string v = get(cf("default"), "meta." + key, found);
    if (!found) return std::nullopt;
    return v;
}

std::optional<PathEntry> Catalog::find_path(const std::string& path) const {
    bool found = false;
    const std::string v = get(cf("images.paths"), path, found);
    if (!found) return std::nullopt;
    return path_from(v);
}

std::optional<std::int64_t> Catalog::find_hash(Collection c, const std::string& hash) const {
    bool found = false;
    const std::string v = get(cf(family(c, "hashes")), hash, found);
    if (!found) return std::nullopt;
    return static_cast<std::int64_t>(number_of(v));
}

std::optional<Item> Catalog::item(Collection c, std::int64_t id) const {
    bool found = false;
    const std::string v = get(cf(family(c, "items")), key_of(static_cast<std::uint64_t>(id)), found);
    if (!found) return std::nullopt;
    return item_from(v);
}

std::vector<float> Catalog::vector(Collection c, std::int64_t id) const {
    bool found = false;
    const std::string v = get(cf(family(c, "vectors")), key_of(static_cast<std::uint64_t>(id)), found);
    std::vector<float> out(found ? v.size() / sizeof(float) : 0);
    if (!out.empty()) std::memcpy(out.data(), v.data(), out.size() * sizeof(float));
    return out;
}

std::optional<Failure> Catalog::failure(const std::string& path) const {
    bool found = false;
    const std::string v = get(cf("images.errors"), path, found);
    if (!found) return std::nullopt;
    return failure_from(Collection::images, path, v);
}

std::vector<std::int64_t> Catalog::ids_with_source(Collection c, const std::string& source, std::size_t limit) const {
    return ids_in_range(*db_, cf(family(c, "facets")), facet_prefix('s', source), limit);
}

std::vector<std::int64_t> Catalog::ids_with_tag(Collection c, const std::string& tag, std::size_t limit) const {
    return ids_in_range(*db_, cf(family(c, "facets")), facet_prefix('t', tag), limit);
}

std::vector<std::int64_t> Catalog::ids_taken_between(Collection c, std::int64_t from, std::int64_t to,
                                                     std::size_t limit) const {
    std::vector<std::int64_t> ids;
    if (from >= to) return ids;
    const std::string end = date_key(to);
    scan(*db_, cf(family(c, "facets")), date_key(from), [&](const rocksdb::Slice& k, const rocksdb::Slice&) {
        if (k.compare(end) >= 0) return false;
        ids.push_back(static_cast<std::int64_t>(number_of(rocksdb::Slice(k.data() + k.size() - 8, 8))));
        return ids.size() <= limit;
    });
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::vector<std::int64_t> Catalog::ids_with_camera(Collection c, const std::string& camera, std::size_t limit) const {
    return ids_in_range(*db_, cf(family(c, "facets")), facet_prefix('c', camera), limit);
}

std::vector<std::int64_t> Catalog::ids_under_path(const std::string& prefix, std::size_t limit) const {
    std::set<std::int64_t> ids;  // an image may have several paths under the prefix
    scan(*db_, cf("images.paths"), prefix, [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
        if (!k.starts_with(prefix)) return false;
        ids.insert(path_from(v.ToString()).id);
        return ids.size() <= limit;
    });
    return {ids.begin(), ids.end()};
}

std::vector<std::string> Catalog::check_facets(Collection c) const {
    std::vector<std::string> problems;
    std::size_t expected = 0;
    for_each_item(c, [&](const Item& it) {
        expected += facet_keys(it).size();
        return true;
    });
    std::size_t stored = 0;
    scan(*db_, cf(family(c, "facets")), "", [&](const rocksdb::Slice& k, const rocksdb::Slice&) {
        ++stored;
        const auto id = static_cast<std::int64_t>(number_of(rocksdb::Slice(k.data() + k.size() - 8, 8)));
        const std::optional<Item> it = item(c, id);
        if (!it || !facet_keys(*it).count(k.ToString()))
            problems.push_back("the source/tag/date/camera index lists item " + std::to_string(id) +
                               " under a value it does not have");
        return problems.size() < 20;
    });
    if (problems.empty() && stored != expected)
        problems.push_back("the source/tag/date/camera index has " + std::to_string(stored) + " entries, the items " +
                           std::to_string(expected));
    return problems;
}

void Catalog::for_each_item(Collection c, const std::function<bool(const Item&)>& fn) const {
    scan(*db_, cf(family(c, "items")), "",
         [&](const rocksdb::Slice&, const rocksdb::Slice& v) { return fn(item_from(v.ToString())); });
}

void Catalog::for_each_item(Collection c, const std::function<bool(std::string_view)>& may_match,
                            const std::function<bool(const Item&)>& fn) const {
    scan(*db_, cf(family(c, "items")), "", [&](const rocksdb::Slice&, const rocksdb::Slice& v) {
        return !may_match(std::string_view(v.data(), v.size())) || fn(item_from(v.ToString()));
    });
}

void Catalog::for_each_vector(Collection c,
                              const std::function<bool(std::int64_t, const float*, std::size_t)>& fn) const {
    std::vector<float> buffer;
    scan(*db_, cf(family(c, "vectors")), "", [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
        buffer.resize(v.size() / sizeof(float));
        std::memcpy(buffer.data(), v.data(), buffer.size() * sizeof(float));
        return fn(static_cast<std::int64_t>(number_of(k)), buffer.data(), buffer.size());
    });
}

void Catalog::for_each_path(const std::function<bool(const std::string&, const PathEntry&)>& fn,
                            const std::string& prefix) const {
    scan(*db_, cf("images.paths"), prefix, [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
        return k.starts_with(prefix) && fn(k.ToString(), path_from(v.ToString()));
    });
}

void Catalog::for_each_failure(Collection c, const std::function<bool(const Failure&)>& fn,
                               const std::string& prefix) const {
    scan(*db_, cf(family(c, "errors")), prefix, [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
        return k.starts_with(prefix) && fn(failure_from(c, k.ToString(), v.ToString()));
    });
}

void Catalog::for_each_change(Collection c, std::uint64_t after_seq,
                              const std::function<bool(const Change&)>& fn) const {
    scan(*db_, cf(family(c, "log")), key_of(after_seq + 1), [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
        if (v.size() != 9) throw Error("index catalog '" + folder_ + "': malformed change-log entry");
        return fn(
            Change{number_of(k), v[0] == '+', static_cast<std::int64_t>(number_of(rocksdb::Slice(v.data() + 1, 8)))});
    });
}

void Catalog::truncate_log(Collection c, std::uint64_t seq) {
    rocksdb::WriteOptions w;
    w.sync = true;
    check(db_->DeleteRange(w, cf(family(c, "log")), key_of(0), key_of(seq + 1)), folder_,
          "cannot truncate the change log");
}

}  // namespace opsis::storage
