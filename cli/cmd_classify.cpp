// opsis classify: zero-shot labels for pictures, as probabilities (classify/zero_shot.h).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "classify/zero_shot.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/json_text.h"
#include "core/utf8.h"

namespace opsis::cli {
namespace {

struct ClassifyArgs {
    std::string model, labels, labels_file;
    std::vector<std::string> images, templates;
    std::size_t top = 5;
    bool as_json = false;
    ImageLimits limits;
};

void run(const ClassifyArgs& a) {
    const DualEncoder model = DualEncoder::load(a.model);
    std::vector<std::string> labels =
        a.labels_file.empty() ? classify::split_labels(a.labels) : classify::labels_from_file(a.labels_file);
    classify::ZeroShotOptions options;
    options.templates = a.templates;
    const classify::ZeroShotClassifier classifier(model, std::move(labels), options);
    nlohmann::json all = nlohmann::json::array();
    std::size_t failed = 0;
    for (const std::string& path : a.images) {
        // One picture at a time: a bad file is reported and the others still classified.
        std::vector<classify::LabelScore> scores;
        try {
            scores =
                classifier.classify(model.encode_images(model.preprocess({load_image(path, a.limits)})), a.top).front();
        } catch (const Error& e) {
            ++failed;
            if (a.as_json)
                all.push_back({{"image", path}, {"error", e.what()}});
            else
                std::fprintf(stderr, "%s\n", e.what());
            continue;
        }
        if (a.as_json) {
            nlohmann::json top = nlohmann::json::array();
            for (const auto& s : scores)
                top.push_back({{"label", s.label}, {"probability", s.probability}, {"cosine", s.cosine}});
            all.push_back({{"image", path}, {"labels", std::move(top)}});
            continue;
        }
        std::printf("%s\n", utf8::escaped(path).c_str());
        for (const auto& s : scores)
            std::printf("  %5.1f%%  %s\n", 100.0 * static_cast<double>(s.probability), s.label.c_str());
    }
    if (a.as_json) std::printf("%s\n", json_text(all, 2).c_str());
    if (failed > 0)
        throw Error("classify: " + std::to_string(failed) + " of " + std::to_string(a.images.size()) +
                    " pictures could not be labelled (each is named above)");
}

}  // namespace

void register_classify(CLI::App& app) {
    auto a = std::make_shared<ClassifyArgs>();
    CLI::App* cmd = app.add_subcommand(
        "classify", "Zero-shot labels for pictures: a softmax over the labels at the model's learnt temperature");
    cmd->add_option("--model,-m", a->model, "Model folder (Opsis's own or a CLIP checkpoint)")->required();
    auto* labels = cmd->add_option("--labels,-l", a->labels, "Labels, comma-separated: \"cat, dog, car\"");
    auto* file =
        cmd->add_option("--labels-file", a->labels_file, "A file of labels, one a line")->check(CLI::ExistingFile);
    labels->excludes(file);
    cmd->add_option("--template", a->templates,
                    "Prompt template, {} for the label (several are averaged); default: English or Greek "
                    "templates by the label's letters");
    cmd->add_option("--top", a->top, "Labels shown per picture")->capture_default_str()->check(CLI::PositiveNumber);
    cmd->add_flag("--json", a->as_json, "Print JSON");
    cmd->add_option("images", a->images, "Pictures to label")->required();
    cmd->callback([a] {
        if (a->labels.empty() && a->labels_file.empty())
            throw CLI::ValidationError("classify", "give --labels or --labels-file");
        run(*a);
    });
}

}  // namespace opsis::cli
