// A folder that stays indexed: the watcher picking up files created, changed, moved, deleted
// and renamed into place, folders moved in and out, a rescan catching what changed while
// nothing watched, and `opsis index watch` killed with SIGKILL in the middle of a burst.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "index_folder/open_index.h"
#include "indexer/folder_watcher.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Polls until `ready` holds, for at most 10 s (a watched change takes well under a second).
bool eventually(const std::function<bool()>& ready) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
        if (ready()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return ready();
}

struct Watched {
    TempDir dir;
    std::string photos = dir.file("photos");
    std::string model = init_tiny_model(dir, "model", 1);
    OpenIndex ix;
    std::unique_ptr<indexer::FolderWatcher> watcher;

    Watched() {
        fs::create_directories(photos);
        ix = open_index(dir.file("index"), model, true, true);
    }
    void start(std::chrono::milliseconds settle = std::chrono::milliseconds(150)) {
        indexer::WatchOptions o;
        o.settle = settle;
        watcher = std::make_unique<indexer::FolderWatcher>(*ix.store, *ix.model, std::vector<std::string>{photos}, o);
        watcher->start();
        REQUIRE(eventually([&] { return watcher->status().state == "watching"; }));
    }
    const storage::Catalog& catalog() const { return ix.store->catalog(); }
    std::optional<std::int64_t> id_of(const std::string& name) const {
        const auto e = catalog().find_path(photos + "/" + name);
        return e ? std::optional<std::int64_t>(e->id) : std::nullopt;
    }
    bool indexed(const std::string& name) const { return id_of(name).has_value(); }
};

}  // namespace

TEST_CASE("the watcher indexes pictures created, changed, moved, deleted and renamed into place", "[watch]") {
    Watched w;
    write_bytes(w.photos + "/before.png", random_png(1));
    w.start();
    CHECK(w.indexed("before.png"));  // the rescan at start
    CHECK(w.watcher->status().rescans == 1);

    // Created.
    write_bytes(w.photos + "/a.png", random_png(2));
    REQUIRE(eventually([&] { return w.indexed("a.png"); }));
    const std::int64_t first = *w.id_of("a.png");

    // Changed: embedded again, under a new id.
    write_bytes(w.photos + "/a.png", random_png(3));
    REQUIRE(eventually([&] { return w.id_of("a.png") && *w.id_of("a.png") != first; }));
    const std::int64_t changed = *w.id_of("a.png");
    CHECK_FALSE(w.catalog().item(storage::Collection::images, first).has_value());

    // Moved within the folder: the picture keeps its id (not embedded again).
    fs::rename(w.photos + "/a.png", w.photos + "/b.png");
    REQUIRE(eventually([&] { return w.indexed("b.png") && !w.indexed("a.png"); }));
    CHECK(*w.id_of("b.png") == changed);

    // Deleted.
    fs::remove(w.photos + "/before.png");
    REQUIRE(eventually([&] { return !w.indexed("before.png"); }));

    // Renamed into place, as editors save: the temp file never reaches the index.
    write_bytes(w.photos + "/c.png.part", random_png(4));
    write_bytes(w.photos + "/tmp-save.png", random_png(5));
    fs::rename(w.photos + "/c.png.part", w.photos + "/c.png");
    fs::rename(w.photos + "/tmp-save.png", w.photos + "/d.png");
    REQUIRE(eventually([&] { return w.indexed("c.png") && w.indexed("d.png"); }));
    CHECK_FALSE(w.indexed("c.png.part"));
    CHECK_FALSE(w.indexed("tmp-save.png"));

    // Written slowly: nothing is indexed until the writer closes the file, then all of it.
    {
        const std::vector<unsigned char> bytes = random_png(6);
        std::FILE* f = std::fopen((w.photos + "/slow.png").c_str(), "wb");
        REQUIRE(f);
        std::fwrite(bytes.data(), 1, bytes.size() / 2, f);
        std::fflush(f);
        std::this_thread::sleep_for(std::chrono::milliseconds(600));  // well past the settle time
        CHECK_FALSE(w.indexed("slow.png"));
        std::fwrite(bytes.data() + bytes.size() / 2, 1, bytes.size() - bytes.size() / 2, f);
        std::fclose(f);
    }
    REQUIRE(eventually([&] { return w.indexed("slow.png"); }));
    CHECK_FALSE(w.catalog().failure(w.photos + "/slow.png").has_value());

    // Junk and other extensions are left alone, as a bulk job leaves them.
    write_bytes(w.photos + "/.hidden.png", random_png(7));
    write_text(w.photos + "/notes.txt", "not a picture");

    // A new subfolder, and a folder of pictures moved in from outside and away again.
    fs::create_directories(w.photos + "/sub");
    write_bytes(w.photos + "/sub/e.png", random_png(8));
    fs::create_directories(w.dir.file("outside/album"));
    write_bytes(w.dir.file("outside/album/f.png"), random_png(9));
    write_bytes(w.dir.file("outside/album/g.png"), random_png(10));
    fs::rename(w.dir.file("outside/album"), w.photos + "/album");
    REQUIRE(eventually([&] { return w.indexed("sub/e.png") && w.indexed("album/f.png") && w.indexed("album/g.png"); }));
    fs::rename(w.photos + "/album", w.dir.file("outside/album-back"));
    REQUIRE(eventually([&] { return !w.indexed("album/f.png") && !w.indexed("album/g.png"); }));

    // A broken picture is a recorded failure, cleared when it goes.
    write_text(w.photos + "/broken.png", "not really a PNG");
    REQUIRE(eventually([&] { return w.catalog().failure(w.photos + "/broken.png").has_value(); }));
    fs::remove(w.photos + "/broken.png");
    REQUIRE(eventually([&] { return !w.catalog().failure(w.photos + "/broken.png").has_value(); }));

    w.watcher->stop();
    const indexer::WatchStatus s = w.watcher->status();
    CHECK(s.state == "stopped");
    CHECK(s.rounds >= 8);
    CHECK(s.removed >= 4);
    CHECK(s.failed == 1);
    CHECK(s.max_latency_seconds > 0);
    CHECK_FALSE(w.indexed(".hidden.png"));
    CHECK_FALSE(w.indexed("notes.txt"));
    // b, c, d, slow, sub/e
    CHECK(w.catalog().path_count() == 5);
    CHECK(w.catalog().item_count(storage::Collection::images) == 5);
    CHECK(w.ix.store->verify().ok());
}

