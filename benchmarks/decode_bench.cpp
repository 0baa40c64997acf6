#include "benchmarks/decode_bench.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string_view>
#include <tuple>

#include "benchmarks/bench_support.h"
#include "benchmarks/photo_formats.h"
#include "benchmarks/synthetic_photos.h"
#include "core/error.h"
#include "core/file_io.h"
#include "encoder/dual_encoder.h"
#include "image/encode.h"
#include "image/preprocess.h"
#include "index_folder/open_index.h"

namespace opsis::bench {
namespace {

namespace fs = std::filesystem;

struct Path {
    const char* name;
    DecodeHint hint;
};

struct Measured {
    double ms_per_photo = 0;
    std::vector<std::vector<float>> inputs;  // the model's input for each photo
};

Measured measure(const std::vector<std::vector<unsigned char>>& files, const DualEncoder& model, DecodeHint hint,
                 double seconds) {
    const PreprocessOptions& pre = model.config().image.preprocess;
    const std::size_t per = static_cast<std::size_t>(pre.image_size) * pre.image_size * 3;
    Measured m;
    m.inputs.assign(files.size(), std::vector<float>(per));
    std::size_t done = 0;
    const auto t0 = Clock::now();
    do {
        for (std::size_t i = 0; i < files.size(); ++i, ++done) {
            const Photo photo = decode_photo(files[i].data(), files[i].size(), "photo", ImageLimits{}, hint);
            preprocess_image(photo.image, pre, m.inputs[i].data());
        }
    } while (seconds_since(t0) < seconds);
    m.ms_per_photo = 1000.0 * seconds_since(t0) / static_cast<double>(done);
    return m;
}

double cosine(const float* a, const float* b, std::size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = 0; i < n; ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
    return ab / std::sqrt(aa * bb);
}

// How far a path's inputs and embeddings are from the reference's: the worst embedding
// cosine, the worst input cosine and the largest input difference.
std::tuple<double, double, double> distance(const DualEncoder& model, const std::vector<std::vector<float>>& reference,
                                            const std::vector<std::vector<float>>& other, int side) {
    double max_diff = 0, worst_input_cos = 1, worst_embedding_cos = 1;
    const auto n = static_cast<std::int64_t>(reference.size());
    Tensor a({n, side, side, 3}), b({n, side, side, 3});
    const std::size_t per = static_cast<std::size_t>(side) * side * 3;
    for (std::size_t i = 0; i < reference.size(); ++i) {
        const auto& x = reference[i];
        const auto& y = other[i];
        for (std::size_t j = 0; j < per; ++j) max_diff = std::max(max_diff, double(std::abs(x[j] - y[j])));
        worst_input_cos = std::min(worst_input_cos, cosine(x.data(), y.data(), per));
        std::copy(x.begin(), x.end(), a.data() + i * per);
        std::copy(y.begin(), y.end(), b.data() + i * per);
    }
    const Tensor ea = model.encode_images(a), eb = model.encode_images(b);
    const std::size_t d = static_cast<std::size_t>(ea.numel() / n);
    for (std::size_t i = 0; i < reference.size(); ++i)
        worst_embedding_cos = std::min(worst_embedding_cos, cosine(ea.data() + i * d, eb.data() + i * d, d));
    return {worst_embedding_cos, worst_input_cos, max_diff};
}

}  // namespace

void run_decode_bench(const DecodeBenchOptions& o) {
    const std::string model_dir = o.model.empty() ? default_model_path() : o.model;
    const DualEncoder model = DualEncoder::load(model_dir);
    const int side = model.config().image.preprocess.image_size;
    std::vector<std::pair<std::string, std::vector<std::string>>> sets;
    if (!o.photos.empty()) {
        std::vector<std::string> paths;
        for (const auto& e : fs::directory_iterator(o.photos)) {
            std::string ext = e.path().extension().string();
            std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
            if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg")) paths.push_back(e.path().string());
        }
        std::sort(paths.begin(), paths.end());
        if (paths.size() > o.count) paths.resize(o.count);
        if (paths.empty()) throw input_error("--photos", o.photos, "holds no .jpg or .jpeg file");
        sets.emplace_back(o.photos, paths);
    } else {
        for (const std::string& size : o.sizes) {
            int w = 0, h = 0;
            if (std::sscanf(size.c_str(), "%dx%d", &w, &h) != 2 || w < 16 || h < 16 || w > 12000 || h > 12000)
                throw input_error("--sizes", size, "expected WIDTHxHEIGHT between 16 and 12000 (e.g. 4000x3000)");
            std::string folder;
            sets.emplace_back(size, synthetic_photo_folder(o.count, w, h, folder));
        }
    }
    const Path paths[] = {{"stb_image, full size (reference)", {0, true}},
                          {"libjpeg-turbo, full size", {0, false}},
                          {"libjpeg-turbo, DCT-scaled to >= 1x input", {side, false}},
                          {"libjpeg-turbo, DCT-scaled to >= 2x input", {2 * side, false}}};
    std::printf("decode + fit to the model's %dx%d input, one thread, model '%s'\n", side, side,
                model.config().name.c_str());
    nlohmann::json report = nlohmann::json::array();
    for (const auto& [label, files_paths] : sets) {
        std::vector<std::vector<unsigned char>> files;
        std::size_t bytes = 0;
        for (const std::string& p : files_paths) {
            files.push_back(read_file(p, 256u << 20));
            bytes += files.back().size();
        }
        std::printf("\n%s: %zu photos, %.0f KB each on average\n", label.c_str(), files.size(),
                    static_cast<double>(bytes) / 1024.0 / static_cast<double>(files.size()));
        std::vector<Measured> results;
        for (const Path& path : paths) results.push_back(measure(files, model, path.hint, o.seconds));
        const double reference = results[0].ms_per_photo;
        nlohmann::json row{{"photos", label}, {"count", files.size()}};
        for (std::size_t k = 0; k < results.size(); ++k) {
            std::printf("  %-34s %8.2f ms a photo  (%.2fx stb_image's speed)\n", paths[k].name, results[k].ms_per_photo,
                        reference / results[k].ms_per_photo);
            row[k == 0   ? "stb_ms"
                : k == 1 ? "turbo_full_ms"
                : k == 2 ? "turbo_scaled_1x_ms"
                         : "turbo_scaled_2x_ms"] = results[k].ms_per_photo;
        }
        for (std::size_t k = 2; k < results.size(); ++k) {
            const auto [embedding_cos, input_cos, max_diff] =
                distance(model, results[0].inputs, results[k].inputs, side);
            std::printf(
                "  %s against the reference: embeddings' cosine at worst %.5f; inputs' cosine %.5f, "
                "largest difference %.3f (normalised units)\n",
                paths[k].name + 15, embedding_cos, input_cos, max_diff);
            row[k == 2 ? "embedding_cosine_min_1x" : "embedding_cosine_min_2x"] = embedding_cos;
        }
        // The same photos in the other formats people's libraries hold, decoded and fitted the
        // one way each has (PNG by stb_image, WebP by libwebp, HEIC and AVIF by libheif).
        const std::size_t converted = std::min<std::size_t>(files.size(), 2);
        std::vector<RgbaImage> pictures;
        for (std::size_t i = 0; i < converted; ++i)
            pictures.push_back(decode_photo(files[i].data(), files[i].size(), "photo", ImageLimits{}, {}).image);
        const std::pair<const char*, std::function<std::vector<unsigned char>(const RgbaImage&)>> formats[] = {
            {"PNG", [](const RgbaImage& p) { return encode_png(p); }},
            {"WebP (lossy, quality 90)", [](const RgbaImage& p) { return encode_webp(p, false); }},
            {"HEIC (x265)", [](const RgbaImage& p) { return encode_heif(p, ImageFormat::heif); }},
            {"HEIC with a 320-px thumbnail (as iPhones)",
             [](const RgbaImage& p) { return encode_heif(p, ImageFormat::heif, {}, 320); }},
            {"AVIF (aom)", [](const RgbaImage& p) { return encode_heif(p, ImageFormat::avif); }}};
        std::printf("  the first %zu as other formats (decode + fit, the formats' own decoders):\n", converted);
        std::vector<std::vector<float>> heic_inputs;
        for (const auto& [name, encode] : formats) {
            std::vector<std::vector<unsigned char>> encoded;
            std::size_t format_bytes = 0;
            for (const RgbaImage& p : pictures) {
                encoded.push_back(encode(p));
                format_bytes += encoded.back().size();
            }
            const Measured m = measure(encoded, model, DecodeHint{2 * side, false}, o.seconds);
            const double ms = m.ms_per_photo;
            std::printf("  %-42s %8.2f ms a photo  (%.2fx stb_image's JPEG speed; %.0f KB each)\n", name, ms,
                        reference / ms, static_cast<double>(format_bytes) / 1024.0 / static_cast<double>(converted));
            row["formats"][name] = {
                {"ms", ms}, {"kb", static_cast<double>(format_bytes) / 1024.0 / static_cast<double>(converted)}};
            if (std::string_view(name) == "HEIC (x265)") heic_inputs = m.inputs;
            if (std::string_view(name).starts_with("HEIC with")) {
                const double embedding_cos = std::get<0>(distance(model, heic_inputs, m.inputs, side));
                std::printf("  %-42s embeddings' cosine at worst %.5f against the HEIC's picture\n", "", embedding_cos);
                row["formats"][name]["embedding_cosine_min"] = embedding_cos;
            }
        }
        report.push_back(row);
    }
    if (!o.json_out.empty()) write_file_atomic(o.json_out, report.dump(2) + "\n");
}

}  // namespace opsis::bench
