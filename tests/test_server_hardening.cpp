// What a hostile client does to `opsis serve` (issue 11): each case here failed before its fix.
#include <fcntl.h>
#include <sys/stat.h>

#include <boost/asio/read_until.hpp>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "core/file_io.h"
#include "indexer/inputs.h"
#include "index_folder/open_index.h"
#include "indexer/index_job.h"
#include "web/api.h"
#include "tests/server_fixture.h"

using namespace opsis;
using namespace opsis::test;
using namespace opsis::test::server;
using opsis::indexer::kMaxInputLineBytes;

namespace {

// Sends `bytes` on a fresh connection and returns everything the server writes back until it
// closes the connection or `wait` passes.
std::string raw_exchange(unsigned short port, const std::string& bytes,
                         std::chrono::milliseconds wait = std::chrono::milliseconds(3000)) {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    asio::write(socket, asio::buffer(bytes));
    socket.shutdown(tcp::socket::shutdown_send);
    std::string answer;
    const auto until = std::chrono::steady_clock::now() + wait;
    socket.non_blocking(true);
    char buf[4096];
    while (std::chrono::steady_clock::now() < until) {
        beast::error_code ec;
        const std::size_t n = socket.read_some(asio::buffer(buf), ec);
        if (ec == asio::error::would_block) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        answer.append(buf, n);
        if (ec) break;
    }
    return answer;
}

}  // namespace

TEST_CASE("metrics count unknown methods as 'other' and every scrape stays parseable", "[server][hardening]") {
    Fixture f;
    Server server("--index " + f.index);
    // Distinct junk methods, one longer than any fixed line buffer, and one with a quote.
    for (int i = 0; i < 40; ++i) {
        const std::string method = "JUNK" + std::to_string(i) + (i == 0 ? std::string(900, 'X') : "");
        const std::string answer =
            raw_exchange(server.port(), method + " /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
        REQUIRE_THAT(answer, Catch::StartsWith("HTTP/1.1 405"));
    }
    Client c(server.port());
    REQUIRE(c.get("/healthz").status == 200);
    const std::string metrics = c.get("/metrics").body;
    REQUIRE_THAT(metrics, !Catch::Contains("JUNK"));
    REQUIRE_THAT(metrics,
                 Catch::Contains(R"(opsis_http_requests_total{route="/healthz",method="other",status="405"} 40)"));
    REQUIRE_THAT(metrics,
                 Catch::Contains(R"(opsis_http_requests_total{route="/healthz",method="GET",status="200"} 1)"));
    // Every line is a comment or `name{labels} value` / `name value`.
    const std::regex sample(R"(^[a-z_]+(\{([a-z]+="([^"\\]|\\.)*",?)+\})? [-+0-9.eE]+(Inf)?$)");
    std::istringstream lines(metrics);
    for (std::string line; std::getline(lines, line);) {
        if (line.starts_with("# ")) continue;
        INFO(line);
        REQUIRE(std::regex_match(line, sample));
    }
}

TEST_CASE("a body framed in a way the server does not parse is refused, not read as the next request",
          "[server][hardening]") {
    Fixture f;
    Server server("--index " + f.index);
    const std::string smuggled = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for (const std::string te : {"identity", "xchunked", "chunked, gzip", "gzip"}) {
        INFO(te);
        const std::string answer =
            raw_exchange(server.port(), "POST /api/search HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: " + te +
                                            "\r\n\r\n" + smuggled);
        REQUIRE_THAT(answer, Catch::StartsWith("HTTP/1.1 501"));
        REQUIRE_THAT(answer, Catch::Contains("Transfer-Encoding '" + te + "' is not supported"));
        REQUIRE(answer.find("HTTP/1.1", 8) == std::string::npos);  // one answer, then the connection closed
    }
    const std::string both = raw_exchange(server.port(),
                                          "POST /api/search HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                                          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
                                              smuggled);
    REQUIRE_THAT(both, Catch::StartsWith("HTTP/1.1 400"));
    REQUIRE(both.find("HTTP/1.1", 8) == std::string::npos);
    // Chunked bodies still work.
    const std::string chunked = raw_exchange(server.port(),
                                             "POST /api/search HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                                             "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
                                             "10\r\n{\"text\": \"cap\", \r\n9\r\n\"k\": 2}  \r\n0\r\n\r\n");
    REQUIRE_THAT(chunked, Catch::StartsWith("HTTP/1.1 200"));
}

