#pragma once
// What a search asks (Query), what it may cost (Limits), and the one place a query is checked
// against them: text->image, image->image, image->text, text->text, and weighted combinations
// ("beach + sunset - people", parsed by search/query_text.h).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "image/decode.h"
#include "storage/catalog.h"

namespace opsis::search {

struct WeightedText {
    std::string text;
    float weight = 1.0f;
    bool operator==(const WeightedText&) const = default;
};
struct WeightedImage {
    std::vector<unsigned char> bytes;  // an encoded image file
    std::string name;                  // for messages
    float weight = 1.0f;
};
struct WeightedVector {  // a vector in the model's space (another shard's item, a program's own)
    std::vector<float> values;
    float weight = 1.0f;
};
struct WeightedItem {  // "more like this": an indexed item's own vector
    storage::Collection collection = storage::Collection::images;
    std::int64_t id = 0;
    float weight = 1.0f;
};

// Pictures taken within `radius_km` of a point (great-circle distance).
struct Near {
    storage::GeoPoint centre;
    double radius_km = 0;
};

struct Filters {
    std::vector<std::string> sources;  // any of
    std::vector<std::string> tags;     // all of
    std::string path_prefix;           // images: some path starts with it
    // images: taken at local times in [taken_after, taken_before) (storage::TakenAt::local)
    std::optional<std::int64_t> taken_after, taken_before;
    std::string camera;        // images: exactly this camera ("Apple iPhone 12")
    std::optional<Near> near;  // images: taken near a point (those without a position fail)
    bool empty() const {
        return sources.empty() && tags.empty() && path_prefix.empty() && !taken_after && !taken_before &&
               camera.empty() && !near;
    }
};

struct Query {
    std::vector<WeightedText> texts;
    std::vector<WeightedImage> images;
    std::vector<WeightedItem> items;
    std::vector<WeightedVector> vectors;
    storage::Collection target = storage::Collection::images;
    std::size_t k = 20, offset = 0;
    std::optional<float> min_score;
    Filters filters;
    bool collapse_duplicates = true;
    float duplicate_threshold = 0.985f;  // cosine above which two results count as one picture
    int effort = 0;  // the vector index's search effort (storage::SearchParams::effort); 0: its default
    // Candidates of a compressed index (PQ codes) re-scored exactly against the stored vectors'
    // float16 copies; 0: the default (first_fetch). More finds more of the true nearest at a
    // larger collection, for a page read each. Exact indexes ignore it.
    std::size_t rescore = 0;
    // Texts brought to the words the model learnt first (search/query_rewrite.h), when the
    // model has a lexicon.
    bool rewrite = true;
    // A text that names a kind of thing also searched with the lexicon's examples of it (when
    // rewritten, and its query's only term: search/examples.h).
    bool examples = true;
    // date: the best Limits::date_window matches by relevance (only those likely relevant, when
    // the query is judged and any is), newest first by when they were taken, undated last,
    // relevance breaking ties; then paged.
    enum class Order { relevance, date } order = Order::relevance;
};
Query::Order parse_order(const std::string& name);  // "relevance" | "date"

struct Limits {
    std::size_t max_k = 500;
    std::size_t max_offset = 10000;
    std::size_t max_terms = 32;
    int max_effort = 65536;
    std::size_t max_rescore = 65536;
    std::size_t max_text_bytes = 20000;        // long texts are split into chunks and pooled, up to this
    std::size_t max_query_text_bytes = 20000;  // all the texts of one query together
    // Collapsing near-duplicates compares each candidate with the results kept so far, so it
    // is offered for the first results only (offset + k up to this); deeper pages page without it.
    std::size_t max_collapsed = 1000;
    std::size_t date_window = 500;  // how many of the best matches a date-ordered search orders
    // Filters that lead (through the catalog's source/tag and path indexes) to at most this
    // many items are answered by scoring those items exactly, without the vector index. 0
    // leaves those indexes unused: filters go through the vector index and, failing that, one
    // pass over the items.
    std::size_t directly_scored = 4096;
    ImageLimits image;
};

// The query's terms: at least one, at most max_terms, finite weights, texts within their
// byte limits and valid UTF-8, vectors of finite numbers (their length is the model's to check). Throws opsis::Error
// (invalid input) naming what is wrong.
void validate_terms(const Query& query, const Limits& limits);
// Its page and effort: k, offset, the collapse window, effort. Throws as above.
void validate_paging(const Query& query, const Limits& limits);

// Items of the target collection that a query starts from with positive weight ("more like
// this"): they are left out of its results. Sorted ascending.
std::vector<std::int64_t> excluded_items(const Query& query);

}  // namespace opsis::search
