// The storage layer in-process: catalog batches, vector indexes of several FAISS types, the
// snapshot + change-log replay after a crash, rebuilds, verify, and the clear errors.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <rocksdb/db.h>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <omp.h>
#include <random>
#include <unordered_map>

#include "core/error.h"
#include "core/file_io.h"
#include "storage/flat_scan.h"
#include "storage/index_store.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::storage;
using namespace opsis::test;

namespace {

constexpr int kDim = 16;
const ModelIdentity kModel{"test-model", std::string(64, 'a'), "/nowhere", kDim};

std::vector<float> unit_vector(std::mt19937& rng) {
    std::normal_distribution<float> n;
    std::vector<float> v(kDim);
    float norm = 0;
    for (float& x : v) x = n(rng), norm += x * x;
    for (float& x : v) x /= std::sqrt(norm);
    return v;
}

// Adds `n` images with hash "h<k>" and path "/p/<k>.png"; returns their ids.
std::vector<std::int64_t> add_images(IndexStore& store, int first, int n, std::mt19937& rng) {
    Catalog::Batch b(store.catalog());
    std::vector<std::int64_t> ids;
    for (int k = first; k < first + n; ++k) {
        Item it;
        it.hash = "h" + std::to_string(k);
        it.width = it.height = 8;
        const std::vector<float> v = unit_vector(rng);
        const std::int64_t id = b.add_item(Collection::images, it, v.data(), kDim);
        b.add_path(id, "/p/" + std::to_string(k) + ".png", 100, 1);
        ids.push_back(id);
    }
    store.commit(b);
    return ids;
}

// Runs `work` in a child process that exits with the store `work` returns still open (no
// snapshot, no destructors: a crash after its commits), and requires that it got that far.
void in_a_child_that_dies(const std::function<std::unique_ptr<IndexStore>()>& work) {
    const pid_t child = fork();
    if (child == 0) {
        omp_set_num_threads(1);  // the parent's OpenMP threads (FAISS's) are not in the child
        try {
            const std::unique_ptr<IndexStore> open = work();
            _exit(0);
        } catch (...) {
            _exit(1);
        }
    }
    int status = 0;
    waitpid(child, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
}

}  // namespace

TEST_CASE("catalog batches see their own writes and keep paths, hashes and items consistent", "[storage]") {
    TempDir dir;
    std::mt19937 rng(1);
    auto store = IndexStore::open(dir.file("ix"), kModel, true);
    Catalog::Batch b(store->catalog());
    Item it;
    it.hash = "same";
    const std::vector<float> v = unit_vector(rng);
    const std::int64_t id = b.add_item(Collection::images, it, v.data(), kDim);
    b.add_path(id, "/a.png", 1, 1);
    REQUIRE(b.find_hash(Collection::images, "same") == id);  // before commit
    b.add_path(id, "/b.png", 1, 1);                          // the same content under a second path
    store->commit(b);
    REQUIRE(store->catalog().item(Collection::images, id)->paths == std::vector<std::string>{"/a.png", "/b.png"});

    Catalog::Batch b2(store->catalog());
    b2.remove_path("/a.png");
    store->commit(b2);
    REQUIRE(store->catalog().item(Collection::images, id));  // still has /b.png
    REQUIRE(store->vectors(Collection::images).contains(id));
    Catalog::Batch b3(store->catalog());
    b3.remove_path("/b.png");  // the last path: the item goes, with its vector and hash
    store->commit(b3);
    REQUIRE_FALSE(store->catalog().item(Collection::images, id));
    REQUIRE_FALSE(store->catalog().find_hash(Collection::images, "same"));
    REQUIRE(store->catalog().vector(Collection::images, id).empty());
    REQUIRE_FALSE(store->vectors(Collection::images).contains(id));
    REQUIRE(store->catalog().item_count(Collection::images) == 0);
    REQUIRE(store->verify().ok());
}

TEST_CASE("the single-query flat scan matches the plain loop, ties in row order", "[storage]") {
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    const std::size_t n = 1000, d = 37;  // an odd width, past any unrolling
    std::vector<float> rows(n * d), query(d);
    for (float& x : rows) x = normal(rng);
    for (float& x : query) x = normal(rng);
    std::copy(rows.begin() + 10 * d, rows.begin() + 11 * d, rows.begin() + 500 * d);  // rows 10 and 500 tie
    for (std::size_t k : {std::size_t{1}, std::size_t{10}, std::size_t{999}, std::size_t{1500}}) {
        const auto fast = flat_top_k(rows.data(), n, d, query.data(), k);
        const auto plain = flat_top_k_reference(rows.data(), n, d, query.data(), k);
        REQUIRE(fast.size() == std::min(k, n));
        REQUIRE(plain.size() == fast.size());
        for (std::size_t i = 0; i < fast.size(); ++i) {
            INFO("k " << k << " rank " << i);
            REQUIRE(fast[i].score == Approx(plain[i].score).margin(1e-4));
            if (i + 1 < fast.size()) REQUIRE(fast[i].score >= fast[i + 1].score);
        }
    }
    const auto all = flat_top_k(rows.data(), n, d, query.data(), n);
    const auto tie10 = std::find_if(all.begin(), all.end(), [](const RowScore& r) { return r.row == 10; });
    REQUIRE(tie10 + 1 != all.end());
    REQUIRE((tie10 + 1)->row == 500);
    REQUIRE(flat_top_k(rows.data(), 0, d, query.data(), 5).empty());
}

TEST_CASE("every vector index type adds, removes, searches, snapshots and verifies", "[storage]") {
    // IVF and PQ train from the stored vectors once there are enough (39 per centroid).
    const char* factory = GENERATE("Flat", "HNSW16", "IVF4,Flat", "IVF2,PQ4x4", "PQ4x4");
    TempDir dir;
    std::mt19937 rng(2);
    StoreOptions options;
    options.image_factory = factory;
    std::vector<std::int64_t> ids;
    {
        auto store = IndexStore::open(dir.file("ix"), kModel, true, options);
        ids = add_images(*store, 0, 700, rng);
        REQUIRE(store->train_if_ready(Collection::images));
        REQUIRE(store->vectors(Collection::images).size() == 700);
        Catalog::Batch b(store->catalog());
        b.remove_item(Collection::images, ids[0]);
        b.remove_item(Collection::images, ids[1]);
        store->commit(b);
        REQUIRE(store->vectors(Collection::images).size() == 698);
        const std::vector<float> q = store->catalog().vector(Collection::images, ids[5]);
        const auto hits = store->vectors(Collection::images).search(q.data(), 5);
        REQUIRE_FALSE(hits.empty());
        if (std::string(factory).find("PQ") == std::string::npos) REQUIRE(hits[0].id == ids[5]);
        for (const SearchHit& h : hits) REQUIRE(h.id != ids[0]);
        // A batch answers each of its queries as a search of that query alone would (for
        // Flat this checks the single-query sgemv kernel against FAISS's batched sgemm).
        std::vector<float> batch;
        for (int i : {5, 6, 7}) {
            const std::vector<float> v = store->catalog().vector(Collection::images, ids[i]);
            batch.insert(batch.end(), v.begin(), v.end());
        }
        const auto batched = store->vectors(Collection::images).search(3, batch.data(), 5);
        REQUIRE(batched.size() == 3);
        for (std::size_t i = 0; i < 3; ++i) {
            const auto alone = store->vectors(Collection::images).search(batch.data() + i * kDim, 5);
            REQUIRE(batched[i].size() == alone.size());
            for (std::size_t j = 0; j < alone.size(); ++j) {
                REQUIRE(batched[i][j].id == alone[j].id);
                REQUIRE(batched[i][j].score == Approx(alone[j].score).margin(1e-5));
            }
        }
        const VerifyReport r = store->verify();
        INFO(factory << ": " << (r.problems.empty() ? "" : r.problems[0]));
        REQUIRE(r.ok());
        REQUIRE(r.collections.at(Collection::images).indexed == 698);
    }
    auto reopened = IndexStore::open(dir.file("ix"), kModel, false);
    REQUIRE(reopened->vectors(Collection::images).factory() == factory);
    REQUIRE(reopened->vectors(Collection::images).size() == 698);
    REQUIRE_FALSE(reopened->vectors(Collection::images).contains(ids[1]));
    REQUIRE(reopened->verify().ok());
}

TEST_CASE("a crash after commit and before the snapshot loses nothing: the log is replayed", "[storage]") {
    TempDir dir;
    std::mt19937 rng(3);
    std::int64_t removed = 0;
    {
        auto store = IndexStore::open(dir.file("ix"), kModel, true);
        removed = add_images(*store, 0, 50, rng)[7];
    }  // a clean close writes the snapshot
    // A child process commits more and dies without closing (no snapshot, no destructors).
    in_a_child_that_dies([&] {
        std::mt19937 child_rng(4);
        auto store = IndexStore::open(dir.file("ix"), kModel, false);
        add_images(*store, 50, 30, child_rng);
        Catalog::Batch b(store->catalog());
        b.remove_item(Collection::images, removed);
        store->commit(b);
        return store;
    });
    auto store = IndexStore::open(dir.file("ix"), kModel, false);
    REQUIRE(store->catalog().item_count(Collection::images) == 79);
    REQUIRE(store->vectors(Collection::images).size() == 79);
    REQUIRE_FALSE(store->vectors(Collection::images).contains(removed));
    REQUIRE(store->verify().ok());
}

TEST_CASE("rebuild makes a new vector index from the stored embeddings", "[storage]") {
    TempDir dir;
    std::mt19937 rng(5);
    auto store = IndexStore::open(dir.file("ix"), kModel, true);
    const auto ids = add_images(*store, 0, 300, rng);
    const std::vector<float> q = store->catalog().vector(Collection::images, ids[42]);
    const auto flat = store->vectors(Collection::images).search(q.data(), 10);
    store->rebuild(Collection::images, "HNSW8");
    REQUIRE(store->vectors(Collection::images).factory() == "HNSW8");
    const auto hnsw = store->vectors(Collection::images).search(q.data(), 10);
    REQUIRE(hnsw[0].id == flat[0].id);
    REQUIRE(store->verify().ok());
    store.reset();
    REQUIRE(IndexStore::open(dir.file("ix"), kModel, false)->vectors(Collection::images).factory() == "HNSW8");
}

TEST_CASE("storage errors name the input and the reason", "[storage]") {
    TempDir dir;
    std::mt19937 rng(6);
    SECTION("a factory string FAISS cannot make") {
        StoreOptions o;
        o.image_factory = "IVF,Nonsense";
        REQUIRE_THROWS_WITH(IndexStore::open(dir.file("ix"), kModel, true, o),
                            Catch::Contains("IVF,Nonsense") && Catch::Contains("FAISS cannot make it"));
    }
    SECTION("another model's vectors") {
        IndexStore::open(dir.file("ix"), kModel, true);
        ModelIdentity other = kModel;
        other.sha256 = std::string(64, 'b');
        other.name = "other";
        REQUIRE_THROWS_WITH(IndexStore::open(dir.file("ix"), other, false),
                            Catch::Contains("was made with model 'test-model'") && Catch::Contains("not 'other'"));
    }
    SECTION("a missing index") {
        REQUIRE_THROWS_WITH(IndexStore::open(dir.file("none"), kModel, false), Catch::Contains("not found"));
    }
    SECTION("a second process on the same index") {
        auto store = IndexStore::open(dir.file("ix"), kModel, true);
        const pid_t child = fork();
        if (child == 0) {
            try {
                IndexStore::open(dir.file("ix"), kModel, false);
                _exit(0);
            } catch (const Error& e) {
                _exit(std::string(e.what()).find("in use by another opsis process") != std::string::npos ? 42 : 1);
            }
        }
        int status = 0;
        waitpid(child, &status, 0);
        REQUIRE(WEXITSTATUS(status) == 42);
    }
    SECTION("a truncated snapshot is rebuilt from the catalog, losing nothing") {
        { add_images(*IndexStore::open(dir.file("ix"), kModel, true), 0, 40, rng); }
        const std::string snap = dir.file("ix/images.vectors");
        const auto bytes = read_file(snap, 1 << 30);
        write_bytes(snap,
                    std::vector<unsigned char>(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2)));
        auto store = IndexStore::open(dir.file("ix"), kModel, false);
        REQUIRE(store->vectors(Collection::images).size() == 40);
        REQUIRE(store->verify().ok());
    }
    SECTION("an unknown item id") {
        auto store = IndexStore::open(dir.file("ix"), kModel, true);
        Catalog::Batch b(store->catalog());
        REQUIRE_THROWS_WITH(b.remove_item(Collection::images, 99),
                            Catch::Contains("images/99") && Catch::Contains("not found"));
    }
}

