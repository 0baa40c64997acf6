#pragma once
// Opening an index folder together with the model that made (or will make) its vectors.
// Used by every command that reads or writes an index.
#include <memory>
#include <optional>
#include <string>

#include "encoder/dual_encoder.h"
#include "storage/index_store.h"

namespace opsis {

// The committed default model: $OPSIS_MODEL, else models/default beside the build folder of
// this executable, else the source tree it was built from.
std::string default_model_path();

// Who a model is, for the index's record: name, SHA-256 of its weights, folder, dimension.
storage::ModelIdentity identify_model(const std::string& path, const DualEncoder& model);

struct OpenIndex {
    std::unique_ptr<storage::IndexStore> store;
    std::unique_ptr<DualEncoder> model;  // null when opened without the model
};

// With create, a missing index is created with `model_path` (the default model when empty).
// An existing index uses the model it records unless `model_path` is given, which must then
// be the same weights. `need_model` false skips loading the model (stats, verify, ...).
// The model runs at `precision`, else at the precision the index records (fp32 for a new one);
// a command that adds vectors (create) must use the recorded precision, so that every vector
// in an index is made alike. Searching at another precision is allowed: queries embedded at
// bf16 or int8 stay within a cosine of 0.999 of fp32's (bench encoder reports the drift).
OpenIndex open_index(const std::string& dir, const std::string& model_path, bool create, bool need_model,
                     const storage::StoreOptions& options = {}, std::optional<Precision> precision = std::nullopt);

}  // namespace opsis
