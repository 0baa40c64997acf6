#pragma once
// `opsis bench decode`: what bounds photo indexing — decoding and fitting a photo to the model's
// input — for each JPEG path in the same run: stb_image at full size (the reference),
// libjpeg-turbo at full size, and libjpeg-turbo at the smallest DCT scale the input allows
// (what indexing uses); with how far the scaled path's inputs and embeddings are from the
// reference's; and the first two photos as PNG, WebP, HEIC and AVIF through their decoders.
// Photos are synthetic (benchmarks/synthetic_photos.h) or a folder's.
#include <string>
#include <vector>

namespace opsis::bench {

struct DecodeBenchOptions {
    std::string model;                                        // default: models/default
    std::vector<std::string> sizes{"1024x768", "4000x3000"};  // synthetic photos' sizes
    std::size_t count = 8;                                    // photos per size
    std::string photos;                                       // or a folder of JPEGs instead
    double seconds = 2;                                       // at least this long per path
    std::string json_out;
};
void run_decode_bench(const DecodeBenchOptions& options);

}  // namespace opsis::bench
