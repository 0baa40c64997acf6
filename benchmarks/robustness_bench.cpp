#include "benchmarks/robustness_bench.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/file_io.h"
#include "core/splitmix.h"
#include "encoder/blas.h"
#include "image/encode.h"
#include "image/preprocess.h"
#include "train/corpus.h"
#include "train/image_cache.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

namespace opsis::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using train::Challenge;

constexpr std::array<float, 3> kStrengths{1.0f / 3.0f, 2.0f / 3.0f, 1.0f};

std::string strength_label(float s) {
    if (s <= 0.0f) return "0";
    if (std::abs(s - 1.0f / 3.0f) < 1e-4f) return "1/3";
    if (std::abs(s - 2.0f / 3.0f) < 1e-4f) return "2/3";
    if (std::abs(s - 1.0f) < 1e-4f) return "1";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2f", s);
    return buf;
}

// ---- the chart ---------------------------------------------------------------------------

struct Canvas {
    int w, h;
    std::vector<std::uint8_t> px;
    Canvas(int width, int height) : w(width), h(height), px(static_cast<std::size_t>(width) * height * 4, 255) {}

    void blend(int x, int y, const std::array<std::uint8_t, 3>& c, float a) {
        if (x < 0 || y < 0 || x >= w || y >= h || a <= 0.0f) return;
        a = std::min(a, 1.0f);
        std::uint8_t* p = &px[(static_cast<std::size_t>(y) * w + x) * 4];
        for (int k = 0; k < 3; ++k)
            p[k] = static_cast<std::uint8_t>(std::lround(p[k] * (1.0f - a) + c[static_cast<std::size_t>(k)] * a));
    }
    void rect(float x0, float y0, float x1, float y1, const std::array<std::uint8_t, 3>& c) {
        for (int y = static_cast<int>(std::floor(y0)); y < static_cast<int>(std::ceil(y1)); ++y)
            for (int x = static_cast<int>(std::floor(x0)); x < static_cast<int>(std::ceil(x1)); ++x)
                blend(x, y, c, 1.0f);
    }
    // An antialiased line `width` pixels thick, with round ends.
    void line(float x0, float y0, float x1, float y1, float width, const std::array<std::uint8_t, 3>& c) {
        const float r = width / 2.0f, dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
        for (int y = static_cast<int>(std::floor(std::min(y0, y1) - r - 1));
             y <= static_cast<int>(std::ceil(std::max(y0, y1) + r + 1)); ++y)
            for (int x = static_cast<int>(std::floor(std::min(x0, x1) - r - 1));
                 x <= static_cast<int>(std::ceil(std::max(x0, x1) + r + 1)); ++x) {
                const float px_ = x + 0.5f, py = y + 0.5f;
                const float t = len2 > 0 ? std::clamp(((px_ - x0) * dx + (py - y0) * dy) / len2, 0.0f, 1.0f) : 0.0f;
                const float ex = px_ - (x0 + t * dx), ey = py - (y0 + t * dy);
                blend(x, y, c, r + 0.5f - std::sqrt(ex * ex + ey * ey));
            }
    }
    // Markers: 0 circle, 1 square, 2 diamond, 3 triangle (point up); radius r.
    void marker(float cx, float cy, int shape, float r, const std::array<std::uint8_t, 3>& c) {
        for (int y = static_cast<int>(cy - r - 2); y <= static_cast<int>(cy + r + 2); ++y)
            for (int x = static_cast<int>(cx - r - 2); x <= static_cast<int>(cx + r + 2); ++x) {
                const float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
                float d;  // a distance-like value, <= r inside
                switch (shape % 4) {
                    case 0: d = std::sqrt(dx * dx + dy * dy); break;
                    case 1: d = std::max(std::abs(dx), std::abs(dy)) * 1.1f; break;
                    case 2: d = (std::abs(dx) + std::abs(dy)) * 0.8f; break;
                    default: d = std::max(dy * 0.9f + r * 0.35f, (std::abs(dx) * 0.866f - dy * 0.5f) * 1.8f); break;
                }
                blend(x, y, c, r + 0.5f - d);
            }
    }
    // stb_easy_font's quads, scaled; (x, y) is the top left of the text.
    void text(float x, float y, const std::string& s, float scale, const std::array<std::uint8_t, 3>& c) {
        std::vector<char> buf(s.size() * 1200 + 2400);  // stb_easy_font truncates silently
        std::string copy = s;
        const int quads = stb_easy_font_print(0, 0, copy.data(), nullptr, buf.data(), static_cast<int>(buf.size()));
        for (int q = 0; q < quads; ++q) {
            float minx = 1e9f, miny = 1e9f, maxx = -1e9f, maxy = -1e9f;
            for (int v = 0; v < 4; ++v) {
                float vx, vy;
                std::memcpy(&vx, buf.data() + (q * 4 + v) * 16, 4);
                std::memcpy(&vy, buf.data() + (q * 4 + v) * 16 + 4, 4);
                minx = std::min(minx, vx);
                maxx = std::max(maxx, vx);
                miny = std::min(miny, vy);
                maxy = std::max(maxy, vy);
            }
            rect(x + minx * scale, y + miny * scale, x + maxx * scale, y + maxy * scale, c);
        }
    }
    static float text_width(const std::string& s, float scale) {
        std::string copy = s;
        return static_cast<float>(stb_easy_font_width(copy.data())) * scale;
    }
};

