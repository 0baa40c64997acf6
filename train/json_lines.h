#pragma once
// The corpus's JSON-lines files (manifest.jsonl, text_pairs.jsonl): one JSON object a line.
// A line that is not one, or that the reader rejects with an opsis::Error, is reported as
// "PATH line N: reason" and skipped; blank lines are skipped silently.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace opsis::train {

// Reads up to max_bytes of the file (a larger or missing one throws, naming it) and calls
// read(object, line number) for each object line.
void for_each_json_object(const std::string& path, std::uint64_t max_bytes,
                          const std::function<void(const nlohmann::json&, std::size_t)>& read,
                          std::vector<std::string>& problems);

// j[key] as a non-empty string; an opsis::Error naming the key otherwise.
std::string required_string(const nlohmann::json& j, const char* key);

}  // namespace opsis::train
