#include "web/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/version.hpp>

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "core/json_text.h"
#include "core/error.h"

namespace opsis::web {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string iso_now() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    char buf[40];
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

beast::string_view trimmed(beast::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// A Host header's name or address without its port ("[::1]:8080" -> "::1").
std::string host_name(beast::string_view header) {
    const beast::string_view t = trimmed(header);
    std::string_view h(t.data(), t.size());
    if (h.starts_with('[')) {
        const std::size_t close = h.find(']');
        return std::string(close == std::string_view::npos ? h : h.substr(1, close - 1));
    }
    if (const std::size_t colon = h.rfind(':'); colon != std::string_view::npos && h.find(':') == colon)
        h = h.substr(0, colon);
    if (h.ends_with('.')) h.remove_suffix(1);
    return std::string(h);
}

struct Shared {
    ServerOptions options;
    Handler handler;
    ErrorResponder errors;
    std::atomic<bool> stopping{false};
    std::atomic<int> with_handler{0};  // requests handed to the handler that it has not answered yet
    std::atomic<int> unanswered{0};    // ... and whose answer is not yet written (a graceful stop waits for these)

    // Connections against the cap, and those waiting for a request (oldest first) with how
    // to close each: the first to go when room is needed.
    int max_connections = 0;
    std::atomic<int> connections{0};
    std::mutex idle_mutex;
    std::map<std::uint64_t, std::function<void()>> idle;
    std::uint64_t next_idle = 0;

    bool close_oldest_idle() {
        std::function<void()> close;
        {
            std::lock_guard lock(idle_mutex);
            if (idle.empty()) return false;
            close = std::move(idle.begin()->second);
            idle.erase(idle.begin());
        }
        close();
        return true;
    }
};

int default_max_connections() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 4096;
    return std::max(8, static_cast<int>(std::min<rlim_t>(limit.rlim_cur / 2, 1 << 20)));
}

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket&& socket, std::shared_ptr<Shared> shared)
        : stream_(std::move(socket)), shared_(std::move(shared)) {
        ++shared_->connections;
        beast::error_code ec;
        // Answers go out at once: with Nagle's algorithm a small response waits for the
        // client's delayed ACK (~40 ms).
        stream_.socket().set_option(tcp::no_delay(true), ec);
        const auto ep = stream_.socket().remote_endpoint(ec);
        remote_ = ec ? "?" : ep.address().to_string();
    }

    ~Session() {
        stop_waiting();
        --shared_->connections;
    }

    void start() {
        asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::read, shared_from_this()));
    }

