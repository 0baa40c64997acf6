#include "search/searcher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/utf8.h"

namespace opsis::search {
namespace {

using storage::Collection;
using Clock = std::chrono::steady_clock;
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

std::vector<float> Searcher::embed_text(const std::string& text) const {
    if (text.size() > limits_.max_text_bytes)
        throw input_error("query text", utf8::preview(text), "longer than " + std::to_string(limits_.max_text_bytes) + " bytes");
    if (auto bad = utf8::find_invalid(text)) throw input_error("query text", utf8::preview(text), "invalid UTF-8 at byte " + std::to_string(*bad));
    // Two places of the context hold the start and end tokens.
    std::vector<std::string> chunks = split_for_context(model_.tokenizer(), text, model_.config().text.context_length - 2);
    if (chunks.empty()) throw input_error("query text", utf8::preview(text), "is empty");
    const Tensor e = model_.encode_texts(chunks);
    const std::size_t d = static_cast<std::size_t>(e.dim(1));
    std::vector<float> v(d, 0.0f);
    for (std::size_t c = 0; c < chunks.size(); ++c)
        for (std::size_t i = 0; i < d; ++i) v[i] += e.data()[c * d + i];
    return v;  // the caller normalises the sum
}

std::vector<float> Searcher::embed(const Query& q) const {
    const std::size_t terms = q.texts.size() + q.images.size() + q.items.size();
    if (terms == 0) throw input_error("query", "", "has no text, image or item");
    if (terms > limits_.max_terms)
        throw input_error("query", std::to_string(terms) + " terms", "at most " + std::to_string(limits_.max_terms) + " are allowed");
    const std::size_t d = static_cast<std::size_t>(model_.config().embed_dim);
    std::vector<float> sum(d, 0.0f);
    auto add = [&](std::vector<float> v, float weight, const std::string& what) {
        if (!std::isfinite(weight)) throw input_error("query weight", what, "is not a finite number");
        const float n = std::sqrt(dot(v.data(), v.data(), d));
        if (!(n > 0)) return;
        for (std::size_t i = 0; i < d; ++i) sum[i] += weight * v[i] / n;
    };
    for (const WeightedText& t : q.texts) add(embed_text(t.text), t.weight, t.text);
    if (!q.images.empty()) {
        std::vector<RgbaImage> decoded;
        for (const WeightedImage& im : q.images) decoded.push_back(decode_image(im.bytes.data(), im.bytes.size(), im.name, limits_.image));
        const Tensor e = model_.encode_images(model_.preprocess(decoded));
        for (std::size_t i = 0; i < q.images.size(); ++i)
            add(std::vector<float>(e.data() + i * d, e.data() + (i + 1) * d), q.images[i].weight, q.images[i].name);
    }
    for (const WeightedItem& it : q.items) {
        std::vector<float> v = store_.catalog().vector(it.collection, it.id);
        const std::string name = std::string(storage::collection_name(it.collection)) + "/" + std::to_string(it.id);
        if (v.empty()) throw input_error("item", name, "not found");
        add(std::move(v), it.weight, name);
    }
    const float n = std::sqrt(dot(sum.data(), sum.data(), d));
    if (!(n > 1e-6f)) throw input_error("query", "", "its weighted terms cancel out (the combined vector is zero)");
    for (float& x : sum) x /= n;
    return sum;
}

Result Searcher::search(const Query& q) const {
    if (q.k == 0 || q.k > limits_.max_k)
        throw input_error("query k", std::to_string(q.k), "must be between 1 and " + std::to_string(limits_.max_k));
    if (q.offset > limits_.max_offset)
        throw input_error("query offset", std::to_string(q.offset), "must be at most " + std::to_string(limits_.max_offset));
    Result result;
    auto t0 = Clock::now();
    const std::vector<float> query = embed(q);
    result.embed_ms = ms_since(t0);
    t0 = Clock::now();

    const Collection c = q.target;
    const storage::Catalog& catalog = store_.catalog();
    const storage::VectorIndex& index = store_.vectors(c);
    const std::size_t d = query.size(), need = q.offset + q.k + 1;  // one more tells whether a next page exists
    std::set<std::int64_t> exclude;
    for (const WeightedItem& it : q.items)
        if (it.collection == c && it.weight > 0) exclude.insert(it.id);

    // Walks scored candidates best first, keeping those that pass; stops at `need`.
    std::vector<Hit> kept;
    std::vector<std::vector<float>> kept_vectors;
    std::set<std::int64_t> seen;
    auto consider = [&](std::int64_t id, float score, std::vector<float> v) {
        if (kept.size() >= need || exclude.count(id) || !seen.insert(id).second) return;
        if (q.min_score && score < *q.min_score) return;
        std::optional<storage::Item> item = catalog.item(c, id);
        if (!item || !passes(q.filters, *item)) return;
        if (q.collapse_duplicates)
            for (const auto& other : kept_vectors)
                if (dot(other.data(), v.data(), d) > q.duplicate_threshold) return;
        kept.push_back({id, score, std::move(*item)});
        kept_vectors.push_back(std::move(v));
    };
    auto exact_scan = [&] {
        result.exact_scan = true;
        std::vector<std::pair<float, std::int64_t>> scored;
        catalog.for_each_vector(c, [&](std::int64_t id, const float* v, std::size_t) {
            scored.emplace_back(dot(query.data(), v, d), id);
            return true;
        });
        std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
        result.candidates = scored.size();
        for (const auto& [score, id] : scored) {
            if (kept.size() >= need || (q.min_score && score < *q.min_score)) break;
            consider(id, score, catalog.vector(c, id));
        }
    };

    if (!index.is_trained()) {
        exact_scan();
    } else {
        const std::size_t total = index.size();
        std::size_t fetch = std::max<std::size_t>(2 * need + exclude.size(), 64) * (q.filters.empty() ? 1 : 4);
        while (true) {
            fetch = std::min(fetch, total);
            std::vector<storage::SearchHit> hits = index.search(query.data(), fetch);
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
            if (fetch * 4 > total / 2) {  // the filters are that selective: scan everything once
                kept.clear(), kept_vectors.clear(), seen.clear();
                exact_scan();
                break;
            }
            fetch *= 4;
        }
    }
    result.more = kept.size() > q.offset + q.k;
    for (std::size_t i = q.offset; i < kept.size() && i < q.offset + q.k; ++i) result.hits.push_back(std::move(kept[i]));
    result.search_ms = ms_since(t0);
    return result;
}

}  // namespace opsis::search
