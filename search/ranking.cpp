// Ranking one query: candidates from one of three sources (the vector index, the few items
// the filters lead to, or an exact scan), each best first with exact scores, then one keep
// pass (filters, minimum score, near-duplicates) up to the page's end.
#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "search/dot.h"
#include "search/filters.h"
#include "search/searcher.h"

namespace opsis::search {
namespace {

using storage::Collection;

// A candidate with its exact score; `vector` is filled when it was read anyway (re-scoring),
// else fetched only if the keep pass needs it (to compare near-duplicates).
struct Candidate {
    float score = 0;
    std::int64_t id = 0;
    std::vector<float> vector;
};

void best_first(std::vector<Candidate>& c) {
    std::sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) {
        return a.score > b.score || (a.score == b.score && a.id < b.id);
    });
}

// The one keep pass: candidates arrive best first; those that pass the query's conditions are
// kept up to `need`.
class Keeper {
public:
    using VectorOf = std::function<std::vector<float>(std::int64_t)>;
    Keeper(const Query& q, const storage::Catalog& catalog, std::size_t need, std::vector<std::int64_t> excluded,
           VectorOf vector_of)
        : q_(q),
          catalog_(catalog),
          need_(need),
          excluded_(std::move(excluded)),
          vector_of_(std::move(vector_of)),
          reach_(std::sqrt(std::max(0.0f, 2.0f - 2.0f * q.duplicate_threshold)) + 1e-4f) {}

    bool full() const { return kept_.size() >= need_; }
    void restart() {
        kept_.clear();
        kept_vectors_.clear();
        seen_.clear();
    }
    std::vector<Hit>& kept() { return kept_; }

    void offer(Candidate c) {
        if (full() || std::binary_search(excluded_.begin(), excluded_.end(), c.id) || !seen_.insert(c.id).second)
            return;
        if (q_.min_score && c.score < *q_.min_score) return;
        std::optional<storage::Item> item = catalog_.item(q_.target, c.id);
        if (!item || !passes(q_.filters, *item)) return;
        if (q_.collapse_duplicates) {
            if (c.vector.empty()) c.vector = vector_of_(c.id);
            if (c.vector.empty()) return;  // deleted since it was found
            // Unit vectors whose cosine exceeds t lie within sqrt(2 - 2t) of each other, so their
            // scores against the unit query differ by at most that: as candidates come best
            // first, only the kept results scoring within that reach can be duplicates.
            const auto near = std::partition_point(kept_.begin(), kept_.end(),
                                                   [&](const Hit& h) { return h.score > c.score + reach_; });
            for (auto i = static_cast<std::size_t>(near - kept_.begin()); i < kept_.size(); ++i)
                if (dot(kept_vectors_[i].data(), c.vector.data(), c.vector.size()) > q_.duplicate_threshold) return;
        }
        kept_.push_back({c.id, c.score, std::move(*item)});
        kept_vectors_.push_back(std::move(c.vector));
    }

private:
    const Query& q_;
    const storage::Catalog& catalog_;
    std::size_t need_;
    std::vector<std::int64_t> excluded_;
    VectorOf vector_of_;
    float reach_;
    std::vector<Hit> kept_;
    std::vector<std::vector<float>> kept_vectors_;
    std::set<std::int64_t> seen_;
};

// Source 1, exact: every stored vector of the collection, or, with filters, only the items
// that pass (by the ids their filters lead to, or one pass over the items).
std::vector<Candidate> scan_exactly(const Query& q, const std::vector<float>& query, const storage::Catalog& catalog,
                                    std::optional<std::vector<std::int64_t>> narrowed, std::size_t directly_scored) {
    const Collection c = q.target;
    const std::size_t d = query.size();
    std::vector<Candidate> scored;
    if (q.filters.empty()) {
        catalog.for_each_vector(c, [&](std::int64_t id, const float* v, std::size_t) {
            scored.push_back({dot(query.data(), v, d), id, {}});
            return true;
        });
    } else {
        // Filters first, and only the items that pass are scored: fetching every vector and
        // item of a million to find the few that pass took 46 s.
        auto score = [&](const storage::Item& it) {
            if (!passes(q.filters, it)) return;
            std::vector<float> v = catalog.vector(c, it.id);
            if (v.size() == d) scored.push_back({dot(query.data(), v.data(), d), it.id, std::move(v)});
        };
        // Up to an eighth of the collection by point reads; more by one pass over the items.
        if (!narrowed && directly_scored > 0)
            narrowed = filter_candidates(catalog, c, q.filters, std::max(directly_scored, catalog.item_count(c) / 8));
        if (narrowed) {
            for (std::int64_t id : *narrowed)
                if (std::optional<storage::Item> it = catalog.item(c, id)) score(*it);
        } else {
            catalog.for_each_item(c, may_match(q.filters), [&](const storage::Item& it) {
                score(it);
                return true;
            });
        }
    }
    best_first(scored);
    return scored;
}

