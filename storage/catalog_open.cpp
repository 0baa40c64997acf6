// Opening a catalog: RocksDB's options, the lock check, the format record, the counters, and
// the named upgrades that bring a catalog written by an older Opsis up to date.
#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <regex>

#include "core/error.h"
#include "storage/catalog.h"
#include "storage/catalog_records.h"

namespace opsis::storage {

using namespace records;

namespace {

constexpr const char* kFormat = "opsis-index 1";

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

// One upgrade of a catalog written by an older Opsis: whether it is needed, and the writes
// that perform it, made in one batch with what marks it done (a crash leaves neither).
struct Upgrade {
    const char* name;
    std::function<bool(const Catalog&)> needed;
    std::function<void(Catalog&, rocksdb::WriteBatch&)> write;
};

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
        throw input_error("index catalog", folder,
                          "in use by another opsis process (stop it first; commands that only read work meanwhile)",
                          Error::Kind::busy);

    std::vector<std::string> names{rocksdb::kDefaultColumnFamilyName, "images.paths", "images.errors"};
    for (Collection c : kCollections)
        for (const char* s : kFamilySuffixes) names.push_back(family(c, s));
    const std::size_t required = names.size();  // the families after these came later: made when missing
    for (Collection c : kCollections) names.push_back(family(c, "facets"));
    names.push_back(family(Collection::texts, "errors"));
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
                throw input_error("index catalog", folder,
                                  "not an Opsis catalog (column family '" + names[i] + "' is missing)");
        if (read_only)
            for (const std::string& n : names)
                if (std::find(present.begin(), present.end(), n) == present.end())
                    throw input_error("index catalog", folder,
                                      "was written by an older Opsis: open it once for writing (`opsis index add`) to "
                                      "bring it up to date");
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
        bool f1 = false, f2 = false, f3 = false, f4 = false, f5 = false;
        const std::string next = cat->get(cat->cf("default"), family(c, "next_id"), f1);
        const std::string seq = cat->get(cat->cf("default"), family(c, "seq"), f2);
        const std::string count = cat->get(cat->cf("default"), family(c, "count"), f3);
        const std::string paths = cat->get(cat->cf("default"), family(c, "path_count"), f4);
        const std::string failures = cat->get(cat->cf("default"), family(c, "failure_count"), f5);
        if (f1) k.next_id = static_cast<std::int64_t>(number_of(next));
        if (f2) k.seq = number_of(seq);
        if (f3) k.count = number_of(count);
        if (f4) k.paths = number_of(paths);
        if (f5) k.failures = number_of(failures);
    }
    cat->upgrade(read_only);
    return cat;
}

void Catalog::upgrade(bool read_only) {
    const std::vector<Upgrade> upgrades{
        {"the source/tag index",
         [](const Catalog& cat) {
             bool ready = true;
             for (Collection c : kCollections) {
                 bool found = false;
                 cat.get(cat.cf("default"), family(c, "facets_ready"), found);
                 ready = ready && found;
             }
             return !ready;
         },
         [](Catalog& cat, rocksdb::WriteBatch& w) {
             for (Collection c : kCollections) {
                 check(w.DeleteRange(cat.cf(family(c, "facets")), std::string(), std::string(64, '\xff')), cat.folder_,
                       "cannot write");
                 cat.for_each_item(c, [&](const Item& it) {
                     for (const std::string& k : facet_keys(it)) w.Put(cat.cf(family(c, "facets")), k, "");
                     return true;
                 });
                 w.Put(cat.cf("default"), family(c, "facets_ready"), "1");
             }
         }},
        // Text lines that failed were recorded among the image files' failures, "file:line"
        // with no size or time: they move to the texts' own table.
        {"text failures apart from image failures",
         [](const Catalog& cat) {
             bool done = false;
             cat.get(cat.cf("default"), "texts.failures_apart", done);
             return !done;
         },
         [](Catalog& cat, rocksdb::WriteBatch& w) {
             static const std::regex text_line(".+:[0-9]+");
             cat.for_each_failure(Collection::images, [&](const Failure& f) {
                 if (f.size == 0 && f.mtime_ns == 0 && std::regex_match(f.path, text_line)) {
                     w.Delete(cat.cf("images.errors"), f.path);
                     Failure moved = f;
                     moved.collection = Collection::texts;
                     w.Put(cat.cf(family(Collection::texts, "errors")), f.path, failure_value(moved));
                 }
                 return true;
             });
             w.Put(cat.cf("default"), "texts.failures_apart", "1");  // the counters are counted again below
         }},
        // Catalogs written before the path and failure counters existed count them once.
        {"path and failure counters",
         [](const Catalog& cat) {
             bool found = true;
             for (const char* key : {"images.path_count", "images.failure_count", "texts.failure_count"}) {
                 bool here = false;
                 cat.get(cat.cf("default"), key, here);
                 found = found && here;
             }
             return !found;
         },
         [](Catalog& cat, rocksdb::WriteBatch& w) {
             Counters& images = cat.counters_[Collection::images];
             images.paths = 0;
             cat.for_each_path([&](const std::string&, const PathEntry&) {
                 ++images.paths;
                 return true;
             });
             w.Put(cat.cf("default"), family(Collection::images, "path_count"), key_of(images.paths));
             for (Collection c : kCollections) {
                 Counters& k = cat.counters_[c];
                 k.failures = 0;
                 cat.for_each_failure(c, [&](const Failure&) {
                     ++k.failures;
                     return true;
                 });
                 w.Put(cat.cf("default"), family(c, "failure_count"), key_of(k.failures));
             }
         }},
    };
    for (const Upgrade& u : upgrades) {
        if (!u.needed(*this)) continue;
        if (read_only)
            throw input_error("index catalog", folder_,
                              std::string("was written by an older Opsis (") + u.name +
                                  " is missing): open it once for writing (`opsis index add`) to bring it up to date");
        rocksdb::WriteBatch w;
        u.write(*this, w);
        rocksdb::WriteOptions sync;
        sync.sync = true;
        check(db_->Write(sync, &w), folder_, "cannot write");
    }
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

}  // namespace opsis::storage
