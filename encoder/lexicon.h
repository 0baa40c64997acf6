#pragma once
// A model's lexicon (lexicon.tsv beside its weights, written by data/build-lexicon): the words
// of its training captions with their counts, function words, words it never learnt mapped to
// words it knows ("puppy" -> "dog", "leaves" -> "leaf"), real words close in spelling to
// known ones (never "corrected"), known words never shortened ("forest" is not "for" +
// "est"), and kinds of thing with examples of them the model knows well. What
// search/query_rewrite.h brings a query's words to.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace opsis {

struct LexiconMapping {
    std::string target;  // one or more known words
    std::string why;     // "inflection", "synonym", "kind"
};

class Lexicon {
public:
    static constexpr const char* kFileName = "lexicon.tsv";
    // folder/lexicon.tsv, or nullopt when the folder has none (CLIP checkpoints, older models).
    // A malformed file throws opsis::Error naming the file and line.
    static std::optional<Lexicon> load(const std::string& folder);
    static Lexicon parse(std::string_view text, const std::string& name);

    // Words are looked up lower-cased.
    std::int64_t count(std::string_view word) const;  // 0 when unknown
    bool known(std::string_view word) const { return count(word) > 0; }
    bool stop(std::string_view word) const { return stop_.contains(std::string(word)); }
    bool real(std::string_view word) const { return real_.contains(std::string(word)); }
    // A known word of its own whose ending only looks like an inflection ("forest", "sweater"):
    // never brought to a shorter known word.
    bool keep(std::string_view word) const { return keep_.contains(std::string(word)); }
    const LexiconMapping* mapping(std::string_view word) const;
    // Kinds of the thing a phrase names that many training pictures are named, most pictured
    // first ("musical instrument" -> guitar, piano, trumpet, ...); nullptr when it names none.
    const std::vector<std::string>* examples(std::string_view phrase) const;
    // The most frequent known word spelt the same but for accents and final sigma.
    std::optional<std::string> same_but_accents(std::string_view word) const;
    // The known word closest in spelling, within `max_edits`: the optimal string alignment
    // distance between spelling keys (below), then between the folded letters themselves; ties
    // go to a word with the same first letter, then to the more frequent.
    std::optional<std::string> nearest(std::string_view word, int max_edits) const;
    std::size_t known_words() const { return counts_.size(); }

private:
    std::unordered_map<std::string, std::int64_t> counts_;
    std::unordered_set<std::string> stop_, real_, keep_;
    std::unordered_map<std::string, LexiconMapping> mappings_;
    std::unordered_map<std::string, std::vector<std::string>> examples_;
    struct Folded {
        std::u32string letters, key;
        std::string word;
        std::int64_t count;
    };
    std::vector<Folded> folded_;                                 // by count, most frequent first
    std::unordered_map<std::u32string, std::size_t> by_folded_;  // -> first (most frequent) in folded_
};

// Lower-case letters without accents (Greek tonos and dialytika, Latin diacritics), final
// sigma as sigma: "Ελλάδας" -> "ελλαδασ", "Café" -> "cafe".
std::u32string fold_letters(std::string_view word);
// What a word sounds like to a speller, from its folded letters: "ph" as "f", "ck" as "k", a
// doubled letter as one ("elephant" -> "elefant", "scissors" -> "scisors"). Misspellings are
// mostly these; data/corpus/lexicon.py's spelling_key is the same.
std::u32string spelling_key(const std::u32string& folded);
// Optimal string alignment distance (insertions, deletions, substitutions, adjacent
// transpositions), or max + 1 once it must exceed max.
int edit_distance(const std::u32string& a, const std::u32string& b, int max);

}  // namespace opsis