private:
    // While it waits for a request, a connection may be closed to make room for another;
    // the close runs on the session's strand, and only if it is still waiting then.
    void wait_for_request() {
        waiting_ = true;
        std::lock_guard lock(shared_->idle_mutex);
        idle_key_ = shared_->next_idle++;
        shared_->idle[*idle_key_] = [weak = weak_from_this()] {
            if (const auto self = weak.lock())
                asio::post(self->stream_.get_executor(), [self] {
                    if (!self->waiting_) return;
                    beast::error_code ec;
                    self->stream_.socket().close(ec);
                });
        };
    }
    void stop_waiting() {
        waiting_ = false;
        if (!idle_key_) return;
        std::lock_guard lock(shared_->idle_mutex);
        shared_->idle.erase(*idle_key_);
        idle_key_.reset();
    }

    void read() {
        wait_for_request();
        parser_.emplace();
        parser_->body_limit(shared_->options.max_body_bytes);
        parser_->header_limit(16 * 1024);
        // A new request must start within the idle timeout and then arrive within the read timeout.
        stream_.expires_after(first_request_ ? shared_->options.read_timeout : shared_->options.idle_timeout);
        first_request_ = false;
        http::async_read_header(stream_, buffer_, *parser_,
                                beast::bind_front_handler(&Session::on_header, shared_from_this()));
    }

    void on_header(beast::error_code ec, std::size_t) {
        stop_waiting();
        if (ec) return on_read_error(ec);
        started_ = Clock::now();
        const Request& req = parser_->get();
        if (const auto refused = refusal(req)) return refuse(refused->first, refused->second);
        stream_.expires_after(shared_->options.read_timeout);
        // A client that sent `Expect: 100-continue` waits for this before it sends the body.
        if (req.count(http::field::expect)) {
            auto go_on = std::make_shared<http::response<http::empty_body>>(http::status::continue_, req.version());
            return http::async_write(stream_, *go_on,
                                     [self = shared_from_this(), go_on](beast::error_code ec, std::size_t) {
                                         if (ec) return self->close();
                                         self->read_body();
                                     });
        }
        read_body();
    }

    void read_body() {
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    // Why a request whose header has arrived is refused before its body is read, if it is:
    // what would otherwise be misread (a body framed in a way we do not parse would be taken
    // for the next request), or is not for us (another Host: DNS rebinding).
    std::optional<std::pair<http::status, std::string>> refusal(const Request& req) const {
        auto quoted = [](beast::string_view v) {
            const std::string s(v.substr(0, 60));
            return "'" + s + (v.size() > 60 ? "…'" : "'");
        };
        const auto te = req.find(http::field::transfer_encoding);
        if (te != req.end()) {
            if (req.count(http::field::transfer_encoding) > 1 || !beast::iequals(trimmed(te->value()), "chunked"))
                return std::pair{http::status::not_implemented,
                                 "Transfer-Encoding " + quoted(te->value()) + " is not supported (only 'chunked')"};
            if (req.count(http::field::content_length))
                return std::pair{http::status::bad_request,
                                 std::string("a request may not have both Content-Length and Transfer-Encoding")};
        }
        const auto expect = req.find(http::field::expect);
        if (expect != req.end() && !beast::iequals(trimmed(expect->value()), "100-continue"))
            return std::pair{http::status::expectation_failed,
                             "Expect " + quoted(expect->value()) + " is not supported"};
        const std::size_t hosts = req.count(http::field::host);
        if (hosts > 1) return std::pair{http::status::bad_request, std::string("more than one Host header")};
        if (hosts == 0) {
            if (req.version() >= 11)
                return std::pair{http::status::bad_request, std::string("an HTTP/1.1 request needs a Host header")};
            return std::nullopt;
        }
        const std::string host = host_name(req[http::field::host]);
        const auto& allowed = shared_->options.allowed_hosts;
        if (!allowed.empty() &&
            std::none_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return beast::iequals(a, host); }))
            return std::pair{http::status::misdirected_request, "host " + quoted(host) + " is not served here"};
        return std::nullopt;
    }

    void refuse(http::status status, const std::string& message) {
        const Request& req = parser_->get();
        Response res = shared_->errors(status, message, req.version(), false);
        log_line(std::string(req.method_string()), std::string(req.target()), res);
        send(std::move(res), true);
    }

    void on_read_error(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
            ec == asio::error::connection_reset || ec == asio::error::eof)
            return close();
        // The request itself is at fault: answer it, then close the connection.
        started_ = Clock::now();
        const unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
        const bool too_large =
            ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow;
        const std::string message =
            too_large ? (ec == http::error::body_limit
                             ? "request body larger than " + std::to_string(shared_->options.max_body_bytes) + " bytes"
                             : "request header too large")
                      : "malformed HTTP request: " + ec.message();
        Response res = shared_->errors(too_large ? http::status::payload_too_large : http::status::bad_request, message,
                                       version, false);
        log_line(parser_ && parser_->is_header_done() ? std::string(parser_->get().method_string()) : "?",
                 parser_ && parser_->is_header_done() ? std::string(parser_->get().target()) : "?", res);
        send(std::move(res), true);
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec) return on_read_error(ec);
        Request req = parser_->release();
        const unsigned version = req.version();
        const bool keep_alive = req.keep_alive();
        head_ = req.method() == http::verb::head;
        auto what = std::make_shared<const std::pair<std::string, std::string>>(std::string(req.method_string()),
                                                                                std::string(req.target()));
        ++shared_->with_handler;
        ++shared_->unanswered;
        auto answered = std::make_shared<std::atomic<bool>>(false);
        // The handler may answer from another thread: the answer goes back through the strand.
        Respond respond = [self = shared_from_this(), answered, version, keep_alive, what](Response res) {
            if (answered->exchange(true)) return;
            asio::post(self->stream_.get_executor(), [self, res = std::move(res), version, keep_alive, what]() mutable {
                self->reply(std::move(res), version, keep_alive, *what);
            });
            --self->shared_->with_handler;
        };
        try {
            shared_->handler(std::move(req), RequestContext{remote_}, respond);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "opsis serve: internal error: %s\n", e.what());
            respond(shared_->errors(http::status::internal_server_error,
                                    "internal error (the server's log has the details)", version, false));
        }
    }

    void reply(Response res, unsigned version, bool keep_alive, const std::pair<std::string, std::string>& what) {
        res.keep_alive(keep_alive && !shared_->stopping.load() && res.keep_alive());
        res.version(version);
        log_line(what.first, what.second, res);
        send(std::move(res), !res.keep_alive(), true, head_);
    }

    // `counted`: an answer of the handler's, counted in `unanswered` until it is written.
    // `head`: the answer to a HEAD request, which has the GET answer's header and no body.
    void send(Response&& res, bool close_after, bool counted = false, bool head = false) {
        auto sp = std::make_shared<Response>(std::move(res));
        sp->set("X-Content-Type-Options", "nosniff");
        sp->prepare_payload();
        if (head) sp->body().clear();  // Content-Length stays that of the body a GET would get
        stream_.expires_after(shared_->options.read_timeout + std::chrono::seconds(15));
        http::async_write(stream_, *sp,
                          [self = shared_from_this(), sp, close_after, counted](beast::error_code ec, std::size_t) {
                              if (counted) --self->shared_->unanswered;
                              if (ec || close_after) return self->close();
                              self->read();
                          });
    }

    void log_line(const std::string& method, const std::string& target, const Response& res) {
        if (!shared_->options.access_log) return;
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
        const std::string line =
            json_text(nlohmann::json{{"ts", iso_now()},
                                     {"remote", remote_},
                                     {"method", method},
                                     {"target", target.size() > 300 ? target.substr(0, 300) + "…" : target},
                                     {"status", res.result_int()},
                                     {"bytes", res.body().size()},
                                     {"ms", std::round(ms * 100) / 100}});
        std::fprintf(stderr, "%s\n", line.c_str());
    }

    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::shared_ptr<Shared> shared_;
    std::string remote_;
    Clock::time_point started_ = Clock::now();
    bool first_request_ = true;
    bool head_ = false;
    bool waiting_ = false;                   // for a request's header (on the strand)
    std::optional<std::uint64_t> idle_key_;  // in shared_->idle while waiting
};

}  // namespace

