#include "storage/catalog.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <mutex>
#include <filesystem>
#include <set>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/utf8.h"

namespace opsis::storage {
namespace {

using json = nlohmann::json;
constexpr const char* kFormat = "opsis-index 1";

const char* family_suffixes[] = {"items", "vectors", "hashes", "log"};

std::string family(Collection c, const char* what) { return std::string(collection_name(c)) + "." + what; }

// Ids and sequence numbers as 8 big-endian bytes, so RocksDB's byte order is numeric order.
std::string key_of(std::uint64_t v) {
    std::string k(8, '\0');
    for (int i = 7; i >= 0; --i, v >>= 8) k[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    return k;
}
std::uint64_t number_of(const rocksdb::Slice& k) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8 && i < k.size(); ++i) v = (v << 8) | static_cast<unsigned char>(k[i]);
    return v;
}

// The source/tag index ("<collection>.facets"): one empty-valued key per source and tag of
// an item: kind ('s' or 't'), the value's length (4 bytes, big-endian), the value, the id.
// A filter then reads the ids of its value as one key range.
std::string facet_prefix(char kind, const std::string& value) {
    std::string k(1, kind);
    const auto n = static_cast<std::uint32_t>(value.size());
    for (int shift = 24; shift >= 0; shift -= 8) k += static_cast<char>((n >> shift) & 0xff);
    return k + value;
}
std::set<std::string> facet_keys(const Item& it) {
    std::set<std::string> keys;
    const std::string id = key_of(static_cast<std::uint64_t>(it.id));
    if (!it.source.empty()) keys.insert(facet_prefix('s', it.source) + id);
    for (const std::string& t : it.tags) keys.insert(facet_prefix('t', t) + id);
    return keys;
}

// File names are bytes, not always UTF-8 (JSON's strings): when any is not, all are kept as
// hex, so every path is stored exactly and a single odd name stops nothing.
std::string to_hex(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : bytes) out += digits[c >> 4], out += digits[c & 15];
    return out;
}

