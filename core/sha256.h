#pragma once
// SHA-256 (OpenSSL's libcrypto) as lower-case hex: content hashes of indexed files and the
// identity of a model's weights.
#include <cstddef>
#include <string>

namespace opsis {

std::string sha256_hex(const void* data, std::size_t size);
// Streams the file in chunks, so a large file never sits in memory whole.
std::string sha256_file_hex(const std::string& path);

}  // namespace opsis
