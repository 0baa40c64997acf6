// `opsis index` end to end through the binary: walking folders, idempotent re-runs, changed
// and deleted files, duplicates, failures, manifests with captions, texts, model checks, and
// SIGKILL at random moments.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "image/photo_metadata.h"
#include "index_folder/open_index.h"
#include "indexer/committer.h"
#include "indexer/examine.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

json run_json(const std::string& args) {
    const CommandResult r = run_opsis(args + " --json");
    INFO(args << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
    // The summary is the last line (progress lines go to stderr before it).
    const std::string out = r.output.substr(0, r.output.find_last_not_of('\n') + 1);
    const std::size_t brace = out.rfind("\n{");
    return json::parse(brace == std::string::npos ? out : out.substr(brace + 1));
}

json stats(const std::string& index) {
    const CommandResult r = run_opsis("index stats --json --index " + index);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.output);
}

}  // namespace

TEST_CASE("index add walks folders, skips junk, survives loops, and re-runs idempotently", "[index]") {
    TempDir dir;
    const std::string model = init_tiny_model(dir, "model", 1);
    const std::string photos = dir.file("photos"), index = dir.file("ix");
    fs::create_directories(photos + "/sub");
    fs::create_directories(photos + "/.hidden");
    for (int k = 1; k <= 5; ++k)
        write_bytes(photos + "/" + std::to_string(k) + ".png", random_png(static_cast<std::uint32_t>(k)));
    write_bytes(photos + "/sub/6.jpg", encode_jpeg(pattern_image(20, 14, false)));
    write_bytes(photos + "/sub/same-as-1.PNG", random_png(1));  // duplicate content, upper-case extension
    write_bytes(photos + "/.hidden/7.png", random_png(7));
    write_bytes(photos + "/._1.png", random_png(8));
    write_text(photos + "/.DS_Store", "junk");
    write_text(photos + "/notes.txt", "not an image");
    write_text(photos + "/broken.png", "this is not a PNG");
    write_bytes(photos + "/bomb.png", png_header_only(100000, 100000));
    fs::create_directory_symlink(photos, photos + "/sub/loop");

    json s = run_json("index add --index " + index + " --model " + model + " " + photos);
    CHECK(s["files"] == 9);
    CHECK(s["added"] == 6);
    CHECK(s["duplicates"] == 1);
    CHECK(s["failed"] == 2);
    const CommandResult errors = run_opsis("index errors --index " + index);
    CHECK_THAT(errors.output, Catch::Contains("broken.png: not a supported image format"));
    CHECK_THAT(errors.output, Catch::Contains("bomb.png") && Catch::Contains("pixels"));
    json st = stats(index);
    CHECK(st["images"]["items"] == 6);
    CHECK(st["images"]["paths"] == 7);
    CHECK(st["images"]["failures"] == 2);

    // Nothing changed: everything skipped, including the failures.
    s = run_json("index add --index " + index + " " + photos);  // the model recorded in the index
    CHECK(s["added"] == 0);
    CHECK(s["unchanged"] == 7);
    CHECK(s["failed_before"] == 2);

    // A changed file is re-embedded, a touched one is not, a fixed one is indexed, a removed
    // one is pruned; the old content of the changed file leaves the index.
    write_bytes(photos + "/2.png", random_png(22));
    fs::last_write_time(photos + "/3.png", fs::last_write_time(photos + "/3.png") + std::chrono::hours(1));
    write_bytes(photos + "/broken.png", random_png(23));
    fs::remove(photos + "/4.png");
    s = run_json("index add --prune --index " + index + " " + photos);
    CHECK(s["changed"] == 1);
    CHECK(s["added"] == 1);
    CHECK(s["pruned"] == 1);
    CHECK(s["failed_before"] == 1);  // bomb.png
    st = stats(index);
    CHECK(st["images"]["items"] == 6);  // 1, 2', 3, 5, 6, broken' (4 and the old 2 are gone)
    CHECK(st["images"]["paths"] == 7);
    CHECK(st["images"]["failures"] == 1);
    const CommandResult verify = run_opsis("index verify --index " + index);
    INFO(verify.output);
    CHECK(verify.exit_code == 0);

    // Deleting by path: the duplicate's other path keeps the item.
    REQUIRE(run_opsis("index delete --index " + index + " --path " + photos + "/1.png").exit_code == 0);
    CHECK(stats(index)["images"]["items"] == 6);
    REQUIRE(run_opsis("index delete --index " + index + " --path " + photos + "/sub/same-as-1.PNG").exit_code == 0);
    CHECK(stats(index)["images"]["items"] == 5);
    CHECK(run_opsis("index verify --index " + index).exit_code == 0);
}

