#pragma once
// --precision on every command that runs a model (encoder/precision.h says what each means).
#include <CLI/CLI.hpp>
#include <string>

namespace opsis::cli {

// Adds `--precision fp32|bf16|int8` to `cmd`, stored as text in `target` (parse_precision turns
// it into a Precision where the command runs: parse_precision, or parse_precision_if_given
// where it may be left out); `what` says what the default is.
CLI::Option* add_precision_option(CLI::App* cmd, std::string& target, const std::string& what);

}  // namespace opsis::cli
