#pragma once
// Training batches: which pairs, which caption, which crop and background — all derived
// from (seed, step) alone, so a run resumed at step k sees exactly the batches it would have.
// Augmentations keep the caption true: the vision challenges (train/image_augment.h) never
// mirror a picture whose captions name a direction nor grey one that names a colour; no hue
// shifts ("skin tone", colours). The caption itself is reworded the same way (its own words,
// framing words, a plural, a typo; train/text_augment.h).
#include <cstdint>
#include <vector>

#include "encoder/model_config.h"
#include "encoder/tensor.h"
#include "encoder/tokenizer.h"
#include "train/corpus.h"
#include "train/image_cache.h"
#include "train/image_augment.h"
#include "train/text_augment.h"

namespace opsis::train {

struct AugmentOptions {
    float min_crop = 0.8f;          // side of the random square crop, as a share of the cached side
    float white_background = 0.5f;  // probability of white (what inference uses) behind alpha
    float greek_caption = 0.25f;    // probability of a Greek caption where the item has one
    // How many English names each of an item's definitions counts as when its English caption is
    // drawn: 0 never draws them, 1 draws them as often as a name. Measured (models/default's
    // README): at 1 they cost the held-out styles and did not help sentences.
    int definition_weight = 0;
    // How many English names an item's search tags (as one caption, "name: tag, tag, ...")
    // count as; 0 never draws them.
    int search_tags_weight = 0;
    TextAugmentOptions text;        // caption-true rewording of the chosen caption (train/text_augment.h)
    float bpe_dropout = 0.0f;       // share of merges skipped while tokenizing (Tokenizer::encode_for_model_sampled)
    bool image = true;              // the vision challenges on each crop (train/image_augment.h)
    RandomAugmentOptions image_options;
};

struct Batch {
    Tensor images;                                  // [B, S, S, 3], preprocessed
    std::vector<std::vector<std::int32_t>> tokens;  // start ... end per pair
    std::vector<std::int32_t> concepts;
    std::vector<std::size_t> items;  // which items (indices into the item list)
};

class BatchMaker {
public:
    // items[i] pairs with cache image i; items whose image failed are left out.
    BatchMaker(const std::vector<CorpusItem>& items, const ImageCache& cache, const Tokenizer& tokenizer,
               const ModelConfig& config, int batch_size, std::uint64_t seed, AugmentOptions options = {});

    std::int64_t steps_per_epoch() const;
    std::size_t usable_items() const { return usable_.size(); }
    Batch make(std::int64_t step) const;

private:
    std::vector<std::size_t> epoch_order(std::int64_t epoch) const;

    const std::vector<CorpusItem>& items_;
    const ImageCache& cache_;
    const Tokenizer& tokenizer_;
    ModelConfig config_;
    int batch_size_;
    std::uint64_t seed_;
    AugmentOptions options_;
    std::vector<std::size_t> usable_;
    std::vector<std::int32_t> concepts_;
    std::vector<CaptionFacts> facts_;  // what each item's captions forbid (mirroring, greying)
};

// The inference view of a cached image: the whole square, resized, on white.
void centre_view(const ImageCache& cache, std::size_t i, const PreprocessOptions& options, float* out);

}  // namespace opsis::train
