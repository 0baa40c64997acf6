#pragma once
// `opsis serve --shards URL,URL,…`: one API and web UI over a collection split into shards,
// each a plain `opsis serve` over its part. A search goes to every shard at once (each asked
// for the first offset + k of its own, which holds its share of the global page), and the
// answers are merged exactly by score; filters, collapsing and relevance are each shard's.
// Ids are global: item `local` of shard `s` of N is `local * N + s`, so an item's requests go
// to the shard that holds it, and "more like this" sends its vector to the others. A shard
// that is down or slower than its deadline is left out and the answer says so
// ("shards": {"answered": 3, "of": 4, "failed": [...]}); only when none answers is it an error.
// The router holds no index and no model, and writes nothing: shards are written to directly.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "search/query.h"
#include "web/http_server.h"
#include "web/shard_client.h"

namespace opsis::web {

struct ShardRouterOptions {
    std::string static_dir;  // the web UI's files
    ShardClientOptions client;
    // The deepest result a search may reach (offset + k): what each shard is asked for. Shards
    // answer up to their own --max-k, so start them with at least this.
    std::size_t max_depth = 500;
    // As the shards' (search::Limits): the date order's window, and how deep collapsing reaches.
    std::size_t date_window = search::Limits{}.date_window;
    std::size_t max_collapsed = search::Limits{}.max_collapsed;
};

// A global id and the shard-local one it stands for.
struct ShardId {
    std::size_t shard = 0;
    std::int64_t local = 0;
};
ShardId split_id(std::int64_t global, std::size_t shards);
std::int64_t global_id(std::int64_t local, std::size_t shard, std::size_t shards);

class ShardRouter {
public:
    ShardRouter(std::vector<std::string> urls, ShardRouterOptions options);
    ~ShardRouter();

    // Asks every shard for its stats: the model each serves must be the same one (scores
    // from different models do not compare), else an error naming the shards. Shards that do
    // not answer are listed in the returned stats, not an error (they may come later).
    nlohmann::json check_shards();

    void handle(Request&& request, const RequestContext& context, Respond respond);
    std::size_t shards() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace opsis::web
