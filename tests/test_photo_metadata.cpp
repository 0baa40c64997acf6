// Photos as cameras write them: EXIF orientation turned upright, and the date, camera and
// position read back from blocks libexif writes.
#include <catch2/catch.hpp>
#include <cmath>

#include "image/decode.h"
#include "image/orientation.h"
#include "image/photo_metadata.h"
#include "image/preprocess.h"
#include "benchmarks/synthetic_photos.h"
#include "benchmarks/photo_formats.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::test;
using opsis::bench::encode_animated_webp;
using opsis::bench::encode_heif;
using opsis::bench::encode_webp;
using opsis::bench::exif_tiff_block;

namespace {
// A picture that looks different every way it is turned: a red block top left, a blue one at
// the bottom, on white, 64x48.
RgbaImage asymmetric_picture() {
    RgbaImage p;
    p.width = 64;
    p.height = 48;
    p.pixels.assign(static_cast<std::size_t>(64) * 48 * 4, 255);
    for (int y = 0; y < 48; ++y)
        for (int x = 0; x < 64; ++x) {
            std::uint8_t* px = &p.pixels[(static_cast<std::size_t>(y) * 64 + x) * 4];
            if (x < 24 && y < 16) px[1] = px[2] = 30;
            if (y >= 36 && x >= 20 && x < 60) px[0] = px[1] = 40;
        }
    return p;
}
}  // namespace

TEST_CASE("each EXIF orientation turns its stored pixels upright", "[image][photo]") {
    RgbaImage p;
    p.width = 3;
    p.height = 2;
    for (int i = 0; i < 6; ++i) p.pixels.insert(p.pixels.end(), {std::uint8_t(i), 0, 0, 255});
    // 0 1 2
    // 3 4 5
    auto at = [](const RgbaImage& img, int x, int y) { return img.pixels[(std::size_t(y) * img.width + x) * 4]; };
    const RgbaImage six = turn_upright(p, 6);  // turned 90° clockwise: 3 0 / 4 1 / 5 2
    CHECK(six.width == 2);
    CHECK(six.height == 3);
    CHECK(at(six, 0, 0) == 3);
    CHECK(at(six, 1, 0) == 0);
    CHECK(at(six, 1, 2) == 2);
    const RgbaImage eight = turn_upright(p, 8);  // 90° anticlockwise: 2 5 / 1 4 / 0 3
    CHECK(at(eight, 0, 0) == 2);
    CHECK(at(eight, 1, 2) == 3);
    CHECK(at(turn_upright(p, 2), 0, 0) == 2);
    CHECK(at(turn_upright(p, 3), 0, 0) == 5);
    CHECK(at(turn_upright(p, 4), 0, 0) == 3);
    CHECK(at(turn_upright(p, 5), 1, 0) == 3);
    CHECK(at(turn_upright(p, 7), 0, 0) == 5);
    for (int o = 1; o <= 8; ++o) {
        INFO("orientation " << o);
        CHECK(turn_upright(turn_upright(p, inverse_orientation(o)), o).pixels == p.pixels);
    }
    CHECK(turn_upright(p, 0).pixels == p.pixels);
    CHECK(turn_upright(p, 9).pixels == p.pixels);
}

TEST_CASE("EXIF dates and offsets parse, and bad ones are no date", "[image][photo]") {
    CHECK(parse_exif_datetime("2024:06:01 14:30:05") == 1717252205);
    CHECK(parse_exif_datetime("2024-06-01T14:30:05") == 1717252205);
    CHECK_FALSE(parse_exif_datetime("0000:00:00 00:00:00"));
    CHECK_FALSE(parse_exif_datetime("    :  :     :  :  "));
    CHECK_FALSE(parse_exif_datetime("2024:06:31 10:00:00"));
    CHECK_FALSE(parse_exif_datetime("2024:13:01 10:00:00"));
    CHECK_FALSE(parse_exif_datetime("2024:06:01"));
    CHECK(parse_exif_offset("+02:00") == 120);
    CHECK(parse_exif_offset("-05:30") == -330);
    CHECK_FALSE(parse_exif_offset("02:00"));
    CHECK_FALSE(parse_exif_offset("+25:00"));
}

