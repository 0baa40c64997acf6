#pragma once
// A model's relevance rule (relevance.json beside its weights, written by `opsis model
// calibrate`): whether a text query's hit scores like a right answer, and so whether a search
// found the thing at all (see `threshold` for where the cut lies). A cosine means
// different things for different queries (a long sentence scores every picture higher than a
// bare word does), so a hit is judged by two features: its cosine, and how far that stands
// above the query's background, the scores of the same query against a sample of the
// collection (z = (cosine - mean) / std). The rule is a logistic regression over the two,
// fitted on a corpus split the model did not train on (train/relevance_calibration.h). A collection too small to
// measure a background against (a z over four pictures cannot exceed 1.5) is judged by the cosine alone, by a second
// regression fitted on the same hits.
#include <optional>
#include <string>
#include <string_view>

#include "encoder/tensor.h"

namespace opsis {

struct RelevanceRule {
    static constexpr const char* kFileName = "relevance.json";
    // P(found) = sigmoid(bias + w_score * cosine + w_z * z): the chance that a search whose best
    // hit scores this has found what it asked for.
    double bias = 0, w_score = 0, w_z = 0;
    // Collections with fewer pictures than this: P(found) = sigmoid(cosine_bias + cosine_w * cosine).
    int min_background = 64;
    double cosine_bias = 0, cosine_w = 0, cosine_threshold = 0.5;
    // Hits at or above this probability are "likely relevant" (they score like a right answer);
    // a query whose best hit is below it has no good match. Calibration sets it so that nine in
    // ten searches whose best hit is right pass: telling a person "nothing here" when the first
    // picture is what they asked for is the costlier mistake.
    double threshold = 0.5;
    // How many collection vectors the background is drawn from (at most).
    int background_sample = 1024;
    std::string fitted_on;     // a line saying what it was calibrated on, for people
    std::string model_sha256;  // the weights it was calibrated for (index_folder's model fingerprint)

    double probability(float cosine, float z) const;
    double probability(float cosine) const;  // the cosine alone

    // folder/relevance.json, or nullopt when the folder has none (an uncalibrated model: its
    // hits are not judged). A malformed file throws opsis::Error naming it and the reason.
    static std::optional<RelevanceRule> load(const std::string& folder);
    static RelevanceRule parse(std::string_view text, const std::string& name);
    std::string to_json() const;
};

// A query's background: the mean and spread of its scores against a sample of the collection.
struct QueryBackground {
    float mean = 0, std = 1;
    float z(float cosine) const { return (cosine - mean) / std; }
};

// The mean and sample spread of a query's scores against a background (n of them); nullopt
// with fewer than two or no spread (identical vectors).
std::optional<QueryBackground> background_of(const float* scores, std::size_t n);

// The rule applied to one query: with its background, when the collection was big enough to
// measure one (BackgroundSample::size() >= min_background), else by the cosine alone.
struct QueryJudge {
    const RelevanceRule* rule = nullptr;
    std::optional<QueryBackground> background;
    double probability(float cosine) const {
        return background ? rule->probability(cosine, background->z(cosine)) : rule->probability(cosine);
    }
    double threshold() const { return background ? rule->threshold : rule->cosine_threshold; }
    bool likely_relevant(float cosine) const { return probability(cosine) >= threshold(); }
};

// Unit vectors [n, d] that backgrounds are measured against. With fewer than two vectors
// there is no spread: background() then answers nullopt.
class BackgroundSample {
public:
    explicit BackgroundSample(Tensor vectors);
    std::int64_t size() const { return vectors_.numel() == 0 ? 0 : vectors_.shape()[0]; }
    // The query (a unit vector of the sample's dimension) against every sample vector.
    std::optional<QueryBackground> background(const float* query) const;

private:
    Tensor vectors_;
};

}  // namespace opsis
