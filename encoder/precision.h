#pragma once
// The number format a model's weight products run at, chosen per run (--precision) and never
// stored in the weights: a model file holds fp32 and is packed at load for the precision asked.
//   fp32  exact, on every CPU (the default)
//   bf16  weights and activations rounded to bfloat16, products summed in fp32: needs AVX-512
//         BF16 or AMX
//   int8  weights quantised per output column, activations per row, summed in int32: needs
//         VNNI (AVX-512 or AVX2) or AMX
// Only the weight products change; attention's products, norms and activations stay fp32.
#include <optional>
#include <string>

namespace opsis {

enum class Precision { fp32, bf16, int8 };

// "fp32" | "bf16" | "int8"; anything else throws opsis::Error naming the value.
Precision parse_precision(const std::string& name);
// The same for an option that may be left out: empty gives none.
std::optional<Precision> parse_precision_if_given(const std::string& name);
const char* precision_name(Precision p);

// The instructions oneDNN will use on this CPU, e.g. "avx512_core_bf16" (DNNL_MAX_CPU_ISA can
// lower it, which is how a test plays an older CPU).
std::string cpu_isa_name();
// Why this CPU cannot run `p` natively ("" when it can).
std::string precision_unsupported_reason(Precision p);
// Throws opsis::Error with the reason when this CPU cannot run `p`.
void require_precision(Precision p);

}  // namespace opsis