// Tableau 10: distinct, legible on white.
constexpr std::array<std::array<std::uint8_t, 3>, 10> kPalette{{{31, 119, 180},
                                                                {255, 127, 14},
                                                                {44, 160, 44},
                                                                {214, 39, 40},
                                                                {148, 103, 189},
                                                                {140, 86, 75},
                                                                {227, 119, 194},
                                                                {127, 127, 127},
                                                                {188, 189, 34},
                                                                {23, 190, 207}}};

// ---- the set ----------------------------------------------------------------------------

std::string split_path(const RobustnessBenchOptions& o) { return (fs::path(o.corpus) / (o.split + ".txt")).string(); }

}  // namespace

RobustnessSet load_robustness_set(const DualEncoder& model, const RobustnessBenchOptions& o) {
    const std::string split_file = split_path(o);
    std::error_code ec;
    if (!fs::is_regular_file(split_file, ec))
        throw input_error("split", o.split, "no split file " + split_file + " in the corpus");
    const train::Manifest manifest = train::read_manifest((fs::path(o.corpus) / "manifest.jsonl").string());
    std::vector<std::string> problems = manifest.problems;
    std::vector<train::CorpusItem> items = train::select(manifest, train::read_split(split_file), problems);
    if (!problems.empty())
        std::fprintf(stderr, "bench robustness: %zu manifest problems skipped (first: %s)\n", problems.size(),
                     problems[0].c_str());
    std::erase_if(items, [](const train::CorpusItem& it) { return it.english.empty(); });
    if (items.empty())
        throw input_error("split", o.split, "lists no picture with an English caption (" + split_file + ")");

    // A deterministic sample: sorted ids, evenly spaced.
    std::sort(items.begin(), items.end(),
              [](const train::CorpusItem& a, const train::CorpusItem& b) { return a.id < b.id; });
    if (o.limit > 0 && items.size() > o.limit) {
        std::vector<train::CorpusItem> sample;
        sample.reserve(o.limit);
        for (std::size_t k = 0; k < o.limit; ++k) sample.push_back(items[k * items.size() / o.limit]);
        items = std::move(sample);
    }

    const PreprocessOptions& pre = model.config().image.preprocess;
    std::vector<std::string> paths;
    for (const auto& it : items) paths.push_back(it.image);
    const train::ImageCache cache(paths, pre.image_size, pre.trim_transparent, ImageLimits{});
    std::vector<train::CorpusItem> usable;
    std::size_t failures = 0;
    RobustnessSet set;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!cache.ok(i)) {
            if (failures++ < 5)
                std::fprintf(stderr, "bench robustness: skipped %s: %s\n", items[i].image.c_str(),
                             cache.failure(i).c_str());
            continue;
        }
        set.pictures.push_back(cache.image(i));
        usable.push_back(items[i]);
    }
    if (failures) std::fprintf(stderr, "bench robustness: %zu pictures could not be read and are left out\n", failures);
    if (usable.empty()) throw input_error("split", o.split, "none of its pictures could be read");

    const std::vector<std::int32_t> concepts = train::concept_ids(usable);
    std::set<std::pair<std::int32_t, std::string>> seen;
    for (std::size_t i = 0; i < usable.size(); ++i) {
        set.ids.push_back(usable[i].id);
        set.facts.push_back(train::caption_facts(usable[i].english, usable[i].greek));
        set.image_concepts.push_back(concepts[i]);
        if (seen.emplace(concepts[i], usable[i].english[0]).second) {
            set.captions.push_back(usable[i].english[0]);
            set.text_concepts.push_back(concepts[i]);
        }
    }
    const std::int64_t t = static_cast<std::int64_t>(set.captions.size()), e = model.config().embed_dim;
    set.text_embeddings = Tensor({t, e});
    for (std::int64_t b0 = 0; b0 < t; b0 += 256) {
        const std::vector<std::string> chunk(set.captions.begin() + b0,
                                             set.captions.begin() + std::min<std::int64_t>(t, b0 + 256));
        const Tensor emb = model.encode_texts(chunk);
        std::copy_n(emb.data(), emb.numel(), set.text_embeddings.data() + b0 * e);
    }
    return set;
}

