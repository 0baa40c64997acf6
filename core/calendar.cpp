#include "core/calendar.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace opsis::calendar {

std::string iso_local(std::int64_t seconds) {
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return text;
}

std::string iso_with_offset(std::int64_t seconds, int offset_minutes) {
    const int a = std::abs(offset_minutes);
    char offset[16];
    std::snprintf(offset, sizeof offset, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+', (a / 60) % 100, a % 60);
    return iso_local(seconds) + offset;
}

std::optional<std::int64_t> parse_iso(const std::string& text) {
    // Fixed positions: YYYY-MM-DD[(T| )HH:MM[:SS]]
    if (text.size() != 10 && text.size() != 16 && text.size() != 19) return std::nullopt;
    auto number = [&](std::size_t at, std::size_t width) -> std::optional<int> {
        int v = 0;
        for (std::size_t i = at; i < at + width; ++i) {
            if (text[i] < '0' || text[i] > '9') return std::nullopt;
            v = v * 10 + (text[i] - '0');
        }
        return v;
    };
    if (text[4] != '-' || text[7] != '-') return std::nullopt;
    const auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
    std::optional<int> hour = 0, minute = 0, second = 0;
    if (text.size() >= 16) {
        if ((text[10] != 'T' && text[10] != ' ') || text[13] != ':') return std::nullopt;
        hour = number(11, 2);
        minute = number(14, 2);
    }
    if (text.size() == 19) {
        if (text[16] != ':') return std::nullopt;
        second = number(17, 2);
    }
    if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
    if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 59)
        return std::nullopt;
    std::tm tm{};
    tm.tm_year = *year - 1900;
    tm.tm_mon = *month - 1;
    tm.tm_mday = *day;
    tm.tm_hour = *hour;
    tm.tm_min = *minute;
    tm.tm_sec = *second;
    const std::time_t t = timegm(&tm);
    if (tm.tm_mday != *day || tm.tm_mon != *month - 1) return std::nullopt;  // 30 February rolled over
    return static_cast<std::int64_t>(t);
}

}  // namespace opsis::calendar
