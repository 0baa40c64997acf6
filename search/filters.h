#pragma once
// Metadata filters (sources, tags, path prefix, date, camera, place): the exact test on an item, a cheap necessary
// test on its stored JSON, and the catalog indexes that narrow a collection to a few ids.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "search/query.h"
#include "storage/catalog.h"

namespace opsis::search {

bool passes(const Filters& filters, const storage::Item& item);
double distance_km(const storage::GeoPoint& a, const storage::GeoPoint& b);

// The filters' values as people give them, checked once for the CLI and the API alike (errors
// name `what`, the flag or field): a date "2024-06-01" (optionally "T14:30[:05]") as local
// seconds, and a place with its radius.
std::int64_t parse_date_filter(const std::string& what, const std::string& text);
Near parse_near(const std::string& what, double latitude, double longitude, double radius_km);
// "37.97,23.72,5": latitude, longitude, radius in km
Near parse_near(const std::string& what, const std::string& text);

// A necessary condition of passes() on an item's stored JSON, tested without decoding it:
// each wanted value must appear in it as a JSON string (a path prefix as a string's start).
std::function<bool(std::string_view)> may_match(const Filters& filters);

// The ids of a superset of the items that pass the filters, read from the catalog's
// source/tag/date/camera and path indexes: the shortest of the filters' lists (the sources' lists together
// count as one). Nullopt when every list has more than `few` ids, or a value is empty (the
// index does not hold empty values); the caller then scans the items.
std::optional<std::vector<std::int64_t>> filter_candidates(const storage::Catalog& catalog, storage::Collection c,
                                                           const Filters& filters, std::size_t few);

}  // namespace opsis::search
