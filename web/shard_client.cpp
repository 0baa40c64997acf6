#include "web/shard_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <cstdio>
#include <future>
#include <optional>
#include <thread>

#include "core/error.h"

namespace opsis::web {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// One server of a shard. Everything but the address is touched on the client's thread only.
struct Replica {
    std::string url, host, port;
    tcp::resolver::results_type endpoints;
    std::vector<std::unique_ptr<beast::tcp_stream>> idle;  // kept-alive connections
    // Failed lately: tried after the others until then. When the rest is over one request
    // (the probe) goes to it first; the rest wait for its answer, so a replica that still hangs
    // spoils one answer a rest, not every answer that comes while its deadline runs. Each
    // failure in a row doubles the rest (up to 16 times replica_rest).
    Clock::time_point rested_until{};
    bool probing = false;
    unsigned failures = 0;  // in a row
    bool first_choice(Clock::time_point now) const { return rested_until <= now && !probing; }
};

struct Shard {
    std::string url;               // as given
    std::deque<Replica> replicas;  // a deque: connections are not copyable, and stay put
    std::size_t turn = 0;          // the replica that comes first for the next request
};

// "http://host:port" or "host:port" -> host, port.
Replica parse_url(const std::string& url) {
    std::string rest = url;
    if (rest.rfind("https://", 0) == 0)
        throw input_error("shard URL", url, "https is not spoken to shards: keep them on a private network");
    if (rest.rfind("http://", 0) == 0) rest.erase(0, 7);
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    if (rest.find('/') != std::string::npos)
        throw input_error("shard URL", url, "must be http://host:port, without a path");
    std::string host, port;
    if (!rest.empty() && rest.front() == '[') {  // [::1]:8080
        const std::size_t close = rest.find(']');
        if (close == std::string::npos) throw input_error("shard URL", url, "has an unclosed [ in its address");
        host = rest.substr(1, close - 1);
        if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
    } else {
        const std::size_t colon = rest.rfind(':');
        host = rest.substr(0, colon);
        if (colon != std::string::npos) port = rest.substr(colon + 1);
    }
    if (host.empty()) throw input_error("shard URL", url, "names no host");
    if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
        std::stoi(port) == 0 || std::stoi(port) > 65535)
        throw input_error("shard URL", url, "needs a port (http://host:port)");
    return {url, host, port, {}, {}, {}};
}

}  // namespace

struct ShardClient::Impl {
    explicit Impl(std::vector<std::string> urls, ShardClientOptions o) : options(o) {
        if (urls.empty()) throw input_error("shards", "", "none given");
        tcp::resolver resolver(ioc);
        for (const std::string& url : urls) {
            if (url.empty()) throw input_error("shard URL", url, "is empty: give http://host:port (a ',' too many?)");
            Shard& s = shards.emplace_back();
            s.url = url;
            std::size_t from = 0;
            for (std::size_t bar; from <= url.size(); from = bar + 1) {
                bar = std::min(url.find('|', from), url.size());
                if (bar == from) throw input_error("shard URL", url, "has an empty replica (a '|' too many)");
                Replica& r = s.replicas.emplace_back(parse_url(url.substr(from, bar - from)));
                beast::error_code ec;
                r.endpoints = resolver.resolve(r.host, r.port, ec);
                if (ec) throw input_error("shard URL", r.url, "does not resolve: " + ec.message());
            }
        }
        thread = std::thread([this] { ioc.run(); });
    }
    ~Impl() { stop(); }
    // Requests in flight end by their deadlines (idle connections are no work); what their
    // completions send meanwhile is answered at once (closing).
    void stop() {
        closing = true;
        if (!thread.joinable()) return;
        work.reset();
        asio::post(ioc, [this] {
            for (Shard& s : shards)
                for (Replica& r : s.replicas) r.idle.clear();
        });
        thread.join();
    }

    // Set when the client is being destroyed: a completion that sends again (more like this
    // asks for the item's vector, then searches) is answered at once instead of starting calls
    // the destructor would wait for.
    std::atomic<bool> closing{false};
    asio::io_context ioc{1};
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ioc);
    ShardClientOptions options;
    std::deque<Shard> shards;  // a deque: shards are not copyable (their connections), and stay put
    std::thread thread;
};

