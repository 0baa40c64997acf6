// `opsis serve` over real HTTP (a Beast client against a server process the test starts):
// the API's answers, its errors for bad requests, limits, path escapes, slow clients, writes
// with and without the token, a background indexing job with searches alongside, metrics,
// and a graceful stop.
#include <boost/beast/core/detail/base64.hpp>
#include <future>
#include <thread>

#include "benchmarks/photo_formats.h"
#include "tests/server_fixture.h"

using namespace opsis;
using namespace opsis::test;
using opsis::bench::encode_animated_webp;
using opsis::bench::encode_heif;
using opsis::bench::encode_webp;
using opsis::bench::exif_tiff_block;
using namespace opsis::test::server;

TEST_CASE("the API answers searches, items, thumbnails, stats and metrics", "[server]") {
    Fixture f;
    Server server("--index " + f.index + " --max-body-bytes 2000000");
    Client c(server.port());
    REQUIRE(c.get("/healthz").status == 200);
    REQUIRE(c.get("/healthz").body == R"({"status":"ok"})");  // the same connection, kept alive

    Reply r = c.post("/api/search", R"({"text": "caption number 3", "k": 5, "collapse_duplicates": false})");
    REQUIRE(r.status == 200);
    json d = r.data();
    REQUIRE(d["hits"].size() == 5);
    REQUIRE(d["more"] == true);
    REQUIRE(d["next_offset"] == 5);
    for (std::size_t i = 1; i < 5; ++i) REQUIRE(d["hits"][i - 1]["score"] >= d["hits"][i]["score"]);
    REQUIRE(d["no_good_match"].is_null());  // an uncalibrated model judges nothing
    // /model: what the image tower sees, once `opsis model visualize` has drawn it.
    Reply atlas = c.get("/model");
    REQUIRE(atlas.status == 404);
    REQUIRE_THAT(atlas.body, Catch::Contains("opsis model visualize --index"));
    // A browser following the Model link gets a page saying so, with a way back; a program, JSON.
    const Reply page = c.get_page("/model");
    REQUIRE(page.status == 404);
    REQUIRE_THAT(page.content_type, Catch::Contains("text/html"));
    REQUIRE_THAT(page.body, Catch::Contains("opsis model visualize --index") && Catch::Contains("href=\"/\"") &&
                                Catch::Contains("404 Not Found"));
    REQUIRE_THAT(c.get_page("/no-such-page.html").content_type, Catch::Contains("text/html"));
    const Reply markup = c.get_page("/%3Cb%3Ex.html");  // the path is shown as text, not markup
    REQUIRE_THAT(markup.body, Catch::Contains("&lt;b&gt;x.html") && !Catch::Contains("<b>x"));
    REQUIRE(c.get_page("/api/nothing").content_type == "application/json");
    const CommandResult drawn = run_opsis("model visualize --index " + f.index + " --units 2");
    INFO(drawn.output);
    REQUIRE(drawn.exit_code == 0);
    REQUIRE(c.get("/model").status == 301);
    REQUIRE(c.get("/model").headers["location"] == "/model/");
    atlas = c.get("/model/");
    REQUIRE(atlas.status == 200);
    REQUIRE_THAT(atlas.content_type, Catch::Contains("text/html"));
    REQUIRE_THAT(atlas.body, Catch::Contains("What the model sees") && Catch::Contains("stage-1.png"));
    REQUIRE(c.get("/model/stage-1.png").content_type == "image/png");
    REQUIRE(c.get("/model/atlas.css").status == 200);
    REQUIRE(c.get("/model/../index.json").status == 400);
    REQUIRE(c.get("/model/nothing.png").status == 404);
    REQUIRE_FALSE(d["hits"][0].contains("relevance"));
    const std::int64_t first = d["hits"][0]["id"];
    const json page2 =
        c.post("/api/search", R"({"text": "caption number 3", "k": 5, "offset": 5, "collapse_duplicates": false})")
            .data();
    for (const json& h : page2["hits"])
        for (const json& g : d["hits"]) REQUIRE(h["id"] != g["id"]);

    // texts, filters, weighted and item queries
    d = c.post("/api/search", R"({"text": "caption number 3", "collection": "texts", "k": 3})").data();
    REQUIRE(d["hits"][0].contains("text"));
    d = c.post("/api/search",
               R"({"texts": [{"text": "a", "weight": 1}, {"text": "b", "weight": -0.5}], "filters": {"source": "odd"},)"
               R"( "k": 20, "collapse_duplicates": false})")
            .data();
    REQUIRE(d["hits"].size() == 6);
    for (const json& h : d["hits"]) REQUIRE(h["source"] == "odd");
    // Dated by their files (these pictures have no EXIF): all after 2001, none before it.
    d = c.post("/api/search", R"({"q": "a", "k": 50, "sort": "date", "filters": {"taken_after": "2001-01-01"},)"
                              R"( "collapse_duplicates": false})")
            .data();
    REQUIRE_FALSE(d["hits"].empty());
    for (const json& h : d["hits"]) REQUIRE(h["taken"]["from"] == "file");
    for (std::size_t i = 1; i < d["hits"].size(); ++i)
        REQUIRE(d["hits"][i - 1]["taken"]["local"].get<std::string>() >=
                d["hits"][i]["taken"]["local"].get<std::string>());
    REQUIRE(c.post("/api/search", R"({"q": "a", "filters": {"taken_before": "2001-01-01"}})").data()["hits"].empty());
    d = c.post("/api/search", json{{"item", first}, {"k", 3}, {"collapse_duplicates", false}}.dump()).data();
    for (const json& h : d["hits"]) REQUIRE(h["id"] != first);

    // What a person types is parsed once, on the server: the same search as the terms given
    // apart, and the answer says how it was understood.
    const json typed =
        c.post("/api/search", R"({"q": "caption number 3 - caption number 4", "k": 5, "collapse_duplicates": false})")
            .data();
    const json given = c.post("/api/search", R"({"texts": [{"text": "caption number 3", "weight": 1},
        {"text": "caption number 4", "weight": -0.5}], "k": 5, "collapse_duplicates": false})")
                           .data();
    // (The test model reads 10 tokens at once, so each text is read in two parts: said too.)
    REQUIRE(typed["texts"] ==
            json::parse(R"([{"text": "caption number 3", "weight": 1.0, "parts": 2, "part_tokens": 10},
                            {"text": "caption number 4", "weight": -0.5, "parts": 2, "part_tokens": 10}])"));
    REQUIRE(typed["hits"].size() == 5);
    for (std::size_t i = 0; i < 5; ++i) REQUIRE(typed["hits"][i]["id"] == given["hits"][i]["id"]);

    // image searches: base64 in JSON, a raw body, and a multipart upload
    const auto png = random_png(5);
    const std::string png_text(png.begin(), png.end());
    std::string b64(beast::detail::base64::encoded_size(png.size()), '\0');
    b64.resize(beast::detail::base64::encode(b64.data(), png.data(), png.size()));
    d = c.post("/api/search",
               json{{"image", "data:image/png;base64," + b64}, {"k", 1}, {"collapse_duplicates", false}}.dump())
            .data();
    REQUIRE(d["hits"][0]["paths"][0].get<std::string>().find("/5.png") != std::string::npos);
    r = c.send(http::verb::post, "/api/search/image?k=2&collapse_duplicates=false", png_text, "image/png");
    REQUIRE(r.status == 200);
    REQUIRE(r.data()["hits"].size() == 2);
    const std::string multipart =
        "--XyZ\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n3\r\n--XyZ\r\nContent-Disposition: form-data; "
        "name=\"collapse_duplicates\"\r\n\r\nfalse\r\n--XyZ\r\nContent-Disposition: form-data; "
        "name=\"image\"; filename=\"q.png\"\r\nContent-Type: image/png\r\n\r\n" +
        png_text + "\r\n--XyZ--\r\n";
    r = c.send(http::verb::post, "/api/search/image", multipart, "multipart/form-data; boundary=XyZ");
    REQUIRE(r.status == 200);
    REQUIRE(r.data()["hits"].size() == 3);

    // items, originals, thumbnails (made once, then served from the cache)
    r = c.get("/api/items/" + std::to_string(first));
    REQUIRE(r.status == 200);
    REQUIRE(r.data()["id"] == first);
    r = c.get("/api/items/" + std::to_string(first) + "/image");
    REQUIRE(r.status == 200);
    REQUIRE(r.content_type == "image/png");
    r = c.get("/api/items/" + std::to_string(first) + "/thumbnail");
    REQUIRE(r.status == 200);
    REQUIRE((r.content_type == "image/jpeg" || r.content_type == "image/png"));
    REQUIRE(fs::exists(f.index + "/thumbnails"));
    REQUIRE(c.get("/api/items/" + std::to_string(first) + "/thumbnail").body == r.body);

    // Where a text matches in a picture: a PNG of the model's view with the map over it, the
    // cosine beside it; drawn once, then from the cache.
    r = c.get("/api/items/" + std::to_string(first) + "/heatmap?text=caption%20number%203");
    REQUIRE(r.status == 200);
    REQUIRE(r.content_type == "image/png");
    const RgbaImage heat =
        decode_image(reinterpret_cast<const unsigned char*>(r.body.data()), r.body.size(), "heatmap", ImageLimits{});
    CHECK((heat.width == 384 && heat.height == 384));
    REQUIRE(r.headers.count("x-opsis-cosine"));
    const double cosine = std::stod(r.headers.at("x-opsis-cosine"));
    CHECK((cosine >= -1 && cosine <= 1));
    const Reply again = c.get("/api/items/" + std::to_string(first) + "/heatmap?text=caption+number+3");
    CHECK(again.body == r.body);
    CHECK(again.headers.at("x-opsis-cosine") == r.headers.at("x-opsis-cosine"));
    r = c.get("/api/items/" + std::to_string(first) + "/heatmap");
    CHECK(r.status == 400);
    CHECK_THAT(r.data()["error"]["message"].get<std::string>(), Catch::Contains("?text="));
    CHECK(c.get("/api/items/" + std::to_string(first) + "/heatmap?text=%FF").status == 400);
    CHECK(c.get("/api/items/999999/heatmap?text=cat").status == 404);
    CHECK(c.post("/api/items/" + std::to_string(first) + "/heatmap?text=cat", "{}").status == 405);

    d = c.get("/api/stats").data();
    REQUIRE(d["images"]["items"] == 12);
    REQUIRE_FALSE(d["model"].contains("path"));
    CHECK(d["model"]["precision"] == "fp32");
    CHECK(d["model"]["query_precision"] == "fp32");
    REQUIRE(c.get("/").content_type.rfind("text/html", 0) == 0);
    r = c.get("/metrics");
    REQUIRE(r.status == 200);
    REQUIRE_THAT(r.body,
                 Catch::Contains("opsis_http_requests_total{route=\"/api/search\",method=\"POST\",status=\"200\"}"));
    REQUIRE_THAT(r.body,
                 Catch::Contains("opsis_http_request_duration_seconds_bucket{route=\"/api/search\",le=\"+Inf\"}"));
    REQUIRE_THAT(r.body, Catch::Contains("opsis_index_images 12"));
    const auto [code, rest] = server.stop();
    REQUIRE(code == 0);
    REQUIRE_THAT(rest, Catch::Contains("stopped"));
}

