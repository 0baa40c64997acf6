#pragma once
// Dates as people write them (ISO 8601) and as the catalog counts them: seconds of a wall
// clock, counted as if it were UTC (storage::TakenAt).
#include <cstdint>
#include <optional>
#include <string>

namespace opsis::calendar {

// "2024-06-01T14:30:05"
std::string iso_local(std::int64_t seconds);
// "2024-06-01T14:30:05+02:00" (the wall-clock time with its offset)
std::string iso_with_offset(std::int64_t seconds, int offset_minutes);

// "2024-06-01", "2024-06-01T14:30", "2024-06-01T14:30:05" (a space for the T too) -> seconds.
// Nullopt for anything else, impossible dates included ("2024-02-30").
std::optional<std::int64_t> parse_iso(const std::string& text);

}  // namespace opsis::calendar
