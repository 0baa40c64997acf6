// Decoding every supported format, preprocessing, and the bad inputs the decoder must refuse.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "image/decode.h"
#include "image/preprocess.h"
#include "benchmarks/photo_formats.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::test;
using opsis::bench::encode_animated_webp;
using opsis::bench::encode_heif;
using opsis::bench::encode_webp;
using opsis::bench::exif_tiff_block;

namespace {
RgbaImage decode(const std::vector<unsigned char>& bytes, const std::string& name = "mem.img") {
    return decode_image(bytes.data(), bytes.size(), name, ImageLimits{});
}
int pixel(const RgbaImage& img, int x, int y, int c) {
    return img.pixels[(static_cast<std::size_t>(y) * img.width + x) * 4 + c];
}
}  // namespace

TEST_CASE("lossless formats decode to the exact pixels", "[image]") {
    const RgbaImage src = pattern_image(23, 17, true);
    SECTION("PNG with alpha") {
        const RgbaImage got = decode(encode_png_rgba(src));
        CHECK(got.width == 23);
        CHECK(got.height == 17);
        CHECK(got.pixels == src.pixels);
    }
    SECTION("TGA with alpha, recognised by extension") {
        CHECK(decode(encode_tga(src), "x.TGA").pixels == src.pixels);
        CHECK_THROWS_WITH(decode(encode_tga(src), "x.bin"), Catch::Contains("not a supported image format"));
    }
    SECTION("BMP (no alpha: opaque)") {
        const RgbaImage got = decode(encode_bmp(src));
        CHECK(pixel(got, 5, 3, 0) == pixel(src, 5, 3, 0));
        CHECK(pixel(got, 5, 3, 3) == 255);
    }
    SECTION("16-bit PNG becomes 8-bit") {
        const RgbaImage got = decode(encode_png_16bit_rgb(src));
        CHECK(pixel(got, 7, 9, 1) == pixel(src, 7, 9, 1));
        CHECK(pixel(got, 7, 9, 3) == 255);
    }
    SECTION("palette PNG with transparency") {
        const std::vector<std::uint8_t> idx{0, 1, 2, 1, 0, 2};
        const RgbaImage got = decode(encode_png_palette(3, 2, idx, {255, 0, 0, 0, 255, 0, 0, 0, 255}, {255, 128, 0}));
        CHECK(pixel(got, 0, 0, 0) == 255);
        CHECK(pixel(got, 1, 0, 1) == 255);
        CHECK(pixel(got, 1, 0, 3) == 128);
        CHECK(pixel(got, 2, 0, 2) == 255);
        CHECK(pixel(got, 2, 0, 3) == 0);
    }
    SECTION("GIF: the first frame") {
        std::vector<std::uint8_t> idx(6 * 4);
        for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::uint8_t>(1 + i % 3);
        const RgbaImage got =
            decode(encode_gif_two_frames(6, 4, idx, {0, 0, 0, 200, 10, 10, 10, 200, 10, 10, 10, 200}));
        CHECK(got.width == 6);
        CHECK(pixel(got, 0, 0, 0) == 200);  // index 1
        CHECK(pixel(got, 1, 0, 1) == 200);  // index 2
        CHECK(pixel(got, 2, 0, 2) == 200);  // index 3
    }
}

TEST_CASE("JPEG decodes close to the source", "[image]") {
    const RgbaImage src = pattern_image(64, 48, false);
    const RgbaImage got = decode(encode_jpeg(src, 95));
    REQUIRE(got.width == 64);
    double err = 0;
    for (std::size_t i = 0; i < src.pixels.size(); ++i) err += std::abs(int(src.pixels[i]) - int(got.pixels[i]));
    CHECK(err / static_cast<double>(src.pixels.size()) < 4.0);
}