TEST_CASE("a creation cut short is completed by the next open", "[storage]") {
    TempDir dir;
    std::filesystem::create_directories(dir.file("ix"));
    // The catalog exists but the index was never recorded (no model, no index.json).
    { Catalog::open(dir.file("ix/catalog"), true); }
    REQUIRE_THROWS_WITH(IndexStore::open(dir.file("ix"), kModel, false), Catch::Contains("not found"));
    auto store = IndexStore::open(dir.file("ix"), kModel, true);
    REQUIRE(store->model().name == "test-model");
    REQUIRE(std::filesystem::exists(dir.file("ix/index.json")));
    REQUIRE(store->verify().ok());
}

TEST_CASE("path and failure counters follow every change, survive reopening, and are rebuilt for older catalogs",
          "[storage]") {
    TempDir dir;
    std::mt19937 rng(4);
    {
        auto store = IndexStore::open(dir.file("ix"), kModel, true);
        const std::vector<std::int64_t> ids = add_images(*store, 0, 5, rng);
        Catalog::Batch b(store->catalog());
        b.add_path(ids[0], "/p/0-copy.png", 100, 1);  // a second path of one image
        b.add_path(ids[1], "/p/0-copy.png", 100, 2);  // ... moved to another image: still one path
        b.remove_path("/p/2.png");                    // image 2 goes with its only path
        b.record_failure({.path = "/bad/a.png", .reason = "corrupt"});
        b.record_failure({.path = "/bad/b.png", .reason = "corrupt"});
        b.record_failure({.path = "/bad/a.png", .reason = "still corrupt"});  // the same path again
        b.clear_failure("/bad/never-recorded.png");
        store->commit(b);
        REQUIRE(store->catalog().path_count() == 5);
        REQUIRE(store->catalog().failure_count(Collection::images) == 2);
        Catalog::Batch b2(store->catalog());
        b2.clear_failure("/bad/a.png");
        b2.remove_item(Collection::images, ids[1]);  // takes /p/1.png and /p/0-copy.png
        store->commit(b2);
        REQUIRE(store->catalog().path_count() == 3);
        REQUIRE(store->catalog().failure_count(Collection::images) == 1);
        REQUIRE(store->stats()["images"]["paths"] == 3);
        REQUIRE(store->verify().ok());
    }
    auto reopened = IndexStore::open(dir.file("ix"), kModel, false);
    REQUIRE(reopened->catalog().path_count() == 3);
    REQUIRE(reopened->catalog().failure_count(Collection::images) == 1);
    reopened.reset();

    // A catalog from before the counters: they are counted once on opening.
    {
        rocksdb::DB* raw = nullptr;
        std::vector<rocksdb::ColumnFamilyDescriptor> families;
        std::vector<std::string> names;
        REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.file("ix/catalog"), &names).ok());
        for (const std::string& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
        std::vector<rocksdb::ColumnFamilyHandle*> handles;
        REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), dir.file("ix/catalog"), families, &handles, &raw).ok());
        REQUIRE(raw->Delete(rocksdb::WriteOptions(), "images.path_count").ok());
        REQUIRE(raw->Delete(rocksdb::WriteOptions(), "images.failure_count").ok());
        // ... and from before text lines' failures were kept apart: one sits among the images'.
        REQUIRE(raw->Delete(rocksdb::WriteOptions(), "texts.failure_count").ok());
        REQUIRE(raw->Delete(rocksdb::WriteOptions(), "texts.failures_apart").ok());
        for (std::size_t i = 0; i < names.size(); ++i)
            if (names[i] == "images.errors")
                REQUIRE(raw->Put(rocksdb::WriteOptions(), handles[i], "/data/notes.txt:7",
                                 R"({"reason": "invalid UTF-8 at byte 3", "size": 0, "mtime_ns": 0, "at": 1})")
                            .ok());
        for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
        delete raw;
    }
    REQUIRE_THROWS_WITH(IndexStore::open(dir.file("ix"), kModel, false, StoreOptions{.read_only = true}),
                        Catch::Contains("written by an older Opsis") && Catch::Contains("open it once for writing"));
    auto migrated = IndexStore::open(dir.file("ix"), kModel, false);
    REQUIRE(migrated->catalog().path_count() == 3);
    REQUIRE(migrated->catalog().failure_count(Collection::images) == 1);
    REQUIRE(migrated->catalog().failure_count(Collection::texts) == 1);
    migrated->catalog().for_each_failure(Collection::texts, [](const Failure& f) {
        CHECK(f.path == "/data/notes.txt:7");
        CHECK(f.collection == Collection::texts);
        return true;
    });
    REQUIRE(migrated->verify().ok());
}