struct HttpServer::Impl {
    std::shared_ptr<Shared> shared = std::make_shared<Shared>();
    asio::io_context ioc;
    tcp::acceptor acceptor{asio::make_strand(ioc)};
    asio::signal_set signals{ioc, SIGINT, SIGTERM};
    unsigned short bound_port = 0;

    asio::steady_timer backoff{ioc};

    void accept() {
        acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
            if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
                ec == asio::error::no_memory) {
                // Out of file descriptors: accepting again at once would spin a core while the
                // pending connection stays queued. Make room, then try again shortly.
                shared->close_oldest_idle();
                backoff.expires_after(std::chrono::milliseconds(50));
                backoff.async_wait([this](beast::error_code wait_ec) {
                    if (!wait_ec && acceptor.is_open()) accept();
                });
                return;
            }
            if (!ec) {
                if (shared->connections.load() < shared->max_connections || shared->close_oldest_idle()) {
                    std::make_shared<Session>(std::move(socket), shared)->start();
                } else {
                    beast::error_code close_ec;  // every connection is busy with a request: refuse this one
                    socket.close(close_ec);
                }
            }
            accept();
        });
    }

    void shutdown() {
        if (shared->stopping.exchange(true)) return;
        asio::post(acceptor.get_executor(), [this] {
            beast::error_code ec;
            acceptor.close(ec);
        });
        // In-flight requests finish (up to a limit); idle keep-alive connections end at their
        // next timeout, so give them a moment too, then stop the loop.
        wait_then_stop(std::make_shared<asio::steady_timer>(ioc), Clock::now());
    }

    void wait_then_stop(std::shared_ptr<asio::steady_timer> timer, Clock::time_point since) {
        const auto waited = Clock::now() - since;
        if ((waited >= std::chrono::milliseconds(300) && shared->unanswered.load() == 0) ||
            waited >= std::chrono::seconds(30))
            return ioc.stop();
        timer->expires_after(std::chrono::milliseconds(50));
        timer->async_wait([this, timer, since](beast::error_code) { wait_then_stop(timer, since); });
    }
};

