#pragma once
// --precision on every command that runs a model (encoder/precision.h says what each means).
#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "encoder/precision.h"

namespace opsis::cli {

// Adds `--precision fp32|bf16|int8` to `cmd`, stored as text in `target` (parse_precision turns
// it into a Precision where the command runs); `what` says what the default is.
CLI::Option* add_precision_option(CLI::App* cmd, std::string& target, const std::string& what);

// The precision an option holds; none when it was not given (empty).
std::optional<Precision> precision_given(const std::string& text);

}  // namespace opsis::cli
