// opsis train: contrastive training of the dual encoder on the corpus from data/build-corpus.
#include "cli/commands.h"
#include "train/trainer.h"

namespace opsis::cli {

void register_train(CLI::App& app) {
    auto o = std::make_shared<train::TrainOptions>();
    CLI::App* cmd =
        app.add_subcommand("train", "Train a dual encoder contrastively (checkpoints, --resume, validation recall)");
    cmd->add_option("--corpus", o->corpus, "Corpus folder (manifest.jsonl and split files)")
        ->required()
        ->check(CLI::ExistingDirectory);
    cmd->add_option("--config,-c", o->config, "Architecture config (JSON)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--out,-o", o->out, "Run folder for checkpoint, tokenizer, best/ and final/")->required();
    cmd->add_option("--train-split", o->train_split, "Split file in the corpus folder")->capture_default_str();
    cmd->add_option("--val-split", o->val_split, "Split file in the corpus folder")->capture_default_str();
    cmd->add_option("--tokenizer", o->tokenizer, "Use this tokenizer instead of learning one")
        ->check(CLI::ExistingDirectory);
    cmd->add_option("--init", o->init,
                    "Start from this model folder's weights and tokenizer on a fresh schedule (--config: the same "
                    "parameters, or a deeper model whose added blocks start as the identity)")
        ->check(CLI::ExistingDirectory);
    cmd->add_option("--vocab-size", o->vocab_size, "Size of a learned tokenizer")
        ->capture_default_str()
        ->check(CLI::Range(514, 1 << 20));
    cmd->add_option("--batch", o->batch_size, "Pairs per step")->capture_default_str()->check(CLI::Range(2, 1 << 16));
    cmd->add_option("--steps", o->steps, "Total optimiser steps")->capture_default_str()->check(CLI::PositiveNumber);
    cmd->add_option("--warmup", o->warmup, "Linear warm-up steps")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--lr", o->lr, "Peak learning rate")->capture_default_str()->check(CLI::PositiveNumber);
    cmd->add_option("--weight-decay", o->weight_decay, "AdamW decay (not on norms, biases, embeddings)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--clip", o->clip, "Max global gradient norm (0: off)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--label-smoothing", o->label_smoothing,
                    "Share of each contrastive target spread evenly over the batch")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 0.99));
    cmd->add_option("--seed", o->seed, "Seed for initialisation, order and augmentation")->capture_default_str();
    cmd->add_option("--checkpoint-every", o->checkpoint_every, "Steps between checkpoints")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--validate-every", o->validate_every, "Steps between validations (0: each epoch)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--stop-at", o->stop_at, "Stop after this step as if interrupted (0: run to --steps)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--threads", o->threads, "Threads (0: all cores)")
        ->capture_default_str()
        ->check(CLI::Range(0, 256));
    cmd->add_option(
           "--text-group-cost", o->text_group_cost,
           "Padded tokens one more text group is worth (speed only: 0 groups every length, 1e9 pads to the longest)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--log-every", o->log_every, "Steps between progress lines when not on a terminal")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--bpe-dropout", o->augment.bpe_dropout,
                    "Share of BPE merges skipped while tokenizing training captions (BPE-dropout; 0: off)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 0.9));
    cmd->add_option("--sentence-framing", o->augment.text.sentence,
                    "Share of short English captions put inside a request or sentence (\"show me a cat\")")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--definition-weight", o->augment.definition_weight,
                    "How many names each of an item's definitions counts as when an English caption is drawn "
                    "(0: definitions never drawn; 1: as often as a name)")
        ->capture_default_str()
        ->check(CLI::Range(0, 100));
    cmd->add_option("--search-tags-weight", o->augment.search_tags_weight,
                    "How many names an item's icon-set search tags (one caption, \"cat: kitten, kitty, pet\") count as "
                    "when an English caption is drawn (0: tags never drawn)")
        ->capture_default_str()
        ->check(CLI::Range(0, 100));
    cmd->add_option("--text-pairs-weight", o->text_pairs_weight,
                    "Weight of the word-knowledge loss on the corpus's text_pairs.jsonl (texts that mean one "
                    "thing, from WordNet and FreeDict) beside the image-text loss (0: off)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 10.0));
    cmd->add_option("--text-pairs-batch", o->text_pairs_batch, "Text pairs a step (0: as many as --batch)")
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 16));
    cmd->add_flag("--resume", o->resume, "Continue the run folder's checkpoint (same --seed and --batch)");
    auto no_text_augment = std::make_shared<bool>(false);
    cmd->add_flag("--no-text-augment", *no_text_augment,
                  "Train on the captions as they are (no keyword subsets, templates, sentences, plurals or typos)");
    auto no_image_augment = std::make_shared<bool>(false);
    cmd->add_flag("--no-image-augment", *no_image_augment,
                  "Train on the pictures as they are (only the crop and background; none of the vision challenges)");
    cmd->callback([o, no_text_augment, no_image_augment] {
        if (*no_text_augment) o->augment.text = train::TextAugmentOptions::none();
        if (*no_image_augment) o->augment.image = false;
        train::run_training(*o);
    });
}

}  // namespace opsis::cli
