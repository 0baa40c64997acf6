#pragma once
// Bringing a query's words to the words the model learnt, before the text tower sees them
// (the model's lexicon, encoder/lexicon.h): function words dropped ("a dog" -> "dog"), an
// inflected word to its known base ("cats" -> "cat", "leaves" -> "leaf"), a word the model
// never learnt to a known synonym or kind ("puppy" -> "dog"), accents restored
// ("σημαια" -> "σημαία") and misspellings corrected ("elefant" -> "elephant") unless the word
// is a real one. A text that names a kind of thing brings the lexicon's examples of it. Every
// change is reported, so a user sees what was searched.
#include <string>
#include <string_view>
#include <vector>

#include "encoder/lexicon.h"

namespace opsis::search {

struct WordChange {
    std::string from, to;  // `to` empty: dropped
    std::string why;       // "function word", "inflection", "synonym", "kind", "accents", "spelling"
    bool operator==(const WordChange&) const = default;
};

struct Rewrite {
    std::string text;  // what the text tower is given: the query itself when nothing changed
    std::vector<WordChange> changes;
    // What the text tower reads: `text` cut between words into parts of up to part_tokens
    // tokens, more than one when it is longer than the tower reads at once; their embeddings are
    // averaged (Searcher::rewrites sets both; no parts for an empty or invalid text).
    std::vector<std::string> parts;
    int part_tokens = 0;
    // Kinds of the thing the text names that the model knows far better than the kind itself
    // (the lexicon's examples: "musical instrument" -> guitar, piano, ...). Searched beside the
    // text when it is a query's only term (Searcher::rewrites keeps them only then), and their
    // best matches interleaved with its own (search/examples.h).
    std::vector<std::string> examples;
    bool changed() const { return !changes.empty(); }
};

Rewrite rewrite_query(const Lexicon& lexicon, std::string_view text);

// Candidate base forms of an English word, most likely first ("boxes" -> "boxe", "box";
// "running" -> "runn", "run", "runne"); a caller keeps the first it knows.
std::vector<std::string> english_bases(const std::string& word);

}  // namespace opsis::search
