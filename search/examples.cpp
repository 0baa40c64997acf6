#include "search/examples.h"

#include <algorithm>
#include <numeric>
#include <set>
#include <utility>

#include "search/dot.h"

namespace opsis::search {

Query examples_window(const Query& q) {
    Query window = q;
    window.offset = 0;
    window.k = q.offset + q.k + 1;  // one more tells whether a next page exists
    return window;
}

std::vector<Query> example_queries(const Query& window, const Rewrite& rewrite) {
    std::vector<Query> out;
    for (const std::string& example : rewrite.examples) {
        Query q = window;
        q.texts = {{example, 1.0f}};
        q.rewrite = false;  // already the lexicon's words
        q.k = std::min(window.k, kExampleWindow);
        out.push_back(std::move(q));
    }
    return out;
}

namespace {

// One hit of one term's ranking.
struct TermHit {
    std::size_t place = 0;  // in that term's ranking, best first
    bool sure = true;       // likely relevant, or not judged
    float score = 0;
    std::int64_t id = 0;
};

// The order in which several terms' hits are shown: the likely relevant before the rest, and in
// each group the best match of every term first (strongest first), then the second best of
// any, and so on. Indices into `hits`.
std::vector<std::size_t> interleaved_order(const std::vector<TermHit>& hits) {
    std::vector<std::size_t> order(hits.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) {
        const TermHit &a = hits[i], &b = hits[j];
        if (a.sure != b.sure) return a.sure;
        if (a.place != b.place) return a.place < b.place;
        return a.score > b.score || (a.score == b.score && a.id < b.id);
    });
    return order;
}

}  // namespace

Result interleave_examples(Result own, std::vector<Result*> examples, const std::vector<std::string>& names,
                           const Query& q, const Limits& limits,
                           const std::function<std::vector<float>(std::int64_t)>& vector_of) {
    std::vector<Hit> all;
    std::vector<TermHit> placed;
    auto take = [&](std::vector<Hit>& hits, const std::string& via) {
        for (std::size_t i = 0; i < hits.size(); ++i) {
            hits[i].via = via;
            placed.push_back({i, hits[i].likely_relevant.value_or(true), hits[i].score, hits[i].id});
            all.push_back(std::move(hits[i]));
        }
    };
    std::vector<Hit> own_hits = std::move(own.hits);
    Result merged = std::move(own);
    merged.hits.clear();
    take(own_hits, "");
    for (std::size_t e = 0; e < examples.size(); ++e) {
        if (examples[e] == nullptr) continue;
        Result& r = *examples[e];
        take(r.hits, names[e]);
        merged.candidates += r.candidates;
        merged.rescored += r.rescored;
        merged.exact_scan = merged.exact_scan || r.exact_scan;
    }
    // Each term's ranking has its near-duplicates collapsed already; across terms, only hits of
    // different terms need comparing.
    std::vector<Hit> hits;
    std::vector<std::vector<float>> kept_vectors;
    std::set<std::int64_t> seen;
    for (std::size_t i : interleaved_order(placed)) {
        Hit& h = all[i];
        if (!seen.insert(h.id).second) continue;
        if (q.collapse_duplicates) {
            std::vector<float> v = vector_of(h.id);
            if (v.empty()) continue;  // deleted since it was found
            bool duplicate = false;
            for (std::size_t k = 0; k < hits.size() && !duplicate; ++k)
                duplicate = hits[k].via != h.via && kept_vectors[k].size() == v.size() &&
                            dot(kept_vectors[k].data(), v.data(), v.size()) > q.duplicate_threshold;
            if (duplicate) continue;
            kept_vectors.push_back(std::move(v));
        }
        hits.push_back(std::move(h));
    }
    if (merged.no_good_match.has_value())
        merged.no_good_match = hits.empty() || !hits.front().likely_relevant.value_or(false);
    merged.k = q.k;
    merged.offset = q.offset;
    merged.more = next_page(q, hits.size(), limits);
    for (std::size_t i = q.offset; i < hits.size() && i < q.offset + q.k; ++i) merged.hits.push_back(std::move(hits[i]));
    return merged;
}

}  // namespace opsis::search
