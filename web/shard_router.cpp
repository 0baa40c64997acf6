#include "web/shard_router.h"

#include <boost/beast/core/detail/base64.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>

#include "core/error.h"
#include "web/json_fields.h"
#include "web/metrics.h"
#include "web/request_parsing.h"
#include "web/responses.h"
#include "web/static_files.h"

namespace opsis::web {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

ShardId split_id(std::int64_t global, std::size_t shards) {
    const auto n = static_cast<std::int64_t>(shards);
    return {static_cast<std::size_t>(global % n), global / n};
}

std::int64_t global_id(std::int64_t local, std::size_t shard, std::size_t shards) {
    return local * static_cast<std::int64_t>(shards) + static_cast<std::int64_t>(shard);
}

namespace {

// Called once with a request's response and the route it is counted under.
using Answer = std::function<void(const std::string& route, Response)>;

// What the router reads of a search's paging, once, to ask the shards and merge their answers.
struct Page {
    std::size_t k = 20, offset = 0;
    bool by_date = false, collapse = true;
};

// An item a query starts from ("more like this"), by its global id.
struct ItemTerm {
    std::int64_t global = 0;
    std::string collection = "images";
    double weight = 1.0;
    ShardId at;
    json vector;         // fetched from its shard, for the other shards
    std::string sha256;  // its content's: a copy on another shard is the item itself
};

// A shard's /api/stats; `replica` pins one replica (the start's checks), else any answers.
ShardRequest stats_request(std::size_t shard, std::optional<std::size_t> replica = std::nullopt) {
    return {.shard = shard, .method = http::verb::get, .target = "/api/stats", .body = "", .content_type = "",
            .replica = replica};
}

std::string base64_of(const std::string& bytes) {
    namespace b64 = boost::beast::detail::base64;
    std::string out(b64::encoded_size(bytes.size()), '\0');
    out.resize(b64::encode(out.data(), bytes.data(), bytes.size()));
    return out;
}

// The message of an error answer ({"error": {"message"}}), or the body's start.
std::string reply_message(const ShardReply& r) {
    try {
        const json j = json::parse(r.body);
        if (j.contains("error") && j["error"].contains("message")) return j["error"]["message"].get<std::string>();
    } catch (const json::exception&) {}
    return r.body.substr(0, 200);
}

// Why a shard gave no usable answer: it did not answer, or it failed on its side (5xx).
std::optional<std::string> shard_failure(const ShardReply& r) {
    if (!r.answered) return r.error;
    if (r.status >= 500) return "answered " + std::to_string(r.status) + ": " + reply_message(r);
    return std::nullopt;
}

// A shard's answer that is the client's own fault (a 4xx) is the client's answer: every shard
// would say the same.
[[noreturn]] void pass_on(const ShardReply& r) { reject(static_cast<http::status>(r.status), reply_message(r)); }

}  // namespace

struct ShardRouter::Impl {
    Impl(std::vector<std::string> urls, ShardRouterOptions o) : options(o), client(std::move(urls), o.client) {}

    std::size_t n() const { return client.size(); }

    // Rewrites an item's JSON (a hit or /api/items/{id}) from its shard's ids to global ones.
    void globalise(json& item, std::size_t shard) const {
        if (!item.is_object() || !item.contains("id") || !item["id"].is_number_integer()) return;
        const std::int64_t id = global_id(item["id"].get<std::int64_t>(), shard, n());
        item["id"] = id;
        const std::string url = "/api/items/" + std::to_string(id);
        if (item.contains("image_url")) item["image_url"] = url + "/image";
        if (item.contains("thumbnail_url")) item["thumbnail_url"] = url + "/thumbnail";
        item["shard"] = shard;
    }

