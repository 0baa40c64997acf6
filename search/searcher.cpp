#include "search/searcher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iterator>
#include <set>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/utf8.h"

namespace opsis::search {
namespace {

using storage::Collection;
using Clock = std::chrono::steady_clock;
constexpr std::size_t kTextRowsAtOnce = 256, kImagesAtOnce = 64;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

float dot(const float* a, const float* b, std::size_t n) {
    float s = 0;
    for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

bool passes(const Filters& f, const storage::Item& it) {
    if (!f.sources.empty() && std::find(f.sources.begin(), f.sources.end(), it.source) == f.sources.end()) return false;
    for (const std::string& t : f.tags)
        if (std::find(it.tags.begin(), it.tags.end(), t) == it.tags.end()) return false;
    if (!f.path_prefix.empty()) {
        const bool any = std::any_of(it.paths.begin(), it.paths.end(),
                                     [&](const std::string& p) { return p.compare(0, f.path_prefix.size(), f.path_prefix) == 0; });
        if (!any) return false;
    }
    return true;
}

// A necessary condition of passes() on an item's stored JSON, tested without decoding it:
// each wanted value must appear in it as a JSON string (a path prefix as a string's start).
std::function<bool(std::string_view)> may_match(const Filters& f) {
    std::vector<std::string> any_source, every_tag;
    for (const std::string& s : f.sources) any_source.push_back(nlohmann::json(s).dump());
    for (const std::string& t : f.tags) every_tag.push_back(nlohmann::json(t).dump());
    std::string prefix = f.path_prefix.empty() ? "" : nlohmann::json(f.path_prefix).dump();
    if (!prefix.empty()) prefix.pop_back();  // the closing quote
    return [any_source, every_tag, prefix](std::string_view stored) {
        auto contains = [&](const std::string& needle) { return stored.find(needle) != std::string_view::npos; };
        if (!any_source.empty() && std::none_of(any_source.begin(), any_source.end(), contains)) return false;
        if (!std::all_of(every_tag.begin(), every_tag.end(), contains)) return false;
        return prefix.empty() || contains(prefix);
    };
}

// The ids of a superset of the items that pass the filters, read from the catalog's
// source/tag and path indexes: the shortest of the filters' lists (the sources' lists together
// count as one). Nullopt when every list has more than `few` ids, or a value is empty (the
// index does not hold empty values); the caller then scans the items.
std::optional<std::vector<std::int64_t>> filter_candidates(const storage::Catalog& catalog, Collection c, const Filters& f,
                                                           std::size_t few) {
    std::optional<std::vector<std::int64_t>> best;
    auto offer = [&](std::vector<std::int64_t> ids) {
        if (ids.size() <= few && (!best || ids.size() < best->size())) best = std::move(ids);
    };
    if (!f.sources.empty() && std::none_of(f.sources.begin(), f.sources.end(), [](const std::string& s) { return s.empty(); })) {
        std::vector<std::int64_t> any;
        for (const std::string& s : f.sources) {
            const std::vector<std::int64_t> ids = catalog.ids_with_source(c, s, few);
            any.insert(any.end(), ids.begin(), ids.end());
            if (any.size() > few) break;
        }
        std::sort(any.begin(), any.end());
        any.erase(std::unique(any.begin(), any.end()), any.end());
        offer(std::move(any));
    }
    for (const std::string& t : f.tags)
        if (!t.empty()) offer(catalog.ids_with_tag(c, t, few));
    if (!f.path_prefix.empty()) offer(c == Collection::images ? catalog.ids_under_path(f.path_prefix, few) : std::vector<std::int64_t>{});
    return best;
}

}  // namespace

std::vector<std::string> split_for_context(const Tokenizer& tokenizer, const std::string& text, int max_tokens) {
    std::vector<std::string> words;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t start = text.find_first_not_of(" \t\r\n", pos);
        if (start == std::string::npos) break;
        const std::size_t end = std::min(text.find_first_of(" \t\r\n", start), text.size());
        words.push_back(text.substr(start, end - start));
        pos = end;
    }
    std::vector<std::string> chunks;
    std::string current;
    for (const std::string& w : words) {
        const std::string candidate = current.empty() ? w : current + " " + w;
        if (current.empty() || static_cast<int>(tokenizer.encode(candidate).size()) <= max_tokens) {
            current = candidate;
        } else {
            chunks.push_back(current);
            current = w;
        }
    }
    if (!current.empty()) chunks.push_back(current);
    return chunks;
}

Searcher::Searcher(storage::IndexStore& store, const DualEncoder& model, Limits limits)
    : store_(store), model_(model), limits_(limits) {}

std::vector<std::string> Searcher::text_chunks(const std::string& text) const {
    if (text.size() > limits_.max_text_bytes)
        throw input_error("query text", utf8::preview(text), "longer than " + std::to_string(limits_.max_text_bytes) + " bytes");
    if (auto bad = utf8::find_invalid(text)) throw input_error("query text", utf8::preview(text), "invalid UTF-8 at byte " + std::to_string(*bad));
    // Two places of the context hold the start and end tokens.
    std::vector<std::string> chunks = split_for_context(model_.tokenizer(), text, model_.config().text.context_length - 2);
    if (chunks.empty()) throw input_error("query text", utf8::preview(text), "is empty");
    return chunks;
}

std::vector<Outcome<std::vector<float>>> Searcher::embed_batch(const std::vector<Query>& queries) const {
    const std::size_t n = queries.size();
    std::vector<Outcome<std::vector<float>>> out(n);
    // Every query's text chunks and images go through their towers together; each term
    // remembers where its rows are.
    struct Rows {
        std::size_t begin = 0, end = 0;
    };
    std::vector<std::string> chunks;
    // Images are decoded and brought to the tower's input one at a time, so that a batch holds
    // the small model inputs, never every full-size picture at once.
    const std::size_t s = static_cast<std::size_t>(model_.config().image.preprocess.image_size), per_image = s * s * 3;
    std::vector<float> pixels;
    std::size_t images = 0;
    std::vector<std::vector<Rows>> text_rows(n), image_rows(n);
    std::vector<bool> failed(n, false);
    for (std::size_t qi = 0; qi < n; ++qi) {
        const Query& q = queries[qi];
        const std::size_t first_chunk = chunks.size(), first_image = images;
        try {
            const std::size_t terms = q.texts.size() + q.images.size() + q.items.size();
            if (terms == 0) throw input_error("query", "", "has no text, image or item");
            if (terms > limits_.max_terms)
                throw input_error("query", std::to_string(terms) + " terms", "at most " + std::to_string(limits_.max_terms) + " are allowed");
            auto finite = [](float weight, const std::string& what) {
                if (!std::isfinite(weight)) throw input_error("query weight", what, "is not a finite number");
            };
            for (const WeightedText& t : q.texts) finite(t.weight, t.text);
            for (const WeightedImage& im : q.images) finite(im.weight, im.name);
            for (const WeightedItem& it : q.items) finite(it.weight, std::string(storage::collection_name(it.collection)) + "/" + std::to_string(it.id));
            for (const WeightedText& t : q.texts) {
                std::vector<std::string> c = text_chunks(t.text);
                text_rows[qi].push_back({chunks.size(), chunks.size() + c.size()});
                std::move(c.begin(), c.end(), std::back_inserter(chunks));
            }
            for (const WeightedImage& im : q.images) {
                const Tensor input = model_.preprocess({decode_image(im.bytes.data(), im.bytes.size(), im.name, limits_.image)});
                pixels.insert(pixels.end(), input.data(), input.data() + per_image);
                image_rows[qi].push_back({images, images + 1});
                ++images;
            }
        } catch (...) {
            out[qi] = std::current_exception();
            failed[qi] = true;
            chunks.resize(first_chunk);  // its rows would only cost time
            images = first_image;
            pixels.resize(images * per_image);
        }
    }
    // Through the towers in slices: a batch of long texts stays bounded in memory.
    const std::size_t d = static_cast<std::size_t>(model_.config().embed_dim);
    std::vector<float> text_embeddings(chunks.size() * d), image_embeddings(images * d);
    for (std::size_t start = 0; start < chunks.size(); start += kTextRowsAtOnce) {
        const std::size_t m = std::min(kTextRowsAtOnce, chunks.size() - start);
        const Tensor e = model_.encode_texts(std::vector<std::string>(chunks.begin() + static_cast<std::ptrdiff_t>(start),
                                                                      chunks.begin() + static_cast<std::ptrdiff_t>(start + m)));
        std::copy(e.data(), e.data() + m * d, text_embeddings.begin() + static_cast<std::ptrdiff_t>(start * d));
    }
    for (std::size_t start = 0; start < images; start += kImagesAtOnce) {
        const std::size_t m = std::min(kImagesAtOnce, images - start);
        const auto first = pixels.begin() + static_cast<std::ptrdiff_t>(start * per_image);
        const Tensor e = model_.encode_images(Tensor({static_cast<std::int64_t>(m), static_cast<std::int64_t>(s), static_cast<std::int64_t>(s), 3},
                                                     std::vector<float>(first, first + static_cast<std::ptrdiff_t>(m * per_image))));
        std::copy(e.data(), e.data() + m * d, image_embeddings.begin() + static_cast<std::ptrdiff_t>(start * d));
    }

    for (std::size_t qi = 0; qi < n; ++qi) {
        if (failed[qi]) continue;
        const Query& q = queries[qi];
        try {
            std::vector<float> sum(d, 0.0f);
            // Weights count relative to the largest: the direction is the same, and finite but
            // huge weights (two of 3.4e38) cannot overflow the sum into inf or NaN scores.
            float largest = 0.0f;
            for (const WeightedText& t : q.texts) largest = std::max(largest, std::abs(t.weight));
            for (const WeightedImage& im : q.images) largest = std::max(largest, std::abs(im.weight));
            for (const WeightedItem& it : q.items) largest = std::max(largest, std::abs(it.weight));
            if (!(largest > 0.0f)) throw input_error("query", "", "every term has weight 0");
            // A term's rows are summed (a long text's chunks pool), normalised, then weighted.
            auto add = [&](const float* rows, Rows r, float weight) {
                weight /= largest;
                std::vector<float> v(d, 0.0f);
                for (std::size_t row = r.begin; row < r.end; ++row)
                    for (std::size_t i = 0; i < d; ++i) v[i] += rows[row * d + i];
                const float norm = std::sqrt(dot(v.data(), v.data(), d));
                if (!(norm > 0)) return;
                for (std::size_t i = 0; i < d; ++i) sum[i] += weight * v[i] / norm;
            };
            for (std::size_t t = 0; t < q.texts.size(); ++t) add(text_embeddings.data(), text_rows[qi][t], q.texts[t].weight);
            for (std::size_t m = 0; m < q.images.size(); ++m) add(image_embeddings.data(), image_rows[qi][m], q.images[m].weight);
            for (const WeightedItem& it : q.items) {
                const std::vector<float> v = store_.catalog().vector(it.collection, it.id);
                const std::string name = std::string(storage::collection_name(it.collection)) + "/" + std::to_string(it.id);
                if (v.size() != d) throw not_found_error("item", name);
                add(v.data(), {0, 1}, it.weight);
            }
            const float norm = std::sqrt(dot(sum.data(), sum.data(), d));
            if (!(norm > 1e-6f)) throw input_error("query", "", "its weighted terms cancel out (the combined vector is zero)");
            for (float& x : sum) x /= norm;
            out[qi] = std::move(sum);
        } catch (...) {
            out[qi] = std::current_exception();
        }
    }
    return out;
}

std::vector<float> Searcher::embed(const Query& query) const {
    return take(std::move(embed_batch({query}).front()));
}

Result Searcher::search(const Query& query) const {
    return take(std::move(search_batch({query}).front()));
}

namespace {

std::size_t first_fetch(const Query& q, std::size_t need, std::size_t excluded) {
    return std::max<std::size_t>(2 * need + excluded, 64) * (q.filters.empty() ? 1 : 4);
}

std::set<std::int64_t> excluded_items(const Query& q) {  // "more like this" leaves the item itself out
    std::set<std::int64_t> exclude;
    for (const WeightedItem& it : q.items)
        if (it.collection == q.target && it.weight > 0) exclude.insert(it.id);
    return exclude;
}

}  // namespace

std::vector<Outcome<Result>> Searcher::search_batch(const std::vector<Query>& queries) const {
    std::vector<Outcome<Result>> out(queries.size());
    std::vector<Query> valid;
    std::vector<std::size_t> positions;  // of valid in queries
    for (std::size_t i = 0; i < queries.size(); ++i) {
        const Query& q = queries[i];
        try {
            if (q.k == 0 || q.k > limits_.max_k)
                throw input_error("query k", std::to_string(q.k), "must be between 1 and " + std::to_string(limits_.max_k));
            if (q.offset > limits_.max_offset)
                throw input_error("query offset", std::to_string(q.offset), "must be at most " + std::to_string(limits_.max_offset));
            if (q.collapse_duplicates && q.offset + q.k > limits_.max_collapsed)
                throw input_error("query offset + k", std::to_string(q.offset + q.k),
                                  "near-duplicates are collapsed among the first " + std::to_string(limits_.max_collapsed) +
                                      " results only: page further with collapse_duplicates off");
            std::size_t text_bytes = 0;
            for (const WeightedText& t : q.texts) text_bytes += t.text.size();
            if (text_bytes > limits_.max_query_text_bytes)
                throw input_error("query texts", std::to_string(text_bytes) + " bytes",
                                  "one query's texts may hold " + std::to_string(limits_.max_query_text_bytes) + " bytes together");
            valid.push_back(q);
            positions.push_back(i);
        } catch (...) {
            out[i] = std::current_exception();
        }
    }
    auto t0 = Clock::now();
    std::vector<Outcome<std::vector<float>>> embedded = embed_batch(valid);
    const double embed_ms = ms_since(t0);

    t0 = Clock::now();
    // Queries whose filters lead to a few thousand items (through the catalog's source/tag and
    // path indexes) score exactly those items and need no vector-index candidates.
    std::vector<std::optional<std::vector<std::int64_t>>> narrowed(valid.size());
    for (std::size_t i = 0; i < valid.size(); ++i)
        if (!valid[i].filters.empty() && limits_.directly_scored > 0 && std::holds_alternative<std::vector<float>>(embedded[i]))
            narrowed[i] = filter_candidates(store_.catalog(), valid[i].target, valid[i].filters, limits_.directly_scored);

    // One vector-index search per collection for every other query bound for it, each asking
    // for as many candidates as the neediest; each query then takes its own share.
    std::vector<std::vector<storage::SearchHit>> prefetched(valid.size());
    std::vector<bool> has_prefetch(valid.size(), false);
    for (Collection c : {Collection::images, Collection::texts}) {
        const storage::VectorIndex& index = store_.vectors(c);
        if (!index.is_trained()) continue;
        std::vector<std::size_t> members;
        std::vector<float> vectors;
        std::size_t fetch = 0;
        for (std::size_t i = 0; i < valid.size(); ++i) {
            const auto* v = std::get_if<std::vector<float>>(&embedded[i]);
            if (!v || valid[i].target != c || narrowed[i]) continue;
            members.push_back(i);
            vectors.insert(vectors.end(), v->begin(), v->end());
            fetch = std::max(fetch, first_fetch(valid[i], valid[i].offset + valid[i].k + 1, excluded_items(valid[i]).size()));
        }
        if (members.empty()) continue;
        std::vector<std::vector<storage::SearchHit>> hits = index.search(members.size(), vectors.data(), std::min(fetch, index.size()));
        for (std::size_t m = 0; m < members.size(); ++m) {
            prefetched[members[m]] = std::move(hits[m]);
            has_prefetch[members[m]] = true;
        }
    }
    const double shared_search_ms = ms_since(t0);

    for (std::size_t i = 0; i < valid.size(); ++i) {
        if (auto* error = std::get_if<std::exception_ptr>(&embedded[i])) {
            out[positions[i]] = *error;
            continue;
        }
        try {
            t0 = Clock::now();
            Result r = rank(valid[i], std::get<std::vector<float>>(embedded[i]),
                            has_prefetch[i] ? std::optional(std::move(prefetched[i])) : std::nullopt, std::move(narrowed[i]));
            r.embed_ms = embed_ms;
            r.search_ms = shared_search_ms + ms_since(t0);
            r.batch = queries.size();
            out[positions[i]] = std::move(r);
        } catch (...) {
            out[positions[i]] = std::current_exception();
        }
    }
    return out;
}

Result Searcher::rank(const Query& q, const std::vector<float>& query, std::optional<std::vector<storage::SearchHit>> prefetched,
                      std::optional<std::vector<std::int64_t>> narrowed) const {
    Result result;
    const Collection c = q.target;
    const storage::Catalog& catalog = store_.catalog();
    const storage::VectorIndex& index = store_.vectors(c);
    const std::size_t d = query.size(), need = q.offset + q.k + 1;  // one more tells whether a next page exists
    const std::set<std::int64_t> exclude = excluded_items(q);

    // Walks scored candidates best first, keeping those that pass; stops at `need`.
    std::vector<Hit> kept;
    std::vector<std::vector<float>> kept_vectors;
    std::set<std::int64_t> seen;
    auto consider = [&](std::int64_t id, float score, std::vector<float> v) {
        if (kept.size() >= need || exclude.count(id) || !seen.insert(id).second) return;
        if (q.min_score && score < *q.min_score) return;
        std::optional<storage::Item> item = catalog.item(c, id);
        if (!item || !passes(q.filters, *item)) return;
        if (q.collapse_duplicates) {
            // Unit vectors whose cosine exceeds t lie within sqrt(2 - 2t) of each other, so their
            // scores against the unit query differ by at most that: as candidates come best
            // first, only the kept results scoring within that reach can be duplicates.
            const float reach = std::sqrt(std::max(0.0f, 2.0f - 2.0f * q.duplicate_threshold)) + 1e-4f;
            const auto near = std::partition_point(kept.begin(), kept.end(), [&](const Hit& h) { return h.score > score + reach; });
            for (auto i = static_cast<std::size_t>(near - kept.begin()); i < kept.size(); ++i)
                if (dot(kept_vectors[i].data(), v.data(), d) > q.duplicate_threshold) return;
        }
        kept.push_back({id, score, std::move(*item)});
        kept_vectors.push_back(std::move(v));
    };
    const bool few = narrowed.has_value();
    auto exact_scan = [&] {
        result.exact_scan = true;
        std::vector<std::pair<float, std::int64_t>> scored;
        if (q.filters.empty()) {
            catalog.for_each_vector(c, [&](std::int64_t id, const float* v, std::size_t) {
                scored.emplace_back(dot(query.data(), v, d), id);
                return true;
            });
        } else {
            // Filters first, and only the items that pass are scored: fetching every vector
            // and item of a million to find the few that pass took 46 s.
            auto score = [&](const storage::Item& it) {
                if (exclude.count(it.id) || !passes(q.filters, it)) return;
                const std::vector<float> v = catalog.vector(c, it.id);
                if (v.size() == d) scored.emplace_back(dot(query.data(), v.data(), d), it.id);
            };
            // Up to an eighth of the collection by point reads; more by one pass over the items.
            if (!narrowed && limits_.directly_scored > 0)
                narrowed = filter_candidates(catalog, c, q.filters, std::max(limits_.directly_scored, catalog.item_count(c) / 8));
            if (narrowed) {
                for (std::int64_t id : *narrowed)
                    if (std::optional<storage::Item> it = catalog.item(c, id)) score(*it);
            } else {
                catalog.for_each_item(c, may_match(q.filters), [&](const storage::Item& it) { return score(it), true; });
            }
        }
        std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
        result.candidates = scored.size();
        for (const auto& [score, id] : scored) {
            if (kept.size() >= need || (q.min_score && score < *q.min_score)) break;
            consider(id, score, catalog.vector(c, id));
        }
    };

    if (!index.is_trained() || few) {
        exact_scan();
    } else {
        const std::size_t total = index.size();
        std::size_t fetch = first_fetch(q, need, exclude.size());
        while (true) {
            fetch = std::min(fetch, total);
            std::vector<storage::SearchHit> hits;
            if (prefetched) {  // the batch's shared search asked for at least `fetch`
                hits = std::move(*prefetched);
                prefetched.reset();
                if (hits.size() > fetch) hits.resize(fetch);
            } else {
                hits = index.search(query.data(), fetch);
            }
            // Exact re-scoring against the stored vectors: compressed indexes rank close
            // neighbours poorly, and every index's score then means the same thing.
            std::vector<std::pair<float, std::pair<std::int64_t, std::vector<float>>>> rescored;
            for (const storage::SearchHit& h : hits) {
                std::vector<float> v = catalog.vector(c, h.id);
                if (v.size() != d) continue;
                rescored.push_back({dot(query.data(), v.data(), d), {h.id, std::move(v)}});
            }
            std::sort(rescored.begin(), rescored.end(), [](const auto& a, const auto& b) {
                return a.first > b.first || (a.first == b.first && a.second.first < b.second.first);
            });
            kept.clear(), kept_vectors.clear(), seen.clear();
            for (auto& [score, rest] : rescored) consider(rest.first, score, std::move(rest.second));
            result.candidates = rescored.size();
            if (kept.size() >= need || fetch >= total) break;
            // Candidates already below the minimum score: further ones would score lower still.
            if (q.min_score && !rescored.empty() && rescored.back().first < *q.min_score) break;
            if (hits.size() < fetch) {  // the index has no more to give at this effort (IVF's nprobe)
                kept.clear(), kept_vectors.clear(), seen.clear();
                exact_scan();
                break;
            }
            if (fetch * 4 > total / 2) {  // the filters are that selective: scan everything once
                kept.clear(), kept_vectors.clear(), seen.clear();
                exact_scan();
                break;
            }
            fetch *= 4;
        }
    }
    // A next page that the same query may ask for (collapsing stops at max_collapsed results).
    result.more = kept.size() > q.offset + q.k && (!q.collapse_duplicates || q.offset + 2 * q.k <= limits_.max_collapsed);
    for (std::size_t i = q.offset; i < kept.size() && i < q.offset + q.k; ++i) result.hits.push_back(std::move(kept[i]));
    return result;
}

}  // namespace opsis::search