std::vector<std::string> default_allowed_hosts(const std::string& address) {
    std::vector<std::string> hosts{"localhost", "127.0.0.1", "::1"};
    auto add = [&](std::string h) {
        if (!h.empty() && std::find(hosts.begin(), hosts.end(), h) == hosts.end()) hosts.push_back(std::move(h));
    };
    beast::error_code ec;
    const auto bound = asio::ip::make_address(address, ec);
    if (ec || !bound.is_unspecified()) {
        add(address);
        return hosts;
    }
    char name[256] = {0};
    if (gethostname(name, sizeof name - 1) == 0) add(name);
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) == 0) {
        for (const ifaddrs* i = list; i; i = i->ifa_next) {
            if (!i->ifa_addr) continue;
            if (i->ifa_addr->sa_family == AF_INET) {
                const auto* in = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
                add(asio::ip::address_v4(ntohl(in->sin_addr.s_addr)).to_string());
            } else if (i->ifa_addr->sa_family == AF_INET6) {
                const auto* in6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
                asio::ip::address_v6::bytes_type bytes;
                std::copy_n(in6->sin6_addr.s6_addr, 16, bytes.begin());
                add(asio::ip::address_v6(bytes).to_string());
            }
        }
        freeifaddrs(list);
    }
    return hosts;
}

HttpServer::HttpServer(ServerOptions options, Handler handler, ErrorResponder errors)
    : impl_(std::make_unique<Impl>()) {
    impl_->shared->options = std::move(options);
    impl_->shared->handler = std::move(handler);
    impl_->shared->errors = std::move(errors);
    const int cap = impl_->shared->options.max_connections;
    impl_->shared->max_connections = cap > 0 ? cap : default_max_connections();
}

HttpServer::~HttpServer() = default;

void HttpServer::listen() {
    const ServerOptions& o = impl_->shared->options;
    const std::string where = o.address + ":" + std::to_string(o.port);
    beast::error_code ec;
    const auto address = asio::ip::make_address(o.address, ec);
    if (ec) throw input_error("listen address", o.address, ec.message());
    const tcp::endpoint endpoint{address, o.port};
    impl_->acceptor.open(endpoint.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(endpoint, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw input_error("listen address", where, ec.message());
    impl_->bound_port = impl_->acceptor.local_endpoint().port();
}

unsigned short HttpServer::port() const { return impl_->bound_port; }

void HttpServer::run() {
    impl_->accept();
    impl_->signals.async_wait([this](beast::error_code ec, int) {
        if (!ec) impl_->shutdown();
    });
    const int n = std::max(1, impl_->shared->options.threads);
    std::vector<std::thread> pool;
    for (int i = 1; i < n; ++i) pool.emplace_back([this] { impl_->ioc.run(); });
    impl_->ioc.run();
    for (auto& t : pool) t.join();
    // A request still with the handler (past the shutdown's limit) answers into the stopped
    // loop; wait for it, so that nothing posts to the loop once it is destroyed.
    const auto since = Clock::now();
    while (impl_->shared->with_handler.load() > 0 && Clock::now() - since < std::chrono::seconds(60))
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void HttpServer::stop() {
    asio::post(impl_->ioc, [this] { impl_->shutdown(); });
}

}  // namespace opsis::web