    std::optional<Response> route(Request& req, std::string& name, const Answer& answer);
    std::optional<Response> search(json body, unsigned version, const Answer& answer, Clock::time_point t0);
    void fan_out(json body, Page page, std::vector<ItemTerm> items, unsigned version, const Answer& answer,
                 Clock::time_point t0);
    // `starts`: content hashes of the items the search starts from, left out wherever they are.
    Response merge(const Page& page, const std::vector<ShardReply>& replies, const std::set<std::string>& starts,
                   unsigned version, Clock::time_point t0);
    std::optional<Response> item(const Request& req, std::int64_t id, const std::string& what, const Answer& answer);
    std::optional<Response> classify(Request& req, const Answer& answer);
    // Tries shard after shard while one fails, starting none later than two shard timeouts after
    // `started` (a hung shard, then others: at most three timeouts in all, whatever N).
    void classify_on(std::size_t shard, std::size_t tries, std::shared_ptr<ShardRequest> request, unsigned version,
                     const Answer& answer, Clock::time_point started);
    std::optional<Response> stats(unsigned version, const Answer& answer);
    json stats_of(const std::vector<ShardReply>& replies) const;
    Response metrics(unsigned version);
    void count(const std::vector<ShardReply>& replies) {
        requests += replies.size();
        for (const ShardReply& r : replies)
            if (shard_failure(r)) ++failed;
    }

