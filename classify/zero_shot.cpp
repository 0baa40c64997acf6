#include "classify/zero_shot.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/file_io.h"
#include "core/lines.h"
#include "core/utf8.h"
#include "encoder/blas.h"

namespace opsis::classify {
namespace {

std::string trimmed(std::string_view s) {
    const std::size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
    return a == std::string_view::npos ? std::string() : std::string(s.substr(a, b - a + 1));
}

bool mostly_greek(const std::string& text) {
    const utf8::LetterCount c = utf8::count_letters(text);
    return c.letters > 0 && 2 * c.greek > c.letters;
}

std::string filled(const std::string& templ, const std::string& label) {
    std::string out = templ;
    out.replace(out.find("{}"), 2, label);
    return out;
}

}  // namespace

std::string label_key(const std::string& label) {
    std::string out;
    for (std::size_t pos = 0; pos < label.size();) utf8::append(out, utf8::to_lower(utf8::next(label, pos)));
    return out;
}

std::vector<std::string> default_templates(const std::string& label) {
    // The framings the default model was trained on (train/text_augment.cpp) and CLIP's
    // favourites; Greek ones that stay grammatical for any gender.
    if (mostly_greek(label)) return {"{}", "εικόνα: {}", "εικονίδιο: {}", "σχέδιο: {}", "{} (εικονίδιο)"};
    return {"{}", "a picture of {}", "a photo of {}", "an icon of {}", "a drawing of {}", "{} icon"};
}

ZeroShotClassifier::ZeroShotClassifier(const DualEncoder& model, std::vector<std::string> labels,
                                       ZeroShotOptions options)
    : model_(model) {
    std::set<std::string> seen;
    for (const std::string& raw : labels) {
        if (utf8::find_invalid(raw)) throw input_error("label", utf8::preview(raw), "is not valid UTF-8");
        std::string label = trimmed(raw);
        if (label.empty()) throw Error("labels: one of them is empty");
        if (label.size() > options.max_label_bytes)
            throw input_error("label", utf8::preview(label),
                              "is longer than " + std::to_string(options.max_label_bytes) + " bytes");
        if (!seen.insert(label_key(label)).second) throw input_error("label", label, "is given twice");
        labels_.push_back(std::move(label));
    }
    if (labels_.size() < 2) throw Error("labels: give at least two (a softmax over one says nothing)");
    if (labels_.size() > options.max_labels)
        throw Error("labels: at most " + std::to_string(options.max_labels) + " are allowed");
    for (const std::string& t : options.templates)
        if (t.find("{}") == std::string::npos) throw input_error("template", t, "has no {} for the label");

    // Every label in every template through the text tower in one batch; each label's vector
    // is the normalised mean of its templates' unit vectors.
    std::vector<std::string> texts;
    std::vector<std::size_t> first;
    for (const std::string& label : labels_) {
        first.push_back(texts.size());
        for (const std::string& t : options.templates.empty() ? default_templates(label) : options.templates)
            texts.push_back(filled(t, label));
    }
    first.push_back(texts.size());
    const Tensor vectors = model_.encode_texts(texts);
    const std::size_t d = static_cast<std::size_t>(model_.config().embed_dim);
    label_vectors_.assign(labels_.size() * d, 0.0f);
    for (std::size_t l = 0; l < labels_.size(); ++l) {
        float* v = label_vectors_.data() + l * d;
        for (std::size_t row = first[l]; row < first[l + 1]; ++row)
            for (std::size_t i = 0; i < d; ++i) v[i] += vectors.data()[row * d + i];
        double norm = 0;
        for (std::size_t i = 0; i < d; ++i) norm += static_cast<double>(v[i]) * v[i];
        for (std::size_t i = 0; i < d; ++i) v[i] = static_cast<float>(v[i] / std::sqrt(norm));
    }
}

std::vector<std::vector<LabelScore>> ZeroShotClassifier::classify(const Tensor& image_vectors, std::size_t top_k) const {
    const std::size_t d = static_cast<std::size_t>(model_.config().embed_dim), n = labels_.size();
    if (image_vectors.rank() != 2 || image_vectors.dim(1) != static_cast<std::int64_t>(d))
        throw Error("classify: image vectors must be [N, " + std::to_string(d) + "]");
    const double scale = std::exp(static_cast<double>(model_.logit_scale()));
    const std::int64_t rows = image_vectors.dim(0);
    // Every cosine at once: [N, d] x [labels, d]^T.
    std::vector<float> cosines(static_cast<std::size_t>(rows) * n);
    if (rows > 0)
        blas::gemm(false, true, static_cast<int>(rows), static_cast<int>(n), static_cast<int>(d), 1.0f,
                   image_vectors.data(), static_cast<int>(d), label_vectors_.data(), static_cast<int>(d), 0.0f,
                   cosines.data(), static_cast<int>(n));
    std::vector<std::vector<LabelScore>> out;
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* row = cosines.data() + static_cast<std::size_t>(r) * n;
        std::vector<double> probabilities(n);
        double top = -HUGE_VAL, sum = 0;
        for (std::size_t l = 0; l < n; ++l) top = std::max(top, scale * row[l]);
        for (std::size_t l = 0; l < n; ++l) sum += (probabilities[l] = std::exp(scale * row[l] - top));
        // The best `keep`, by probability, ties in label order.
        std::vector<std::size_t> order(n);
        for (std::size_t l = 0; l < n; ++l) order[l] = l;
        const std::size_t keep = std::min(n, top_k);
        std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                          [&](std::size_t a, std::size_t b) {
                              return row[a] != row[b] ? row[a] > row[b] : a < b;
                          });
        std::vector<LabelScore> scores;
        for (std::size_t k = 0; k < keep; ++k)
            scores.push_back({labels_[order[k]], static_cast<float>(probabilities[order[k]] / sum), row[order[k]]});
        out.push_back(std::move(scores));
    }
    return out;
}

std::vector<std::string> split_labels(const std::string& comma_separated) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (true) {
        const std::size_t comma = comma_separated.find(',', pos);
        out.push_back(trimmed(std::string_view(comma_separated).substr(pos, comma - pos)));
        if (comma == std::string::npos) return out;
        pos = comma + 1;
    }
}

std::vector<std::string> labels_from_file(const std::string& path) {
    std::vector<std::string> out;
    for_each_line(read_text_file(path, 1 << 20), [&](std::string_view line, std::size_t) {
        const std::string label = trimmed(line);
        if (!label.empty() && label.front() != '#') out.push_back(label);
    });
    if (out.empty()) throw input_error("labels file", path, "holds no labels");
    return out;
}

}  // namespace opsis::classify
