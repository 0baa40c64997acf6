#pragma once
// Caption-true text augmentation for training. The corpus captions are emoji and clip-art
// *names* ("cat face", "cat face: animal, cat, face, pet", "γάτα"), while people type "a cat",
// "a picture of a dog", "cats", "kitty" with the odd typo. This module turns one training
// caption into something closer to how people search, without making it false: it only picks
// among the caption's own phrase and keywords, adds framing words ("a picture of a ..."), puts a
// short English name in a request or sentence that holds for any picture ("show me a cat", "a
// cat for a website"), pluralises a short English noun phrase, or makes one typo. It never adds
// a word naming what a picture shows.
//
// Everything random comes from the std::mt19937_64 passed in, so a run resumed at step k sees
// the same captions it would have (train/batches.cpp derives that engine from (seed, step, j)).
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace opsis::train {

struct TextAugmentOptions {       // probabilities; 0 turns a part off
    float keyword_subset = 0.3f;  // "phrase: k1, k2" -> a non-empty subset of {phrase, k1, ...}, joined by ", " or " "
    float template_ = 0.5f;       // frame the (short) phrase: "a cat", "a picture of a cat", "cat icon"
    float plural = 0.1f;          // English: the plural of a short noun phrase ("cats", "flags of Greece")
    // The tokenizer lower-cases every caption (encoder/tokenizer.cpp, clean_text), so a case
    // change cannot reach the model: off by default, there for a case-sensitive tokenizer.
    float case_change = 0.0f;  // English: "Cat face" or "Cat Face"
    float typo = 0.03f;        // one typo (swap two adjacent letters, drop or double one) in a word of >= 5 letters
    // English: of the phrases that take the framing (a short lower-case name, or its plural), the
    // share put inside a request or a sentence whose other words hold for any picture ("show me
    // a cat", "i am looking for cats", "a cat in a simple style"), so words around the thing
    // asked for learn to weigh little. Tried before the framing templates. Off by default: at
    // 0.15 it did not help sentence queries and cost the held-out styles (models/default's README).
    float sentence = 0.0f;

    // Every part off: augment_caption returns its input unchanged.
    static TextAugmentOptions none() { return {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}; }
};

enum class CaptionLanguage { english, greek };

// One training caption, augmented. Never empty unless the caption is (then it is returned as
// it is); bytes that are not valid UTF-8 are kept and never crash it.
std::string augment_caption(const std::string& caption, CaptionLanguage language, std::mt19937_64& rng,
                            const TextAugmentOptions& options);

// ---- the pure pieces it is made of (exposed for the tests) ----------------------------------

// "phrase: k1, k2, k3" -> {"phrase", {"k1", "k2", "k3"}}, split at the last ": " (CLDR names
// such as "family: man, woman, boy" also carry one; their parts are as true as keywords).
// Without ": " the whole caption (trimmed) is the phrase and there are no keywords.
struct CaptionParts {
    std::string phrase;
    std::vector<std::string> keywords;
};
CaptionParts split_keywords(std::string_view caption);

// "a" or "an" for an English phrase, by the sound of its first word: "an apple", "a unicorn",
// "a user", "an umbrella", "a European", "an hour", "an x-ray", "an 8", "a one".
std::string english_article(std::string_view phrase);

// The plural of an English noun phrase: the head noun (the last word, or the word before
// " of "/" with "/...) is inflected: cat -> cats, box -> boxes, baby -> babies, leaf -> leaves,
// man -> men, person -> people, sheep -> sheep, "flag of Greece" -> "flags of Greece". A head
// that is not a lower-case ASCII word (a number, a name, Greek) is left as it is.
std::string english_plural(std::string_view phrase);

// Whether an English phrase may take an article in front: a short phrase (<= 5 words, no ':'
// or ',') that starts with a lower-case ASCII letter and not with an article, determiner or
// number ("cat face" yes; "the moon", "two hearts", "Greece", "8 ball" no).
bool takes_english_article(std::string_view phrase);

// The phrase ("cat", or a plural "cats") inside a request or a sentence that holds for any
// picture: "show me a cat", "i am looking for cats", "a cat in a simple style". Words that could
// make a caption false (a colour, a direction, a place, an action) are never among them.
std::string english_sentence(std::string_view phrase, bool plural, std::mt19937_64& rng);
// Every word english_sentence may add (data/corpus/splits.py keeps them out of zero-shot words).
std::vector<std::string> english_sentence_words();

// One typo in one word of >= 5 letters (English: ASCII letters only; Greek: whole code points,
// and only in valid UTF-8): two adjacent letters swapped, one dropped or one doubled. The text
// is returned unchanged when no word qualifies.
std::string with_typo(std::string_view text, CaptionLanguage language, std::mt19937_64& rng);

}  // namespace opsis::train
