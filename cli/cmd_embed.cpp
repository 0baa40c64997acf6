// opsis embed: embeddings of images and texts as JSON lines, and their similarity matrix.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/json_text.h"
#include "cli/commands.h"
#include "cli/precision_option.h"
#include "encoder/dual_encoder.h"

namespace opsis::cli {
namespace {

struct EmbedArgs {
    std::string model, precision = "fp32";
    std::vector<std::string> images, texts;
    ImageLimits limits;
    bool table = false;
};

nlohmann::json row_json(const Tensor& t, std::int64_t row) {
    const std::int64_t d = t.dim(1);
    return std::vector<float>(t.data() + row * d, t.data() + (row + 1) * d);
}

void print_table(const EmbedArgs& a, const Tensor& img, const Tensor& txt) {
    const std::int64_t d = img.dim(1);
    std::printf("%-28s", "cosine similarity");
    for (std::size_t t = 0; t < a.texts.size(); ++t) std::printf(" %10s", ("text" + std::to_string(t + 1)).c_str());
    std::printf("\n");
    for (std::size_t i = 0; i < a.images.size(); ++i) {
        std::string name = std::filesystem::path(a.images[i]).filename().string();
        if (name.size() > 28) name = name.substr(0, 25) + "...";
        std::printf("%-28s", name.c_str());
        for (std::size_t t = 0; t < a.texts.size(); ++t) {
            float dot = 0;
            for (std::int64_t k = 0; k < d; ++k) dot += img.data()[i * d + k] * txt.data()[t * d + k];
            std::printf(" %10.4f", dot);
        }
        std::printf("\n");
    }
    for (std::size_t t = 0; t < a.texts.size(); ++t) std::printf("text%zu = \"%s\"\n", t + 1, a.texts[t].c_str());
}

void run(const EmbedArgs& a) {
    const DualEncoder model = DualEncoder::load(a.model, parse_precision(a.precision));
    Tensor img, txt;
    if (!a.images.empty()) {
        std::vector<RgbaImage> decoded;
        for (const std::string& path : a.images) decoded.push_back(load_image(path, a.limits));
        img = model.encode_images(model.preprocess(decoded));
    }
    if (!a.texts.empty()) txt = model.encode_texts(a.texts);
    if (a.table && !img.empty() && !txt.empty()) {
        print_table(a, img, txt);
        return;
    }
    for (std::size_t i = 0; i < a.images.size(); ++i)
        std::printf("%s\n",
                    json_text(nlohmann::ordered_json{{"image", a.images[i]},
                                                     {"embedding", row_json(img, static_cast<std::int64_t>(i))}})
                        .c_str());
    for (std::size_t i = 0; i < a.texts.size(); ++i)
        std::printf("%s\n",
                    json_text(nlohmann::ordered_json{{"text", a.texts[i]},
                                                     {"embedding", row_json(txt, static_cast<std::int64_t>(i))}})
                        .c_str());
    if (!img.empty() && !txt.empty()) {
        const std::int64_t d = img.dim(1);
        nlohmann::json matrix = nlohmann::json::array();
        for (std::size_t i = 0; i < a.images.size(); ++i) {
            nlohmann::json row = nlohmann::json::array();
            for (std::size_t t = 0; t < a.texts.size(); ++t) {
                float dot = 0;
                for (std::int64_t k = 0; k < d; ++k) dot += img.data()[i * d + k] * txt.data()[t * d + k];
                row.push_back(dot);
            }
            matrix.push_back(row);
        }
        std::printf(
            "%s\n",
            json_text(nlohmann::json{{"similarity", {{"images", a.images}, {"texts", a.texts}, {"cosine", matrix}}}})
                .c_str());
    }
}

}  // namespace

void register_embed(CLI::App& app) {
    auto args = std::make_shared<EmbedArgs>();
    CLI::App* cmd =
        app.add_subcommand("embed", "Print embeddings of images and texts (JSON lines) and their cosine similarities");
    cmd->add_option("--model,-m", args->model, "Model folder (or its model.safetensors)")->required();
    add_precision_option(cmd, args->precision, "fp32 unless given");
    cmd->add_option("--image,-i", args->images, "Image file(s) to embed");
    cmd->add_option("--text,-t", args->texts, "Text(s) to embed");
    cmd->add_option("--max-pixels", args->limits.max_pixels, "Refuse images with more pixels than this")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--max-file-bytes", args->limits.max_file_bytes, "Refuse image files larger than this")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--table", args->table, "With images and texts, print only a readable similarity table");
    cmd->callback([args, cmd] {
        if (args->images.empty() && args->texts.empty())
            throw CLI::ValidationError("embed", "give at least one --image or --text");
        run(*args);
    });
}

}  // namespace opsis::cli
