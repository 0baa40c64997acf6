#include "train/weight_average.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>

#include "core/error.h"

namespace opsis::train {

DualEncoder average_models(const std::vector<std::string>& paths, std::vector<double> shares) {
    if (paths.size() < 2) throw Error("model average: name at least two models");
    if (shares.empty()) shares.assign(paths.size(), 1.0);
    if (shares.size() != paths.size())
        throw Error("model average: " + std::to_string(shares.size()) + " shares for " +
                    std::to_string(paths.size()) + " models");
    for (const double share : shares)
        if (!(share >= 0.0 && std::isfinite(share)))
            throw Error("model average: share " + std::to_string(share) + " is not a finite number of at least 0");
    const double total = std::accumulate(shares.begin(), shares.end(), 0.0);
    if (!(total > 0.0)) throw Error("model average: the shares sum to 0");

    const DualEncoder first = DualEncoder::load(paths[0]);
    const std::string config = model_config_to_json(first.config()).dump();
    std::map<std::string, std::vector<double>> sums;
    for (const auto& [name, tensor] : first.weights()) sums[name].assign(static_cast<std::size_t>(tensor.numel()), 0.0);
    for (std::size_t m = 0; m < paths.size(); ++m) {
        const std::optional<DualEncoder> loaded = m == 0 ? std::nullopt : std::optional(DualEncoder::load(paths[m]));
        const DualEncoder& model = loaded ? *loaded : first;
        if (model_config_to_json(model.config()).dump() != config)
            throw input_error("model", paths[m],
                              "has another config than " + paths[0] + " (" +
                                  model_config_to_json(model.config()).dump() + " against " + config + ")");
        if (!model.tokenizer().same_as(first.tokenizer()))
            throw input_error("model", paths[m], "has another tokenizer than " + paths[0]);
        const double share = shares[m] / total;
        for (const auto& [name, tensor] : model.weights()) {
            std::vector<double>& sum = sums.at(name);
            for (std::int64_t i = 0; i < tensor.numel(); ++i) sum[static_cast<std::size_t>(i)] += share * tensor[i];
        }
    }
    Weights averaged;
    for (const auto& [name, tensor] : first.weights()) {
        Tensor mean(tensor.shape());
        const std::vector<double>& sum = sums.at(name);
        for (std::int64_t i = 0; i < mean.numel(); ++i) mean[i] = static_cast<float>(sum[static_cast<std::size_t>(i)]);
        averaged.emplace(name, std::move(mean));
    }
    return DualEncoder::from_weights(first.config(), first.tokenizer(), std::move(averaged));
}

}  // namespace opsis::train
