#pragma once
// `opsis train`: the whole run, top to bottom — corpus, tokenizer, image cache, model, then
// the loop (batch, forward/backward, clip, AdamW, schedule), checkpoints, validation recall
// every epoch, and the best model kept.
#include <cstdint>
#include <string>

#include "train/trainable_model.h"
#include "train/batches.h"

namespace opsis::train {

struct TrainOptions {
    std::string corpus;  // folder with manifest.jsonl and the split files
    std::string train_split = "train.txt";
    std::string val_split = "val.txt";
    std::string config;     // architecture config (JSON)
    std::string out;        // run folder: checkpoint, tokenizer, best/ and final/ models
    std::string tokenizer;  // optional: an existing tokenizer folder; else one is trained
    std::string init;       // optional: a model folder to start from (its weights and tokenizer), on a fresh schedule
    int vocab_size = 8192;  // for a trained tokenizer
    int batch_size = 128;
    std::int64_t steps = 2000;
    std::int64_t warmup = 100;
    float lr = 5e-4f;
    float weight_decay = 0.1f;
    float clip = 1.0f;          // max global gradient norm (0: off)
    float label_smoothing = 0;  // of the contrastive targets (train/contrastive_loss.h)
    // Word knowledge (train/text_pairs.h): the weight of the text-pairs loss beside the
    // image-text one (0: off, the corpus's text_pairs.jsonl unread), and pairs a step (0: --batch).
    float text_pairs_weight = 0;
    int text_pairs_batch = 0;
    std::uint64_t seed = 1;
    std::int64_t checkpoint_every = 200;
    std::int64_t validate_every = 0;  // 0: once an epoch
    std::int64_t stop_at = 0;         // stop after this step as if interrupted (0: run to the end)
    int threads = 0;
    std::int64_t text_group_cost = TrainableDualEncoder::kDefaultTextGroupCost;  // speed only, never results
    int log_every = 10;  // progress lines when stderr is not a terminal
    bool resume = false;
    AugmentOptions augment;
};

// Throws opsis::Error for bad input (naming it) and when the loss stops being finite
// (the last good checkpoint stays as it was).
void run_training(const TrainOptions& options);

}  // namespace opsis::train
