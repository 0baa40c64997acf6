#include "benchmarks/encoder_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <unistd.h>

#include "core/error.h"
#include "core/file_io.h"
#include "encoder/blas.h"
#include "encoder/clip_checkpoint.h"
#include "encoder/dense_weights.h"
#include "encoder/dual_encoder.h"
#include "encoder/tokenizer_train.h"

namespace opsis::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Rate {
    double items_per_s = 0, gflops = 0, ms_per_call = 0;
};

// Repeats `call` (one warm-up first) until `seconds` have passed.
Rate measure(double seconds, std::int64_t items_per_call, const std::function<void()>& call) {
    call();
    blas::reset_flops_issued();
    std::int64_t calls = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    do {
        call();
        ++calls;
        elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < seconds);
    return {static_cast<double>(calls * items_per_call) / elapsed,
            static_cast<double>(blas::flops_issued()) / elapsed / 1e9, elapsed * 1e3 / static_cast<double>(calls)};
}

double sgemm_gflops(int n, double seconds) {
    std::vector<float> a(static_cast<std::size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size());
    return measure(seconds, 1,
                   [&] { blas::gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); })
        .gflops;
}

// The practical peak of a reduced precision: an n^3 product through DenseWeights, conversions
// of the activations included, as the towers pay them.
double dense_gflops(Precision precision, int n, double seconds) {
    const DenseWeights w(Tensor::filled({n, n}, 0.25f), DenseWeights::Layout::in_out, precision);
    std::vector<float> a(static_cast<std::size_t>(n) * n, 0.5f), c(a.size());
    return measure(seconds, 1, [&] { w.apply(a.data(), n, c.data(), n); }).gflops;
}

std::vector<std::string> sample_texts(std::size_t n) {
    static const char* adjectives[] = {"red", "smiling", "tiny", "green", "sleepy", "striped", "golden", "broken"};
    static const char* nouns[] = {"apple",   "cat", "flag of Germany", "rocket", "teapot", "woman with blond hair",
                                  "bicycle", "owl"};
    static const char* places[] = {"on a table", "in the snow", "at night", "under a tree"};
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < n; ++i)
        texts.push_back(std::string("a ") + adjectives[i % 8] + " " + nouns[(i / 8) % 8] + " " + places[(i / 64) % 4]);
    return texts;
}

DualEncoder load_model(const EncoderBenchOptions& o) {
    if (!o.model.empty()) return DualEncoder::load(o.model);
    if (o.config.empty()) throw Error("bench encoder: give --model or --config");
    nlohmann::json j = read_model_config_json(o.config);
    // Random weights run as fast as trained ones, but the tokenizer decides how many tokens a
    // caption becomes: train one on the benchmark's captions so that they split into words
    // and sub-words as a trained tokenizer would split real captions. Its vocabulary replaces the
    // config's (vit-b-32.json names CLIP's 49,408), so load_model_config's check does not apply.
    Tokenizer tokenizer = train_bpe(sample_texts(512), {8192, 1});
    if (j.contains("text") && j["text"].is_object()) j["text"]["vocab_size"] = tokenizer.vocab_size();
    return DualEncoder::random(parse_model_config(j, o.config), std::move(tokenizer), 1);
}

struct CosineSpread {
    double worst = 1, mean = 0;
};
// Row by row cosine of two [N, D] embedding batches.
CosineSpread cosine_spread(const Tensor& a, const Tensor& b) {
    const std::int64_t d = a.dim(1), n = a.dim(0);
    CosineSpread out;
    for (std::int64_t r = 0; r < n; ++r) {
        double ab = 0, aa = 0, bb = 0;
        for (std::int64_t j = 0; j < d; ++j) {
            ab += static_cast<double>(a[r * d + j]) * b[r * d + j];
            aa += static_cast<double>(a[r * d + j]) * a[r * d + j];
            bb += static_cast<double>(b[r * d + j]) * b[r * d + j];
        }
        const double c = ab / std::sqrt(aa * bb);
        out.worst = std::min(out.worst, c);
        out.mean += c / static_cast<double>(n);
    }
    return out;
}

double mean_tokens(const DualEncoder& model, const std::vector<std::string>& texts) {
    double total = 0;
    for (const std::string& t : texts)
        total += static_cast<double>(model.tokenizer().encode_for_model(t, model.config().text.context_length).size());
    return total / static_cast<double>(texts.size());
}

