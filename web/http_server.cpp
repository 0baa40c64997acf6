#include "web/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/version.hpp>

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

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

struct Shared {
    ServerOptions options;
    Handler handler;
    ErrorResponder errors;
    std::atomic<bool> stopping{false};
    std::atomic<int> with_handler{0};  // requests handed to the handler that it has not answered yet
    std::atomic<int> unanswered{0};    // ... and whose answer is not yet written (a graceful stop waits for these)
};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket&& socket, std::shared_ptr<Shared> shared) : stream_(std::move(socket)), shared_(std::move(shared)) {
        beast::error_code ec;
        // Answers go out at once: with Nagle's algorithm a small response waits for the
        // client's delayed ACK (~40 ms).
        stream_.socket().set_option(tcp::no_delay(true), ec);
        const auto ep = stream_.socket().remote_endpoint(ec);
        remote_ = ec ? "?" : ep.address().to_string();
    }

    void start() { asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::read, shared_from_this())); }

private:
    void read() {
        parser_.emplace();
        parser_->body_limit(shared_->options.max_body_bytes);
        parser_->header_limit(16 * 1024);
        // A new request must start within the idle timeout and then arrive within the read timeout.
        stream_.expires_after(first_request_ ? shared_->options.read_timeout : shared_->options.idle_timeout);
        first_request_ = false;
        http::async_read_header(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_header, shared_from_this()));
    }

    void on_header(beast::error_code ec, std::size_t) {
        if (ec) return on_read_error(ec);
        stream_.expires_after(shared_->options.read_timeout);
        started_ = Clock::now();
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    void on_read_error(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
            ec == asio::error::connection_reset || ec == asio::error::eof)
            return close();
        // The request itself is at fault: answer it, then close the connection.
        started_ = Clock::now();
        const unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
        const bool too_large = ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow;
        const std::string message = too_large ? (ec == http::error::body_limit
                                                     ? "request body larger than " + std::to_string(shared_->options.max_body_bytes) + " bytes"
                                                     : "request header too large")
                                              : "malformed HTTP request: " + ec.message();
        Response res = shared_->errors(too_large ? http::status::payload_too_large : http::status::bad_request, message, version, false);
        log_line(parser_ && parser_->is_header_done() ? std::string(parser_->get().method_string()) : "?",
                 parser_ && parser_->is_header_done() ? std::string(parser_->get().target()) : "?", res);
        send(std::move(res), true);
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec) return on_read_error(ec);
        Request req = parser_->release();
        const unsigned version = req.version();
        const bool keep_alive = req.keep_alive();
        auto what = std::make_shared<const std::pair<std::string, std::string>>(std::string(req.method_string()), std::string(req.target()));
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
            respond(shared_->errors(http::status::internal_server_error, std::string("internal error: ") + e.what(), version, false));
        }
    }

    void reply(Response res, unsigned version, bool keep_alive, const std::pair<std::string, std::string>& what) {
        res.keep_alive(keep_alive && !shared_->stopping.load() && res.keep_alive());
        res.version(version);
        log_line(what.first, what.second, res);
        send(std::move(res), !res.keep_alive(), true);
    }

    // `counted`: an answer of the handler's, counted in `unanswered` until it is written.
    void send(Response&& res, bool close_after, bool counted = false) {
        auto sp = std::make_shared<Response>(std::move(res));
        sp->prepare_payload();
        stream_.expires_after(shared_->options.read_timeout + std::chrono::seconds(15));
        http::async_write(stream_, *sp, [self = shared_from_this(), sp, close_after, counted](beast::error_code ec, std::size_t) {
            if (counted) --self->shared_->unanswered;
            if (ec || close_after) return self->close();
            self->read();
        });
    }

    void log_line(const std::string& method, const std::string& target, const Response& res) {
        if (!shared_->options.access_log) return;
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
        const std::string line = nlohmann::json{{"ts", iso_now()}, {"remote", remote_}, {"method", method},
                                                {"target", target.size() > 300 ? target.substr(0, 300) + "…" : target},
                                                {"status", res.result_int()}, {"bytes", res.body().size()},
                                                {"ms", std::round(ms * 100) / 100}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
};

}  // namespace

struct HttpServer::Impl {
    std::shared_ptr<Shared> shared = std::make_shared<Shared>();
    asio::io_context ioc;
    tcp::acceptor acceptor{asio::make_strand(ioc)};
    asio::signal_set signals{ioc, SIGINT, SIGTERM};
    unsigned short bound_port = 0;

    void accept() {
        acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
            if (!ec) std::make_shared<Session>(std::move(socket), shared)->start();
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
        if ((waited >= std::chrono::milliseconds(300) && shared->unanswered.load() == 0) || waited >= std::chrono::seconds(30))
            return ioc.stop();
        timer->expires_after(std::chrono::milliseconds(50));
        timer->async_wait([this, timer, since](beast::error_code) { wait_then_stop(timer, since); });
    }
};

HttpServer::HttpServer(ServerOptions options, Handler handler, ErrorResponder errors) : impl_(std::make_unique<Impl>()) {
    impl_->shared->options = std::move(options);
    impl_->shared->handler = std::move(handler);
    impl_->shared->errors = std::move(errors);
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