TEST_CASE("a photo's EXIF block written by libexif reads back", "[image][photo]") {
    const std::vector<unsigned char> plain = encode_jpeg(asymmetric_picture());
    CHECK(jpeg_exif_block(plain.data(), plain.size()).empty());
    CHECK(decode_photo(plain.data(), plain.size(), "plain.jpg", ImageLimits{}).metadata == PhotoMetadata{});

    PhotoMetadata m;
    m.orientation = 6;
    m.taken_local = *parse_exif_datetime("2023:08:14 18:02:33");
    m.taken_offset_minutes = 180;
    m.make = "Apple";
    m.model = "iPhone 12";
    m.latitude = -33.856784;
    m.longitude = 151.215297;
    const std::vector<unsigned char> tagged = jpeg_with_exif(plain, m);
    const PhotoMetadata back = read_exif(jpeg_exif_block(tagged.data(), tagged.size()));
    CHECK(back.orientation == 6);
    CHECK(back.taken_local == m.taken_local);
    CHECK(back.taken_offset_minutes == 180);
    CHECK(back.camera() == "Apple iPhone 12");
    REQUIRE(back.latitude);
    CHECK(std::abs(*back.latitude - *m.latitude) < 1e-6);
    CHECK(std::abs(*back.longitude - *m.longitude) < 1e-6);

    PhotoMetadata north;
    north.make = "NIKON CORPORATION";
    north.model = "NIKON D750";
    north.latitude = 60.5;
    north.longitude = -0.25;
    const std::vector<unsigned char> other = jpeg_with_exif(plain, north);
    const PhotoMetadata b = read_exif(jpeg_exif_block(other.data(), other.size()));
    CHECK(b.camera() == "NIKON D750");
    CHECK(b.orientation == 1);
    CHECK_FALSE(b.taken_local);
    CHECK(std::abs(*b.latitude - 60.5) < 1e-6);
    CHECK(std::abs(*b.longitude + 0.25) < 1e-6);

    // Damaged blocks are no metadata, never a failure of the picture.
    std::vector<unsigned char> damaged = tagged;
    for (std::size_t i = 12; i < 60 && i < damaged.size(); ++i) damaged[i] ^= 0x5A;
    CHECK_NOTHROW(read_exif(jpeg_exif_block(damaged.data(), damaged.size())));
    const std::vector<unsigned char> junk(100, 0xAB);
    CHECK(read_exif(junk) == PhotoMetadata{});
}

TEST_CASE("a sideways photo embeds as the upright one", "[image][photo]") {
    const RgbaImage upright = asymmetric_picture();
    const DualEncoder model = tiny_model("photo", 8, 3);
    const auto& pre = model.config().image.preprocess;
    auto embed = [&](const std::vector<unsigned char>& jpeg, const std::string& name) {
        const Photo photo = decode_photo(jpeg.data(), jpeg.size(), name, ImageLimits{});
        if (name != "raw.jpg") {
            CHECK(photo.image.width == 64);
            CHECK(photo.image.height == 48);
        }
        std::vector<float> pixels(static_cast<std::size_t>(pre.image_size) * pre.image_size * 3);
        preprocess_image(photo.image, pre, pixels.data());
        Tensor batch({1, pre.image_size, pre.image_size, 3});
        std::copy(pixels.begin(), pixels.end(), batch.data());
        return model.encode_images(batch);
    };
    const Tensor reference = embed(encode_jpeg(upright, 95), "upright.jpg");
    for (int o = 2; o <= 8; ++o) {
        PhotoMetadata m;
        m.orientation = o;
        const std::vector<unsigned char> stored =
            jpeg_with_exif(encode_jpeg(turn_upright(upright, inverse_orientation(o)), 95), m);
        const Tensor got = embed(stored, "o" + std::to_string(o) + ".jpg");
        double dot = 0;
        for (std::int64_t i = 0; i < got.numel(); ++i) dot += double(got.data()[i]) * reference.data()[i];
        INFO("orientation " << o);
        CHECK(dot > 0.999);
        // And without the turn it would not be the same picture.
        if (o == 6 || o == 3) {
            const Tensor unturned = embed(encode_jpeg(turn_upright(upright, inverse_orientation(o)), 95), "raw.jpg");
            double raw = 0;
            for (std::int64_t i = 0; i < got.numel(); ++i) raw += double(unturned.data()[i]) * reference.data()[i];
            CHECK(raw < dot);
        }
    }
}