TEST_CASE("searches arriving together are answered in one batch, each with its own answer", "[server]") {
    Fixture f;
    // One model worker: while it is busy, the other clients' searches queue up and are then
    // answered together.
    Server server("--index " + f.index + " --workers 1");
    auto body = [](int k) {
        return k == 12 ? std::string(R"({"item": 99999})")  // fails alone, with its own 404
                       : json{{"text", "caption number " + std::to_string(k)}, {"k", 4}, {"collapse_duplicates", false}}
                             .dump();
    };
    // An answer: the status and the hits' ids with their scores, or the error message.
    using Answer = std::pair<std::string, std::vector<std::pair<std::int64_t, double>>>;
    auto answer_of = [](const Reply& r) {
        Answer a{std::to_string(r.status), {}};
        if (r.status != 200) return a.first += " " + error_message(r), a;
        const json d = r.data();  // kept: a range over a temporary's member would dangle
        for (const json& h : d["hits"]) a.second.push_back({h["id"].get<std::int64_t>(), h["score"].get<double>()});
        return a;
    };
    auto same = [](const Answer& a, const Answer& b) {  // a batch's text tower rounds a little differently
        if (a.first != b.first || a.second.size() != b.second.size()) return false;
        for (std::size_t i = 0; i < a.second.size(); ++i)
            if (a.second[i].first != b.second[i].first || std::abs(a.second[i].second - b.second[i].second) > 1e-5)
                return false;
        return true;
    };
    std::vector<Answer> alone(13);
    {
        Client c(server.port());
        for (int k = 0; k < 13; ++k) {
            const Reply r = c.post("/api/search", body(k));
            alone[static_cast<std::size_t>(k)] = answer_of(r);
            if (r.status == 200) REQUIRE(r.data()["batch"] == 1);
        }
    }
    REQUIRE_THAT(alone[12].first, Catch::StartsWith("404") && Catch::Contains("item 'images/99999': not found"));
    constexpr int kRounds = 5;
    std::vector<std::future<std::vector<std::pair<int, Answer>>>> clients;
    for (int k = 0; k < 13; ++k)
        clients.push_back(std::async(std::launch::async, [&, k] {
            Client c(server.port());
            std::vector<std::pair<int, Answer>> answers;
            for (int round = 0; round < kRounds; ++round) {
                const Reply r = c.post("/api/search", body(k));
                answers.push_back({r.status == 200 ? r.data()["batch"].get<int>() : 0, answer_of(r)});
            }
            return answers;
        }));
    int largest_batch = 0;
    for (int k = 0; k < 13; ++k)
        for (const auto& [batch, answer] : clients[static_cast<std::size_t>(k)].get()) {
            INFO("query " << k << ": " << answer.first);
            REQUIRE(same(answer, alone[static_cast<std::size_t>(k)]));
            largest_batch = std::max(largest_batch, batch);
        }
    REQUIRE(largest_batch > 1);
    const std::string metrics = Client(server.port()).get("/metrics").body;
    REQUIRE_THAT(metrics, Catch::Contains("# TYPE opsis_search_batches_total counter"));
    // Every search went through a batch, the unknown item's too (the searcher is the one place
    // a query is checked; it failed alone there).
    REQUIRE_THAT(metrics,
                 Catch::Contains("opsis_search_batched_queries_total " + std::to_string(13 * (1 + kRounds)) + "\n"));
}

