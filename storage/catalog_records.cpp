#include "storage/catalog_records.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/utf8.h"

namespace opsis::storage::records {
namespace {

using json = nlohmann::json;

// File names are bytes, not always UTF-8 (JSON's strings): when any is not, all are kept as
// hex, so every path is stored exactly and a single odd name stops nothing.
std::string to_hex(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string from_hex(const std::string& hex) {
    if (hex.size() % 2) throw Error("catalog: a stored path's hex has odd length");
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

json item_record(const Item& it) {
    json j{{"id", it.id}, {"hash", it.hash}, {"added_at", it.added_at}};
    const bool all_text =
        std::all_of(it.paths.begin(), it.paths.end(), [](const std::string& p) { return !utf8::find_invalid(p); });
    if (!it.paths.empty() && all_text) j["paths"] = it.paths;
    if (!it.paths.empty() && !all_text) {
        json hex = json::array();
        for (const std::string& p : it.paths) hex.push_back(to_hex(p));
        j["path_bytes"] = hex;
    }
    if (!it.text.empty()) j["text"] = it.text;
    if (it.width > 0) {
        j["width"] = it.width;
        j["height"] = it.height;
        j["file_size"] = it.file_size;
    }
    if (!it.source.empty()) j["source"] = it.source;
    if (!it.tags.empty()) j["tags"] = it.tags;
    if (!it.captions.empty()) j["captions"] = it.captions;
    if (it.taken) {
        j["taken_at"] = it.taken->local;
        if (it.taken->offset_minutes) j["taken_offset"] = *it.taken->offset_minutes;
        if (it.taken->from_file) j["taken_from_file"] = true;
    }
    if (!it.camera.empty()) j["camera"] = it.camera;
    if (it.position) j["gps"] = {it.position->latitude, it.position->longitude};
    return j;
}

}  // namespace

std::string family(Collection c, const char* what) { return std::string(collection_name(c)) + "." + what; }

std::string key_of(std::uint64_t v) {
    std::string k(8, '\0');
    for (int i = 7; i >= 0; --i, v >>= 8) k[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    return k;
}
std::uint64_t number_of(const rocksdb::Slice& k) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8 && i < k.size(); ++i) v = (v << 8) | static_cast<unsigned char>(k[i]);
    return v;
}

std::string facet_prefix(char kind, const std::string& value) {
    std::string k(1, kind);
    const auto n = static_cast<std::uint32_t>(value.size());
    for (int shift = 24; shift >= 0; shift -= 8) k += static_cast<char>((n >> shift) & 0xff);
    return k + value;
}
std::set<std::string> facet_keys(const Item& it) {
    std::set<std::string> keys;
    const std::string id = key_of(static_cast<std::uint64_t>(it.id));
    if (!it.source.empty()) keys.insert(facet_prefix('s', it.source) + id);
    for (const std::string& t : it.tags) keys.insert(facet_prefix('t', t) + id);
    if (it.taken) keys.insert(date_key(it.taken->local) + id);
    if (!it.camera.empty()) keys.insert(facet_prefix('c', it.camera) + id);
    return keys;
}

std::string date_key(std::int64_t local) {
    std::string k(1, 'd');
    k += key_of(static_cast<std::uint64_t>(local) ^ (std::uint64_t{1} << 63));
    return k;
}

Item item_from(const std::string& bytes) {
    const json j = json::parse(bytes);
    Item it;
    it.id = j.at("id").get<std::int64_t>();
    it.hash = j.at("hash").get<std::string>();
    it.added_at = j.value("added_at", std::int64_t{0});
    it.paths = j.value("paths", std::vector<std::string>{});
    if (j.contains("path_bytes"))
        for (const json& hex : j.at("path_bytes")) it.paths.push_back(from_hex(hex.get<std::string>()));
    it.text = j.value("text", std::string{});
    it.width = j.value("width", 0);
    it.height = j.value("height", 0);
    it.file_size = j.value("file_size", std::uint64_t{0});
    it.source = j.value("source", std::string{});
    it.tags = j.value("tags", std::vector<std::string>{});
    it.captions = j.value("captions", std::vector<std::string>{});
    if (j.contains("taken_at")) {
        TakenAt t;
        t.local = j.at("taken_at").get<std::int64_t>();
        if (j.contains("taken_offset")) t.offset_minutes = j.at("taken_offset").get<int>();
        t.from_file = j.value("taken_from_file", false);
        it.taken = t;
    }
    it.camera = j.value("camera", std::string{});
    if (j.contains("gps")) it.position = GeoPoint{j.at("gps").at(0).get<double>(), j.at("gps").at(1).get<double>()};
    return it;
}

std::string path_value(const PathEntry& p) {
    return json{{"id", p.id}, {"size", p.size}, {"mtime_ns", p.mtime_ns}}.dump();
}
PathEntry path_from(const std::string& bytes) {
    const json j = json::parse(bytes);
    return {j.at("id").get<std::int64_t>(), j.at("size").get<std::uint64_t>(), j.at("mtime_ns").get<std::int64_t>()};
}

std::string failure_value(const Failure& f) {
    // A reason is text for people; it may quote a file name that is not UTF-8.
    const std::string reason = utf8::find_invalid(f.reason) ? utf8::escaped(f.reason) : f.reason;
    return json{{"reason", reason}, {"size", f.size}, {"mtime_ns", f.mtime_ns}, {"at", f.at}}.dump();
}

std::string item_value(const Item& it) { return item_record(it).dump(); }

Failure failure_from(Collection c, const std::string& key, const std::string& bytes) {
    const json j = json::parse(bytes);
    Failure f{key, j.at("reason"), j.at("size"), j.at("mtime_ns"), j.at("at")};
    f.collection = c;
    return f;
}

bool disk_full(const rocksdb::Status& s) {
    return s.IsNoSpace() || s.ToString().find("No space left") != std::string::npos;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void check(const rocksdb::Status& s, const std::string& folder, const char* doing) {
    if (s.ok()) return;
    std::string reason = std::string(doing) + ": " + s.ToString();
    // A damaged or unreadable catalog is the machine's failure, not the caller's: the server
    // answers it as its own error (500, the detail in its log, which names the files).
    const Error::Kind kind = s.IsNoSpace()      ? Error::Kind::no_space
                             : s.IsCorruption() ? Error::Kind::corruption
                             : s.IsIOError()    ? Error::Kind::io
                                                : Error::Kind::invalid_input;
    throw input_error("index catalog", folder, reason, kind);
}

}  // namespace opsis::storage::records
