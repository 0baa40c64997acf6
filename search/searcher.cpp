// Planning a batch of searches: validation, one embedding pass, the few items each query's
// filters lead to, one vector-index search per collection and effort, then each query ranked.
#include "search/searcher.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

#include "search/examples.h"
#include "search/filters.h"

namespace opsis::search {
namespace {

using storage::Collection;
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

}  // namespace

Searcher::Searcher(storage::IndexStore& store, const DualEncoder& model, Limits limits)
    : store_(store), model_(model), limits_(limits) {}

Result Searcher::search(const Query& query) const { return take(std::move(search_batch({query}).front())); }

bool Searcher::judged(const Query& q) const {
    // The rule was fitted on texts searched over pictures; images and items as queries score
    // on another scale.
    return model_.relevance() != nullptr && q.target == Collection::images && !q.texts.empty() && q.images.empty() &&
           q.items.empty() && q.vectors.empty();
}

// What a query ranks by relevance: its own page, or for a date order the best date_window.
Query relevance_window(const Query& q, const Limits& limits) {
    if (q.order != Query::Order::date) return q;
    Query window = q;
    window.offset = 0;
    window.k = limits.date_window;
    return window;
}

// The window ranked by relevance, newest first, then the query's page of it.
Result ordered_by_date(Result ranked, const Query& q) {
    std::vector<Hit>& hits = ranked.hits;
    if (ranked.no_good_match == false)
        std::erase_if(hits, [](const Hit& h) { return !h.likely_relevant.value_or(true); });
    std::stable_sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
        if (a.item.taken.has_value() != b.item.taken.has_value()) return a.item.taken.has_value();
        return a.item.taken && a.item.taken->local > b.item.taken->local;
    });
    ranked.more = hits.size() > q.offset + q.k;
    hits.erase(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(std::min(q.offset, hits.size())));
    if (hits.size() > q.k) hits.resize(q.k);
    ranked.k = q.k;
    ranked.offset = q.offset;
    return ranked;
}

std::size_t default_rescore(std::size_t indexed) {
    const std::size_t steps = std::clamp<std::size_t>(indexed / 2500000, 1, 16);
    return 256 * steps;
}

std::size_t first_fetch(const Query& q, std::size_t need, std::size_t excluded, bool compressed_index,
                        std::size_t indexed) {
    const std::size_t floor = compressed_index ? (q.rescore > 0 ? q.rescore : default_rescore(indexed)) : 64;
    return std::max<std::size_t>(2 * need + excluded, floor) * (q.filters.empty() ? 1 : 4);
}