namespace {
double mean_abs_difference(const RgbaImage& a, const RgbaImage& b) {
    REQUIRE(a.width == b.width);
    REQUIRE(a.height == b.height);
    double sum = 0;
    for (std::size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    return sum / static_cast<double>(a.pixels.size());
}
}  // namespace

TEST_CASE("WebP, HEIC and AVIF decode, with their EXIF, inside the limits, and refuse damage clearly",
          "[image][photo][formats]") {
    const RgbaImage picture = asymmetric_picture();
    PhotoMetadata exif;
    exif.orientation = 6;  // the containers' own rotation rules: never turned by EXIF
    exif.taken_local = *parse_exif_datetime("2022:05:04 07:08:09");
    exif.make = "Google";
    exif.model = "Pixel 7";
    exif.latitude = 35.5;
    exif.longitude = 139.25;
    const std::vector<unsigned char> tiff = exif_tiff_block(exif);
    ImageLimits tight;
    tight.max_pixels = 1000;

    SECTION("WebP: lossless exactly, lossy closely, its EXIF chunk read, not turned") {
        const std::vector<unsigned char> lossless = encode_webp(picture, true, tiff);
        CHECK(sniff_image_format(lossless.data(), lossless.size(), "x") == ImageFormat::webp);
        const Photo p = decode_photo(lossless.data(), lossless.size(), "a.webp", ImageLimits{});
        CHECK(p.image.pixels == picture.pixels);
        CHECK(p.metadata.taken_local == exif.taken_local);
        CHECK(p.metadata.camera() == "Google Pixel 7");
        CHECK(p.metadata.orientation == 1);
        const std::vector<unsigned char> lossy = encode_webp(picture, false);
        CHECK(mean_abs_difference(decode_image(lossy.data(), lossy.size(), "b.webp", ImageLimits{}), picture) < 4.0);
        CHECK_THROWS_WITH(decode_image(lossless.data(), lossless.size(), "a.webp", tight),
                          Catch::Contains("64x48 = 3072 pixels exceeds the limit of 1000"));
        std::vector<unsigned char> cut(lossless.begin(), lossless.begin() + static_cast<long>(lossless.size() / 2));
        CHECK_THROWS_WITH(decode_image(cut.data(), cut.size(), "cut.webp", ImageLimits{}),
                          Catch::Contains("cut.webp") && Catch::Contains("WebP"));
        std::vector<unsigned char> damaged = lossless;
        for (std::size_t i = 40; i < damaged.size(); i += 7) damaged[i] ^= 0xA5;
        CHECK_THROWS_WITH(decode_image(damaged.data(), damaged.size(), "bad.webp", ImageLimits{}),
                          Catch::Contains("bad.webp") && Catch::Contains("WebP"));
    }
    SECTION("animated WebP: the first frame, the canvas around it transparent") {
        RgbaImage quarter;
        quarter.width = 32;
        quarter.height = 24;
        quarter.pixels.assign(static_cast<std::size_t>(32) * 24 * 4, 0);
        for (std::size_t i = 0; i < quarter.pixels.size(); i += 4) quarter.pixels[i] = quarter.pixels[i + 3] = 255;
        const std::vector<unsigned char> animated = encode_animated_webp(quarter, picture);
        const RgbaImage first = decode_image(animated.data(), animated.size(), "anim.webp", ImageLimits{});
        REQUIRE(first.width == 64);
        REQUIRE(first.height == 48);
        auto px = [&](int x, int y, int c) { return first.pixels[(static_cast<std::size_t>(y) * 64 + x) * 4 + c]; };
        CHECK(px(5, 5, 0) == 255);  // red, opaque: the first frame
        CHECK(px(5, 5, 3) == 255);
        CHECK(px(50, 40, 3) == 0);  // outside it: transparent, not the second frame
    }
    for (const ImageFormat format : {ImageFormat::heif, ImageFormat::avif}) {
        DYNAMIC_SECTION(image_format_name(format) << ": decoded closely, its EXIF read, limits and damage") {
            const std::vector<unsigned char> bytes = encode_heif(picture, format, tiff);
            CHECK(sniff_image_format(bytes.data(), bytes.size(), "x") == format);
            const Photo p = decode_photo(bytes.data(), bytes.size(), "p", ImageLimits{});
            CHECK(mean_abs_difference(p.image, picture) < 6.0);
            CHECK(p.metadata.taken_local == exif.taken_local);
            CHECK(p.metadata.camera() == "Google Pixel 7");
            REQUIRE(p.metadata.latitude);
            CHECK(*p.metadata.latitude == Approx(35.5));
            CHECK(p.metadata.orientation == 1);
            CHECK_THROWS_WITH(decode_image(bytes.data(), bytes.size(), "big", tight),
                              Catch::Contains("exceeds the limit of 1000"));
            std::vector<unsigned char> cut(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2));
            CHECK_THROWS_WITH(decode_image(cut.data(), cut.size(), "cut.heic", ImageLimits{}),
                              Catch::Contains("cut.heic") && Catch::Contains(image_format_name(format)));
        }
    }
}

namespace {

// The cosine of two pictures' embeddings (unit vectors: their dot product).
double embedding_cosine(const DualEncoder& model, const RgbaImage& a, const RgbaImage& b) {
    const auto& pre = model.config().image.preprocess;
    Tensor batch({2, pre.image_size, pre.image_size, 3});
    const std::size_t per = static_cast<std::size_t>(pre.image_size) * pre.image_size * 3;
    preprocess_image(a, pre, batch.data());
    preprocess_image(b, pre, batch.data() + per);
    const Tensor e = model.encode_images(batch);
    const std::int64_t d = e.numel() / 2;
    double dot = 0;
    for (std::int64_t i = 0; i < d; ++i) dot += double(e.data()[i]) * e.data()[d + i];
    return dot;
}

}  // namespace

