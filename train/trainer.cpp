#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <future>
#include <optional>
#include <set>
#include <thread>
#include <unistd.h>

#include "core/error.h"
#include "core/file_io.h"
#include "encoder/blas.h"
#include "encoder/dual_encoder.h"
#include "encoder/tokenizer_train.h"
#include "eval/recall.h"
#include "train/checkpoint.h"
#include "train/model_growth.h"
#include "train/optimizer.h"
#include "train/text_pairs.h"
#include "train/trainable_model.h"

namespace opsis::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string path_in(const std::string& folder, const std::string& name) { return (fs::path(folder) / name).string(); }

// Problems with inputs are reported, counted and skipped; the first few go to the terminal.
void report_problems(const std::string& what, const std::vector<std::string>& problems, const std::string& log_path) {
    if (problems.empty()) return;
    std::string all;
    for (const std::string& p : problems) all += p + "\n";
    write_file_atomic(log_path, all);
    std::fprintf(stderr, "train: skipped %zu %s (all listed in %s)\n", problems.size(), what.c_str(), log_path.c_str());
    for (std::size_t i = 0; i < std::min<std::size_t>(problems.size(), 5); ++i)
        std::fprintf(stderr, "  %s\n", problems[i].c_str());
}

Tokenizer make_tokenizer(const TrainOptions& o, const std::vector<CorpusItem>& train_items) {
    const std::string saved = path_in(o.out, "tokenizer");
    if (fs::exists(path_in(saved, "vocab.json"))) return Tokenizer::load(saved);
    Tokenizer tokenizer = Tokenizer::bytes_only();
    if (!o.init.empty()) {
        tokenizer = Tokenizer::load(o.init);  // the model's weights only mean something with its own tokens
    } else if (!o.tokenizer.empty()) {
        tokenizer = Tokenizer::load(o.tokenizer);
    } else {
        std::vector<std::string> texts;
        for (const CorpusItem& item : train_items) {
            texts.insert(texts.end(), item.english.begin(), item.english.end());
            if (o.augment.definition_weight > 0)
                texts.insert(texts.end(), item.definitions.begin(), item.definitions.end());
            if (o.augment.search_tags_weight > 0 && !item.search_tags.empty()) texts.push_back(search_tags_caption(item));
            texts.insert(texts.end(), item.greek.begin(), item.greek.end());
        }
        std::fprintf(stderr, "train: learning a %d-token BPE vocabulary from %zu training captions\n", o.vocab_size,
                     texts.size());
        tokenizer = train_bpe(texts, {o.vocab_size, 2});
    }
    // Written beside and renamed into place, so a kill never leaves half a tokenizer.
    const std::string partial = saved + ".partial";
    fs::remove_all(partial);
    tokenizer.save(partial);
    fs::rename(partial, saved);
    return tokenizer;
}

struct Validation {
    double text_to_image_r10 = 0, image_to_text_r10 = 0, text_to_image_r1 = 0, image_to_text_r1 = 0;
    // Early stopping keeps the best mean of R@1 and R@10 in both directions.
    double score() const {
        return 0.25 * (text_to_image_r1 + text_to_image_r10 + image_to_text_r1 + image_to_text_r10);
    }
};