TEST_CASE("HEAD answers GET's header without a body, wherever GET is allowed", "[server][hardening]") {
    Fixture f;
    Server server("--index " + f.index);
    for (const std::string target : {"/api/stats", "/healthz", "/metrics", "/", "/app.js"}) {
        INFO(target);
        const std::string answer =
            raw_exchange(server.port(), "HEAD " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        REQUIRE_THAT(answer, Catch::StartsWith("HTTP/1.1 200"));
        const std::size_t end = answer.find("\r\n\r\n");
        REQUIRE(end != std::string::npos);
        REQUIRE(answer.size() == end + 4);  // nothing after the header
        std::smatch m;
        const std::string header = answer.substr(0, end);
        REQUIRE(std::regex_search(header, m, std::regex("Content-Length: ([0-9]+)")));
        REQUIRE(std::stoul(m[1].str()) > 0);  // the length a GET's body has
    }
    REQUIRE_THAT(
        raw_exchange(server.port(), "HEAD /api/search HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        Catch::StartsWith("HTTP/1.1 405"));
}

TEST_CASE("Expect: 100-continue is answered before the body is sent", "[server][hardening]") {
    Fixture f;
    Server server("--index " + f.index);
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
    const std::string body = R"({"text": "caption", "k": 1})";
    asio::write(
        socket,
        asio::buffer(
            "POST /api/search HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            "Content-Length: " +
            std::to_string(body.size()) + "\r\n\r\n"));
    std::string got;
    asio::read_until(socket, asio::dynamic_buffer(got), "\r\n\r\n");  // blocks until the interim answer comes
    REQUIRE_THAT(got, Catch::StartsWith("HTTP/1.1 100 Continue"));
    got.erase(0, got.find("\r\n\r\n") + 4);
    asio::write(socket, asio::buffer(body));
    beast::flat_buffer buffer;
    buffer.commit(asio::buffer_copy(buffer.prepare(got.size()), asio::buffer(got)));
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    REQUIRE(res.result_int() == 200);
    REQUIRE_THAT(
        raw_exchange(server.port(),
                     "POST /api/search HTTP/1.1\r\nHost: localhost\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\n{}"),
        Catch::StartsWith("HTTP/1.1 417"));
}

TEST_CASE("Host: HTTP/1.1 needs one, and only this server's names are answered", "[server][hardening]") {
    Fixture f;
    {
        Server server("--index " + f.index);
        auto status_for = [&](const std::string& head) {
            return raw_exchange(server.port(), "GET /api/stats HTTP/1.1\r\n" + head + "Connection: close\r\n\r\n")
                .substr(0, 12);
        };
        REQUIRE(status_for("") == "HTTP/1.1 400");
        REQUIRE(status_for("Host: localhost\r\nHost: localhost\r\n") == "HTTP/1.1 400");
        REQUIRE(status_for("Host: rebound.example\r\n") == "HTTP/1.1 421");
        REQUIRE(status_for("Host: 127.0.0.2:80\r\n") == "HTTP/1.1 421");
        for (const std::string ok : {"localhost", "LocalHost:8080", "127.0.0.1:1", "[::1]:80", "localhost."})
            REQUIRE(status_for("Host: " + ok + "\r\n") == "HTTP/1.1 200");
        REQUIRE_THAT(raw_exchange(server.port(), "GET /healthz HTTP/1.0\r\n\r\n"), Catch::StartsWith("HTTP/1.0 200"));
    }
    // An explicit list replaces the default; --any-host answers every name.
    {
        Server named("--index " + f.index + " --allowed-host search.example");
        REQUIRE_THAT(raw_exchange(named.port(), "GET /healthz HTTP/1.1\r\nHost: search.example:443\r\n\r\n"),
                     Catch::StartsWith("HTTP/1.1 200"));
        REQUIRE_THAT(raw_exchange(named.port(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"),
                     Catch::StartsWith("HTTP/1.1 421"));
    }
    Server any("--index " + f.index + " --any-host");
    REQUIRE_THAT(raw_exchange(any.port(), "GET /healthz HTTP/1.1\r\nHost: rebound.example\r\n\r\n"),
                 Catch::StartsWith("HTTP/1.1 200"));
}

TEST_CASE("scheme and media type names compare without case, every answer says nosniff and the UI may not be framed",
          "[server][hardening]") {
    Fixture f;
    Server server("--index " + f.index + " --token s3cret");
    Client c(server.port());
    for (const std::string scheme : {"Bearer", "bearer", "BEARER"}) {
        Reply r = c.send(http::verb::post, "/api/texts", R"({"text": "a sentence"})", "application/json", "");
        REQUIRE(r.status == 401);
        http::request<http::string_body> req{http::verb::post, "/api/texts", 11};
        req.set(http::field::host, "localhost");
        req.set(http::field::authorization, scheme + " s3cret");
        req.set(http::field::content_type, "application/json");
        req.body() = json{{"text", "a sentence sent with " + scheme}}.dump();
        req.prepare_payload();
        http::write(c.socket(), req);
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(c.socket(), buffer, res);
        INFO(scheme << ": " << res.body());
        REQUIRE(res.result_int() == 201);
    }
    const auto png = random_png(5);
    // filename before name, and names in other cases
    const std::string multipart =
        "--XyZ\r\ncontent-disposition: form-data; filename=\"q.png\"; NAME=\"image\"\r\nContent-Type: "
        "image/png\r\n\r\n" +
        std::string(png.begin(), png.end()) + "\r\n--XyZ--\r\n";
    const Reply r = c.send(http::verb::post, "/api/search/image?k=2&collapse_duplicates=false", multipart,
                           "Multipart/Form-Data; Boundary=\"XyZ\"");
    INFO(r.body);
    REQUIRE(r.status == 200);
    REQUIRE(r.data()["hits"].size() == 2);

    for (const std::string target : {"/healthz", "/api/nothing", "/", "/api/stats"}) {
        const std::string answer =
            raw_exchange(server.port(), "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        INFO(target);
        REQUIRE_THAT(answer, Catch::Contains("X-Content-Type-Options: nosniff"));
    }
    const std::string page =
        raw_exchange(server.port(), "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    REQUIRE_THAT(page, Catch::Contains("frame-ancestors 'none'"));
    REQUIRE_THAT(page, Catch::Contains("X-Frame-Options: DENY"));
}

namespace {

json wait_for_job(Client& c) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    json status;
    do {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        status = c.get("/api/index/jobs").data();
    } while ((status["state"] == "running" || status["state"] == "cancelling") &&
             std::chrono::steady_clock::now() < deadline);
    return status;
}

}  // namespace

TEST_CASE("a bad job request changes nothing and a running job can be cancelled", "[server][hardening]") {
    Fixture f;
    Server server("--index " + f.index + " --token s3cret");
    Client c(server.port());
    Reply r = c.post("/api/index/jobs", json{{"paths", {f.more}}, {"prune", "yes"}}.dump(), "s3cret");
    REQUIRE(r.status == 400);
    REQUIRE_THAT(error_message(r), Catch::Contains("job.prune must be true or false"));
    REQUIRE(c.get("/api/index/jobs").data()["state"] == "idle");
    REQUIRE(c.post("/api/texts", R"({"text": "a write after a bad job request"})", "s3cret").status == 201);
    REQUIRE(c.send(http::verb::delete_, "/api/index/jobs/current", "", "", "s3cret").status == 404);

    const std::string many = f.dir.file("many");
    fs::create_directories(many);
    for (int k = 0; k < 1500; ++k)
        write_bytes(many + "/" + std::to_string(k) + ".png", random_png(static_cast<std::uint32_t>(9000 + k)));
    REQUIRE(c.post("/api/index/jobs", json{{"paths", {many}}}.dump(), "s3cret").status == 202);
    REQUIRE(c.send(http::verb::delete_, "/api/index/jobs/current", "", "", "").status == 401);
    r = c.send(http::verb::delete_, "/api/index/jobs/current", "", "", "s3cret");
    REQUIRE(r.status == 202);
    const json status = wait_for_job(c);
    INFO(status.dump());
    REQUIRE(status["state"] == "cancelled");
    REQUIRE(status["added"].get<int>() < 1500);
    // Writes work again, and a new job finishes what the cancelled one left.
    REQUIRE(c.post("/api/texts", R"({"text": "a write after a cancelled job"})", "s3cret").status == 201);
    REQUIRE(c.post("/api/index/jobs", json{{"paths", {many}}}.dump(), "s3cret").status == 202);
    const json again = wait_for_job(c);
    REQUIRE(again["state"] == "done");
    REQUIRE(again["added"].get<int>() + status["added"].get<int>() == 1500);
}

TEST_CASE("job inputs that are not regular files, and manifest lines, are refused without quoting them",
          "[server][hardening]") {
    Fixture f;
    const std::string fifo = f.dir.file("manifest.fifo");
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    const std::string secret = f.dir.file("secret.jsonl");
    write_text(secret, "TOP-SECRET-CONTENT\n{\"image\": \"a.png\", \"image\": \"b.png\"}\n" +
                           std::string(kMaxInputLineBytes + 10, 'x') + "\n");
    {
        Server server("--index " + f.index + " --token s3cret");
        Client c(server.port());
        REQUIRE(c.post("/api/index/jobs", json{{"manifests", {fifo, "/dev/zero", secret}}}.dump(), "s3cret").status ==
                202);
        const json status = wait_for_job(c);
        const std::string text = status.dump();
        INFO(text);
        REQUIRE(status["state"] == "done");
        REQUIRE_THAT(text, Catch::Contains("manifest.fifo: the manifest is not a regular file"));
        REQUIRE_THAT(text, Catch::Contains("/dev/zero: the manifest is not a regular file"));
        REQUIRE_THAT(text, Catch::Contains("line 1: not valid JSON (syntax error at byte"));
        REQUIRE_THAT(text, Catch::Contains("line 2: the key \\\"image\\\" appears twice"));
        REQUIRE_THAT(text, Catch::Contains("line 3: longer than 1048576 bytes"));
        REQUIRE_THAT(text, !Catch::Contains("TOP-SECRET"));

        // A text over the documented query limit is refused as a stored text too.
        const Reply r = c.post("/api/texts", json{{"text", std::string(20001, 'a')}}.dump(), "s3cret");
        REQUIRE(r.status == 413);
    }
    // The CLI refuses them too, at once, instead of blocking on the FIFO.
    const CommandResult cli = run_opsis("index add --index " + f.index + " --manifest " + fifo);
    INFO(cli.output);
    REQUIRE_THAT(cli.output, Catch::Contains("not a regular file"));
}

TEST_CASE("finite but huge weights give finite scores, and a model's logit scale is checked", "[server][hardening]") {
    Fixture f;
    {
        Server server("--index " + f.index);
        Client c(server.port());
        const Reply r = c.post(
            "/api/search",
            R"({"texts": [{"text": "caption", "weight": 3.4e38}, {"text": "number", "weight": 3.4e38}], "k": 5})");
        INFO(r.body);
        REQUIRE(r.status == 200);
        REQUIRE(r.data()["hits"].size() > 0);
        const json d = r.data();  // kept: a range over a temporary's member would dangle
        for (const json& h : d["hits"]) {
            REQUIRE(h["score"].is_number());
            REQUIRE(std::isfinite(h["score"].get<double>()));
        }
        // The same direction as weights 1 and 1.
        const Reply unit = c.post(
            "/api/search", R"({"texts": [{"text": "caption", "weight": 1}, {"text": "number", "weight": 1}], "k": 5})");
        REQUIRE(unit.data()["hits"][0]["id"] == r.data()["hits"][0]["id"]);
        REQUIRE(c.post("/api/search", R"({"texts": [{"text": "caption", "weight": 0}]})").status == 400);
    }
    for (const char* scale : {"1e39", "-1", "7.5"}) {
        write_text(f.dir.file("bad.json"),
                   std::string(R"({"name": "bad", "embed_dim": 8, "logit_scale": )") + scale +
                       R"(, "image": {"arch": "resnet", "image_size": 16, "stem_channels": 4, "stem_stride": 1,)"
                       R"( "stage_channels": [4], "stage_blocks": [1]},
  "text": {"context_length": 12, "width": 8, "layers": 1, "heads": 2}})");
        INFO("logit scale " << scale);
        require_opsis_refuses("model init --config " + f.dir.file("bad.json") + " --out " + f.dir.file("bad-model"),
                              "'logit_scale' must be in 0");
    }
}

TEST_CASE("an original swapped since indexing is not served, nor made into a thumbnail", "[server][hardening]") {
    Fixture f;
    const std::string secret = f.dir.file("secret.txt");
    Server server("--index " + f.index);
    Client c(server.port());
    // The id of the item indexed from photos/K.png: a search with that very picture finds it first.
    auto id_of = [&](int k) {
        const auto png = random_png(static_cast<std::uint32_t>(k));
        const Reply r = c.send(http::verb::post, "/api/search/image?k=1&collapse_duplicates=false",
                               std::string(png.begin(), png.end()), "image/png");
        REQUIRE(r.status == 200);
        REQUIRE(r.data()["hits"][0]["paths"][0].get<std::string>() == f.photos + "/" + std::to_string(k) + ".png");
        return r.data()["hits"][0]["id"].get<std::int64_t>();
    };
    auto image = [&](std::int64_t id, const char* what = "image") {
        return c.get("/api/items/" + std::to_string(id) + "/" + what);
    };
    const std::int64_t linked = id_of(0), touched = id_of(1), replaced = id_of(2), removed = id_of(3), thumb = id_of(4);
    const auto original = random_png(0);
    REQUIRE(image(linked).body == std::string(original.begin(), original.end()));

    // A secret of the indexed file's size and modification time, and the picture swapped for a
    // link to it: neither size nor mtime tells them apart, the link and the hash do.
    const std::string path0 = f.photos + "/0.png";
    write_text(secret, "TOP-SECRET" + std::string(original.size() - 10, '!'));
    struct stat st {};
    REQUIRE(stat(path0.c_str(), &st) == 0);
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    REQUIRE(utimensat(AT_FDCWD, secret.c_str(), times, 0) == 0);
    fs::remove(path0);
    fs::create_symlink(secret, path0);
    Reply r = image(linked);
    CHECK(r.status == 410);
    CHECK_THAT(r.body, !Catch::Contains("TOP-SECRET"));
    CHECK_THAT(r.body, !Catch::Contains(f.dir.file("")));
    r = image(linked, "thumbnail");
    CHECK(r.status == 410);

    // The same bytes with a new mtime (a copy, a touch) are still the indexed picture.
    const std::string path1 = f.photos + "/1.png";
    const auto bytes1 = read_file(path1, 1 << 20);
    fs::remove(path1);
    write_bytes(path1, bytes1);
    CHECK(image(touched).status == 200);

    // Another picture in its place, or none, is not served.
    write_bytes(f.photos + "/2.png", random_png(77));
    CHECK(image(replaced).status == 410);
    fs::remove(f.photos + "/3.png");
    CHECK(image(removed).status == 404);
    fs::remove(f.photos + "/4.png");
    fs::create_symlink("/dev/zero", f.photos + "/4.png");
    CHECK(image(thumb, "thumbnail").status == 410);
    CHECK(c.get("/healthz").status == 200);
}

TEST_CASE("a file name that is not UTF-8 is indexed, stored exactly and shown escaped; such parameters are refused",
          "[server][hardening]") {
    Fixture f;
    const std::string odd = f.more + "/bad\xff\xfe.png";
    write_bytes(odd, random_png(4242));
    // One run indexes the folder, the odd name with the rest; a second run finds it unchanged.
    CommandResult r = run_opsis("index add --index " + f.index + " " + f.more);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE_THAT(r.output, Catch::Contains("41 added"));
    r = run_opsis("index add --index " + f.index + " " + f.more);
    REQUIRE(r.exit_code == 0);
    REQUIRE_THAT(r.output, Catch::Contains("41 unchanged"));
    REQUIRE(run_opsis("index verify --index " + f.index).exit_code == 0);

    Server server("--index " + f.index + " --token s3cret");
    Client c(server.port());
    const auto png = random_png(4242);
    const Reply found = c.send(http::verb::post, "/api/search/image?k=1&collapse_duplicates=false",
                               std::string(png.begin(), png.end()), "image/png");
    REQUIRE(found.status == 200);
    const std::int64_t id = found.data()["hits"][0]["id"].get<std::int64_t>();
    REQUIRE(c.get("/api/items/" + std::to_string(id) + "/image").body ==
            std::string(png.begin(), png.end()));  // the exact path
    REQUIRE(c.get("/api/items/" + std::to_string(id)).data()["paths"][0] ==
            f.more + "/bad\xef\xbf\xbd\xef\xbf\xbd.png");  // shown with U+FFFD

    const std::uint64_t before = c.get("/api/stats").data()["images"]["items"].get<std::uint64_t>();
    const auto upload = random_png(4343);
    const Reply refused = c.send(http::verb::post, "/api/items?source=%FF%FE",
                                 std::string(upload.begin(), upload.end()), "image/png", "s3cret");
    CHECK(refused.status == 400);
    CHECK_THAT(error_message(refused), Catch::Contains("query parameter 'source' is not valid UTF-8"));
    CHECK(c.get("/api/stats").data()["images"]["items"].get<std::uint64_t>() == before);
}

TEST_CASE("idle connections beyond the file-descriptor limit are closed to make room, not left to starve the server",
          "[server][hardening]") {
    Fixture f;
    // 128 descriptors: the cap is 64 connections. 200 idle ones used to leave the accept loop
    // spinning on EMFILE while every new request waited in the backlog.
    Server server("--index " + f.index, "ulimit -n 128; ");
    asio::io_context io;
    std::vector<std::unique_ptr<tcp::socket>> idle;
    for (int i = 0; i < 200; ++i) {
        idle.push_back(std::make_unique<tcp::socket>(io));
        idle.back()->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (int round = 0; round < 3; ++round) {
        const std::string answer =
            raw_exchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                         std::chrono::milliseconds(5000));
        INFO(answer);
        REQUIRE(answer.rfind("HTTP/1.1 200 OK", 0) == 0);
    }
    // The oldest idle connections were the ones closed.
    int closed = 0;
    for (auto& s : idle) {
        s->non_blocking(true);
        char byte;
        beast::error_code ec;
        s->read_some(asio::buffer(&byte, 1), ec);
        closed += ec == asio::error::eof || ec == asio::error::connection_reset;
    }
    CHECK(closed >= 130);
}

TEST_CASE("a failing disk: writes answer 500 naming no file, later writes are refused, searches go on",
          "[server][hardening]") {
    Fixture f;
    const std::string flag = f.dir.file("disk-fails");
    Server server("--index " + f.index + " --token s3cret",
                  "OPSIS_FAULT_FLAG=" + flag + " LD_PRELOAD=" + std::string(OPSIS_FAULT_INJECT) + " ");
    Client c(server.port());
    REQUIRE(c.post("/api/texts", R"({"text": "written while the disk works"})", "s3cret").status == 201);
    write_text(flag, "");  // from now on every fsync fails with EIO
    // (A 500 closes its connection: each request below comes on a new one.)
    const auto png = random_png(4242);
    const Reply text =
        Client(server.port()).post("/api/texts", R"({"text": "written while the disk fails"})", "s3cret");
    const Reply upload =
        Client(server.port())
            .send(http::verb::post, "/api/items", std::string(png.begin(), png.end()), "image/png", "s3cret");
    const Reply removal = Client(server.port()).send(http::verb::delete_, "/api/items/1", "", "", "s3cret");
    for (const Reply* r : {&text, &upload, &removal}) {
        INFO(r->body);
        CHECK(r->status == 500);
        CHECK_THAT(error_message(*r), Catch::Contains("internal error") && !Catch::Contains(f.dir.path()));
    }
    fs::remove(flag);
    // The catalog refuses writes until it is opened again (RocksDB must not be written after a
    // failed write); reads were never affected.
    CHECK(Client(server.port()).post("/api/texts", R"({"text": "after the disk recovered"})", "s3cret").status == 500);
    Client reader(server.port());
    CHECK(reader.post("/api/search", R"({"q": "caption number 3", "k": 3})").status == 200);
    CHECK(reader.get("/api/items/1").status == 200);
    CHECK(reader.get("/healthz").status == 200);
    CHECK(server.stop().first == 0);
    {
        Server again("--index " + f.index + " --token s3cret");
        Client c2(again.port());
        CHECK(c2.post("/api/texts", R"({"text": "written after a restart"})", "s3cret").status == 201);
    }
    const CommandResult verify = run_opsis("index verify --index " + f.index);
    INFO(verify.output);
    CHECK(verify.exit_code == 0);
}

TEST_CASE("on a full disk writes answer 507 with a clear message, and searches go on", "[server][hardening]") {
    Fixture f;
    TempDir mount_point;
    const std::string disk = mount_point.file("disk");
    fs::create_directories(disk);
    if (std::system(("mount -t tmpfs -o size=4m tmpfs " + disk + " 2>/dev/null").c_str()) != 0) {
        WARN("cannot mount a small tmpfs here (not root?): the full-disk case did not run");
        return;
    }
    struct Unmount {
        std::string path;
        ~Unmount() { (void)std::system(("umount " + path).c_str()); }
    } unmount{disk};
    const std::string index = disk + "/ix";
    REQUIRE(run_opsis("index add --index " + index + " --model " + f.dir.file("model") + " " + f.photos).exit_code ==
            0);
    {
        Server server("--index " + index + " --token s3cret");
        Client c(server.port());
        {
            std::ofstream fill(disk + "/fill", std::ios::binary);
            const std::string block(1 << 16, 'x');
            while (fill.write(block.data(), static_cast<std::streamsize>(block.size()))) {}
        }
        // Every write fails cleanly, again and again (RocksDB 7.8 aborted on the second).
        for (int i = 0; i < 3; ++i) {
            const Reply r = c.post(
                "/api/texts",
                json{{"text", "a sentence that does not fit " + std::to_string(i) + std::string(4000, 'x')}}.dump(),
                "s3cret");
            INFO(r.body);
            REQUIRE(r.status == 507);
            REQUIRE_THAT(error_message(r), Catch::Contains("disk is full"));
            REQUIRE_THAT(r.body, !Catch::Contains(disk));
        }
        const auto png = random_png(999);
        CHECK(
            c.send(http::verb::post, "/api/items", std::string(png.begin(), png.end()), "image/png", "s3cret").status ==
            507);
        CHECK(c.post("/api/search", R"({"text": "caption number 3", "k": 3})").status == 200);
        CHECK(c.get("/healthz").status == 200);
    }
    // Room again: a new start writes, and nothing half-written was left behind.
    fs::remove(disk + "/fill");
    {
        Server server("--index " + index + " --token s3cret");
        Client c(server.port());
        CHECK(c.post("/api/texts", R"({"text": "written once there is room"})", "s3cret").status == 201);
    }
    const CommandResult verify = run_opsis("index verify --index " + index);
    INFO(verify.output);
    CHECK(verify.exit_code == 0);
}

TEST_CASE("a damaged catalog is the server's error: 500 naming none of its files", "[server][hardening]") {
    Fixture f;
    // A writable open flushes the fixture's log into table files; then, under the running
    // server, the first half of the items' table (its data blocks) is overwritten, so reading
    // an item fails its checksum.
    REQUIRE(run_opsis("index add --index " + f.index + " " + f.photos).exit_code == 0);
    Server server("--index " + f.index);  // RocksDB checks its tables at open: the damage comes after
    int damaged = 0;
    for (const auto& e : fs::directory_iterator(f.index + "/catalog")) {
        if (e.path().extension() != ".sst" ||
            read_text_file(e.path().string(), 1 << 24).find("images.items") == std::string::npos)
            continue;
        ++damaged;
        std::fstream file(e.path(), std::ios::in | std::ios::out | std::ios::binary);
        const auto size = static_cast<std::streamoff>(fs::file_size(e.path()));
        for (std::streamoff at = 0; at < size / 2; at += 7) {
            file.seekp(at);
            file.put('\x5a');
        }
    }
    REQUIRE(damaged == 1);
    bool saw_damage = false;
    for (int id = 1; id <= 12; ++id) {
        Client c(server.port());  // a 500 closes its connection
        const Reply r = c.get("/api/items/" + std::to_string(id));
        INFO(r.status << " " << r.body);
        CHECK((r.status == 200 || r.status == 404 || r.status == 500));
        CHECK_THAT(r.body, !Catch::Contains(f.index));
        CHECK_THAT(r.body, !Catch::Contains(".sst"));
        saw_damage = saw_damage || r.status == 500;
    }
    CHECK(saw_damage);
    CHECK(Client(server.port()).get("/healthz").status == 200);
}

TEST_CASE("a server's end stops its own job only: a later job in the same process indexes everything",
          "[server][hardening]") {
    Fixture f;
    OpenIndex open = open_index(f.dir.file("ix2"), f.dir.file("model"), true, true);
    { web::Api api(*open.store, *open.model, web::ApiOptions{}); }  // used to set a process-wide stop
    indexer::JobOptions options;
    options.show_progress = false;
    const indexer::JobSummary s =
        indexer::index_images(*open.store, *open.model, {{indexer::InputKind::path, f.more}}, options);
    CHECK(s.added == 40);
}
