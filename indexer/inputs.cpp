#include "indexer/inputs.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

#include "core/error.h"
#include "core/sha256.h"

namespace opsis::indexer {

bool InputSlice::holds(const std::string& path) const {
    if (parts <= 1) return true;
    // The first 8 bytes of the path's SHA-256: evenly spread, and not std::hash, which may
    // differ between builds.
    const std::string hex = sha256_hex(path.data(), path.size());
    return std::stoull(hex.substr(0, 16), nullptr, 16) % parts == part;
}

InputSlice InputSlice::parse(const std::string& text) {
    const std::size_t slash = text.find('/');
    auto number = [&](const std::string& s) -> std::optional<std::uint32_t> {
        if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
        return static_cast<std::uint32_t>(std::stoul(s));
    };
    if (slash != std::string::npos) {
        const auto part = number(text.substr(0, slash)), parts = number(text.substr(slash + 1));
        if (part && parts && *parts >= 1 && *part < *parts) return {*part, *parts};
    }
    throw input_error("shard", text, "must be i/N with 0 <= i < N (say 0/4 for the first of four)");
}
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string lower_extension(const fs::path& p) {
    std::string ext = p.extension().string();
    if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext;
}

bool stopped(const WalkOptions& options) { return options.stopped && options.stopped(); }

struct Walker {
    const WalkOptions& options;
    const std::function<void(InputFile&&)>& found;
    const std::function<void(const std::string&, const std::string&)>& problem;
    std::set<std::pair<dev_t, ino_t>> visited;

    void walk(const fs::path& dir) {
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0) return problem(dir.string(), "cannot read the folder");
        if (!visited.insert({st.st_dev, st.st_ino}).second) return;  // a symlink loop or a second way in
        std::error_code ec;
        fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
        if (ec) return problem(dir.string(), "cannot list the folder: " + ec.message());
        std::vector<fs::directory_entry> entries;
        for (; it != fs::directory_iterator(); it.increment(ec)) {
            if (ec) return problem(dir.string(), "listing failed: " + ec.message());
            entries.push_back(*it);
        }
        // Byte order, so runs are reproducible whatever the file system returns.
        std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path() < b.path(); });
        for (const fs::directory_entry& e : entries) {
            if (stopped(options)) return;
            const std::string name = e.path().filename().string();
            if (is_junk_name(name)) continue;  // folders too
            std::error_code sec;
            const fs::file_status status = e.status(sec);  // follows symlinks
            if (sec) {
                if (e.is_symlink(sec)) problem(e.path().string(), "broken symbolic link");
                continue;
            }
            if (fs::is_directory(status)) {
                walk(e.path());
            } else if (fs::is_regular_file(status) && taken_from_folder(e.path(), options)) {
                found(InputFile{e.path().lexically_normal().string(), {}, {}, {}});
            }
        }
    }
};

bool open_regular(std::ifstream& in, const std::string& path, const char* what,
                  const std::function<void(const std::string&, const std::string&)>& problem) {
    if (const std::string why = unreadable_reason(path); !why.empty()) {
        problem(path, std::string("the ") + what + " " + why);
        return false;
    }
    in.open(path, std::ios::binary);
    if (!in) {
        problem(path, std::string("cannot open the ") + what);
        return false;
    }
    return true;
}

void read_list(const std::string& list, const WalkOptions& options, const std::function<void(InputFile&&)>& found,
               const std::function<void(const std::string&, const std::string&)>& problem) {
    std::ifstream in;
    if (!open_regular(in, list, "list file", problem)) return;
    const fs::path base = fs::path(absolute_path(list)).parent_path();
    std::string line;
    bool too_long = false;
    for (std::size_t n = 1; !stopped(options) && next_line(in, line, too_long); ++n) {
        if (too_long) {
            problem(list + " line " + std::to_string(n),
                    "longer than " + std::to_string(kMaxInputLineBytes) + " bytes");
            continue;
        }
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (line.empty() || line[0] == '#') continue;
        fs::path p(line);
        if (p.is_relative()) p = base / p;
        found(InputFile{p.lexically_normal().string(), {}, {}, {}});
    }
}

