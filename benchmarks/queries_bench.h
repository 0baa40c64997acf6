#pragma once
// The "what people type" benchmark: ordinary words, sentences, synonyms, plurals, Greek,
// misspellings and categories (benchmarks/queries.jsonl), searched as text over an index's
// images, each hit judged by the captions stored with it. Prints P@k and S@1 per kind of
// query, and how the best score of things the collection lacks compares with things it has.
// Hits are judged by their captions (eval/caption_judge.h).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace opsis::bench {

// The kinds of query, in the order the table prints them; "absent" asks for things the
// collection lacks (no relevant terms).
inline constexpr const char* kQueryKinds[] = {"word",  "article",     "sentence", "synonym", "plural",
                                              "greek", "misspelling", "category", "absent"};

struct BenchQuery {
    std::string query, lang, kind;
    std::vector<std::string> relevant, not_terms;
    std::size_t line = 0;  // in the file, from 1
};

// Reads and validates a queries file (one JSON object a line: "query", "kind", "relevant",
// optional "lang" and "not"; blank lines skipped). A malformed line, an unknown key or kind,
// an empty query, a non-absent query without relevant terms, an absent query with some:
// opsis::Error naming the file, the line and the reason.
std::vector<BenchQuery> read_queries(const std::string& path);

// The repository's benchmarks/queries.jsonl: under $OPSIS_SOURCE_DIR, beside the build
// folder of this executable, or beside the default model's models/ folder.
std::string default_queries_path();

struct QueriesBenchOptions {
    std::string index;
    std::string queries;    // default: default_queries_path()
    std::string model;      // default: the index's
    std::string precision;  // default: the index's (encoder/precision.h)
    std::size_t k = 5;
    std::size_t show = 0;  // print this many hits of each query, marked relevant or not
    bool rewrite = true;   // queries brought to the model's lexicon first (search::Query::rewrite)
    bool examples = true;  // kinds searched with their examples too (search::Query::examples)
    std::string json_out;
};
void run_queries_bench(const QueriesBenchOptions& options);

}  // namespace opsis::bench
