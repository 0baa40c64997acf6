#include "benchmarks/queries_bench.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "core/file_io.h"
#include "core/utf8.h"
#include "eval/caption_judge.h"
#include "index_folder/open_index.h"
#include "search/searcher.h"

namespace opsis::bench {

using eval::english_words;
using eval::is_english_caption;
using eval::judge_words;
using eval::relevant_words;
using eval::terms_words;
using eval::Words;

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using storage::Collection;

std::vector<BenchQuery> read_queries(const std::string& path) {
    const std::string text = read_text_file(path, 64u << 20);
    std::vector<BenchQuery> out;
    std::size_t start = 0, line_no = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(start, end - start);
        start = end + 1;
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto fail = [&](const std::string& reason) {
            return input_error("queries file", path, "line " + std::to_string(line_no) + ": " + reason);
        };
        json j;
        try {
            j = json::parse(line);
        } catch (const std::exception& e) {
            throw fail(std::string("not valid JSON (") + e.what() + ")");
        }
        if (!j.is_object()) throw fail("not a JSON object");
        for (const auto& [key, value] : j.items())
            if (key != "query" && key != "lang" && key != "kind" && key != "relevant" && key != "not")
                throw fail("unknown key \"" + key + "\" (query, lang, kind, relevant, not)");
        BenchQuery q;
        q.line = line_no;
        if (!j.contains("query") || !j.at("query").is_string()) throw fail("needs \"query\" as a string");
        q.query = j.at("query").get<std::string>();
        if (judge_words(q.query).empty()) throw fail("empty query");
        if (!j.contains("kind") || !j.at("kind").is_string()) throw fail("needs \"kind\" as a string");
        q.kind = j.at("kind").get<std::string>();
        if (std::find_if(std::begin(kQueryKinds), std::end(kQueryKinds), [&](const char* k) { return q.kind == k; }) ==
            std::end(kQueryKinds)) {
            std::string kinds;
            for (const char* k : kQueryKinds) kinds += (kinds.empty() ? "" : ", ") + std::string(k);
            throw fail("unknown kind \"" + q.kind + "\" (" + kinds + ")");
        }
        q.lang = "en";
        if (j.contains("lang")) {
            if (!j.at("lang").is_string() || j.at("lang").get<std::string>().empty())
                throw fail("\"lang\" must be a non-empty string");
            q.lang = j.at("lang").get<std::string>();
        }
        auto terms = [&](const char* key) {
            std::vector<std::string> list;
            if (!j.contains(key)) return list;
            const json& v = j.at(key);
            if (!v.is_array()) throw fail(std::string("\"") + key + "\" must be a list of strings");
            for (const json& t : v) {
                if (!t.is_string()) throw fail(std::string("\"") + key + "\" must be a list of strings");
                if (judge_words(t.get<std::string>()).empty())
                    throw fail(std::string("a term of \"") + key + "\" has no words");
                list.push_back(t.get<std::string>());
            }
            return list;
        };
        q.relevant = terms("relevant");
        q.not_terms = terms("not");
        if (q.kind == "absent" && !q.relevant.empty()) throw fail("an \"absent\" query lists no relevant terms");
        if (q.kind != "absent" && q.relevant.empty()) throw fail("a \"" + q.kind + "\" query needs relevant terms");
        out.push_back(std::move(q));
    }
    if (out.empty()) throw input_error("queries file", path, "no queries");
    return out;
}

std::string default_queries_path() {
    const std::string rel = "benchmarks/queries.jsonl";
    std::error_code ec;
    if (const char* env = std::getenv("OPSIS_SOURCE_DIR"); env != nullptr && *env != '\0')
        if (fs::exists(fs::path(env) / rel, ec)) return (fs::path(env) / rel).string();
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
        for (const fs::path& candidate :
             {exe.parent_path().parent_path() / rel, exe.parent_path().parent_path() / "share/opsis" / rel})
            if (fs::exists(candidate, ec)) return candidate.string();
    try {
        const fs::path beside_models = fs::path(default_model_path()).parent_path().parent_path() / rel;
        if (fs::exists(beside_models, ec)) return beside_models.string();
    } catch (const Error&) {}
    throw input_error("queries file", rel, "not found (set OPSIS_SOURCE_DIR or pass --queries)");
}

