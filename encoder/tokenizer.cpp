#include "encoder/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "core/lines.h"
#include "core/splitmix.h"
#include "core/utf8.h"
#include "encoder/html_unescape.h"

namespace opsis {
namespace {

constexpr const char* kEndOfWord = "</w>";
constexpr std::uint64_t kMaxTokenizerFile = 256ull << 20;

std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

std::string symbol_of_byte(unsigned char b) {
    std::string s;
    utf8::append(s, byte_symbols()[b]);
    return s;
}

void check_utf8(std::string_view text) {
    if (const auto bad = utf8::find_invalid(text))
        throw input_error("text", utf8::preview(text), "invalid UTF-8 at byte " + std::to_string(*bad));
}

}  // namespace

const std::vector<char32_t>& byte_symbols() {
    static const std::vector<char32_t> table = [] {
        std::vector<int> printable;
        for (int b = '!'; b <= '~'; ++b) printable.push_back(b);
        for (int b = 0xA1; b <= 0xAC; ++b) printable.push_back(b);
        for (int b = 0xAE; b <= 0xFF; ++b) printable.push_back(b);
        std::vector<char32_t> symbol(256);
        std::vector<bool> taken(256, false);
        for (int b : printable) symbol[b] = static_cast<char32_t>(b), taken[b] = true;
        int extra = 0;
        for (int b = 0; b < 256; ++b)
            if (!taken[b]) symbol[b] = static_cast<char32_t>(256 + extra++);
        return symbol;
    }();
    return table;
}

std::string clean_text(std::string_view text) {
    check_utf8(text);
    std::string out;
    out.reserve(text.size());
    bool pending_space = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const char32_t cp = utf8::next(text, pos);
        if (utf8::is_space(cp)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        utf8::append(out, utf8::to_lower(cp));
    }
    return out;
}

std::vector<std::string> split_words(std::string_view s) {
    std::vector<std::string> words;
    std::size_t pos = 0;
    while (pos < s.size()) {
        std::size_t next = pos;
        const char32_t cp = utf8::next(s, next);
        if (utf8::is_space(cp)) {
            pos = next;
            continue;
        }
        if (cp == '\'') {
            static const char* contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
            bool matched = false;
            for (const char* c : contractions) {
                const std::string_view cv(c);
                if (s.substr(pos, cv.size()) == cv) {
                    words.emplace_back(cv);
                    pos += cv.size();
                    matched = true;
                    break;
                }
            }
            if (matched) continue;
        }
        std::size_t end = next;
        if (utf8::is_letter(cp)) {
            while (end < s.size()) {
                std::size_t after = end;
                if (!utf8::is_letter(utf8::next(s, after))) break;
                end = after;
            }
        } else if (!utf8::is_number(cp)) {
            while (end < s.size()) {
                std::size_t after = end;
                const char32_t c = utf8::next(s, after);
                if (utf8::is_space(c) || utf8::is_letter(c) || utf8::is_number(c)) break;
                end = after;
            }
        }
        words.emplace_back(s.substr(pos, end - pos));
        pos = end;
    }
    return words;
}

Tokenizer Tokenizer::from_merges(const std::vector<Merge>& merges) {
    Tokenizer t;
    t.merges_ = merges;
    auto add = [&t](const std::string& token) {
        if (t.token_to_id_.emplace(token, static_cast<std::int32_t>(t.id_to_token_.size())).second)
            t.id_to_token_.push_back(token);
    };
    // CLIP's order: the bytes that stand for themselves ('!'..'~', then Latin-1's printable
    // ones), then the rest; an imported CLIP model's token ids depend on it.
    std::vector<unsigned char> order;
    for (int b = 0; b < 256; ++b)
        if (byte_symbols()[b] == static_cast<char32_t>(b)) order.push_back(static_cast<unsigned char>(b));
    for (int b = 0; b < 256; ++b)
        if (byte_symbols()[b] != static_cast<char32_t>(b)) order.push_back(static_cast<unsigned char>(b));
    for (unsigned char b : order) add(symbol_of_byte(b));
    for (unsigned char b : order) add(symbol_of_byte(b) + kEndOfWord);
    for (const auto& [left, right] : merges) add(left + right);
    add(kStartToken);
    add(kEndToken);
    t.build_tables();
    return t;
}

void Tokenizer::build_tables() {
    for (int b = 0; b < 256; ++b) {
        const std::string sym = symbol_of_byte(static_cast<unsigned char>(b));
        const auto plain = token_to_id_.find(sym);
        const auto ending = token_to_id_.find(sym + kEndOfWord);
        if (plain == token_to_id_.end() || ending == token_to_id_.end())
            throw Error("tokenizer: vocabulary lacks the symbol for byte " + std::to_string(b));
        byte_id_[b] = plain->second;
        byte_end_id_[b] = ending->second;
    }
    merge_rank_.clear();
    for (std::size_t rank = 0; rank < merges_.size(); ++rank) {
        const auto& [left, right] = merges_[rank];
        const auto a = token_to_id_.find(left), b = token_to_id_.find(right), m = token_to_id_.find(left + right);
        if (a == token_to_id_.end() || b == token_to_id_.end() || m == token_to_id_.end())
            throw Error("tokenizer: merge " + std::to_string(rank + 1) + " ('" + left + "' '" + right +
                        "') uses a token missing from the vocabulary");
        merge_rank_.emplace(pair_key(a->second, b->second), std::make_pair(static_cast<std::int32_t>(rank), m->second));
    }
    const auto s = token_to_id_.find(kStartToken), e = token_to_id_.find(kEndToken);
    if (s == token_to_id_.end() || e == token_to_id_.end())
        throw Error("tokenizer: vocabulary lacks the start or end token");
    start_id_ = s->second;
    end_id_ = e->second;
}

void Tokenizer::bpe_word(std::string_view word, std::vector<std::int32_t>& out, MergeDropout* dropout) const {
    std::vector<std::int32_t> symbols;
    symbols.reserve(word.size());
    for (std::size_t i = 0; i < word.size(); ++i) {
        const auto b = static_cast<unsigned char>(word[i]);
        symbols.push_back(i + 1 == word.size() ? byte_end_id_[b] : byte_id_[b]);
    }
    while (symbols.size() > 1) {
        std::int32_t best_rank = -1, best_id = -1;
        std::uint64_t best_key = 0;
        for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
            const auto it = merge_rank_.find(pair_key(symbols[i], symbols[i + 1]));
            if (it == merge_rank_.end()) continue;
            if (dropout) {
                dropout->state = splitmix64(dropout->state);
                if (static_cast<double>(dropout->state >> 11) * 0x1.0p-53 < dropout->probability) continue;
            }
            if (best_rank < 0 || it->second.first < best_rank) {
                best_rank = it->second.first;
                best_id = it->second.second;
                best_key = it->first;
            }
        }
        if (best_rank < 0) break;
        std::size_t w = 0;
        for (std::size_t i = 0; i < symbols.size(); ++w) {
            if (i + 1 < symbols.size() && pair_key(symbols[i], symbols[i + 1]) == best_key) {
                symbols[w] = best_id;
                i += 2;
            } else {
                symbols[w] = symbols[i++];
            }
        }
        symbols.resize(w);
    }
    out.insert(out.end(), symbols.begin(), symbols.end());
}

