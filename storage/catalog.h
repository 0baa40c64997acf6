#pragma once
// The catalog: RocksDB, the durable source of truth of an index folder. It holds every item's
// metadata and embedding (so the vector index can always be rebuilt), the look-ups
// path -> item and content hash -> item, the failures of indexing jobs, and a change log that
// the vector index replays beyond its last snapshot. Every write is one atomic WriteBatch.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace opsis::storage {

// Two collections per index: pictures, and sentences (captions or any text) for image->text.
enum class Collection { images, texts };
const char* collection_name(Collection c);
Collection parse_collection(const std::string& name);
inline constexpr Collection kCollections[] = {Collection::images, Collection::texts};

// When a photo was taken: the wall-clock time where it was taken, in seconds counted as if that
// clock were UTC (so "photos of 1 June" means the local 1 June, wherever they were taken), with
// the UTC offset when the camera wrote one. from_file: no EXIF date, the file's modification
// time on this machine's clock instead.
struct TakenAt {
    std::int64_t local = 0;
    std::optional<int> offset_minutes;
    bool from_file = false;
    bool operator==(const TakenAt&) const = default;
};

struct GeoPoint {
    double latitude = 0, longitude = 0;  // degrees, north and east positive
    bool operator==(const GeoPoint&) const = default;
};

struct Item {
    std::int64_t id = 0;
    std::string hash;                // SHA-256 of the file's bytes, or of the text
    std::vector<std::string> paths;  // images: every path with this content
    std::string text;                // texts
    int width = 0, height = 0;       // images
    std::uint64_t file_size = 0;     // images
    std::string source;
    std::vector<std::string> tags;
    std::vector<std::string> captions;  // images: the manifest's captions
    std::int64_t added_at = 0;          // Unix seconds
    // images: what the photo says of itself (image/photo_metadata.h)
    std::optional<TakenAt> taken;
    std::string camera;
    std::optional<GeoPoint> position;
};

// What the catalog knows of one indexed path (images only).
struct PathEntry {
    std::int64_t id = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
};

// A file an image job could not index, or a line a text job could not ("file:line"), with
// the reason. Each collection keeps its own.
struct Failure {
    std::string path, reason;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t at = 0;  // Unix seconds
    Collection collection = Collection::images;
};

// One entry of a collection's change log: the vector of `id` was added or removed.
struct Change {
    std::uint64_t seq = 0;
    bool added = true;
    std::int64_t id = 0;
};

class Catalog {
public:
    // Opens (or, with create, creates) the RocksDB database in `folder`. Another process
    // holding it is a clear error, as is a folder that is not an Opsis catalog.
    // read_only: RocksDB's read-only open (no lock, WAL or flush; every write fails), for
    // commands that only read.
    static std::unique_ptr<Catalog> open(const std::string& folder, bool create, bool read_only = false);
    ~Catalog();
    Catalog(const Catalog&) = delete;
    Catalog& operator=(const Catalog&) = delete;

    const std::string& folder() const { return folder_; }
    std::optional<std::string> meta(const std::string& key) const;

    std::optional<PathEntry> find_path(const std::string& path) const;
    std::optional<std::int64_t> find_hash(Collection c, const std::string& hash) const;
    std::optional<Item> item(Collection c, std::int64_t id) const;
    // The stored embedding (empty if the item has none).
    std::vector<float> vector(Collection c, std::int64_t id) const;
    std::optional<Failure> failure(const std::string& path) const;  // an image file's

    // Ids, ascending, of the items with this source / this tag, and of the images with a path
    // starting with `prefix` (a key-range read each, not a scan of the items). At most
    // `limit` + 1 are returned: more than `limit` means "too many to be worth it".
    std::vector<std::int64_t> ids_with_source(Collection c, const std::string& source, std::size_t limit) const;
    std::vector<std::int64_t> ids_with_tag(Collection c, const std::string& tag, std::size_t limit) const;
    std::vector<std::int64_t> ids_under_path(const std::string& prefix, std::size_t limit) const;
    // Ids, ascending, of the items taken at local times in [from, to) (TakenAt::local), and of
    // those with this camera: key-range reads of the same index.
    std::vector<std::int64_t> ids_taken_between(Collection c, std::int64_t from, std::int64_t to,
                                                std::size_t limit) const;
    std::vector<std::int64_t> ids_with_camera(Collection c, const std::string& camera, std::size_t limit) const;
    // Problems of the source/tag/date/camera index against the items (for verify); empty when consistent.
    std::vector<std::string> check_facets(Collection c) const;

    // Walks in id order (paths in byte order); the callback returns false to stop.
    void for_each_item(Collection c, const std::function<bool(const Item&)>& fn) const;
    // The same, parsing only the items whose stored JSON passes `may_match`: a cheap test on
    // the raw bytes that skips most items of a selective scan without decoding them.
    void for_each_item(Collection c, const std::function<bool(std::string_view stored_json)>& may_match,
                       const std::function<bool(const Item&)>& fn) const;
    void for_each_vector(Collection c, const std::function<bool(std::int64_t, const float*, std::size_t)>& fn) const;
    // Paths and failures starting with `prefix` (all for ""): a key-range read.
    void for_each_path(const std::function<bool(const std::string&, const PathEntry&)>& fn,
                       const std::string& prefix = "") const;
    void for_each_failure(Collection c, const std::function<bool(const Failure&)>& fn,
                          const std::string& prefix = "") const;
    void for_each_change(Collection c, std::uint64_t after_seq, const std::function<bool(const Change&)>& fn) const;

