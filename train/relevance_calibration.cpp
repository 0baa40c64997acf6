#include "train/relevance_calibration.h"

#include <algorithm>
#include <array>
#include <functional>
#include <cmath>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/splitmix.h"
#include "encoder/blas.h"
#include "eval/caption_judge.h"

namespace opsis::train {
namespace {

struct Query {
    std::string text;
    std::int32_t concept_id = 0;
    bool english = true;
};

// One judged hit of one query, in one case (present: the collection has the query's concept).
struct Example {
    float cosine = 0, z = 0;
    bool relevant = false;
    std::size_t query = 0;
    bool present = true;
    bool first = false;          // the query's best hit in this case
    bool case_relevant = false;  // some hit of the case's top is relevant
};

using Features = std::array<bool, 2>;  // which of cosine, z the rule uses

double logit(const std::array<double, 3>& w, const Example& e, const Features& f) {
    return w[0] + (f[0] ? w[1] * e.cosine : 0.0) + (f[1] ? w[2] * e.z : 0.0);
}

// Logistic regression by Newton's method (three parameters at most; a small ridge keeps the
// unused ones at zero and the step defined when the classes separate).
std::array<double, 3> fit(const std::vector<const Example*>& examples, const Features& f) {
    std::array<double, 3> w{0, 0, 0};
    for (int iteration = 0; iteration < 50; ++iteration) {
        double g[3] = {0, 0, 0}, h[3][3] = {{0}};
        for (const Example* e : examples) {
            const double x[3] = {1.0, f[0] ? e->cosine : 0.0, f[1] ? e->z : 0.0};
            const double p = 1.0 / (1.0 + std::exp(-logit(w, *e, f)));
            const double r = p - (e->case_relevant ? 1.0 : 0.0), v = p * (1 - p);
            for (int i = 0; i < 3; ++i) {
                g[i] += r * x[i];
                for (int j = 0; j < 3; ++j) h[i][j] += v * x[i] * x[j];
            }
        }
        for (int i = 0; i < 3; ++i) {
            g[i] += 1e-3 * w[i];
            h[i][i] += 1e-3;
        }
        // Solve h * step = g (Gaussian elimination with partial pivoting on 3x3).
        double a[3][4];
        for (int i = 0; i < 3; ++i) {
            for (int j = 0; j < 3; ++j) a[i][j] = h[i][j];
            a[i][3] = g[i];
        }
        for (int c = 0; c < 3; ++c) {
            int pivot = c;
            for (int r = c + 1; r < 3; ++r)
                if (std::abs(a[r][c]) > std::abs(a[pivot][c])) pivot = r;
            std::swap(a[c], a[pivot]);
            for (int r = 0; r < 3; ++r)
                if (r != c) {
                    const double m = a[r][c] / a[c][c];
                    for (int k = c; k < 4; ++k) a[r][k] -= m * a[c][k];
                }
        }
        double change = 0;
        for (int i = 0; i < 3; ++i) {
            const double step = a[i][3] / a[i][i];
            w[i] -= step;
            change = std::max(change, std::abs(step));
        }
        if (change < 1e-9) break;
    }
    return w;
}

RelevanceRule rule_of(const std::array<double, 3>& w, int background_sample) {
    RelevanceRule rule;
    rule.bias = w[0];
    rule.w_score = w[1];
    rule.w_z = w[2];
    rule.threshold = 0.5;
    rule.background_sample = background_sample;
    rule.min_background = std::min(rule.min_background, background_sample);
    return rule;
}

// The probability nine in ten of the fitted cases whose best hit is right reach (at least).
double cut_keeping_right(const std::vector<const Example*>& firsts, const std::function<double(const Example&)>& p,
                         double keep) {
    std::vector<double> right;
    for (const Example* e : firsts)
        if (e->present && e->relevant) right.push_back(p(*e));
    if (right.empty()) return 0.5;
    std::sort(right.begin(), right.end());
    const auto at = static_cast<std::size_t>(std::floor((1.0 - keep) * static_cast<double>(right.size())));
    return std::clamp(right[std::min(at, right.size() - 1)], 1e-6, 1 - 1e-6);
}

HeldOutQuality measure(const RelevanceRule& rule, const std::vector<const Example*>& examples, std::size_t queries) {
    HeldOutQuality q;
    q.rule = rule;
    double loss = 0;
    std::size_t flagged = 0, flagged_right = 0, relevant = 0, firsts = 0;
    // Query level, by each case's best hit, over the queries these examples belong to: a case
    // without a relevant hit among its top stands for a collection that lacks the thing.
    std::vector<int> any_relevant(2 * queries, 0), first_likely(2 * queries, 0), first_relevant(2 * queries, 0),
        seen(2 * queries, 0);
    for (const Example* e : examples) {
        const double p = std::clamp(rule.probability(e->cosine, e->z), 1e-12, 1 - 1e-12);
        const bool likely = p >= rule.threshold;
        flagged += likely;
        flagged_right += likely && e->relevant;
        relevant += e->relevant;
        const std::size_t k = 2 * e->query + (e->present ? 1 : 0);
        seen[k] = 1;
        any_relevant[k] |= e->relevant;
        if (e->first) {
            loss -= e->case_relevant ? std::log(p) : std::log(1 - p);
            ++firsts;
            first_likely[k] = likely;
            first_relevant[k] = e->relevant;
        }
    }
    q.log_loss = firsts == 0 ? 0 : loss / static_cast<double>(firsts);
    q.precision = flagged ? static_cast<double>(flagged_right) / static_cast<double>(flagged) : 0;
    q.recall = relevant ? static_cast<double>(flagged_right) / static_cast<double>(relevant) : 0;
    std::size_t lacking = 0, caught = 0, having = 0, wrongly = 0;
    for (std::size_t k = 0; k < seen.size(); ++k) {
        if (!seen[k]) continue;
        if (!any_relevant[k]) {
            ++lacking;
            caught += !first_likely[k];
        }
        if (first_relevant[k]) {
            ++having;
            wrongly += !first_likely[k];
        }
    }
    q.absent_caught = lacking ? static_cast<double>(caught) / static_cast<double>(lacking) : 0;
    q.present_wrongly_flagged = having ? static_cast<double>(wrongly) / static_cast<double>(having) : 0;
    return q;
}

}  // namespace

Calibration calibrate_relevance(const DualEncoder& model, const std::vector<Pair>& pairs, const Tensor& images,
                                const std::vector<bool>& ok, const CalibrationOptions& options) {
    const std::int64_t e = model.config().embed_dim;
    // The gallery: the pictures that were embedded, with what judging needs.
    std::vector<std::size_t> gallery;
    for (std::size_t i = 0; i < pairs.size(); ++i)
        if (ok[i]) gallery.push_back(i);
    const std::size_t n = gallery.size();
    if (n < 2 * options.top + 2)
        throw Error("relevance calibration: the split has " + std::to_string(n) +
                    " readable pictures, too few to judge " + std::to_string(options.top) + " hits a query");
    Tensor g({static_cast<std::int64_t>(n), e});
    std::vector<std::vector<eval::Words>> captions(n);
    for (std::size_t j = 0; j < n; ++j) {
        std::copy_n(images.data() + static_cast<std::int64_t>(gallery[j]) * e, e,
                    g.data() + static_cast<std::int64_t>(j) * e);
        captions[j] = eval::english_words(pairs[gallery[j]].english);
    }

    // One query per concept and language: its first caption.
    std::vector<Query> queries;
    std::set<std::string> texts;
    std::set<std::pair<std::int32_t, bool>> done;
    for (std::size_t j : gallery) {
        const Pair& p = pairs[j];
        if (!p.english.empty() && done.insert({p.concept_id, true}).second && texts.insert(p.english[0]).second)
            queries.push_back({p.english[0], p.concept_id, true});
        if (!p.greek.empty() && done.insert({p.concept_id, false}).second && texts.insert(p.greek[0]).second)
            queries.push_back({p.greek[0], p.concept_id, false});
    }
    if (queries.size() < 4) throw Error("relevance calibration: the split names fewer than 4 concepts");

    // The background sample: the first pictures of the split in a fixed random order (their
    // scores are among those each query computes against the whole split).
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[splitmix64(i) % (i + 1)]);
    order.resize(std::min<std::size_t>(n, static_cast<std::size_t>(options.background_sample)));

