#pragma once
// What the server tests share: `opsis serve` as a child process on a free port, a kept-alive
// HTTP/1.1 client, and an index of a dozen random pictures made with a tiny model.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <cctype>
#include <filesystem>
#include <map>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>

#include "tests/test_support.h"

namespace opsis::test::server {

using json = nlohmann::json;
namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// `opsis serve` on a free port; stopped with SIGTERM on destruction.
class Server {
public:
    // shell_prefix runs before the server in the same shell (say "ulimit -n 128; ").
    explicit Server(const std::string& args, const std::string& shell_prefix = "") {
        int out[2];
        REQUIRE(pipe(out) == 0);
        pid_ = fork();
        if (pid_ == 0) {
            dup2(out[1], 1);
            close(out[0]);
            execl("/bin/sh", "sh", "-c",
                  (shell_prefix + "exec " + std::string(OPSIS_BINARY) + " serve --port 0 --quiet " + args).c_str(),
                  nullptr);
            _exit(127);
        }
        close(out[1]);
        stdout_ = fdopen(out[0], "r");
        char line[1024] = {0};
        REQUIRE(fgets(line, sizeof line, stdout_) != nullptr);
        std::smatch m;
        const std::string text = line;
        if (!std::regex_search(text, m, std::regex("http://[^:/]+:([0-9]+)/"))) {
            stop();
            FAIL("opsis serve did not print its address: " << text);
        }
        port_ = static_cast<unsigned short>(std::stoi(m[1].str()));
    }
    ~Server() {
        if (pid_ > 0) stop();
    }
    // SIGTERM; returns the exit code and the rest of stdout.
    std::pair<int, std::string> stop() {
        kill(pid_, SIGTERM);
        std::string rest;
        char buf[512];
        while (fgets(buf, sizeof buf, stdout_)) rest += buf;
        int status = 0;
        waitpid(pid_, &status, 0);
        fclose(stdout_);
        pid_ = -1;
        return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), rest};
    }
    unsigned short port() const { return port_; }

private:
    pid_t pid_ = -1;
    FILE* stdout_ = nullptr;
    unsigned short port_ = 0;
};

struct Reply {
    int status = 0;
    std::string body, content_type;
    std::map<std::string, std::string> headers;  // the others, by lower-case name
    json data() const { return json::parse(body); }
};

// One HTTP/1.1 connection, kept alive across requests.
class Client {
public:
    explicit Client(unsigned short port) : socket_(io_) {
        socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    }
    Reply send(http::verb method, const std::string& target, const std::string& body = "",
               const std::string& content_type = "application/json", const std::string& token = "",
               const std::string& accept = "") {
        http::request<http::string_body> req{method, target, 11};
        req.set(http::field::host, "localhost");
        if (!accept.empty()) req.set(http::field::accept, accept);
        if (!body.empty()) req.set(http::field::content_type, content_type);
        if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
        req.body() = body;
        req.prepare_payload();
        // A server that refuses a large body answers and closes before it has all been sent:
        // the write then fails, and the answer is still there to read.
        beast::error_code write_error;
        http::write(socket_, req, write_error);
        http::response_parser<http::string_body> parser;
        parser.body_limit(64 << 20);
        http::read(socket_, buffer_, parser);
        auto res = parser.release();
        Reply reply{static_cast<int>(res.result_int()), res.body(), std::string(res[http::field::content_type]), {}};
        for (const auto& field : res) {
            std::string name(field.name_string());
            for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            reply.headers[name] = std::string(field.value());
        }
        return reply;
    }
    Reply get(const std::string& target) { return send(http::verb::get, target); }
    // As a browser navigating to a page asks.
    Reply get_page(const std::string& target) {
        return send(http::verb::get, target, "", "", "", "text/html,application/xhtml+xml,*/*;q=0.8");
    }
    Reply post(const std::string& target, const std::string& body, const std::string& token = "") {
        return send(http::verb::post, target, body, "application/json", token);
    }
    tcp::socket& socket() { return socket_; }

private:
    asio::io_context io_;
    tcp::socket socket_;
    beast::flat_buffer buffer_;
};

inline std::string error_message(const Reply& r) { return r.data()["error"]["message"].get<std::string>(); }

struct Fixture {
    TempDir dir;
    std::string index = dir.file("ix"), photos = dir.file("photos"), more = dir.file("more");
    Fixture() {
        init_tiny_model(dir, "model", 3);
        fs::create_directories(photos);
        fs::create_directories(more);
        std::ofstream m(dir.file("manifest.jsonl"));
        for (int k = 0; k < 12; ++k) {
            write_bytes(photos + "/" + std::to_string(k) + ".png", random_png(static_cast<std::uint32_t>(k)));
            m << json{{"image", photos + "/" + std::to_string(k) + ".png"},
                      {"captions", {"caption number " + std::to_string(k)}},
                      {"source", k % 2 ? "odd" : "even"}}
                     .dump()
              << "\n";
        }
        for (int k = 0; k < 40; ++k)
            write_bytes(more + "/" + std::to_string(k) + ".png", random_png(static_cast<std::uint32_t>(1000 + k)));
        m.close();
        const CommandResult r = run_opsis("index add --index " + index + " --model " + dir.file("model") +
                                          " --manifest " + dir.file("manifest.jsonl"));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
    }
};

}  // namespace opsis::test::server