namespace {

struct QueryResult {
    std::string searched;  // what the text tower was given
    std::size_t relevant_in_index = 0;
    std::vector<search::Hit> hits;
    std::vector<bool> relevant;  // of each hit
    double p_at_k = 0, ceiling = 0;
    bool first_relevant = false;
    std::optional<bool> no_good_match;  // when the model's relevance rule judged the query
};

// Up to `max_chars` characters of the item's English captions (its paths' file name when
// it has none).
std::string preview(const storage::Item& item, std::size_t max_chars = 100) {
    std::string s;
    for (const std::string& c : item.captions)
        if (is_english_caption(c)) s += (s.empty() ? "" : " | ") + c;
    if (s.empty() && !item.captions.empty()) s = item.captions.front();
    if (s.empty() && !item.paths.empty()) s = "(" + fs::path(item.paths.front()).filename().string() + ")";
    if (utf8::find_invalid(s)) return utf8::preview(s, max_chars);
    std::string out;
    std::size_t pos = 0, chars = 0;
    while (pos < s.size() && chars < max_chars) {
        utf8::append(out, utf8::next(s, pos));
        ++chars;
    }
    if (pos < s.size()) out += "…";
    return out;
}

std::string fmt(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", x);
    return buf;
}

}  // namespace

void run_queries_bench(const QueriesBenchOptions& o) {
    if (o.index.empty()) throw Error("bench queries: give --index DIR");
    if (o.k == 0) throw Error("bench queries: k must be at least 1");
    const std::string queries_path = o.queries.empty() ? default_queries_path() : o.queries;
    const std::vector<BenchQuery> queries = read_queries(queries_path);

    OpenIndex ix = open_index(o.index, o.model, false, true, {}, parse_precision_if_given(o.precision));
    search::Searcher searcher(*ix.store, *ix.model);
    const storage::Catalog& catalog = ix.store->catalog();
    const std::size_t images = catalog.item_count(Collection::images);
    const std::size_t k_eff = std::max<std::size_t>(1, std::min(o.k, images));

    // How many items of the index each query's terms make relevant (none: not judged).
    std::vector<std::vector<Words>> relevant(queries.size()), excluded(queries.size());
    for (std::size_t i = 0; i < queries.size(); ++i) {
        relevant[i] = terms_words(queries[i].relevant);
        excluded[i] = terms_words(queries[i].not_terms);
    }
    std::vector<QueryResult> results(queries.size());
    catalog.for_each_item(Collection::images, [&](const storage::Item& item) {
        const std::vector<Words> captions = english_words(item.captions);
        if (!captions.empty())
            for (std::size_t i = 0; i < queries.size(); ++i)
                if (relevant_words(captions, relevant[i], excluded[i])) ++results[i].relevant_in_index;
        return true;
    });

    // The searches, in batches, as the server answers concurrent queries.
    const std::size_t fetch = std::max(o.k, o.show);
    constexpr std::size_t kBatch = 32;
    for (std::size_t b0 = 0; b0 < queries.size(); b0 += kBatch) {
        std::vector<search::Query> batch;
        for (std::size_t i = b0; i < std::min(queries.size(), b0 + kBatch); ++i) {
            search::Query q;
            q.texts.push_back({queries[i].query, 1.0f});
            q.target = Collection::images;
            q.k = fetch;
            q.rewrite = o.rewrite;
            q.examples = o.examples;
            batch.push_back(std::move(q));
        }
        std::vector<Outcome<search::Result>> outcomes = searcher.search_batch(batch);
        for (std::size_t j = 0; j < outcomes.size(); ++j) {
            const BenchQuery& bq = queries[b0 + j];
            QueryResult& r = results[b0 + j];
            try {
                search::Result found = take(std::move(outcomes[j]));
                r.hits = std::move(found.hits);
                r.searched = found.rewrites.front().text;
                r.no_good_match = found.no_good_match;
            } catch (const std::exception& e) {
                throw input_error("queries file", queries_path,
                                  "line " + std::to_string(bq.line) + ": query \"" + bq.query + "\": " + e.what());
            }
            std::size_t good = 0;
            for (std::size_t h = 0; h < r.hits.size(); ++h) {
                const bool rel =
                    relevant_words(english_words(r.hits[h].item.captions), relevant[b0 + j], excluded[b0 + j]);
                r.relevant.push_back(rel);
                if (h < o.k && rel) ++good;
            }
            r.p_at_k = static_cast<double>(good) / static_cast<double>(k_eff);
            r.ceiling = static_cast<double>(std::min(k_eff, r.relevant_in_index)) / static_cast<double>(k_eff);
            r.first_relevant = !r.relevant.empty() && r.relevant.front();
        }
    }

    // Figures per kind and overall (judged present queries), and the absent queries' scores.
    struct Figures {
        std::size_t queries = 0, judged = 0;
        double p = 0, s = 0, ceiling = 0;
    };
    std::map<std::string, Figures> by_kind;
    Figures all;
    std::vector<double> absent_top1, present_top1, correct_top1;
    std::vector<std::size_t> not_judged;
    for (std::size_t i = 0; i < queries.size(); ++i) {
        const BenchQuery& q = queries[i];
        const QueryResult& r = results[i];
        Figures& f = by_kind[q.kind];
        ++f.queries;
        const std::optional<double> top1 = r.hits.empty() ? std::nullopt : std::optional<double>(r.hits.front().score);
        if (q.kind == "absent") {
            if (top1) absent_top1.push_back(*top1);
            continue;
        }
        ++all.queries;
        if (r.relevant_in_index == 0) {
            not_judged.push_back(i);
            continue;
        }
        for (Figures* g : {&f, &all}) {
            ++g->judged;
            g->p += r.p_at_k;
            g->s += r.first_relevant ? 1.0 : 0.0;
            g->ceiling += r.ceiling;
        }
        if (top1) {
            present_top1.push_back(*top1);
            if (r.first_relevant) correct_top1.push_back(*top1);
        }
    }
    auto mean = [](const std::vector<double>& v) {
        double s = 0;
        for (double x : v) s += x;
        return v.empty() ? 0.0 : s / static_cast<double>(v.size());
    };
    // How often an absent query's best score is below a correctly answered present query's:
    // 1 means a score threshold could tell them apart, 0.5 means the scores say nothing.
    std::optional<double> separation;
    if (!absent_top1.empty() && !correct_top1.empty()) {
        double below = 0;
        for (double a : absent_top1)
            for (double c : correct_top1) below += a < c ? 1.0 : a == c ? 0.5 : 0.0;
        separation = below / static_cast<double>(absent_top1.size() * correct_top1.size());
    }

    // The relevance flag (the model's rule, encoder/relevance.h) against the judging: its hits
    // "likely relevant" among the top k of judged present queries, and its "no good match".
    struct Flag {
        std::size_t hits = 0, flagged = 0, flagged_relevant = 0, relevant = 0;
        std::size_t absent = 0, absent_caught = 0;  // absent queries told "no good match"
        std::size_t right = 0, right_flagged = 0;   // first hit relevant, yet told so
        std::size_t wrong = 0, wrong_caught = 0;    // first hit not relevant, and told so
    } flag;
    bool flag_judged = false;
    for (std::size_t i = 0; i < queries.size(); ++i) {
        const QueryResult& r = results[i];
        if (!r.no_good_match) continue;
        flag_judged = true;
        if (queries[i].kind == "absent") {
            ++flag.absent;
            flag.absent_caught += *r.no_good_match;
            continue;
        }
        if (r.relevant_in_index == 0) continue;
        (r.first_relevant ? flag.right : flag.wrong)++;
        (r.first_relevant ? flag.right_flagged : flag.wrong_caught) += *r.no_good_match;
        for (std::size_t h = 0; h < std::min(o.k, r.hits.size()); ++h) {
            const bool likely = r.hits[h].likely_relevant.value_or(false);
            ++flag.hits;
            flag.flagged += likely;
            flag.flagged_relevant += likely && r.relevant[h];
            flag.relevant += r.relevant[h];
        }
    }
    auto share = [](std::size_t a, std::size_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; };

    // --show: each query's hits, marked.
    if (o.show > 0) {
        for (std::size_t i = 0; i < queries.size(); ++i) {
            const BenchQuery& q = queries[i];
            const QueryResult& r = results[i];
            std::printf("\n[%s] %s", q.kind.c_str(), q.query.c_str());
            if (r.searched != q.query) std::printf(" -> %s", r.searched.c_str());
            if (q.kind == "absent")
                std::printf("   (absent)\n");
            else if (r.relevant_in_index == 0)
                std::printf("   (not judged: the index has nothing relevant)\n");
            else
                std::printf("   P@%zu %.2f, first hit %s, %zu relevant in the index\n", o.k, r.p_at_k,
                            r.first_relevant ? "✓" : "✗", r.relevant_in_index);
            if (r.no_good_match.value_or(false)) std::printf("  (told: no good match)\n");
            for (std::size_t h = 0; h < std::min(o.show, r.hits.size()); ++h) {
                const std::string chance =
                    r.hits[h].relevance ? std::to_string(static_cast<int>(100 * *r.hits[h].relevance + 0.5)) + "%" : "";
                std::printf("  %2zu %s %.3f %4s  %s\n", h + 1,
                            q.kind == "absent" ? " "
                            : r.relevant[h]    ? "✓"
                                               : "✗",
                            r.hits[h].score, chance.c_str(), preview(r.hits[h].item).c_str());
            }
        }
        std::printf("\n");
    }

    const std::string P = "P@" + std::to_string(o.k);
    std::printf("what people type: %zu queries from %s on %s (%zu images, model %s), k = %zu\n", queries.size(),
                queries_path.c_str(), o.index.c_str(), images, storage::describe(ix.store->model()).c_str(), o.k);
    const Lexicon* lexicon = ix.model->lexicon();
    std::size_t rewritten = 0;
    for (std::size_t i = 0; i < queries.size(); ++i) rewritten += results[i].searched != queries[i].query ? 1 : 0;
    if (!o.rewrite || lexicon == nullptr)
        std::printf("queries searched as typed (%s)\n", o.rewrite ? "the model has no lexicon" : "--no-rewrite");
    else
        std::printf(
            "queries brought to the model's lexicon of %zu words first: %zu of %zu changed (--show lists them)%s\n",
            lexicon->known_words(), rewritten, queries.size(),
            o.examples ? "" : "; kinds searched alone, without examples (--no-examples)");
    std::printf("%-13s %8s %8s %8s %8s %9s\n", "kind", "queries", "judged", P.c_str(), "S@1", (P + " max").c_str());
    auto row = [&](const std::string& name, const Figures& f) {
        if (f.judged == 0) {
            std::printf("%-13s %8zu %8zu %8s %8s %9s\n", name.c_str(), f.queries, f.judged, "-", "-", "-");
            return;
        }
        const double n = static_cast<double>(f.judged);
        std::printf("%-13s %8zu %8zu %8.3f %8.3f %9.3f\n", name.c_str(), f.queries, f.judged, f.p / n, f.s / n,
                    f.ceiling / n);
    };
    for (const char* kind : kQueryKinds)
        if (std::string(kind) != "absent" && by_kind.count(kind)) row(kind, by_kind[kind]);
    row("all", all);
    if (!not_judged.empty()) {
        std::printf("not judged: %zu queries (the index has nothing relevant), left out of %s and S@1:",
                    not_judged.size(), P.c_str());
        for (std::size_t n = 0; n < std::min<std::size_t>(not_judged.size(), 20); ++n)
            std::printf(" \"%s\"", queries[not_judged[n]].query.c_str());
        std::printf(not_judged.size() > 20 ? " ... (all of them in --json)\n" : "\n");
    }
    const std::size_t absent_n = by_kind.count("absent") ? by_kind["absent"].queries : 0;
    if (absent_n > 0 || !present_top1.empty()) {
        std::printf("top-1 score: absent things (%zu queries) ", absent_n);
        if (absent_top1.empty())
            std::printf("-");
        else
            std::printf("mean %.3f, max %.3f", mean(absent_top1),
                        *std::max_element(absent_top1.begin(), absent_top1.end()));
        std::printf("; present things mean %s (%zu judged), %s when the first hit is relevant (%zu)\n",
                    present_top1.empty() ? "-" : fmt(mean(present_top1)).c_str(), present_top1.size(),
                    correct_top1.empty() ? "-" : fmt(mean(correct_top1)).c_str(), correct_top1.size());
        if (separation)
            std::printf("an absent thing's top-1 score is below a correctly found present thing's in %.1f%% of pairs\n",
                        100.0 * *separation);
    }

    if (flag_judged) {
        std::printf(
            "relevance flag (the model's rule): of the top-%zu hits of judged queries, %.1f%% of those it calls "
            "likely relevant are (precision, %zu hits), %.1f%% of the relevant ones it calls so (recall, %zu)\n",
            o.k, 100 * share(flag.flagged_relevant, flag.flagged), flag.flagged,
            100 * share(flag.flagged_relevant, flag.relevant), flag.relevant);
        std::printf(
            "\"no good match\": %zu of %zu absent queries (%.1f%%); %zu of %zu queries whose first hit is wrong "
            "(%.1f%%); wrongly, %zu of %zu whose first hit is right (%.1f%%)\n",
            flag.absent_caught, flag.absent, 100 * share(flag.absent_caught, flag.absent), flag.wrong_caught,
            flag.wrong, 100 * share(flag.wrong_caught, flag.wrong), flag.right_flagged, flag.right,
            100 * share(flag.right_flagged, flag.right));
    } else {
        std::printf("relevance flag: not judged (the model has no relevance rule: opsis model calibrate)\n");
    }

    if (!o.json_out.empty()) {
        auto figures = [&](const Figures& f) {
            json j{{"queries", f.queries}, {"judged", f.judged}};
            const double n = static_cast<double>(f.judged);
            j["p_at_k"] = f.judged ? json(f.p / n) : json(nullptr);
            j["s_at_1"] = f.judged ? json(f.s / n) : json(nullptr);
            j["p_at_k_max"] = f.judged ? json(f.ceiling / n) : json(nullptr);
            return j;
        };
        json out{{"index", o.index},
                 {"queries_file", queries_path},
                 {"model", ix.store->model().name},
                 {"images", images},
                 {"k", o.k},
                 {"rewrite", o.rewrite && lexicon != nullptr},
                 {"examples", o.rewrite && o.examples && lexicon != nullptr}};
        json kinds = json::object();
        for (const char* kind : kQueryKinds)
            if (by_kind.count(kind)) kinds[kind] = figures(by_kind[kind]);
        out["kinds"] = kinds;
        out["all"] = figures(all);
        json nj = json::array();
        for (std::size_t i : not_judged) nj.push_back(queries[i].query);
        out["not_judged"] = nj;
        auto or_null = [](const std::vector<double>& v, double x) { return v.empty() ? json(nullptr) : json(x); };
        out["absent"] = {{"queries", absent_n},
                         {"top1_mean", or_null(absent_top1, mean(absent_top1))},
                         {"top1_max", or_null(absent_top1, absent_top1.empty() ? 0.0
                                                                               : *std::max_element(absent_top1.begin(),
                                                                                                   absent_top1.end()))},
                         {"present_top1_mean", or_null(present_top1, mean(present_top1))},
                         {"present_relevant_top1_mean", or_null(correct_top1, mean(correct_top1))},
                         {"separation", separation ? json(*separation) : json(nullptr)}};
        out["relevance_flag"] = !flag_judged ? json(nullptr)
                                             : json{{"hit_precision", share(flag.flagged_relevant, flag.flagged)},
                                                    {"hit_recall", share(flag.flagged_relevant, flag.relevant)},
                                                    {"hits_flagged", flag.flagged},
                                                    {"hits_relevant", flag.relevant},
                                                    {"absent_caught", share(flag.absent_caught, flag.absent)},
                                                    {"absent_queries", flag.absent},
                                                    {"wrong_first_caught", share(flag.wrong_caught, flag.wrong)},
                                                    {"wrong_first_queries", flag.wrong},
                                                    {"right_first_flagged", share(flag.right_flagged, flag.right)},
                                                    {"right_first_queries", flag.right}};
        json per = json::array();
        for (std::size_t i = 0; i < queries.size(); ++i) {
            const BenchQuery& q = queries[i];
            const QueryResult& r = results[i];
            const bool judged = q.kind != "absent" && r.relevant_in_index > 0;
            json j{{"line", q.line},
                   {"query", q.query},
                   {"lang", q.lang},
                   {"kind", q.kind},
                   {"relevant_in_index", r.relevant_in_index},
                   {"judged", judged},
                   {"searched", r.searched}};
            j["p_at_k"] = judged ? json(r.p_at_k) : json(nullptr);
            j["first_relevant"] = judged ? json(r.first_relevant) : json(nullptr);
            j["top1_score"] = r.hits.empty() ? json(nullptr) : json(r.hits.front().score);
            j["no_good_match"] = r.no_good_match ? json(*r.no_good_match) : json(nullptr);
            json hits = json::array();
            for (std::size_t h = 0; h < r.hits.size(); ++h)
                hits.push_back({{"id", r.hits[h].id},
                                {"score", r.hits[h].score},
                                {"relevance", r.hits[h].relevance ? json(*r.hits[h].relevance) : json(nullptr)},
                                {"relevant", static_cast<bool>(r.relevant[h])},
                                {"caption", preview(r.hits[h].item, 200)}});
            j["hits"] = hits;
            per.push_back(j);
        }
        out["per_query"] = per;
        write_file_atomic(o.json_out, out.dump(2));
    }
}

}  // namespace opsis::bench
