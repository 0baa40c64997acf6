#include "benchmarks/recall_bench.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "train/corpus_split.h"
#include "core/error.h"
#include "core/file_io.h"
#include "encoder/blas.h"
#include "encoder/dual_encoder.h"
#include "eval/recall.h"

namespace opsis::bench {
namespace {

using train::embed_split_images;
using train::Pair;
using train::read_corpus_split;

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

Tensor embed_texts(const DualEncoder& model, const std::vector<std::string>& texts) {
    const std::int64_t n = static_cast<std::int64_t>(texts.size()), e = model.config().embed_dim;
    Tensor out({n, e});
    for (std::int64_t b0 = 0; b0 < n; b0 += 256) {
        const std::vector<std::string> chunk(texts.begin() + b0, texts.begin() + std::min<std::int64_t>(n, b0 + 256));
        const Tensor emb = model.encode_texts(chunk);
        std::copy_n(emb.data(), emb.numel(), out.data() + b0 * e);
    }
    return out;
}

Tensor rows_of(const Tensor& t, const std::vector<std::size_t>& rows) {
    const std::int64_t e = t.dim(1);
    Tensor out({static_cast<std::int64_t>(rows.size()), e});
    for (std::size_t i = 0; i < rows.size(); ++i)
        std::copy_n(t.data() + static_cast<std::int64_t>(rows[i]) * e, e,
                    out.data() + static_cast<std::int64_t>(i) * e);
    return out;
}

struct Row {
    std::string split, source, language;
    std::size_t images = 0, captions = 0;
    eval::RecallAtK text_to_image, image_to_text;
};

// Scores one subset: the images at `image_rows`, and as captions each distinct (concept, first
// caption of the language) among them.
std::optional<Row> score(const DualEncoder& model, const std::vector<Pair>& pairs, const Tensor& image_embeddings,
                         const std::vector<std::size_t>& image_rows, bool greek) {
    std::vector<std::int32_t> image_concepts, text_concepts;
    std::vector<std::string> captions;
    std::set<std::pair<std::int32_t, std::string>> seen;
    for (const std::size_t i : image_rows) {
        image_concepts.push_back(pairs[i].concept_id);
        for (const std::string& c : greek ? pairs[i].greek : pairs[i].english)
            if (seen.emplace(pairs[i].concept_id, c).second) {
                captions.push_back(c);
                text_concepts.push_back(pairs[i].concept_id);
            }
    }
    if (captions.empty() || image_rows.empty()) return std::nullopt;
    const Tensor images = rows_of(image_embeddings, image_rows);
    const Tensor texts = embed_texts(model, captions);
    Row row;
    row.language = greek ? "el" : "en";
    row.images = image_rows.size();
    row.captions = captions.size();
    row.text_to_image = eval::recall_at_k(texts, text_concepts, images, image_concepts);
    row.image_to_text = eval::recall_at_k(images, image_concepts, texts, text_concepts);
    return row;
}

void print_row(const Row& r) {
    std::printf("%-10s %-16s %-3s %7zu %8zu | %6.1f %6.1f %6.1f | %6.1f %6.1f %6.1f\n", r.split.c_str(),
                r.source.c_str(), r.language.c_str(), r.images, r.captions, r.text_to_image.r1, r.text_to_image.r5,
                r.text_to_image.r10, r.image_to_text.r1, r.image_to_text.r5, r.image_to_text.r10);
}

json row_json(const Row& r) {
    auto k = [](const eval::RecallAtK& x) {
        return json{{"r1", x.r1}, {"r5", x.r5}, {"r10", x.r10}, {"queries", x.queries}};
    };
    return {{"split", r.split},
            {"source", r.source},
            {"language", r.language},
            {"images", r.images},
            {"captions", r.captions},
            {"text_to_image", k(r.text_to_image)},
            {"image_to_text", k(r.image_to_text)}};
}

// Karpathy's split files: {"images": [{"filepath"?, "filename", "split", "sentences": [{"raw"}]}]}.
std::vector<Pair> karpathy_pairs(const std::string& path, const std::string& image_root, const std::string& split) {
    json j;
    try {
        j = json::parse(read_text_file(path, 2ull << 30));
    } catch (const json::exception& e) {
        throw input_error("Karpathy split", path, std::string("malformed JSON: ") + e.what());
    }
    if (!j.contains("images") || !j["images"].is_array()) throw input_error("Karpathy split", path, "no 'images' list");
    std::vector<Pair> pairs;
    std::int32_t id = 0;
    for (const auto& img : j["images"]) {
        if (img.value("split", "") != split) continue;
        if (!img.contains("filename") || !img["filename"].is_string())
            throw input_error("Karpathy split", path, "an image entry has no filename");
        fs::path file = fs::path(image_root);
        if (img.contains("filepath") && img["filepath"].is_string()) file /= img["filepath"].get<std::string>();
        file /= img["filename"].get<std::string>();
        Pair p{file.string(), id++, "karpathy-" + split, {}, {}};
        for (const auto& s : img.value("sentences", json::array()))
            if (s.contains("raw") && s["raw"].is_string()) p.english.push_back(s["raw"].get<std::string>());
        pairs.push_back(std::move(p));
    }
    if (pairs.empty()) throw input_error("Karpathy split", path, "no image in split '" + split + "'");
    return pairs;
}

}  // namespace

void run_recall_bench(const RecallBenchOptions& o) {
    blas::set_threads(o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency()));
    const DualEncoder model = DualEncoder::load(o.model, parse_precision(o.precision));
    std::vector<std::pair<std::string, std::vector<Pair>>> sets;
    if (!o.karpathy.empty()) {
        if (o.images.empty()) throw Error("bench recall: --karpathy needs --images (the folder holding the pictures)");
        sets.emplace_back("karpathy-" + o.karpathy_split, karpathy_pairs(o.karpathy, o.images, o.karpathy_split));
    } else {
        if (o.corpus.empty()) throw Error("bench recall: give --corpus (or --karpathy with --images)");
        for (const std::string& split : o.splits)
            sets.emplace_back(split, read_corpus_split(o.corpus, split, "bench recall"));
    }
    std::printf("opsis recall benchmark: model '%s' at %s, exact search\n\n", model.config().name.c_str(),
                precision_name(model.precision()));
    std::printf("%-10s %-16s %-3s %7s %8s | %-20s | %-20s\n", "split", "source", "", "images", "captions",
                "text->image R@1/5/10", "image->text R@1/5/10");
    json rows = json::array();
    for (const auto& [split, pairs] : sets) {
        const auto start = std::chrono::steady_clock::now();
        std::vector<bool> ok;
        const Tensor embeddings = embed_split_images(model, pairs, ok, "bench recall");
        std::map<std::string, std::vector<std::size_t>> by_source;
        std::vector<std::size_t> all;
        for (std::size_t i = 0; i < pairs.size(); ++i)
            if (ok[i]) all.push_back(i), by_source[pairs[i].source].push_back(i);
        for (const bool greek : {false, true}) {
            auto emit = [&](const std::string& source, const std::vector<std::size_t>& rows_in) {
                if (auto r = score(model, pairs, embeddings, rows_in, greek)) {
                    r->split = split;
                    r->source = source;
                    print_row(*r);
                    rows.push_back(row_json(*r));
                }
            };
            emit("all", all);
            if (by_source.size() > 1)
                for (const auto& [source, rows_in] : by_source) emit(source, rows_in);
        }
        std::fprintf(stderr, "bench recall: %s scored in %.1f s\n", split.c_str(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    if (!o.json_out.empty()) {
        const json out = {{"model", model.config().name}, {"model_path", o.model}, {"rows", rows}};
        write_file_atomic(o.json_out, out.dump(2) + "\n");
    }
}

}  // namespace opsis::bench
