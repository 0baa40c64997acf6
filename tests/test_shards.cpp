// `opsis serve --shards`: a router over shard servers answers as one server over the whole
// collection would (the same pictures, scores and pages, global ids that lead back to their
// items, "more like this" across shards), refuses writes, and, when a shard is down or slow,
// answers from the others and says so, within the shard deadline.
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/detail/base64.hpp>

#include <chrono>
#include <set>
#include <thread>

#include "core/file_io.h"
#include "tests/server_fixture.h"
#include "web/shard_router.h"

using namespace opsis;
using namespace opsis::test;
using namespace opsis::test::server;

namespace {

// The whole collection as one index, and the same pictures split between two shard indexes
// (even pictures in shard 0, odd in shard 1), all made with one tiny model.
struct ShardFixture {
    TempDir dir;
    std::string photos = dir.file("photos");
    ShardFixture() {
        init_tiny_model(dir, "model", 3);
        fs::create_directories(photos);
        std::ofstream all(dir.file("all.jsonl")), even(dir.file("even.jsonl")), odd(dir.file("odd.jsonl"));
        for (int k = 0; k < 16; ++k) {
            const std::string path = photos + "/" + std::to_string(k) + ".png";
            write_bytes(path, random_png(static_cast<std::uint32_t>(k)));
            const std::string line = json{{"image", path},
                                          {"captions", {"caption number " + std::to_string(k)}},
                                          {"source", k % 3 ? "many" : "few"}}
                                         .dump() +
                                     "\n";
            all << line;
            (k % 2 ? odd : even) << line;
        }
        for (auto* f : {&all, &even, &odd}) f->close();
        for (const char* name : {"all", "even", "odd"}) {
            const CommandResult r = run_opsis("index add --index " + dir.file(name) + " --model " + dir.file("model") +
                                              " --manifest " + dir.file(std::string(name) + ".jsonl"));
            INFO(r.output);
            REQUIRE(r.exit_code == 0);
        }
    }
    std::string index(const char* name) const { return dir.file(name); }
};

std::string url(const Server& s) { return "http://127.0.0.1:" + std::to_string(s.port()); }

// A search's hits as (first path, score), to compare servers whose ids differ.
std::vector<std::pair<std::string, float>> by_path(const json& answer) {
    std::vector<std::pair<std::string, float>> out;
    for (const json& h : answer["hits"])
        out.emplace_back(h.contains("paths") ? h["paths"][0].get<std::string>() : h["text"].get<std::string>(),
                         h["score"].get<float>());
    return out;
}

void require_same(const json& router, const json& whole) {
    const auto a = by_path(router), b = by_path(whole);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        INFO("hit " << i << ": " << a[i].first << " vs " << b[i].first);
        REQUIRE(a[i].second == Approx(b[i].second).margin(1e-5));
        // Equal scores may come in either order; distinct ones name the same picture.
        if (i + 1 < a.size() && std::abs(b[i].second - b[i + 1].second) > 1e-5 &&
            (i == 0 || std::abs(b[i].second - b[i - 1].second) > 1e-5))
            REQUIRE(a[i].first == b[i].first);
    }
}

// Accepts connections and never answers: a shard that hangs.
class SilentShard {
public:
    SilentShard() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
        accept();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~SilentShard() {
        io_.stop();
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }

private:
    void accept() {
        acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
            if (!ec) held_.push_back(std::move(s));
            accept();
        });
    }
    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::vector<tcp::socket> held_;
    std::thread thread_;
};

}  // namespace

TEST_CASE("global ids name a shard and its local id, and back", "[shards]") {
    for (std::size_t n : {1u, 2u, 3u, 7u})
        for (std::int64_t local : {0, 1, 2, 41, 1000003})
            for (std::size_t s = 0; s < n; ++s) {
                const std::int64_t g = web::global_id(local, s, n);
                const web::ShardId back = web::split_id(g, n);
                REQUIRE(back.shard == s);
                REQUIRE(back.local == local);
            }
}

