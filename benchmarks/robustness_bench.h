#pragma once
// The robustness benchmark: text->image recall by concept (R@1, R@10) on a sample of a corpus
// split, clean and under each vision challenge of train/image_augment.h (viewpoint,
// illumination, scale, deformation, occlusion, background clutter, fast motion, colour
// removal) at strengths 1/3, 2/3 and 1. Each picture is perturbed with its own rng, seeded from
// (seed, picture, challenge), so the three strengths make the same change at three sizes; its
// captions decide what is allowed (a "red apple" is never greyed, a "left arrow" never
// mirrored). Optionally writes the table as JSON and a PNG chart of R@10 against strength.
#include <cstdint>
#include <string>
#include <vector>

#include "encoder/dual_encoder.h"
#include "eval/recall.h"
#include "train/image_augment.h"

namespace opsis::bench {

struct RobustnessBenchOptions {
    std::string model;               // model folder
    std::string precision = "fp32";  // the towers' (encoder/precision.h)
    std::string corpus;              // folder with manifest.jsonl and <split>.txt
    std::string split = "val";       // val, zeroshot, style, ... (a split file of the corpus)
    std::size_t limit = 2000;        // pictures: an evenly spaced sample of the sorted ids; 0: all
    std::uint64_t seed = 1;
    std::string json_out;     // also write the table as JSON
    std::string plot_out;     // also draw R@10 against strength into this PNG
    int threads = 0;          // 0: all cores
    bool print_table = true;  // the table on stdout
};

struct RobustnessRow {
    std::string challenge;      // "clean" for the baseline, else challenge_name()
    float strength = 0;         // 0 for clean; 1/3, 2/3, 1
    double r1 = 0, r10 = 0;     // text->image, percent
    double drop_r10 = 0;        // clean R@10 minus this R@10, in points
    std::size_t unchanged = 0;  // pictures the challenge left byte for byte as they were
};

struct RobustnessReport {
    std::string model, corpus, split;
    std::size_t pictures = 0, captions = 0;
    std::size_t names_colour = 0;  // pictures whose captions name a colour: colour removal skips them
    std::uint64_t seed = 0;
    std::vector<RobustnessRow> rows;  // clean first, then each challenge (enum order) x strength
};

RobustnessReport run_robustness_bench(const RobustnessBenchOptions& options);

// The pieces run_robustness_bench is made of (tests call them directly).

// A sample of a split, decoded once at the model's image size (transparent margins trimmed as
// the model's preprocessing says), with each distinct (concept, first English caption) embedded.
struct RobustnessSet {
    std::vector<std::string> ids;
    std::vector<RgbaImage> pictures;  // image_size x image_size RGBA
    std::vector<train::CaptionFacts> facts;
    std::vector<std::int32_t> image_concepts, text_concepts;
    std::vector<std::string> captions;
    Tensor text_embeddings;  // [captions, embed_dim]
};
// Throws opsis::Error naming the split when its file is missing or it holds no usable picture.
RobustnessSet load_robustness_set(const DualEncoder& model, const RobustnessBenchOptions& options);

// Picture i of the set under one challenge at `strength` (0: the picture as it is); clutter for
// background_clutter is the next picture (i + 1, i + 2, ... mod n) of another concept.
RgbaImage perturb_picture(const RobustnessSet& set, std::size_t i, train::Challenge challenge, float strength,
                          std::uint64_t seed);

// Every picture perturbed (or clean when `challenge` is null), composited on the model's
// background, normalised and encoded in batches of 64: [pictures, embed_dim]. `unchanged`, when
// given, receives how many pictures the perturbation left exactly as they were.
Tensor embed_pictures(const DualEncoder& model, const RobustnessSet& set, const train::Challenge* challenge,
                      float strength, std::uint64_t seed, std::size_t* unchanged = nullptr);

// Text->image recall of the set's captions against these picture embeddings.
eval::RecallAtK score_pictures(const RobustnessSet& set, const Tensor& image_embeddings);

// The chart: R@10 over strength (clean, 1/3, 2/3, 1), one coloured polyline per challenge.
// Returns an opaque RGBA image (written as PNG by run_robustness_bench).
RgbaImage draw_robustness_chart(const RobustnessReport& report);

}  // namespace opsis::bench
