#include "index_folder/open_index.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "core/sha256.h"
#include "core/file_io.h"
#include "encoder/clip_checkpoint.h"

#ifndef OPSIS_SOURCE_MODELS
#define OPSIS_SOURCE_MODELS ""
#endif

namespace opsis {

namespace fs = std::filesystem;

std::string default_model_path() {
    if (const char* env = std::getenv("OPSIS_MODEL"); env != nullptr && *env != '\0') return env;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
        for (const fs::path& candidate : {exe.parent_path().parent_path() / "models/default",
                                          exe.parent_path().parent_path() / "share/opsis/models/default"})
            if (fs::exists(candidate / "model.safetensors", ec)) return candidate.string();
    const fs::path built = fs::path(OPSIS_SOURCE_MODELS) / "default";
    if (fs::exists(built / "model.safetensors", ec)) return built.string();
    throw input_error("default model", "models/default", "not found (set OPSIS_MODEL or pass --model)");
}

// What makes a model's vectors: an Opsis model's weights file holds its config; a CLIP
// checkpoint's config (activation, sizes, preprocessing) and tokenizer sit beside its weights,
// and two checkpoints with the same weights but another activation embed differently.
std::string model_fingerprint(const std::string& folder) {
    const std::string weights = sha256_file_hex(model_weights_file(folder));
    if (checkpoint_format(folder) == "opsis") return weights;
    std::string digests = weights;
    for (const char* name :
         {"open_clip_config.json", "config.json", "preprocessor_config.json", "vocab.json", "merges.txt"})
        if (fs::exists(fs::path(folder) / name)) digests += std::string(name) + sha256_file_hex(folder + "/" + name);
    return sha256_hex(digests.data(), digests.size());
}

storage::ModelIdentity identify_model(const std::string& path, const DualEncoder& model) {
    const std::string folder = absolute_path(model_folder(path));
    return {model.config().name, model_fingerprint(folder), folder, model.config().embed_dim,
            precision_name(model.precision())};
}

namespace {

// A relevance rule measured on other weights would judge hits by the wrong scale.
void check_relevance_rule(const DualEncoder& model, const storage::ModelIdentity& identity) {
    const RelevanceRule* rule = model.relevance();
    if (rule && rule->model_sha256 != identity.sha256)
        throw input_error("relevance rule", (fs::path(identity.path) / RelevanceRule::kFileName).string(),
                          "was calibrated for other weights (" + rule->model_sha256.substr(0, 12) + ", the model is " +
                              identity.sha256.substr(0, 12) +
                              "): run `opsis model calibrate` for this model, or remove the file");
}

}  // namespace

OpenIndex open_index(const std::string& dir, const std::string& model_path, bool create, bool need_model,
                     const storage::StoreOptions& options, std::optional<Precision> precision) {
    OpenIndex out;
    const bool exists = fs::exists(storage::marker_path(dir));
    std::optional<storage::ModelIdentity> identity;
    if (!model_path.empty() || (!exists && create)) {
        const std::string path = model_path.empty() ? default_model_path() : model_path;
        out.model = std::make_unique<DualEncoder>(DualEncoder::load(path, precision.value_or(Precision::fp32)));
        identity = identify_model(path, *out.model);
        check_relevance_rule(*out.model, *identity);
    }
    out.store = storage::IndexStore::open(dir, identity, create, options);
    Precision recorded_precision = Precision::fp32;
    try {
        recorded_precision = parse_precision(out.store->model().precision);
    } catch (const Error& e) {
        throw input_error("index", dir, std::string("its model record is damaged: ") + e.what(),
                          Error::Kind::corruption);
    }
    if (create && precision && *precision != recorded_precision)
        throw input_error("index", dir,
                          std::string("its vectors were made at ") + precision_name(recorded_precision) +
                              ": adding vectors at " + precision_name(*precision) +
                              " would mix them (omit --precision, or index afresh)");
    const Precision run_at = precision.value_or(recorded_precision);
    if (out.model && out.model->precision() != run_at)
        out.model = std::make_unique<DualEncoder>(out.model->at_precision(run_at));
    if (need_model && !out.model) {
        const storage::ModelIdentity& recorded = out.store->model();
        if (!fs::exists(model_weights_file(recorded.path)))
            throw input_error("index", dir,
                              "its model " + storage::describe(recorded) + " is no longer at '" + recorded.path +
                                  "': pass --model with the same weights");
        out.model = std::make_unique<DualEncoder>(DualEncoder::load(recorded.path, run_at));
        const storage::ModelIdentity now = identify_model(recorded.path, *out.model);
        if (now.sha256 != recorded.sha256)
            throw input_error("index", dir,
                              "the model at '" + recorded.path + "' has changed since the index was made (" +
                                  storage::describe(now) + " now, " + storage::describe(recorded) +
                                  " then): pass --model with the original weights, or index afresh");
        check_relevance_rule(*out.model, now);
    }
    return out;
}

}  // namespace opsis