namespace {

// One request to one shard: to its replicas in turn, the rested ones last; on a kept-alive
// connection when one is idle (tried once more on a fresh one if that connection turns out
// closed), else on a new one; a replica that fails hands the request to the next while time is
// left; all before its deadline.
class Call : public std::enable_shared_from_this<Call> {
public:
    Call(ShardClient::Impl& client, ShardRequest request, std::function<void(ShardReply)> finish)
        : client_(client),
          shard_(client.shards.at(request.shard)),
          finish_(std::move(finish)),
          started_(Clock::now()),
          deadline_(started_ + client.options.timeout) {
        const std::size_t n = shard_.replicas.size();
        if (request.replica) {
            order_.push_back(*request.replica);
        } else {
            const std::size_t first = shard_.turn++ % n;
            for (std::size_t i = 0; i < n; ++i) order_.push_back((first + i) % n);
            std::stable_partition(order_.begin(), order_.end(),
                                  [&](std::size_t r) { return shard_.replicas[r].first_choice(started_); });
        }
        out_.method(request.method);
        out_.target(request.target);
        out_.version(11);
        out_.set(http::field::user_agent, "opsis-shard-router");
        out_.keep_alive(true);
        if (!request.body.empty() || request.method == http::verb::post) {
            out_.set(http::field::content_type, request.content_type);
            out_.body() = std::move(request.body);
        }
        out_.prepare_payload();
    }

    void start() {
        begin_attempt();
        Replica& r = replica();
        out_.set(http::field::host,
                 r.host.find(':') != std::string::npos ? "[" + r.host + "]:" + r.port : r.host + ":" + r.port);
        if (!r.idle.empty()) {
            stream_ = std::move(r.idle.back());
            r.idle.pop_back();
            reused_ = true;
            write();
            return;
        }
        connect();
    }

private:
    Replica& replica() { return shard_.replicas[order_[attempt_]]; }
    void begin_attempt() {
        Replica& r = replica();
        if (r.failures > 0 && r.first_choice(Clock::now())) r.probing = true;  // its rest is over: a probe
    }
    void connect() {
        reused_ = false;
        stream_ = std::make_unique<beast::tcp_stream>(client_.ioc);
        stream_->expires_at(deadline_);
        stream_->async_connect(replica().endpoints,
                               [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
                                   if (ec) return self->fail(ec, "connecting");
                                   self->write();
                               });
    }
    void write() {
        stream_->expires_at(deadline_);
        http::async_write(*stream_, out_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return self->retry_or_fail(ec, "sending");
            self->read();
        });
    }
    void read() {
        parser_.emplace();
        parser_->body_limit(client_.options.max_body_bytes);
        http::async_read(*stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return self->retry_or_fail(ec, "reading the answer");
            self->answered();
        });
    }
    // A kept-alive connection the shard has closed since (its idle timeout, a restart) fails
    // before any answer: the request goes once more on a new connection.
    void retry_or_fail(beast::error_code ec, const char* doing) {
        const bool nothing_read = !parser_ || !parser_->got_some();
        if (reused_ && nothing_read && ec != beast::error::timeout && Clock::now() < deadline_) {
            stream_.reset();
            buffer_.clear();
            parser_.reset();
            return connect();
        }
        fail(ec, doing);
    }
    // The replica is rested; the next one (if any) takes the request while time is left. An
    // answer too large is the answer's fault, not the replica's: no rest, no second try. (Every
    // request the router sends is a read, so sending one again is safe.)
    void fail(beast::error_code ec, const char* doing) {
        const bool timed_out = ec == beast::error::timeout;
        const bool final = ec == http::error::body_limit;
        Replica& failed = replica();
        failed.probing = false;
        if (!final) {
            failed.failures = std::min(failed.failures + 1, 5u);
            failed.rested_until = Clock::now() + client_.options.replica_rest * (1 << (failed.failures - 1));
        }
        if (!errors_.empty()) errors_ += "; ";
        errors_ +=
            (timed_out ? "timed out after " + std::to_string(client_.options.timeout.count()) + " ms (" + doing + ")"
                       : ec.message() + " (" + doing + ")") +
            (shard_.replicas.size() > 1 ? " at " + failed.url : "");
        stream_.reset();
        buffer_.clear();
        parser_.reset();
        if (!timed_out && !final && attempt_ + 1 < order_.size() && Clock::now() < deadline_) {
            ++attempt_;
            return start();
        }
        ShardReply r;
        r.timed_out = timed_out;
        r.error = errors_;
        done(std::move(r));
    }
    void answered() {
        http::response<http::string_body> res = parser_->release();
        ShardReply r;
        r.answered = true;
        r.status = res.result_int();
        r.content_type = std::string(res[http::field::content_type]);
        r.cache_control = std::string(res[http::field::cache_control]);
        r.body = std::move(res.body());
        Replica& from = replica();
        from.rested_until = {};
        from.probing = false;
        from.failures = 0;
        if (res.keep_alive() && from.idle.size() < client_.options.idle_per_shard) {
            stream_->expires_never();
            from.idle.push_back(std::move(stream_));
        }
        done(std::move(r));
    }
    void done(ShardReply r) {
        r.ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
        r.replica = replica().url;
        finish_(std::move(r));
    }

    ShardClient::Impl& client_;
    Shard& shard_;
    std::function<void(ShardReply)> finish_;
    Clock::time_point started_, deadline_;
    http::request<http::string_body> out_;
    std::vector<std::size_t> order_;  // replicas, in the order they are tried
    std::size_t attempt_ = 0;
    std::string errors_;  // of the replicas tried so far
    std::unique_ptr<beast::tcp_stream> stream_;
    bool reused_ = false;
    beast::flat_buffer buffer_;
    std::optional<http::response_parser<http::string_body>> parser_;
};

}  // namespace

