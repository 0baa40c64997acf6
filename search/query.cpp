#include "search/query.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/utf8.h"

namespace opsis::search {

void validate_terms(const Query& q, const Limits& limits) {
    const std::size_t terms = q.texts.size() + q.images.size() + q.items.size() + q.vectors.size();
    if (terms == 0) throw input_error("query", "", "has no text, image, item or vector");
    if (terms > limits.max_terms)
        throw input_error("query", std::to_string(terms) + " terms",
                          "at most " + std::to_string(limits.max_terms) + " are allowed");
    auto finite = [](float weight, const std::string& what) {
        if (!std::isfinite(weight)) throw input_error("query weight", what, "is not a finite number");
    };
    std::size_t text_bytes = 0;
    for (const WeightedText& t : q.texts) {
        finite(t.weight, utf8::preview(t.text));
        if (t.text.size() > limits.max_text_bytes)
            throw input_error("query text", utf8::preview(t.text),
                              "longer than " + std::to_string(limits.max_text_bytes) + " bytes");
        if (auto bad = utf8::find_invalid(t.text))
            throw input_error("query text", utf8::preview(t.text), "invalid UTF-8 at byte " + std::to_string(*bad));
        text_bytes += t.text.size();
    }
    if (text_bytes > limits.max_query_text_bytes)
        throw input_error(
            "query texts", std::to_string(text_bytes) + " bytes",
            "one query's texts may hold " + std::to_string(limits.max_query_text_bytes) + " bytes together");
    for (const WeightedImage& im : q.images) finite(im.weight, im.name);
    for (const WeightedItem& it : q.items)
        finite(it.weight, std::string(storage::collection_name(it.collection)) + "/" + std::to_string(it.id));
    for (std::size_t i = 0; i < q.vectors.size(); ++i) {
        const std::string name = "vectors[" + std::to_string(i) + "]";
        finite(q.vectors[i].weight, name);
        for (float x : q.vectors[i].values)
            if (!std::isfinite(x)) throw input_error("query vector", name, "holds a number that is not finite");
    }
}

Query::Order parse_order(const std::string& name) {
    if (name == "relevance") return Query::Order::relevance;
    if (name == "date") return Query::Order::date;
    throw input_error("sort", name, "must be relevance or date");
}

void validate_paging(const Query& q, const Limits& limits) {
    if (q.k == 0 || q.k > limits.max_k)
        throw input_error("query k", std::to_string(q.k), "must be between 1 and " + std::to_string(limits.max_k));
    if (q.offset > limits.max_offset)
        throw input_error("query offset", std::to_string(q.offset),
                          "must be at most " + std::to_string(limits.max_offset));
    if (q.collapse_duplicates && q.offset + q.k > limits.max_collapsed)
        throw input_error("query offset + k", std::to_string(q.offset + q.k),
                          "near-duplicates are collapsed among the first " + std::to_string(limits.max_collapsed) +
                              " results only: page further with collapse_duplicates off");
    if (q.order == Query::Order::date && q.offset + q.k > limits.date_window)
        throw input_error("query offset + k", std::to_string(q.offset + q.k),
                          "a search ordered by date orders the best " + std::to_string(limits.date_window) +
                              " matches: page within them");
    if (q.rescore > limits.max_rescore)
        throw input_error("query rescore", std::to_string(q.rescore),
                          "must be at most " + std::to_string(limits.max_rescore) + " (0: the default)");
    if (q.effort < 0 || q.effort > limits.max_effort)
        throw input_error("query effort", std::to_string(q.effort),
                          "must be between 0 (the index's default) and " + std::to_string(limits.max_effort));
}

std::vector<std::int64_t> excluded_items(const Query& q) {
    std::vector<std::int64_t> exclude;
    for (const WeightedItem& it : q.items)
        if (it.collection == q.target && it.weight > 0) exclude.push_back(it.id);
    std::sort(exclude.begin(), exclude.end());
    exclude.erase(std::unique(exclude.begin(), exclude.end()), exclude.end());
    return exclude;
}

}  // namespace opsis::search