TEST_CASE("a large JPEG decoded in the DCT domain at the model's size embeds as the full decode does",
          "[image][photo][formats]") {
    const DualEncoder model = tiny_model("photo", 8, 5);
    for (const std::uint32_t seed : {1u, 3u}) {  // seed 3 is stored sideways (orientation 6)
        const std::vector<unsigned char> jpeg = bench::synthetic_photo_jpeg(1600, 1200, seed);
        const Photo full = decode_photo(jpeg.data(), jpeg.size(), "full.jpg", ImageLimits{}, DecodeHint{0, true});
        const Photo scaled = decode_photo(jpeg.data(), jpeg.size(), "scaled.jpg", ImageLimits{}, DecodeHint{40});
        INFO("seed " << seed);
        CHECK(full.width == 1600);
        CHECK(full.height == 1200);
        CHECK(scaled.width == 1600);  // the whole picture's size, upright, whatever was decoded
        CHECK(scaled.height == 1200);
        CHECK(std::min(scaled.image.width, scaled.image.height) >= 40);
        CHECK(std::min(scaled.image.width, scaled.image.height) < 300);  // 1/8 of 1200 is 150
        CHECK((scaled.image.width > scaled.image.height) == (full.image.width > full.image.height));
        CHECK(embedding_cosine(model, full.image, scaled.image) > 0.999);
    }
}

TEST_CASE("a large WebP scaled while decoding embeds as the full decode does, alpha kept straight",
          "[image][photo][formats]") {
    const DualEncoder model = tiny_model("photo", 8, 5);
    const RgbaImage scene = bench::synthetic_scene(1600, 1200, 7);
    const std::vector<unsigned char> webp = encode_webp(scene, false);
    const Photo full = decode_photo(webp.data(), webp.size(), "full.webp", ImageLimits{});
    const Photo scaled = decode_photo(webp.data(), webp.size(), "scaled.webp", ImageLimits{}, DecodeHint{40});
    CHECK(full.image.width == 1600);
    CHECK(scaled.width == 1600);  // the whole picture's size, whatever was decoded
    CHECK(scaled.height == 1200);
    CHECK(scaled.image.height == 40);
    CHECK(scaled.image.width == 53);
    CHECK(embedding_cosine(model, full.image, scaled.image) > 0.999);

    // Half transparent: scaled premultiplied, so a transparent pixel's colour does not bleed in.
    RgbaImage half{400, 300, std::vector<std::uint8_t>(400 * 300 * 4)};
    for (int y = 0; y < 300; ++y)
        for (int x = 0; x < 400; ++x) {
            std::uint8_t* p = &half.pixels[(static_cast<std::size_t>(y) * 400 + x) * 4];
            const bool left = x < 200;
            p[0] = left ? 255 : 0, p[1] = 0, p[2] = left ? 0 : 255, p[3] = left ? 255 : 0;  // red | clear blue
        }
    const std::vector<unsigned char> clear = encode_webp(half, true);
    const Photo small = decode_photo(clear.data(), clear.size(), "half.webp", ImageLimits{}, DecodeHint{30});
    REQUIRE(small.image.height == 30);
    for (int x = 0; x < small.image.width; ++x) {
        const std::uint8_t* p = &small.image.pixels[(15 * static_cast<std::size_t>(small.image.width) + x) * 4];
        if (p[3] > 0) CHECK(p[2] < 10);  // no blue from the transparent half
    }
}

TEST_CASE("a HEIC's thumbnail is decoded instead of its picture when it is large enough", "[image][photo][formats]") {
    const DualEncoder model = tiny_model("photo", 8, 5);
    const RgbaImage scene = bench::synthetic_scene(640, 480, 9);
    const std::vector<unsigned char> heic = encode_heif(scene, ImageFormat::heif, {}, 160);  // 160x120
    const Photo full = decode_photo(heic.data(), heic.size(), "full.heic", ImageLimits{});
    CHECK(full.image.width == 640);
    const Photo small = decode_photo(heic.data(), heic.size(), "small.heic", ImageLimits{}, DecodeHint{100});
    CHECK(small.width == 640);  // the picture's size, whatever was decoded
    CHECK(small.height == 480);
    CHECK(small.image.width == 160);
    CHECK(small.image.height == 120);
    CHECK(embedding_cosine(model, full.image, small.image) > 0.999);
    // A thumbnail smaller than the hint asks for is not used.
    const Photo needs_more = decode_photo(heic.data(), heic.size(), "big.heic", ImageLimits{}, DecodeHint{200});
    CHECK(needs_more.image.width == 640);
}
