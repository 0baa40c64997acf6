#pragma once
// Judging a picture relevant to a query by its captions, the one rule shared by the queries
// benchmark (benchmarks/queries.jsonl) and relevance calibration (train/relevance_calibration.h).
#include <string>
#include <string_view>
#include <vector>

namespace opsis::eval {

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

// The same rule on words split beforehand (judge_words), for judging many items against many
// queries: each caption and term as its words.
using Words = std::vector<std::string>;
std::vector<Words> english_words(const std::vector<std::string>& captions);  // its English captions
std::vector<Words> terms_words(const std::vector<std::string>& terms);
bool contains_any(const std::vector<Words>& captions, const std::vector<Words>& terms);
bool relevant_words(const std::vector<Words>& captions, const std::vector<Words>& relevant,
                    const std::vector<Words>& not_terms);

}  // namespace opsis::eval
