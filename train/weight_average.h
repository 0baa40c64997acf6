#pragma once
// A weight average of models trained from one another ("model soup", Wortsman et al. 2022):
// two cosine cycles of the same model end in one basin, and the point between them often
// generalises better than either end. `opsis model average` writes it.
#include <string>
#include <vector>

#include "encoder/dual_encoder.h"

namespace opsis::train {

// Every parameter (batch-norm statistics too) as the share-weighted mean of the models' (shares
// are normalised to sum 1; empty: equal). The models must have one config and one tokenizer;
// errors name the model that differs. The result carries no lexicon or relevance rule: both
// belong to the weights and are made again for it (data/build-lexicon, opsis model calibrate).
DualEncoder average_models(const std::vector<std::string>& paths, std::vector<double> shares);

}  // namespace opsis::train
