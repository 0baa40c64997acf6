#pragma once
// The "what people type" benchmark: ordinary words, sentences, synonyms, plurals, Greek,
// misspellings and categories (benchmarks/queries.jsonl), searched as text over an index's
// images, each hit judged by the captions stored with it. Prints P@k and S@1 per kind of
// query, and how the best score of things the collection lacks compares with things it has.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace opsis::bench {

// The words of a caption or a term, as judging sees them: lower-cased (Unicode), split at
// every character that is neither a letter nor a digit ("T-shirt" -> "t", "shirt").
std::vector<std::string> judge_words(std::string_view text);

// Whether a word of a caption is `term_word` or its regular plural: +s; +es after s, x, z,
// ch, sh, o; y -> ies after a consonant; f/fe -> ves ("cat" -> "cats", "box" -> "boxes",
// "cherry" -> "cherries", "leaf" -> "leaves"; never "cat" -> "category").
bool word_matches(std::string_view term_word, std::string_view caption_word);

// Whether a caption is English for judging: it has letters, and fewer Greek letters than
// others. Greek captions never make an item relevant.
bool is_english_caption(std::string_view caption);

// The judging rule, a pure function: an item is relevant when one of its English captions
// contains one of the `relevant` terms, and none contains one of the `not_terms`. A term
// matches as a whole-word sequence (case-insensitive, each word also as its plural): "cat"
// matches "Cat face" and "two cats", not "category" or "scatter"; "ice cream" matches
// "ice creams", not "ice" alone. No English caption, or no relevant terms: not relevant.
bool is_relevant(const std::vector<std::string>& captions, const std::vector<std::string>& relevant,
                 const std::vector<std::string>& not_terms);

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
    std::string queries;  // default: default_queries_path()
    std::string model;    // default: the index's
    std::size_t k = 5;
    std::size_t show = 0;  // print this many hits of each query, marked relevant or not
    bool rewrite = true;   // queries brought to the model's lexicon first (search::Query::rewrite)
    std::string json_out;
};
void run_queries_bench(const QueriesBenchOptions& options);

}  // namespace opsis::bench
