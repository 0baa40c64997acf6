#include "benchmarks/synthetic_photos.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "benchmarks/bench_support.h"
#include "core/file_io.h"
#include "image/encode.h"
#include "image/orientation.h"
#include "image/photo_metadata.h"

namespace opsis::bench {

namespace fs = std::filesystem;

RgbaImage synthetic_scene(int width, int height, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    const float horizon = 0.35f + 0.3f * unit(rng);
    const float sky[3] = {60 + 80 * unit(rng), 110 + 80 * unit(rng), 180 + 60 * unit(rng)};
    const float ground[3] = {60 + 100 * unit(rng), 70 + 90 * unit(rng), 30 + 60 * unit(rng)};
    struct Blob {
        float x, y, rx, ry, rgb[3];
    };
    std::vector<Blob> blobs;
    for (int i = 0; i < 12; ++i)
        blobs.push_back({unit(rng),
                         horizon + (1 - horizon) * unit(rng) - 0.1f,
                         0.03f + 0.12f * unit(rng),
                         0.03f + 0.1f * unit(rng),
                         {255 * unit(rng), 255 * unit(rng), 255 * unit(rng)}});
    const Blob sun{0.1f + 0.8f * unit(rng), horizon * 0.4f, 0.05f, 0.05f * width / height, {255, 230, 150}};
    blobs.insert(blobs.begin(), sun);
    RgbaImage image;
    image.width = width;
    image.height = height;
    image.pixels.resize(static_cast<std::size_t>(width) * height * 4);
    std::minstd_rand noise(seed * 7919u + 1);
    for (int y = 0; y < height; ++y) {
        const float v = static_cast<float>(y) / height;
        for (int x = 0; x < width; ++x) {
            const float u = static_cast<float>(x) / width;
            float rgb[3];
            for (int c = 0; c < 3; ++c)
                rgb[c] = v < horizon ? sky[c] * (0.75f + 0.25f * v / horizon)
                                     : ground[c] * (0.8f + 0.2f * std::sin(40.0f * u + 13.0f * v));
            for (const Blob& b : blobs) {
                const float dx = (u - b.x) / b.rx, dy = (v - b.y) / b.ry;
                if (dx * dx + dy * dy < 1.0f)
                    for (int c = 0; c < 3; ++c) rgb[c] = b.rgb[c] * (0.85f + 0.15f * std::cos(25.0f * (u + v)));
            }
            std::uint8_t* p = &image.pixels[(static_cast<std::size_t>(y) * width + x) * 4];
            for (int c = 0; c < 3; ++c) {
                const float grain = static_cast<float>(static_cast<int>(noise() % 17) - 8);  // a sensor's noise
                p[c] = static_cast<std::uint8_t>(std::clamp(rgb[c] + grain, 0.0f, 255.0f));
            }
            p[3] = 255;
        }
    }
    return image;
}

std::vector<unsigned char> synthetic_photo_jpeg(int width, int height, std::uint32_t seed) {
    PhotoMetadata m;
    m.orientation = seed % 4 == 3 ? 6 : 1;
    m.taken_local = 1'600'000'000 + static_cast<std::int64_t>(seed) * 86'311;
    m.taken_offset_minutes = 60;
    m.make = seed % 2 ? "Apple" : "Canon";
    m.model = seed % 2 ? "iPhone 12" : "Canon EOS 5D";
    m.latitude = 37.9 + 0.01 * (seed % 50);
    m.longitude = 23.7 - 0.01 * (seed % 30);
    // A sideways photo is stored as the camera saw it: turned, with the tag that turns it back.
    const RgbaImage upright = synthetic_scene(width, height, seed);
    const RgbaImage stored = m.orientation == 6 ? turn_upright(upright, inverse_orientation(6)) : upright;
    return jpeg_with_exif(encode_jpeg(stored, 90), m);
}

std::vector<std::string> synthetic_photo_folder(std::size_t n, int width, int height, std::string& folder) {
    folder =
        cache_dir() + "/bench-photos-" + std::to_string(n) + "-" + std::to_string(width) + "x" + std::to_string(height);
    std::vector<std::string> paths;
    for (std::size_t i = 0; i < n; ++i) paths.push_back(folder + "/" + std::to_string(i) + ".jpg");
    if (fs::exists(folder + "/complete")) return paths;
    std::printf("generating %zu synthetic %dx%d photos (JPEG with EXIF) into %s ...\n", n, width, height,
                folder.c_str());
    std::fflush(stdout);
    fs::create_directories(folder);
    for (std::size_t i = 0; i < n; ++i) {
        const std::vector<unsigned char> jpeg = synthetic_photo_jpeg(width, height, static_cast<std::uint32_t>(i + 1));
        write_file_atomic(paths[i], jpeg.data(), jpeg.size());
    }
    write_file_atomic(folder + "/complete", std::string("ok\n"));
    return paths;
}

}  // namespace opsis::bench
