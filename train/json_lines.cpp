#include "train/json_lines.h"

#include "core/error.h"
#include "core/file_io.h"
#include "core/lines.h"

namespace opsis::train {

void for_each_json_object(const std::string& path, std::uint64_t max_bytes,
                          const std::function<void(const nlohmann::json&, std::size_t)>& read,
                          std::vector<std::string>& problems) {
    const std::string text = read_text_file(path, max_bytes);
    for_each_line(text, [&](std::string_view line, std::size_t line_no) {
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
        try {
            const nlohmann::json j = nlohmann::json::parse(line);
            if (!j.is_object()) throw Error("not a JSON object");
            read(j, line_no);
        } catch (const nlohmann::json::exception& e) {
            problems.push_back(path + " line " + std::to_string(line_no) + ": malformed JSON (" + e.what() + ")");
        } catch (const Error& e) {
            problems.push_back(path + " line " + std::to_string(line_no) + ": " + e.what());
        }
    });
}

std::string required_string(const nlohmann::json& j, const char* key) {
    if (!j.contains(key) || !j[key].is_string() || j[key].get<std::string>().empty())
        throw Error(std::string("'") + key + "' is missing, empty or not a string");
    return j[key].get<std::string>();
}

}  // namespace opsis::train
