#include "indexer/progress.h"

#include <unistd.h>

#include <algorithm>

namespace opsis::indexer {

std::string format_duration(double seconds) {
    if (!(seconds >= 0) || seconds > 1e7) return "--:--";
    const long s = static_cast<long>(seconds + 0.5);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

Progress::Progress(std::string label, double every_seconds, std::FILE* out)
    : label_(std::move(label)),
      every_(every_seconds),
      out_(out),
      terminal_(::isatty(::fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::set_total(std::uint64_t total, bool final) {
    total_ = total;
    total_final_ = final;
}

void Progress::update(std::uint64_t done, std::uint64_t failed) {
    done_ = done;
    failed_ = failed;
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_draw_).count();
    if (since >= (terminal_ ? 0.2 : every_)) draw(false);
}

void Progress::finish() { draw(true); }

void Progress::draw(bool last) {
    const auto now = std::chrono::steady_clock::now();
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
    const std::uint64_t total = std::max(total_, done_);
    const std::string total_text = std::to_string(total) + (total_final_ ? "" : "+");
    const std::string eta =
        total_final_ && rate > 0 ? format_duration(static_cast<double>(total - done_) / rate) : "--:--";
    char tail[200];
    std::snprintf(tail, sizeof tail, "%llu/%s files  %.1f files/s  ETA %s  failed %llu",
                  static_cast<unsigned long long>(done_), total_text.c_str(), rate, eta.c_str(),
                  static_cast<unsigned long long>(failed_));
    if (terminal_) {
        constexpr int width = 28;
        const double fraction = total > 0 ? static_cast<double>(done_) / static_cast<double>(total) : 0;
        const int filled = static_cast<int>(fraction * width);
        std::string bar(static_cast<std::size_t>(filled), '=');
        if (filled < width) bar += '>', bar.append(static_cast<std::size_t>(width - filled - 1), ' ');
        std::fprintf(out_, "\r%s [%s] %3.0f%%  %s\x1b[K%s", label_.c_str(), bar.c_str(), fraction * 100, tail,
                     last ? "\n" : "");
    } else {
        std::fprintf(out_, "%s: %s  elapsed %s\n", label_.c_str(), tail, format_duration(elapsed).c_str());
    }
    std::fflush(out_);
}

}  // namespace opsis::indexer
