#include "cli/precision_option.h"

namespace opsis::cli {

CLI::Option* add_precision_option(CLI::App* cmd, std::string& target, const std::string& what) {
    return cmd
        ->add_option("--precision", target,
                     "Number format of the model's weight products: fp32 (exact), bf16 (AVX-512 BF16 or AMX) or "
                     "int8 (VNNI or AMX); " +
                         what)
        ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
}

}  // namespace opsis::cli
