#pragma once
// The encoder benchmark: images/s and texts/s per batch size and precision, the GFLOP/s the
// towers achieve, and the practical peak of each precision measured in the same run (sgemm for
// fp32, a 1024^3 DenseWeights product for bf16 and int8); with `torch`, PyTorch
// on the same CLIP checkpoint in the same run (benchmarks/reference/clip_speed.py), fp32 and,
// where the CPU has bf16 instructions, bf16, each as a ratio to Opsis.
#include <string>
#include <vector>

namespace opsis::bench {

struct EncoderBenchOptions {
    std::string model;     // a model folder, or
    std::string config;    // an architecture config (random weights; speed does not depend on them)
    double seconds = 2.0;  // per measurement
    int threads = 0;       // 0: all cores
    std::vector<int> batches{1, 32};
    std::vector<std::string> precisions{"fp32"};  // each one measured (encoder/precision.h)
    bool torch = false;                           // also PyTorch, side by side (CLIP checkpoints only)
    std::string json_out;                         // optional: also write the figures as JSON
};

void run_encoder_bench(const EncoderBenchOptions& options);

}  // namespace opsis::bench