TEST_CASE("a router over two shards answers as one server over the whole collection", "[shards][server]") {
    ShardFixture f;
    Server whole("--index " + f.index("all"));
    Server even("--index " + f.index("even"));
    Server odd("--index " + f.index("odd"));
    Server router("--shards " + url(even) + "," + url(odd));
    Client w(whole.port()), r(router.port());

    // Searches: the same pictures with the same scores, page by page.
    for (const std::string q :
         {R"({"text": "caption number 3", "k": 16, "collapse_duplicates": false})",
          R"({"text": "caption number 3", "k": 4, "offset": 5, "collapse_duplicates": false})",
          R"({"q": "caption + number - 7", "k": 6, "collapse_duplicates": false})",
          R"({"text": "caption", "k": 10, "filters": {"source": "few"}, "collapse_duplicates": false})",
          R"({"text": "caption number 12", "collection": "texts", "k": 5, "collapse_duplicates": false})"}) {
        INFO(q);
        const Reply a = r.post("/api/search", q), b = w.post("/api/search", q);
        REQUIRE(a.status == 200);
        REQUIRE(b.status == 200);
        require_same(a.data(), b.data());
        REQUIRE(a.data()["more"] == b.data()["more"]);
        REQUIRE(a.data()["shards"]["answered"] == 2);
        REQUIRE(a.data()["shards"]["of"] == 2);
    }
    // Near-duplicates are collapsed within each shard (a shard knows only its own vectors):
    // pictures this alike on two shards both come.
    const json collapsed = r.post("/api/search", R"({"text": "caption number 3", "k": 16})").data();
    REQUIRE(collapsed["hits"].size() >=
            w.post("/api/search", R"({"text": "caption number 3", "k": 16})").data()["hits"].size());
    json filtered = r.post("/api/search", R"({"text": "caption", "k": 16, "filters": {"source": "few"}})").data();
    for (const json& h : filtered["hits"]) REQUIRE(h["source"] == "few");

    // Ordered by date: the same order of the same pictures.
    const std::string dated = R"({"q": "caption", "k": 8, "sort": "date", "collapse_duplicates": false})";
    const json by_date = r.post("/api/search", dated).data();
    REQUIRE(by_date["hits"].size() == 8);
    for (std::size_t i = 1; i < by_date["hits"].size(); ++i)
        REQUIRE(by_date["hits"][i - 1]["taken"]["local"].get<std::string>() >=
                by_date["hits"][i]["taken"]["local"].get<std::string>());

    // Global ids lead back to the item, its picture and its vector, on its own shard.
    const json all =
        r.post("/api/search", R"({"text": "caption number 3", "k": 16, "collapse_duplicates": false})").data();
    std::set<std::int64_t> ids;
    for (const json& h : all["hits"]) {
        const std::int64_t id = h["id"];
        REQUIRE(ids.insert(id).second);  // no two items share an id
        const Reply item = r.get("/api/items/" + std::to_string(id));
        REQUIRE(item.status == 200);
        REQUIRE(item.data()["id"] == id);
        REQUIRE(item.data()["paths"] == h["paths"]);
        REQUIRE(h["image_url"] == "/api/items/" + std::to_string(id) + "/image");
        const Reply picture = r.get(h["image_url"].get<std::string>());
        REQUIRE(picture.status == 200);
        REQUIRE(picture.content_type == "image/png");
        const auto file = read_file(h["paths"][0].get<std::string>(), 1 << 20);
        REQUIRE(picture.body == std::string(file.begin(), file.end()));
        REQUIRE(r.get(h["thumbnail_url"].get<std::string>()).status == 200);
    }
    REQUIRE(r.get("/api/items/999999").status == 404);

    // More like this, from an item of either shard: its vector searches the other shard, and
    // the item itself is left out, as on one server.
    for (std::size_t i : {0u, 1u, 2u}) {
        const json hit = all["hits"][i];
        const json whole_hits =
            w.post("/api/search", json{{"text", "caption number 3"}, {"k", 16}, {"collapse_duplicates", false}}.dump())
                .data()["hits"];
        std::int64_t whole_id = -1;
        for (const json& h : whole_hits)
            if (h["paths"] == hit["paths"]) whole_id = h["id"];
        REQUIRE(whole_id >= 0);
        const json a =
            r.post("/api/search", json{{"item", hit["id"]}, {"k", 6}, {"collapse_duplicates", false}}.dump()).data();
        const json b =
            w.post("/api/search", json{{"item", whole_id}, {"k", 6}, {"collapse_duplicates", false}}.dump()).data();
        require_same(a, b);
        for (const json& h : a["hits"]) REQUIRE(h["paths"] != hit["paths"]);
        const json v = r.get("/api/items/" + std::to_string(hit["id"].get<std::int64_t>()) + "/vector").data();
        REQUIRE(v["id"] == hit["id"]);
        // The same picture, encoded in another batch on the other server: equal to float rounding
        // (which sgemm kernel a batch's size picks differs between CPUs).
        const json whole_vector = w.get("/api/items/" + std::to_string(whole_id) + "/vector").data()["vector"];
        REQUIRE(v["vector"].size() == whole_vector.size());
        for (std::size_t d = 0; d < whole_vector.size(); ++d)
            REQUIRE(v["vector"][d].get<double>() == Approx(whole_vector[d].get<double>()).margin(1e-5));
    }
    REQUIRE(r.post("/api/search", R"({"item": 999999})").status == 404);
    // A bad field next to an item is the client's 400, and the router lives on.
    const Reply bad_item = r.post("/api/search", json{{"item", all["hits"][0]["id"]}, {"collection", 1}}.dump());
    REQUIRE(bad_item.status == 400);
    REQUIRE(r.post("/api/search", R"({"text": "x", "collapse_duplicates": "yes"})").status == 400);
    REQUIRE(r.get("/healthz").status == 200);

    // A picture as the query.
    const auto png = read_file(f.photos + "/5.png", 1 << 20);
    const std::string body(png.begin(), png.end());
    const Reply a = r.send(http::verb::post, "/api/search/image?k=5&collapse_duplicates=false", body, "image/png");
    REQUIRE(a.status == 200);
    require_same(a.data(),
                 w.send(http::verb::post, "/api/search/image?k=5&collapse_duplicates=false", body, "image/png").data());

    // Stats add up; the client's mistakes are its own; writes go to the shards, not here.
    const json s = r.get("/api/stats").data();
    REQUIRE(s["images"]["items"] == 16);
    REQUIRE(s["texts"]["items"] == w.get("/api/stats").data()["texts"]["items"]);
    REQUIRE(s["shards"]["answered"] == 2);
    REQUIRE(s["model"]["sha256"] == w.get("/api/stats").data()["model"]["sha256"]);
    Reply bad = r.post("/api/search", R"({"text": "x", "k": 5, "colour": "red"})");
    REQUIRE(bad.status == 400);
    REQUIRE_THAT(error_message(bad), Catch::Contains("colour"));
    bad = r.post("/api/search", R"({"text": "x", "k": 400, "offset": 200})");
    REQUIRE(bad.status == 400);
    REQUIRE_THAT(error_message(bad), Catch::Contains("--max-depth"));
    REQUIRE(r.post("/api/texts", R"({"texts": ["a"]})").status == 403);
    REQUIRE(r.send(http::verb::delete_, "/api/items/2").status == 403);
    REQUIRE(r.get("/").status == 200);  // the web UI
    // A browser following the Model link through the router gets a page that says why, with a
    // way back; a program, JSON.
    const Reply model_page = r.get_page("/model");
    REQUIRE(model_page.status == 404);
    REQUIRE_THAT(model_page.content_type, Catch::Contains("text/html"));
    REQUIRE_THAT(model_page.body, Catch::Contains("open a shard&#39;s /model") && Catch::Contains("href=\"/\""));
    REQUIRE(r.get("/model").content_type == "application/json");
    REQUIRE(r.get_page("/api/nothing").content_type == "application/json");
    REQUIRE_THAT(r.get("/metrics").body, Catch::Contains("opsis_shard_requests_total"));
}

