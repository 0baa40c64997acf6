// opsis model init | info | calibrate | average | grow | visualize: create a randomly initialised
// model, describe an existing one, fit its relevance rule (when a text's hit is likely what was
// asked for), average the weights of models trained from one another, grow one by whole blocks,
// draw what its units see.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/json_text.h"
#include "core/error.h"
#include "core/file_io.h"
#include "encoder/clip_checkpoint.h"
#include "encoder/dual_encoder.h"
#include "explain/filter_atlas.h"
#include "index_folder/open_index.h"
#include "indexer/progress.h"
#include "train/model_growth.h"
#include "train/relevance_calibration.h"
#include "train/weight_average.h"

namespace opsis::cli {
namespace {

struct InitArgs {
    std::string config, out, tokenizer;
    std::uint64_t seed = 1;
};

void run_init(const InitArgs& a) {
    Tokenizer tokenizer = a.tokenizer.empty() ? Tokenizer::bytes_only() : Tokenizer::load(a.tokenizer);
    ModelConfig config = load_model_config(a.config, tokenizer.vocab_size());
    const DualEncoder model = DualEncoder::random(std::move(config), std::move(tokenizer), a.seed);
    model.save(a.out);
    std::printf("wrote %s: %s, %lld parameters, seed %llu\n", a.out.c_str(), model.config().name.c_str(),
                static_cast<long long>(model.parameter_count()), static_cast<unsigned long long>(a.seed));
}

// Each precision and whether this CPU runs it (encoder/precision.h), for `model info`.
nlohmann::json precision_options() {
    nlohmann::json out = nlohmann::json::object();
    for (const Precision p : {Precision::fp32, Precision::bf16, Precision::int8}) {
        const std::string why = precision_unsupported_reason(p);
        out[precision_name(p)] = why.empty() ? "available on this CPU (" + cpu_isa_name() + ")" : "unavailable: " + why;
    }
    return out;
}

void run_info(const std::string& path) {
    const DualEncoder model = DualEncoder::load(path);
    const std::string folder = model_folder(path);
    nlohmann::json out = {
        {"model", folder},
        {"format", checkpoint_format(folder)},
        {"weights_file", model_weights_file(folder)},
        // Weights are held in float32, whatever the file's dtype; --precision packs them at load.
        {"precision", {{"stored", "fp32"}, {"runs_at", precision_options()}}},
        {"parameters", model.parameter_count()},
        {"tokenizer_vocab", model.tokenizer().vocab_size()},
        {"tokenizer_cleaning", model.tokenizer().cleaning() == Tokenizer::Cleaning::clip ? "clip" : "plain"},
        {"lexicon_words", model.lexicon() ? nlohmann::json(model.lexicon()->known_words()) : nlohmann::json(nullptr)},
        {"relevance_rule",
         model.relevance() ? nlohmann::json::parse(model.relevance()->to_json()) : nlohmann::json(nullptr)},
        {"logit_scale", model.logit_scale()},
        {"config", model_config_to_json(model.config())}};
    std::printf("%s\n", json_text(out, 2).c_str());
}

struct CalibrateArgs {
    std::string model, corpus, split = "val", out, json_out;
    std::size_t top = 10;
    int background = 1024;
    double keep_right = 0.9;
};

void run_calibrate(const CalibrateArgs& a) {
    const DualEncoder model = DualEncoder::load(a.model);
    const std::string folder = model_folder(a.model);
    const std::string out = a.out.empty() ? folder + "/" + RelevanceRule::kFileName : a.out;
    const std::vector<train::Pair> pairs = train::read_corpus_split(a.corpus, a.split, "model calibrate");
    if (pairs.empty()) throw input_error("corpus", a.corpus, "split '" + a.split + "' has no pictures");
    std::fprintf(stderr, "model calibrate: embedding %zu pictures of split '%s'\n", pairs.size(), a.split.c_str());
    std::vector<bool> ok;
    const Tensor images = train::embed_split_images(model, pairs, ok, "model calibrate");
    train::CalibrationOptions options;
    options.top = a.top;
    options.background_sample = a.background;
    options.keep_right = a.keep_right;
    train::Calibration c = train::calibrate_relevance(model, pairs, images, ok, options);
    c.rule.model_sha256 = identify_model(a.model, model).sha256;
    c.rule.fitted_on = "split '" + a.split + "' of " + absolute_path(a.corpus) + ": " + std::to_string(c.queries) +
                       " queries (a concept's English or Greek caption), their top " + std::to_string(a.top) +
                       " hits with and without the concept's pictures, " + std::to_string(c.examples) + " hits, " +
                       std::to_string(c.relevant_examples) + " relevant";
    write_file_atomic(out, c.rule.to_json());

    std::printf("%s\n\nheld out (rule fitted on half the concepts, measured on the other half):\n",
                c.rule.fitted_on.c_str());
    std::printf("%-12s %9s %10s %8s %15s %17s\n", "features", "log loss", "precision", "recall", "absent caught",
                "present flagged");
    nlohmann::json held = nlohmann::json::array();
    for (const train::HeldOutQuality& q : c.held_out) {
        std::printf("%-12s %9.4f %9.1f%% %7.1f%% %14.1f%% %16.1f%%\n", q.features.c_str(), q.log_loss,
                    100 * q.precision, 100 * q.recall, 100 * q.absent_caught, 100 * q.present_wrongly_flagged);
        held.push_back({{"features", q.features},
                        {"log_loss", q.log_loss},
                        {"precision", q.precision},
                        {"recall", q.recall},
                        {"absent_caught", q.absent_caught},
                        {"present_wrongly_flagged", q.present_wrongly_flagged}});
    }
    std::printf(
        "\nwrote %s: P(found) = sigmoid(%.3f %+.3f * cosine %+.3f * z), likely relevant from %.3f "
        "(under %d pictures: sigmoid(%.3f %+.3f * cosine) from %.3f)\n",
        out.c_str(), c.rule.bias, c.rule.w_score, c.rule.w_z, c.rule.threshold, c.rule.min_background,
        c.rule.cosine_bias, c.rule.cosine_w, c.rule.cosine_threshold);
    if (!a.json_out.empty())
        write_file_atomic(a.json_out, json_text(nlohmann::json{{"rule", nlohmann::json::parse(c.rule.to_json())},
                                                               {"queries", c.queries},
                                                               {"examples", c.examples},
                                                               {"relevant_examples", c.relevant_examples},
                                                               {"held_out", held}},
                                                2) +
                                          "\n");
}

struct AverageArgs {
    std::vector<std::string> models;
    std::vector<double> shares;
    std::string out;
};

void run_average(const AverageArgs& a) {
    const DualEncoder model = train::average_models(a.models, a.shares);
    model.save(a.out);
    std::string from;
    for (std::size_t i = 0; i < a.models.size(); ++i) {
        char share[32] = "";
        if (!a.shares.empty()) std::snprintf(share, sizeof share, " (share %g)", a.shares[i]);
        from += (i ? ", " : "") + a.models[i] + share;
    }
    std::printf("wrote %s: the weight average of %s; make its lexicon (data/build-lexicon) and relevance rule "
                "(opsis model calibrate) again\n",
                a.out.c_str(), from.c_str());
}

struct GrowArgs {
    std::string model, config, out;
    std::uint64_t seed = 1;
};

// What `opsis train --init MODEL --config DEEPER --seed S` starts from, written out: with the
// run's end, the two ends of a cycle that grew the model, to average (`model average`).
void run_grow(const GrowArgs& a) {
    const DualEncoder start = DualEncoder::load(a.model);
    ModelConfig config = load_model_config(a.config, start.tokenizer().vocab_size());
    Weights grown = train::grow_weights(start, a.model, config, a.config, a.seed);
    const DualEncoder model = DualEncoder::from_weights(std::move(config), start.tokenizer(), std::move(grown));
    model.save(a.out);
    std::printf("wrote %s: %s grown to %lld parameters (%lld new, each new block the identity; seed %llu), "
                "embedding as %s does\n",
                a.out.c_str(), a.model.c_str(), static_cast<long long>(model.parameter_count()),
                static_cast<long long>(model.parameter_count() - start.parameter_count()),
                static_cast<unsigned long long>(a.seed), a.model.c_str());
}

struct VisualizeArgs {
    std::string index, model, out;
    int units = 8;
    std::size_t max_pictures = 5000;
};

void run_visualize(const VisualizeArgs& a) {
    storage::StoreOptions read_only;  // it only reads: a server may hold the index meanwhile
    read_only.read_only = true;
    OpenIndex ix = open_index(a.index, a.model, false, true, read_only);
    const storage::Catalog& catalog = ix.store->catalog();
    // An even stride through the collection when it holds more than max_pictures.
    const std::uint64_t count = catalog.item_count(storage::Collection::images);
    const std::uint64_t stride =
        std::max<std::uint64_t>(1, (count + a.max_pictures - 1) / std::max<std::size_t>(a.max_pictures, 1));
    std::vector<explain::AtlasPicture> pictures;
    std::uint64_t seen = 0;
    catalog.for_each_item(storage::Collection::images, [&](const storage::Item& it) {
        if (seen++ % stride != 0 || it.paths.empty()) return true;
        pictures.push_back({it.id, it.paths.front(), it.captions.empty() ? "" : it.captions.front()});
        return pictures.size() < a.max_pictures;
    });
    if (pictures.empty()) throw input_error("index", a.index, "has no pictures to visualise the model with");
    const std::string out = a.out.empty() ? a.index + "/atlas" : a.out;
    explain::AtlasOptions options;
    options.units = a.units;
    indexer::Progress progress("model visualize", 10.0);
    progress.set_total(pictures.size(), true);
    const auto t0 = std::chrono::steady_clock::now();
    const explain::Atlas atlas = explain::find_top_patches(
        *ix.model, pictures, options, [&](std::size_t done, std::size_t failed) { progress.update(done, failed); });
    progress.finish();
    explain::write_atlas(*ix.model, pictures, atlas, options, storage::describe(ix.store->model()), out);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("wrote %s/index.html: %zu maps, up to %d units each, over %zu pictures (%zu unreadable) in %.1f s\n",
                out.c_str(), atlas.stages.size(), a.units, atlas.pictures_read, atlas.pictures_failed, seconds);
}

}  // namespace

void register_model(CLI::App& app) {
    CLI::App* model = app.add_subcommand("model", "Create and inspect models");
    model->require_subcommand(1);

    auto init = std::make_shared<InitArgs>();
    CLI::App* cmd = model->add_subcommand("init", "Write a randomly initialised model from a config");
    cmd->add_option("--config,-c", init->config, "Architecture config (JSON)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--out,-o", init->out, "Model folder to write")->required();
    cmd->add_option("--tokenizer", init->tokenizer, "Tokenizer folder (vocab.json + merges.txt); default: bytes only")
        ->check(CLI::ExistingDirectory);
    cmd->add_option("--seed", init->seed, "Random seed")->capture_default_str();
    cmd->callback([init] { run_init(*init); });

    auto info_path = std::make_shared<std::string>();
    CLI::App* info = model->add_subcommand("info", "Print a model's config and size");
    info->add_option("--model,-m", *info_path, "Model folder")->required();
    info->callback([info_path] { run_info(*info_path); });

    auto cal = std::make_shared<CalibrateArgs>();
    CLI::App* calibrate = model->add_subcommand(
        "calibrate", "Fit when a text query's hit is likely relevant (relevance.json beside the weights)");
    calibrate->add_option("--model,-m", cal->model, "Model folder")->required()->check(CLI::ExistingPath);
    calibrate->add_option("--corpus", cal->corpus, "Corpus folder from data/build-corpus")
        ->required()
        ->check(CLI::ExistingDirectory);
    calibrate->add_option("--split", cal->split, "Split the model did not train on")->capture_default_str();
    calibrate->add_option("--top", cal->top, "Hits judged per query and case")
        ->capture_default_str()
        ->check(CLI::Range(1, 100));
    calibrate->add_option("--background", cal->background, "Pictures a query's background is measured against")
        ->capture_default_str()
        ->check(CLI::Range(16, 100000));
    calibrate
        ->add_option("--keep-right", cal->keep_right,
                     "Share of searches whose best hit is right that the cut lets through")
        ->capture_default_str()
        ->check(CLI::Range(0.5, 0.99));
    calibrate->add_option("--out,-o", cal->out,
                          "Where to write the rule (default: relevance.json in the model folder)");
    calibrate->add_option("--json", cal->json_out, "Also write the figures as JSON");
    calibrate->callback([cal] { run_calibrate(*cal); });

    auto avg = std::make_shared<AverageArgs>();
    CLI::App* average = model->add_subcommand(
        "average", "Write the weight average of models trained from one another (one config, one tokenizer)");
    average->add_option("models", avg->models, "Model folders (at least two)")
        ->required()
        ->expected(2, 64)
        ->check(CLI::ExistingPath);
    average->add_option("--shares", avg->shares, "Each model's share of the average (default: equal)")
        ->delimiter(',');
    average->add_option("--out,-o", avg->out, "Model folder to write")->required();
    average->callback([avg] { run_average(*avg); });

    auto grow = std::make_shared<GrowArgs>();
    CLI::App* grow_cmd = model->add_subcommand(
        "grow", "Write a model grown by whole blocks, each new one the identity (what train --init starts from)");
    grow_cmd->add_option("--model,-m", grow->model, "Model folder to grow")->required()->check(CLI::ExistingPath);
    grow_cmd->add_option("--config,-c", grow->config, "Deeper architecture config (JSON): more text layers or ResNet blocks")
        ->required()
        ->check(CLI::ExistingFile);
    grow_cmd->add_option("--seed", grow->seed, "Random seed of the new blocks (train's --seed draws the same)")
        ->capture_default_str();
    grow_cmd->add_option("--out,-o", grow->out, "Model folder to write")->required();
    grow_cmd->callback([grow] { run_grow(*grow); });

    auto vis = std::make_shared<VisualizeArgs>();
    CLI::App* visualize = model->add_subcommand(
        "visualize", "Draw what the image tower's units respond to, over an index's pictures (served at /model)");
    visualize->add_option("--index", vis->index, "Index folder whose pictures are looked through")
        ->required()
        ->check(CLI::ExistingDirectory);
    visualize->add_option("--model,-m", vis->model, "Model folder (default: the index's)");
    visualize->add_option("--out,-o", vis->out,
                          "Folder to write (default: INDEX/atlas, which opsis serve shows at /model)");
    visualize->add_option("--units", vis->units, "Units drawn per map (a ResNet stage; a ViT block's heads, its MLP)")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    visualize->add_option("--max-pictures", vis->max_pictures, "Pictures looked through at most (an even stride)")
        ->capture_default_str()
        ->check(CLI::Range(1, 10000000));
    visualize->callback([vis] { run_visualize(*vis); });
}

}  // namespace opsis::cli
