#include "benchmarks/index_bench.h"

#include "benchmarks/bench_support.h"
#include "benchmarks/synthetic_photos.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/file_io.h"
#include "image/encode.h"
#include "image/preprocess.h"
#include "indexer/index_job.h"
#include "index_folder/open_index.h"

namespace opsis::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
// Small pictures that compress like real icons: a gradient, a disc and a bar, all from the seed.
void write_synthetic(const std::string& path, std::uint32_t seed, int size) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> c(0, 255);
    const int r0 = c(rng), g0 = c(rng), b0 = c(rng), r1 = c(rng), g1 = c(rng), b1 = c(rng);
    const int cx = c(rng) % size, cy = c(rng) % size, radius = 4 + c(rng) % (size / 3), bar = c(rng) % size;
    RgbaImage image;
    image.width = image.height = size;
    std::vector<unsigned char>& px = image.pixels;
    px.resize(static_cast<std::size_t>(size) * size * 4);
    for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
            unsigned char* p = &px[(static_cast<std::size_t>(y) * size + x) * 4];
            const int t = (x + y) * 255 / (2 * size);
            p[0] = static_cast<unsigned char>(r0 + (r1 - r0) * t / 255);
            p[1] = static_cast<unsigned char>(g0 + (g1 - g0) * t / 255);
            p[2] = static_cast<unsigned char>(b0 + (b1 - b0) * t / 255);
            p[3] = 255;
            if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < radius * radius) {
                p[0] = static_cast<unsigned char>(255 - p[0]);
                p[1] = 40;
            }
            if (std::abs(x - bar) < 2) p[2] = 250;
        }
    const std::vector<unsigned char> png = encode_png(image);
    write_file_atomic(path, png.data(), png.size());
}

std::string synthetic_folder(std::size_t n, int size) {
    const std::string dir = cache_dir() + "/bench-synthetic-" + std::to_string(n) + "-" + std::to_string(size);
    if (fs::exists(dir + "/complete")) return dir;
    std::printf("generating %zu synthetic %dx%d PNGs into %s ...\n", n, size, size, dir.c_str());
    std::fflush(stdout);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string sub = dir + "/" + std::to_string(i / 1000);
        if (i % 1000 == 0) fs::create_directories(sub);
        write_synthetic(sub + "/" + std::to_string(i) + ".png", static_cast<std::uint32_t>(i + 1), size);
    }
    write_file_atomic(dir + "/complete", std::string("ok\n"));
    return dir;
}

// Encodes already decoded, preprocessed images in batches: the encoder alone.
double encoder_only_rate(const DualEncoder& model, const std::vector<float>& pixels, std::size_t n, int batch) {
    const int s = model.config().image.preprocess.image_size;
    const std::size_t per = static_cast<std::size_t>(s) * s * 3;
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; i += static_cast<std::size_t>(batch)) {
        const std::size_t m = std::min<std::size_t>(static_cast<std::size_t>(batch), n - i);
        Tensor t({static_cast<std::int64_t>(m), s, s, 3});
        std::copy(pixels.begin() + static_cast<std::ptrdiff_t>(i * per),
                  pixels.begin() + static_cast<std::ptrdiff_t>((i + m) * per), t.data());
        model.encode_images(t);
    }
    return static_cast<double>(n) / seconds_since(t0);
}

}  // namespace