TEST_CASE("a shard that is down or hangs leaves a partial answer that says so, in time", "[shards][server]") {
    ShardFixture f;
    auto even = std::make_unique<Server>("--index " + f.index("even"));
    Server odd("--index " + f.index("odd"));
    SilentShard silent;
    // A deadline a loaded machine's live shards still meet; the answer may wait for it once.
    Server router("--shards " + url(*even) + "," + url(odd) + "," + silent.url() + " --shard-timeout-ms 1000");
    Client r(router.port());
    const std::string q = R"({"text": "caption number 3", "k": 16, "collapse_duplicates": false})";

    auto t0 = std::chrono::steady_clock::now();
    json d = r.post("/api/search", q).data();
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE(waited < 2.5);  // the hung shard's deadline, not a hang
    REQUIRE(d["shards"]["answered"] == 2);
    REQUIRE(d["shards"]["of"] == 3);
    REQUIRE(d["shards"]["failed"].size() == 1);
    REQUIRE(d["shards"]["failed"][0]["url"] == silent.url());
    REQUIRE_THAT(d["shards"]["failed"][0]["error"].get<std::string>(), Catch::Contains("timed out"));
    REQUIRE(d["hits"].size() == 16);

    // The even shard stops: its pictures are missing, the rest still comes.
    even->stop();
    d = r.post("/api/search", q).data();
    REQUIRE(d["shards"]["answered"] == 1);
    REQUIRE(d["hits"].size() == 8);
    for (const json& h : d["hits"]) REQUIRE(web::split_id(h["id"].get<std::int64_t>(), 3).shard == 1);
    // Its items: the gateway's error, naming the shard.
    const Reply gone = r.get("/api/items/" + std::to_string(web::global_id(1, 0, 3)));
    REQUIRE(gone.status == 502);
    REQUIRE_THAT(error_message(gone), Catch::Contains("did not answer"));
    REQUIRE(r.get("/api/items/" + std::to_string(web::global_id(1, 2, 3))).status == 504);
    const json s = r.get("/api/stats").data();
    REQUIRE(s["shards"]["answered"] == 1);
    REQUIRE(s["images"]["items"] == 8);
    REQUIRE_THAT(r.get("/metrics").body, Catch::Contains("opsis_partial_searches_total 2"));

    // Classifying needs one shard's model: a dead one is passed over for the next.
    const auto png = read_file(f.photos + "/1.png", 1 << 20);
    namespace b64 = boost::beast::detail::base64;
    std::string image(b64::encoded_size(png.size()), '\0');
    image.resize(b64::encode(image.data(), png.data(), png.size()));
    for (int i = 0; i < 3; ++i) {  // each of the three shards comes first once
        const Reply labels = r.post("/api/classify", json{{"image", image}, {"labels", {"cat", "dog"}}}.dump());
        INFO(labels.body);
        REQUIRE(labels.status == 200);
        REQUIRE(labels.data()["labels"].size() == 2);
    }

    // None answers: an error, not an empty page.
    odd.stop();
    const Reply none = r.post("/api/search", q);
    REQUIRE(none.status == 503);
    REQUIRE_THAT(error_message(none), Catch::Contains("no shard answered"));
}

