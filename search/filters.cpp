#include "search/filters.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

namespace opsis::search {

using storage::Collection;

bool passes(const Filters& f, const storage::Item& it) {
    if (!f.sources.empty() && std::find(f.sources.begin(), f.sources.end(), it.source) == f.sources.end()) return false;
    for (const std::string& t : f.tags)
        if (std::find(it.tags.begin(), it.tags.end(), t) == it.tags.end()) return false;
    if (!f.path_prefix.empty()) {
        const bool any = std::any_of(it.paths.begin(), it.paths.end(), [&](const std::string& p) {
            return p.compare(0, f.path_prefix.size(), f.path_prefix) == 0;
        });
        if (!any) return false;
    }
    return true;
}

std::function<bool(std::string_view)> may_match(const Filters& f) {
    std::vector<std::string> any_source, every_tag;
    for (const std::string& s : f.sources) any_source.push_back(nlohmann::json(s).dump());
    for (const std::string& t : f.tags) every_tag.push_back(nlohmann::json(t).dump());
    std::string prefix = f.path_prefix.empty() ? "" : nlohmann::json(f.path_prefix).dump();
    if (!prefix.empty()) prefix.pop_back();  // the closing quote
    return [any_source, every_tag, prefix](std::string_view stored) {
        auto contains = [&](const std::string& needle) { return stored.find(needle) != std::string_view::npos; };
        if (!any_source.empty() && std::none_of(any_source.begin(), any_source.end(), contains)) return false;
        if (!std::all_of(every_tag.begin(), every_tag.end(), contains)) return false;
        return prefix.empty() || contains(prefix);
    };
}

std::optional<std::vector<std::int64_t>> filter_candidates(const storage::Catalog& catalog, Collection c,
                                                           const Filters& f, std::size_t few) {
    std::optional<std::vector<std::int64_t>> best;
    auto offer = [&](std::vector<std::int64_t> ids) {
        if (ids.size() <= few && (!best || ids.size() < best->size())) best = std::move(ids);
    };
    if (!f.sources.empty() &&
        std::none_of(f.sources.begin(), f.sources.end(), [](const std::string& s) { return s.empty(); })) {
        std::vector<std::int64_t> any;
        for (const std::string& s : f.sources) {
            const std::vector<std::int64_t> ids = catalog.ids_with_source(c, s, few);
            any.insert(any.end(), ids.begin(), ids.end());
            if (any.size() > few) break;
        }
        std::sort(any.begin(), any.end());
        any.erase(std::unique(any.begin(), any.end()), any.end());
        offer(std::move(any));
    }
    for (const std::string& t : f.tags)
        if (!t.empty()) offer(catalog.ids_with_tag(c, t, few));
    if (!f.path_prefix.empty())
        offer(c == Collection::images ? catalog.ids_under_path(f.path_prefix, few) : std::vector<std::int64_t>{});
    return best;
}

}  // namespace opsis::search
