#pragma once
// A query for a kind of thing ("a musical instrument") answered with examples of it: a small
// model knows the names of things far better than the names of their kinds, so the lexicon's
// examples of the kind (guitar, piano, trumpet, ...: encoder/lexicon.h) are searched beside the
// query, and the best match of each comes before the second best of any, the likely relevant
// (encoder/relevance.h) before the rest. Searcher::search_batch plans them with the batch.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "search/query.h"
#include "search/query_rewrite.h"
#include "search/searcher.h"

namespace opsis::search {

// The most results of each example ranked for a query, whatever page it asks for: deeper pages
// go on with the query's own matches, and a deep page does not cost every example as much.
inline constexpr std::size_t kExampleWindow = 100;

// The query with the first results of its own, up to its page's end, on one page (offset 0):
// what it ranks before its examples' are interleaved with it.
Query examples_window(const Query& q);

// One query per example: the query's filters and options, the example as its only text, as the
// lexicon spells it (not rewritten), over the same window up to kExampleWindow.
std::vector<Query> example_queries(const Query& window, const Rewrite& rewrite);

// The query's own ranked window and its examples' (in example_queries' order; a failed one
// nullptr) interleaved, then `q`'s page of it. An item two terms found is kept once, and a
// near-duplicate of a result kept before it is left out when `q` collapses them (`vector_of`
// gives an item's stored vector; empty if it is gone). Each hit an example found says which
// (Hit::via).
Result interleave_examples(Result own, std::vector<Result*> examples, const std::vector<std::string>& names,
                           const Query& q, const Limits& limits,
                           const std::function<std::vector<float>(std::int64_t)>& vector_of);

}  // namespace opsis::search
