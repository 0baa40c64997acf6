#include "search/examples.h"

#include <algorithm>
#include <set>
#include <utility>

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
        out.push_back(std::move(q));
    }
    return out;
}

Result interleave_examples(Result own, std::vector<Result*> examples, const std::vector<std::string>& names,
                           const Query& q, const Limits& limits) {
    struct Placed {
        std::size_t place = 0;  // in its own term's ranking
        Hit hit;
    };
    // Likely relevant hits first (all of them, for a model without a relevance rule), then the
    // rest; each group best match of every term first, strongest first.
    std::vector<Placed> sure, unsure;
    auto take = [&](std::vector<Hit>& hits, const std::string& via) {
        for (std::size_t i = 0; i < hits.size(); ++i) {
            hits[i].via = via;
            (hits[i].likely_relevant.value_or(true) ? sure : unsure).push_back({i, std::move(hits[i])});
        }
    };
    Result merged = own;
    merged.hits.clear();
    take(own.hits, "");
    for (std::size_t e = 0; e < examples.size(); ++e) {
        if (examples[e] == nullptr) continue;
        Result& r = *examples[e];
        take(r.hits, names[e]);
        merged.candidates += r.candidates;
        merged.rescored += r.rescored;
        merged.exact_scan = merged.exact_scan || r.exact_scan;
    }
    std::vector<Hit> hits;
    std::set<std::int64_t> seen;
    for (std::vector<Placed>* group : {&sure, &unsure}) {
        std::stable_sort(group->begin(), group->end(), [](const Placed& a, const Placed& b) {
            if (a.place != b.place) return a.place < b.place;
            return a.hit.score > b.hit.score || (a.hit.score == b.hit.score && a.hit.id < b.hit.id);
        });
        for (Placed& p : *group)
            if (seen.insert(p.hit.id).second) hits.push_back(std::move(p.hit));
    }
    if (merged.no_good_match.has_value())
        merged.no_good_match = hits.empty() || !hits.front().likely_relevant.value_or(false);
    merged.k = q.k;
    merged.offset = q.offset;
    merged.more = hits.size() > q.offset + q.k && (!q.collapse_duplicates || q.offset + 2 * q.k <= limits.max_collapsed);
    for (std::size_t i = q.offset; i < hits.size() && i < q.offset + q.k; ++i) merged.hits.push_back(std::move(hits[i]));
    return merged;
}

}  // namespace opsis::search
