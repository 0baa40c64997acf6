#include "explain/filter_atlas.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "core/html_escape.h"
#include "image/encode.h"
#include "image/preprocess.h"

namespace opsis::explain {
namespace {

// Crops are cut from the fitted square drawn this many times larger than the tower's input.
constexpr int kCropScale = 4;
constexpr int kGap = 2;
// The first layer's filters: at most this many (a ViT-B has 768), each about this many pixels.
constexpr int kMaxFilters = 256;
constexpr int kFilterCell = 64;

// What a row of a stage's grid is, and what its activation measures, for the page.
std::string describe(const AtlasStage& stage, int top) {
    const ReceptiveField& f = stage.geometry.field;
    char line[512];
    switch (stage.geometry.units) {
        case StageGeometry::Units::channels:
            std::snprintf(
                line, sizeof line,
                "%d channels on a %d&times;%d map; each unit sees %d&times;%d input pixels, %g apart. Each row "
                "is one unit, its %d strongest patches left to right.",
                stage.channels, stage.height, stage.width, f.size, f.size, f.jump, top);
            break;
        case StageGeometry::Units::attention_heads:
            std::snprintf(line, sizeof line,
                          "%d heads over a %d&times;%d grid of %d&times;%d-pixel patches. Each row is one head: the %d "
                          "patches its class token attends to most, strongest left to right.",
                          stage.channels, stage.height, stage.width, f.size, f.size, top);
            break;
        case StageGeometry::Units::mlp_units:
            std::snprintf(line, sizeof line,
                          "%d hidden units of the MLP at each of %d&times;%d patches (%d&times;%d pixels). Each row is "
                          "one unit, the %d patches that excite it most left to right.",
                          stage.channels, stage.height, stage.width, f.size, f.size, top);
            break;
    }
    return line;
}

const char* units_name(StageGeometry::Units u) {
    switch (u) {
        case StageGeometry::Units::attention_heads: return "attention heads";
        case StageGeometry::Units::mlp_units: return "MLP units";
        default: return "channels";
    }
}

std::string slug(const std::string& name) {
    std::string s = name;
    std::replace(s.begin(), s.end(), ' ', '-');
    return s;
}

void offer(std::vector<AtlasPatch>& top, std::size_t keep, const AtlasPatch& p) {
    if (top.size() == keep && p.activation <= top.back().activation) return;
    const auto at = std::upper_bound(top.begin(), top.end(), p.activation,
                                     [](float a, const AtlasPatch& q) { return a > q.activation; });
    top.insert(at, p);
    if (top.size() > keep) top.pop_back();
}

// `src` drawn into `dst` at (x, y), scaled to fit `side` x `side` (aspect kept, centred), its
// transparency over white.
void paste(RgbaImage& dst, const RgbaImage& src, int x, int y, int side) {
    if (src.width == 0 || src.height == 0) return;
    const double scale = static_cast<double>(side) / std::max(src.width, src.height);
    const int w = std::max(1, static_cast<int>(std::lround(src.width * scale))),
              h = std::max(1, static_cast<int>(std::lround(src.height * scale)));
    const RgbaImage r = resize_rgba(src, w, h);
    const int ox = x + (side - w) / 2, oy = y + (side - h) / 2;
    for (int j = 0; j < h; ++j)
        for (int i = 0; i < w; ++i) {
            const std::uint8_t* s = &r.pixels[(static_cast<std::size_t>(j) * w + i) * 4];
            std::uint8_t* d = &dst.pixels[(static_cast<std::size_t>(oy + j) * dst.width + ox + i) * 4];
            const int a = s[3];
            for (int c = 0; c < 3; ++c) d[c] = static_cast<std::uint8_t>((s[c] * a + 255 * (255 - a)) / 255);
            d[3] = 255;
        }
}

RgbaImage crop(const RgbaImage& image, const Box& b, int scale) {
    RgbaImage out;
    out.width = (b.x1 - b.x0) * scale;
    out.height = (b.y1 - b.y0) * scale;
    out.pixels.resize(static_cast<std::size_t>(out.width) * out.height * 4);
    for (int y = 0; y < out.height; ++y)
        std::copy_n(&image.pixels[(static_cast<std::size_t>(b.y0 * scale + y) * image.width + b.x0 * scale) * 4],
                    static_cast<std::size_t>(out.width) * 4, &out.pixels[static_cast<std::size_t>(y) * out.width * 4]);
    return out;
}

RgbaImage blank(int width, int height) {
    RgbaImage img;
    img.width = width;
    img.height = height;
    img.pixels.assign(static_cast<std::size_t>(width) * height * 4, 255);
    return img;
}

}  // namespace

std::vector<int> chosen_units(int channels, int units) {
    std::vector<int> out;
    const int n = std::min(channels, units);
    for (int i = 0; i < n; ++i) out.push_back(static_cast<int>(static_cast<long long>(i) * channels / n));
    return out;
}

Atlas find_top_patches(const DualEncoder& model, const std::vector<AtlasPicture>& pictures, const AtlasOptions& o,
                       const std::function<void(std::size_t, std::size_t)>& progress) {
    if (o.units < 1 || o.top < 1 || o.batch < 1)
        throw Error("filter visualisation: units, top and batch must be at least 1");
    const std::vector<StageGeometry> geometry = stage_geometry(model.config().image);
    Atlas atlas;
    for (std::size_t b0 = 0; b0 < pictures.size(); b0 += o.batch) {
        const std::size_t rows = std::min(o.batch, pictures.size() - b0);
        std::vector<std::string> paths;
        for (std::size_t r = 0; r < rows; ++r) paths.push_back(pictures[b0 + r].path);
        LoadedImages loaded = load_images(paths, ImageLimits{});
        std::vector<RgbaImage> good;
        std::vector<std::size_t> which;
        for (std::size_t r = 0; r < rows; ++r) {
            if (!loaded.errors[r].empty()) {
                ++atlas.pictures_failed;
                continue;
            }
            good.push_back(std::move(loaded.images[r]));
            which.push_back(b0 + r);
        }
        if (!good.empty()) {
            const std::vector<Tensor> maps = model.image_stage_maps(model.preprocess(good));
            if (maps.size() != geometry.size())
                throw Error("filter visualisation: the tower gave " + std::to_string(maps.size()) + " maps for " +
                            std::to_string(geometry.size()) + " stages");
            if (atlas.stages.empty())
                for (std::size_t s = 0; s < maps.size(); ++s) {
                    AtlasStage stage;
                    stage.geometry = geometry[s];
                    stage.height = static_cast<int>(maps[s].dim(1));
                    stage.width = static_cast<int>(maps[s].dim(2));
                    stage.channels = static_cast<int>(maps[s].dim(3));
                    for (int c : chosen_units(stage.channels, o.units)) stage.units.push_back({c, {}});
                    atlas.stages.push_back(std::move(stage));
                }
            const int size = model.config().image.preprocess.image_size;
            for (std::size_t s = 0; s < maps.size(); ++s) {
                AtlasStage& stage = atlas.stages[s];
                const std::int64_t h = stage.height, w = stage.width, c = stage.channels;
                for (std::size_t g = 0; g < good.size(); ++g) {
                    const float* m = maps[s].data() + static_cast<std::int64_t>(g) * h * w * c;
                    for (AtlasUnit& unit : stage.units) {
                        // The unit's strongest place in this picture (the first, on ties).
                        std::int64_t best = 0;
                        for (std::int64_t p = 1; p < h * w; ++p)
                            if (m[p * c + unit.channel] > m[best * c + unit.channel]) best = p;
                        const int y = static_cast<int>(best / w), x = static_cast<int>(best % w);
                        offer(unit.patches, static_cast<std::size_t>(o.top),
                              {m[best * c + unit.channel], which[g], y, x,
                               receptive_box(stage.geometry.field, y, x, size)});
                    }
                }
            }
            atlas.pictures_read += good.size();
        }
        if (progress) progress(b0 + rows, atlas.pictures_failed);
    }
    return atlas;
}

namespace {

const Tensor& first_layer_weight(const DualEncoder& model) {
    return model.weights().at(model.config().image.arch == ImageTowerConfig::Arch::resnet ? "visual.stem.conv.weight"
                                                                                          : "visual.conv1.weight");
}

int first_layer_filters_drawn(const DualEncoder& model) {
    return std::min(static_cast<int>(first_layer_weight(model).dim(0)), kMaxFilters);
}

}  // namespace

RgbaImage first_layer_filters(const DualEncoder& model) {
    const Tensor& w = first_layer_weight(model);  // [out, 3, k, k]
    const int out = first_layer_filters_drawn(model), k = static_cast<int>(w.dim(2));
    const int scale = std::clamp(kFilterCell / k, 1, 8);
    const int columns = std::min(out, 16), rows = (out + columns - 1) / columns, cell = k * scale;
    RgbaImage img = blank(columns * (cell + kGap) + kGap, rows * (cell + kGap) + kGap);
    for (int f = 0; f < out; ++f) {
        const float* v = w.data() + static_cast<std::int64_t>(f) * 3 * k * k;
        float lo = v[0], hi = v[0];
        for (int i = 1; i < 3 * k * k; ++i) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
        const float range = hi > lo ? hi - lo : 1.0f;
        const int ox = kGap + (f % columns) * (cell + kGap), oy = kGap + (f / columns) * (cell + kGap);
        for (int y = 0; y < cell; ++y)
            for (int x = 0; x < cell; ++x) {
                std::uint8_t* d = &img.pixels[(static_cast<std::size_t>(oy + y) * img.width + ox + x) * 4];
                for (int ch = 0; ch < 3; ++ch)
                    d[ch] = static_cast<std::uint8_t>(
                        std::lround(255.0f * (v[(ch * k + y / scale) * k + x / scale] - lo) / range));
            }
    }
    return img;
}

namespace {

// What filters.png shows, and for a ViT how to read its crops.
std::string first_layer_words(const DualEncoder& model) {
    const int drawn = first_layer_filters_drawn(model), all = static_cast<int>(first_layer_weight(model).dim(0));
    const std::string which =
        drawn < all ? "the first " + std::to_string(drawn) + " of " + std::to_string(all) + " " : "";
    if (model.config().image.arch == ImageTowerConfig::Arch::resnet)
        return "The stem's filters (" + which + "each scaled to its own range).";
    const std::string p = std::to_string(model.config().image.vit.patch_size);
    return "The patch embedding's filters (" + which + "each scaled to its own range): each turns a " + p + "&times;" +
           p +
           "-pixel patch into one coordinate of its token. Below, every crop is the patch a token stands for; "
           "through attention each token sees the whole picture, so no smaller box would be honest.";
}

}  // namespace

void write_atlas(const DualEncoder& model, const std::vector<AtlasPicture>& pictures, const Atlas& atlas,
                 const AtlasOptions& o, const std::string& model_name, const std::string& out) {
    std::filesystem::create_directories(out);
    const std::vector<unsigned char> filters = encode_png(first_layer_filters(model));
    write_file_atomic(out + "/filters.png", filters.data(), filters.size());
    const PreprocessOptions& prep = model.config().image.preprocess;
    const int side = prep.image_size * kCropScale;
    std::map<std::size_t, RgbaImage> squares;  // the pictures a patch comes from, as the tower saw them
    auto square_of = [&](std::size_t picture) -> const RgbaImage& {
        auto it = squares.find(picture);
        if (it == squares.end())
            it = squares.emplace(picture, fitted_square(load_image(pictures[picture].path, ImageLimits{}), prep, side))
                     .first;
        return it->second;
    };

    nlohmann::json stages = nlohmann::json::array();
    std::string html_stages;
    for (const AtlasStage& stage : atlas.stages) {
        const int cell = o.crop + kGap;
        RgbaImage grid = blank(o.top * cell + kGap, static_cast<int>(stage.units.size()) * cell + kGap);
        nlohmann::json units = nlohmann::json::array();
        std::string rows;
        for (std::size_t u = 0; u < stage.units.size(); ++u) {
            const AtlasUnit& unit = stage.units[u];
            nlohmann::json patches = nlohmann::json::array();
            std::string titles;
            for (std::size_t p = 0; p < unit.patches.size(); ++p) {
                const AtlasPatch& patch = unit.patches[p];
                paste(grid, crop(square_of(patch.picture), patch.box, kCropScale), kGap + static_cast<int>(p) * cell,
                      kGap + static_cast<int>(u) * cell, o.crop);
                const AtlasPicture& pic = pictures[patch.picture];
                patches.push_back({{"item", pic.id},
                                   {"caption", pic.caption},
                                   {"activation", patch.activation},
                                   {"place", {patch.y, patch.x}},
                                   {"box", {patch.box.x0, patch.box.y0, patch.box.x1, patch.box.y1}}});
                titles +=
                    (titles.empty() ? "" : ", ") + (pic.caption.empty() ? "#" + std::to_string(pic.id) : pic.caption);
            }
            units.push_back({{"channel", unit.channel}, {"patches", patches}});
            rows +=
                std::string(stage.geometry.units == StageGeometry::Units::attention_heads ? "<li>head " : "<li>unit ") +
                std::to_string(unit.channel) + ": " + html_escape(titles) + "</li>\n";
        }
        const std::string file = slug(stage.geometry.name) + ".png";
        const std::vector<unsigned char> png = encode_png(grid);
        write_file_atomic(out + "/" + file, png.data(), png.size());
        const ReceptiveField& f = stage.geometry.field;
        stages.push_back({{"name", stage.geometry.name},
                          {"image", file},
                          {"map", {stage.height, stage.width}},
                          {"channels", stage.channels},
                          {"channels_are", units_name(stage.geometry.units)},
                          {"field", {{"size", f.size}, {"jump", f.jump}, {"start", f.start}}},
                          {"units", units}});
        html_stages += "<section><h2>" + html_escape(stage.geometry.name) + "</h2><p>" + describe(stage, o.top) +
                       "</p>\n<img src=\"" + file + "\" alt=\"" + html_escape(stage.geometry.name) +
                       ": top patches per unit\">\n<details><summary>What the patches are</summary><ol>" + rows +
                       "</ol></details></section>\n";
    }
    const nlohmann::json doc{{"model", model_name},
                             {"input_size", prep.image_size},
                             {"pictures_read", atlas.pictures_read},
                             {"pictures_failed", atlas.pictures_failed},
                             {"filters", "filters.png"},
                             {"stages", stages}};
    write_file_atomic(out + "/atlas.json", doc.dump(2) + "\n");
    const std::string html =
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
        "content=\"width=device-width, initial-scale=1\"><title>What the model sees — " +
        html_escape(model_name) +
        "</title><link rel=\"stylesheet\" href=\"atlas.css\"></head><body>\n"
        "<h1>What the model sees</h1>\n<p>" +
        html_escape(model_name) + ", over " + std::to_string(atlas.pictures_read) +
        " pictures of the collection (after Zeiler and Fergus, 2014). <a href=\"/\">Back to search</a></p>\n"
        "<section><h2>First layer</h2><p>" +
        first_layer_words(model) + "</p><img src=\"filters.png\" alt=\"First-layer filters\"></section>\n" +
        html_stages + "</body></html>\n";
    write_file_atomic(out + "/index.html", html);
    // Beside the page, not in it: the server's content policy allows no inline styles.
    write_file_atomic(
        out + "/atlas.css",
        "body { font: 15px system-ui, sans-serif; margin: 1rem auto; max-width: 60rem; padding: 0 1rem; }\n"
        "img { max-width: 100%; image-rendering: pixelated; border: 1px solid #ccc; }\n"
        "h2 { margin-top: 2rem; }\n");
}

}  // namespace opsis::explain
