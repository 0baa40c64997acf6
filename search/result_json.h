#pragma once
// How items and search results look as JSON, wherever they are shown: the API's answers and
// `opsis search --json` print the same shapes (docs/api.md describes them). Write the result
// with json_text (core/json_text.h), which shows bytes that are not UTF-8 as U+FFFD.
#include <nlohmann/json.hpp>

#include "search/searcher.h"

namespace opsis::search {

// {id, collection, added_at, source, tags} and, for images, {paths, width, height, file_size,
// captions, image_url, thumbnail_url} (the URLs are the API's, relative to the server), for
// texts {text}.
nlohmann::json item_json(const storage::Item& item, storage::Collection collection);

// The item's shape plus its "score", and when the hit was judged its "relevance" (the chance
// it is what was asked for) and "likely_relevant" (at or above the rule's threshold).
nlohmann::json hit_json(const Hit& hit, storage::Collection collection);

// {hits, collection, k, offset, more, next_offset (when more), texts, exact_scan, candidates,
// rescored, batch, embed_ms, search_ms, no_good_match (null when not judged),
// relevance_threshold (when judged)}: what one search answered. `texts` are the query's
// text terms as they were understood ({text, weight}, after parsing "beach + sunset - people").
nlohmann::json result_json(const Result& result, const std::vector<WeightedText>& texts);

}  // namespace opsis::search