    Calibration out;
    out.queries = queries.size();
    std::vector<Example> examples;
    constexpr std::size_t kChunk = 256;
    std::vector<float> scores;
    for (std::size_t q0 = 0; q0 < queries.size(); q0 += kChunk) {
        const std::size_t m = std::min(kChunk, queries.size() - q0);
        std::vector<std::string> chunk;
        for (std::size_t i = 0; i < m; ++i) chunk.push_back(queries[q0 + i].text);
        const Tensor qv = model.encode_texts(chunk);
        scores.assign(m * n, 0);
        blas::gemm(false, true, static_cast<int>(m), static_cast<int>(n), static_cast<int>(e), 1.0f, qv.data(),
                   static_cast<int>(e), g.data(), static_cast<int>(e), 0.0f, scores.data(), static_cast<int>(n));
        std::vector<std::vector<Example>> found(m);
#pragma omp parallel for schedule(dynamic)
        for (std::size_t i = 0; i < m; ++i) {
            const Query& query = queries[q0 + i];
            const float* s = scores.data() + i * n;
            std::vector<float> sampled;
            for (std::size_t j : order) sampled.push_back(s[j]);
            const std::optional<QueryBackground> bg = background_of(sampled.data(), sampled.size());
            if (!bg) continue;
            const std::vector<eval::Words> terms = eval::terms_words({query.text});
            for (bool present : {true, false}) {
                std::vector<std::size_t> ids;
                for (std::size_t j = 0; j < n; ++j)
                    if (present || pairs[gallery[j]].concept_id != query.concept_id) ids.push_back(j);
                const std::size_t k = std::min(options.top, ids.size());
                std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                                  [&](std::size_t a, std::size_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
                for (std::size_t r = 0; r < k; ++r) {
                    const std::size_t j = ids[r];
                    const bool relevant = pairs[gallery[j]].concept_id == query.concept_id ||
                                          (query.english && eval::contains_any(captions[j], terms));
                    found[i].push_back({s[j], bg->z(s[j]), relevant, q0 + i, present, r == 0});
                }
            }
        }
        for (auto& f : found) {
            for (bool present : {true, false}) {
                bool any = false;
                for (const Example& x : f) any |= x.present == present && x.relevant;
                for (Example& x : f)
                    if (x.present == present) x.case_relevant = any;
            }
            examples.insert(examples.end(), f.begin(), f.end());
        }
    }
    out.examples = examples.size();
    for (const Example& x : examples) out.relevant_examples += x.relevant;

    // The rule is fitted on each case's best hit, labelled by whether anything in the case's
    // top is relevant: "no good match" says whether the search found the thing at all, and the
    // two cases weigh alike (one best hit each). Fitted on every hit of the top, or on whether
    // the best hit itself is right, the many wrong hits of a weak model set the cut so high that
    // nearly every search was told it had no good match (87-89% of held-out queries whose best
    // hit was right, with the default model v7).
    // Half the concepts fit, the other half measure.
    std::vector<const Example*> fitting, measuring, every;
    for (const Example& x : examples) {
        const bool fits = splitmix64(static_cast<std::uint64_t>(queries[x.query].concept_id)) % 2 == 0;
        if (!fits) measuring.push_back(&x);
        if (!x.first) continue;
        every.push_back(&x);
        if (fits) fitting.push_back(&x);
    }
    const int bs = options.background_sample;
    for (const auto& [name, f] : std::vector<std::pair<std::string, Features>>{
             {"cosine", {true, false}}, {"z", {false, true}}, {"cosine + z", {true, true}}}) {
        RelevanceRule rule = rule_of(fit(fitting, f), bs);
        rule.threshold = cut_keeping_right(
            fitting, [&](const Example& e) { return rule.probability(e.cosine, e.z); }, options.keep_right);
        HeldOutQuality q = measure(rule, measuring, queries.size());
        q.features = name;
        out.held_out.push_back(std::move(q));
    }
    out.rule = rule_of(fit(every, {true, true}), bs);
    const std::array<double, 3> cosine_only = fit(every, {true, false});
    out.rule.cosine_bias = cosine_only[0];
    out.rule.cosine_w = cosine_only[1];
    out.rule.threshold = cut_keeping_right(
        every, [&](const Example& e) { return out.rule.probability(e.cosine, e.z); }, options.keep_right);
    out.rule.cosine_threshold = cut_keeping_right(
        every, [&](const Example& e) { return out.rule.probability(e.cosine); }, options.keep_right);
    return out;
}

}  // namespace opsis::train