TEST_CASE("a watcher started again catches what changed while nothing watched", "[watch]") {
    Watched w;
    for (int i = 0; i < 4; ++i) write_bytes(w.photos + "/" + std::to_string(i) + ".png", random_png(20 + i));
    w.start();
    CHECK(w.catalog().path_count() == 4);
    w.watcher->stop();
    const std::int64_t kept = *w.id_of("0.png");

    fs::remove(w.photos + "/1.png");
    write_bytes(w.photos + "/2.png", random_png(40));  // changed
    write_bytes(w.photos + "/new.png", random_png(41));
    w.start();
    CHECK_FALSE(w.indexed("1.png"));
    CHECK(w.indexed("new.png"));
    CHECK(*w.id_of("0.png") == kept);  // unchanged: neither read nor embedded again
    const storage::Item two = *w.catalog().item(storage::Collection::images, *w.id_of("2.png"));
    w.watcher->stop();
    CHECK(w.catalog().path_count() == 4);
    CHECK(w.catalog().item_count(storage::Collection::images) == 4);
    CHECK(two.paths == std::vector<std::string>{w.photos + "/2.png"});
    CHECK(w.ix.store->verify().ok());
}

TEST_CASE("the watcher refuses what it cannot watch, naming it", "[watch]") {
    Watched w;
    indexer::FolderWatcher missing(*w.ix.store, *w.ix.model, {w.dir.file("nowhere")}, {});
    REQUIRE_THROWS_WITH(missing.start(), Catch::Contains("nowhere") && Catch::Contains("is not a folder"));
    const CommandResult r = run_opsis("index watch --index " + w.dir.file("index") + " " + w.dir.file("nowhere"));
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Catch::Contains("nowhere"));
}

TEST_CASE("opsis index watch killed during a burst loses nothing: verify passes and a rescan completes it",
          "[watch][crash]") {
    TempDir dir;
    const std::string model = init_tiny_model(dir, "model", 1), photos = dir.file("photos"), index = dir.file("index");
    fs::create_directories(photos);
    REQUIRE(run_opsis("index add --index " + index + " --model " + model + " " + photos).exit_code == 0);
    constexpr int kFiles = 400;
    std::thread writer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(700));  // the watcher is up
        for (int i = 0; i < kFiles; ++i) {
            const std::string name = photos + "/burst-" + std::to_string(i) + ".png";
            write_bytes(name + ".part", random_png(1000 + i));
            fs::rename(name + ".part", name);
            if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    });
    // Killed as it reports its first round of the burst's files (not at a fixed time: on a loaded
    // machine the start's rescan alone can take seconds), while the writer is still writing.
    const CommandResult killed = run_opsis_killed_on("index watch --json --settle-ms 50 --index " + index + " " + photos,
                                                     "\"round\":\"changes\"", 60);
    writer.join();
    INFO(killed.output);
    CHECK(killed.exit_code == 137);
    CHECK_THAT(killed.output, Catch::Contains("\"round\":\"changes\""));  // it was indexing when killed

    const CommandResult verify = run_opsis("index verify --index " + index);
    INFO(verify.output);
    CHECK(verify.exit_code == 0);
    // What the kill interrupted is picked up by the next start's rescan (index add is the same job).
    const CommandResult again = run_opsis("index add --json --index " + index + " " + photos);
    REQUIRE(again.exit_code == 0);
    const json s = json::parse(again.output.substr(again.output.rfind("\n{") + 1));
    CHECK(s["files"] == kFiles);
    CHECK(s["added"].get<int>() + s["unchanged"].get<int>() == kFiles);
    CHECK(s["unchanged"].get<int>() > 0);
    const CommandResult stats = run_opsis("index stats --json --index " + index);
    CHECK(json::parse(stats.output)["images"]["items"] == kFiles);
}
