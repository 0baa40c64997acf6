#pragma once
// The progress of a job: a redrawn bar on a terminal, plain periodic lines otherwise
// (logs, CI). Shows done/total (the total grows while the walk is still going), files/s,
// ETA and failures.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace opsis::indexer {

class Progress {
public:
    // `every_seconds` is the interval of plain lines; a terminal is redrawn ~5 times a second.
    Progress(std::string label, double every_seconds, std::FILE* out = stderr);

    void set_total(std::uint64_t total, bool final);
    // Called by the one thread that finishes files; draws when it is time.
    void update(std::uint64_t done, std::uint64_t failed);
    void finish();  // the last line

private:
    void draw(bool last);
    std::string label_;
    double every_;
    std::FILE* out_;
    bool terminal_;
    std::uint64_t total_ = 0, done_ = 0, failed_ = 0;
    bool total_final_ = false;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);

}  // namespace opsis::indexer
