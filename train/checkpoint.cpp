#include "train/checkpoint.h"

#include "core/error.h"
#include "encoder/safetensors.h"

namespace opsis::train {
namespace {
constexpr const char* kMetaKey = "opsis.checkpoint";
const char* const kGroups[] = {"weights/", "adam.m/", "adam.v/"};
}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& c) {
    std::map<std::string, Tensor> tensors;
    const Weights* groups[] = {&c.weights, &c.adam_m, &c.adam_v};
    for (int g = 0; g < 3; ++g)
        for (const auto& [name, t] : *groups[g]) tensors.emplace(kGroups[g] + name, t);
    nlohmann::json meta = c.meta;
    meta["step"] = c.step;
    meta["adam_steps"] = c.adam_steps;
    write_safetensors(path, tensors, {{kMetaKey, meta.dump()}});
}

Checkpoint load_checkpoint(const std::string& path) {
    const SafetensorsReader file(path);
    const auto meta = file.metadata().find(kMetaKey);
    if (meta == file.metadata().end()) throw input_error("checkpoint", path, "not an Opsis training checkpoint");
    Checkpoint c;
    try {
        c.meta = nlohmann::json::parse(meta->second);
        c.step = c.meta.at("step").get<std::int64_t>();
        c.adam_steps = c.meta.at("adam_steps").get<std::int64_t>();
    } catch (const nlohmann::json::exception& e) {
        throw input_error("checkpoint", path, std::string("malformed metadata: ") + e.what());
    }
    Weights* groups[] = {&c.weights, &c.adam_m, &c.adam_v};
    for (const auto& [name, entry] : file.entries()) {
        bool placed = false;
        for (int g = 0; g < 3 && !placed; ++g) {
            const std::string prefix = kGroups[g];
            if (name.rfind(prefix, 0) == 0) {
                groups[g]->emplace(name.substr(prefix.size()), file.read(name));
                placed = true;
            }
        }
        if (!placed) throw input_error("checkpoint", path, "unexpected tensor '" + name + "'");
    }
    return c;
}

}  // namespace opsis::train
