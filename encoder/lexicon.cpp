#include "encoder/lexicon.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/file_io.h"
#include "core/lines.h"
#include "core/utf8.h"

namespace opsis {
namespace {

constexpr std::uint64_t kMaxLexiconFile = 64ull << 20;

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    for (std::size_t pos = 0;;) {
        const std::size_t tab = line.find('\t', pos);
        out.push_back(line.substr(pos, tab == std::string_view::npos ? std::string_view::npos : tab - pos));
        if (tab == std::string_view::npos) return out;
        pos = tab + 1;
    }
}

// Greek tonos and dialytika, final sigma, and Latin-1's accented letters, without them.
constexpr std::u32string_view kAccented = U"άέήίϊΐόύϋΰώςàáâãäåçèéêëìíîïñòóôõöùúûüýÿ";
constexpr std::u32string_view kPlain = U"αεηιιιουυυωσaaaaaaceeeeiiiinooooouuuuyy";
static_assert(kAccented.size() == kPlain.size());

char32_t without_accent(char32_t c) {
    const std::size_t i = kAccented.find(c);
    return i == std::u32string_view::npos ? c : kPlain[i];
}

}  // namespace

std::u32string fold_letters(std::string_view word) {
    std::u32string out;
    for (std::size_t pos = 0; pos < word.size();) out.push_back(without_accent(utf8::to_lower(utf8::next(word, pos))));
    return out;
}

std::u32string spelling_key(const std::u32string& folded) {
    std::u32string out;
    for (std::size_t i = 0; i < folded.size(); ++i) {
        char32_t c = folded[i];
        if ((c == U'p' || c == U'c') && i + 1 < folded.size() && folded[i + 1] == (c == U'p' ? U'h' : U'k')) {
            c = c == U'p' ? U'f' : U'k';
            ++i;
        }
        if (out.empty() || out.back() != c) out.push_back(c);
    }
    return out;
}

int edit_distance(const std::u32string& a, const std::u32string& b, int max) {
    const int n = static_cast<int>(a.size()), m = static_cast<int>(b.size());
    if (std::abs(n - m) > max) return max + 1;
    // Three rows of the table: two back for transpositions.
    std::vector<int> before(m + 1), previous(m + 1), current(m + 1);
    for (int j = 0; j <= m; ++j) previous[j] = j;
    for (int i = 1; i <= n; ++i) {
        current[0] = i;
        int row_min = current[0];
        for (int j = 1; j <= m; ++j) {
            const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int d = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d = std::min(d, before[j - 2] + 1);
            current[j] = d;
            row_min = std::min(row_min, d);
        }
        if (row_min > max) return max + 1;
        std::swap(before, previous);
        std::swap(previous, current);
    }
    return std::min(previous[m], max + 1);
}

Lexicon Lexicon::parse(std::string_view text, const std::string& name) {
    Lexicon lex;
    for_each_line(text, [&](std::string_view line, std::size_t line_no) {
        if (line.empty() || line.front() == '#') return;
        const std::vector<std::string_view> f = fields(line);
        auto bad = [&](std::string_view reason) {
            return input_error("lexicon", name, "line " + std::to_string(line_no) + " " + std::string(reason));
        };
        if (utf8::find_invalid(line)) throw bad("is not valid UTF-8");
        if (f[0] == "known" && f.size() == 3) {
            std::int64_t n = 0;
            try {
                n = std::stoll(std::string(f[2]));
            } catch (const std::exception&) {
                throw bad("has a count that is not a number");
            }
            if (n <= 0 || f[1].empty()) throw bad("has an empty word or a count below 1");
            lex.counts_[std::string(f[1])] = n;
        } else if (f[0] == "stop" && f.size() == 3 && !f[2].empty()) {
            lex.stop_.insert(std::string(f[2]));
        } else if (f[0] == "map" && f.size() == 4 && !f[1].empty() && !f[2].empty()) {
            lex.mappings_[std::string(f[1])] = {std::string(f[2]), std::string(f[3])};
        } else if (f[0] == "real" && f.size() == 2 && !f[1].empty()) {
            lex.real_.insert(std::string(f[1]));
        } else if (f[0] == "keep" && f.size() == 2 && !f[1].empty()) {
            lex.keep_.insert(std::string(f[1]));
        } else if (f[0] == "examples" && f.size() >= 3 && !f[1].empty() &&
                   std::none_of(f.begin() + 2, f.end(), [](std::string_view e) { return e.empty(); })) {
            lex.examples_[std::string(f[1])] = std::vector<std::string>(f.begin() + 2, f.end());
        } else {
            throw bad(
                "is not 'known WORD COUNT', 'stop LANG WORD', 'map WORD TARGET WHY', 'real WORD', 'keep WORD' or "
                "'examples PHRASE NAME...'");
        }
    });
    for (const auto& [word, n] : lex.counts_) {
        std::u32string letters = fold_letters(word);
        std::u32string key = spelling_key(letters);
        lex.folded_.push_back({std::move(letters), std::move(key), word, n});
    }
    std::sort(lex.folded_.begin(), lex.folded_.end(), [](const Folded& a, const Folded& b) {
        return a.count != b.count ? a.count > b.count : a.word < b.word;
    });
    for (std::size_t i = 0; i < lex.folded_.size(); ++i) lex.by_folded_.emplace(lex.folded_[i].letters, i);
    return lex;
}

std::optional<Lexicon> Lexicon::load(const std::string& folder) {
    const std::string path = (std::filesystem::path(folder) / kFileName).string();
    if (!std::filesystem::exists(path)) return std::nullopt;
    return parse(read_text_file(path, kMaxLexiconFile), path);
}

std::int64_t Lexicon::count(std::string_view word) const {
    const auto it = counts_.find(std::string(word));
    return it == counts_.end() ? 0 : it->second;
}

const LexiconMapping* Lexicon::mapping(std::string_view word) const {
    const auto it = mappings_.find(std::string(word));
    return it == mappings_.end() ? nullptr : &it->second;
}

const std::vector<std::string>* Lexicon::examples(std::string_view phrase) const {
    const auto it = examples_.find(std::string(phrase));
    return it == examples_.end() ? nullptr : &it->second;
}

std::optional<std::string> Lexicon::same_but_accents(std::string_view word) const {
    const auto it = by_folded_.find(fold_letters(word));
    if (it == by_folded_.end()) return std::nullopt;
    return folded_[it->second].word;
}

std::optional<std::string> Lexicon::nearest(std::string_view word, int max_edits) const {
    const std::u32string letters = fold_letters(word), key = spelling_key(letters);
    const Folded* best = nullptr;
    int best_distance = max_edits + 1, best_letters = 0;
    bool best_same_start = false;
    for (const Folded& f : folded_) {  // most frequent first: a tie keeps the earlier
        const int d = edit_distance(key, f.key, max_edits);
        if (d > max_edits || d > best_distance) continue;
        const int by_letters = edit_distance(letters, f.letters, 2 * max_edits + 2);
        const bool same_start = !letters.empty() && !f.letters.empty() && letters[0] == f.letters[0];
        if (best == nullptr || d < best_distance || (by_letters < best_letters) ||
            (by_letters == best_letters && same_start && !best_same_start)) {
            best = &f;
            best_distance = d;
            best_letters = by_letters;
            best_same_start = same_start;
        }
    }
    if (best == nullptr) return std::nullopt;
    return best->word;
}

}  // namespace opsis