std::string Tokenizer::cleaned(std::string_view text) const {
    if (cleaning_ == Cleaning::plain) return clean_text(text);
    check_utf8(text);
    return clean_text(html_unescape(html_unescape(text)));
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text) const {
    std::vector<std::int32_t> ids;
    for (const std::string& word : split_words(cleaned(text))) bpe_word(word, ids);
    return ids;
}

std::vector<std::int32_t> Tokenizer::encode_for_model(std::string_view text, int context_length) const {
    return with_start_and_end(encode(text), context_length);
}

std::vector<std::int32_t> Tokenizer::encode_for_model_sampled(std::string_view text, int context_length, float dropout,
                                                              std::uint64_t seed) const {
    if (!(dropout >= 0.0f && dropout < 1.0f)) throw Error("tokenizer: BPE-dropout must be in [0, 1)");
    MergeDropout sampling{dropout, seed};
    std::vector<std::int32_t> body;
    for (const std::string& word : split_words(cleaned(text)))
        bpe_word(word, body, dropout > 0.0f ? &sampling : nullptr);
    return with_start_and_end(body, context_length);
}

std::vector<std::int32_t> Tokenizer::with_start_and_end(const std::vector<std::int32_t>& body,
                                                        int context_length) const {
    if (context_length < 2) throw Error("tokenizer: context length must be at least 2");
    std::vector<std::int32_t> ids;
    ids.push_back(start_id_);
    const std::size_t room = static_cast<std::size_t>(context_length) - 2;
    ids.insert(ids.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(std::min(room, body.size())));
    ids.push_back(end_id_);
    return ids;
}

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids) const {
    static const auto inverse = [] {
        std::unordered_map<char32_t, unsigned char> m;
        for (int b = 0; b < 256; ++b) m[byte_symbols()[b]] = static_cast<unsigned char>(b);
        return m;
    }();
    std::string joined;
    for (const std::int32_t id : ids) {
        if (id < 0 || id >= vocab_size()) throw Error("tokenizer: id " + std::to_string(id) + " outside vocabulary");
        if (id == start_id_ || id == end_id_) continue;
        joined += id_to_token_[static_cast<std::size_t>(id)];
    }
    std::string out;
    const std::string_view eow(kEndOfWord);
    for (std::size_t pos = 0; pos < joined.size();) {
        if (std::string_view(joined).substr(pos, eow.size()) == eow) {
            out += ' ';
            pos += eow.size();
            continue;
        }
        const char32_t cp = utf8::next(joined, pos);
        out += static_cast<char>(inverse.at(cp));
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

Tokenizer Tokenizer::load(const std::string& dir) {
    namespace fs = std::filesystem;
    const std::string vocab_path = (fs::path(dir) / "vocab.json").string();
    const std::string merges_path = (fs::path(dir) / "merges.txt").string();
    Tokenizer t;
    const std::string merges_text = read_text_file(merges_path, kMaxTokenizerFile);
    for_each_line(merges_text, [&](std::string_view line, std::size_t line_no) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || (line_no == 1 && line.starts_with("#version"))) return;
        const auto space = line.find(' ');
        if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
            line.find(' ', space + 1) != std::string_view::npos)
            throw input_error("tokenizer file", merges_path,
                              "line " + std::to_string(line_no) + " is not 'left right'");
        t.merges_.emplace_back(std::string(line.substr(0, space)), std::string(line.substr(space + 1)));
    });
    nlohmann::json vocab;
    try {
        vocab = nlohmann::json::parse(read_text_file(vocab_path, kMaxTokenizerFile));
    } catch (const nlohmann::json::exception& e) {
        throw input_error("tokenizer file", vocab_path, std::string("malformed JSON: ") + e.what());
    }
    if (!vocab.is_object() || vocab.empty())
        throw input_error("tokenizer file", vocab_path, "expected a non-empty object of token -> id");
    t.id_to_token_.assign(vocab.size(), std::string());
    std::vector<bool> seen(vocab.size(), false);
    for (const auto& [token, id] : vocab.items()) {
        if (!id.is_number_integer() || id.get<std::int64_t>() < 0 ||
            id.get<std::int64_t>() >= static_cast<std::int64_t>(vocab.size()) || seen[id.get<std::size_t>()])
            throw input_error(
                "tokenizer file", vocab_path,
                "token '" + token + "' has an id that is not unique in 0.." + std::to_string(vocab.size() - 1));
        seen[id.get<std::size_t>()] = true;
        t.id_to_token_[id.get<std::size_t>()] = token;
        t.token_to_id_[token] = id.get<std::int32_t>();
    }
    try {
        t.build_tables();
    } catch (const Error& e) {
        throw input_error("tokenizer", dir, e.what());
    }
    return t;
}

void Tokenizer::save(const std::string& dir) const {
    namespace fs = std::filesystem;
    fs::create_directories(dir);
    nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
    for (std::size_t id = 0; id < id_to_token_.size(); ++id) vocab[id_to_token_[id]] = id;
    write_file_atomic((fs::path(dir) / "vocab.json").string(), vocab.dump() + "\n");
    std::string merges = "#version: 0.2\n";
    for (const auto& [left, right] : merges_) merges += left + " " + right + "\n";
    write_file_atomic((fs::path(dir) / "merges.txt").string(), merges);
}

}  // namespace opsis