void run_index_bench(const IndexBenchOptions& o) {
    std::vector<std::string> folders = o.folders;
    std::size_t limit = o.limit;
    if (o.synthetic > 0) folders = {synthetic_folder(o.synthetic, o.synthetic_size)}, limit = o.synthetic;
    if (o.synthetic_photos > 0) {
        int w = 0, h = 0;
        if (std::sscanf(o.photo_size.c_str(), "%dx%d", &w, &h) != 2 || w < 16 || h < 16 || w > 12000 || h > 12000)
            throw input_error("--photo-size", o.photo_size, "expected WIDTHxHEIGHT between 16 and 12000");
        std::string folder;
        synthetic_photo_folder(o.synthetic_photos, w, h, folder);
        folders = {folder};
        limit = o.synthetic_photos;
    }
    if (folders.empty()) throw Error("bench index: give --images FOLDER, --synthetic N or --synthetic-photos N");

    std::vector<indexer::InputSpec> inputs;
    for (const auto& f : folders) inputs.push_back({indexer::InputKind::path, f});
    std::vector<std::string> files;
    indexer::for_each_input_file(
        inputs, {},
        [&](indexer::InputFile&& f) {
            if (files.size() < limit) files.push_back(f.path);
        },
        [](const std::string&, const std::string&) {});
    if (files.empty()) throw Error("bench index: no images found");
    const std::string work = cache_dir() + "/bench-index-" + std::to_string(::getpid());
    fs::remove_all(work);
    fs::create_directories(work);
    {
        std::ofstream list(work + "/files.txt");
        for (const auto& f : files) list << f << "\n";
    }
    const std::string model_path = o.model.empty() ? default_model_path() : o.model;
    const DualEncoder model = DualEncoder::load(model_path, parse_precision(o.precision));

    // The encoder alone, on up to 2,048 of the same images decoded beforehand.
    const int s = model.config().image.preprocess.image_size;
    const std::size_t per = static_cast<std::size_t>(s) * s * 3;
    std::vector<float> pixels;
    std::size_t sample = 0;
    for (std::size_t i = 0; i < files.size() && sample < 2048; ++i) {
        try {
            const RgbaImage image = load_image(files[i], {});
            pixels.resize((sample + 1) * per);
            preprocess_image(image, model.config().image.preprocess, pixels.data() + sample * per);
            ++sample;
        } catch (const Error&) {
            // the indexer counts it as a failure; the encoder has nothing to encode
        }
    }
    if (sample == 0) throw Error("bench index: none of the images decodes");
    encoder_only_rate(model, pixels, std::min<std::size_t>(sample, 256), o.batch);  // warm-up
    const double before = encoder_only_rate(model, pixels, sample, o.batch);

    // End to end into a fresh index, sampling resident memory.
    std::vector<std::pair<double, double>> rss;  // (seconds, MiB)
    std::atomic<bool> done{false};
    const auto t0 = Clock::now();
    std::thread sampler([&] {
        while (!done) {
            rss.emplace_back(seconds_since(t0), proc_status_mib("VmRSS"));
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    });
    indexer::JobSummary summary;
    std::size_t vector_bytes = 0;
    {
        OpenIndex ix = open_index(work + "/index", model_path, true, true, {}, model.precision());
        indexer::JobOptions job;
        job.decode_threads = o.threads;
        job.batch = o.batch;
        job.progress_every = 30;
        job.captions_as_texts = false;
        job.full_decode = o.full_decode;
        summary = indexer::index_images(*ix.store, *ix.model, {{indexer::InputKind::list, work + "/files.txt"}}, job);
        vector_bytes = ix.store->vectors(storage::Collection::images).memory_bytes();
    }
    done = true;
    sampler.join();
    const double end_to_end = static_cast<double>(summary.files) / summary.seconds;
    const double after = encoder_only_rate(model, pixels, sample, o.batch);
    const double encoder = (before + after) / 2;

    std::printf("\nindexing %zu files (%llu added, %llu duplicates, %llu failed) with %s, batch %d, JPEGs %s:\n",
                files.size(), static_cast<unsigned long long>(summary.added),
                static_cast<unsigned long long>(summary.duplicates), static_cast<unsigned long long>(summary.failed),
                model.config().name.c_str(), o.batch, o.full_decode ? "decoded at full size" : "DCT-scaled");
    std::printf("  encoder alone (decoded beforehand): %.1f images/s (%.1f before, %.1f after)\n", encoder, before,
                after);
    std::printf("  end to end (walk, read, hash, decode, resize, encode, commit): %.1f images/s in %.1f s\n",
                end_to_end, summary.seconds);
    std::printf("  end to end / encoder alone: %.1f%%\n", 100.0 * end_to_end / encoder);
    std::printf("  resident memory during the job (MiB):");
    json rss_json = json::array();
    for (int pct : {10, 25, 50, 75, 100}) {
        const double t = summary.seconds * pct / 100.0;
        double value = 0;
        for (const auto& [when, mib] : rss)
            if (when <= t) value = mib;
        std::printf("  %d%%: %.0f", pct, value);
        rss_json.push_back({{"percent", pct}, {"rss_mib", value}});
    }
    const double peak = proc_status_mib("VmHWM");
    std::printf("\n  peak resident memory of the process: %.0f MiB (the vector index itself holds %.1f MiB)\n", peak,
                static_cast<double>(vector_bytes) / (1 << 20));
    if (!o.json_out.empty())
        write_file_atomic(o.json_out, json{{"files", files.size()},
                                           {"encoder_images_per_s", encoder},
                                           {"end_to_end_images_per_s", end_to_end},
                                           {"ratio", end_to_end / encoder},
                                           {"rss", rss_json},
                                           {"peak_rss_mib", peak},
                                           {"vector_index_mib", static_cast<double>(vector_bytes) / (1 << 20)}}
                                          .dump(2));
    fs::remove_all(work);
}

}  // namespace opsis::bench
