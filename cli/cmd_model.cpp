// opsis model init | info: create a randomly initialised model, describe an existing one.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/json_text.h"
#include "core/error.h"
#include "core/file_io.h"
#include "encoder/clip_checkpoint.h"
#include "encoder/dual_encoder.h"

namespace opsis::cli {
namespace {

struct InitArgs {
    std::string config, out, tokenizer;
    std::uint64_t seed = 1;
};

void run_init(const InitArgs& a) {
    Tokenizer tokenizer = a.tokenizer.empty() ? Tokenizer::bytes_only() : Tokenizer::load(a.tokenizer);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_text_file(a.config, 1 << 20));
    } catch (const nlohmann::json::exception& e) {
        throw input_error("model config", a.config, std::string("malformed JSON: ") + e.what());
    }
    // The vocabulary size belongs to the tokenizer; a config may leave it out.
    if (j.is_object() && j.contains("text") && j["text"].is_object() && !j["text"].contains("vocab_size"))
        j["text"]["vocab_size"] = tokenizer.vocab_size();
    ModelConfig config = parse_model_config(j, a.config);
    const DualEncoder model = DualEncoder::random(std::move(config), std::move(tokenizer), a.seed);
    model.save(a.out);
    std::printf("wrote %s: %s, %lld parameters, seed %llu\n", a.out.c_str(), model.config().name.c_str(),
                static_cast<long long>(model.parameter_count()), static_cast<unsigned long long>(a.seed));
}

void run_info(const std::string& path) {
    const DualEncoder model = DualEncoder::load(path);
    const std::string folder = model_folder(path);
    nlohmann::json out = {
        {"model", folder},
        {"format", checkpoint_format(folder)},
        {"weights_file", model_weights_file(folder)},
        {"precision", "fp32"},  // weights are held and run in float32, whatever the file's dtype
        {"parameters", model.parameter_count()},
        {"tokenizer_vocab", model.tokenizer().vocab_size()},
        {"tokenizer_cleaning", model.tokenizer().cleaning() == Tokenizer::Cleaning::clip ? "clip" : "plain"},
        {"lexicon_words", model.lexicon() ? nlohmann::json(model.lexicon()->known_words()) : nlohmann::json(nullptr)},
        {"logit_scale", model.logit_scale()},
        {"config", model_config_to_json(model.config())}};
    std::printf("%s\n", json_text(out, 2).c_str());
}

}  // namespace

void register_model(CLI::App& app) {
    CLI::App* model = app.add_subcommand("model", "Create and inspect models");
    model->require_subcommand(1);

    auto init = std::make_shared<InitArgs>();
    CLI::App* cmd = model->add_subcommand("init", "Write a randomly initialised model from a config");
    cmd->add_option("--config,-c", init->config, "Architecture config (JSON)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--out,-o", init->out, "Model folder to write")->required();
    cmd->add_option("--tokenizer", init->tokenizer, "Tokenizer folder (vocab.json + merges.txt); default: bytes only")
        ->check(CLI::ExistingDirectory);
    cmd->add_option("--seed", init->seed, "Random seed")->capture_default_str();
    cmd->callback([init] { run_init(*init); });

    auto info_path = std::make_shared<std::string>();
    CLI::App* info = model->add_subcommand("info", "Print a model's config and size");
    info->add_option("--model,-m", *info_path, "Model folder")->required();
    info->callback([info_path] { run_info(*info_path); });
}

}  // namespace opsis::cli
