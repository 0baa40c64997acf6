// opsis bench ...: benchmarks that print measured figures.
#include "benchmarks/encoder_bench.h"
#include "benchmarks/recall_bench.h"
#include "cli/commands.h"

namespace opsis::cli {

void register_bench(CLI::App& app) {
    CLI::App* bench = app.add_subcommand("bench", "Measure speed (and later recall)");
    bench->require_subcommand(1);
    auto o = std::make_shared<bench::EncoderBenchOptions>();
    CLI::App* enc = bench->add_subcommand("encoder", "Images/s and texts/s at batch 1 and 64, against OpenBLAS sgemm");
    auto* model = enc->add_option("--model,-m", o->model, "Model folder");
    enc->add_option("--config,-c", o->config, "Architecture config (random weights)")->excludes(model)->check(CLI::ExistingFile);
    enc->add_option("--seconds", o->seconds, "Seconds per figure")->capture_default_str()->check(CLI::Range(0.1, 600.0));
    enc->add_option("--threads", o->threads, "Threads (0: all cores)")->capture_default_str()->check(CLI::Range(0, 256));
    enc->add_option("--json", o->json_out, "Also write the figures to this JSON file");
    enc->callback([o] { bench::run_encoder_bench(*o); });

    auto r = std::make_shared<bench::RecallBenchOptions>();
    CLI::App* rec = bench->add_subcommand("recall", "R@1/5/10 both directions, per split and source, English and Greek");
    rec->add_option("--model,-m", r->model, "Model folder")->required();
    auto* corpus = rec->add_option("--corpus", r->corpus, "Corpus folder from data/build-corpus")->check(CLI::ExistingDirectory);
    rec->add_option("--splits", r->splits, "Split files to score (without .txt)")->capture_default_str()->delimiter(',');
    auto* karpathy = rec->add_option("--karpathy", r->karpathy, "dataset_flickr30k.json or dataset_coco.json")
                         ->check(CLI::ExistingFile)->excludes(corpus);
    rec->add_option("--images", r->images, "Image folder for --karpathy")->check(CLI::ExistingDirectory)->needs(karpathy);
    rec->add_option("--karpathy-split", r->karpathy_split, "Which split of the Karpathy file")->capture_default_str();
    rec->add_option("--json", r->json_out, "Also write the table as JSON");
    rec->add_option("--threads", r->threads, "Threads (0: all cores)")->capture_default_str()->check(CLI::Range(0, 256));
    rec->callback([r] { bench::run_recall_bench(*r); });
}

}  // namespace opsis::cli
