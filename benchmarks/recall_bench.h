#pragma once
// The recall benchmark: exact search over a test split, R@1/5/10 text->image (a hit is any
// image of the query's concept) and image->text (a hit is any caption of the image's concept),
// per split and per source, for English and Greek captions. Also runs the Flickr30k/COCO
// protocol from a Karpathy-split JSON, where each image is its own concept.
#include <string>
#include <vector>

namespace opsis::bench {

struct RecallBenchOptions {
    std::string model;
    // Corpus mode: a folder from data/build-corpus and the split files to score.
    std::string corpus;
    std::vector<std::string> splits{"zeroshot", "style", "val"};
    // Karpathy mode: dataset_flickr30k.json / dataset_coco.json and the image folder.
    std::string karpathy;
    std::string images;
    std::string karpathy_split = "test";
    std::string json_out;
    int threads = 0;
    std::string precision = "fp32";  // the towers' (encoder/precision.h)
};

void run_recall_bench(const RecallBenchOptions& options);

}  // namespace opsis::bench
