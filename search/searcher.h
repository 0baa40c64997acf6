#pragma once
// Search over an index folder: text->image, image->image, image->text, text->text, and
// weighted combinations ("beach + sunset - people"). Candidates come from the vector index
// (or an exact scan while it is untrained), are re-scored exactly against the stored
// vectors, filtered on metadata, cleared of near-duplicates, and paged.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/outcome.h"
#include "encoder/dual_encoder.h"
#include "storage/index_store.h"

namespace opsis::search {

struct WeightedText {
    std::string text;
    float weight = 1.0f;
};
struct WeightedImage {
    std::vector<unsigned char> bytes;  // an encoded image file
    std::string name;                  // for messages
    float weight = 1.0f;
};
struct WeightedItem {  // "more like this": an indexed item's own vector
    storage::Collection collection = storage::Collection::images;
    std::int64_t id = 0;
    float weight = 1.0f;
};

struct Filters {
    std::vector<std::string> sources;  // any of
    std::vector<std::string> tags;     // all of
    std::string path_prefix;           // images: some path starts with it
    bool empty() const { return sources.empty() && tags.empty() && path_prefix.empty(); }
};

struct Query {
    std::vector<WeightedText> texts;
    std::vector<WeightedImage> images;
    std::vector<WeightedItem> items;
    storage::Collection target = storage::Collection::images;
    std::size_t k = 20, offset = 0;
    std::optional<float> min_score;
    Filters filters;
    bool collapse_duplicates = true;
    float duplicate_threshold = 0.985f;  // cosine above which two results count as one picture
};

struct Limits {
    std::size_t max_k = 500;
    std::size_t max_offset = 10000;
    std::size_t max_terms = 32;
    std::size_t max_text_bytes = 20000;  // long texts are split into chunks and pooled, up to this
    std::size_t max_query_text_bytes = 20000;  // all the texts of one query together
    // Collapsing near-duplicates compares each candidate with the results kept so far, so it
    // is offered for the first results only (offset + k up to this); deeper pages page without it.
    std::size_t max_collapsed = 1000;
    // Filters that lead (through the catalog's source/tag and path indexes) to at most this
    // many items are answered by scoring those items exactly, without the vector index. 0
    // leaves those indexes unused: filters go through the vector index and, failing that, one
    // pass over the items.
    std::size_t directly_scored = 4096;
    ImageLimits image;
};

struct Hit {
    std::int64_t id = 0;
    float score = 0;
    storage::Item item;
};

struct Result {
    std::vector<Hit> hits;
    bool more = false;           // another page exists that the same query may ask for (see max_collapsed)
    bool exact_scan = false;     // the vector index was untrained or the filters needed a full scan
    std::size_t candidates = 0;  // re-scored
    std::size_t batch = 1;       // queries in the batch this one was answered in (see search_batch)
    double embed_ms = 0, search_ms = 0;  // of the whole batch's embedding; its shared search plus this query's ranking
};

class Searcher {
public:
    Searcher(storage::IndexStore& store, const DualEncoder& model, Limits limits = {});

    // The query's unit vector: the weighted sum of its terms' embeddings, normalised.
    std::vector<float> embed(const Query& query) const;
    Result search(const Query& query) const;

    // Several queries answered together: all their texts go through the text tower in one
    // batch, all their images through the image tower in one, and the vector index is searched
    // once per collection; this costs a fraction of answering them one by one. Each query's
    // outcome is its own: a bad query fails alone, with the error search() would throw.
    std::vector<Outcome<std::vector<float>>> embed_batch(const std::vector<Query>& queries) const;
    std::vector<Outcome<Result>> search_batch(const std::vector<Query>& queries) const;

    const Limits& limits() const { return limits_; }

private:
    std::vector<std::string> text_chunks(const std::string& text) const;
    // Re-scores, filters, de-duplicates and pages one query's candidates; `prefetched` holds
    // the batch's candidates for it, if the vector index was searched for the batch;
    // `narrowed`, the few items its filters lead to, which are then scored instead.
    Result rank(const Query& q, const std::vector<float>& query, std::optional<std::vector<storage::SearchHit>> prefetched,
                std::optional<std::vector<std::int64_t>> narrowed) const;
    storage::IndexStore& store_;
    const DualEncoder& model_;
    Limits limits_;
};

// Splits a text into pieces that fit the text tower's context (at word boundaries where it
// can), so that a long text is pooled from all of it rather than truncated.
std::vector<std::string> split_for_context(const Tokenizer& tokenizer, const std::string& text, int max_tokens);

}  // namespace opsis::search