    ShardRouterOptions options;
    Metrics metrics_;
    std::atomic<std::uint64_t> requests{0}, failed{0}, partial{0}, next_classify{0};
    const Clock::time_point started = Clock::now();
    // Last, so destroyed first: its destructor waits for the requests in flight, whose
    // callbacks use the members above.
    ShardClient client;
};

ShardRouter::ShardRouter(std::vector<std::string> urls, ShardRouterOptions options)
    : impl_(std::make_unique<Impl>(std::move(urls), std::move(options))) {}
ShardRouter::~ShardRouter() = default;
std::size_t ShardRouter::shards() const { return impl_->n(); }

json ShardRouter::check_shards() {
    // Every replica is asked: each must serve the same model as the others.
    std::vector<ShardRequest> asks;
    ShardClient& client = impl_->client;
    for (std::size_t s = 0; s < impl_->n(); ++s)
        for (std::size_t r = 0; r < client.replicas(s); ++r) asks.push_back(stats_request(s, r));
    const std::vector<ShardReply> replies = client.send_and_wait(asks);
    // For the stats: the first replica that answered, else the last one's failure.
    std::vector<ShardReply> by_shard(impl_->n());
    std::vector<bool> have(impl_->n(), false);
    std::optional<std::pair<std::string, json>> first;
    for (std::size_t i = 0; i < replies.size(); ++i) {
        const std::size_t s = asks[i].shard;
        const bool ok = !shard_failure(replies[i]) && replies[i].status == 200;
        if (!have[s]) by_shard[s] = replies[i], have[s] = ok;
        if (!ok) continue;
        json model;
        try {
            model = json::parse(replies[i].body).at("model");
        } catch (const json::exception& e) {
            throw input_error(
                "shards", replies[i].replica,
                std::string("answered /api/stats with no model in it (is it an opsis serve?): ") + e.what());
        }
        if (!first) {
            first = {replies[i].replica, model};
        } else if (model.value("sha256", "") != first->second.value("sha256", "")) {
            throw input_error("shards", replies[i].replica,
                              "serves model " + model.value("name", "?") + " (" + model.value("sha256", "") +
                                  "), but " + first->first + " serves " + first->second.value("name", "?") + " (" +
                                  first->second.value("sha256", "") + "): scores of different models do not compare");
        }
    }
    return impl_->stats_of(by_shard);
}

void ShardRouter::handle(Request&& req, const RequestContext&, Respond respond) {
    const auto t0 = Clock::now();
    const unsigned version = req.version();
    Impl& impl = *impl_;
    const Answer answer = [&impl, t0, method = std::string(req.method_string()), respond](const std::string& route,
                                                                                          Response res) {
        res.set(http::field::server, "opsis");
        impl.metrics_.observe(route, method, res.result_int(),
                              std::chrono::duration<double>(Clock::now() - t0).count());
        respond(std::move(res));
    };
    std::string name = "other";
    bool pending = false;
    const ErrorShape shape = error_shape(req);
    Response now = answer_or_error(
        version,
        [&] {
            std::optional<Response> r = impl.route(req, name, answer);
            if (!r) {
                pending = true;  // answered later, from the shard client's thread
                return Response{};
            }
            return std::move(*r);
        },
        shape);
    if (!pending) answer(name, std::move(now));
}

std::optional<Response> ShardRouter::Impl::route(Request& req, std::string& name, const Answer& answer) {
    const Target t = parse_target(req);
    const auto method = req.method() == http::verb::head ? http::verb::get : req.method();
    const unsigned version = req.version();
    auto only = [&](http::verb allowed) {
        if (method != allowed)
            reject(http::status::method_not_allowed, std::string(req.method_string()) + " is not allowed on " + t.path +
                                                         " (allowed: " + (allowed == http::verb::get ? "GET" : "POST") +
                                                         ")");
    };
    auto read_only = [&] {
        reject(http::status::forbidden,
               std::string(req.method_string()) + " " + t.path +
                   ": a sharded collection is written through its shards (each an opsis serve over its own index), "
                   "not through the router");
    };
    if (t.path == "/healthz") {
        name = "/healthz";
        only(http::verb::get);
        return json_response(http::status::ok, {{"status", "ok"}, {"shards", n()}}, version);
    }
    if (t.path == "/metrics") {
        name = "/metrics";
        only(http::verb::get);
        return metrics(version);
    }
    if (t.path == "/api/stats") {
        name = "/api/stats";
        only(http::verb::get);
        return stats(version, answer);
    }
    if (t.path == "/api/index/watch") {
        name = "/api/index/watch";
        only(http::verb::get);
        return json_response(
            http::status::ok,
            {{"state", "off"}, {"note", "a shard router watches no folder: each shard serves its own"}}, version);
    }
    if (t.path == "/api/search") {
        name = "/api/search";
        only(http::verb::post);
        return search(json_object_body(req), version, answer, Clock::now());
    }
    if (t.path == "/api/search/image") {
        name = "/api/search/image";
        only(http::verb::post);
        // The picture goes to every shard as the JSON search's base64 image.
        Upload upload = read_upload(req, t.query);
        std::map<std::string, std::string>& f = upload.fields;
        json body{{"image", base64_of(upload.bytes)},
                  {"collection", f.count("collection") ? f["collection"] : "images"},
                  {"k", parse_count(f, "k", 20)},
                  {"offset", parse_count(f, "offset", 0)}};
        if (const auto collapse = parse_flag(f, "collapse_duplicates")) body["collapse_duplicates"] = *collapse;
        return search(std::move(body), version, answer, Clock::now());
    }
    if (t.path == "/api/classify") {
        name = "/api/classify";
        only(http::verb::post);
        return classify(req, answer);
    }
    if (t.path == "/api/items" || t.path == "/api/texts" || t.path.rfind("/api/index/jobs", 0) == 0) {
        name = t.path.rfind("/api/index/jobs", 0) == 0 ? "/api/index/jobs" : t.path;
        if (method == http::verb::get && name == "/api/index/jobs")
            return json_response(http::status::ok,
                                 {{"state", "idle"}, {"note", "jobs run on the shards, not through the router"}},
                                 version);
        read_only();
    }
    if (t.path.rfind("/api/items/", 0) == 0) {
        const std::string rest = t.path.substr(11);
        const std::size_t slash = rest.find('/');
        const std::int64_t id = parse_id(rest.substr(0, slash));
        const std::string what = slash == std::string::npos ? "" : rest.substr(slash + 1);
        name = what.empty() ? "/api/items/{id}" : "/api/items/{id}/" + what;
        if (what.empty() && method == http::verb::delete_) read_only();
        only(http::verb::get);
        if (!what.empty() && what != "image" && what != "thumbnail" && what != "heatmap" && what != "vector")
            reject(http::status::not_found, "no such endpoint: " + t.path);
        return item(req, id, what, answer);
    }
    if (is_api_path(t.path))
        reject(http::status::not_found, "no such endpoint: " + t.path);
    if (t.path == "/model" || t.path.rfind("/model/", 0) == 0)
        reject(http::status::not_found, "no model visualisation through a shard router: open a shard's /model");
    name = "static";
    only(http::verb::get);
    return static_file(req, t.path, options.static_dir, "");
}

std::optional<Response> ShardRouter::Impl::search(json body, unsigned version, const Answer& answer,
                                                  Clock::time_point t0) {
    // What the router needs of the query to ask the shards and merge; the shards check the rest.
    Page page;
    page.k = count_field(body, "k", 20, "search");
    page.offset = count_field(body, "offset", 0, "search");
    page.by_date = body.contains("sort") && body["sort"] == "date";
    // Not a boolean: the shards answer 400 for it, before any merge.
    page.collapse = !(body.contains("collapse_duplicates") && body["collapse_duplicates"] == false);
    const std::size_t k = page.k, offset = page.offset;
    if (k == 0) reject(http::status::bad_request, "search.k must be at least 1");
    if (offset + k > options.max_depth)
        reject(http::status::bad_request,
               "search offset + k = " + std::to_string(offset + k) + ": a search over shards reaches the first " +
                   std::to_string(options.max_depth) +
                   " results (serve --max-depth, with the shards' --max-k at least as large)");
    if (body.contains("collection") && !body["collection"].is_string())
        reject(http::status::bad_request, "search.collection must be a string");
    // Overridden for the shards (fan_out): checked here, as a shard would.
    if (body.contains("examples") && !body["examples"].is_boolean())
        reject(http::status::bad_request, "search.examples must be true or false");
    if (page.by_date && offset + k > options.date_window)
        reject(http::status::bad_request, "search offset + k = " + std::to_string(offset + k) +
                                              ": a search ordered by date orders the best " +
                                              std::to_string(options.date_window) + " matches: page within them");
    std::vector<ItemTerm> items;
    auto read_item = [&](const json& id, const json& entry) {
        if (!id.is_number_integer() || id.get<std::int64_t>() < 0)
            reject(http::status::bad_request,
                   "search.items entries must be {\"id\": integer, \"collection\": ..., "
                   "\"weight\": number}");
        ItemTerm term;
        term.global = id.get<std::int64_t>();
        if (entry.contains("collection")) {
            if (!entry["collection"].is_string())
                reject(http::status::bad_request, "search.items[].collection must be a string");
            term.collection = entry["collection"].get<std::string>();
            parse_collection_param(term.collection);
        }
        term.weight = number_field(entry, "weight", 1.0f, "search.items[]");
        term.at = split_id(term.global, n());
        items.push_back(std::move(term));
    };
    if (body.contains("item")) read_item(body["item"], json::object());
    if (body.contains("items")) {
        if (!body["items"].is_array()) reject(http::status::bad_request, "search.items must be a list");
        for (const json& e : body["items"]) {
            if (!e.is_object()) reject(http::status::bad_request, "search.items entries must be objects");
            read_item(e.value("id", json()), e);
        }
    }
    body.erase("item");
    body.erase("items");
    if (items.empty()) {
        fan_out(std::move(body), page, {}, version, answer, t0);
        return std::nullopt;
    }
    // "More like this": the item's own shard searches from the item (and leaves it out of its
    // results); the others from its vector, fetched from that shard first.
    std::vector<ShardRequest> asks;
    for (const ItemTerm& it : items)
        asks.push_back({it.at.shard, http::verb::get,
                        "/api/items/" + std::to_string(it.at.local) + "/vector?collection=" + it.collection, "", ""});
    client.send(std::move(asks), [this, body = std::move(body), page, items = std::move(items), version, answer,
                                  t0](std::vector<ShardReply> replies) mutable {
        count(replies);
        Response refused = answer_or_error(version, [&] {
            for (std::size_t i = 0; i < items.size(); ++i) {
                const ShardReply& r = replies[i];
                const std::string name = items[i].collection + "/" + std::to_string(items[i].global);
                if (const auto why = shard_failure(r))
                    reject(
                        http::status::service_unavailable,
                        "item " + name + ": its shard " + client.url(items[i].at.shard) + " did not answer: " + *why);
                if (r.status == 404) throw not_found_error("item", name);
                if (r.status != 200) pass_on(r);
                const json answer = json::parse(r.body);
                items[i].vector = answer.at("vector");
                items[i].sha256 = answer.value("sha256", "");
            }
            return Response{};
        });
        if (refused.result_int() != 200) return answer("/api/search", std::move(refused));
        // On the client's thread: whatever fan_out throws is this request's answer, never the
        // thread's end.
        bool sent = false;
        Response failed = answer_or_error(version, [&] {
            fan_out(std::move(body), page, std::move(items), version, answer, t0);
            sent = true;
            return Response{};
        });
        if (!sent) answer("/api/search", std::move(failed));
    });
    return std::nullopt;
}

void ShardRouter::Impl::fan_out(json body, Page page, std::vector<ItemTerm> items, unsigned version,
                                const Answer& answer, Clock::time_point t0) {
    const bool by_date = page.by_date;
    // A search from an item leaves the item out, and so its copies on other shards: each shard
    // gives one more hit per such item, which the merge may drop.
    std::set<std::string> starts;
    const std::string target = body.value("collection", "images");
    for (const ItemTerm& it : items)
        if (it.weight > 0 && it.collection == target && !it.sha256.empty()) starts.insert(it.sha256);
    std::vector<ShardRequest> asks;
    for (std::size_t s = 0; s < n(); ++s) {
        json b = body;
        // Each shard's first offset + k hold its share of the global page; ordered by date, its
        // best date_window by relevance hold its share of the global window.
        b["offset"] = 0;
        b["k"] = by_date ? options.date_window : std::min(page.offset + page.k + starts.size(), options.max_depth);
        // A kind of thing is searched alone: a shard's interleaving of its examples' matches
        // (search/examples.h) is not in score order, and the shards' pages would not merge into
        // one server's, page after page.
        b["examples"] = false;
        if (by_date) b["sort"] = "relevance";
        json own = json::array(), vectors = json::array();
        for (const ItemTerm& it : items) {
            if (it.at.shard == s)
                own.push_back({{"id", it.at.local}, {"collection", it.collection}, {"weight", it.weight}});
            else
                vectors.push_back({{"vector", it.vector}, {"weight", it.weight}});
        }
        if (!own.empty()) b["items"] = std::move(own);
        if (!vectors.empty()) {
            if (b.contains("vectors") && b["vectors"].is_array())
                for (json& v : vectors) b["vectors"].push_back(std::move(v));
            else
                b["vectors"] = std::move(vectors);
        }
        asks.push_back({s, http::verb::post, "/api/search", b.dump(), "application/json"});
    }
    client.send(std::move(asks), [this, page, starts = std::move(starts), version, answer,
                                  t0](std::vector<ShardReply> replies) {
        count(replies);
        answer("/api/search", answer_or_error(version, [&] { return merge(page, replies, starts, version, t0); }));
    });
}

Response ShardRouter::Impl::merge(const Page& page, const std::vector<ShardReply>& replies,
                                  const std::set<std::string>& starts, unsigned version, Clock::time_point t0) {
    const std::size_t k = page.k, offset = page.offset;
    const bool by_date = page.by_date, collapse = page.collapse;
    json failures = json::array();
    std::vector<json> hits;
    std::optional<json> first;
    bool more = false, exact_scan = false;
    std::optional<bool> no_good_match;
    std::size_t candidates = 0, rescored = 0, batch = 0;
    double embed_ms = 0, search_ms = 0;
    for (std::size_t s = 0; s < replies.size(); ++s) {
        const ShardReply& r = replies[s];
        if (const auto why = shard_failure(r)) {
            failures.push_back({{"shard", s}, {"url", client.url(s)}, {"error", *why}, {"ms", r.ms}});
            continue;
        }
        if (r.status != 200) pass_on(r);
        json answer = json::parse(r.body);
        for (json& h : answer.at("hits")) {
            globalise(h, s);
            hits.push_back(std::move(h));
        }
        more = more || answer.value("more", false);
        exact_scan = exact_scan || answer.value("exact_scan", false);
        candidates += answer.value("candidates", std::size_t{0});
        rescored += answer.value("rescored", std::size_t{0});
        batch = std::max(batch, answer.value("batch", std::size_t{1}));
        embed_ms = std::max(embed_ms, answer.value("embed_ms", 0.0));
        search_ms = std::max(search_ms, answer.value("search_ms", 0.0));
        // The best result of all is under the relevance cut only when every shard's best is.
        if (answer.contains("no_good_match") && answer["no_good_match"].is_boolean())
            no_good_match = no_good_match.value_or(true) && answer["no_good_match"].get<bool>();
        if (!first) first = std::move(answer);
    }
    if (!first) {
        std::string why;
        for (const json& f : failures)
            why += (why.empty() ? "" : "; ") + f["url"].get<std::string>() + ": " + f["error"].get<std::string>();
        reject(http::status::service_unavailable, "no shard answered the search: " + why);
    }
    std::stable_sort(hits.begin(), hits.end(), [](const json& a, const json& b) {
        const double sa = a.value("score", 0.0), sb = b.value("score", 0.0);
        return sa > sb || (sa == sb && a.value("id", std::int64_t{0}) < b.value("id", std::int64_t{0}));
    });
    if (!starts.empty()) std::erase_if(hits, [&](const json& h) { return starts.count(h.value("sha256", "")) > 0; });
    // The same file under paths hashed to two shards is an item on each: collapsing keeps the
    // better one, as one server keeps one item for it. (Near-duplicates are each shard's.)
    if (collapse) {
        std::set<std::string> seen;
        std::erase_if(hits, [&](const json& h) {
            const std::string hash = h.value("sha256", "");
            return !hash.empty() && !seen.insert(hash).second;
        });
    }
    if (by_date) {
        // As one server orders its window (search/searcher.cpp): the best date_window by
        // relevance, only those likely relevant when any is, newest first, undated last.
        if (hits.size() > options.date_window) hits.resize(options.date_window);
        if (no_good_match == false)
            std::erase_if(hits, [](const json& h) { return !h.value("likely_relevant", true); });
        auto taken = [](const json& h) -> std::optional<std::string> {
            if (!h.contains("taken") || !h["taken"].is_object()) return std::nullopt;
            return h["taken"].value("local", "");
        };
        std::stable_sort(hits.begin(), hits.end(), [&](const json& a, const json& b) {
            const auto ta = taken(a), tb = taken(b);
            if (ta.has_value() != tb.has_value()) return ta.has_value();
            return ta && *ta > *tb;
        });
        more = hits.size() > offset + k;
    } else {
        // Another page exists when the shards hold more than this one, within the reach of
        // the next request (and of collapsing, as on one server).
        more = (more || hits.size() > offset + k) && offset + 2 * k <= options.max_depth &&
               (!collapse || offset + 2 * k <= options.max_collapsed);
    }
    json shown = json::array();
    for (std::size_t i = offset; i < hits.size() && i < offset + k; ++i) shown.push_back(std::move(hits[i]));
    json out{{"hits", std::move(shown)},
             {"collection", first->value("collection", "images")},
             {"k", k},
             {"offset", offset},
             {"texts", first->value("texts", json::array())},
             {"more", more},
             {"exact_scan", exact_scan},
             {"candidates", candidates},
             {"rescored", rescored},
             {"batch", batch},
             {"embed_ms", embed_ms},
             {"search_ms", search_ms}};
    if (more) out["next_offset"] = offset + k;
    out["no_good_match"] = no_good_match ? json(*no_good_match) : json(nullptr);
    if (no_good_match) out["relevance_threshold"] = first->value("relevance_threshold", 0.0);
    const std::size_t answered = n() - failures.size();
    if (answered < n()) ++partial;
    out["shards"] = {{"answered", answered}, {"of", n()}, {"failed", std::move(failures)}};
    out["took_ms"] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    return json_response(http::status::ok, out, version);
}

std::optional<Response> ShardRouter::Impl::item(const Request& req, std::int64_t id, const std::string& what,
                                                const Answer& answer) {
    const ShardId at = split_id(id, n());
    const std::string raw(req.target());
    const std::size_t question = raw.find('?');
    const std::string target = "/api/items/" + std::to_string(at.local) + (what.empty() ? "" : "/" + what) +
                               (question == std::string::npos ? "" : raw.substr(question));
    const std::string name = what.empty() ? "/api/items/{id}" : "/api/items/{id}/" + what;
    client.send({{at.shard, http::verb::get, target, "", ""}},
                [this, at, id, what, name, answer, version = req.version()](std::vector<ShardReply> replies) {
                    count(replies);
                    answer(name, answer_or_error(version, [&] {
                               const ShardReply& r = replies.front();
                               if (const auto why = shard_failure(r))
                                   reject(r.timed_out ? http::status::gateway_timeout : http::status::bad_gateway,
                                          "item " + std::to_string(id) + ": its shard " + client.url(at.shard) +
                                              " did not answer: " + *why);
                               if (r.status >= 400) pass_on(r);
                               if (what.empty() || what == "vector") {
                                   json j = json::parse(r.body);
                                   globalise(j, at.shard);
                                   return json_response(static_cast<http::status>(r.status), j, version);
                               }
                               Response res =
                                   bytes_response(r.body, r.content_type, version,
                                                  r.cache_control.empty() ? "no-cache" : r.cache_control.c_str());
                               res.result(r.status);
                               return res;
                           }));
                });
    return std::nullopt;
}

std::optional<Response> ShardRouter::Impl::classify(Request& req, const Answer& answer) {
    // Classifying needs a model, not the collection: one shard answers, the next if it fails.
    auto request = std::make_shared<ShardRequest>();
    request->method = http::verb::post;
    request->target = std::string(req.target());
    request->body = std::move(req.body());
    request->content_type = std::string(req[http::field::content_type]);
    classify_on(next_classify++ % n(), n(), request, req.version(), answer, Clock::now());
    return std::nullopt;
}

void ShardRouter::Impl::classify_on(std::size_t shard, std::size_t tries, std::shared_ptr<ShardRequest> request,
                                    unsigned version, const Answer& answer, Clock::time_point started) {
    ShardRequest ask = *request;
    ask.shard = shard;
    client.send(
        {std::move(ask)}, [this, shard, tries, request, version, answer, started](std::vector<ShardReply> replies) {
            count(replies);
            const ShardReply& r = replies.front();
            const bool time_left = Clock::now() < started + 2 * client.options().timeout;
            if (const auto why = shard_failure(r); why && tries > 1 && time_left)
                return classify_on((shard + 1) % n(), tries - 1, request, version, answer, started);
            answer("/api/classify", answer_or_error(version, [&] {
                       if (const auto why = shard_failure(r))
                           reject(http::status::service_unavailable, "no shard answered the classification: " + *why);
                       Response res = bytes_response(r.body, r.content_type, version, "no-store");
                       res.result(r.status);
                       return res;
                   }));
        });
}

json ShardRouter::Impl::stats_of(const std::vector<ShardReply>& replies) const {
    json out{{"model", nullptr}, {"catalog_bytes", 0}};
    json each = json::array();
    std::size_t answered = 0;
    for (std::size_t s = 0; s < replies.size(); ++s) {
        const ShardReply& r = replies[s];
        json entry{{"shard", s}, {"url", client.url(s)}};
        if (const auto why = shard_failure(r); why || r.status != 200) {
            entry["error"] = why ? *why : reply_message(r);
            each.push_back(std::move(entry));
            continue;
        }
        ++answered;
        const json st = json::parse(r.body);
        if (out["model"].is_null()) out["model"] = st.at("model");
        out["catalog_bytes"] = out["catalog_bytes"].get<std::uint64_t>() + st.value("catalog_bytes", std::uint64_t{0});
        for (const char* c : {"images", "texts"}) {
            if (!st.contains(c)) continue;
            json& sum = out[c];
            for (const auto& [key, value] : st[c].items()) {
                if (value.is_number_unsigned()) {
                    sum[key] = (sum.contains(key) ? sum[key].get<std::uint64_t>() : 0) + value.get<std::uint64_t>();
                } else if (value.is_boolean()) {  // trained: all of them
                    sum[key] = (sum.contains(key) ? sum[key].get<bool>() : true) && value.get<bool>();
                } else if (!sum.contains(key)) {
                    sum[key] = value;  // the factory: the first shard's
                }
            }
            entry[c] = st[c].value("items", 0);
        }
        each.push_back(std::move(entry));
    }
    for (const char* c : {"images", "texts"})
        if (!out.contains(c)) out[c] = {{"items", 0}};
    out["shards"] = {{"answered", answered}, {"of", replies.size()}, {"each", std::move(each)}};
    return out;
}

std::optional<Response> ShardRouter::Impl::stats(unsigned version, const Answer& answer) {
    std::vector<ShardRequest> asks;
    for (std::size_t s = 0; s < n(); ++s) asks.push_back(stats_request(s));
    client.send(std::move(asks), [this, version, answer](std::vector<ShardReply> replies) {
        count(replies);
        answer("/api/stats", answer_or_error(version, [&] {
                   json s = stats_of(replies);
                   if (!s["model"].is_null()) s["model"].erase("path");
                   return json_response(http::status::ok, s, version);
               }));
    });
    return std::nullopt;
}

Response ShardRouter::Impl::metrics(unsigned version) {
    const double uptime = std::chrono::duration<double>(Clock::now() - started).count();
    const std::string body = metrics_.render({
        {"opsis_uptime_seconds", "Seconds since the router started.", uptime},
        {"opsis_shards", "Shards the router fans out to.", static_cast<double>(n())},
        {"opsis_shard_requests_total", "Requests sent to shards.", static_cast<double>(requests.load())},
        {"opsis_shard_failures_total", "Shard requests that got no answer, or a 5xx.",
         static_cast<double>(failed.load())},
        {"opsis_partial_searches_total", "Searches answered without every shard.", static_cast<double>(partial.load())},
    });
    return bytes_response(body, "text/plain; version=0.0.4; charset=utf-8", version, "no-store");
}

}  // namespace opsis::web
