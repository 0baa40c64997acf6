// Query embedding: every term of a batch of queries through its tower in one batch, then each
// query's terms weighted, summed and normalised.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/utf8.h"
#include "search/dot.h"
#include "search/searcher.h"

namespace opsis::search {
namespace {

constexpr std::size_t kTextRowsAtOnce = 256, kImagesAtOnce = 64;

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

int Searcher::part_tokens() const {
    return model_.config().text.context_length - 2;  // two places hold the start and end tokens
}

std::vector<Rewrite> Searcher::rewrites(const Query& query) const {
    std::vector<Rewrite> out;
    for (const WeightedText& t : query.texts) {
        const bool valid = !utf8::find_invalid(t.text);
        Rewrite r = query.rewrite && model_.lexicon() != nullptr && valid ? rewrite_query(*model_.lexicon(), t.text)
                                                                          : Rewrite{t.text, {}};
        // Invalid or empty texts fail later, in embedding, each query alone.
        if (valid) r.parts = split_for_context(model_.tokenizer(), r.text, part_tokens());
        r.part_tokens = part_tokens();
        out.push_back(std::move(r));
    }
    // Examples stand in for a kind on their own; beside other terms, or among texts, their
    // best matches would answer another question than the sum asks.
    const bool alone = query.examples && query.texts.size() == 1 && query.texts[0].weight > 0 &&
                       std::isfinite(query.texts[0].weight) && query.images.empty() &&
                       query.items.empty() && query.vectors.empty() && query.target == storage::Collection::images;
    if (!alone)
        for (Rewrite& r : out) r.examples.clear();
    return out;
}

std::vector<Outcome<std::vector<float>>> Searcher::embed_batch(const std::vector<Query>& queries) const {
    std::vector<std::vector<Rewrite>> rewritten;
    for (const Query& q : queries) rewritten.push_back(rewrites(q));
    return embed_rewritten(queries, rewritten);
}

std::vector<Outcome<std::vector<float>>> Searcher::embed_rewritten(
    const std::vector<Query>& queries, const std::vector<std::vector<Rewrite>>& rewritten) const {
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
            validate_terms(q, limits_);
            for (const Rewrite& t : rewritten[qi]) {
                if (t.parts.empty()) throw input_error("query text", utf8::preview(t.text), "is empty");
                text_rows[qi].push_back({chunks.size(), chunks.size() + t.parts.size()});
                chunks.insert(chunks.end(), t.parts.begin(), t.parts.end());
            }
            for (const WeightedImage& im : q.images) {
                const Tensor input =
                    model_.preprocess({decode_image(im.bytes.data(), im.bytes.size(), im.name, limits_.image)});
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
        const Tensor e =
            model_.encode_texts(std::vector<std::string>(chunks.begin() + static_cast<std::ptrdiff_t>(start),
                                                         chunks.begin() + static_cast<std::ptrdiff_t>(start + m)));
        std::copy(e.data(), e.data() + m * d, text_embeddings.begin() + static_cast<std::ptrdiff_t>(start * d));
    }
    for (std::size_t start = 0; start < images; start += kImagesAtOnce) {
        const std::size_t m = std::min(kImagesAtOnce, images - start);
        const auto first = pixels.begin() + static_cast<std::ptrdiff_t>(start * per_image);
        const Tensor e = model_.encode_images(
            Tensor({static_cast<std::int64_t>(m), static_cast<std::int64_t>(s), static_cast<std::int64_t>(s), 3},
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
            for (const WeightedVector& v : q.vectors) largest = std::max(largest, std::abs(v.weight));
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
            for (std::size_t t = 0; t < q.texts.size(); ++t)
                add(text_embeddings.data(), text_rows[qi][t], q.texts[t].weight);
            for (std::size_t m = 0; m < q.images.size(); ++m)
                add(image_embeddings.data(), image_rows[qi][m], q.images[m].weight);
            for (const WeightedItem& it : q.items) {
                const std::vector<float> v = store_.catalog().vector(it.collection, it.id);
                const std::string name =
                    std::string(storage::collection_name(it.collection)) + "/" + std::to_string(it.id);
                if (v.size() != d) throw not_found_error("item", name);
                add(v.data(), {0, 1}, it.weight);
            }
            for (std::size_t vi = 0; vi < q.vectors.size(); ++vi) {
                const std::vector<float>& v = q.vectors[vi].values;
                const std::string name = "vectors[" + std::to_string(vi) + "]";
                if (v.size() != d)
                    throw input_error(
                        "query vector", name,
                        "has " + std::to_string(v.size()) + " numbers; this index's model makes " + std::to_string(d));
                if (!(dot(v.data(), v.data(), d) > 0)) throw input_error("query vector", name, "is zero");
                add(v.data(), {0, 1}, q.vectors[vi].weight);
            }
            const float norm = std::sqrt(dot(sum.data(), sum.data(), d));
            if (!(norm > 1e-6f))
                throw input_error("query", "", "its weighted terms cancel out (the combined vector is zero)");
            for (float& x : sum) x /= norm;
            out[qi] = std::move(sum);
        } catch (...) {
            out[qi] = std::current_exception();
        }
    }
    return out;
}

std::vector<float> Searcher::embed(const Query& query) const { return take(std::move(embed_batch({query}).front())); }

}  // namespace opsis::search
