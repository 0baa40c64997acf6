#pragma once
// The HTTP/1.1 server (Boost.Asio + Beast), shaped after Beast's advanced server example:
// one acceptor, a fixed pool of threads running one io_context, an asynchronous session per
// connection on its own strand, keep-alive, a timeout on every read and write (slow clients
// are cut off), a body-size limit, and a graceful stop on SIGINT/SIGTERM that lets in-flight
// requests finish. It knows nothing of search: a Handler turns requests into responses.
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace opsis::web {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct ServerOptions {
    std::string address = "127.0.0.1";
    unsigned short port = 8080;  // 0: any free port (see HttpServer::port)
    int threads = 2;
    std::uint64_t max_body_bytes = 24ull << 20;
    std::chrono::seconds read_timeout{15};  // to receive a whole request once it has started
    std::chrono::seconds idle_timeout{60};  // between requests on a kept-alive connection
    bool access_log = true;                 // one JSON line per request on stderr
    // Host header values answered (names or addresses, without the port, compared without
    // case); a request for any other host gets 421, so a page that rebinds its own DNS name
    // to this address cannot read the collection. Empty: every host.
    std::vector<std::string> allowed_hosts;
    // Open connections at most; at the cap (or when the process runs out of file descriptors)
    // the connection idle longest is closed to make room, and with none idle a new one is
    // closed at once. 0: half the soft limit on open files (RLIMIT_NOFILE), leaving the rest
    // to the index's files.
    int max_connections = 0;
};

// The hosts a server bound to `address` answers by default: the address itself, localhost
// and the loopback addresses; for a wildcard address (0.0.0.0, ::) also the machine's name
// and every address of its interfaces.
std::vector<std::string> default_allowed_hosts(const std::string& address);

struct RequestContext {
    std::string remote;  // client address
};

// Called once with a request's response, from any thread.
using Respond = std::function<void(Response)>;
// Turns a request into a response, at once or later from another thread (a search waits for
// its batch on the model workers, and the connection's thread goes on serving others
// meanwhile). It calls respond exactly once.
using Handler = std::function<void(Request&&, const RequestContext&, Respond)>;
// A response for a request the server itself rejects (too large, malformed, timed out).
using ErrorResponder =
    std::function<Response(http::status, const std::string& message, unsigned version, bool keep_alive)>;

class HttpServer {
public:
    HttpServer(ServerOptions options, Handler handler, ErrorResponder errors);
    ~HttpServer();
    // Binds and listens (throws naming the address on failure); port() is then known.
    void listen();
    unsigned short port() const;
    // Serves on the thread pool until stop() or SIGINT/SIGTERM.
    void run();
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace opsis::web
