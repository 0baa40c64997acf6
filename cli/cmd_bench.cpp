// opsis bench ...: benchmarks that print measured figures.
#include "benchmarks/encoder_bench.h"
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
}

}  // namespace opsis::cli
