#pragma once
// `bench watch`: how long a photo written into a watched folder takes to become searchable
// (indexer/folder_watcher.h), one at a time at rest and during a burst, with the burst's
// throughput next to a bulk `index add` of the same photos in the same run.
#include <cstddef>
#include <string>

namespace opsis::bench {

struct WatchBenchOptions {
    std::string model;  // default: the committed default model
    std::string precision = "fp32";
    std::size_t at_rest = 20;  // photos written one at a time, each waited for
    std::size_t burst = 2000;  // photos written as fast as the disk takes them
    std::string photo_size = "1024x768";
    int settle_ms = 250;  // the watcher's (WatchOptions::settle)
    std::string json_out;
};
void run_watch_bench(const WatchBenchOptions& options);

}  // namespace opsis::bench