std::string shell_quoted(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// benchmarks/reference/clip_speed.py, once --torch is known to apply: the model must be a CLIP
// checkpoint (PyTorch's side is CLIP's architecture, not Opsis's own towers).
std::string torch_reference_script(const EncoderBenchOptions& o) {
    if (o.model.empty()) throw Error("bench encoder: --torch needs --model, a CLIP checkpoint folder");
    const std::string format = checkpoint_format(model_folder(o.model));
    if (format != "openclip" && format != "huggingface")
        throw input_error(
            "model", o.model,
            "is an Opsis model: --torch runs PyTorch on CLIP checkpoints (OpenCLIP or Hugging Face folders)");
    const char* source = std::getenv("OPSIS_SOURCE_DIR");
    const std::string script =
        (source && *source ? std::string(source) + "/benchmarks" : std::string(OPSIS_SOURCE_BENCHMARKS)) +
        "/reference/clip_speed.py";
    if (!std::filesystem::exists(script))
        throw input_error("PyTorch reference", script, "does not exist (set OPSIS_SOURCE_DIR to the source tree)");
    return script;
}

// PyTorch on the same checkpoint, same threads and batches, run with Debian's OpenMP OpenBLAS
// (its best setting). Its figures, as it wrote them.
nlohmann::json torch_figures(const EncoderBenchOptions& o, const std::string& script, int threads) {
    std::string batches;
    for (int b : o.batches) batches += (batches.empty() ? "" : ",") + std::to_string(b);
    const std::string out =
        (std::filesystem::temp_directory_path() / ("opsis-torch-" + std::to_string(::getpid()) + ".json")).string();
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", o.seconds);
    const std::string command = "LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 " +
                                shell_quoted(script) + " --model " + shell_quoted(model_folder(o.model)) +
                                " --seconds " + seconds + " --threads " + std::to_string(threads) + " --batches " +
                                batches + " --json " + shell_quoted(out);
    std::printf("\nPyTorch, same checkpoint, same run:\n");
    std::fflush(stdout);
    const int status = std::system(command.c_str());
    if (status != 0) {
        std::filesystem::remove(out);
        throw Error("bench encoder --torch: the PyTorch reference failed (exit status " + std::to_string(status) +
                    "); scripts/setup installs python3-torch: " + command);
    }
    const nlohmann::json figures = nlohmann::json::parse(read_text_file(out, 1 << 20));
    std::filesystem::remove(out);
    return figures;
}

}  // namespace

