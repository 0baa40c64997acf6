#pragma once
// Fitting a model's relevance rule (encoder/relevance.h) on a corpus split it did not train
// on. Each concept of the split is a query, by its English caption and by its Greek one; each
// query is searched over the split's pictures twice: as they are (the collection has the
// thing), and without the pictures of its concept (the collection lacks it). Hits are judged
// relevant when they show the query's concept or their English caption contains the query's
// words (eval/caption_judge.h); the best hit of each case, labelled by whether the case's top
// holds anything relevant, is an example a logistic regression over (cosine, z) is fitted to:
// its cut lets nine in ten searches whose best hit is right through (RelevanceRule::threshold),
// and every hit at or above it is "likely relevant". Half the concepts fit and the
// other half measure (over the whole top), to report how well each feature separates; the
// rule written is then fitted on all of them.
#include <string>
#include <vector>

#include "encoder/dual_encoder.h"
#include "encoder/relevance.h"
#include "train/corpus_split.h"

namespace opsis::train {

struct CalibrationOptions {
    std::size_t top = 10;          // hits per query and case
    int background_sample = 1024;  // split pictures a query's background is measured against
    // The share of searches whose best hit is right that the cut lets through (RelevanceRule::threshold).
    double keep_right = 0.9;
};

// How a rule fitted on one half of the concepts does on the other half.
struct HeldOutQuality {
    std::string features;  // "cosine", "z", "cosine + z"
    RelevanceRule rule;    // fitted on the fitting half
    double log_loss = 0;  // of the best hits' "found" against the case's truth
    // Hits judged likely relevant: how many of them are (precision), how many of the relevant
    // ones they are (recall).
    double precision = 0, recall = 0;
    // Queries: of those whose collection lacks the thing, the share told "no good match"; of
    // those whose best hit is relevant, the share wrongly told so.
    double absent_caught = 0, present_wrongly_flagged = 0;
};

struct Calibration {
    RelevanceRule rule;  // cosine + z, fitted on every concept
    std::vector<HeldOutQuality> held_out;
    std::size_t queries = 0, examples = 0, relevant_examples = 0;
};

// `images`: the pairs' pictures embedded (embed_split_images), `ok` which of them are.
Calibration calibrate_relevance(const DualEncoder& model, const std::vector<Pair>& pairs, const Tensor& images,
                                const std::vector<bool>& ok, const CalibrationOptions& options = {});

}  // namespace opsis::train