std::string from_hex(const std::string& hex) {
    if (hex.size() % 2) throw Error("catalog: a stored path's hex has odd length");
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

json item_json(const Item& it) {
    json j{{"id", it.id}, {"hash", it.hash}, {"added_at", it.added_at}};
    const bool all_text = std::all_of(it.paths.begin(), it.paths.end(), [](const std::string& p) { return !utf8::find_invalid(p); });
    if (!it.paths.empty() && all_text) j["paths"] = it.paths;
    if (!it.paths.empty() && !all_text) {
        json hex = json::array();
        for (const std::string& p : it.paths) hex.push_back(to_hex(p));
        j["path_bytes"] = hex;
    }
    if (!it.text.empty()) j["text"] = it.text;
    if (it.width > 0) j["width"] = it.width, j["height"] = it.height, j["file_size"] = it.file_size;
    if (!it.source.empty()) j["source"] = it.source;
    if (!it.tags.empty()) j["tags"] = it.tags;
    if (!it.captions.empty()) j["captions"] = it.captions;
    return j;
}

Item item_from(const std::string& bytes) {
    const json j = json::parse(bytes);
    Item it;
    it.id = j.at("id").get<std::int64_t>();
    it.hash = j.at("hash").get<std::string>();
    it.added_at = j.value("added_at", std::int64_t{0});
    it.paths = j.value("paths", std::vector<std::string>{});
    if (j.contains("path_bytes"))
        for (const json& hex : j.at("path_bytes")) it.paths.push_back(from_hex(hex.get<std::string>()));
    it.text = j.value("text", std::string{});
    it.width = j.value("width", 0);
    it.height = j.value("height", 0);
    it.file_size = j.value("file_size", std::uint64_t{0});
    it.source = j.value("source", std::string{});
    it.tags = j.value("tags", std::vector<std::string>{});
    it.captions = j.value("captions", std::vector<std::string>{});
    return it;
}

std::string path_value(const PathEntry& p) { return json{{"id", p.id}, {"size", p.size}, {"mtime_ns", p.mtime_ns}}.dump(); }
PathEntry path_from(const std::string& bytes) {
    const json j = json::parse(bytes);
    return {j.at("id").get<std::int64_t>(), j.at("size").get<std::uint64_t>(), j.at("mtime_ns").get<std::int64_t>()};
}

std::string failure_value(const Failure& f) {
    // A reason is text for people; it may quote a file name that is not UTF-8.
    const std::string reason = utf8::find_invalid(f.reason) ? utf8::escaped(f.reason) : f.reason;
    return json{{"reason", reason}, {"size", f.size}, {"mtime_ns", f.mtime_ns}, {"at", f.at}}.dump();
}

// RocksDB's own info log aborts the process (an assertion in Debian's 7.8) when it writes
// again after a failed write, which a full disk makes certain: the first failed commit logs
// its error through it. This one appends through stdio, drops what cannot be written, and
// keeps the file under 1 MiB (the one before as LOG.old). Without a path it writes nothing
// (read-only opens).
class InfoLog : public rocksdb::Logger {
public:
    explicit InfoLog(std::string path) : path_(std::move(path)) {
        if (!path_.empty()) file_ = std::fopen(path_.c_str(), "ae");
    }
    ~InfoLog() override {
        if (file_) std::fclose(file_);
    }
    using rocksdb::Logger::Logv;
    void Logv(const char* format, va_list ap) override {
        std::lock_guard lock(mutex_);
        if (!file_) return;
        char line[4096];
        std::vsnprintf(line, sizeof line, format, ap);
        std::fprintf(file_, "%s\n", line);
        std::fflush(file_);
        if (std::ftell(file_) > (1 << 20)) {
            std::fclose(file_);
            std::rename(path_.c_str(), (path_ + ".old").c_str());
            file_ = std::fopen(path_.c_str(), "ae");
        }
    }

private:
    std::string path_;
    std::FILE* file_ = nullptr;
    std::mutex mutex_;
};

void check(const rocksdb::Status& s, const std::string& folder, const char* doing) {
    if (s.ok()) return;
    std::string reason = std::string(doing) + ": " + s.ToString();
    // A damaged or unreadable catalog is the machine's failure, not the caller's: the server
    // answers it as its own error (500, the detail in its log, which names the files).
    const Error::Kind kind = s.IsNoSpace()      ? Error::Kind::no_space
                             : s.IsCorruption() ? Error::Kind::corruption
                             : s.IsIOError()    ? Error::Kind::io
                                                : Error::Kind::invalid_input;
    throw Error(input_error("index catalog", folder, reason).what(), kind);
}

// Whether another process holds RocksDB's lock on the folder (an fcntl write lock on LOCK):
// asked before opening, so that the answer is a kind, not a guess from a message.
bool locked_by_another_process(const std::string& folder) {
    const int fd = ::open((folder + "/LOCK").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    const bool held = ::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
    ::close(fd);
    return held;
}

}  // namespace

const char* collection_name(Collection c) { return c == Collection::images ? "images" : "texts"; }

Collection parse_collection(const std::string& name) {
    if (name == "images") return Collection::images;
    if (name == "texts") return Collection::texts;
    throw input_error("collection", name, "unknown (the collections are 'images' and 'texts')");
}

std::unique_ptr<Catalog> Catalog::open(const std::string& folder, bool create, bool read_only) {
    std::unique_ptr<Catalog> cat(new Catalog());
    cat->folder_ = folder;
    const bool exists = std::filesystem::exists(folder + "/CURRENT");
    if (!exists && !create) throw input_error("index catalog", folder, "not found (no RocksDB database there)");
    if (exists && !read_only && locked_by_another_process(folder))
        throw Error(input_error("index catalog", folder,
                                "in use by another opsis process (stop it first; commands that only read work meanwhile)").what(),
                    Error::Kind::busy);

    std::vector<std::string> names{rocksdb::kDefaultColumnFamilyName, "images.paths", "images.errors"};
    for (Collection c : kCollections)
        for (const char* s : family_suffixes) names.push_back(family(c, s));
    const std::size_t required = names.size();  // the facet families came later: made when missing
    for (Collection c : kCollections) names.push_back(family(c, "facets"));
    rocksdb::DBOptions options;
    options.create_if_missing = create && !read_only;
    options.create_missing_column_families = !read_only;
    options.max_background_jobs = 2;
    // RocksDB's own info log starts a new file at every open and keeps 1,000 (300 `index
    // stats` grew a 488 KB catalog to 44 MB), and aborts on a full disk: ours instead.
    options.info_log = std::make_shared<InfoLog>(read_only ? std::string() : folder + "/LOG");
    // Bloom filters: an indexing job asks about many paths and hashes the catalog does not
    // have yet, and a filter answers those without reading table blocks.
    rocksdb::BlockBasedTableOptions table;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    rocksdb::ColumnFamilyOptions family_options;
    family_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const std::string& n : names) descriptors.emplace_back(n, family_options);
    if (exists && !create) {
        std::vector<std::string> present;
        check(rocksdb::DB::ListColumnFamilies(options, folder, &present), folder, "cannot list column families");
        for (std::size_t i = 0; i < required; ++i)
            if (std::find(present.begin(), present.end(), names[i]) == present.end())
                throw input_error("index catalog", folder, "not an Opsis catalog (column family '" + names[i] + "' is missing)");
        if (read_only)
            for (const std::string& n : names)
                if (std::find(present.begin(), present.end(), n) == present.end())
                    throw input_error("index catalog", folder,
                                      "was written by an older Opsis: open it once for writing (`opsis index add`) to bring it up to date");
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    check(read_only ? rocksdb::DB::OpenForReadOnly(options, folder, descriptors, &handles, &raw)
                    : rocksdb::DB::Open(options, folder, descriptors, &handles, &raw),
          folder, "cannot open");
    cat->db_.reset(raw);
    for (std::size_t i = 0; i < names.size(); ++i) cat->families_[names[i]] = handles[i];

    bool found = false;
    const std::string format = cat->get(cat->cf("default"), "format", found);
    if (!found && read_only) throw input_error("index catalog", folder, "not an Opsis catalog (no format record)");
    if (!found) {
        rocksdb::WriteOptions w;
        w.sync = true;
        check(cat->db_->Put(w, cat->cf("default"), "format", kFormat), folder, "cannot write");
    } else if (format != kFormat) {
        throw input_error("index catalog", folder, "format '" + format + "' is not '" + kFormat + "'");
    }
    for (Collection c : kCollections) {
        Counters& k = cat->counters_[c];
        bool f1 = false, f2 = false, f3 = false;
        const std::string next = cat->get(cat->cf("default"), family(c, "next_id"), f1);
        const std::string seq = cat->get(cat->cf("default"), family(c, "seq"), f2);
        const std::string count = cat->get(cat->cf("default"), family(c, "count"), f3);
        if (f1) k.next_id = static_cast<std::int64_t>(number_of(next));
        if (f2) k.seq = number_of(seq);
        if (f3) k.count = number_of(count);
    }
    // Catalogs written before the source/tag index existed build it once, in one batch with
    // its marker (a crash leaves neither).
    for (Collection c : kCollections) {
        bool ready = false;
        cat->get(cat->cf("default"), family(c, "facets_ready"), ready);
        if (ready) continue;
        if (read_only)
            throw input_error("index catalog", folder,
                              "was written by an older Opsis: open it once for writing (`opsis index add`) to bring it up to date");
        rocksdb::WriteBatch facets;
        check(facets.DeleteRange(cat->cf(family(c, "facets")), std::string(), std::string(64, '\xff')), folder, "cannot write");
        cat->for_each_item(c, [&](const Item& it) {
            for (const std::string& k : facet_keys(it)) facets.Put(cat->cf(family(c, "facets")), k, "");
            return true;
        });
        facets.Put(cat->cf("default"), family(c, "facets_ready"), "1");
        rocksdb::WriteOptions w;
        w.sync = true;
        check(cat->db_->Write(w, &facets), folder, "cannot write");
    }
    // Catalogs written before the path and failure counters existed count them once.
    Counters& images = cat->counters_[Collection::images];
    bool has_paths = false, has_failures = false;
    const std::string paths = cat->get(cat->cf("default"), family(Collection::images, "path_count"), has_paths);
    const std::string failures = cat->get(cat->cf("default"), family(Collection::images, "failure_count"), has_failures);
    if (has_paths && has_failures) {
        images.paths = number_of(paths), images.failures = number_of(failures);
    } else {
        cat->for_each_path([&](const std::string&, const PathEntry&) { return ++images.paths, true; });
        cat->for_each_failure([&](const Failure&) { return ++images.failures, true; });
        if (read_only) return cat;  // counted, kept by the next writable open
        rocksdb::WriteBatch counts;
        counts.Put(cat->cf("default"), family(Collection::images, "path_count"), key_of(images.paths));
        counts.Put(cat->cf("default"), family(Collection::images, "failure_count"), key_of(images.failures));
        rocksdb::WriteOptions w;
        w.sync = true;
        check(cat->db_->Write(w, &counts), folder, "cannot write");
    }
    return cat;
}

Catalog::~Catalog() {
    if (!db_) return;
    for (auto& [name, handle] : families_) db_->DestroyColumnFamilyHandle(handle);
    db_->Close();
}

rocksdb::ColumnFamilyHandle* Catalog::cf(const std::string& name) const {
    if (name == "default") return db_->DefaultColumnFamily();
    return families_.at(name);
}

std::string Catalog::get(rocksdb::ColumnFamilyHandle* family, const std::string& key, bool& found) const {
    std::string value;
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), family, key, &value);
    found = s.ok();
    if (!s.ok() && !s.IsNotFound()) check(s, folder_, "read failed");
    return value;
}

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
    const json j = json::parse(v);
    return Failure{path, j.at("reason"), j.at("size"), j.at("mtime_ns"), j.at("at")};
}

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
}  // namespace