TEST_CASE("bad image files give errors that name the file and the reason", "[image][bad-input]") {
    TempDir dir;
    const RgbaImage src = pattern_image(40, 30, false);
    auto expect_error = [&](const std::string& name, const std::vector<unsigned char>& bytes,
                            const std::string& reason) {
        const std::string path = dir.file(name);
        write_bytes(path, bytes);
        INFO(name);
        CHECK_THROWS_WITH(load_image(path, ImageLimits{}),
                          Catch::Contains("image '" + path + "'") && Catch::Contains(reason));
    };
    expect_error("empty.png", {}, "empty file");
    expect_error("text.jpg", {'h', 'e', 'l', 'l', 'o'}, "not a supported image format");
    auto png = encode_png_rgba(src);
    expect_error("truncated.png",
                 std::vector<unsigned char>(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2)),
                 "truncated PNG (chunk 'IDAT' claims");
    auto jpg = encode_jpeg(src);
    expect_error("truncated.jpg",
                 std::vector<unsigned char>(jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(jpg.size() * 2 / 3)),
                 "truncated JPEG");
    expect_error("header-only.jpg", std::vector<unsigned char>(jpg.begin(), jpg.begin() + 4), "corrupt JPEG header");
    expect_error("bomb.png", png_header_only(100000, 100000), "exceeds the limit");
    expect_error("zero.png", png_header_only(0, 10), "PNG");
    // 54 bytes claiming a 65535x762 logical screen: under the 50-megapixel limit, but a GIF
    // decoder allocates 9 bytes a pixel of screen (200 MB) whatever its frames cover.
    std::vector<unsigned char> gif_bomb{'G', 'I', 'F', '8', '9', 'a', 0xFF, 0xFF, 0xFA, 0x02, 0x00, 0x00, 0x00, ',', 0,
                                        0,   0,   0,   1,   0,   1,   0,    0,    2,    2,    0x4C, 0x01, 0,    ';'};
    expect_error("bomb.gif", gif_bomb, "GIF logical screen 65535x762 exceeds the limit of 22222222 pixels");
    // Hostile structures that Debian's stb_image would trust: a chunk that claims a gigabyte,
    // and a Huffman table with more than 256 codes (stb overruns its table).
    auto huge_chunk = png_header_only(10, 10);
    huge_chunk.insert(huge_chunk.end(), {0x40, 0x00, 0x00, 0x00, 'I', 'D', 'A', 'T', 1, 2, 3, 4, 5, 6, 7, 8});
    expect_error("huge-chunk.png", huge_chunk, "claims 1073741824 bytes");
    auto bad_dht = jpg;
    for (std::size_t i = 2; i + 21 < bad_dht.size(); ++i)
        if (bad_dht[i] == 0xFF && bad_dht[i + 1] == 0xC4) {
            for (std::size_t k = 5; k < 21; ++k) bad_dht[i + k] = 200;
            break;
        }
    expect_error("bad-huffman.jpg", bad_dht, "more than 256 codes");
    auto corrupt = png;
    for (std::size_t i = 60; i < corrupt.size() - 20; ++i) corrupt[i] ^= 0x5A;
    expect_error("corrupt.png", corrupt, "PNG");
    CHECK_THROWS_WITH(load_image(dir.file("missing.png"), ImageLimits{}),
                      Catch::Contains("missing.png") && Catch::Contains("cannot open"));
    CHECK_THROWS_WITH(load_image(dir.path(), ImageLimits{}), Catch::Contains("not a regular file"));

    ImageLimits small;
    small.max_file_bytes = 100;
    write_bytes(dir.file("big.png"), png);
    CHECK_THROWS_WITH(load_image(dir.file("big.png"), small), Catch::Contains("too large"));
    small = ImageLimits{};
    small.max_pixels = 1000;
    CHECK_THROWS_WITH(load_image(dir.file("big.png"), small),
                      Catch::Contains("40x30 = 1200 pixels exceeds the limit of 1000"));
}

