// opsis search: query an index from the command line (text, images, items, weighted).
#include <cstdio>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/calendar.h"
#include "core/json_text.h"
#include "core/utf8.h"
#include "core/file_io.h"
#include "index_folder/open_index.h"
#include "cli/precision_option.h"
#include "search/filters.h"
#include "search/query_text.h"
#include "search/result_json.h"
#include "search/searcher.h"

namespace opsis::cli {
namespace {

using json = nlohmann::json;

struct SearchArgs {
    std::string index, model, in = "images";
    std::string precision;  // empty: the index's
    std::string query;
    std::vector<std::string> texts, negatives, images, negative_images;
    std::vector<std::int64_t> like;
    float negative_weight = 0.5f;
    std::size_t k = 10, offset = 0;
    double min_score = -2;
    std::vector<std::string> sources, tags;
    std::string path_prefix, after, before, camera, near, sort = "relevance";
    int effort = 0;
    bool no_collapse = false, no_rewrite = false, no_examples = false, as_json = false;
};

void run(const SearchArgs& a) {
    storage::StoreOptions only_reading;
    only_reading.read_only = true;
    OpenIndex ix = open_index(a.index, a.model, false, true, only_reading, parse_precision_if_given(a.precision));
    search::Searcher searcher(*ix.store, *ix.model);
    search::Query q;
    q.target = storage::parse_collection(a.in);
    q.texts = search::parse_query_text(a.query, a.negative_weight);
    for (const auto& t : a.texts) q.texts.push_back({t, 1.0f});
    for (const auto& t : a.negatives) q.texts.push_back({t, -a.negative_weight});
    for (const auto& p : a.images) q.images.push_back({read_file(p, searcher.limits().image.max_file_bytes), p, 1.0f});
    for (const auto& p : a.negative_images)
        q.images.push_back({read_file(p, searcher.limits().image.max_file_bytes), p, -a.negative_weight});
    for (std::int64_t id : a.like) q.items.push_back({storage::Collection::images, id, 1.0f});
    q.k = a.k;
    q.offset = a.offset;
    if (a.min_score > -2) q.min_score = static_cast<float>(a.min_score);
    q.filters.sources = a.sources;
    q.filters.tags = a.tags;
    q.filters.path_prefix = a.path_prefix;
    if (!a.after.empty()) q.filters.taken_after = search::parse_date_filter("--after", a.after);
    if (!a.before.empty()) q.filters.taken_before = search::parse_date_filter("--before", a.before);
    q.filters.camera = a.camera;
    if (!a.near.empty()) q.filters.near = search::parse_near("--near", a.near);
    q.order = search::parse_order(a.sort);
    q.collapse_duplicates = !a.no_collapse;
    q.effort = a.effort;
    q.rewrite = !a.no_rewrite;
    q.examples = !a.no_examples;
    const search::Result r = searcher.search(q);
    if (a.as_json) {
        std::printf("%s\n", json_text(search::result_json(r, q.texts), 2).c_str());
        return;
    }
    for (const search::Rewrite& rw : r.rewrites)
        if (rw.changed()) {
            std::string why;
            for (const search::WordChange& c : rw.changes)
                why += (why.empty() ? "" : ", ") + c.from + (c.to.empty() ? " dropped" : " -> " + c.to) + " (" + c.why +
                       ")";
            std::printf("searched for '%s': %s\n", utf8::escaped(rw.text).c_str(), utf8::escaped(why).c_str());
        }
    for (const search::Rewrite& rw : r.rewrites)
        if (rw.parts.size() > 1)
            std::printf("read '%s' in %zu parts of up to %d tokens (what the model reads at once), their meanings "
                        "averaged\n",
                        utf8::preview(rw.text, 60).c_str(), rw.parts.size(), rw.part_tokens);
    for (const search::Rewrite& rw : r.rewrites)
        if (!rw.examples.empty()) {
            std::string names;
            for (const std::string& e : rw.examples) names += (names.empty() ? "" : ", ") + e;
            std::printf("'%s' names a kind of thing: also searched for examples of it the model knows well: %s\n",
                        utf8::escaped(rw.text).c_str(), utf8::escaped(names).c_str());
        }
    if (r.hits.empty()) std::printf("no results\n");
    if (r.no_good_match.value_or(false) && !r.hits.empty())
        std::printf("no good match: even the best result scores below the model's relevance cut (guesses marked ?)\n");
    for (std::size_t i = 0; i < r.hits.size(); ++i) {
        const auto& h = r.hits[i];
        std::string what = utf8::escaped(!h.item.paths.empty() ? h.item.paths.front() : h.item.text);
        // The date a photo was taken (a file's time is not shown: it says when it was copied).
        if (h.item.taken && !h.item.taken->from_file) what = calendar::iso_local(h.item.taken->local) + "  " + what;
        // Judged hits: the chance each is what was asked for, a '?' where it is under the rule's threshold.
        const std::string judged = !h.relevance ? ""
                                                : std::to_string(static_cast<int>(std::lround(100 * *h.relevance))) +
                                                      "%" + (h.likely_relevant.value_or(true) ? " " : "?");
        if (!h.via.empty()) what += "  (via " + utf8::escaped(h.via) + ")";
        std::printf("%3zu  %.4f %5s #%-6lld %s\n", a.offset + i + 1, static_cast<double>(h.score), judged.c_str(),
                    static_cast<long long>(h.id), what.c_str());
    }
    std::printf("(%zu candidates%s, %zu re-scored; embed %.1f ms, search %.1f ms)\n", r.candidates,
                r.exact_scan ? " from an exact scan" : "", r.rescored, r.embed_ms, r.search_ms);
    if (r.more) std::printf("next page: --offset %zu\n", a.offset + a.k);
}

}  // namespace

void register_search(CLI::App& app) {
    auto a = std::make_shared<SearchArgs>();
    CLI::App* cmd = app.add_subcommand("search", "Search an index by text, image or item (weighted, with filters)");
    cmd->add_option("--index", a->index, "Index folder")->required();
    cmd->add_option("--query,-q", a->query,
                    "What to look for as people type it: \"beach + sunset - people\", \"2*cat + hat\"");
    cmd->add_option("--text,-t", a->texts, "Text to search for (several are summed)");
    cmd->add_option("--image,-i", a->images, "Image file to search with")->check(CLI::ExistingFile);
    cmd->add_option("--like", a->like, "Item ids of images: more like these");
    cmd->add_option("--not", a->negatives, "Text to steer away from");
    cmd->add_option("--not-image", a->negative_images, "Image to steer away from")->check(CLI::ExistingFile);
    cmd->add_option("--not-weight", a->negative_weight, "Weight of each --not term")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 10.0));
    cmd->add_option("--in", a->in, "Collection searched: images or texts")
        ->capture_default_str()
        ->check(CLI::IsMember({"images", "texts"}));
    cmd->add_option("-k", a->k, "Results per page")->capture_default_str();
    cmd->add_option("--offset", a->offset, "Skip this many results (paging)")->capture_default_str();
    cmd->add_option("--min-score", a->min_score, "Drop results below this cosine similarity")
        ->check(CLI::Range(-1.0, 1.0));
    cmd->add_option("--source", a->sources, "Only items from these sources");
    cmd->add_option("--tag", a->tags, "Only items with all these tags");
    cmd->add_option("--path-prefix", a->path_prefix, "Only images with a path starting so");
    cmd->add_option("--after", a->after, "Only photos taken on or after this local date (YYYY-MM-DD[THH:MM[:SS]])");
    cmd->add_option("--before", a->before, "Only photos taken before this local date (YYYY-MM-DD[THH:MM[:SS]])");
    cmd->add_option("--camera", a->camera,
                    "Only photos from this camera, as results show it (EXIF make and model: \"Apple iPhone 12\")");
    cmd->add_option("--near", a->near, "Only photos taken within a distance: LAT,LON,KM (e.g. 37.97,23.72,5)");
    cmd->add_option("--sort", a->sort,
                    "relevance, or date: the best matches (likely relevant ones, when judged) newest first")
        ->capture_default_str()
        ->check(CLI::IsMember({"relevance", "date"}));
    cmd->add_option("--effort", a->effort,
                    "Vector index search effort: IVF lists probed, HNSW efSearch (0: the index's default)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--no-collapse", a->no_collapse, "Keep near-duplicate results");
    cmd->add_flag("--no-rewrite", a->no_rewrite,
                  "Give the text tower the words as typed (no function words dropped, no plurals, synonyms, "
                  "accents or misspellings brought to the model's lexicon)");
    cmd->add_flag("--no-examples", a->no_examples,
                  "Search a text that names a kind of thing alone, not also with the lexicon's examples of it");
    cmd->add_option("--model,-m", a->model, "Model folder (default: the index's model)");
    add_precision_option(cmd, a->precision, "default: the precision the index was made at");
    cmd->add_flag("--json", a->as_json, "Print JSON");
    cmd->callback([a] {
        if (a->query.empty() && a->texts.empty() && a->images.empty() && a->like.empty())
            throw CLI::ValidationError("search", "give --query, --text, --image or --like");
        run(*a);
    });
}

}  // namespace opsis::cli