// An index of photos/a.png with content X; then a.png gets other content and b.png what a.png
// held, so that b.png is a new path of known content whose content a.png's commit takes out.
struct SwappedContent {
    TempDir dir;
    std::string photos = dir.file("photos"), index = dir.file("ix");
    SwappedContent() {
        const std::string model = init_tiny_model(dir, "m", 1);
        fs::create_directories(photos);
        const auto x = random_png(41), y = random_png(42);
        write_bytes(photos + "/a.png", x);
        REQUIRE(run_json("index add --index " + index + " --model " + model + " " + photos)["added"] == 1);
        write_bytes(photos + "/a.png", y);
        write_bytes(photos + "/b.png", x);
    }
};

TEST_CASE("content that leaves the index during a job is examined again, not embedded by the committer", "[index]") {
    const SwappedContent swapped;
    const std::string &photos = swapped.photos, &index = swapped.index;
    // (Whether b.png is examined, or even committed, before or after a.png's commit depends on
    // the threads' timing: b.png is then new content, or handed back and embedded, or a second
    // path of the old content that a.png leaves. The end is the same. The committer's side is
    // pinned down by the test below.)
    const json s = run_json("index add --index " + index + " --threads 1 " + photos);
    CHECK(s["changed"] == 1);
    CHECK(s["examined_again"].get<int>() <= 1);
    CHECK(s["files"] == 2);
    CHECK(stats(index)["images"]["items"] == 2);
    const CommandResult verify = run_opsis("index verify --index " + index);
    INFO(verify.output);
    CHECK(verify.exit_code == 0);
}

TEST_CASE("the committer hands a duplicate whose content left the index back to be examined and embedded", "[index]") {
    const SwappedContent swapped;
    const std::string& photos = swapped.photos;
    OpenIndex ix = open_index(swapped.index, "", false, true);
    indexer::JobOptions options;
    options.show_progress = false;
    // Both examined before either is committed: a.png is new content, b.png a new path of X.
    indexer::FileResult a = indexer::examine({photos + "/a.png"}, ix.store->catalog(), *ix.model, options);
    indexer::FileResult b = indexer::examine({photos + "/b.png"}, ix.store->catalog(), *ix.model, options);
    REQUIRE(a.kind == indexer::FileResult::Kind::encode);
    REQUIRE(b.kind == indexer::FileResult::Kind::duplicate);
    indexer::JobSummary summary;
    {
        indexer::Committer committer(*ix.store, *ix.model, options, summary);
        committer.take(std::move(a));
        committer.take(std::move(b));
        committer.finish();  // a.png's commit takes X out; b.png comes back, is examined and embedded
    }
    CHECK(summary.changed == 1);
    CHECK(summary.examined_again == 1);
    CHECK(summary.added == 1);
    CHECK(ix.store->catalog().item_count(storage::Collection::images) == 2);
    CHECK(ix.store->catalog().find_path(photos + "/b.png").has_value());
    CHECK(ix.store->verify().ok());
}

