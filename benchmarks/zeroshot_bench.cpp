#include "benchmarks/zeroshot_bench.h"

#include <cstdio>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "benchmarks/bench_support.h"
#include "train/corpus_split.h"
#include "classify/zero_shot.h"
#include "core/error.h"
#include "core/file_io.h"
#include "encoder/blas.h"

namespace opsis::bench {
namespace {

using train::embed_split_images;
using train::Pair;
using train::read_corpus_split;

using json = nlohmann::ordered_json;

struct Accuracy {
    double top1 = 0, top5 = 0;
};

struct Row {
    std::string split, language;
    std::size_t labels = 0, images = 0;
    Accuracy templated, bare;
};

// Percent of pictures whose own label is first, and among the first five.
Accuracy accuracy(const classify::ZeroShotClassifier& classifier, const Tensor& images,
                  const std::vector<std::string>& truth) {
    const auto ranked = classifier.classify(images, 5);
    std::size_t top1 = 0, top5 = 0;
    for (std::size_t i = 0; i < ranked.size(); ++i)
        for (std::size_t k = 0; k < std::min<std::size_t>(5, ranked[i].size()); ++k)
            if (classify::label_key(ranked[i][k].label) == truth[i]) {
                top1 += k == 0;
                ++top5;
                break;
            }
    const double n = static_cast<double>(ranked.size());
    return {100.0 * static_cast<double>(top1) / n, 100.0 * static_cast<double>(top5) / n};
}

// The pictures that have a name in the language, labelled among every distinct such name
// (concepts sharing a name share the label).
std::optional<Row> score(const DualEncoder& model, const std::vector<Pair>& pairs, const Tensor& embeddings,
                         const std::vector<bool>& ok, bool greek) {
    std::vector<std::string> labels, truth;
    std::map<std::string, std::size_t> label_of;
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        const auto& names = greek ? pairs[i].greek : pairs[i].english;
        if (!ok[i] || names.empty()) continue;
        const std::string key = classify::label_key(names[0]);
        if (label_of.emplace(key, labels.size()).second) labels.push_back(names[0]);
        truth.push_back(key);
        rows.push_back(i);
    }
    if (labels.size() < 2) return std::nullopt;
    const std::int64_t e = embeddings.dim(1);
    Tensor images({static_cast<std::int64_t>(rows.size()), e});
    for (std::size_t r = 0; r < rows.size(); ++r)
        std::copy_n(embeddings.data() + static_cast<std::int64_t>(rows[r]) * e, e,
                    images.data() + static_cast<std::int64_t>(r) * e);
    classify::ZeroShotOptions templated, bare;
    templated.max_labels = bare.max_labels = labels.size();
    templated.max_label_bytes = bare.max_label_bytes = 1 << 16;  // the corpus's own names, however long
    bare.templates = {"{}"};
    Row row;
    row.language = greek ? "el" : "en";
    row.labels = labels.size();
    row.images = rows.size();
    row.templated = accuracy(classify::ZeroShotClassifier(model, labels, templated), images, truth);
    row.bare = accuracy(classify::ZeroShotClassifier(model, labels, bare), images, truth);
    return row;
}

}  // namespace

void run_zeroshot_bench(const ZeroShotBenchOptions& o) {
    blas::set_threads(o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency()));
    const DualEncoder model = DualEncoder::load(o.model, parse_precision(o.precision));
    std::printf("opsis zero-shot benchmark: model '%s'; each picture labelled among all the split's names\n\n",
                model.config().name.c_str());
    std::printf("%-10s %-3s %7s %7s %7s | %-15s | %-15s\n", "split", "", "labels", "images", "chance",
                "templates t1/t5", "bare name t1/t5");
    json rows = json::array();
    for (const std::string& split : o.splits) {
        const auto start = Clock::now();
        const std::vector<Pair> pairs = read_corpus_split(o.corpus, split, "bench zeroshot");
        std::vector<bool> ok;
        const Tensor embeddings = embed_split_images(model, pairs, ok, "bench zeroshot");
        for (const bool greek : {false, true}) {
            const std::optional<Row> r = score(model, pairs, embeddings, ok, greek);
            if (!r) continue;
            std::printf("%-10s %-3s %7zu %7zu %6.2f%% | %6.1f %6.1f   | %6.1f %6.1f\n", split.c_str(),
                        r->language.c_str(), r->labels, r->images, 100.0 / static_cast<double>(r->labels),
                        r->templated.top1, r->templated.top5, r->bare.top1, r->bare.top5);
            rows.push_back({{"split", split},
                            {"language", r->language},
                            {"labels", r->labels},
                            {"images", r->images},
                            {"templates", {{"top1", r->templated.top1}, {"top5", r->templated.top5}}},
                            {"bare", {{"top1", r->bare.top1}, {"top5", r->bare.top5}}}});
        }
        std::fprintf(stderr, "bench zeroshot: %s scored in %.1f s\n", split.c_str(), seconds_since(start));
    }
    if (rows.empty()) throw Error("bench zeroshot: no split had two or more named pictures to label");
    if (!o.json_out.empty()) {
        const json out = {{"model", model.config().name}, {"model_path", o.model}, {"rows", rows}};
        write_file_atomic(o.json_out, out.dump(2) + "\n");
    }
}

}  // namespace opsis::bench
