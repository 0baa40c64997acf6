#pragma once
// The encoder benchmark: images/s and texts/s at batch 1 and 64, the GFLOP/s the towers
// achieve, and OpenBLAS sgemm GFLOP/s measured in the same run as the practical peak.
#include <string>

namespace opsis::bench {

struct EncoderBenchOptions {
    std::string model;     // a model folder, or
    std::string config;    // an architecture config (random weights; speed does not depend on them)
    double seconds = 2.0;  // per measurement
    int threads = 0;       // 0: all cores
    std::string json_out;  // optional: also write the figures as JSON
};

void run_encoder_bench(const EncoderBenchOptions& options);

}  // namespace opsis::bench