TEST_CASE(
    "the source and tag index follows every change, answers filters by key range, and is rebuilt for older catalogs",
    "[storage]") {
    TempDir dir;
    std::mt19937 rng(5);
    const std::string catalog_dir = dir.file("ix/catalog");
    auto with_raw_db =
        [&](const std::function<void(rocksdb::DB&, std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>& fn) {
            std::vector<std::string> names;
            REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), catalog_dir, &names).ok());
            std::vector<rocksdb::ColumnFamilyDescriptor> families;
            for (const std::string& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
            std::vector<rocksdb::ColumnFamilyHandle*> handles;
            rocksdb::DB* raw = nullptr;
            REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), catalog_dir, families, &handles, &raw).ok());
            std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
            for (std::size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
            fn(*raw, by_name);
            for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
            delete raw;
        };
    using Ids = std::vector<std::int64_t>;
    std::vector<std::int64_t> ids;
    {
        auto store = IndexStore::open(dir.file("ix"), kModel, true);
        Catalog::Batch b(store->catalog());
        for (int k = 0; k < 6; ++k) {
            Item it;
            it.hash = "f" + std::to_string(k);
            it.source = k < 3 ? "camera" : "scanner";
            it.tags = k % 2 ? std::vector<std::string>{"odd", "tag with \"quotes\""} : std::vector<std::string>{"even"};
            const std::vector<float> v = unit_vector(rng);
            ids.push_back(b.add_item(Collection::images, it, v.data(), kDim));
            b.add_path(ids.back(), "/photos/" + std::to_string(k) + ".png", 1, 1);
        }
        b.add_path(ids[0], "/photos/0-again.png", 1, 1);  // two paths of one image under /photos/0
        Item text;
        text.hash = "t0", text.text = "a caption", text.source = "camera", text.tags = {"odd"};
        const std::vector<float> v = unit_vector(rng);
        const std::int64_t text_id = b.add_item(Collection::texts, text, v.data(), kDim);
        store->commit(b);
        const Catalog& cat = store->catalog();
        REQUIRE(cat.ids_with_source(Collection::images, "camera", 100) == Ids{ids[0], ids[1], ids[2]});
        REQUIRE(cat.ids_with_tag(Collection::images, "odd", 100) == Ids{ids[1], ids[3], ids[5]});
        REQUIRE(cat.ids_with_tag(Collection::images, "tag with \"quotes\"", 100) == Ids{ids[1], ids[3], ids[5]});
        REQUIRE(cat.ids_with_tag(Collection::texts, "odd", 100) == Ids{text_id});
        REQUIRE(cat.ids_with_source(Collection::images, "cam", 100).empty());  // a prefix of a value is not the value
        REQUIRE(cat.ids_with_tag(Collection::images, "odd", 1).size() == 2);   // over the limit: limit + 1
        REQUIRE(cat.ids_under_path("/photos/0", 100) == Ids{ids[0]});
        REQUIRE(cat.ids_under_path("/photos/", 100) == ids);

        Catalog::Batch b2(store->catalog());
        Item changed = *cat.item(Collection::images, ids[1]);
        changed.source = "scanner";
        changed.tags = {"even"};
        b2.update_item(Collection::images, changed);
        b2.remove_item(Collection::images, ids[3]);
        store->commit(b2);
        REQUIRE(cat.ids_with_source(Collection::images, "camera", 100) == Ids{ids[0], ids[2]});
        REQUIRE(cat.ids_with_source(Collection::images, "scanner", 100) == Ids{ids[1], ids[4], ids[5]});
        REQUIRE(cat.ids_with_tag(Collection::images, "odd", 100) == Ids{ids[5]});
        REQUIRE(cat.ids_with_tag(Collection::images, "even", 100) == Ids{ids[0], ids[1], ids[2], ids[4]});
        REQUIRE(store->verify().ok());
    }
    // A stray entry is a verify problem.
    with_raw_db([&](rocksdb::DB& db, auto& cf) {
        REQUIRE(db.Put(rocksdb::WriteOptions(), cf.at("images.facets"),
                       std::string("t\0\0\0\3odd", 8) + std::string(7, '\0') + "\1", "")
                    .ok());
    });
    {
        auto store = IndexStore::open(dir.file("ix"), kModel, false);
        const VerifyReport r = store->verify();
        REQUIRE_FALSE(r.ok());
        REQUIRE_THAT(r.problems[0], Catch::Contains("source/tag/date/camera index"));
    }
    // A catalog from before the index: the family is made and filled on opening.
    with_raw_db([&](rocksdb::DB& db, auto& cf) {
        REQUIRE(db.DropColumnFamily(cf.at("images.facets")).ok());
        REQUIRE(db.DropColumnFamily(cf.at("texts.facets")).ok());
        REQUIRE(db.Delete(rocksdb::WriteOptions(), "images.facets_ready").ok());
        REQUIRE(db.Delete(rocksdb::WriteOptions(), "texts.facets_ready").ok());
    });
    auto migrated = IndexStore::open(dir.file("ix"), kModel, false);
    REQUIRE(migrated->catalog().ids_with_source(Collection::images, "scanner", 100) == Ids{ids[1], ids[4], ids[5]});
    REQUIRE(migrated->catalog().ids_with_tag(Collection::texts, "odd", 100).size() == 1);
    REQUIRE(migrated->verify().ok());
}

