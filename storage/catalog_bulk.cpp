// Loading many new items at once: sorted tables written with SstFileWriter and ingested in
// one atomic IngestExternalFiles call (see Catalog::Bulk in catalog.h).
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "storage/catalog.h"
#include "storage/catalog_records.h"

namespace opsis::storage {

using namespace records;
namespace fs = std::filesystem;

namespace {

// One sorted table for one column family, in the bulk's scratch folder.
class Table {
public:
    Table(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* family, const std::string& path)
        : options_(db.GetOptions(family)), writer_(rocksdb::EnvOptions(options_), options_, family), path_(path) {
        ok(writer_.Open(path));
    }
    // Keys in strictly ascending byte order.
    void put(const rocksdb::Slice& key, const rocksdb::Slice& value) { ok(writer_.Put(key, value)); }
    std::string finish() {
        ok(writer_.Finish());
        return path_;
    }

private:
    void ok(const rocksdb::Status& s) const {
        if (!s.ok())
            throw Error(
                "index catalog: writing the table " + path_ + " failed (" + s.ToString() + "); nothing was added",
                disk_full(s) ? Error::Kind::no_space : Error::Kind::io);
    }
    rocksdb::Options options_;
    rocksdb::SstFileWriter writer_;
    std::string path_;
};

}  // namespace

Catalog::Bulk::Bulk(Catalog& catalog) : catalog_(catalog) {}
Catalog::Bulk::~Bulk() = default;

void Catalog::Bulk::start_over_if_committed() {
    if (committed_) clear();
    committed_ = false;
}

std::int64_t Catalog::Bulk::add_item(Collection c, Item item, const float* vector, std::size_t dim) {
    start_over_if_committed();
    if (c == Collection::images && !item.paths.empty()) throw Error("catalog: add an image's paths with add_path");
    Pending& p = pending_[c];
    if (p.items.empty()) {
        p.first_id = catalog_.counters_.at(c).next_id;
        p.dim = dim;
    }
    if (dim != p.dim)
        throw input_error("item", item.hash,
                          "has a " + std::to_string(dim) + "-d vector among " + std::to_string(p.dim) + "-d ones");
    item.id = p.first_id + static_cast<std::int64_t>(p.items.size());
    if (item.added_at == 0) item.added_at = unix_now();
    p.vectors.insert(p.vectors.end(), vector, vector + dim);
    p.items.push_back(std::move(item));
    return p.items.back().id;
}

void Catalog::Bulk::add_path(std::int64_t image_id, const std::string& path, std::uint64_t size,
                             std::int64_t mtime_ns) {
    start_over_if_committed();
    Pending& p = pending_[Collection::images];
    if (image_id < p.first_id || image_id >= p.first_id + static_cast<std::int64_t>(p.items.size()))
        throw Error("catalog: bulk: image " + std::to_string(image_id) + " was not added in this bulk");
    p.items[static_cast<std::size_t>(image_id - p.first_id)].paths.push_back(path);
    paths_.push_back({path, PathEntry{image_id, size, mtime_ns}});
}

const float* Catalog::Bulk::vector(Collection c, std::int64_t id) const {
    const auto it = pending_.find(c);
    if (it == pending_.end()) return nullptr;
    const Pending& p = it->second;
    if (id < p.first_id || id >= p.first_id + static_cast<std::int64_t>(p.items.size())) return nullptr;
    return p.vectors.data() + static_cast<std::size_t>(id - p.first_id) * p.dim;
}

void Catalog::Bulk::clear() {
    pending_.clear();
    paths_.clear();
}

std::vector<std::pair<Collection, Change>> Catalog::commit(Bulk& bulk) {
    if (write_failure_) throw *write_failure_;
    if (bulk.committed_) return {};
    // Everything is checked before anything is written.
    std::map<Collection, std::vector<std::pair<std::string, std::int64_t>>> hashes;
    for (auto& [c, p] : bulk.pending_) {
        auto& list = hashes[c];
        for (const Item& it : p.items) {
            if (c == Collection::images && it.paths.empty())
                throw input_error("image", it.hash, "has no path (bulk: add_path before commit)");
            list.push_back({it.hash, it.id});
        }
        std::sort(list.begin(), list.end());
        for (std::size_t i = 0; i < list.size(); ++i) {
            if (i > 0 && list[i].first == list[i - 1].first)
                throw input_error(std::string(collection_name(c)) + " item", list[i].first,
                                  "is added twice in one bulk (items " + std::to_string(list[i - 1].second) + " and " +
                                      std::to_string(list[i].second) + ")");
            if (const auto known = find_hash(c, list[i].first))
                throw input_error(
                    std::string(collection_name(c)) + " item", list[i].first,
                    "is already in the catalog as item " + std::to_string(*known) + " (a bulk only adds new items)");
        }
    }
    std::sort(bulk.paths_.begin(), bulk.paths_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < bulk.paths_.size(); ++i) {
        const std::string& path = bulk.paths_[i].first;
        if (i > 0 && path == bulk.paths_[i - 1].first) throw input_error("path", path, "is added twice in one bulk");
        if (const auto known = find_path(path))
            throw input_error(
                "path", path,
                "is already in the catalog as item " + std::to_string(known->id) + " (a bulk only adds new items)");
    }

    const std::string scratch = folder_ + "/bulk-ingest";
    std::error_code ec;
    fs::remove_all(scratch, ec);  // a bulk interrupted by a crash: never ingested
    fs::create_directories(scratch, ec);
    if (ec) throw input_error("index catalog", folder_, "cannot create " + scratch + ": " + ec.message());
    struct RemoveScratch {
        std::string dir;
        ~RemoveScratch() {
            std::error_code ignored;
            fs::remove_all(dir, ignored);
        }
    } remove_scratch{scratch};

    std::vector<rocksdb::IngestExternalFileArg> args;
    auto ingest = [&](const std::string& family_name, Table& table) {
        rocksdb::IngestExternalFileArg a;
        a.column_family = cf(family_name);
        a.external_files = {table.finish()};
        a.options.move_files = true;
        args.push_back(std::move(a));
    };
    std::map<Collection, Counters> counters = counters_;
    std::vector<std::pair<Collection, Change>> changes;
    for (auto& [c, p] : bulk.pending_) {
        if (p.items.empty()) continue;
        Counters& k = counters[c];
        const std::string name = collection_name(c);
        Table items(*db_, cf(family(c, "items")), scratch + "/" + name + ".items.sst");
        Table vectors(*db_, cf(family(c, "vectors")), scratch + "/" + name + ".vectors.sst");
        Table log(*db_, cf(family(c, "log")), scratch + "/" + name + ".log.sst");
        std::vector<std::string> facets;
        for (std::size_t i = 0; i < p.items.size(); ++i) {
            const Item& it = p.items[i];
            const std::string id_key = key_of(static_cast<std::uint64_t>(it.id));
            items.put(id_key, item_value(it));
            vectors.put(id_key, rocksdb::Slice(reinterpret_cast<const char*>(p.vectors.data() + i * p.dim),
                                               p.dim * sizeof(float)));
            const std::uint64_t seq = ++k.seq;
            log.put(key_of(seq), "+" + id_key);
            changes.push_back({c, Change{seq, true, it.id}});
            for (const std::string& f : facet_keys(it)) facets.push_back(f);
        }
        k.next_id = p.items.back().id + 1;
        k.count += p.items.size();
        ingest(family(c, "items"), items);
        ingest(family(c, "vectors"), vectors);
        ingest(family(c, "log"), log);
        Table hash_table(*db_, cf(family(c, "hashes")), scratch + "/" + name + ".hashes.sst");
        for (const auto& [hash, id] : hashes.at(c)) hash_table.put(hash, key_of(static_cast<std::uint64_t>(id)));
        ingest(family(c, "hashes"), hash_table);
        std::sort(facets.begin(), facets.end());
        facets.erase(std::unique(facets.begin(), facets.end()), facets.end());
        if (!facets.empty()) {
            Table facet_table(*db_, cf(family(c, "facets")), scratch + "/" + name + ".facets.sst");
            for (const std::string& f : facets) facet_table.put(f, "");
            ingest(family(c, "facets"), facet_table);
        }
    }
    if (!bulk.paths_.empty()) {
        Table path_table(*db_, cf("images.paths"), scratch + "/images.paths.sst");
        for (const auto& [path, entry] : bulk.paths_) path_table.put(path, path_value(entry));
        ingest("images.paths", path_table);
        counters[Collection::images].paths += bulk.paths_.size();
    }
    if (args.empty()) return {};
    // The counters go in with the tables, in the same atomic ingestion.
    std::map<std::string, std::string> counter_keys;
    for (const auto& [c, k] : counters) {
        counter_keys[family(c, "next_id")] = key_of(static_cast<std::uint64_t>(k.next_id));
        counter_keys[family(c, "seq")] = key_of(k.seq);
        counter_keys[family(c, "count")] = key_of(k.count);
        if (c == Collection::images) counter_keys[family(c, "path_count")] = key_of(k.paths);
        counter_keys[family(c, "failure_count")] = key_of(k.failures);
    }
    Table counter_table(*db_, cf("default"), scratch + "/counters.sst");
    for (const auto& [key, value] : counter_keys) counter_table.put(key, value);
    ingest("default", counter_table);

    const rocksdb::Status s = db_->IngestExternalFiles(args);
    if (!s.ok())
        throw Error("index catalog " + folder_ + ": ingesting the bulk's tables failed (" + s.ToString() +
                        "); nothing was added",
                    disk_full(s) ? Error::Kind::no_space : Error::Kind::io);
    counters_ = std::move(counters);
    bulk.committed_ = true;
    return changes;
}

}  // namespace opsis::storage