namespace {
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

std::vector<std::int64_t> Catalog::ids_with_source(Collection c, const std::string& source, std::size_t limit) const {
    return ids_in_range(*db_, cf(family(c, "facets")), facet_prefix('s', source), limit);
}

std::vector<std::int64_t> Catalog::ids_with_tag(Collection c, const std::string& tag, std::size_t limit) const {
    return ids_in_range(*db_, cf(family(c, "facets")), facet_prefix('t', tag), limit);
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
    for_each_item(c, [&](const Item& it) { return expected += facet_keys(it).size(), true; });
    std::size_t stored = 0;
    scan(*db_, cf(family(c, "facets")), "", [&](const rocksdb::Slice& k, const rocksdb::Slice&) {
        ++stored;
        const auto id = static_cast<std::int64_t>(number_of(rocksdb::Slice(k.data() + k.size() - 8, 8)));
        const std::optional<Item> it = item(c, id);
        if (!it || !facet_keys(*it).count(k.ToString()))
            problems.push_back("the source/tag index lists item " + std::to_string(id) + " under a value it does not have");
        return problems.size() < 20;
    });
    if (problems.empty() && stored != expected)
        problems.push_back("the source/tag index has " + std::to_string(stored) + " entries, the items " + std::to_string(expected));
    return problems;
}

void Catalog::for_each_item(Collection c, const std::function<bool(const Item&)>& fn) const {
    scan(*db_, cf(family(c, "items")), "", [&](const rocksdb::Slice&, const rocksdb::Slice& v) { return fn(item_from(v.ToString())); });
}

void Catalog::for_each_item(Collection c, const std::function<bool(std::string_view)>& may_match,
                            const std::function<bool(const Item&)>& fn) const {
    scan(*db_, cf(family(c, "items")), "", [&](const rocksdb::Slice&, const rocksdb::Slice& v) {
        return !may_match(std::string_view(v.data(), v.size())) || fn(item_from(v.ToString()));
    });
}

void Catalog::for_each_vector(Collection c, const std::function<bool(std::int64_t, const float*, std::size_t)>& fn) const {
    std::vector<float> buffer;
    scan(*db_, cf(family(c, "vectors")), "", [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
        buffer.resize(v.size() / sizeof(float));
        std::memcpy(buffer.data(), v.data(), buffer.size() * sizeof(float));
        return fn(static_cast<std::int64_t>(number_of(k)), buffer.data(), buffer.size());
    });
}

void Catalog::for_each_path(const std::function<bool(const std::string&, const PathEntry&)>& fn) const {
    scan(*db_, cf("images.paths"), "", [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
        return fn(k.ToString(), path_from(v.ToString()));
    });
}

void Catalog::for_each_failure(const std::function<bool(const Failure&)>& fn) const {
    scan(*db_, cf("images.errors"), "", [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
        const json j = json::parse(v.ToString());
        return fn(Failure{k.ToString(), j.at("reason"), j.at("size"), j.at("mtime_ns"), j.at("at")});
    });
}

void Catalog::for_each_change(Collection c, std::uint64_t after_seq, const std::function<bool(const Change&)>& fn) const {
    scan(*db_, cf(family(c, "log")), key_of(after_seq + 1), [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
        if (v.size() != 9) throw Error("index catalog '" + folder_ + "': malformed change-log entry");
        return fn(Change{number_of(k), v[0] == '+', static_cast<std::int64_t>(number_of(rocksdb::Slice(v.data() + 1, 8)))});
    });
}

void Catalog::truncate_log(Collection c, std::uint64_t seq) {
    rocksdb::WriteOptions w;
    w.sync = true;
    check(db_->DeleteRange(w, cf(family(c, "log")), key_of(0), key_of(seq + 1)), folder_, "cannot truncate the change log");
}

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
    for (const auto& [path, after] : b.failures_) {
        const bool before = failure(path).has_value();
        images.failures += static_cast<std::uint64_t>(after) - static_cast<std::uint64_t>(before);
    }
    for (auto& [key, item] : b.items_) {
        const auto& [c, id] = key;
        if (item) b.writes_->Put(cf(family(c, "items")), key_of(static_cast<std::uint64_t>(id)), item_json(*item).dump());
        else b.writes_->Delete(cf(family(c, "items")), key_of(static_cast<std::uint64_t>(id)));
    }
    for (auto& [path, entry] : b.paths_) {
        if (entry) b.writes_->Put(cf("images.paths"), path, path_value(*entry));
        else b.writes_->Delete(cf("images.paths"), path);
    }
    for (auto& [key, id] : b.hashes_) {
        if (id) b.writes_->Put(cf(family(key.first, "hashes")), key.second, key_of(static_cast<std::uint64_t>(*id)));
        else b.writes_->Delete(cf(family(key.first, "hashes")), key.second);
    }
    for (auto& [c, k] : b.counters_) {
        b.writes_->Put(cf("default"), family(c, "next_id"), key_of(static_cast<std::uint64_t>(k.next_id)));
        b.writes_->Put(cf("default"), family(c, "seq"), key_of(k.seq));
        b.writes_->Put(cf("default"), family(c, "count"), key_of(k.count));
        if (c == Collection::images) {
            b.writes_->Put(cf("default"), family(c, "path_count"), key_of(k.paths));
            b.writes_->Put(cf("default"), family(c, "failure_count"), key_of(k.failures));
        }
    }
    // After a failed write RocksDB must not be written again (Debian's 7.8 aborts on the next
    // WAL append: fixed upstream in 9.x), so the first failure closes the catalog to writes
    // until it is opened again; reads go on.
    if (write_failure_) throw *write_failure_;
    rocksdb::WriteOptions w;
    w.sync = true;
    const rocksdb::Status s = db_->Write(w, b.writes_.get());
    if (!s.ok()) {
        const bool full = s.IsNoSpace() || s.ToString().find("No space left") != std::string::npos;
        write_failure_ = Error(std::string("index catalog: ") + (full ? "the disk is full" : "writing failed") + " (" + s.ToString() +
                                   "): nothing more is written until the index is opened again; searches go on",
                               full ? Error::Kind::no_space : Error::Kind::io);
        throw *write_failure_;
    }
    counters_ = b.counters_;
    auto changes = std::move(b.changes_);
    b.items_.clear(), b.paths_.clear(), b.hashes_.clear(), b.failures_.clear(), b.changes_.clear();
    b.writes_->Clear();
    b.operations_ = 0;
    return changes;
}

