#pragma once
// A query for a kind of thing ("a musical instrument") answered with examples of it: a small
// model knows the names of things far better than the names of their kinds, so the lexicon's
// examples of the kind (guitar, piano, trumpet, ...: encoder/lexicon.h) are searched beside the
// query, and the best match of each comes before the second best of any, the likely relevant
// (encoder/relevance.h) before the rest. Searcher::search_batch plans them with the batch.
#include <cstddef>
#include <vector>

#include "search/query.h"
#include "search/query_rewrite.h"
#include "search/searcher.h"

namespace opsis::search {

// The query with the first `window` results of its own page on (offset 0): what each term of
// an examples search ranks before they are interleaved.
Query examples_window(const Query& q);

// One query per example: the query's filters and options, the example as its only text, as the
// lexicon spells it (not rewritten), over the same window.
std::vector<Query> example_queries(const Query& window, const Rewrite& rewrite);

// The query's own ranked window and its examples' (in example_queries' order; a failed one
// absent, nullptr) interleaved, an item two terms found kept once, then `q`'s page of it.
// Each hit an example found says which (Hit::via).
Result interleave_examples(Result own, std::vector<Result*> examples, const std::vector<std::string>& names,
                           const Query& q, const Limits& limits);

}  // namespace opsis::search