// Recall on the validation slice with the inference model (batch-norm folded): text->image
// with each item's first English caption, image->text against all those captions.
Validation validate(const DualEncoder& model, const std::vector<CorpusItem>& items, const ImageCache& cache) {
    const PreprocessOptions& pre = model.config().image.preprocess;
    const int s = pre.image_size;
    std::vector<std::size_t> usable;
    for (std::size_t i = 0; i < items.size(); ++i)
        if (cache.ok(i) && !items[i].english.empty()) usable.push_back(i);
    const std::vector<std::int32_t> all_concepts = concept_ids(items);
    std::vector<std::int32_t> image_concepts, text_concepts;
    std::vector<std::string> captions;
    std::set<std::pair<std::int32_t, std::string>> seen;
    for (const std::size_t i : usable) {
        image_concepts.push_back(all_concepts[i]);
        if (seen.emplace(all_concepts[i], items[i].english[0]).second) {
            captions.push_back(items[i].english[0]);
            text_concepts.push_back(all_concepts[i]);
        }
    }
    const std::int64_t n = static_cast<std::int64_t>(usable.size()), e = model.config().embed_dim;
    Tensor image_embeddings({n, e});
    for (std::int64_t b0 = 0; b0 < n; b0 += 64) {
        const std::int64_t rows = std::min<std::int64_t>(64, n - b0);
        Tensor batch({rows, s, s, 3});
        for (std::int64_t r = 0; r < rows; ++r)
            centre_view(cache, usable[static_cast<std::size_t>(b0 + r)], pre, batch.data() + r * s * s * 3);
        const Tensor emb = model.encode_images(batch);
        std::copy_n(emb.data(), rows * e, image_embeddings.data() + b0 * e);
    }
    const std::int64_t t = static_cast<std::int64_t>(captions.size());
    Tensor text_embeddings({t, e});
    for (std::int64_t b0 = 0; b0 < t; b0 += 64) {
        const std::vector<std::string> chunk(captions.begin() + b0,
                                             captions.begin() + std::min<std::int64_t>(t, b0 + 64));
        const Tensor emb = model.encode_texts(chunk);
        std::copy_n(emb.data(), emb.numel(), text_embeddings.data() + b0 * e);
    }
    const auto t2i = eval::recall_at_k(text_embeddings, text_concepts, image_embeddings, image_concepts);
    const auto i2t = eval::recall_at_k(image_embeddings, image_concepts, text_embeddings, text_concepts);
    return {t2i.r10, i2t.r10, t2i.r1, i2t.r1};
}

// A model to continue from (--init): its parameters must be --config's, name for name and shape
// for shape, or its weights would not fit the parameters being trained; --config may add whole
// blocks (train/model_growth.h). What the weights do not depend on may differ (a ResNet's input
// size, its preprocessing), and is said.
Weights starting_weights(const TrainOptions& o, const ModelConfig& config) {
    const DualEncoder start = DualEncoder::load(o.init);
    const nlohmann::json had = model_config_to_json(start.config()), wanted = model_config_to_json(config);
    auto shapes = [](const ModelConfig& c) {
        std::vector<std::pair<std::string, Shape>> out;
        for (const ParamSpec& spec : DualEncoder::param_specs(c)) out.emplace_back(spec.name, spec.shape);
        return out;
    };
    const bool same_parameters = shapes(start.config()) == shapes(config);
    for (const nlohmann::json& change : nlohmann::json::diff(had, wanted))
        std::fprintf(stderr, "train: --config changes the --init model's %s to %s%s\n",
                     change.value("path", std::string()).c_str(),
                     change.contains("value") ? change["value"].dump().c_str() : "nothing",
                     same_parameters ? " (its weights do not depend on it)" : "");
    std::fprintf(stderr, "train: starting from the weights of %s\n", o.init.c_str());
    if (same_parameters) return start.weights();
    Weights grown = grow_weights(start, o.init, config, o.config, o.seed);
    const std::int64_t added = parameter_count(grown) - start.parameter_count();
    std::fprintf(stderr,
                 "train: --config grows the --init model by %lld parameters in new blocks, each starting as the "
                 "identity (its embeddings unchanged)\n",
                 static_cast<long long>(added));
    return grown;
}

std::string duration(double seconds) {
    const long s = static_cast<long>(seconds);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    return buf;
}

}  // namespace

