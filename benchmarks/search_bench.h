#pragma once
// Query latency: p50/p99 of text and image queries, in-process (Searcher) and over HTTP (the
// real server on a local port, one kept-alive connection), on an index folder or on a
// synthetic index of N vectors made once and cached.
#include <cstdint>
#include <string>
#include <vector>

namespace opsis::bench {

struct SearchBenchOptions {
    std::string index;                     // an index folder, or
    std::size_t synthetic = 0;             // a cached synthetic index with this many image vectors
    std::string factory = "IVF4096,Flat";  // for the synthetic index
    int dim = 0;                           // its vectors' (default: the model's; more: a lifted model)
    std::string real;                      // an index whose pictures and captions it holds first
    bool batches = false;                  // load it through catalog batches, not bulks
    std::vector<int> efforts;              // also: recall and latency at these search efforts (nprobe)
    std::vector<std::size_t> rescores;     // and at these re-scoring depths (Query::rescore), each effort
    std::string model;                     // default: the index's model (synthetic: models/default)
    std::string precision;                 // default: the index's (encoder/precision.h)
    std::size_t queries = 200;
    std::size_t k = 20;
    std::string json_out;
};
void run_search_bench(const SearchBenchOptions& options);

}  // namespace opsis::bench
