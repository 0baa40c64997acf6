#pragma once
// Each subcommand registers itself on the root CLI11 app; main() runs the chosen one.
#include <CLI/CLI.hpp>

namespace opsis::cli {

void register_embed(CLI::App& app);
void register_classify(CLI::App& app);
void register_explain(CLI::App& app);
void register_model(CLI::App& app);
void register_tokenizer(CLI::App& app);
void register_bench(CLI::App& app);
void register_train(CLI::App& app);
void register_index(CLI::App& app);
void register_search(CLI::App& app);
void register_serve(CLI::App& app);

}  // namespace opsis::cli