    std::uint64_t item_count(Collection c) const { return counters_.at(c).count; }
    // Every id the collection has given out is below this (ids are never reused).
    std::int64_t id_bound(Collection c) const { return counters_.at(c).next_id; }
    // Image paths and each collection's recorded failures, kept as counters (a scan of a
    // million paths takes seconds; stats are asked for on every page of the web UI).
    std::uint64_t path_count() const { return counters_.at(Collection::images).paths; }
    std::uint64_t failure_count(Collection c) const { return counters_.at(c).failures; }
    std::uint64_t last_seq(Collection c) const { return counters_.at(c).seq; }
    // Drops log entries up to `seq` (a snapshot covers them).
    void truncate_log(Collection c, std::uint64_t seq);

    class Batch;
    // Writes the batch atomically and durably (WAL fsync); returns the changes it logged.
    std::vector<std::pair<Collection, Change>> commit(Batch& batch);
    class Bulk;
    // Writes the bulk as sorted tables ingested atomically (catalog_bulk.cpp); returns the
    // changes it logged. An item already known, by hash or by path, is an error naming it, and
    // nothing of the bulk is written.
    std::vector<std::pair<Collection, Change>> commit(Bulk& bulk);

private:
    struct Counters {
        std::int64_t next_id = 1;
        std::uint64_t seq = 0;
        std::uint64_t count = 0;
        std::uint64_t paths = 0;  // images only
        std::uint64_t failures = 0;
    };
    friend class Batch;
    friend class Bulk;
    Catalog() = default;
    // The first failed write closes the catalog to writes (see commit).
    [[noreturn]] void fail_writes(const std::string& status, bool disk_full);
    // Brings a catalog written by an older Opsis up to date, one named upgrade at a time
    // (catalog_open.cpp); a read-only open of such a catalog is refused, saying what is missing.
    void upgrade(bool read_only);
    rocksdb::ColumnFamilyHandle* cf(const std::string& name) const;
    std::string get(rocksdb::ColumnFamilyHandle* family, const std::string& key, bool& found) const;

    std::string folder_;
    std::unique_ptr<rocksdb::DB> db_;
    std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;
    std::map<Collection, Counters> counters_;
    std::optional<Error> write_failure_;  // the first failed commit: later ones are refused (see commit)
};

// A set of changes written together. Reads through a batch see its own pending writes, so
// one batch may add a file and, a moment later, find it by hash.
class Catalog::Batch {
public:
    explicit Batch(Catalog& catalog);
    ~Batch();

    // Assigns the item an id; stores the item, its vector and its hash; logs the addition.
    // For images, item.paths must be empty: add paths with add_path.
    std::int64_t add_item(Collection c, Item item, const float* vector, std::size_t dim);
    void add_path(std::int64_t image_id, const std::string& path, std::uint64_t size, std::int64_t mtime_ns);
    // Detaches a path from its image; an image left with no path is removed.
    void remove_path(const std::string& path);
    void remove_item(Collection c, std::int64_t id);
    void update_item(Collection c, const Item& item);  // metadata only; id and hash unchanged
    void put_meta(const std::string& key, const std::string& value);
    void record_failure(const Failure& failure);
    void clear_failure(const std::string& path);  // an image file's

    std::optional<PathEntry> find_path(const std::string& path) const;
    std::optional<std::int64_t> find_hash(Collection c, const std::string& hash) const;
    std::optional<Item> item(Collection c, std::int64_t id) const;

    std::size_t operations() const { return operations_; }

private:
    friend class Catalog;
    Catalog& catalog_;
    std::unique_ptr<rocksdb::WriteBatch> writes_;
    std::map<Collection, Counters> counters_;
    // Pending state by key; nullopt means deleted in this batch.
    std::map<std::pair<Collection, std::int64_t>, std::optional<Item>> items_;
    std::map<std::string, std::optional<PathEntry>> paths_;
    std::map<std::pair<Collection, std::string>, bool> failures_;  // -> recorded after this batch
    std::map<std::pair<Collection, std::string>, std::optional<std::int64_t>> hashes_;
    std::vector<std::pair<Collection, Change>> changes_;
    std::size_t operations_ = 0;
};

// Many new items at once: a fresh index of millions, shards merged into one. They are written
// as sorted tables (RocksDB's SstFileWriter) and ingested atomically across the column families
// (IngestExternalFiles), past the write-ahead log, the memtable and the compactions that every
// byte of a Batch goes through. New ids, log positions and vectors sort after every key
// stored, so their tables go straight to the last level and are never rewritten; hashes and
// paths land in level 0 and are merged by the usual compactions. Only additions: what may
// already be in the catalog goes through a Batch. Memory: what is added, until commit.
class Catalog::Bulk {
public:
    explicit Bulk(Catalog& catalog);
    ~Bulk();
    Bulk(const Bulk&) = delete;
    Bulk& operator=(const Bulk&) = delete;

    // As Batch::add_item: the item gets the next id; images take their paths with add_path.
    std::int64_t add_item(Collection c, Item item, const float* vector, std::size_t dim);
    // A path of an image added to this bulk.
    void add_path(std::int64_t image_id, const std::string& path, std::uint64_t size, std::int64_t mtime_ns);

    // The vector added for `id`, for the vector index without a read back (after a commit, the
    // committed ones until the next add); null for an id it does not hold.
    const float* vector(Collection c, std::int64_t id) const;

private:
    friend class Catalog;
    void start_over_if_committed();
    bool committed_ = false;
    struct Pending {
        std::vector<Item> items;  // ids first_id, first_id + 1, ...
        std::vector<float> vectors;
        std::size_t dim = 0;
        std::int64_t first_id = 0;
    };
    void clear();
    Catalog& catalog_;
    std::map<Collection, Pending> pending_;
    std::vector<std::pair<std::string, PathEntry>> paths_;
};

}  // namespace opsis::storage
