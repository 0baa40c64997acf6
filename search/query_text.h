#pragma once
// The query language people type, parsed once for the CLI (--query), the API (the "q" field)
// and the web UI (which sends what was typed as "q"):
//
//   beach + sunset - people        three text terms, "people" steered away from
//   -people cat                    a leading minus makes the first term negative
//   2*beach + sunset - 0.1*people  a term may carry its own weight, a plain decimal before '*'
//
// Operators are '+', '-' or U+2212 with white space on both sides, so "t-shirt", "x-ray" and
// "+1" stay inside their words. A term's weight is its sign times its own factor, or, without
// one, 1 for a plus and `negative_weight` for a minus (what --not-weight says for --not).
#include <string_view>
#include <vector>

#include "search/searcher.h"

namespace opsis::search {

// Throws opsis::Error (invalid input) naming the query and the reason: invalid UTF-8, an empty
// term ("beach + + sunset", "beach +"), a weight that is not a finite decimal. A text of only
// white space gives no terms.
std::vector<WeightedText> parse_query_text(std::string_view text, float negative_weight = 0.5f);

}  // namespace opsis::search
