#pragma once
// The safetensors format: an 8-byte little-endian header length, a JSON header
// {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}},
// then the raw little-endian tensor bytes. Read through mmap, every entry validated.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "encoder/tensor.h"

namespace opsis {

struct SafetensorsEntry {
    std::string dtype;  // F32, F16, BF16 (weights), or another safetensors dtype (F64, I64, ..., BOOL)
    Shape shape;
    std::uint64_t begin = 0, end = 0;  // offsets into the data section
};

class SafetensorsReader {
public:
    // Throws opsis::Error "model file '<path>': <reason>" for any structural problem:
    // truncated file, bad header length, malformed JSON, unknown dtype, offsets outside the
    // data, sizes that disagree with shapes, overlapping tensors.
    explicit SafetensorsReader(const std::string& path);

    const std::string& path() const { return file_->path(); }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
    bool contains(const std::string& name) const { return entries_.count(name) != 0; }
    // Converts F16/BF16 to float32; another dtype is an error naming the tensor.
    Tensor read(const std::string& name) const;

private:
    std::unique_ptr<MappedFile> file_;
    const unsigned char* data_ = nullptr;  // start of the data section
    std::map<std::string, std::string> metadata_;
    std::map<std::string, SafetensorsEntry> entries_;
};

// Writes F32 tensors (in name order) with string metadata, atomically.
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace opsis