ShardClient::ShardClient(std::vector<std::string> urls, ShardClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(urls), options)) {}

ShardClient::~ShardClient() { impl_->stop(); }  // while this object is whole: completions may send

std::size_t ShardClient::size() const { return impl_->shards.size(); }
const std::string& ShardClient::url(std::size_t shard) const { return impl_->shards.at(shard).url; }
std::size_t ShardClient::replicas(std::size_t shard) const { return impl_->shards.at(shard).replicas.size(); }
const ShardClientOptions& ShardClient::options() const { return impl_->options; }

void ShardClient::send(std::vector<ShardRequest> requests, std::function<void(std::vector<ShardReply>)> done) {
    for (const ShardRequest& r : requests) {
        if (r.shard >= size())
            throw input_error("shard", std::to_string(r.shard), "there are " + std::to_string(size()) + " shards");
        if (r.replica && *r.replica >= replicas(r.shard))
            throw input_error("replica", std::to_string(*r.replica), "shard " + url(r.shard) + " has fewer");
    }
    if (impl_->closing) {
        std::vector<ShardReply> stopping(requests.size());
        for (ShardReply& r : stopping) r.error = "the router is stopping";
        return done(std::move(stopping));
    }
    asio::post(impl_->ioc, [impl = impl_.get(), requests = std::move(requests), done = std::move(done)]() mutable {
        struct Gather {
            std::vector<ShardReply> replies;
            std::size_t left = 0;
            std::function<void(std::vector<ShardReply>)> done;
        };
        auto gather = std::make_shared<Gather>();
        gather->replies.resize(requests.size());
        gather->left = requests.size();
        gather->done = std::move(done);
        if (requests.empty()) return gather->done({});
        for (std::size_t i = 0; i < requests.size(); ++i)
            std::make_shared<Call>(*impl, std::move(requests[i]), [gather, i](ShardReply r) {
                gather->replies[i] = std::move(r);
                if (--gather->left > 0) return;
                // A completion that throws would end the client's thread (and the process):
                // callers answer their own errors; this only keeps a slip from being fatal.
                try {
                    gather->done(std::move(gather->replies));
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "opsis: shard client: a completion failed: %s\n", e.what());
                }
            })->start();
    });
}

std::vector<ShardReply> ShardClient::send_and_wait(std::vector<ShardRequest> requests) {
    std::promise<std::vector<ShardReply>> promise;
    std::future<std::vector<ShardReply>> future = promise.get_future();
    send(std::move(requests), [&promise](std::vector<ShardReply> replies) { promise.set_value(std::move(replies)); });
    return future.get();
}

}  // namespace opsis::web
