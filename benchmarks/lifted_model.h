#pragma once
// A model's vectors placed in more dimensions: every embedding multiplied by one fixed D x d
// matrix with orthonormal columns, so lengths and cosines, and with them every ranking, are
// the original model's. The scale benchmarks use it to search 512-d vectors (CLIP ViT-B/32's
// width) with real text and image towers and real embeddings of the demo collection.
#include <cstddef>
#include <string>
#include <vector>

namespace opsis::bench {

// The map from `from` to `to` dimensions, row-major [to][from], the same on every run.
std::vector<float> lift_map(int from, int to);
// out[i] = map · in[i] for n vectors (n x from in, n x to out).
void lift(const std::vector<float>& map, int from, int to, const float* in, float* out, std::size_t n);
// A copy of the model (a folder of Opsis's own) whose projections end in the map, made once
// under `cache` (bench-models/) and reused; returns its folder. Its lexicon and relevance rule are the
// original's (both are about cosines, which the map keeps).
std::string lifted_model(const std::string& model_path, int dim, const std::string& cache);

}  // namespace opsis::bench