RgbaImage perturb_picture(const RobustnessSet& set, std::size_t i, Challenge challenge, float strength,
                          std::uint64_t seed) {
    const std::size_t n = set.pictures.size();
    std::mt19937_64 rng(splitmix64(
        splitmix64(seed) ^ splitmix64((static_cast<std::uint64_t>(i) << 8) | static_cast<std::uint64_t>(challenge))));
    // The clutter is the next picture of another concept: a picture of the same thing behind it
    // would make the challenge easier than it is.
    std::size_t other = (i + 1) % n;
    while (other != i && set.image_concepts[other] == set.image_concepts[i]) other = (other + 1) % n;
    return train::apply_challenge(set.pictures[i], challenge, strength, set.facts[i], rng, &set.pictures[other]);
}

Tensor embed_pictures(const DualEncoder& model, const RobustnessSet& set, const Challenge* challenge, float strength,
                      std::uint64_t seed, std::size_t* unchanged) {
    const PreprocessOptions& pre = model.config().image.preprocess;
    const std::int64_t n = static_cast<std::int64_t>(set.pictures.size()), e = model.config().embed_dim,
                       s = pre.image_size;
    Tensor out({n, e});
    std::size_t same = 0;
    for (std::int64_t b0 = 0; b0 < n; b0 += 64) {
        const std::int64_t rows = std::min<std::int64_t>(64, n - b0);
        Tensor batch({rows, s, s, 3});
        std::vector<char> identical(static_cast<std::size_t>(rows), 0);
#pragma omp parallel for schedule(dynamic)
        for (std::int64_t r = 0; r < rows; ++r) {
            const std::size_t i = static_cast<std::size_t>(b0 + r);
            float* dst = batch.data() + r * s * s * 3;
            if (!challenge) {
                composite_and_normalise(set.pictures[i], pre, pre.background, dst);
                identical[static_cast<std::size_t>(r)] = 1;
                continue;
            }
            const RgbaImage p = perturb_picture(set, i, *challenge, strength, seed);
            identical[static_cast<std::size_t>(r)] = p.pixels == set.pictures[i].pixels;
            composite_and_normalise(p, pre, pre.background, dst);
        }
        for (const char c : identical) same += c ? 1 : 0;
        const Tensor emb = model.encode_images(batch);
        std::copy_n(emb.data(), rows * e, out.data() + b0 * e);
    }
    if (unchanged) *unchanged = same;
    return out;
}

eval::RecallAtK score_pictures(const RobustnessSet& set, const Tensor& image_embeddings) {
    return eval::recall_at_k(set.text_embeddings, set.text_concepts, image_embeddings, set.image_concepts);
}

