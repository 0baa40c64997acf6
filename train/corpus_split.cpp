#include "train/corpus_split.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "image/decode.h"
#include "train/corpus.h"

namespace opsis::train {

namespace fs = std::filesystem;

std::vector<Pair> read_corpus_split(const std::string& corpus, const std::string& split, const std::string& who) {
    const train::Manifest manifest = train::read_manifest((fs::path(corpus) / "manifest.jsonl").string());
    std::vector<std::string> problems = manifest.problems;
    const auto items =
        train::select(manifest, train::read_split((fs::path(corpus) / (split + ".txt")).string()), problems);
    if (!problems.empty())
        std::fprintf(stderr, "%s: %zu manifest problems skipped (first: %s)\n", who.c_str(), problems.size(),
                     problems[0].c_str());
    const auto concepts = train::concept_ids(items);
    std::vector<Pair> pairs;
    for (std::size_t i = 0; i < items.size(); ++i)
        pairs.push_back(
            {items[i].image, concepts[i], items[i].style,
             items[i].english.empty() ? std::vector<std::string>{} : std::vector<std::string>{items[i].english[0]},
             items[i].greek.empty() ? std::vector<std::string>{} : std::vector<std::string>{items[i].greek[0]}});
    return pairs;
}

Tensor embed_split_images(const DualEncoder& model, const std::vector<Pair>& pairs, std::vector<bool>& ok,
                          const std::string& who) {
    const std::int64_t n = static_cast<std::int64_t>(pairs.size()), e = model.config().embed_dim;
    Tensor out({n, e});
    ok.assign(pairs.size(), false);
    std::size_t failures = 0;
    for (std::int64_t b0 = 0; b0 < n; b0 += 64) {
        const std::int64_t rows = std::min<std::int64_t>(64, n - b0);
        std::vector<std::string> paths;
        for (std::int64_t r = 0; r < rows; ++r) paths.push_back(pairs[static_cast<std::size_t>(b0 + r)].image);
        LoadedImages loaded = load_images(paths, ImageLimits{});
        std::vector<RgbaImage>& decoded = loaded.images;
        const std::vector<std::string>& errors = loaded.errors;
        std::vector<RgbaImage> good;
        std::vector<std::int64_t> where;
        for (std::int64_t r = 0; r < rows; ++r) {
            if (!errors[static_cast<std::size_t>(r)].empty()) {
                if (failures++ < 5)
                    std::fprintf(stderr, "%s: skipped %s\n", who.c_str(), errors[static_cast<std::size_t>(r)].c_str());
                continue;
            }
            good.push_back(std::move(decoded[static_cast<std::size_t>(r)]));
            where.push_back(b0 + r);
        }
        if (good.empty()) continue;
        const Tensor emb = model.encode_images(model.preprocess(good));
        for (std::size_t k = 0; k < where.size(); ++k) {
            std::copy_n(emb.data() + static_cast<std::int64_t>(k) * e, e, out.data() + where[k] * e);
            ok[static_cast<std::size_t>(where[k])] = true;
        }
    }
    if (failures) std::fprintf(stderr, "%s: %zu images could not be read and are left out\n", who.c_str(), failures);
    return out;
}

}  // namespace opsis::train
