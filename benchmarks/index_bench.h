#pragma once
// Indexing benchmarks (commands, never tests):
//  - `bench index`: end-to-end indexing images/s (walk, read, hash, decode, resize, encode,
//    commit) next to the encoder alone on the same, already decoded images, measured before
//    and after in the same run; with the resident memory sampled through the job.
//  - `bench vectors`: FAISS index types on synthetic clustered unit vectors: build time,
//    memory, queries/s and recall@k against exact search (and after exact re-scoring).
#include <cstdint>
#include <string>
#include <vector>

namespace opsis::bench {

struct IndexBenchOptions {
    std::string model;                 // default: the committed default model
    std::string precision = "fp32";    // the towers' (encoder/precision.h)
    std::vector<std::string> folders;  // images to index, or
    std::size_t synthetic = 0;         // this many generated images (cached under ~/.cache/opsis)
    int synthetic_size = 64;           // their side in pixels
    std::size_t synthetic_photos = 0;  // or this many generated camera JPEGs with EXIF (synthetic_photos.h)
    std::string photo_size = "1024x768";
    bool full_decode = false;  // JPEGs at full size instead of DCT-scaled (indexer/index_job.h)
    std::size_t limit = 4000;  // files taken from the folders
    int threads = 0;           // decoding threads (0: the indexer's default)
    int batch = 64;
    std::string json_out;
};
void run_index_bench(const IndexBenchOptions& options);

struct VectorBenchOptions {
    std::size_t n = 1000000;
    int dim = 512;
    std::vector<std::string> factories{"Flat", "HNSW32", "IVF4096,PQ64"};
    std::size_t queries = 200;
    int k = 10;
    int rescore = 100;  // candidates re-scored exactly for compressed indexes
    int clusters = 2000;
    std::string json_out;
};
void run_vector_bench(const VectorBenchOptions& options);

}  // namespace opsis::bench