// ---- Batch ------------------------------------------------------------------------------

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
    if (item.added_at == 0)
        item.added_at = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    writes_->Put(catalog_.cf(family(c, "vectors")), key_of(static_cast<std::uint64_t>(item.id)),
                 rocksdb::Slice(reinterpret_cast<const char*>(vector), dim * sizeof(float)));
    const std::uint64_t seq = ++k.seq;
    ++k.count;
    writes_->Put(catalog_.cf(family(c, "log")), key_of(seq), std::string("+") + key_of(static_cast<std::uint64_t>(item.id)));
    changes_.push_back({c, Change{seq, true, item.id}});
    hashes_[{c, item.hash}] = item.id;
    const std::int64_t id = item.id;
    items_[{c, id}] = std::move(item);
    ++operations_;
    return id;
}

void Catalog::Batch::add_path(std::int64_t image_id, const std::string& path, std::uint64_t size, std::int64_t mtime_ns) {
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
    next.hash = it->hash, next.paths = it->paths, next.added_at = it->added_at;
    items_[{c, updated.id}] = std::move(next);
    ++operations_;
}

void Catalog::Batch::put_meta(const std::string& key, const std::string& value) {
    writes_->Put(catalog_.cf("default"), "meta." + key, value);
    ++operations_;
}

void Catalog::Batch::record_failure(const Failure& f) {
    writes_->Put(catalog_.cf("images.errors"), f.path, failure_value(f));
    failures_[f.path] = true;
    ++operations_;
}

void Catalog::Batch::clear_failure(const std::string& path) {
    writes_->Delete(catalog_.cf("images.errors"), path);
    failures_[path] = false;
    ++operations_;
}

}  // namespace opsis::storage
