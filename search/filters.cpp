#include "search/filters.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <cstdlib>
#include <string>

#include "core/calendar.h"
#include "core/error.h"

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
    if (f.taken_after || f.taken_before) {
        if (!it.taken) return false;
        if (f.taken_after && it.taken->local < *f.taken_after) return false;
        if (f.taken_before && it.taken->local >= *f.taken_before) return false;
    }
    if (!f.camera.empty() && it.camera != f.camera) return false;
    if (f.near && (!it.position || distance_km(f.near->centre, *it.position) > f.near->radius_km)) return false;
    return true;
}

double distance_km(const storage::GeoPoint& a, const storage::GeoPoint& b) {
    // Haversine on a sphere of the Earth's mean radius: within 0.5% of the ellipsoid's answer.
    constexpr double kEarthKm = 6371.0088, kRadians = 3.14159265358979323846 / 180.0;
    const double dlat = (b.latitude - a.latitude) * kRadians, dlon = (b.longitude - a.longitude) * kRadians;
    const double h = std::sin(dlat / 2) * std::sin(dlat / 2) + std::cos(a.latitude * kRadians) *
                                                                   std::cos(b.latitude * kRadians) *
                                                                   std::sin(dlon / 2) * std::sin(dlon / 2);
    return 2 * kEarthKm * std::asin(std::min(1.0, std::sqrt(h)));
}

std::int64_t parse_date_filter(const std::string& what, const std::string& text) {
    const std::optional<std::int64_t> seconds = calendar::parse_iso(text);
    if (!seconds) throw input_error(what, text, "not a date: YYYY-MM-DD, optionally with THH:MM or THH:MM:SS");
    return *seconds;
}

Near parse_near(const std::string& what, double latitude, double longitude, double radius_km) {
    const std::string shown =
        std::to_string(latitude) + "," + std::to_string(longitude) + "," + std::to_string(radius_km);
    if (!std::isfinite(latitude) || latitude < -90 || latitude > 90)
        throw input_error(what, shown, "latitude must be between -90 and 90");
    if (!std::isfinite(longitude) || longitude < -180 || longitude > 180)
        throw input_error(what, shown, "longitude must be between -180 and 180");
    if (!std::isfinite(radius_km) || radius_km <= 0 || radius_km > 20040)
        throw input_error(what, shown, "the radius must be more than 0 and at most 20040 km (half the Earth)");
    return Near{{latitude, longitude}, radius_km};
}

Near parse_near(const std::string& what, const std::string& text) {
    double v[3];
    std::size_t at = 0;
    for (int i = 0; i < 3; ++i) {
        const std::size_t end = i < 2 ? text.find(',', at) : text.size();
        const std::string part = end == std::string::npos ? "" : text.substr(at, end - at);
        char* stop = nullptr;
        v[i] = part.empty() ? NAN : std::strtod(part.c_str(), &stop);
        if (part.empty() || *stop != '\0' || (i < 2 && end == std::string::npos))
            throw input_error(what, text, "expected latitude,longitude,radius_km (e.g. 37.97,23.72,5)");
        at = end + 1;
    }
    return parse_near(what, v[0], v[1], v[2]);
}

std::function<bool(std::string_view)> may_match(const Filters& f) {
    std::vector<std::string> any_source, every_tag;
    for (const std::string& s : f.sources) any_source.push_back(nlohmann::json(s).dump());
    for (const std::string& t : f.tags) every_tag.push_back(nlohmann::json(t).dump());
    if (!f.camera.empty()) every_tag.push_back(nlohmann::json(f.camera).dump());
    std::string prefix = f.path_prefix.empty() ? "" : nlohmann::json(f.path_prefix).dump();
    if (!prefix.empty()) prefix.pop_back();  // the closing quote
    // Dates and positions are numbers: only their keys can be looked for.
    std::vector<std::string> keys;
    if (f.taken_after || f.taken_before) keys.push_back("\"taken_at\":");
    if (f.near) keys.push_back("\"gps\":");
    return [any_source, every_tag, prefix, keys](std::string_view stored) {
        auto contains = [&](const std::string& needle) { return stored.find(needle) != std::string_view::npos; };
        if (!any_source.empty() && std::none_of(any_source.begin(), any_source.end(), contains)) return false;
        if (!std::all_of(every_tag.begin(), every_tag.end(), contains)) return false;
        if (!std::all_of(keys.begin(), keys.end(), contains)) return false;
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
    if (f.taken_after || f.taken_before)
        offer(catalog.ids_taken_between(c, f.taken_after.value_or(std::numeric_limits<std::int64_t>::min()),
                                        f.taken_before.value_or(std::numeric_limits<std::int64_t>::max()), few));
    if (!f.camera.empty()) offer(catalog.ids_with_camera(c, f.camera, few));
    return best;
}

}  // namespace opsis::search