// Source 2, the vector index: its hits, scored exactly — as the index scored them when it
// holds the vectors themselves (Flat, HNSW-Flat, IVF-Flat), else re-scored against the stored
// vectors' float16 copies, or the catalog's (compressed indexes rank close neighbours poorly, and every index's score
// then means the same thing).
std::vector<Candidate> from_index(const std::vector<storage::SearchHit>& hits, const std::vector<float>& query,
                                  const storage::Catalog& catalog, Collection c, bool exact_scores,
                                  const storage::RescoreVectors* copies, std::size_t& rescored) {
    std::vector<Candidate> out;
    out.reserve(hits.size());
    if (exact_scores) {
        for (const storage::SearchHit& h : hits) out.push_back({h.score, h.id, {}});
    } else if (copies) {
        // The float16 copies: a page read a candidate, not a RocksDB read.
        std::vector<std::int64_t> ids;
        for (const storage::SearchHit& h : hits) ids.push_back(h.id);
        std::vector<float> scores(ids.size());
        copies->dots(query.data(), ids.data(), ids.size(), scores.data());
        for (std::size_t i = 0; i < ids.size(); ++i) out.push_back({scores[i], ids[i], {}});
        rescored += hits.size();
    } else {
        for (const storage::SearchHit& h : hits) {
            std::vector<float> v = catalog.vector(c, h.id);
            if (v.size() != query.size()) continue;
            out.push_back({dot(query.data(), v.data(), query.size()), h.id, std::move(v)});
        }
        rescored += hits.size();
    }
    best_first(out);
    return out;
}

}  // namespace

bool next_page(const Query& q, std::size_t found, const Limits& limits) {
    return found > q.offset + q.k && (!q.collapse_duplicates || q.offset + 2 * q.k <= limits.max_collapsed);
}

Result Searcher::rank(const Query& q, const std::vector<float>& query,
                      std::optional<std::vector<storage::SearchHit>> prefetched,
                      std::optional<std::vector<std::int64_t>> narrowed, std::optional<QueryJudge> judge) const {
    Result result;
    result.collection = q.target;
    result.k = q.k;
    result.offset = q.offset;
    const Collection c = q.target;
    const storage::Catalog& catalog = store_.catalog();
    const storage::VectorIndex& index = store_.vectors(c);
    const bool exact_index = index.stores_exact_vectors();
    const std::size_t d = query.size(), need = q.offset + q.k + 1;  // one more tells whether a next page exists
    const std::vector<std::int64_t> excluded = excluded_items(q);
    // A vector the keep pass needs and the source did not read: from the index when it holds
    // it exactly (in memory), else from the catalog.
    Keeper keep(q, catalog, need, excluded, [&](std::int64_t id) {
        std::vector<float> v(d);
        if (exact_index && index.reconstruct(id, v.data())) return v;
        v = catalog.vector(c, id);
        return v.size() == d ? v : std::vector<float>{};
    });
    auto keep_from = [&](std::vector<Candidate> candidates) {
        result.candidates = candidates.size();
        for (Candidate& cand : candidates) {
            if (keep.full() || (q.min_score && cand.score < *q.min_score)) break;
            keep.offer(std::move(cand));
        }
    };
    auto exact_scan = [&] {
        keep.restart();
        result.exact_scan = true;
        keep_from(scan_exactly(q, query, catalog, std::move(narrowed), limits_.directly_scored));
    };

    if (!index.is_trained() || narrowed) {
        exact_scan();
    } else {
        const std::size_t total = index.size();
        storage::SearchParams params;
        params.effort = q.effort;
        params.excluded = &excluded;
        for (std::size_t fetch = first_fetch(q, need, excluded.size(), !exact_index, total);; fetch *= 4) {
            fetch = std::min(fetch, total);
            std::vector<storage::SearchHit> hits;
            if (prefetched) {  // the batch's shared search asked for at least `fetch`
                hits = std::move(*prefetched);
                prefetched.reset();
                if (hits.size() > fetch) hits.resize(fetch);
            } else {
                hits = index.search(query.data(), fetch, params);
            }
            const bool index_exhausted = hits.size() < fetch;  // no more at this effort (IVF's nprobe)
            std::vector<Candidate> candidates =
                from_index(hits, query, catalog, c, exact_index, store_.rescore_vectors(c), result.rescored);
            const bool below_minimum = q.min_score && !candidates.empty() && candidates.back().score < *q.min_score;
            keep.restart();
            keep_from(std::move(candidates));
            if (keep.full() || fetch >= total || below_minimum) break;
            // The index has no more to give, or the filters are that selective: scan once.
            if (index_exhausted || fetch * 4 > total / 2) {
                exact_scan();
                break;
            }
        }
    }
    std::vector<Hit>& kept = keep.kept();
    result.more = next_page(q, kept.size(), limits_);
    if (judge) {
        result.no_good_match = kept.empty() || !judge->likely_relevant(kept.front().score);
        result.relevance_threshold = static_cast<float>(judge->threshold());
        for (std::size_t i = q.offset; i < kept.size() && i < q.offset + q.k; ++i) {
            kept[i].relevance = static_cast<float>(judge->probability(kept[i].score));
            kept[i].likely_relevant = judge->likely_relevant(kept[i].score);
        }
    }
    for (std::size_t i = q.offset; i < kept.size() && i < q.offset + q.k; ++i)
        result.hits.push_back(std::move(kept[i]));
    return result;
}

}  // namespace opsis::search
