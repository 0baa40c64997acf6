#include "train/corpus.h"

#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"
#include "core/file_io.h"
#include "train/json_lines.h"
#include "train/text_augment.h"

namespace opsis::train {
namespace {

constexpr std::uint64_t kMaxManifestBytes = 4ull << 30;

// j[key] as a list of non-empty strings (none when absent); `name` says which in an error.
std::vector<std::string> string_list(const nlohmann::json& j, const char* key, const std::string& name) {
    std::vector<std::string> out;
    if (!j.contains(key)) return out;
    if (!j[key].is_array()) throw Error("'" + name + "' is not a list");
    for (const auto& s : j[key]) {
        if (!s.is_string()) throw Error("'" + name + "' holds a non-string");
        if (!s.get<std::string>().empty()) out.push_back(s.get<std::string>());
    }
    return out;
}

}  // namespace

Manifest read_manifest(const std::string& path) {
    Manifest m;
    for_each_json_object(
        path, kMaxManifestBytes,
        [&](const nlohmann::json& j, std::size_t line_no) {
            CorpusItem item;
            item.line = line_no;
            item.id = required_string(j, "id");
            item.image = required_string(j, "image");
            item.concept_name = required_string(j, "concept");
            item.source = j.value("source", "");
            item.style = j.value("style", "");
            if (j.contains("mirrorable")) {
                if (!j["mirrorable"].is_boolean()) throw Error("'mirrorable' is not true or false");
                item.mirrorable = j["mirrorable"].get<bool>();
            }
            if (!j.contains("captions") || !j["captions"].is_object()) throw Error("'captions' is missing");
            item.english = string_list(j["captions"], "en", "captions.en");
            item.greek = string_list(j["captions"], "el", "captions.el");
            if (item.english.empty() && item.greek.empty()) throw Error("no caption");
            item.definitions = string_list(j, "definitions", "definitions");
            item.search_tags = string_list(j, "search_tags", "search_tags");
            m.items.push_back(std::move(item));
        },
        m.problems);
    return m;
}

std::vector<std::string> read_split(const std::string& path) {
    const std::string text = read_text_file(path, kMaxManifestBytes);
    std::vector<std::string> ids;
    for (std::size_t pos = 0; pos < text.size();) {
        std::size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        std::string id = text.substr(pos, eol - pos);
        pos = eol + 1;
        while (!id.empty() && (id.back() == '\r' || id.back() == ' ')) id.pop_back();
        if (!id.empty()) ids.push_back(std::move(id));
    }
    return ids;
}

std::vector<CorpusItem> select(const Manifest& manifest, const std::vector<std::string>& ids,
                               std::vector<std::string>& problems) {
    std::unordered_map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < manifest.items.size(); ++i) index.emplace(manifest.items[i].id, i);
    std::vector<CorpusItem> out;
    for (const std::string& id : ids) {
        const auto it = index.find(id);
        if (it == index.end())
            problems.push_back("split lists '" + id + "', which the manifest does not have (or had a bad line)");
        else
            out.push_back(manifest.items[it->second]);
    }
    return out;
}

std::string search_tags_caption(const CorpusItem& item) {
    if (item.search_tags.empty() || item.english.empty()) return "";
    std::string caption = split_keywords(item.english.front()).phrase + ": ";
    for (std::size_t t = 0; t < item.search_tags.size(); ++t) caption += (t ? ", " : "") + item.search_tags[t];
    return caption;
}

std::vector<std::int32_t> concept_ids(const std::vector<CorpusItem>& items) {
    std::unordered_map<std::string, std::int32_t> ids;
    std::vector<std::int32_t> out;
    for (const CorpusItem& item : items) {
        const auto [it, fresh] = ids.emplace(item.concept_name, static_cast<std::int32_t>(ids.size()));
        out.push_back(it->second);
    }
    return out;
}

}  // namespace opsis::train
