#pragma once
// Zero-shot labelling accuracy: every picture of a corpus split labelled by `opsis classify`'s
// classifier among all the split's concept names (English, then Greek), top-1 and top-5, with
// the default prompt templates and with the bare names.
#include <string>
#include <vector>

namespace opsis::bench {

struct ZeroShotBenchOptions {
    std::string model;
    std::string precision = "fp32";  // the towers' (encoder/precision.h)
    std::string corpus;              // folder from data/build-corpus
    std::vector<std::string> splits{"zeroshot"};
    std::string json_out;
    int threads = 0;
};

void run_zeroshot_bench(const ZeroShotBenchOptions& options);

}  // namespace opsis::bench