void run_encoder_bench(const EncoderBenchOptions& o) {
    const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
    blas::set_threads(threads);
    std::vector<Precision> precisions;
    for (const std::string& name : o.precisions) {
        precisions.push_back(parse_precision(name));
        require_precision(precisions.back());
    }
    const std::string torch_script = o.torch ? torch_reference_script(o) : "";
    const DualEncoder loaded = load_model(o);
    const int s = loaded.config().image.preprocess.image_size;

    std::printf("opsis encoder benchmark: model '%s' (%lld parameters), %d thread(s), %.1f s per figure\n",
                loaded.config().name.c_str(), static_cast<long long>(loaded.parameter_count()), threads, o.seconds);
    const double peak = sgemm_gflops(1024, o.seconds);
    blas::set_threads(1);
    const double peak_one = sgemm_gflops(1024, o.seconds);
    blas::set_threads(threads);
    std::printf("BLAS: %s; oneDNN sees %s\n", blas::describe().c_str(), cpu_isa_name().c_str());
    std::printf("sgemm 1024^3 (blas::gemm): %.1f GFLOP/s with %d thread(s), %.1f GFLOP/s with 1\n", peak, threads,
                peak_one);
    std::map<Precision, double> peaks{{Precision::fp32, peak}};
    for (const Precision p : precisions)
        if (p != Precision::fp32) {
            peaks[p] = dense_gflops(p, 1024, o.seconds);
            std::printf("%s 1024^3 (DenseWeights, conversions included): %.1f GFLOP/s with %d thread(s)\n",
                        precision_name(p), peaks[p], threads);
        }

    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    nlohmann::json figures = nlohmann::json::array();
    std::printf("\n%-8s %-9s %6s %12s %10s %10s %8s\n", "tower", "precision", "batch", "items/s", "ms/batch", "GFLOP/s",
                "of peak");
    const auto report = [&](const char* tower, Precision p, int batch, const Rate& r) {
        std::printf("%-8s %-9s %6d %12.1f %10.2f %10.1f %7.1f%%\n", tower, precision_name(p), batch, r.items_per_s,
                    r.ms_per_call, r.gflops, 100.0 * r.gflops / peaks[p]);
        figures.push_back({{"tower", tower},
                           {"precision", precision_name(p)},
                           {"batch", batch},
                           {"items_per_s", r.items_per_s},
                           {"ms_per_batch", r.ms_per_call},
                           {"gflops", r.gflops},
                           {"peak_gflops", peaks[p]}});
    };
    for (const Precision p : precisions) {
        const DualEncoder model = loaded.at_precision(p);
        for (const int batch : o.batches) {
            Tensor images({batch, s, s, 3});
            for (std::int64_t i = 0; i < images.numel(); ++i) images[i] = normal(rng);
            report("image", p, batch, measure(o.seconds, batch, [&] { (void)model.encode_images(images); }));
        }
        for (const int batch : o.batches) {
            const auto texts = sample_texts(static_cast<std::size_t>(batch));
            report("text", p, batch, measure(o.seconds, batch, [&] { (void)model.encode_texts(texts); }));
        }
    }
    // What a reduced precision costs: its embeddings against fp32's, on the benchmark's inputs.
    nlohmann::json drift = nlohmann::json::object();
    if (std::any_of(precisions.begin(), precisions.end(), [](Precision p) { return p != Precision::fp32; })) {
        const int batch = std::max(8, *std::max_element(o.batches.begin(), o.batches.end()));
        Tensor images({batch, s, s, 3});
        for (std::int64_t i = 0; i < images.numel(); ++i) images[i] = normal(rng);
        const auto texts = sample_texts(static_cast<std::size_t>(batch));
        const DualEncoder exact = loaded.at_precision(Precision::fp32);
        const Tensor image_want = exact.encode_images(images), text_want = exact.encode_texts(texts);
        std::printf("\ncosine against fp32's embeddings (%d random pictures, %d captions): worst / mean\n", batch,
                    batch);
        for (const Precision p : precisions) {
            if (p == Precision::fp32) continue;
            const DualEncoder model = loaded.at_precision(p);
            const CosineSpread image = cosine_spread(model.encode_images(images), image_want);
            const CosineSpread text = cosine_spread(model.encode_texts(texts), text_want);
            std::printf("  %-5s images %.6f / %.6f   texts %.6f / %.6f\n", precision_name(p), image.worst, image.mean,
                        text.worst, text.mean);
            drift[precision_name(p)] = {{"image_worst", image.worst},
                                        {"image_mean", image.mean},
                                        {"text_worst", text.worst},
                                        {"text_mean", text.mean}};
        }
    }
    std::printf("\ntexts are captions of %.1f tokens on average (start and end included)\n",
                mean_tokens(loaded, sample_texts(64)));
    std::printf(
        "GFLOP/s counts the matrix products only; 'of peak' is that against the same precision's %d-thread peak "
        "above.\n",
        threads);
    nlohmann::json torch;
    if (o.torch) {
        torch = torch_figures(o, torch_script, threads);
        std::printf("\n%-8s %-9s %6s %12s %12s %8s %12s %8s\n", "tower", "precision", "batch", "Opsis/s", "PyTorch/s",
                    "ratio", "PyTorch bf16", "ratio");
        for (const nlohmann::json& ours : figures) {
            auto theirs = [&](const char* precision) -> double {
                for (const nlohmann::json& f : torch["figures"])
                    if (f["tower"] == ours["tower"] && f["batch"] == ours["batch"] && f["precision"] == precision)
                        return f["items_per_s"].get<double>();
                return 0;
            };
            const double mine = ours["items_per_s"].get<double>(), fp32 = theirs("fp32"), bf16 = theirs("bf16");
            std::printf("%-8s %-9s %6d %12.1f %12.1f %7.2fx", ours["tower"].get<std::string>().c_str(),
                        ours["precision"].get<std::string>().c_str(), ours["batch"].get<int>(), mine, fp32,
                        fp32 > 0 ? mine / fp32 : 0.0);
            if (bf16 > 0) std::printf(" %12.1f %7.2fx", bf16, mine / bf16);
            std::printf("\n");
        }
        std::printf("PyTorch's texts are padded to %d tokens, as CLIP's code does; Opsis's stop at the end token.\n",
                    torch["text_tokens"].get<int>());
    }
    if (!o.json_out.empty()) {
        nlohmann::json out = {{"model", loaded.config().name},       {"threads", threads},
                              {"cpu_isa", cpu_isa_name()},           {"sgemm_gflops", peak},
                              {"sgemm_gflops_one_thread", peak_one}, {"figures", figures}};
        for (const auto& [p, g] : peaks) out["peak_gflops"][precision_name(p)] = g;
        if (o.torch) out["torch"] = torch;
        write_file_atomic(o.json_out, out.dump(2) + "\n");
    }
}

}  // namespace opsis::bench