void run_training(const TrainOptions& o) {
    if (o.steps < 1) throw Error("train: --steps must be at least 1");
    blas::set_threads(o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency()));
    fs::create_directories(o.out);
    const std::string checkpoint_path = path_in(o.out, "checkpoint.safetensors");
    if (!o.init.empty() && !o.tokenizer.empty())
        throw Error("train: --init brings its model's tokenizer; leave out --tokenizer " + o.tokenizer);
    if (!o.resume && fs::exists(checkpoint_path))
        throw input_error("run folder", o.out,
                          "already holds a checkpoint: pass --resume to continue it, or use a new --out");

    // Corpus: manifest and splits; bad lines and unknown ids are reported and skipped.
    const Manifest manifest = read_manifest(path_in(o.corpus, "manifest.jsonl"));
    std::vector<std::string> problems = manifest.problems;
    const std::vector<CorpusItem> train_items =
        select(manifest, read_split(path_in(o.corpus, o.train_split)), problems);
    const std::vector<CorpusItem> val_items = select(manifest, read_split(path_in(o.corpus, o.val_split)), problems);

    const Tokenizer tokenizer = make_tokenizer(o, train_items);
    const ModelConfig config = load_model_config(o.config, tokenizer.vocab_size());
    const PreprocessOptions& pre = config.image.preprocess;

    // Every image decoded once into a small RGBA square (a little larger than the model's
    // input, so random crops have room).
    const int side = pre.image_size + pre.image_size / 8;
    auto cache_for = [&](const std::vector<CorpusItem>& items, const char* what) {
        std::vector<std::string> paths;
        for (const CorpusItem& item : items) paths.push_back(item.image);
        const auto start = Clock::now();
        ImageCache cache(paths, side, pre.trim_transparent, ImageLimits{});
        for (std::size_t i = 0; i < items.size(); ++i)
            if (!cache.ok(i))
                problems.push_back("manifest line " + std::to_string(items[i].line) + " (" + items[i].id +
                                   "): " + cache.failure(i));
        std::fprintf(stderr, "train: decoded %zu %s images in %.1f s\n", items.size(), what,
                     std::chrono::duration<double>(Clock::now() - start).count());
        return cache;
    };
    const ImageCache train_cache = cache_for(train_items, "training");
    const ImageCache val_cache = cache_for(val_items, "validation");
    report_problems("inputs", problems, path_in(o.out, "problems.txt"));
    std::optional<TextPairBatches> text_pairs;
    if (o.text_pairs_weight > 0) {
        TextPairs read = read_text_pairs(path_in(o.corpus, "text_pairs.jsonl"));
        report_problems("text pairs", read.problems, path_in(o.out, "text_pair_problems.txt"));
        text_pairs.emplace(std::move(read.pairs), tokenizer, config.text.context_length,
                           o.text_pairs_batch > 0 ? o.text_pairs_batch : o.batch_size, o.seed);
        std::fprintf(stderr, "train: %zu text pairs, %d a step at weight %g\n", text_pairs->size(),
                     o.text_pairs_batch > 0 ? o.text_pairs_batch : o.batch_size, o.text_pairs_weight);
    }

    const BatchMaker batches(train_items, train_cache, tokenizer, config, o.batch_size, o.seed, o.augment);
    // What else decides the batches and the loss: a resumed run must use the same, or it would
    // silently stop being the run it continues.
    nlohmann::json recipe = {{"label_smoothing", o.label_smoothing},
                             {"text_augment", o.augment.text.keyword_subset > 0 || o.augment.text.template_ > 0 ||
                                                  o.augment.text.plural > 0 || o.augment.text.typo > 0},
                             {"image_augment", o.augment.image}};
    // Said only when on, so a checkpoint made before they existed resumes with them off, which
    // is how it was made.
    if (o.augment.text.sentence > 0) recipe["sentence_framing"] = o.augment.text.sentence;
    if (o.augment.bpe_dropout > 0) recipe["bpe_dropout"] = o.augment.bpe_dropout;
    if (o.augment.definition_weight > 0) recipe["definition_weight"] = o.augment.definition_weight;
    if (o.augment.search_tags_weight > 0) recipe["search_tags_weight"] = o.augment.search_tags_weight;
    if (text_pairs) {
        recipe["text_pairs_weight"] = o.text_pairs_weight;
        recipe["text_pairs_batch"] = o.text_pairs_batch > 0 ? o.text_pairs_batch : o.batch_size;
        recipe["text_pairs_count"] = text_pairs->size();  // another pairs file makes another run
    }
    const std::vector<ParamSpec> specs = DualEncoder::param_specs(config);
    Checkpoint state;
    if (o.resume && fs::exists(checkpoint_path)) {
        state = load_checkpoint(checkpoint_path);
        if (state.meta.value("seed", std::uint64_t{0}) != o.seed || state.meta.value("batch_size", 0) != o.batch_size)
            throw input_error("checkpoint", checkpoint_path,
                              "was made with another --seed or --batch (resume with the same ones)");
        if (state.meta.contains("recipe") && state.meta["recipe"] != recipe)
            throw input_error("checkpoint", checkpoint_path,
                              "was made with " + state.meta["recipe"].dump() + ", not " + recipe.dump() +
                                  " (resume with the same options)");
        std::fprintf(stderr, "train: resuming after step %lld\n", static_cast<long long>(state.step));
    } else {
        state.weights = o.init.empty() ? random_weights(specs, o.seed) : starting_weights(o, config);
        state.meta = {{"seed", o.seed},
                      {"batch_size", o.batch_size},
                      {"recipe", recipe},
                      {"config", model_config_to_json(config)},
                      {"best_score", -1.0},
                      {"best_step", -1},
                      {"history", nlohmann::json::array()}};
        if (!o.init.empty()) state.meta["init"] = o.init;
    }
    TrainableDualEncoder model(config, std::move(state.weights));
    model.set_text_group_cost(o.text_group_cost);
    AdamW adam(specs, {0.9f, 0.98f, 1e-6f, o.weight_decay});
    if (state.adam_steps > 0) {
        adam.first_moment() = std::move(state.adam_m);
        adam.second_moment() = std::move(state.adam_v);
        adam.set_steps_taken(state.adam_steps);
    }
    const LearningRateSchedule schedule{o.lr, o.warmup, o.steps, 0.02f};
    const std::int64_t per_epoch = batches.steps_per_epoch();
    const std::int64_t validate_every = o.validate_every > 0 ? o.validate_every : per_epoch;
    const float max_logit_scale = std::log(100.0f);
    std::int64_t parameters = 0;
    for (const ParamSpec& s : specs) parameters += shape_numel(s.shape);
    std::fprintf(stderr,
                 "train: %zu training pairs (%lld steps an epoch of %d), %zu validation images, %lld parameters\n",
                 batches.usable_items(), static_cast<long long>(per_epoch), o.batch_size, val_items.size(),
                 static_cast<long long>(parameters));

    auto save = [&](std::int64_t completed) {
        Checkpoint c;
        c.step = completed;
        c.adam_steps = adam.steps_taken();
        c.weights = model.weights();
        c.adam_m = adam.first_moment();
        c.adam_v = adam.second_moment();
        c.meta = state.meta;
        save_checkpoint(checkpoint_path, c);
    };
    auto run_validation = [&](std::int64_t completed) {
        const DualEncoder inference = DualEncoder::from_weights(config, tokenizer, model.weights());
        const Validation v = validate(inference, val_items, val_cache);
        state.meta["history"].push_back({{"step", completed},
                                         {"text_to_image_r1", v.text_to_image_r1},
                                         {"text_to_image_r10", v.text_to_image_r10},
                                         {"image_to_text_r1", v.image_to_text_r1},
                                         {"image_to_text_r10", v.image_to_text_r10}});
        const bool best = v.score() > state.meta["best_score"].get<double>();
        std::fprintf(
            stderr,
            "\ntrain: validation after step %lld: text->image R@1 %.1f R@10 %.1f, image->text R@1 %.1f R@10 %.1f%s\n",
            static_cast<long long>(completed), v.text_to_image_r1, v.text_to_image_r10, v.image_to_text_r1,
            v.image_to_text_r10, best ? " (best so far)" : "");
        if (best) {
            state.meta["best_score"] = v.score();
            state.meta["best_step"] = completed;
            inference.save(path_in(o.out, "best"));
        }
    };

    const bool tty = ::isatty(STDERR_FILENO);
    Gradients grads = zero_gradients(specs);
    const std::int64_t last = o.stop_at > 0 ? std::min(o.stop_at, o.steps) : o.steps;
    std::future<Batch> next = std::async(std::launch::async, [&, s = state.step] { return batches.make(s); });
    const auto start = Clock::now();
    double smoothed = NAN, smoothed_pairs = NAN;
    for (std::int64_t step = state.step; step < last; ++step) {
        Batch batch = next.get();
        if (step + 1 < last) next = std::async(std::launch::async, [&, s = step + 1] { return batches.make(s); });
        clear(grads);
        const StepOutcome out =
            model.forward_backward(batch.images, batch.tokens, batch.concepts, grads, o.label_smoothing);
        double pairs_loss = 0;
        if (text_pairs) {
            const TextPairBatch pairs = text_pairs->make(step);
            pairs_loss = model.forward_backward_text_pairs(pairs.a, pairs.b, pairs.groups, grads, o.text_pairs_weight)
                             .loss;
        }
        const double norm = clip_gradient_norm(grads, o.clip);
        const bool finite = std::isfinite(out.loss) && std::isfinite(pairs_loss);
        if (!finite || !std::isfinite(norm)) {
            if (next.valid()) next.wait();
            throw Error(
                "train: the loss became " + std::string(finite ? "finite but the gradient " : "") +
                "NaN or infinite at step " + std::to_string(step + 1) + " (learning rate " +
                std::to_string(schedule.at(step)) + "); stopped without saving. The last good checkpoint " +
                (fs::exists(checkpoint_path) ? "is intact at " + checkpoint_path : std::string("does not exist yet")) +
                ": lower --lr or --clip and resume.");
        }
        const float lr = schedule.at(step);
        adam.step(model.weights(), grads, lr);
        float& logit_scale = model.weights().at("logit_scale")[0];
        logit_scale = std::clamp(logit_scale, 0.0f, max_logit_scale);

        const std::int64_t completed = step + 1;
        smoothed = std::isnan(smoothed) ? out.loss : 0.95 * smoothed + 0.05 * out.loss;
        smoothed_pairs = std::isnan(smoothed_pairs) ? pairs_loss : 0.95 * smoothed_pairs + 0.05 * pairs_loss;
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        const double pairs_per_s = static_cast<double>((completed - state.step) * o.batch_size) / elapsed;
        const double eta = static_cast<double>(o.steps - completed) * o.batch_size / pairs_per_s;
        if (tty || completed % o.log_every == 0 || completed == last) {
            char pairs_part[48] = "";
            if (text_pairs) std::snprintf(pairs_part, sizeof pairs_part, "  text pairs %.4f", smoothed_pairs);
            std::fprintf(stderr, "%sstep %lld/%lld  loss %.4f%s  lr %.2e  temp %.4f  %.1f pairs/s  ETA %s%s",
                         tty ? "\r" : "", static_cast<long long>(completed), static_cast<long long>(o.steps), smoothed,
                         pairs_part, lr, out.temperature, pairs_per_s, duration(eta).c_str(), tty ? "   " : "\n");
        }
        if (completed % validate_every == 0 || completed == o.steps) run_validation(completed);
        if (completed % o.checkpoint_every == 0 || completed == last) save(completed);
    }
    if (tty) std::fprintf(stderr, "\n");
    if (last == o.steps) {
        DualEncoder::from_weights(config, tokenizer, model.weights()).save(path_in(o.out, "final"));
        std::fprintf(
            stderr, "train: done; final model in %s, best (step %lld) in %s\n", path_in(o.out, "final").c_str(),
            static_cast<long long>(state.meta["best_step"].get<std::int64_t>()), path_in(o.out, "best").c_str());
    } else {
        std::fprintf(stderr, "train: stopped after step %lld as asked; --resume continues\n",
                     static_cast<long long>(last));
    }
}

}  // namespace opsis::train