TEST_CASE("float16 conversion: F16C and the plain loop agree, rounding to nearest even", "[storage][rescore]") {
    // Every half value survives float -> half -> float exactly, and floats between two halves
    // round to the nearer (ties to even), whichever path runs.
    std::vector<std::uint16_t> all(65536);
    for (std::uint32_t h = 0; h < 65536; ++h) all[h] = static_cast<std::uint16_t>(h);
    std::vector<float> f(all.size());
    from_half(all.data(), f.data(), all.size());
    std::vector<std::uint16_t> back(all.size());
    to_half(f.data(), back.data(), f.size());
    for (std::uint32_t h = 0; h < 65536; ++h) {
        const bool nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff);
        if (!nan) REQUIRE(back[h] == h);
    }
    CHECK(f[0x3c00] == 1.0f);
    CHECK(f[0x0001] == std::ldexp(1.0f, -24));                      // the smallest subnormal
    const float between[] = {1.0f + std::ldexp(1.0f, -11),          // a tie: to even, 1.0
                             1.0f + 3 * std::ldexp(1.0f, -11),      // a tie: to even, 1 + 2^-9
                             1.0f + std::ldexp(1.0f, -11) * 1.01f,  // just above: up
                             std::ldexp(1.0f, -25),                 // a tie at the bottom: 0
                             65520.0f,                              // past the largest half: infinity
                             -0.333333f};
    std::uint16_t h[6];
    to_half(between, h, 6);
    CHECK(h[0] == 0x3c00);
    CHECK(h[1] == 0x3c02);
    CHECK(h[2] == 0x3c01);
    CHECK(h[3] == 0x0000);
    CHECK(h[4] == 0x7c00);
    CHECK(h[5] == 0xb555);
    // F16C (8 at a time) against the plain loop (the tail) on random floats.
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    std::vector<float> many(1001);
    for (float& x : many) x = u(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 40) - 30);
    std::vector<std::uint16_t> vec(many.size()), one(1);
    to_half(many.data(), vec.data(), many.size());
    for (std::size_t i = 0; i < many.size(); ++i) {
        to_half(&many[i], one.data(), 1);  // a single value takes the plain path
        REQUIRE(vec[i] == one[0]);
    }
}

