// opsis explain: where in a picture a text matches (explain/heatmap.h), as a PNG overlay.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/json_text.h"
#include "explain/heatmap.h"
#include "index_folder/open_index.h"
#include "storage/original_file.h"

namespace opsis::cli {
namespace {

struct ExplainArgs {
    std::string index, model, image, text, out;
    std::int64_t item = -1;
    int side = 384;
    bool as_json = false;
    ImageLimits limits;
};

void write_explanation(const DualEncoder& model, const RgbaImage& picture, const ExplainArgs& a,
                       const std::string& what) {
    const explain::DrawnHeatmap drawn = explain::draw_heatmap(model, picture, a.text, a.side);
    const explain::Heatmap& map = drawn.map;
    write_file_atomic(a.out, drawn.png.data(), drawn.png.size());
    if (a.as_json) {
        const nlohmann::json j = {{"picture", what},
                                  {"text", a.text},
                                  {"cosine", map.cosine},
                                  {"places", {map.width, map.height}},
                                  {"peak", {map.peak_x, map.peak_y}},
                                  {"values", map.values},
                                  {"out", a.out}};
        std::printf("%s\n", json_text(j, 2).c_str());
        return;
    }
    std::printf("%s: cosine %.3f with \"%s\"; %dx%d places, best at (%.0f%%, %.0f%%) from the top left; wrote %s\n",
                what.c_str(), static_cast<double>(map.cosine), a.text.c_str(), map.width, map.height,
                100.0 * map.peak_x, 100.0 * map.peak_y, a.out.c_str());
}

void run(const ExplainArgs& a) {
    if (a.index.empty()) {
        const DualEncoder model = DualEncoder::load(a.model.empty() ? default_model_path() : a.model);
        write_explanation(model, load_image(a.image, a.limits), a, a.image);
        return;
    }
    storage::StoreOptions read_only;
    read_only.read_only = true;
    OpenIndex ix = open_index(a.index, a.model, false, true, read_only);
    const std::optional<storage::Item> item = ix.store->catalog().item(storage::Collection::images, a.item);
    if (!item) throw not_found_error("item", "images/" + std::to_string(a.item) + " in " + a.index);
    const storage::OriginalFile original = storage::read_original(ix.store->catalog(), *item, a.limits.max_file_bytes);
    const std::string name = "item images/" + std::to_string(a.item);
    if (original.state != storage::OriginalFile::State::found)
        throw input_error(name, a.index,
                          original.state == storage::OriginalFile::State::missing
                              ? "none of its files exists any more"
                              : "its file holds other content now (index it again)");
    const RgbaImage picture = decode_image(original.bytes.data(), original.bytes.size(), original.path, a.limits);
    write_explanation(*ix.model, picture, a, name + " (" + original.path + ")");
}

}  // namespace

void register_explain(CLI::App& app) {
    auto a = std::make_shared<ExplainArgs>();
    CLI::App* cmd =
        app.add_subcommand("explain", "Where in a picture a text matches: a heatmap over the picture (PNG)");
    auto* index = cmd->add_option("--index,-i", a->index, "Index folder (with --item)")->check(CLI::ExistingDirectory);
    auto* item = cmd->add_option("--item", a->item, "Picture item id in the index")->needs(index);
    auto* image = cmd->add_option("--image", a->image, "A picture file instead of an indexed item")
                      ->check(CLI::ExistingFile)
                      ->excludes(index);
    index->needs(item);
    cmd->add_option("--model,-m", a->model, "Model folder (default: the index's, or the committed default)");
    cmd->add_option("--text,-t", a->text, "The text to find in the picture")->required();
    cmd->add_option("--out,-o", a->out, "PNG to write")->required();
    cmd->add_option("--side", a->side, "Pixels of the square drawn")
        ->capture_default_str()
        ->check(CLI::Range(16, 4096));
    cmd->add_flag("--json", a->as_json, "Print the map as JSON");
    cmd->callback([a, image, index] {
        if (image->count() == 0 && index->count() == 0)
            throw CLI::ValidationError("explain", "give --index and --item, or --image");
        run(*a);
    });
}

}  // namespace opsis::cli