void read_manifest(const std::string& manifest, const WalkOptions& options,
                   const std::function<void(InputFile&&)>& found,
                   const std::function<void(const std::string&, const std::string&)>& problem) {
    std::ifstream in;
    if (!open_regular(in, manifest, "manifest", problem)) return;
    const fs::path base = fs::path(absolute_path(manifest)).parent_path();
    std::string line;
    bool too_long = false;
    for (std::size_t n = 1; !stopped(options) && next_line(in, line, too_long); ++n) {
        const std::string where = manifest + " line " + std::to_string(n);
        if (too_long) {
            problem(where, "longer than " + std::to_string(kMaxInputLineBytes) + " bytes");
            continue;
        }
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            const json j = parse_json_line(line);
            if (!j.is_object()) throw std::runtime_error("not a JSON object");
            const json& image = j.contains("image") ? j.at("image") : j.contains("path") ? j.at("path") : json();
            if (!image.is_string()) throw std::runtime_error("needs \"image\" (or \"path\") as a string");
            fs::path p(image.get<std::string>());
            if (p.is_relative()) p = base / p;
            InputFile f{p.lexically_normal().string(), {}, j.value("source", std::string{}), {}};
            if (j.contains("captions")) {
                const json& c = j.at("captions");
                if (c.is_array()) {
                    for (const json& s : c) f.captions.push_back(s.get<std::string>());
                } else if (c.is_object()) {
                    // English first (shown first by the UI), then the other languages.
                    if (c.contains("en"))
                        for (const json& s : c.at("en")) f.captions.push_back(s.get<std::string>());
                    for (const auto& [lang, list] : c.items())
                        if (lang != "en")
                            for (const json& s : list) f.captions.push_back(s.get<std::string>());
                } else {
                    throw std::runtime_error("\"captions\" must be a list or an object of lists");
                }
            }
            if (j.contains("tags")) f.tags = j.at("tags").get<std::vector<std::string>>();
            for (const char* key : {"style", "concept"})
                if (j.contains(key) && j.at(key).is_string()) f.tags.push_back(j.at(key).get<std::string>());
            found(std::move(f));
        } catch (const std::exception& e) {
            problem(where, e.what());
        }
    }
}

}  // namespace

std::string unreadable_reason(const std::string& path) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return "does not exist";
    if (!fs::is_regular_file(st)) return "is not a regular file";
    return "";
}

bool next_line(std::istream& in, std::string& line, bool& too_long) {
    line.clear();
    too_long = false;
    std::streambuf* buf = in.rdbuf();
    for (int c = buf->sbumpc();; c = buf->sbumpc()) {
        if (c == std::char_traits<char>::eof()) {
            in.setstate(std::ios::eofbit);
            return !line.empty() || too_long;
        }
        if (c == '\n') return true;
        if (line.size() < kMaxInputLineBytes)
            line.push_back(static_cast<char>(c));
        else
            too_long = true;
    }
}

json parse_json_line(const std::string& line) {
    std::vector<std::set<std::string>> keys;
    std::string duplicate;
    json j;
    try {
        j = json::parse(line, [&](int, json::parse_event_t event, json& parsed) {
            if (event == json::parse_event_t::object_start)
                keys.emplace_back();
            else if (event == json::parse_event_t::object_end)
                keys.pop_back();
            else if (event == json::parse_event_t::key && !keys.back().insert(parsed.get<std::string>()).second &&
                     duplicate.empty())
                duplicate = parsed.get<std::string>();
            return true;
        });
    } catch (const json::parse_error& e) {
        // The parser's own message quotes what it last read: the file's content, which a job
        // status shows to anyone. Say where, not what.
        throw Error("not valid JSON (syntax error at byte " + std::to_string(e.byte) + ")");
    }
    if (!duplicate.empty()) throw Error("the key \"" + duplicate.substr(0, 60) + "\" appears twice");
    return j;
}

bool is_junk_name(const std::string& name) {
    if (name.empty() || name[0] == '.') return true;  // hidden, and macOS "._x" resource forks
    static const char* junk[] = {"Thumbs.db", "desktop.ini", "ehthumbs.db", "Icon\r"};
    return std::find(std::begin(junk), std::end(junk), name) != std::end(junk) || name.back() == '~';
}

bool taken_from_folder(const std::string& path, const WalkOptions& options) {
    const fs::path p(path);
    if (is_junk_name(p.filename().string())) return false;
    const std::string ext = lower_extension(p);
    return std::find(options.extensions.begin(), options.extensions.end(), ext) != options.extensions.end();
}

void for_each_input_file(const std::vector<InputSpec>& inputs, const WalkOptions& options,
                         const std::function<void(InputFile&&)>& found,
                         const std::function<void(const std::string&, const std::string&)>& problem) {
    Walker walker{options, found, problem, {}};
    for (const InputSpec& in : inputs) {
        if (stopped(options)) return;
        const std::string path = absolute_path(in.path);
        if (in.kind == InputKind::list) {
            read_list(path, options, found, problem);
        } else if (in.kind == InputKind::manifest) {
            read_manifest(path, options, found, problem);
        } else {
            std::error_code ec;
            const fs::file_status st = fs::status(path, ec);
            if (ec || !fs::exists(st))
                problem(in.path, "no such file or folder");
            else if (fs::is_directory(st))
                walker.walk(path);
            else
                found(InputFile{path, {}, {}, {}});
        }
    }
}

}  // namespace opsis::indexer