TEST_CASE("float16 copies that never grew past their first slots open again as they were", "[storage][rescore]") {
    TempDir dir;
    std::mt19937 rng(13);
    const std::vector<float> v = unit_vector(rng);
    {
        auto r = RescoreVectors::create(dir.file("small.f16"), kDim);
        r->put(5, v.data());
        r->set_applied_seq(9);
        r->save();
    }
    auto r = RescoreVectors::open(dir.file("small.f16"), kDim, false);
    REQUIRE(r != nullptr);  // its header said 0 slots once: every open rebuilt it from the catalog
    CHECK(r->applied_seq() == 9);
    std::vector<float> got(kDim);
    REQUIRE(r->get(5, got.data()));
    CHECK(got[0] == Approx(v[0]).margin(1e-3));
}

TEST_CASE("a compressed index re-scores from float16 copies kept in step, rebuilt when lost, checked by verify",
          "[storage][rescore]") {
    TempDir dir;
    std::mt19937 rng(11);
    StoreOptions options;
    options.image_factory = "IVF2,PQ4x4";
    std::vector<std::int64_t> ids;
    const std::string copies = dir.file("ix/images.f16");
    {
        auto store = IndexStore::open(dir.file("ix"), kModel, true, options);
        ids = add_images(*store, 0, 3000, rng);  // past 1024 slots: the file grows
        REQUIRE(store->train_if_ready(Collection::images));
        const RescoreVectors* r = store->rescore_vectors(Collection::images);
        REQUIRE(r != nullptr);
        REQUIRE(store->rescore_vectors(Collection::texts) == nullptr);  // texts: Flat, exact itself
        std::vector<float> q = store->catalog().vector(Collection::images, ids[10]);
        std::vector<float> scores(4);
        const std::int64_t probe[] = {ids[10], ids[11], ids[2999], 999999};
        r->dots(q.data(), probe, 4, scores.data());
        CHECK(scores[0] == Approx(1.0).margin(2e-3));
        const std::vector<float> other = store->catalog().vector(Collection::images, ids[11]);
        double exact = 0;
        for (int k = 0; k < kDim; ++k) exact += double(q[k]) * other[k];
        CHECK(scores[1] == Approx(exact).margin(2e-3));
        CHECK(scores[3] == 0.0f);  // never written
        Catalog::Batch b(store->catalog());
        b.remove_item(Collection::images, ids[11]);
        store->commit(b);
        std::vector<float> got(kDim);
        CHECK_FALSE(r->get(ids[11], got.data()));  // cleared with its item
        CHECK(r->get(ids[12], got.data()));
        REQUIRE(store->verify().ok());
        CHECK(store->stats()["images"]["rescore_bytes"].get<std::uint64_t>() >= 3000u * kDim * 2);
    }
    // Lost: rebuilt from the catalog at the next open.
    std::filesystem::remove(copies);
    {
        auto store = IndexStore::open(dir.file("ix"), kModel, false);
        REQUIRE(store->rescore_vectors(Collection::images) != nullptr);
        REQUIRE(store->verify().ok());
        std::vector<float> got(kDim);
        CHECK_FALSE(store->rescore_vectors(Collection::images)->get(ids[11], got.data()));
    }
    // Damaged (a slot changed on disk): verify says so, naming the item.
    {
        std::FILE* f = std::fopen(copies.c_str(), "r+b");
        REQUIRE(f);
        std::fseek(f, 4096 + static_cast<long>(ids[20]) * kDim * 2, SEEK_SET);
        const std::uint16_t two[2] = {0x4000, 0x4000};  // 2.0: no unit vector has it
        std::fwrite(two, 2, 2, f);
        std::fclose(f);
        auto store = IndexStore::open(dir.file("ix"), kModel, false, StoreOptions{.read_only = true});
        const VerifyReport v = store->verify();
        CHECK_FALSE(v.ok());
        CHECK_THAT(v.problems.at(0), Catch::Contains("item " + std::to_string(ids[20])) && Catch::Contains("float16"));
    }
    // A crash after commit and before the copies were saved: the log replays into them.
    std::filesystem::remove(copies);
    { auto store = IndexStore::open(dir.file("ix"), kModel, false); }  // rebuilt, current
    in_a_child_that_dies([&] {
        std::mt19937 child_rng(12);
        auto store = IndexStore::open(dir.file("ix"), kModel, false);
        add_images(*store, 3000, 40, child_rng);
        return store;
    });
    {
        // Read-only sees copies that lag the catalog: they are not used (re-scoring reads the
        // catalog), and nothing is written.
        auto ro = IndexStore::open(dir.file("ix"), kModel, false, StoreOptions{.read_only = true});
        CHECK(ro->rescore_vectors(Collection::images) == nullptr);
    }
    auto store = IndexStore::open(dir.file("ix"), kModel, false);
    REQUIRE(store->rescore_vectors(Collection::images) != nullptr);
    CHECK(store->catalog().item_count(Collection::images) == 3039);
    REQUIRE(store->verify().ok());
    // An exact index needs no copies: rebuilding as Flat removes them.
    store->rebuild(Collection::images, "Flat");
    CHECK(store->rescore_vectors(Collection::images) == nullptr);
    CHECK_FALSE(std::filesystem::exists(copies));
}