TEST_CASE("index add refuses another model, bad factories and unknown inputs with clear errors", "[index]") {
    TempDir dir;
    const std::string model = init_tiny_model(dir, "model", 1), other = init_tiny_model(dir, "other", 2);
    write_bytes(dir.file("a.png"), random_png(1));
    REQUIRE(
        run_opsis("index add --index " + dir.file("ix") + " --model " + model + " " + dir.file("a.png")).exit_code ==
        0);
    CommandResult r = run_opsis("index add --index " + dir.file("ix") + " --model " + other + " " + dir.file("a.png"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("was made with model 'model-tiny'") && Catch::Contains("cannot be compared"));
    r = run_opsis("index add --index " + dir.file("ix2") + " --model " + model + " --factory IVF,Bogus " +
                  dir.file("a.png"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("index factory 'IVF,Bogus'"));
    r = run_opsis("index stats --index " + dir.file("nothing"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("nothing") && Catch::Contains("not found"));
    r = run_opsis("index add --index " + dir.file("ix") + " " + dir.file("missing-folder"));
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("missing-folder: no such file or folder"));
    r = run_opsis("index delete --index " + dir.file("ix") + " 12345");
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("images/12345") && Catch::Contains("not found"));
}

TEST_CASE("a manifest's captions join the texts, add-texts dedupes and names bad lines, rebuild keeps search",
          "[index]") {
    TempDir dir;
    const std::string model = init_tiny_model(dir, "model", 1), index = dir.file("ix");
    std::ofstream m(dir.file("manifest.jsonl"));
    for (int k = 0; k < 4; ++k) {
        write_bytes(dir.file("m" + std::to_string(k) + ".png"), random_png(static_cast<std::uint32_t>(100 + k)));
        m << json{{"image", "m" + std::to_string(k) + ".png"},
                  {"captions", {{"en", {"a thing " + std::to_string(k % 2)}}}},
                  {"source", "test"},
                  {"tags", {"t"}}}
                 .dump()
          << "\n";
    }
    m << "{not json\n" << json{{"captions", json::array()}}.dump() << "\n";
    m.close();
    json s = run_json("index add --index " + index + " --model " + model + " --manifest " + dir.file("manifest.jsonl"));
    CHECK(s["added"] == 4);
    CHECK(s["texts_added"] == 2);  // two distinct captions
    REQUIRE(s["problems"].size() == 2);
    CHECK_THAT(s["problems"][0].get<std::string>(), Catch::Contains("manifest.jsonl line 5"));
    CHECK_THAT(s["problems"][1].get<std::string>(), Catch::Contains("line 6") && Catch::Contains("\"image\""));

    write_text(dir.file("sentences.txt"), "a red apple\na thing 0\na red apple\n\xff\xfe broken\nthe sea\n");
    s = run_json("index add-texts --index " + index + " " + dir.file("sentences.txt"));
    CHECK(s["added"] == 2);       // "a red apple", "the sea"
    CHECK(s["duplicates"] == 2);  // repeated in the file, and already a caption
    CHECK(s["failed"] == 1);
    const std::string errors = run_opsis("index errors --index " + index).output;
    CHECK_THAT(errors, Catch::Contains("text lines:") && Catch::Contains("sentences.txt:4: invalid UTF-8 at byte 0"));
    CHECK_THAT(errors, Catch::Contains("0 image file(s) and 1 text line(s) failed"));
    CHECK(stats(index)["images"]["failures"] == 0);  // a text line is not an image file
    CHECK(stats(index)["texts"]["failures"] == 1);
    CHECK(stats(index)["texts"]["items"] == 4);

    for (const std::string factory : {"HNSW8", "IVF2,Flat", "Flat"}) {
        const CommandResult r = run_opsis("index rebuild --index " + index + " --factory " + factory);
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        CHECK(stats(index)["images"]["factory"] == factory);
        CHECK(run_opsis("index verify --index " + index).exit_code == 0);
    }
}

TEST_CASE("commands that only read write nothing to the index", "[index]") {
    TempDir dir;
    const std::string model = init_tiny_model(dir, "m", 1), photos = dir.file("photos"), index = dir.file("ix");
    fs::create_directories(photos);
    for (int k = 0; k < 5; ++k)
        write_bytes(photos + "/" + std::to_string(k) + ".png", random_png(static_cast<std::uint32_t>(k)));
    REQUIRE(run_opsis("index add --index " + index + " --model " + model + " " + photos).exit_code == 0);
    auto listing = [&] {
        std::set<std::string> names;
        for (const auto& e : fs::recursive_directory_iterator(index))
            names.insert(e.path().string() + " " + std::to_string(e.is_regular_file() ? e.file_size() : 0));
        return names;
    };
    const std::set<std::string> before = listing();
    for (int i = 0; i < 3; ++i) {
        REQUIRE(run_opsis("index stats --index " + index).exit_code == 0);
        REQUIRE(run_opsis("index verify --index " + index).exit_code == 0);
        REQUIRE(run_opsis("index errors --index " + index).exit_code == 0);
        REQUIRE(run_opsis("search --index " + index + " -t photo").exit_code == 0);
    }
    // The CLI prints results in the API's shapes, the query language parsed the same way.
    const json found = run_json("search --index " + index + " -q \"photo - 2*thing\" -k 2");
    CHECK(found["texts"] == json::parse(R"([{"text": "photo", "weight": 1.0}, {"text": "thing", "weight": -2.0}])"));
    REQUIRE(found["hits"].size() == 2);
    for (const char* key : {"id", "collection", "added_at", "paths", "width", "height", "file_size", "captions",
                            "image_url", "thumbnail_url", "source", "tags", "score"})
        CHECK(found["hits"][0].contains(key));
    // Each of those 12 opens used to leave an empty WAL and a LOG.old of ~150 KB behind.
    CHECK(listing() == before);
    // A writer keeps one info log and the one before it, at most.
    for (int i = 0; i < 4; ++i) REQUIRE(run_opsis("index add --index " + index + " " + photos).exit_code == 0);
    int old_logs = 0;
    for (const auto& e : fs::directory_iterator(index + "/catalog"))
        old_logs += e.path().filename().string().rfind("LOG.old", 0) == 0;
    CHECK(old_logs <= 2);
}

TEST_CASE("SIGKILL at random moments: every file indexed exactly once, catalog and FAISS agree", "[index][crash]") {
    TempDir dir;
    const std::string model = init_tiny_model(dir, "model", 1), photos = dir.file("photos"), index = dir.file("ix");
    fs::create_directories(photos);
    constexpr int kFiles = 600;
    for (int k = 0; k < kFiles; ++k)
        write_bytes(photos + "/" + std::to_string(k) + ".png", random_png(static_cast<std::uint32_t>(k), 16));
    for (int k = 0; k < 20; ++k)
        fs::copy_file(photos + "/" + std::to_string(k) + ".png", photos + "/copy-" + std::to_string(k) + ".png");
    const std::string add = "index add --index " + index + " --model " + model + " --batch 2 --factory HNSW8 " + photos;

    // Kills land at random moments of a job. How long a job takes depends on the machine and its
    // load, so the span the delays are drawn from adapts: it shrinks when a run ends before its
    // kill and grows when a kill lands before anything was committed.
    double span = 0.6;  // seconds
    std::mt19937 rng(12345);
    int kills = 0, fresh_starts = 0, mid_job = 0;
    std::string progress;
    for (int attempt = 0; attempt < 80 && (kills < 12 || mid_job < 5); ++attempt) {
        const double delay = std::uniform_real_distribution<double>(0.1, 1.0)(rng) * span;
        const CommandResult r = run_opsis_with_prefix("timeout -s KILL " + std::to_string(delay) + " ", add);
        if (r.exit_code == 137) {
            ++kills;
        } else {
            INFO(r.output);
            REQUIRE(r.exit_code == 0);
            // It finished before the kill: start over so later kills land mid-job again.
            fs::remove_all(index);
            ++fresh_starts;
            span *= 0.8;
            continue;
        }
        if (!fs::exists(index + "/index.json")) {  // killed before the index was created
            span *= 1.5;
            continue;
        }
        const CommandResult v = run_opsis("index verify --index " + index);
        INFO("after kill " << kills << " (" << delay << " s):\n" << v.output);
        REQUIRE(v.exit_code == 0);
        const int items = stats(index)["images"]["items"].get<int>();
        if (items > 0 && items < kFiles) ++mid_job;
        if (items == 0) span *= 1.5;
        progress += " " + std::to_string(items);
    }
    REQUIRE(kills >= 10);
    REQUIRE(mid_job >= 5);  // the kills landed while files were being committed
    const json s = run_json(add);
    const json st = stats(index);
    CHECK(st["images"]["items"] == kFiles);       // each content once
    CHECK(st["images"]["paths"] == kFiles + 20);  // each file once
    CHECK(st["images"]["indexed"] == kFiles);
    CHECK(s["failed"] == 0);
    const CommandResult v = run_opsis("index verify --json --index " + index);
    INFO(v.output);
    REQUIRE(v.exit_code == 0);
    const json report = json::parse(v.output);
    CHECK(report["images"]["compared"] == kFiles);
    WARN("SIGKILL test: " << kills << " kills (" << mid_job << " mid-job; images after each:" << progress << "), "
                          << fresh_starts << " runs finished before their kill; delays drawn up to " << span
                          << " s in the end");
}

TEST_CASE("photos keep their date, camera and place from EXIF, and search filters and orders by them",
          "[index][photo]") {
    TempDir dir;
    const std::string model = init_tiny_model(dir, "model", 4);
    const std::string photos = dir.file("photos"), index = dir.file("ix");
    fs::create_directories(photos);
    auto photo = [&](const std::string& name, std::uint32_t seed, const std::string& taken, const std::string& make,
                     const std::string& camera_model, std::optional<std::pair<double, double>> at) {
        std::mt19937 rng(seed);
        RgbaImage img = pattern_image(24, 16, false);
        for (std::size_t i = 0; i < img.pixels.size(); i += 4) img.pixels[i] = static_cast<std::uint8_t>(rng());
        PhotoMetadata m;
        m.orientation = 6;
        m.taken_local = parse_exif_datetime(taken);
        m.taken_offset_minutes = 180;
        m.make = make;
        m.model = camera_model;
        if (at) {
            m.latitude = at->first;
            m.longitude = at->second;
        }
        write_bytes(photos + "/" + name, jpeg_with_exif(encode_jpeg(img), m));
    };
    photo("summer.jpg", 1, "2024:07:15 18:30:00", "Apple", "iPhone 12", std::make_pair(37.9715, 23.7257));
    photo("winter.jpg", 2, "2024:01:10 09:00:00", "Canon", "Canon EOS 5D", std::nullopt);
    photo("spring.jpg", 3, "2024:04:02 12:00:00", "Apple", "iPhone 12", std::make_pair(48.8566, 2.3522));
    write_bytes(photos + "/plain.png", random_png(9));  // no EXIF: the file's time, marked as such

    run_json("index add --index " + index + " --model " + model + " " + photos);
    auto search = [&](const std::string& flags) {
        const CommandResult r = run_opsis("search --index " + index + " -q photo -k 10 --no-collapse --json " + flags);
        INFO(flags << "\n" << r.output);
        REQUIRE(r.exit_code == 0);
        return json::parse(r.output)["hits"];
    };
    auto names = [](const json& hits) {
        std::vector<std::string> out;
        for (const json& h : hits) out.push_back(fs::path(h["paths"][0].get<std::string>()).filename().string());
        return out;
    };
    const json all = search("");
    REQUIRE(all.size() == 4);
    for (const json& h : all) {
        const std::string name = fs::path(h["paths"][0].get<std::string>()).filename().string();
        INFO(h.dump());
        if (name == "summer.jpg") {
            CHECK(h["taken"]["local"] == "2024-07-15T18:30:00");
            CHECK(h["taken"]["at"] == "2024-07-15T18:30:00+03:00");
            CHECK(h["taken"]["from"] == "exif");
            CHECK(h["camera"] == "Apple iPhone 12");
            CHECK(h["position"]["latitude"].get<double>() == Approx(37.9715).margin(1e-6));
            CHECK(h["width"] == 16);  // stored sideways (orientation 6): upright it is 16 wide
            CHECK(h["height"] == 24);
        }
        if (name == "plain.png") {
            CHECK(h["taken"]["from"] == "file");
            CHECK(h["camera"].is_null());
            CHECK(h["position"].is_null());
        }
    }
    auto sorted = [](std::vector<std::string> v) {
        std::sort(v.begin(), v.end());
        return v;
    };
    CHECK(sorted(names(search("--after 2024-03-01 --before 2024-08-01"))) ==
          std::vector<std::string>{"spring.jpg", "summer.jpg"});
    CHECK(names(search("--after 2024-07-15T18:30 --before 2024-07-15T18:31")) ==
          std::vector<std::string>{"summer.jpg"});
    CHECK(sorted(names(search("--camera 'Apple iPhone 12'"))) == std::vector<std::string>{"spring.jpg", "summer.jpg"});
    CHECK(names(search("--near 37.97,23.72,5")) == std::vector<std::string>{"summer.jpg"});
    CHECK(names(search("--before 2024-06-01 --sort date --camera 'Apple iPhone 12'")) ==
          std::vector<std::string>{"spring.jpg"});
    const std::vector<std::string> newest = names(search("--sort date --before 2025-01-01"));
    CHECK(newest == std::vector<std::string>{"summer.jpg", "spring.jpg", "winter.jpg"});
    const CommandResult bad = run_opsis("search --index " + index + " -q photo --after 2024-13-01");
    CHECK(bad.exit_code != 0);
    CHECK_THAT(bad.output, Catch::Contains("--after '2024-13-01'") && Catch::Contains("not a date"));
    const CommandResult verify = run_opsis("index verify --index " + index);
    CHECK(verify.exit_code == 0);

    // Items indexed by an Opsis that kept no dates get theirs when the folder is indexed again.
    {
        OpenIndex ix = open_index(index, "", false, true);
        storage::Catalog::Batch b(ix.store->catalog());
        ix.store->catalog().for_each_item(storage::Collection::images, [&](const storage::Item& item) {
            storage::Item old = item;
            old.taken.reset();
            old.camera.clear();
            old.position.reset();
            b.update_item(storage::Collection::images, old);
            return true;
        });
        ix.store->commit(b);
    }
    CHECK(search("--after 2000-01-01").empty());
    const json again = run_json("index add --index " + index + " " + photos);
    CHECK(again["unchanged"] == 4);
    CHECK(again["dated"] == 4);
    CHECK(sorted(names(search("--camera 'Apple iPhone 12'"))) == std::vector<std::string>{"spring.jpg", "summer.jpg"});
    CHECK(names(search("--sort date --before 2025-01-01")) ==
          std::vector<std::string>{"summer.jpg", "spring.jpg", "winter.jpg"});
    CHECK(run_json("index add --index " + index + " " + photos)["dated"] == 0);
    CHECK(run_opsis("index verify --index " + index).exit_code == 0);
}
