#include "benchmarks/lifted_model.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/file_io.h"
#include "encoder/dual_encoder.h"
#include "index_folder/open_index.h"

namespace opsis::bench {

namespace fs = std::filesystem;

std::vector<float> lift_map(int from, int to) {
    if (from <= 0 || to < from)
        throw input_error("dimension", std::to_string(to),
                          "must be at least the model's " + std::to_string(from) + " to place its vectors in");
    // Gaussian columns made orthonormal (Gram-Schmidt, twice for accuracy).
    const std::size_t f = static_cast<std::size_t>(from), t = static_cast<std::size_t>(to);
    std::vector<double> cols(f * t);  // column j at [j * t, (j + 1) * t)
    std::mt19937_64 rng(512);
    std::normal_distribution<double> g;
    for (double& x : cols) x = g(rng);
    for (std::size_t j = 0; j < f; ++j) {
        double* c = &cols[j * t];
        for (int pass = 0; pass < 2; ++pass)
            for (std::size_t i = 0; i < j; ++i) {
                const double* p = &cols[i * t];
                double d = 0;
                for (std::size_t r = 0; r < t; ++r) d += c[r] * p[r];
                for (std::size_t r = 0; r < t; ++r) c[r] -= d * p[r];
            }
        double norm = 0;
        for (std::size_t r = 0; r < t; ++r) norm += c[r] * c[r];
        for (std::size_t r = 0; r < t; ++r) c[r] /= std::sqrt(norm);
    }
    std::vector<float> map(t * f);
    for (std::size_t r = 0; r < t; ++r)
        for (std::size_t j = 0; j < f; ++j) map[r * f + j] = static_cast<float>(cols[j * t + r]);
    return map;
}

void lift(const std::vector<float>& map, int from, int to, const float* in, float* out, std::size_t n) {
    const std::size_t f = static_cast<std::size_t>(from), t = static_cast<std::size_t>(to);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t r = 0; r < t; ++r) {
            float s = 0;
            for (std::size_t j = 0; j < f; ++j) s += map[r * f + j] * in[i * f + j];
            out[i * t + r] = s;
        }
}

std::string lifted_model(const std::string& model_path, int dim, const std::string& cache) {
    const DualEncoder model = DualEncoder::load(model_path);
    const storage::ModelIdentity id = identify_model(model_path, model);
    const std::string dir = cache + "/bench-models/" + id.sha256.substr(0, 12) + "-" + std::to_string(dim) + "d";
    if (fs::exists(dir + "/model.safetensors")) return dir;
    const int from = model.config().embed_dim;
    const std::vector<float> map = lift_map(from, dim);
    Weights weights = model.weights();
    for (const char* name : {"visual.proj", "text_projection"}) {
        const Tensor& w = weight(weights, name);  // [in, from]
        if (w.rank() != 2 || w.shape()[1] != from)
            throw input_error("model", model_path, std::string("has no ") + name + " of width " + std::to_string(from));
        const std::size_t rows = static_cast<std::size_t>(w.shape()[0]);
        Tensor lifted({w.shape()[0], dim});
        lift(map, from, dim, w.data(), lifted.data(), rows);  // each row's output, placed in `dim`
        weights[name] = std::move(lifted);
    }
    ModelConfig config = model.config();
    config.embed_dim = dim;
    config.name += "-" + std::to_string(dim) + "d";
    const DualEncoder out = DualEncoder::from_weights(config, model.tokenizer(), std::move(weights));
    const std::string tmp = dir + ".tmp";
    fs::remove_all(tmp);
    out.save(tmp);
    const fs::path source = model_folder(model_path);
    if (fs::exists(source / "lexicon.tsv")) fs::copy_file(source / "lexicon.tsv", fs::path(tmp) / "lexicon.tsv");
    // The rule judges cosines, which the map keeps: it is the original's, named for these weights.
    if (fs::exists(source / "relevance.json")) {
        nlohmann::json rule = nlohmann::json::parse(read_file((source / "relevance.json").string(), 1 << 20));
        rule["model_sha256"] = identify_model(tmp, out).sha256;
        rule["fitted_on"] = rule.value("fitted_on", "") + " (for " + id.sha256.substr(0, 12) +
                            ", whose cosines these weights keep exactly)";
        write_file_atomic(tmp + "/relevance.json", rule.dump(2) + "\n");
    }
    fs::remove_all(dir);
    fs::rename(tmp, dir);
    return dir;
}

}  // namespace opsis::bench