TEST_CASE("a shard's replicas take turns, and one that is down or hangs is passed over", "[shards][server]") {
    ShardFixture f;
    // Shard 0 on two servers over the same index (copies, as replicas are), shard 1 on one.
    auto even_a = std::make_unique<Server>("--index " + f.index("even"));
    Server even_b("--index " + f.index("even")), odd("--index " + f.index("odd"));
    const std::string shards = url(*even_a) + "|" + url(even_b) + "," + url(odd);
    // Nothing here hangs (a dead replica refuses at once): the default deadline, so that a slow
    // answer on a loaded machine is not taken for a hang.
    Server router("--shards " + shell_quote(shards));
    Server whole("--index " + f.index("all"));
    Client r(router.port()), w(whole.port());
    const std::string q = R"({"text": "caption number 3", "k": 16, "collapse_duplicates": false})";
    const json expected = w.post("/api/search", q).data();
    auto full = [&](const json& d) {
        REQUIRE(d["shards"]["answered"] == 2);
        REQUIRE(d["shards"]["of"] == 2);
        require_same(d, expected);
    };
    for (int i = 0; i < 4; ++i) full(r.post("/api/search", q).data());
    REQUIRE(r.get("/api/stats").data()["images"]["items"] == 16);
    // They took turns: each replica answered searches.
    for (Server* replica : {even_a.get(), &even_b}) {
        Client c(replica->port());
        REQUIRE_THAT(c.get("/metrics").body, Catch::Contains("route=\"/api/search\""));
    }

    // One replica dies: every search still comes whole, from the other (the first to meet the
    // dead one fails over within its deadline).
    even_a->stop();
    even_a.reset();
    for (int i = 0; i < 4; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        full(r.post("/api/search", q).data());
        REQUIRE(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 1.0);
    }
    const Reply item = r.get("/api/items/" + std::to_string(web::global_id(1, 0, 2)));
    REQUIRE(item.status == 200);

    // A replica that hangs costs one deadline at most once: the answer it spoiled says so, and
    // the searches after it go to the other replica.
    SilentShard silent;
    Server with_hung("--shards " + shell_quote(silent.url() + "|" + url(even_b) + "," + url(odd)) +
                     " --shard-timeout-ms 1000");
    Client h(with_hung.port());
    int partial = 0;
    for (int i = 0; i < 4; ++i) {
        const json d = h.post("/api/search", q).data();
        if (d["shards"]["answered"] == 2) {
            require_same(d, expected);
            continue;
        }
        ++partial;
        REQUIRE_THAT(d["shards"]["failed"][0]["error"].get<std::string>(),
                     Catch::Contains("timed out") && Catch::Contains(silent.url()));
    }
    REQUIRE(partial <= 1);
    // Both replicas of a shard down: its part is missing, and the error names both.
    even_b.stop();
    const json d = h.post("/api/search", q).data();
    REQUIRE(d["shards"]["answered"] == 1);
    REQUIRE_THAT(d["shards"]["failed"][0]["error"].get<std::string>(),
                 Catch::Contains(url(even_b)) && Catch::Contains(silent.url()));
    // Replicas must serve the same model as the rest.
    init_tiny_model(f.dir, "other-model", 4);
    REQUIRE(run_opsis("index add --index " + f.dir.file("other") + " --model " + f.dir.file("other-model") +
                      " --manifest " + f.dir.file("even.jsonl"))
                .exit_code == 0);
    Server other("--index " + f.dir.file("other"));
    require_opsis_refuses("serve --port 0 --shards " + shell_quote(url(odd) + "|" + url(other)),
                          "scores of different models do not compare");
    // A ',' or '|' too many names the shard, not the next argument.
    require_opsis_refuses("serve --shards " + shell_quote(url(odd) + ",") + " --port 0", "is empty");
    require_opsis_refuses("serve --port 0 --shards " + shell_quote(url(odd) + "||" + url(odd)), "an empty replica");
}

TEST_CASE("a router refuses shards that serve different models", "[shards]") {
    ShardFixture f;
    init_tiny_model(f.dir, "other-model", 4);
    const CommandResult made = run_opsis("index add --index " + f.dir.file("other") + " --model " +
                                         f.dir.file("other-model") + " --manifest " + f.dir.file("odd.jsonl"));
    REQUIRE(made.exit_code == 0);
    Server even("--index " + f.index("even"));
    Server other("--index " + f.dir.file("other"));
    const CommandResult r = run_opsis("serve --port 0 --shards " + url(even) + "," + url(other));
    REQUIRE(r.exit_code != 0);
    REQUIRE_THAT(r.output, Catch::Contains("scores of different models do not compare"));
    const CommandResult bad = run_opsis("serve --port 0 --shards http://127.0.0.1:1/x");
    REQUIRE(bad.exit_code != 0);
    REQUIRE_THAT(bad.output, Catch::Contains("without a path"));
}