TEST_CASE("preprocessing composites alpha, crops the centre and normalises", "[image]") {
    PreprocessOptions opt;
    opt.image_size = 8;
    opt.mean = {0.5f, 0.5f, 0.5f};
    opt.std = {0.5f, 0.25f, 0.5f};
    opt.background = {255, 0, 0};
    std::vector<float> out(8 * 8 * 3);

    SECTION("a fully transparent image shows the background") {
        RgbaImage img = pattern_image(20, 20, true);
        for (std::size_t i = 3; i < img.pixels.size(); i += 4) img.pixels[i] = 0;
        preprocess_image(img, opt, out.data());
        for (std::size_t i = 0; i < 64; ++i) {
            CHECK(out[i * 3 + 0] == Approx(1.0f));   // (1 - 0.5) / 0.5
            CHECK(out[i * 3 + 1] == Approx(-2.0f));  // (0 - 0.5) / 0.25
        }
    }
    SECTION("the centre square of a wide image is kept") {
        RgbaImage img;
        img.width = 300;
        img.height = 100;
        img.pixels.resize(300 * 100 * 4);
        for (int y = 0; y < 100; ++y)
            for (int x = 0; x < 300; ++x) {
                std::uint8_t* p = &img.pixels[(static_cast<std::size_t>(y) * 300 + x) * 4];
                p[0] = x < 100 ? 255 : 0;
                p[1] = x >= 100 && x < 200 ? 255 : 0;
                p[2] = x >= 200 ? 255 : 0;
                p[3] = 255;
            }
        preprocess_image(img, opt, out.data());
        for (std::size_t i = 0; i < 64; ++i) {
            CHECK(out[i * 3 + 0] == Approx(-1.0f));
            CHECK(out[i * 3 + 1] == Approx(2.0f));
            CHECK(out[i * 3 + 2] == Approx(-1.0f));
        }
    }
    SECTION("upscaling a tiny image and keeping the size of an exact one") {
        const RgbaImage tiny = pattern_image(3, 5, false);
        preprocess_image(tiny, opt, out.data());
        for (float v : out) CHECK(std::isfinite(v));
        const RgbaImage exact = pattern_image(8, 8, false);
        preprocess_image(exact, opt, out.data());
        CHECK(out[(2 * 8 + 3) * 3 + 0] == Approx(pixel(exact, 3, 2, 0) / 255.0f / 0.5f - 1.0f));
    }
}

TEST_CASE("a picture on a transparent page is trimmed to its visible part", "[image]") {
    RgbaImage page;
    page.width = 120;
    page.height = 90;
    page.pixels.assign(120 * 90 * 4, 0);
    for (int y = 5; y < 25; ++y)  // a red 20x20 square in the top-left corner of an empty page
        for (int x = 3; x < 23; ++x) {
            std::uint8_t* p = &page.pixels[(static_cast<std::size_t>(y) * 120 + x) * 4];
            p[0] = 255;
            p[3] = 255;
        }
    const RgbaImage square = square_region(page, true);
    CHECK(square.width == 21);  // 20 plus a 1/16 border
    CHECK(square.height == 21);
    PreprocessOptions opt;
    opt.image_size = 16;
    std::vector<float> out(16 * 16 * 3);
    preprocess_image(page, opt, out.data());
    const std::size_t centre = (8 * 16 + 8) * 3;
    CHECK(out[centre + 0] == Approx(1.0f));  // red fills the middle
    CHECK(out[centre + 1] == Approx(-1.0f));
    opt.trim_transparent = false;  // the page's centre is empty: white background
    preprocess_image(page, opt, out.data());
    CHECK(out[centre + 1] == Approx(1.0f));
    // An opaque image keeps the centre-crop rule.
    CHECK(square_region(pattern_image(30, 20, false), true).width == 20);

    // A long, thin visible strip (the fuzzer's 650-byte TGA was 65,524 x 9) is shrunk before it
    // is squared, not centred on a square of 69,619^2 pixels (19 GB).
    RgbaImage strip;
    strip.width = 60000;
    strip.height = 6;
    strip.pixels.assign(static_cast<std::size_t>(strip.width) * strip.height * 4, 0);
    for (int y = 1; y < 5; ++y)
        for (int x = 0; x < strip.width; ++x) {
            std::uint8_t* p = &strip.pixels[(static_cast<std::size_t>(y) * strip.width + x) * 4];
            p[1] = 255;
            p[3] = 255;  // green, with a transparent row above and below
        }
    const RgbaImage thin = square_region(strip, true);
    CHECK(thin.width == thin.height);
    CHECK(thin.width <= 1024);
    CHECK(thin.width >= 1000);
    preprocess_image(strip, opt, out.data());
    opt.trim_transparent = true;
    preprocess_image(strip, opt, out.data());
    CHECK(out[centre + 1] == Approx(1.0f).margin(0.05));  // the strip crosses the middle, green
}

