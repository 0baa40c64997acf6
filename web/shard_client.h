#pragma once
// Requests to the shard servers behind `opsis serve --shards` (web/shard_router.h): each shard
// is a plain `opsis serve` over one part of a collection. One thread runs every request
// asynchronously; connections are kept alive and reused; every request has a deadline, so a
// shard that is down answers at once with its reason and one that is slow or unreachable
// answers "timed out" when its deadline passes — never a hang. A shard may have replicas
// ("http://a:1|http://b:1", copies of one index): requests take turns among them, a replica
// that fails to connect or answer is rested and the request goes on to the next within its
// deadline, so a dead replica costs nothing once noticed and a hung one one deadline.
#include <boost/beast/http.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace opsis::web {

struct ShardClientOptions {
    std::chrono::milliseconds timeout{2000};  // a request's deadline: connecting, sending and the whole answer
    std::uint64_t max_body_bytes = 64ull << 20;
    std::size_t idle_per_shard = 64;  // kept-alive connections kept for reuse, per replica
    // A replica that failed is tried after the others for this long (then as before).
    std::chrono::milliseconds replica_rest{5000};
};

struct ShardRequest {
    std::size_t shard = 0;
    boost::beast::http::verb method = boost::beast::http::verb::get;
    std::string target;  // "/api/search?x=y"
    std::string body;
    std::string content_type = "application/json";
    std::optional<std::size_t> replica;  // this replica only (the start's checks); else any
};

struct ShardReply {
    bool answered = false;   // a whole HTTP response came back (of any status)
    bool timed_out = false;  // not answered before the deadline
    int status = 0;
    std::string body, content_type, cache_control;
    std::string error;  // why not, when not answered: "connection refused", "timed out after 2000 ms"
    double ms = 0;
    std::string replica;  // the URL that answered (or was tried last)
};

class ShardClient {
public:
    // `urls`: one a shard, "http://host:port" (a path after it is refused), or its replicas
    // joined by '|'. Names are resolved here, once; one that does not resolve is an error.
    ShardClient(std::vector<std::string> urls, ShardClientOptions options = {});
    // Waits for requests in flight to end (at most their deadlines); what their completions
    // send meanwhile is answered at once, unsent ("the router is stopping").
    ~ShardClient();

    std::size_t size() const;
    const std::string& url(std::size_t shard) const;  // as given: its replicas joined by '|'
    std::size_t replicas(std::size_t shard) const;
    const ShardClientOptions& options() const;

    // Sends the requests at once; `done` is called once, from the client's thread, with the
    // replies in the order of `requests`, when the last has answered or failed.
    void send(std::vector<ShardRequest> requests, std::function<void(std::vector<ShardReply>)> done);
    // The same, waiting for the replies.
    std::vector<ShardReply> send_and_wait(std::vector<ShardRequest> requests);

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace opsis::web