namespace {

// Adds `n` images (hash "h<k>", path "/p/<k>.png", source "bulk", tag "t<k % 3>") and as many
// texts through one Catalog::Bulk; returns the images' ids.
std::vector<std::int64_t> bulk_add(IndexStore& store, int first, int n, std::mt19937& rng) {
    Catalog::Bulk bulk(store.catalog());
    std::vector<std::int64_t> ids;
    for (int k = first; k < first + n; ++k) {
        Item it;
        it.hash = "h" + std::to_string(k);
        it.width = it.height = 8;
        it.source = "bulk";
        it.tags = {"t" + std::to_string(k % 3)};
        const std::vector<float> v = unit_vector(rng);
        const std::int64_t id = bulk.add_item(Collection::images, it, v.data(), kDim);
        bulk.add_path(id, "/p/" + std::to_string(k) + ".png", 100 + static_cast<std::uint64_t>(k), 7);
        ids.push_back(id);
        Item text;
        text.hash = "text" + std::to_string(k);
        text.text = "caption " + std::to_string(k);
        const std::vector<float> t = unit_vector(rng);
        bulk.add_item(Collection::texts, text, t.data(), kDim);
    }
    store.commit(bulk);
    return ids;
}

}  // namespace

TEST_CASE("a bulk adds many items as ingested tables, as a batch would, after batches and before them",
          "[storage][bulk]") {
    TempDir dir;
    std::mt19937 rng(21);
    StoreOptions options;
    options.image_factory = "IVF4,Flat";
    std::vector<std::int64_t> first, bulk_ids, last;
    {
        auto store = IndexStore::open(dir.file("ix"), kModel, true, options);
        first = add_images(*store, 0, 10, rng);
        bulk_ids = bulk_add(*store, 10, 500, rng);
        REQUIRE(bulk_ids.front() == first.back() + 1);  // ids go on from the batches'
        REQUIRE(store->train_if_ready(Collection::images));
        last = add_images(*store, 510, 10, rng);  // and batches go on from the bulk's
        REQUIRE(last.front() == bulk_ids.back() + 1);
        bulk_add(*store, 520, 30, rng);  // a bulk into a trained index: added from memory
        const Catalog& cat = store->catalog();
        CHECK(cat.item_count(Collection::images) == 550);
        CHECK(cat.item_count(Collection::texts) == 530);
        CHECK(cat.path_count() == 550);
        CHECK(cat.find_hash(Collection::images, "h42") == bulk_ids[32]);
        CHECK(cat.find_hash(Collection::texts, "text42").has_value());
        const auto path = cat.find_path("/p/42.png");
        REQUIRE(path);
        CHECK(path->id == bulk_ids[32]);
        CHECK(path->size == 142);
        CHECK(path->mtime_ns == 7);
        const auto item = cat.item(Collection::images, bulk_ids[32]);
        REQUIRE(item);
        CHECK(item->paths == std::vector<std::string>{"/p/42.png"});
        CHECK(item->tags == std::vector<std::string>{"t0"});
        CHECK(cat.ids_with_source(Collection::images, "bulk", 10000).size() == 530);
        CHECK(cat.ids_with_tag(Collection::images, "t1", 10000).size() == 177);  // k % 3 == 1
        CHECK(store->vectors(Collection::images).size() == 550);
        CHECK(store->vectors(Collection::texts).size() == 530);
        const std::vector<float> q = cat.vector(Collection::images, bulk_ids[100]);
        REQUIRE(q.size() == kDim);
        CHECK(store->vectors(Collection::images).search(q.data(), 1, {.effort = 4})[0].id == bulk_ids[100]);
        const VerifyReport report = store->verify();
        for (const std::string& p : report.problems) UNSCOPED_INFO(p);
        CHECK(report.ok());
    }
    // Reopened: the counters, the log positions and the snapshot agree with what was ingested.
    auto store = IndexStore::open(dir.file("ix"), kModel, false);
    CHECK(store->catalog().item_count(Collection::images) == 550);
    CHECK(store->vectors(Collection::images).size() == 550);
    CHECK(add_images(*store, 600, 1, rng).front() == 551);
    CHECK(store->verify().ok());
}