std::vector<Outcome<Result>> Searcher::search_batch(const std::vector<Query>& queries) const {
    std::vector<Outcome<Result>> out(queries.size());
    std::vector<Query> valid;
    std::vector<std::size_t> positions;  // of valid in queries
    for (std::size_t i = 0; i < queries.size(); ++i) {
        try {
            validate_paging(queries[i], limits_);  // the terms are checked as they are embedded
            valid.push_back(relevance_window(queries[i], limits_));
            positions.push_back(i);
        } catch (...) {
            out[i] = std::current_exception();
        }
    }
    auto t0 = Clock::now();
    std::vector<std::vector<Rewrite>> rewritten;
    for (const Query& q : valid) rewritten.push_back(rewrites(q));
    // A query for a kind of thing ranks a window of its own results, and its examples theirs,
    // in the same batch (search/examples.h), after the queries asked.
    struct KindPlan {
        Query page;                  // the page it asked for
        std::size_t first = 0, end = 0;  // its examples' places in `valid`
    };
    const std::size_t asked = valid.size();
    std::map<std::size_t, KindPlan> kinds;  // by the query's place in `valid`
    for (std::size_t i = 0; i < asked; ++i) {
        if (rewritten[i].empty() || rewritten[i].front().examples.empty()) continue;
        Query window = examples_window(valid[i]);
        const std::size_t first = valid.size();
        for (Query& e : example_queries(window, rewritten[i].front())) {
            rewritten.push_back(rewrites(e));
            valid.push_back(std::move(e));
        }
        kinds[i] = {std::exchange(valid[i], std::move(window)), first, valid.size()};
    }
    std::vector<Outcome<std::vector<float>>> embedded = embed_rewritten(valid, rewritten);
    const double embed_ms = ms_since(t0);

    t0 = Clock::now();
    // Queries whose filters lead to a few thousand items (through the catalog's source/tag and
    // path indexes) score exactly those items and need no vector-index candidates.
    std::vector<std::optional<std::vector<std::int64_t>>> narrowed(valid.size());
    for (std::size_t i = 0; i < valid.size(); ++i)
        if (!valid[i].filters.empty() && limits_.directly_scored > 0 &&
            std::holds_alternative<std::vector<float>>(embedded[i]))
            narrowed[i] =
                filter_candidates(store_.catalog(), valid[i].target, valid[i].filters, limits_.directly_scored);

    // One vector-index search for every other query bound for the same collection at the same
    // effort, asking for as many candidates as the neediest; each query then takes its share
    // (its own excluded items are left out as it ranks).
    std::map<std::pair<Collection, int>, std::vector<std::size_t>> groups;
    for (std::size_t i = 0; i < valid.size(); ++i)
        if (std::holds_alternative<std::vector<float>>(embedded[i]) && !narrowed[i] &&
            store_.vectors(valid[i].target).is_trained())
            groups[{valid[i].target, valid[i].effort}].push_back(i);
    std::vector<std::optional<std::vector<storage::SearchHit>>> prefetched(valid.size());
    for (const auto& [key, members] : groups) {
        const storage::VectorIndex& index = store_.vectors(key.first);
        std::vector<float> vectors;
        std::size_t fetch = 0;
        for (std::size_t i : members) {
            const auto& v = std::get<std::vector<float>>(embedded[i]);
            vectors.insert(vectors.end(), v.begin(), v.end());
            fetch = std::max(fetch, first_fetch(valid[i], valid[i].offset + valid[i].k + 1,
                                                excluded_items(valid[i]).size(), !index.stores_exact_vectors(),
                                                index.size()));
        }
        storage::SearchParams params;
        params.effort = key.second;
        std::vector<std::vector<storage::SearchHit>> hits =
            index.search(members.size(), vectors.data(), std::min(fetch, index.size()), params);
        for (std::size_t m = 0; m < members.size(); ++m) prefetched[members[m]] = std::move(hits[m]);
    }
    const double shared_search_ms = ms_since(t0);

    std::vector<Outcome<Result>> ranked(valid.size());
    std::vector<double> rank_ms(valid.size(), 0.0);
    for (std::size_t i = 0; i < valid.size(); ++i) {
        if (auto* error = std::get_if<std::exception_ptr>(&embedded[i])) {
            ranked[i] = *error;
            continue;
        }
        try {
            t0 = Clock::now();
            const std::vector<float>& vector = std::get<std::vector<float>>(embedded[i]);
            std::optional<QueryJudge> judge;
            if (judged(valid[i])) {
                const RelevanceRule* rule = model_.relevance();
                const auto sample = backgrounds_.sample(store_.catalog(), Collection::images,
                                                        static_cast<std::size_t>(rule->background_sample),
                                                        static_cast<int>(vector.size()));
                judge = QueryJudge{
                    rule, sample->size() >= rule->min_background ? sample->background(vector.data()) : std::nullopt};
            }
            ranked[i] = rank(valid[i], vector, std::move(prefetched[i]), std::move(narrowed[i]), judge);
            rank_ms[i] = ms_since(t0);
        } catch (...) {
            ranked[i] = std::current_exception();
        }
    }

    for (std::size_t i = 0; i < asked; ++i) {
        if (auto* error = std::get_if<std::exception_ptr>(&ranked[i])) {
            out[positions[i]] = *error;
            continue;
        }
        Result r = std::move(std::get<Result>(ranked[i]));
        double ms = rank_ms[i];
        if (auto kind = kinds.find(i); kind != kinds.end()) {
            const KindPlan& plan = kind->second;
            std::vector<Result*> examples;  // an example that failed is left out
            for (std::size_t e = plan.first; e < plan.end; ++e) {
                examples.push_back(std::get_if<Result>(&ranked[e]));
                ms += rank_ms[e];
            }
            const Collection c = valid[i].target;
            r = interleave_examples(std::move(r), std::move(examples), rewritten[i].front().examples, plan.page,
                                    limits_, [&](std::int64_t id) { return store_.catalog().vector(c, id); });
        }
        r.embed_ms = embed_ms;
        r.search_ms = shared_search_ms + ms;
        r.batch = queries.size();
        r.rewrites = std::move(rewritten[i]);
        out[positions[i]] = queries[positions[i]].order == Query::Order::date
                                ? ordered_by_date(std::move(r), queries[positions[i]])
                                : std::move(r);
    }
    return out;
}

}  // namespace opsis::search
