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
OpenIndex open_index(const std::string& dir, const std::string& model_path, bool create, bool need_model,
                     const storage::StoreOptions& options = {});

}  // namespace opsis