TEST_CASE("bad requests get clear 4xx answers and the server keeps serving", "[server]") {
    Fixture f;
    Server server("--index " + f.index + " --max-body-bytes 2000000 --read-timeout 1");
    Client c(server.port());
    const std::vector<std::tuple<std::string, int, std::string>> cases{
        {"{not json", 400, "malformed JSON"},
        {"[1, 2]", 400, "must be a JSON object"},
        {R"({"text": 5})", 400, "search.text must be a string"},
        {R"({"text": "x", "k": "ten"})", 400, "search.k must be a non-negative integer"},
        {R"({"text": "x", "k": 100000})", 400, "query k '100000': must be between 1 and 500"},
        {R"({"q": "cat + ", "k": 5})", 400, "ends with an operator"},
        {R"({"q": 5})", 400, "search.q must be a string"},
        {R"({"q": "cat", "effort": -1})", 400, "search.effort must be a non-negative integer"},
        {R"({"q": "cat", "effort": 100000})", 400, "query effort '100000': must be between 0"},
        {R"({"txt": "x"})", 400, "unknown field 'txt'"},
        {R"({"q": "cat", "filters": {"taken_after": "2024-02-30"}})", 400,
         "search.filters.taken_after '2024-02-30': not a date"},
        {R"({"q": "cat", "filters": {"taken_before": 2024}})", 400, "search.filters.taken_before must be a string"},
        {R"({"q": "cat", "filters": {"near": {"latitude": 100, "longitude": 0, "radius_km": 1}}})", 400,
         "latitude must be between -90 and 90"},
        {R"({"q": "cat", "filters": {"near": {"latitude": 10, "longitude": 0}}})", 400,
         "search.filters.near.radius_km must be a number"},
        {R"({"q": "cat", "filters": {"near": {"lat": 1}}})", 400, "unknown field 'lat'"},
        {R"({"q": "cat", "sort": "newest"})", 400, "sort 'newest': must be relevance or date"},
        {R"({"q": "cat", "sort": "date", "offset": 495, "k": 10})", 400, "ordered by date"},
        {R"({})", 400, "has no text, image, item or vector"},
        {R"({"text": "x", "collection": "videos"})", 400, "collection 'videos' is unknown"},
        {R"({"image": "!!!notbase64"})", 400, "not valid base64"},
        {R"({"image": "aGVsbG8gd29ybGQ="})", 400, "not a supported image format"},
        {R"({"item": 99999})", 404, "item 'images/99999': not found"},
        {"{\"text\": \"\xff\xfe\"}", 400, "invalid"},
        {R"({"texts": [{"text": "a", "weight": 1}, {"text": "a", "weight": -1}]})", 400, "cancel out"},
    };
    for (const auto& [body, status, message] : cases) {
        const Reply r = c.post("/api/search", body);
        INFO(body << " -> " << r.status << " " << r.body);
        REQUIRE(r.status == status);
        REQUIRE_THAT(error_message(r), Catch::Contains(message));
    }
    REQUIRE(c.send(http::verb::post, "/api/search/image", "GIF89a-corrupt", "image/gif").status == 400);
    REQUIRE(c.get("/api/items/abc").status == 400);
    REQUIRE(c.get("/api/items/424242").status == 404);
    REQUIRE(c.get("/api/nothing").status == 404);
    REQUIRE(c.get("/api/search").status == 405);
    REQUIRE(c.get("/no-such-file.css").status == 404);
    for (const char* escape :
         {"/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/static/../../../etc/passwd", "/..%2f..%2fetc/passwd"}) {
        Client raw(server.port());
        const Reply r = raw.get(escape);
        INFO(escape);
        REQUIRE(r.status == 400);
        REQUIRE_THAT(error_message(r), Catch::Contains("not allowed"));
    }
    // Writes need the token, which this server was not given.
    REQUIRE(c.post("/api/texts", R"({"text": "x"})").status == 403);

    // A body over the limit: 413, the connection closes, the server goes on.
    {
        Client big(server.port());
        const Reply r = big.post("/api/search", std::string(3'000'000, 'x'));
        REQUIRE(r.status == 413);
        REQUIRE_THAT(error_message(r), Catch::Contains("larger than 2000000 bytes"));
    }
    // A slow client that never finishes its header is cut off after the read timeout, while
    // another client is answered meanwhile.
    Client slow(server.port());
    asio::write(slow.socket(), asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n")));
    REQUIRE(Client(server.port()).get("/healthz").status == 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(1600));
    char byte;
    beast::error_code ec;
    slow.socket().read_some(asio::buffer(&byte, 1), ec);
    REQUIRE(ec == asio::error::eof);
    // Malformed HTTP gets a 400.
    Client garbage(server.port());
    asio::write(garbage.socket(), asio::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
    std::string answer(200, '\0');
    const std::size_t n = garbage.socket().read_some(asio::buffer(answer), ec);
    REQUIRE_THAT(answer.substr(0, n), Catch::StartsWith("HTTP/1.1 400"));
    REQUIRE(c.get("/healthz").status == 200);
}

TEST_CASE("writes need the token, and a background job indexes while searches are answered", "[server]") {
    Fixture f;
    Server server("--index " + f.index + " --token s3cret");
    Client c(server.port());
    REQUIRE(c.post("/api/texts", R"({"text": "a new sentence"})").status == 401);
    REQUIRE(c.post("/api/texts", R"({"text": "a new sentence"})", "wrong").status == 401);
    Reply r = c.post("/api/texts", R"({"texts": ["a new sentence", "another one"], "source": "api"})", "s3cret");
    REQUIRE(r.status == 201);
    REQUIRE(r.data()["items"].size() == 2);

    const auto png = random_png(77);
    r = c.send(http::verb::post, "/api/items?source=upload&tags=a,b", std::string(png.begin(), png.end()), "image/png",
               "s3cret");
    INFO(r.body);
    REQUIRE(r.status == 201);
    const std::int64_t id = r.data()["id"];
    REQUIRE(r.data()["tags"] == json({"a", "b"}));
    REQUIRE(c.send(http::verb::post, "/api/items", std::string(png.begin(), png.end()), "image/png", "s3cret").status ==
            200);  // same content
    REQUIRE(c.send(http::verb::post, "/api/items", "garbage", "image/png", "s3cret").status == 415);
    {  // a picture that does not decode is refused from its bytes, before anything is kept
        const std::size_t kept =
            static_cast<std::size_t>(std::distance(fs::directory_iterator(f.index + "/uploads"), {}));
        const std::string truncated(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2));
        const Reply bad = c.send(http::verb::post, "/api/items", truncated, "image/png", "s3cret");
        INFO(bad.body);
        CHECK(bad.status == 400);
        CHECK_THAT(error_message(bad), Catch::StartsWith("upload 'upload': ") && !Catch::Contains(f.index));
        CHECK(static_cast<std::size_t>(std::distance(fs::directory_iterator(f.index + "/uploads"), {})) == kept);
    }
    REQUIRE(c.get("/api/items/" + std::to_string(id) + "/image").status == 200);
    REQUIRE(c.get("/api/items/" + std::to_string(id) + "/thumbnail").status == 200);
    {  // A HEIC from a phone, with its EXIF: kept as .heic, its date read, shown to browsers as JPEG.
        PhotoMetadata exif;
        exif.taken_local = *parse_exif_datetime("2023:08:14 18:02:33");
        exif.make = "Apple";
        exif.model = "iPhone 15";
        const std::vector<unsigned char> heic =
            encode_heif(pattern_image(40, 30, false), ImageFormat::heif, exif_tiff_block(exif));
        const Reply added =
            c.send(http::verb::post, "/api/items", std::string(heic.begin(), heic.end()), "image/heic", "s3cret");
        INFO(added.body);
        REQUIRE(added.status == 201);
        CHECK(added.data()["taken"]["local"] == "2023-08-14T18:02:33");
        CHECK(added.data()["camera"] == "Apple iPhone 15");
        CHECK(added.data()["paths"][0].get<std::string>().ends_with(".heic"));
        const Reply shown = c.get("/api/items/" + std::to_string(added.data()["id"].get<std::int64_t>()) + "/image");
        REQUIRE(shown.status == 200);
        CHECK(shown.content_type == "image/jpeg");
        const RgbaImage back =
            decode_image(reinterpret_cast<const unsigned char*>(shown.body.data()), shown.body.size(), "shown", {});
        CHECK(back.width == 40);
        CHECK(back.height == 30);
        REQUIRE(c.send(http::verb::delete_, "/api/items/" + std::to_string(added.data()["id"].get<std::int64_t>()), "",
                       "", "s3cret")
                    .status == 200);
    }
    REQUIRE_FALSE(fs::is_empty(f.index + "/uploads"));
    REQUIRE(c.send(http::verb::delete_, "/api/items/" + std::to_string(id), "", "", "s3cret").status == 200);
    REQUIRE(c.get("/api/items/" + std::to_string(id)).status == 404);
    // Its kept upload and its thumbnail went with it.
    CHECK(fs::is_empty(f.index + "/uploads"));
    CHECK_FALSE(fs::exists(f.index + "/thumbnails/" + std::to_string(id) + ".png"));
    CHECK_FALSE(fs::exists(f.index + "/thumbnails/" + std::to_string(id) + ".jpg"));
    REQUIRE(c.send(http::verb::delete_, "/api/items/" + std::to_string(id), "", "", "s3cret").status == 404);

    // A job long enough (1,040 files) that the write below surely arrives while it runs.
    const std::string many = f.dir.file("many");
    fs::create_directories(many);
    for (int k = 0; k < 1000; ++k)
        write_bytes(many + "/" + std::to_string(k) + ".png", random_png(static_cast<std::uint32_t>(5000 + k)));
    r = c.post("/api/index/jobs", json{{"paths", {f.more, many}}}.dump(), "s3cret");
    REQUIRE(r.status == 202);
    // The job holds the write lock to its end: a write meanwhile is refused at once (it would
    // otherwise hold a worker and its client for the whole job).
    r = c.post("/api/texts", R"({"text": "during the job"})", "s3cret");
    REQUIRE(r.status == 409);
    REQUIRE_THAT(error_message(r), Catch::Contains("indexing job is running"));
    REQUIRE(c.send(http::verb::delete_, "/api/items/1", "", "", "s3cret").status == 409);
    int searches = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
    json status;
    do {
        REQUIRE(c.post("/api/search", R"({"text": "anything", "k": 3})").status == 200);
        ++searches;
        status = c.get("/api/index/jobs").data();
    } while (status["state"] == "running" && std::chrono::steady_clock::now() < deadline);
    REQUIRE(status["state"] == "done");
    REQUIRE(status["added"] == 1040);
    REQUIRE(searches > 1);
    REQUIRE(c.get("/api/stats").data()["images"]["items"] == 1052);
    REQUIRE(c.post("/api/texts", R"({"text": "after the job"})", "s3cret").status == 201);
    server.stop();
    REQUIRE(run_opsis("index verify --index " + f.index).exit_code == 0);
}

TEST_CASE("serve --watch keeps a folder indexed and shows the watcher in stats, metrics and its endpoint",
          "[server][watch]") {
    Fixture f;
    {
        Server plain("--index " + f.index);
        Client c(plain.port());
        const json off = c.get("/api/index/watch").data();
        CHECK(off["state"] == "off");
        CHECK_FALSE(c.get("/api/stats").data().contains("watch"));
    }
    // No token: the API stays read-only, but the watcher writes.
    Server server("--index " + f.index + " --watch " + f.more + " --settle-ms 50");
    Client c(server.port());
    auto images = [&] { return c.get("/api/stats").data()["images"]["items"].get<int>(); };
    auto until = [](const std::function<bool()>& ready) {
        for (int i = 0; i < 500 && !ready(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return ready();
    };
    REQUIRE(until([&] { return images() == 52; }));  // the rescan at start took the 40 in `more`
    write_bytes(f.more + "/new.png", random_png(5000));
    REQUIRE(until([&] { return images() == 53; }));
    // Searchable at once: the picture finds itself.
    const std::vector<unsigned char> png = random_png(5000);
    const Reply found = c.send(http::verb::post, "/api/search/image?k=1&collapse_duplicates=false",
                               std::string(png.begin(), png.end()), "image/png");
    REQUIRE(found.status == 200);
    CHECK_THAT(found.body, Catch::Contains("new.png"));
    fs::remove(f.more + "/0.png");
    REQUIRE(until([&] { return images() == 52; }));

    const json w = c.get("/api/index/watch").data();
    CHECK(w["state"] == "watching");
    CHECK(w["folders"] == json::array({f.more}));
    CHECK(w["rescans"] == 1);
    CHECK(w["indexed"] == 1);
    CHECK(w["removed"] == 1);
    CHECK(w["last_latency_seconds"].get<double>() > 0);
    CHECK(c.get("/api/stats").data()["watch"]["state"] == "watching");
    const std::string metrics = c.get("/metrics").body;
    CHECK_THAT(metrics, Catch::Contains("opsis_watch_indexed_total 1") && Catch::Contains("opsis_watch_folders 1") &&
                            Catch::Contains("opsis_watch_running 1"));
    CHECK(c.post("/api/texts", R"({"text": "hello"})").status == 403);
}
