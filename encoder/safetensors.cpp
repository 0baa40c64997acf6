#include "encoder/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace opsis {
namespace {

using json = nlohmann::json;
constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;

// Every dtype a checkpoint may hold (Hugging Face's keep int64 position ids beside the
// weights); read() converts the float ones.
std::uint64_t dtype_size(const std::string& dtype) {
    if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
    if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
    if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
    if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
    return 0;
}

float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
    std::uint32_t exponent = (h >> 10) & 0x1F;
    std::uint32_t mantissa = h & 0x3FF;
    std::uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exponent = 127 - 15 + 1;
            while (!(mantissa & 0x400)) mantissa <<= 1, --exponent;
            bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    return std::bit_cast<float>(bits);
}

}  // namespace

SafetensorsReader::SafetensorsReader(const std::string& path) {
    file_ = std::make_unique<MappedFile>(path);
    auto fail = [&](const std::string& reason) { return input_error("model file", path, reason); };
    const std::uint64_t size = file_->size();
    if (size < 8) throw fail("truncated: " + std::to_string(size) + " bytes, not even a header length");
    std::uint64_t header_len = 0;
    std::memcpy(&header_len, file_->data(), 8);
    if (header_len > kMaxHeaderBytes) throw fail("header length " + std::to_string(header_len) + " is implausible");
    if (header_len > size - 8)
        throw fail("truncated: header needs " + std::to_string(header_len) + " bytes, file has " +
                   std::to_string(size - 8));
    json header;
    try {
        header = json::parse(file_->data() + 8, file_->data() + 8 + header_len);
    } catch (const json::exception& e) {
        throw fail(std::string("malformed header JSON: ") + e.what());
    }
    if (!header.is_object()) throw fail("header is not a JSON object");
    data_ = file_->data() + 8 + header_len;
    const std::uint64_t data_size = size - 8 - header_len;

    std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
    for (const auto& [name, value] : header.items()) {
        if (name == "__metadata__") {
            if (!value.is_object()) throw fail("__metadata__ is not an object");
            for (const auto& [key, text] : value.items()) {
                if (!text.is_string()) throw fail("metadata value '" + key + "' is not a string");
                metadata_[key] = text.get<std::string>();
            }
            continue;
        }
        const auto bad = [&](const std::string& why) { return fail("tensor '" + name + "': " + why); };
        if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
            !value.contains("data_offsets"))
            throw bad("entry needs dtype, shape and data_offsets");
        SafetensorsEntry e;
        if (!value["dtype"].is_string()) throw bad("dtype is not a string");
        e.dtype = value["dtype"].get<std::string>();
        if (!dtype_size(e.dtype)) throw bad("unknown dtype " + e.dtype);
        if (!value["shape"].is_array()) throw bad("shape is not an array");
        for (const json& d : value["shape"]) {
            if (!d.is_number_unsigned()) throw bad("shape holds a non-integer or negative size");
            e.shape.push_back(d.get<std::int64_t>());
        }
        const json& offsets = value["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
            !offsets[1].is_number_unsigned())
            throw bad("data_offsets must be two non-negative integers");
        e.begin = offsets[0].get<std::uint64_t>();
        e.end = offsets[1].get<std::uint64_t>();
        if (e.begin > e.end || e.end > data_size)
            throw bad("data [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") lies outside the " +
                      std::to_string(data_size) + " data bytes (truncated file?)");
        std::int64_t numel = 0;
        try {
            numel = shape_numel(e.shape);
        } catch (const Error& err) {
            throw bad(err.what());
        }
        if (static_cast<std::uint64_t>(numel) * dtype_size(e.dtype) != e.end - e.begin)
            throw bad("holds " + std::to_string(e.end - e.begin) + " bytes but shape " + shape_to_string(e.shape) +
                      " of " + e.dtype + " needs " +
                      std::to_string(static_cast<std::uint64_t>(numel) * dtype_size(e.dtype)));
        spans.emplace_back(e.begin, e.end);
        entries_.emplace(name, std::move(e));
    }
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i)
        if (spans[i].first < spans[i - 1].second) throw fail("tensors overlap in the data section");
}

Tensor SafetensorsReader::read(const std::string& name) const {
    const auto it = entries_.find(name);
    if (it == entries_.end()) throw input_error("model file", path(), "no tensor named '" + name + "'");
    const SafetensorsEntry& e = it->second;
    if (e.dtype != "F32" && e.dtype != "F16" && e.dtype != "BF16")
        throw input_error("model file", path(),
                          "tensor '" + name + "' is " + e.dtype + ", not a weight (F32, F16 or BF16 expected)");
    Tensor t(e.shape);
    const unsigned char* src = data_ + e.begin;
    const std::int64_t n = t.numel();
    if (e.dtype == "F32") {
        std::memcpy(t.data(), src, static_cast<std::size_t>(n) * 4);
    } else {
        for (std::int64_t i = 0; i < n; ++i) {
            std::uint16_t h;
            std::memcpy(&h, src + i * 2, 2);
            t[i] = e.dtype == "F16" ? half_to_float(h) : std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
        }
    }
    for (std::int64_t i = 0; i < n; ++i)
        if (!std::isfinite(t[i]))
            throw input_error("model file", path(), "tensor '" + name + "' holds NaN or infinity");
    return t;
}

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    json header = json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * 4;
        header[name] = {{"dtype", "F32"}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string head = header.dump();
    head.append((8 - head.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
    std::string blob(8, '\0');
    const std::uint64_t len = head.size();
    std::memcpy(blob.data(), &len, 8);
    blob += head;
    blob.reserve(blob.size() + offset);
    for (const auto& [name, t] : tensors)
        blob.append(reinterpret_cast<const char*>(t.data()), static_cast<std::size_t>(t.numel()) * 4);
    write_file_atomic(path, blob);
}

}  // namespace opsis
