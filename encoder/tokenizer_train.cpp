#include "encoder/tokenizer_train.h"

#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/utf8.h"

namespace opsis {
namespace {

using Pair = std::pair<std::int32_t, std::int32_t>;

struct PairHash {
    std::size_t operator()(const Pair& p) const {
        return std::hash<std::uint64_t>()((static_cast<std::uint64_t>(static_cast<std::uint32_t>(p.first)) << 32) |
                                          static_cast<std::uint32_t>(p.second));
    }
};

struct Candidate {
    std::int64_t count;
    Pair pair;
    bool operator<(const Candidate& o) const {  // max-heap on count, then smaller ids first
        if (count != o.count) return count < o.count;
        return pair > o.pair;
    }
};

}  // namespace

Tokenizer train_bpe(const std::vector<std::string>& texts, const BpeTrainingOptions& options) {
    const int base = 256 * 2 + 2;
    if (options.vocab_size < base)
        throw Error("tokenizer training: vocab size must be at least " + std::to_string(base));

    // Word frequencies; std::map keeps the word order (and so the result) deterministic.
    std::map<std::string, std::int64_t> word_counts;
    for (const std::string& text : texts)
        for (std::string& word : split_words(clean_text(text))) ++word_counts[std::move(word)];

    // Symbols are strings while training; the tokenizer assigns ids at the end.
    std::vector<std::string> symbol_text;
    std::unordered_map<std::string, std::int32_t> symbol_id;
    auto intern = [&](const std::string& s) {
        const auto [it, fresh] = symbol_id.emplace(s, static_cast<std::int32_t>(symbol_text.size()));
        if (fresh) symbol_text.push_back(s);
        return it->second;
    };
    std::vector<std::vector<std::int32_t>> words;
    std::vector<std::int64_t> freq;
    for (const auto& [word, count] : word_counts) {
        std::vector<std::int32_t> symbols;
        for (std::size_t i = 0; i < word.size(); ++i) {
            std::string s;
            utf8::append(s, byte_symbols()[static_cast<unsigned char>(word[i])]);
            if (i + 1 == word.size()) s += "</w>";
            symbols.push_back(intern(s));
        }
        words.push_back(std::move(symbols));
        freq.push_back(count);
    }

    std::unordered_map<Pair, std::int64_t, PairHash> pair_count;
    std::unordered_map<Pair, std::vector<std::int32_t>, PairHash> pair_words;
    for (std::size_t w = 0; w < words.size(); ++w)
        for (std::size_t i = 0; i + 1 < words[w].size(); ++i) {
            const Pair p{words[w][i], words[w][i + 1]};
            pair_count[p] += freq[w];
            auto& list = pair_words[p];
            if (list.empty() || list.back() != static_cast<std::int32_t>(w))
                list.push_back(static_cast<std::int32_t>(w));
        }
    std::priority_queue<Candidate> heap;
    for (const auto& [p, c] : pair_count) heap.push({c, p});

    std::vector<Merge> merges;
    std::unordered_set<std::string> vocab;  // tokens created by merges so far
    int vocab_size = base;
    while (vocab_size < options.vocab_size && !heap.empty()) {
        const Candidate top = heap.top();
        heap.pop();
        const auto current = pair_count.find(top.pair);
        if (current == pair_count.end() || current->second != top.count) continue;  // stale entry
        if (top.count < options.min_frequency) break;
        const Pair best = top.pair;
        const std::string merged = symbol_text[best.first] + symbol_text[best.second];
        merges.emplace_back(symbol_text[best.first], symbol_text[best.second]);
        if (vocab.insert(merged).second) ++vocab_size;
        const std::int32_t merged_id = intern(merged);

        std::unordered_set<Pair, PairHash> touched;
        const std::vector<std::int32_t> affected = std::move(pair_words[best]);
        pair_words.erase(best);
        for (const std::int32_t w : affected) {
            auto& symbols = words[w];
            bool present = false;
            for (std::size_t i = 0; i + 1 < symbols.size() && !present; ++i)
                present = symbols[i] == best.first && symbols[i + 1] == best.second;
            if (!present) continue;
            for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
                const Pair p{symbols[i], symbols[i + 1]};
                pair_count[p] -= freq[w];
                touched.insert(p);
            }
            std::vector<std::int32_t> next;
            next.reserve(symbols.size());
            for (std::size_t i = 0; i < symbols.size();) {
                if (i + 1 < symbols.size() && symbols[i] == best.first && symbols[i + 1] == best.second) {
                    next.push_back(merged_id);
                    i += 2;
                } else {
                    next.push_back(symbols[i++]);
                }
            }
            symbols = std::move(next);
            for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
                const Pair p{symbols[i], symbols[i + 1]};
                pair_count[p] += freq[w];
                touched.insert(p);
                if (p.first == merged_id || p.second == merged_id) {
                    auto& list = pair_words[p];
                    if (list.empty() || list.back() != w) list.push_back(w);
                }
            }
        }
        for (const Pair& p : touched) {
            const auto it = pair_count.find(p);
            if (it->second <= 0)
                pair_count.erase(it);
            else
                heap.push({it->second, p});
        }
    }
    return Tokenizer::from_merges(merges);
}

}  // namespace opsis