TEST_CASE("format sniffing uses magic bytes", "[image]") {
    const unsigned char jpg[] = {0xFF, 0xD8, 0xFF, 0xE0};
    CHECK(sniff_image_format(jpg, 4, "a.png") == ImageFormat::jpeg);
    const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a'};
    CHECK(sniff_image_format(gif, 6, "") == ImageFormat::gif);
    const unsigned char junk[] = {1, 2, 3};
    CHECK(sniff_image_format(junk, 3, "x.tga") == ImageFormat::tga);
    CHECK(sniff_image_format(junk, 3, "x.png") == ImageFormat::unknown);
}

// Not a test: writes seed inputs for the fuzzer into $OPSIS_FUZZ_SEEDS (run by ctest's fuzz smoke test).
TEST_CASE("write fuzz seeds", "[.fuzz-seeds]") {
    const char* dir = std::getenv("OPSIS_FUZZ_SEEDS");
    REQUIRE(dir != nullptr);
    std::filesystem::create_directories(dir);
    const RgbaImage src = pattern_image(12, 9, true);
    const std::string d(dir);
    // The fuzz target reads the first byte as the name selector (odd: "*.tga"), the rest as the file.
    auto seed = [&](const std::string& name, std::vector<unsigned char> bytes, unsigned char selector) {
        bytes.insert(bytes.begin(), selector);
        write_bytes(d + "/" + name, bytes);
    };
    seed("a.png", encode_png_rgba(src), 0);
    seed("b.jpg", encode_jpeg(src), 0);
    PhotoMetadata exif;  // a phone photo's EXIF: turned, dated, placed
    exif.orientation = 6;
    exif.taken_local = 1717252205;
    exif.taken_offset_minutes = 120;
    exif.make = "Apple";
    exif.model = "iPhone 12";
    exif.latitude = 37.97;
    exif.longitude = 23.72;
    seed("h.jpg", jpeg_with_exif(encode_jpeg(src), exif), 0);
    seed("i.webp", encode_webp(src, true, exif_tiff_block(exif)), 0);
    seed("j.heic", encode_heif(src, ImageFormat::heif), 0);
    seed("k.avif", encode_heif(src, ImageFormat::avif), 0);
    seed("c.bmp", encode_bmp(src), 0);
    seed("d.tga", encode_tga(src), 1);
    seed("e.png", encode_png_16bit_rgb(src), 0);
    seed("f.png", encode_png_palette(2, 1, {0, 1}, {1, 2, 3, 4, 5, 6}, {7}), 0);
    seed("g.gif", encode_gif_two_frames(2, 2, {1, 2, 3, 0}, {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3}), 0);
    // A long, thin visible strip with transparent rows around it (the shrink-before-squaring path).
    RgbaImage strip;
    strip.width = 3000;
    strip.height = 3;
    strip.pixels.assign(static_cast<std::size_t>(strip.width) * strip.height * 4, 0);
    for (int x = 0; x < strip.width; ++x) strip.pixels[(static_cast<std::size_t>(strip.width) + x) * 4 + 3] = 255;
    const std::vector<unsigned char> strip_png = encode_png_rgba(strip);
    REQUIRE(strip_png.size() < 8192);  // the fuzzer's -max_len
    seed("h.png", strip_png, 0);
}
