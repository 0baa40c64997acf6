#pragma once
// Zero-shot labels (the lecture's softmax over K classes): each label becomes a text vector by
// CLIP's prompt ensembling (the label in several templates, embedded, averaged, normalised),
// and a picture's probabilities are the softmax of its cosines with them at the model's learnt
// temperature (exp(logit_scale)).
#include <string>
#include <vector>

#include "encoder/dual_encoder.h"

namespace opsis::classify {

struct ZeroShotOptions {
    // "{}" stands for the label. Empty: English templates for labels in Latin letters, Greek
    // ones for labels in Greek (default_templates).
    std::vector<std::string> templates;
    std::size_t max_labels = 1000;
    std::size_t max_label_bytes = 200;
};

// What two labels are the same in (case aside): "Cat" and "cat" are one label.
std::string label_key(const std::string& label);

// The templates a label is put in when none are given: English or Greek by its letters.
std::vector<std::string> default_templates(const std::string& label);

struct LabelScore {
    std::string label;
    float probability = 0;  // softmax over every label
    float cosine = 0;       // the picture's with the label's vector
};

class ZeroShotClassifier {
public:
    // Labels are trimmed; empty, duplicate (case-insensitive), too many or too long ones, invalid
    // UTF-8, and templates without "{}", are opsis::Error naming the label or template.
    ZeroShotClassifier(const DualEncoder& model, std::vector<std::string> labels, ZeroShotOptions options = {});

    // Image vectors [N, embed_dim] (unit length) -> for each, its `top_k` labels by probability
    // (the softmax over every label), highest first.
    std::vector<std::vector<LabelScore>> classify(const Tensor& image_vectors,
                                                  std::size_t top_k = static_cast<std::size_t>(-1)) const;
    const std::vector<std::string>& labels() const { return labels_; }

private:
    const DualEncoder& model_;
    std::vector<std::string> labels_;
    std::vector<float> label_vectors_;  // [labels, embed_dim], unit rows
};

// "cat, dog,car" -> {"cat", "dog", "car"}; a label file holds one a line (blank lines and lines
// starting with '#' skipped).
std::vector<std::string> split_labels(const std::string& comma_separated);
std::vector<std::string> labels_from_file(const std::string& path);

}  // namespace opsis::classify