RgbaImage draw_robustness_chart(const RobustnessReport& report) {
    const int W = 1040, H = 624;
    const float left = 78, right = 720, top = 110, bottom = 550;  // the plot area
    Canvas cv(W, H);
    const std::array<std::uint8_t, 3> ink{40, 40, 40}, grid{225, 225, 225}, faint{110, 110, 110};

    // Series: the clean point, then each challenge's three strengths.
    double clean = 0;
    std::vector<std::string> names;
    std::vector<std::vector<std::pair<float, double>>> series;
    for (const RobustnessRow& r : report.rows) {
        if (r.challenge == "clean") {
            clean = r.r10;
            continue;
        }
        auto at = std::find(names.begin(), names.end(), r.challenge);
        if (at == names.end()) {
            names.push_back(r.challenge);
            series.emplace_back();
            at = names.end() - 1;
        }
        series[static_cast<std::size_t>(at - names.begin())].emplace_back(r.strength, r.r10);
    }
    for (auto& s : series) {
        s.emplace_back(0.0f, clean);
        std::sort(s.begin(), s.end());
    }

    // The y range: whole tens around the data, at least 10 points tall.
    double lo = clean, hi = clean;
    for (const auto& s : series)
        for (const auto& [x, y] : s) lo = std::min(lo, y), hi = std::max(hi, y);
    double ylo = std::max(0.0, std::floor((lo - 1.0) / 10.0) * 10.0),
           yhi = std::min(100.0, std::ceil((hi + 1.0) / 10.0) * 10.0);
    if (yhi - ylo < 10.0) {
        if (ylo + 10.0 <= 100.0)
            yhi = ylo + 10.0;
        else
            ylo = yhi - 10.0;
    }
    const double span = yhi - ylo;
    const double step = span > 50 ? 10.0 : span > 20 ? 5.0 : span > 10 ? 2.0 : 1.0;
    auto X = [&](float strength) { return left + (right - left) * strength; };
    auto Y = [&](double r10) { return static_cast<float>(bottom - (bottom - top) * (r10 - ylo) / span); };

    // Title and what was measured.
    cv.text(left - 60, 16, "text->image R@10 under vision challenges", 3.0f, ink);
    char subtitle[512];
    std::snprintf(subtitle, sizeof subtitle, "model %s, split %s, %zu pictures, %zu captions, seed %llu",
                  report.model.c_str(), report.split.c_str(), report.pictures, report.captions,
                  static_cast<unsigned long long>(report.seed));
    cv.text(left - 60, 50, subtitle, 2.0f, faint);

    // Grid, y ticks and labels.
    for (double v = ylo; v <= yhi + 1e-9; v += step) {
        const float y = Y(v);
        cv.rect(left, y, right, y + 1, grid);
        cv.rect(left - 6, y, left, y + 1, ink);
        char lab[16];
        std::snprintf(lab, sizeof lab, "%g", v);
        cv.text(left - 10 - Canvas::text_width(lab, 2.0f), y - 6, lab, 2.0f, ink);
    }
    // x ticks.
    const std::array<std::pair<float, const char*>, 4> xt{
        {{0.0f, "0 (clean)"}, {1.0f / 3.0f, "1/3"}, {2.0f / 3.0f, "2/3"}, {1.0f, "1"}}};
    for (const auto& [s, lab] : xt) {
        const float x = X(s);
        if (s > 0.0f) cv.rect(x, top, x + 1, bottom, grid);
        cv.rect(x, bottom, x + 1, bottom + 6, ink);
        cv.text(x - Canvas::text_width(lab, 2.0f) / 2, bottom + 12, lab, 2.0f, ink);
    }
    // Axes.
    cv.rect(left - 1, top, left + 1, bottom + 1, ink);
    cv.rect(left - 1, bottom, right, bottom + 2, ink);
    cv.text(left - 60, top - 24, "R@10 (%)", 2.0f, faint);
    cv.text((left + right) / 2 - Canvas::text_width("challenge strength", 2.0f) / 2, bottom + 40, "challenge strength",
            2.0f, faint);

    // The polylines, then the markers on top.
    for (std::size_t k = 0; k < series.size(); ++k) {
        const auto& c = kPalette[k % kPalette.size()];
        for (std::size_t j = 1; j < series[k].size(); ++j)
            cv.line(X(series[k][j - 1].first), Y(series[k][j - 1].second), X(series[k][j].first),
                    Y(series[k][j].second), 3.0f, c);
    }
    for (std::size_t k = 0; k < series.size(); ++k)
        for (const auto& [x, y] : series[k])
            if (x > 0.0f) cv.marker(X(x), Y(y), static_cast<int>(k), 5.0f, kPalette[k % kPalette.size()]);
    cv.marker(X(0.0f), Y(clean), 0, 6.0f, ink);

    // Legend, right of the plot.
    const float lx = right + 30;
    float ly = top + 4;
    cv.text(lx, ly, "challenge", 2.0f, faint);
    ly += 30;
    for (std::size_t k = 0; k < names.size(); ++k) {
        const auto& c = kPalette[k % kPalette.size()];
        cv.line(lx, ly + 7, lx + 34, ly + 7, 3.0f, c);
        cv.marker(lx + 17, ly + 7, static_cast<int>(k), 5.0f, c);
        cv.text(lx + 44, ly, names[k], 2.0f, ink);
        ly += 30;
    }
    char note[128];
    std::snprintf(note, sizeof note, "clean R@10: %.1f", clean);
    cv.text(lx, ly + 10, note, 2.0f, faint);

    RgbaImage img;
    img.width = W;
    img.height = H;
    img.pixels = std::move(cv.px);
    return img;
}

