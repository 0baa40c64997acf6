#include "encoder/precision.h"

#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"

namespace opsis {

Precision parse_precision(const std::string& name) {
    if (name == "fp32") return Precision::fp32;
    if (name == "bf16") return Precision::bf16;
    if (name == "int8") return Precision::int8;
    throw input_error("precision", name, "unknown (expected fp32, bf16 or int8)");
}

std::optional<Precision> parse_precision_if_given(const std::string& name) {
    if (name.empty()) return std::nullopt;
    return parse_precision(name);
}

const char* precision_name(Precision p) {
    switch (p) {
        case Precision::fp32: return "fp32";
        case Precision::bf16: return "bf16";
        case Precision::int8: return "int8";
    }
    return "?";
}

std::string cpu_isa_name() {
    switch (dnnl::get_effective_cpu_isa()) {
        case dnnl::cpu_isa::sse41: return "sse41";
        case dnnl::cpu_isa::avx: return "avx";
        case dnnl::cpu_isa::avx2: return "avx2";
        case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
        case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
        case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
        case dnnl::cpu_isa::avx512_core: return "avx512_core";
        case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
        case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
        case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
        default: return "generic";
    }
}

std::string precision_unsupported_reason(Precision p) {
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    switch (p) {
        case Precision::fp32: return "";
        case Precision::bf16:
            // Without native bf16, oneDNN emulates it: slower than fp32, so it is refused.
            if (isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx) return "";
            return "this CPU has neither AVX-512 BF16 nor AMX (oneDNN sees " + cpu_isa_name() + ")";
        case Precision::int8:
            if (isa == dnnl::cpu_isa::avx512_core_vnni || isa == dnnl::cpu_isa::avx512_core_bf16 ||
                isa == dnnl::cpu_isa::avx512_core_amx || isa == dnnl::cpu_isa::avx2_vnni)
                return "";
            return "this CPU has neither VNNI nor AMX (oneDNN sees " + cpu_isa_name() + ")";
    }
    return "unknown precision";
}

void require_precision(Precision p) {
    const std::string why = precision_unsupported_reason(p);
    if (!why.empty()) throw input_error("precision", precision_name(p), why + ": use --precision fp32");
}

}  // namespace opsis