TEST_CASE("a search may start from vectors in the model's space", "[shards][server]") {
    ShardFixture f;
    Server whole("--index " + f.index("all"));
    Client w(whole.port());
    const json hit = w.post("/api/search", R"({"text": "caption number 3", "k": 1})").data()["hits"][0];
    const json v = w.get("/api/items/" + std::to_string(hit["id"].get<std::int64_t>()) + "/vector").data();
    REQUIRE(v["dim"] == v["vector"].size());
    // The item's own vector finds it first, with cosine 1.
    const json d = w.post("/api/search", json{{"vector", v["vector"]}, {"k", 1}}.dump()).data();
    REQUIRE(d["hits"][0]["id"] == hit["id"]);
    REQUIRE(d["hits"][0]["score"].get<float>() == Approx(1.0f).margin(1e-4));
    Reply bad = w.post("/api/search", R"({"vector": [1, 2, 3]})");
    REQUIRE(bad.status == 400);
    REQUIRE_THAT(error_message(bad), Catch::Contains("has 3 numbers"));
    json zero = json::array();
    for (std::size_t i = 0; i < v["dim"].get<std::size_t>(); ++i) zero.push_back(0);
    bad = w.post("/api/search", json{{"vectors", {{{"vector", zero}, {"weight", 1}}}}}.dump());
    REQUIRE(bad.status == 400);
    REQUIRE_THAT(error_message(bad), Catch::Contains("is zero"));
    REQUIRE(w.post("/api/search", R"({"vector": "nope"})").status == 400);
    REQUIRE_THAT(error_message(w.post("/api/search", R"({"vector": [1e39, 1]})")), Catch::Contains("beyond a float"));
    REQUIRE(w.get("/api/items/999999/vector").status == 404);
}

TEST_CASE("index add --shard i/N makes disjoint parts that hold every file", "[shards]") {
    ShardFixture f;
    std::set<std::string> seen;
    std::size_t total = 0;
    for (int part = 0; part < 3; ++part) {
        const std::string ix = f.dir.file("part" + std::to_string(part));
        const CommandResult r = run_opsis("index add --json --index " + ix + " --model " + f.dir.file("model") +
                                          " --shard " + std::to_string(part) + "/3 " + f.photos);
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        const json summary = json::parse(r.output.substr(r.output.find('{')));
        REQUIRE(summary["files"].get<std::size_t>() + summary["other_shards"].get<std::size_t>() == 16);
        REQUIRE(summary["files"].get<std::size_t>() > 0);  // 16 paths spread over 3 parts
        total += summary["files"].get<std::size_t>();
        Server s("--index " + ix);
        Client c(s.port());
        const json found = c.post("/api/search", R"({"text": "x", "k": 16, "collapse_duplicates": false})").data();
        for (const json& h : found["hits"])
            REQUIRE(seen.insert(h["paths"][0].get<std::string>()).second);  // in no other part
        // Again: the same part, nothing new (the hash is stable).
        const CommandResult again =
            run_opsis("index add --json --index " + ix + " --shard " + std::to_string(part) + "/3 " + f.photos);
        REQUIRE(json::parse(again.output.substr(again.output.find('{')))["added"] == 0);
    }
    REQUIRE(total == 16);
    REQUIRE(seen.size() == 16);
    for (const char* bad : {"3/3", "1", "a/2", "-1/2", "0/0", "1/2/3"})
        require_opsis_refuses("index add --index " + f.dir.file("bad") + " --model " + f.dir.file("model") +
                                  " --shard " + bad + " " + f.photos,
                              "must be i/N");
}