RobustnessReport run_robustness_bench(const RobustnessBenchOptions& o) {
    if (o.corpus.empty()) throw Error("bench robustness: give --corpus (a folder with manifest.jsonl and split files)");
    if (o.model.empty()) throw Error("bench robustness: give --model (a model folder)");
    blas::set_threads(o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency()));
    const std::string split_file = split_path(o);
    std::error_code ec;
    if (!fs::is_regular_file(split_file, ec))
        throw input_error("split", o.split, "no split file " + split_file + " in the corpus");
    std::optional<DualEncoder> loaded;
    try {
        loaded.emplace(DualEncoder::load(o.model, parse_precision(o.precision)));
    } catch (const std::exception& e) {
        throw input_error("model", o.model, std::string("does not load: ") + e.what());
    }
    const DualEncoder& model = *loaded;
    const auto start = std::chrono::steady_clock::now();
    const RobustnessSet set = load_robustness_set(model, o);

    RobustnessReport report;
    report.model = model.config().name;
    report.corpus = o.corpus;
    report.split = o.split;
    report.pictures = set.pictures.size();
    report.captions = set.captions.size();
    report.seed = o.seed;
    for (const auto& f : set.facts) report.names_colour += f.names_colour ? 1 : 0;

    if (o.print_table) {
        std::printf("opsis robustness benchmark: model '%s', split %s, %zu pictures, %zu captions, seed %llu\n",
                    report.model.c_str(), o.split.c_str(), report.pictures, report.captions,
                    static_cast<unsigned long long>(o.seed));
        std::printf("text->image recall by concept, exact search; drop = clean R@10 - R@10, in points\n\n");
        std::printf("%-20s %8s %7s %7s %7s %10s\n", "challenge", "strength", "R@1", "R@10", "drop", "unchanged");
        std::fflush(stdout);
    }
    auto emit = [&](RobustnessRow row) {
        if (o.print_table) {
            char drop[16] = "-";
            if (row.challenge != "clean") std::snprintf(drop, sizeof drop, "%.1f", row.drop_r10);
            std::printf("%-20s %8s %7.1f %7.1f %7s %10zu\n", row.challenge.c_str(),
                        strength_label(row.strength).c_str(), row.r1, row.r10, drop, row.unchanged);
            std::fflush(stdout);
        }
        report.rows.push_back(std::move(row));
    };

    const eval::RecallAtK clean = score_pictures(set, embed_pictures(model, set, nullptr, 0.0f, o.seed));
    emit({"clean", 0.0f, clean.r1, clean.r10, 0.0, set.pictures.size()});
    for (const Challenge c : train::all_challenges())
        for (const float s : kStrengths) {
            std::size_t unchanged = 0;
            const eval::RecallAtK r = score_pictures(set, embed_pictures(model, set, &c, s, o.seed, &unchanged));
            emit({train::challenge_name(c), s, r.r1, r.r10, clean.r10 - r.r10, unchanged});
        }
    if (o.print_table) {
        std::printf(
            "\nunchanged: pictures the challenge left exactly as they were. colour-removal leaves the %zu of %zu\n"
            "pictures whose captions name a colour or a skin tone as they are (greying them would make the\n"
            "captions false); pictures already grey stay so below strength 1 (at 1 it draws line art).\n"
            "background-clutter fills only transparent parts: opaque pictures stay as they are; a stronger\n"
            "contrast keeps pure black and white, so illumination can leave black line art unchanged.\n",
            report.names_colour, report.pictures);
        std::fflush(stdout);
    }
    std::fprintf(stderr, "bench robustness: %zu pictures x %zu perturbations scored in %.1f s\n", report.pictures,
                 report.rows.size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

    if (!o.json_out.empty()) {
        json rows = json::array();
        for (const RobustnessRow& r : report.rows)
            rows.push_back({{"challenge", r.challenge},
                            {"strength", std::round(r.strength * 1e4) / 1e4},
                            {"strength_label", strength_label(r.strength)},
                            {"r1", r.r1},
                            {"r10", r.r10},
                            {"drop_r10", r.drop_r10},
                            {"unchanged", r.unchanged}});
        const json out = {{"model", report.model},
                          {"model_path", o.model},
                          {"corpus", o.corpus},
                          {"split", o.split},
                          {"pictures", report.pictures},
                          {"captions", report.captions},
                          {"names_colour", report.names_colour},
                          {"seed", o.seed},
                          {"rows", rows}};
        write_file_atomic(o.json_out, out.dump(2) + "\n");
    }
    if (!o.plot_out.empty()) {
        const std::vector<unsigned char> png = encode_png(draw_robustness_chart(report));
        write_file_atomic(o.plot_out, png.data(), png.size());
    }
    return report;
}

}  // namespace opsis::bench