TEST_CASE("a bulk adds only new items: a known or repeated hash or path is named and nothing is written",
          "[storage][bulk]") {
    TempDir dir;
    std::mt19937 rng(22);
    auto store = IndexStore::open(dir.file("ix"), kModel, true);
    add_images(*store, 0, 5, rng);
    const std::vector<float> v = unit_vector(rng);
    auto refused = [&](const std::function<void(Catalog::Bulk&)>& fill, const std::string& named) {
        Catalog::Bulk bulk(store->catalog());
        fill(bulk);
        REQUIRE_THROWS_WITH(store->commit(bulk), Catch::Contains(named));
        CHECK(store->catalog().item_count(Collection::images) == 5);
        CHECK(store->catalog().path_count() == 5);
        CHECK(store->vectors(Collection::images).size() == 5);
    };
    auto image = [&](Catalog::Bulk& bulk, const std::string& hash, const std::string& path) {
        Item it;
        it.hash = hash;
        bulk.add_path(bulk.add_item(Collection::images, it, v.data(), kDim), path, 1, 1);
    };
    refused([&](Catalog::Bulk& b) { image(b, "new", "/p/new.png"), image(b, "h3", "/p/other.png"); },
            "'h3': is already in the catalog as item 4");
    refused([&](Catalog::Bulk& b) { image(b, "new", "/p/2.png"); }, "'/p/2.png': is already in the catalog");
    refused([&](Catalog::Bulk& b) { image(b, "twice", "/a.png"), image(b, "twice", "/b.png"); },
            "'twice': is added twice in one bulk");
    refused([&](Catalog::Bulk& b) { image(b, "one", "/same.png"), image(b, "two", "/same.png"); },
            "'/same.png': is added twice in one bulk");
    refused(
        [&](Catalog::Bulk& b) {
            Item it;
            it.hash = "pathless";
            b.add_item(Collection::images, it, v.data(), kDim);
        },
        "'pathless': has no path");
    {
        Catalog::Bulk bulk(store->catalog());
        image(bulk, "full", "/full.png");
        Item it;
        it.hash = "short";
        REQUIRE_THROWS_WITH(bulk.add_item(Collection::images, it, v.data(), kDim - 1),
                            Catch::Contains("'short': has a 15-d vector among 16-d ones"));
    }
    REQUIRE(store->verify().ok());
    // After the refusals the next bulk starts from the catalog as it is.
    Catalog::Bulk bulk(store->catalog());
    image(bulk, "fine", "/fine.png");
    store->commit(bulk);
    CHECK(store->catalog().find_hash(Collection::images, "fine") == 6);
    CHECK(store->verify().ok());
}

TEST_CASE("a bulk committed by a process that dies before its snapshot is replayed at the next open",
          "[storage][bulk]") {
    TempDir dir;
    StoreOptions options;
    options.image_factory = "IVF2,PQ4x4";  // compressed: the float16 copies replay too
    {
        std::mt19937 rng(23);
        auto store = IndexStore::open(dir.file("ix"), kModel, true, options);
        bulk_add(*store, 0, 700, rng);  // IVF2,PQ4x4 trains from 39 x 16
        REQUIRE(store->train_if_ready(Collection::images));
    }
    in_a_child_that_dies([&] {
        std::mt19937 child_rng(24);
        auto store = IndexStore::open(dir.file("ix"), kModel, false);
        bulk_add(*store, 700, 300, child_rng);
        return store;
    });
    auto store = IndexStore::open(dir.file("ix"), kModel, false);
    CHECK(store->catalog().item_count(Collection::images) == 1000);
    CHECK(store->vectors(Collection::images).size() == 1000);
    const std::vector<float> v = store->catalog().vector(Collection::images, 950);
    std::vector<float> copy(kDim);
    REQUIRE(store->rescore_vectors(Collection::images)->get(950, copy.data()));
    for (int k = 0; k < kDim; ++k) CHECK(copy[k] == Approx(v[k]).margin(1e-3));
    CHECK(store->verify().ok());
}

