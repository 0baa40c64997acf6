#pragma once
// Byte-level BPE in the scheme of OpenAI CLIP: text is cleaned (whitespace collapsed,
// lower-cased), split into words, each word's UTF-8 bytes mapped to printable symbols with an
// end-of-word marker "</w>" on the last, then merged by rank. Any UTF-8 text round-trips.
// Files: vocab.json (token -> id) and merges.txt ("#version" line, then "left right" per line).
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace opsis {

using Merge = std::pair<std::string, std::string>;

class Tokenizer {
public:
    static constexpr const char* kStartToken = "<|startoftext|>";
    static constexpr const char* kEndToken = "<|endoftext|>";

    // The vocabulary CLIP derives from merges: 256 byte symbols, the same with "</w>",
    // one token per merge (unless it repeats an earlier one), then the start and end tokens.
    static Tokenizer from_merges(const std::vector<Merge>& merges);
    static Tokenizer bytes_only() { return from_merges({}); }
    // Loads dir/vocab.json and dir/merges.txt; validates that every merge and symbol is in the
    // vocabulary and that ids are 0..V-1.
    static Tokenizer load(const std::string& dir);
    void save(const std::string& dir) const;
    // The same vocabulary, merges and cleaning: every text becomes the same ids.
    bool same_as(const Tokenizer& other) const {
        return id_to_token_ == other.id_to_token_ && merges_ == other.merges_ && cleaning_ == other.cleaning_;
    }

    // How a text is cleaned before it is split: Opsis's own models collapse whitespace and
    // lower-case (clean_text); CLIP's tokenizer first replaces HTML character references, twice
    // (html_unescape), which imported CLIP models must see too.
    enum class Cleaning { plain, clip };
    void set_cleaning(Cleaning cleaning) { cleaning_ = cleaning; }
    Cleaning cleaning() const { return cleaning_; }

    int vocab_size() const { return static_cast<int>(id_to_token_.size()); }
    std::int32_t start_token() const { return start_id_; }
    std::int32_t end_token() const { return end_id_; }
    const std::vector<Merge>& merges() const { return merges_; }

    // BPE ids of the cleaned text, without start/end. Throws opsis::Error on invalid UTF-8.
    std::vector<std::int32_t> encode(std::string_view text) const;
    // start + ids + end, truncated so that the whole fits context_length (end kept last).
    std::vector<std::int32_t> encode_for_model(std::string_view text, int context_length) const;
    // BPE-dropout (Provilkov et al., 2020) for training: at each merge step every applicable
    // merge is skipped with probability `dropout`, so a word also arrives split into smaller
    // known pieces ("cat" as "ca"+"t"). The model learns what pieces compose, which carries
    // over to words the vocabulary splits unluckily ("cats" -> "ca"+"ts", misspellings).
    // dropout 0 gives encode_for_model; the same seed gives the same ids.
    std::vector<std::int32_t> encode_for_model_sampled(std::string_view text, int context_length, float dropout,
                                                       std::uint64_t seed) const;
    std::string decode(const std::vector<std::int32_t>& ids) const;

private:
    Tokenizer() = default;
    void build_tables();
    struct MergeDropout {
        float probability;
        std::uint64_t state;  // splitmix64 stream
    };
    void bpe_word(std::string_view word, std::vector<std::int32_t>& out, MergeDropout* dropout = nullptr) const;
    std::vector<std::int32_t> with_start_and_end(const std::vector<std::int32_t>& body, int context_length) const;
    std::string cleaned(std::string_view text) const;

    std::vector<Merge> merges_;
    std::vector<std::string> id_to_token_;
    std::unordered_map<std::string, std::int32_t> token_to_id_;
    std::unordered_map<std::uint64_t, std::pair<std::int32_t, std::int32_t>> merge_rank_;  // (a,b) -> (rank, id)
    std::int32_t byte_id_[256]{};      // symbol of byte b inside a word
    std::int32_t byte_end_id_[256]{};  // symbol of byte b ending a word ("</w>")
    std::int32_t start_id_ = 0, end_id_ = 0;
    Cleaning cleaning_ = Cleaning::plain;
};

// Whitespace runs become one space, ends trimmed, Unicode lower-cased. Throws on invalid UTF-8.
std::string clean_text(std::string_view text);
// CLIP's word split: contractions, letter runs, single digits, runs of other symbols.
std::vector<std::string> split_words(std::string_view cleaned);

// The 256 printable code points that stand for bytes (GPT-2/CLIP's bytes_to_unicode).
const std::vector<char32_t>& byte_symbols();

}  // namespace opsis
