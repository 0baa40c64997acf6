#include "train/batches.h"

#include <algorithm>
#include <random>

#include "core/error.h"
#include "core/splitmix.h"

namespace opsis::train {
namespace {

RgbaImage crop_square(const std::uint8_t* rgba, int side, int x0, int y0, int size) {
    RgbaImage out;
    out.width = out.height = size;
    out.pixels.resize(static_cast<std::size_t>(size) * size * 4);
    for (int y = 0; y < size; ++y)
        std::copy_n(rgba + (static_cast<std::size_t>(y0 + y) * side + x0) * 4, static_cast<std::size_t>(size) * 4,
                    out.pixels.data() + static_cast<std::size_t>(y) * size * 4);
    return out;
}

}  // namespace

BatchMaker::BatchMaker(const std::vector<CorpusItem>& items, const ImageCache& cache, const Tokenizer& tokenizer,
                       const ModelConfig& config, int batch_size, std::uint64_t seed, AugmentOptions options)
    : items_(items),
      cache_(cache),
      tokenizer_(tokenizer),
      config_(config),
      batch_size_(batch_size),
      seed_(seed),
      options_(options),
      concepts_(concept_ids(items)) {
    facts_.reserve(items.size());
    for (const CorpusItem& item : items) {
        facts_.push_back(caption_facts(item.english, item.greek));
        facts_.back().names_direction = facts_.back().names_direction || !item.mirrorable;
    }
    if (cache.size() != items.size()) throw Error("training: image cache and item list differ in size");
    for (std::size_t i = 0; i < items.size(); ++i)
        if (cache.ok(i)) usable_.push_back(i);
    if (batch_size < 2) throw Error("training: the batch size must be at least 2");
    if (usable_.size() < static_cast<std::size_t>(batch_size))
        throw Error("training: " + std::to_string(usable_.size()) + " usable pairs, fewer than one batch of " +
                    std::to_string(batch_size));
}

std::int64_t BatchMaker::steps_per_epoch() const { return static_cast<std::int64_t>(usable_.size()) / batch_size_; }

std::vector<std::size_t> BatchMaker::epoch_order(std::int64_t epoch) const {
    std::vector<std::size_t> order = usable_;
    std::mt19937_64 rng(splitmix64(seed_ ^ splitmix64(static_cast<std::uint64_t>(epoch) + 1)));
    // Fisher-Yates by hand: std::shuffle's use of the engine is not fixed by the standard.
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    return order;
}

Batch BatchMaker::make(std::int64_t step) const {
    const std::int64_t per_epoch = steps_per_epoch();
    const std::int64_t epoch = step / per_epoch, position = step % per_epoch;
    const std::vector<std::size_t> order = epoch_order(epoch);
    const PreprocessOptions& pre = config_.image.preprocess;
    const int s = pre.image_size, side = cache_.side();
    Batch batch;
    batch.images = Tensor({batch_size_, s, s, 3});
    for (int j = 0; j < batch_size_; ++j) {
        const std::size_t item = order[static_cast<std::size_t>(position * batch_size_ + j)];
        std::mt19937_64 rng(
            splitmix64(seed_ ^ splitmix64(static_cast<std::uint64_t>(step) * 65536u + static_cast<std::uint64_t>(j))));
        std::uniform_real_distribution<float> unit(0.0f, 1.0f);

        const int crop =
            std::max(1, static_cast<int>(side * (options_.min_crop + (1.0f - options_.min_crop) * unit(rng))));
        const int x0 = static_cast<int>(rng() % static_cast<std::uint64_t>(side - crop + 1));
        const int y0 = static_cast<int>(rng() % static_cast<std::uint64_t>(side - crop + 1));
        std::array<std::uint8_t, 3> background{255, 255, 255};
        if (unit(rng) >= options_.white_background)
            for (auto& c : background) c = static_cast<std::uint8_t>(rng() % 256);
        RgbaImage view = crop_square(cache_.pixels(item), side, x0, y0, crop);
        if (options_.image) {
            // A stream of its own, so the crop, background and caption draws stay as they were.
            std::mt19937_64 image_rng(splitmix64(
                seed_ ^ splitmix64(static_cast<std::uint64_t>(step) * 65536u + static_cast<std::uint64_t>(j)) ^
                0x1A6E5EEDull));
            // Clutter from outside the batch: a batch-mate's picture behind this one would half
            // match that batch-mate's caption, which the loss counts as a negative.
            const std::size_t neighbour =
                order[static_cast<std::size_t>((position + 1) * batch_size_ + j) % order.size()];
            const RgbaImage clutter = cache_.image(neighbour);
            view = random_augment(view, facts_[item], image_rng, options_.image_options, &clutter);
        }
        composite_and_normalise(resize_rgba(view, s, s), pre, background,
                                batch.images.data() + static_cast<std::int64_t>(j) * s * s * 3);

        const CorpusItem& it = items_[item];
        const bool greek = !it.greek.empty() && (it.english.empty() || unit(rng) < options_.greek_caption);
        // English: the names, then each definition definition_weight times, then the search
        // tags' caption search_tags_weight times, one pool.
        const std::size_t definitions_in_pool =
            it.definitions.size() * static_cast<std::size_t>(options_.definition_weight);
        const std::size_t tags_in_pool =
            it.search_tags.empty() || it.english.empty() ? 0 : static_cast<std::size_t>(options_.search_tags_weight);
        const std::size_t pool_size =
            greek ? it.greek.size() : it.english.size() + definitions_in_pool + tags_in_pool;
        const std::size_t pick = rng() % pool_size;
        const std::string caption =
            greek                                           ? it.greek[pick]
            : pick < it.english.size()                      ? it.english[pick]
            : pick < it.english.size() + definitions_in_pool ? it.definitions[(pick - it.english.size()) %
                                                                              it.definitions.size()]
                                                             : search_tags_caption(it);
        const std::string text =
            augment_caption(caption, greek ? CaptionLanguage::greek : CaptionLanguage::english, rng, options_.text);
        batch.tokens.push_back(
            tokenizer_.encode_for_model_sampled(text, config_.text.context_length, options_.bpe_dropout, rng()));
        batch.concepts.push_back(concepts_[item]);
        batch.items.push_back(item);
    }
    return batch;
}

void centre_view(const ImageCache& cache, std::size_t i, const PreprocessOptions& options, float* out) {
    composite_and_normalise(resize_rgba(cache.image(i), options.image_size, options.image_size), options,
                            options.background, out);
}

}  // namespace opsis::train