TEST_CASE("index merge makes one index of shards, as if indexed at once", "[shards]") {
    ShardFixture f;
    // A third shard holding pictures the others have too (the same files under other paths):
    // they join the items the earlier shards made.
    const std::string copies = f.dir.file("copies");
    fs::create_directories(copies);
    for (int k : {2, 3})
        fs::copy_file(f.photos + "/" + std::to_string(k) + ".png", copies + "/" + std::to_string(k) + ".png");
    REQUIRE(run_opsis("index add --index " + f.dir.file("copies-ix") + " --model " + f.dir.file("model") + " " + copies)
                .exit_code == 0);
    const std::string merged = f.dir.file("merged");
    const CommandResult r = run_opsis("index merge --json --index " + merged + " " + f.index("even") + " " +
                                      f.index("odd") + " " + f.dir.file("copies-ix"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const json s = json::parse(r.output.substr(r.output.find('{')));
    REQUIRE(s["images"] == 16);
    REQUIRE(s["duplicates"] == 2);
    REQUIRE(run_opsis("index verify --index " + merged).exit_code == 0);

    // Searches over the merged index answer as over the index made at once.
    Server whole("--index " + f.index("all"));
    Server one("--index " + merged);
    Client w(whole.port()), m(one.port());
    for (const std::string q :
         {R"({"text": "caption number 3", "k": 16, "collapse_duplicates": false})",
          R"({"text": "caption", "k": 8, "filters": {"source": "few"}, "collapse_duplicates": false})",
          R"({"text": "caption number 12", "collection": "texts", "k": 5, "collapse_duplicates": false})"}) {
        INFO(q);
        require_same(m.post("/api/search", q).data(), w.post("/api/search", q).data());
    }
    const json stats = m.get("/api/stats").data();
    REQUIRE(stats["images"]["paths"] == 18);  // the two copies' paths joined their pictures
    REQUIRE(stats["texts"]["items"] == w.get("/api/stats").data()["texts"]["items"]);

    // Refused: an existing index as the target, a folder that is no index, another model.
    REQUIRE_THAT(run_opsis("index merge --index " + merged + " " + f.index("even")).output,
                 Catch::Contains("is an index already"));
    init_tiny_model(f.dir, "other-model", 4);
    REQUIRE(
        run_opsis("index add --index " + f.dir.file("other") + " --model " + f.dir.file("other-model") + " " + copies)
            .exit_code == 0);
    const CommandResult other =
        run_opsis("index merge --index " + f.dir.file("m2") + " " + f.index("even") + " " + f.dir.file("other"));
    REQUIRE(other.exit_code != 0);
    REQUIRE_THAT(other.output, Catch::Contains("vectors of different models cannot be merged"));
    REQUIRE_FALSE(fs::exists(f.dir.file("m2") + "/index.json"));
}

TEST_CASE("index plan writes array and merge scripts that index every part and merge them", "[shards]") {
    ShardFixture f;
    // A folder name a shell would split or expand, to show the scripts quote what they pass.
    const std::string odd_name = f.dir.file("my pictures $HOME");
    fs::create_directories(odd_name);
    for (int k = 0; k < 16; ++k)
        fs::copy_file(f.photos + "/" + std::to_string(k) + ".png", odd_name + "/" + std::to_string(k) + ".png");
    const std::string plan = f.dir.file("plan");
    const CommandResult r = run_opsis("index plan --out " + plan + " --shards 3 --model " + f.dir.file("model") +
                                      " --sbatch=--partition=batch " + shell_quote(odd_name));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE_THAT(r.output, Catch::Contains(plan + "/index.sbatch") && Catch::Contains(plan + "/submit"));
    REQUIRE_FALSE(fs::exists(plan + "/train.sbatch"));  // an exact index trains nothing
    const auto text = [](const std::string& path) {
        const auto bytes = read_file(path, 1 << 20);
        return std::string(bytes.begin(), bytes.end());
    };
    const std::string index_script = text(plan + "/index.sbatch");
    REQUIRE_THAT(index_script, Catch::Contains("#SBATCH --array=0-2") && Catch::Contains("#SBATCH --requeue") &&
                                   Catch::Contains("#SBATCH --partition=batch") && Catch::Contains("--shard $i/3"));
    // The tasks as Slurm would run them (SLURM_ARRAY_TASK_ID), then the merge.
    std::size_t files = 0;
    for (int i = 0; i < 3; ++i) {
        const int rc = std::system(
            ("SLURM_ARRAY_TASK_ID=" + std::to_string(i) + " bash " + plan + "/index.sbatch 2>/dev/null").c_str());
        REQUIRE(rc == 0);
        const json summary = json::parse(text(plan + "/logs/summary-" + std::to_string(i) + ".json"));
        REQUIRE(summary["failed"] == 0);
        files += summary["files"].get<std::size_t>();
    }
    REQUIRE(files == 16);
    REQUIRE(std::system(("bash " + plan + "/merge.sbatch > " + plan + "/merge.json 2>/dev/null").c_str()) == 0);
    REQUIRE(json::parse(text(plan + "/merge.json"))["images"] == 16);
    REQUIRE(run_opsis("index verify --index " + plan + "/merged").exit_code == 0);
    // Without inputs, or with no shards: refused, naming why.
    REQUIRE_THAT(run_opsis("index plan --out " + plan + " --shards 2").output,
                 Catch::Contains("give folders or files"));
    REQUIRE(run_opsis("index plan --out " + plan + " --shards 0 " + f.photos).exit_code != 0);
    require_opsis_refuses("index plan --out " + shell_quote(f.dir.file("a plan")) + " --shards 2 " + f.photos,
                          "may not hold spaces");
}

TEST_CASE("shards started from one shared training merge by joining their lists", "[shards]") {
    ShardFixture f;
    const std::string many = f.dir.file("many");  // IVF4 trains on 156 vectors at least
    fs::create_directories(many);
    for (int k = 0; k < 400; ++k)
        write_bytes(many + "/" + std::to_string(k) + ".png", random_png(static_cast<std::uint32_t>(5000 + k)));
    const auto text = [](const std::string& path) {
        const auto bytes = read_file(path, 1 << 20);
        return std::string(bytes.begin(), bytes.end());
    };
    // Planned: a train job indexes one slice in two and trains on it; the tasks start from it.
    const std::string plan = f.dir.file("plan");
    const CommandResult r = run_opsis("index plan --out " + plan + " --shards 3 --model " + f.dir.file("model") +
                                      " --factory IVF4,SQ8 --train-slices 2 " + many);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE_THAT(r.output, Catch::Contains(plan + "/train.sbatch") && Catch::Contains(plan + "/submit"));
    REQUIRE_THAT(text(plan + "/index.sbatch"), Catch::Contains("--trained " + plan + "/images.trained"));
    REQUIRE_THAT(text(plan + "/submit"),
                 Catch::Contains("--dependency=afterok:$train") && Catch::Contains("--dependency=afterok:$index"));
    REQUIRE(std::system(("bash " + plan + "/train.sbatch > " + plan + "/train.out 2>&1").c_str()) == 0);
    REQUIRE_THAT(text(plan + "/train.out"), Catch::Contains("trained IVF4,SQ8 on"));
    for (int i = 0; i < 3; ++i)
        REQUIRE(std::system(("SLURM_ARRAY_TASK_ID=" + std::to_string(i) + " bash " + plan + "/index.sbatch 2>/dev/null")
                                .c_str()) == 0);
    REQUIRE(std::system(("bash " + plan + "/merge.sbatch > " + plan + "/merge.json 2>/dev/null").c_str()) == 0);
    const json merged = json::parse(text(plan + "/merge.json"));
    REQUIRE(merged["images"] == 400);
    REQUIRE(merged["vectors"]["images"] == "lists joined");
    const CommandResult verify = run_opsis("index verify --index " + plan + "/merged");
    INFO(verify.output);
    REQUIRE(verify.exit_code == 0);
    REQUIRE_THAT(verify.output, Catch::Contains("400 compared (max difference 0)"));

    // The merged index answers as one made at once from the same training.
    const std::string trained = plan + "/images.trained";
    REQUIRE(run_opsis("index add --index " + f.dir.file("at-once") + " --model " + f.dir.file("model") + " --trained " +
                      trained + " " + many)
                .exit_code == 0);
    // Not with another model: its vectors trained it.
    require_opsis_refuses("index add --index " + f.dir.file("z") + " --trained " + trained + " " + many,
                          "trained on another model's vectors");
    {
        Server once("--index " + f.dir.file("at-once")), joined("--index " + plan + "/merged");
        Client o(once.port()), j(joined.port());
        for (const std::string q : {R"({"text": "a picture", "k": 20, "collapse_duplicates": false})",
                                    R"({"text": "something else", "k": 10, "effort": 1, "rescore": 0})"}) {
            INFO(q);
            require_same(j.post("/api/search", q).data(), o.post("/api/search", q).data());
        }
    }
    // A fourth shard from the same training holding copies of two pictures under other paths:
    // the copies join the first shard's items, their codes are left out of the joined lists.
    const std::string copies = f.dir.file("copies");
    fs::create_directories(copies);
    for (int k : {5, 6})
        fs::copy_file(many + "/" + std::to_string(k) + ".png", copies + "/" + std::to_string(k) + ".png");
    REQUIRE(run_opsis("index add --index " + f.dir.file("copies-ix") + " --model " + f.dir.file("model") +
                      " --trained " + trained + " " + copies)
                .exit_code == 0);
    const CommandResult with_copies =
        run_opsis("index merge --json --index " + f.dir.file("with-copies") + " " + plan + "/shard-0 " + plan +
                  "/shard-1 " + plan + "/shard-2 " + f.dir.file("copies-ix"));
    INFO(with_copies.output);
    const json wc = json::parse(with_copies.output.substr(with_copies.output.find('{')));
    REQUIRE(wc["images"] == 400);
    REQUIRE(wc["duplicates"] == 2);
    REQUIRE(wc["vectors"]["images"] == "lists joined");
    REQUIRE_THAT(run_opsis("index verify --index " + f.dir.file("with-copies")).output,
                 Catch::Contains("400 compared (max difference 0)") && Catch::Contains("verify: OK"));

    // Asked to, a merge trains anew; shards trained apart are merged that way too.
    const CommandResult retrained = run_opsis("index merge --json --retrain --index " + f.dir.file("retrained") + " " +
                                              plan + "/shard-0 " + plan + "/shard-1 " + plan + "/shard-2");
    INFO(retrained.output);
    REQUIRE_THAT(retrained.output, Catch::Contains("trained on the merged vectors"));
    REQUIRE(run_opsis("index add --index " + f.dir.file("apart") + " --model " + f.dir.file("model") +
                      " --factory IVF4,SQ8 --shard 0/2 " + many)
                .exit_code == 0);
    const CommandResult mixed =
        run_opsis("index merge --json --index " + f.dir.file("mixed") + " " + plan + "/shard-0 " + f.dir.file("apart"));
    REQUIRE_THAT(mixed.output, Catch::Contains("trained on the merged vectors"));

    // Refused, naming why: a factory beside a training, a shard begun otherwise, a filled index.
    require_opsis_refuses("index add --index " + f.dir.file("x") + " --trained " + trained + " --factory Flat " + many,
                          "give one of them");
    require_opsis_refuses("index add --index " + f.dir.file("apart") + " --trained " + trained + " " + many,
                          "without a shared training");
    require_opsis_refuses("index add --index " + f.dir.file("y") + " --model " + f.dir.file("model") + " --trained " +
                              plan + "/merged/images.vectors " + many,
                          "a shared training is empty");
    require_opsis_refuses("index train --index " + f.index("even") + " --factory IVF4,SQ8 --out " + f.dir.file("t"),
                          "trains on at least 156");
}

TEST_CASE("the same file on two shards comes once when collapsing", "[shards][server]") {
    ShardFixture f;
    // Picture 3 again, under another path, in the odd shard's index as well.
    const std::string copy = f.dir.file("copy-of-3.png");
    fs::copy_file(f.photos + "/3.png", copy);
    REQUIRE(run_opsis("index add --index " + f.index("even") + " " + copy).exit_code == 0);
    Server even("--index " + f.index("even"));
    Server odd("--index " + f.index("odd"));
    Server router("--shards " + url(even) + "," + url(odd));
    Client r(router.port());
    auto count_of_3 = [&](bool collapse) {
        const json d = r.post("/api/search",
                              json{{"text", "caption number 3"}, {"k", 16}, {"collapse_duplicates", collapse}}.dump())
                           .data();
        int n = 0;
        for (const json& h : d["hits"]) {
            const std::string path = h["paths"][0];
            n += path == copy || path.ends_with("/3.png");
        }
        return n;
    };
    REQUIRE(count_of_3(false) == 2);  // both shards' items
    REQUIRE(count_of_3(true) == 1);
    // More like the copy: the picture itself is left out, on the other shard too.
    const json all =
        r.post("/api/search", R"({"text": "caption number 3", "k": 17, "collapse_duplicates": false})").data();
    std::int64_t copy_id = -1;
    for (const json& h : all["hits"])
        if (h["paths"][0] == copy) copy_id = h["id"];
    REQUIRE(copy_id >= 0);
    const json like =
        r.post("/api/search", json{{"item", copy_id}, {"k", 16}, {"collapse_duplicates", false}}.dump()).data();
    REQUIRE(like["hits"].size() == 15);  // the 17 items but the copy and the original
    for (const json& h : like["hits"]) {
        const std::string path = h["paths"][0];
        REQUIRE_FALSE((path == copy || path.ends_with("/3.png")));
    }
}

TEST_CASE("through a router a kind of thing is searched alone, page after page", "[shards][server]") {
    ShardFixture f;
    // The model now names a kind, "caption", with three examples (written after indexing: a
    // server reads the lexicon when it starts).
    write_file_atomic(f.dir.file("model/lexicon.tsv"),
                      "# opsis-lexicon 1\nknown\tcaption\t16\nknown\tnumber\t16\nstop\ten\ta\n"
                      "examples\tcaption\tcaption number 3\tcaption number 12\tcaption number 7\n");
    Server whole("--index " + f.index("all"));
    Server even("--index " + f.index("even"));
    Server odd("--index " + f.index("odd"));
    Server router("--shards " + url(even) + "," + url(odd));
    Client w(whole.port()), r(router.port());
    const std::string kind = R"({"text": "a caption", "k": 6, "collapse_duplicates": false)";
    // One server interleaves the examples' matches; told not to, it searches the kind alone.
    const json one = w.post("/api/search", kind + "}").data();
    REQUIRE(one["texts"][0]["examples"].size() == 3);
    const json alone = w.post("/api/search", kind + R"(, "examples": false})").data();
    CHECK_FALSE(alone["texts"][0].contains("examples"));
    for (const json& h : alone["hits"]) CHECK_FALSE(h.contains("via"));
    CHECK(w.post("/api/search", kind + R"(, "examples": "yes"})").status == 400);
    CHECK(r.post("/api/search", kind + R"(, "examples": 1})").status == 400);
    // The router's shards search it alone (their interleavings would not merge page by page):
    // the same pages as one server searching it alone, and no picture twice.
    std::set<std::string> seen;
    for (std::size_t offset = 0; offset < 16; offset += 6) {
        const std::string page = kind + R"(, "offset": )" + std::to_string(offset) + "}";
        const json routed = r.post("/api/search", page).data();
        CHECK_FALSE(routed["texts"][0].contains("examples"));
        require_same(routed, w.post("/api/search", kind + R"(, "examples": false, "offset": )" +
                                                       std::to_string(offset) + "}")
                                 .data());
        for (const json& h : routed["hits"]) CHECK(seen.insert(h["paths"][0].get<std::string>()).second);
    }
    CHECK(seen.size() == 16);
}