TEST_CASE("indexes started from one shared training join their lists: the codes of adding at once",
          "[storage][shards]") {
    TempDir dir;
    std::mt19937 rng(11);
    std::vector<float> sample;
    for (int k = 0; k < 700; ++k) {  // PQ4x4 trains on 39 x 16
        const std::vector<float> v = unit_vector(rng);
        sample.insert(sample.end(), v.begin(), v.end());
    }
    for (const std::string factory : {"IVF4,SQ8", "IVF4,Flat", "IVF2,PQ4x4"}) {
        INFO(factory);
        std::unique_ptr<VectorIndex> trained = VectorIndex::create(kDim, factory);
        trained->train(700, sample.data());
        trained->share_training(kModel.sha256);
        REQUIRE(trained->trained_from().size() == 64);
        const std::string path = dir.file(factory + ".trained");
        trained->save(path);

        // Two parts, and the whole at once, from the same training.
        std::unique_ptr<VectorIndex> a = VectorIndex::load_trained(path), b = VectorIndex::load_trained(path),
                                     whole = VectorIndex::load_trained(path);
        REQUIRE(a->trained_from() == trained->trained_from());
        std::vector<std::int64_t> ids_a, ids_b, ids_whole;
        std::vector<float> va, vb, vw;
        std::unordered_map<std::int64_t, std::int64_t> new_a, new_b;
        for (int k = 0; k < 120; ++k) {
            const std::vector<float> v = unit_vector(rng);
            auto& ids = k % 2 ? ids_b : ids_a;
            auto& vs = k % 2 ? vb : va;
            ids.push_back(k / 2);  // local ids collide between the parts
            vs.insert(vs.end(), v.begin(), v.end());
            if (k == 7) continue;  // one left out of the joined index (a duplicate, say)
            (k % 2 ? new_b : new_a)[k / 2] = 1000 + k;
            ids_whole.push_back(1000 + k);
            vw.insert(vw.end(), v.begin(), v.end());
        }
        a->add(ids_a.size(), ids_a.data(), va.data());
        b->add(ids_b.size(), ids_b.data(), vb.data());
        whole->add(ids_whole.size(), ids_whole.data(), vw.data());

        std::unique_ptr<VectorIndex> joined = VectorIndex::load_trained(path);
        REQUIRE(joined->can_join_lists());
        joined->join_lists(*a, new_a);
        joined->join_lists(*b, new_b);
        REQUIRE(joined->size() == 119);
        REQUIRE(joined->ids() == whole->ids());
        std::vector<float> x(kDim), y(kDim);
        for (std::int64_t id : whole->ids()) {
            REQUIRE(joined->reconstruct(id, x.data()));
            REQUIRE(whole->reconstruct(id, y.data()));
            REQUIRE(x == y);  // the same code, copied, not encoded again
        }
        for (int q = 0; q < 5; ++q) {
            const std::vector<float> query = unit_vector(rng);
            SearchParams all;
            all.effort = 4;
            const auto hj = joined->search(query.data(), 10, all), hw = whole->search(query.data(), 10, all);
            REQUIRE(hj.size() == hw.size());
            for (std::size_t i = 0; i < hj.size(); ++i) REQUIRE(hj[i].score == Approx(hw[i].score).margin(1e-6));
        }
        // Saved and loaded, it still knows its training and finds by id.
        joined->save(dir.file("joined"));
        std::unique_ptr<VectorIndex> again = VectorIndex::load(dir.file("joined"));
        REQUIRE(again->trained_from() == trained->trained_from());
        REQUIRE(again->contains(1000 + 3));
        again->remove({1000 + 3});
        REQUIRE_FALSE(again->contains(1000 + 3));

        // Refused: the same ids twice, an index trained apart, a filled index as a training.
        REQUIRE_THROWS_WITH(joined->join_lists(*a, new_a), Catch::Contains("already present"));
        std::unique_ptr<VectorIndex> apart = VectorIndex::create(kDim, factory);
        apart->train(700, sample.data());
        REQUIRE_THROWS_WITH(joined->join_lists(*apart, new_a), Catch::Contains("one shared training"));
        REQUIRE_THROWS_WITH(VectorIndex::load_trained(dir.file("joined")), Catch::Contains("holds 119 vectors"));
    }
    // A Flat index shares a training too (nothing to train), but has no lists to join.
    std::unique_ptr<VectorIndex> flat = VectorIndex::create(kDim, "Flat");
    flat->share_training(kModel.sha256);
    REQUIRE_FALSE(flat->can_join_lists());
    // Nor do IVF types that keep more than codes in plain lists: those re-add their vectors.
    for (const char* packed : {"IVF4,PQ4x4fs"})
        REQUIRE_FALSE(VectorIndex::create(kDim, packed)->can_join_lists());
    REQUIRE(VectorIndex::create(kDim, "IVF4,PQ4")->can_join_lists());
    REQUIRE_THROWS_WITH(VectorIndex::create(kDim, "IVF4,Flat")->share_training(kModel.sha256),
                        Catch::Contains("not trained"));
}

TEST_CASE("an index started from a shared training keeps it through a lost snapshot and a merge", "[storage][shards]") {
    TempDir dir;
    std::mt19937 rng(12);
    std::unique_ptr<VectorIndex> trained;
    {
        StoreOptions o;
        o.image_factory = "Flat";
        auto sample = IndexStore::open(dir.file("sample"), kModel, true, o);
        add_images(*sample, 0, 300, rng);
        REQUIRE_THROWS_WITH(sample->train_shared(Collection::images, "IVF16,Flat"),
                            Catch::Contains("trains on at least 624"));
        trained = sample->train_shared(Collection::images, "IVF4,SQ8");
        trained->save(dir.file("t.trained"));
    }
    StoreOptions o;
    o.image_trained = dir.file("t.trained");
    {
        auto shard = IndexStore::open(dir.file("shard"), kModel, true, o);
        REQUIRE(shard->vectors(Collection::images).factory() == "IVF4,SQ8");
        REQUIRE(shard->vectors(Collection::images).is_trained());
        add_images(*shard, 1000, 50, rng);
        REQUIRE(shard->stats()["images"]["shared_training"] == trained->trained_from());
    }
    // The snapshot lost: the index starts again from the kept training and takes every stored
    // vector (not only the log's, trimmed at the last snapshot).
    std::filesystem::remove(dir.file("shard") + "/images.vectors");
    {
        auto shard = IndexStore::open(dir.file("shard"), kModel, false, o);
        REQUIRE(shard->vectors(Collection::images).trained_from() == trained->trained_from());
        REQUIRE(shard->vectors(Collection::images).size() == 50);
        REQUIRE(shard->verify().ok());
    }
    // Another model's training, another training on an index that has one: refused.
    ModelIdentity other = kModel;
    other.sha256 = std::string(64, 'b');
    REQUIRE_THROWS_WITH(IndexStore::open(dir.file("other"), other, true, o),
                        Catch::Contains("trained on another model's vectors"));
    {
        auto sample = IndexStore::open(dir.file("sample"), kModel, false);
        sample->train_shared(Collection::images, "IVF2,SQ8")->save(dir.file("u.trained"));
    }
    o.image_trained = dir.file("u.trained");
    REQUIRE_THROWS_WITH(IndexStore::open(dir.file("shard"), kModel, false, o),
                        Catch::Contains("from another shared training"));
    REQUIRE_THROWS_WITH(IndexStore::open(dir.file("sample"), kModel, false, o),
                        Catch::Contains("without a shared training"));
    // Rebuilt with a factory, an index is trained apart from then on.
    {
        auto shard = IndexStore::open(dir.file("shard"), kModel, false);
        add_images(*shard, 2000, 5, rng);  // not saved yet when the rebuild comes
        shard->rebuild(Collection::images, "IVF4,SQ8");
        REQUIRE(shard->vectors(Collection::images).trained_from().empty());
        REQUIRE_FALSE(shard->shared_training(Collection::images));
    }
    // ...and its float16 copies stay in step through the rebuild: a reader re-scores from them.
    auto reader = IndexStore::open(dir.file("shard"), kModel, false, StoreOptions{.read_only = true});
    REQUIRE(reader->rescore_vectors(Collection::images) != nullptr);
}
