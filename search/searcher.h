#pragma once
// Search over an index folder. A query (search/query.h) is embedded (query_embedding.cpp),
// its candidates come from the vector index, from the few items its filters lead to, or from
// an exact scan while the index is untrained (ranking.cpp); scores are exact (an exact index's
// own, or re-scored against the stored vectors for a compressed one); one keep pass filters
// on metadata, clears near-duplicates and pages. Several queries are planned together
// (searcher.cpp).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/outcome.h"
#include "encoder/dual_encoder.h"
#include "search/query.h"
#include "search/background.h"
#include "search/query_rewrite.h"
#include "storage/index_store.h"

namespace opsis::search {

struct Hit {
    std::int64_t id = 0;
    float score = 0;
    storage::Item item;
    // The chance it is what the query asks for, under the model's relevance rule
    // (encoder/relevance.h), and whether that reaches the rule's cut, when the query is judged
    // (see Result::no_good_match).
    std::optional<float> relevance;
    std::optional<bool> likely_relevant;
    std::string via;  // the example of the query's kind that found it (search/examples.h); empty: the query
};

struct Result {
    std::vector<Hit> hits;
    storage::Collection collection = storage::Collection::images;  // what was asked: collection, page
    std::size_t k = 0, offset = 0;
    bool more = false;              // another page exists that the same query may ask for (see max_collapsed)
    bool exact_scan = false;        // the vector index was untrained or the filters needed a full scan
    std::size_t candidates = 0;     // scored candidates looked at
    std::size_t rescored = 0;       // of them, re-scored against the stored vectors (compressed indexes)
    std::size_t batch = 1;          // queries in the batch this one was answered in (see search_batch)
    std::vector<Rewrite> rewrites;  // one per text term: what the text tower was given
    // Whether even the best result (of every page, after filters) scores below the relevance
    // rule's cut (encoder/relevance.h: where 9 in 10 right best answers score at least). Judged for text queries over
    // images when the model has a relevance rule; else nullopt, and no hit has a relevance.
    std::optional<bool> no_good_match;
    float relevance_threshold = 0;       // the rule's, when judged
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
    // once per collection and effort; this costs a fraction of answering them one by one. Each
    // query's outcome is its own: a bad query fails alone, with the error search() would throw.
    std::vector<Outcome<std::vector<float>>> embed_batch(const std::vector<Query>& queries) const;
    std::vector<Outcome<Result>> search_batch(const std::vector<Query>& queries) const;

    const Limits& limits() const { return limits_; }
    // What each text term is embedded as: rewritten when the query asks and the model has a
    // lexicon, else as typed; with examples of the kind it names when it is the query's only
    // term, searching images.
    std::vector<Rewrite> rewrites(const Query& query) const;

private:
    std::vector<Outcome<std::vector<float>>> embed_rewritten(const std::vector<Query>& queries,
                                                             const std::vector<std::vector<Rewrite>>& rewrites) const;
    int part_tokens() const;  // the most tokens of a query's text the text tower reads at once
    // Scores, filters, de-duplicates and pages one query's candidates; `prefetched` holds the
    // batch's candidates for it, if the vector index was searched for the batch; `narrowed`,
    // the few items its filters lead to, which are then scored instead.
    // `judge`: when its hits are judged (judged() below).
    Result rank(const Query& q, const std::vector<float>& query,
                std::optional<std::vector<storage::SearchHit>> prefetched,
                std::optional<std::vector<std::int64_t>> narrowed, std::optional<QueryJudge> judge) const;
    // Whether the model's relevance rule applies to the query: texts only, over images.
    bool judged(const Query& q) const;
    storage::IndexStore& store_;
    const DualEncoder& model_;
    Limits limits_;
    CollectionBackgrounds backgrounds_;
};

// Splits a text into pieces that fit the text tower's context (at word boundaries where it
// can), so that a long text is pooled from all of it rather than truncated.
std::vector<std::string> split_for_context(const Tokenizer& tokenizer, const std::string& text, int max_tokens);

// Whether a next page exists that the same query may ask for: more than its page's end was
// found, and collapsing near-duplicates (offered for the first Limits::max_collapsed results)
// still reaches that page.
bool next_page(const Query& q, std::size_t found, const Limits& limits);

// Candidates a query asks the vector index for at first, to fill `need` results after
// `excluded` are left out; filters may reject many, so they ask for more.
// A compressed index's candidates are re-scored against float16 copies (a page read each), so
// it is asked for more (Query::rescore, else default_rescore).
std::size_t first_fetch(const Query& q, std::size_t need, std::size_t excluded, bool compressed_index,
                        std::size_t indexed);
// How many candidates of a compressed index of `indexed` vectors are re-scored by default. PQ
// codes rank the true nearest lower as the collection grows, so more are needed: on 512-d
// synthetic vectors with the demo's real ones (IVF4096,PQ64, bench search --rescore), recall@10
// at 1M was 0.963 with 64 and 0.981 with 256; at 10M 0.913 with 256, 0.951 with 512 and 0.979
// with 1024, which cost 0.7 ms more a query than 256. 256 for each whole 2.5M vectors, at
// least 256 and at most 4096: 1024 at 10M.
std::size_t default_rescore(std::size_t indexed);

}  // namespace opsis::search
