// The challenge augmentations: sizes, exact identity at strength 0, determinism, and the
// caption rules (no colour removal where a colour is named, no mirror image where a direction
// or a flag/arrow/letter is).
#include <catch2/catch.hpp>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "image/encode.h"
#include "tests/test_support.h"
#include "train/image_augment.h"

using namespace opsis;
using namespace opsis::train;

namespace {

std::uint8_t* px(RgbaImage& img, int x, int y) {
    return img.pixels.data() + (static_cast<std::size_t>(y) * img.width + x) * 4;
}
const std::uint8_t* px(const RgbaImage& img, int x, int y) {
    return img.pixels.data() + (static_cast<std::size_t>(y) * img.width + x) * 4;
}

// An emoji-like picture on a transparent square: a yellow face with dark eyes, a red mouth and a
// blue blob on its right side only (so a mirror image is easy to tell).
RgbaImage emoji(int side = 72) {
    RgbaImage img;
    img.width = img.height = side;
    img.pixels.assign(static_cast<std::size_t>(side) * side * 4, 0);
    const float c = side * 0.5f, r = side * 0.36f;
    for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x) {
            const float u = (x + 0.5f - c) / r, v = (y + 0.5f - c) / r;
            std::uint8_t* p = px(img, x, y);
            auto set = [&](int R, int G, int B) {
                p[0] = static_cast<std::uint8_t>(R);
                p[1] = static_cast<std::uint8_t>(G);
                p[2] = static_cast<std::uint8_t>(B);
                p[3] = 255;
            };
            if ((u - 1.05f) * (u - 1.05f) + (v + 0.6f) * (v + 0.6f) < 0.12f)
                set(40, 90, 230);  // blue blob, right
            else if (u * u + v * v < 1.0f) {
                set(250, 200, 40);
                if ((u + 0.35f) * (u + 0.35f) + (v + 0.3f) * (v + 0.3f) < 0.02f) set(50, 30, 20);
                if ((u - 0.35f) * (u - 0.35f) + (v + 0.3f) * (v + 0.3f) < 0.02f) set(50, 30, 20);
                if (v > 0.25f && v < 0.5f && std::abs(u) < 0.5f - (v - 0.25f)) set(220, 30, 40);
            }
        }
    return img;
}

// An opaque "photo": a sky gradient, green ground, a red house with a dark door left of centre.
RgbaImage photo(int side = 72) {
    RgbaImage img;
    img.width = img.height = side;
    img.pixels.assign(static_cast<std::size_t>(side) * side * 4, 255);
    for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x) {
            std::uint8_t* p = px(img, x, y);
            const float t = static_cast<float>(y) / side;
            if (t < 0.65f) {
                p[0] = static_cast<std::uint8_t>(120 + 100 * t);
                p[1] = static_cast<std::uint8_t>(170 + 60 * t);
                p[2] = 240;
            } else {
                p[0] = 60;
                p[1] = static_cast<std::uint8_t>(150 - 40 * t);
                p[2] = 50;
            }
            if (x > side / 4 && x < side * 3 / 4 && y > side / 3 && y < side * 3 / 4) {
                p[0] = 200;
                p[1] = 50;
                p[2] = 40;
                if (x > side * 3 / 8 && x < side / 2 && y > side / 2) p[0] = p[1] = p[2] = 40;
            }
        }
    return img;
}

RgbaImage top_left(const RgbaImage& img, int width, int height) {
    RgbaImage out;
    out.width = width;
    out.height = height;
    for (int y = 0; y < height; ++y) out.pixels.insert(out.pixels.end(), px(img, 0, y), px(img, 0, y) + width * 4);
    return out;
}

RgbaImage mirrored(const RgbaImage& img) {
    RgbaImage out = img;
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x) std::copy_n(px(img, img.width - 1 - x, y), 4, px(out, x, y));
    return out;
}

double distance(const RgbaImage& a, const RgbaImage& b) {
    double d = 0;
    for (std::size_t i = 0; i < a.pixels.size(); ++i) d += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    return d / static_cast<double>(a.pixels.size());
}

CaptionFacts facts_en(std::string caption) { return caption_facts({std::move(caption)}, {}); }
CaptionFacts facts_el(std::string caption) { return caption_facts({}, {std::move(caption)}); }

}  // namespace

TEST_CASE("challenge names round-trip", "[image_augment]") {
    REQUIRE(all_challenges().size() == 8);
    for (Challenge c : all_challenges()) CHECK(challenge_from_name(challenge_name(c)) == c);
    CHECK(std::string(challenge_name(Challenge::background_clutter)) == "background-clutter");
    CHECK(std::string(challenge_name(Challenge::fast_motion)) == "fast-motion");
    CHECK(std::string(challenge_name(Challenge::colour_removal)) == "colour-removal");
    CHECK(challenge_from_name("colour_removal") == Challenge::colour_removal);
    CHECK_FALSE(challenge_from_name("blur").has_value());
    CHECK_FALSE(challenge_from_name("").has_value());
}

// The corpus builder leaves out a definition naming a colour (data/corpus/splits.py's
// COLOUR_WORDS, a list of its own in Python); each of its words must be one that keeps training
// from greying the picture here too.
TEST_CASE("the corpus builder's colour words are colours to caption facts (data/corpus/splits.py)",
          "[image_augment]") {
    const std::set<std::string> words = opsis::test::python_word_set("data/corpus/splits.py", "COLOUR_WORDS");
    CHECK(words.size() > 40);
    for (const std::string& word : words) {
        INFO(word);
        CHECK(facts_en(word).names_colour);
    }
}

TEST_CASE("caption facts: colours, skin tones, directions, flags and arrows, English and Greek", "[image_augment]") {
    SECTION("colours") {
        CHECK(facts_en("a red apple").names_colour);
        CHECK(facts_en("Green Heart").names_colour);
        CHECK(facts_en("GREY cat").names_colour);
        CHECK(facts_en("a colourful kite").names_colour);
        CHECK(facts_en("woman: blond hair").names_colour);
        CHECK_FALSE(facts_en("apple").names_colour);
        CHECK_FALSE(facts_en("reduced price, bluetooth, redo").names_colour);  // whole words only
        CHECK(facts_el("κόκκινο μήλο").names_colour);
        CHECK(facts_el("ΚΌΚΚΙΝΟ ΜΉΛΟ").names_colour);
        CHECK(facts_el("κο\xcc\x81κκινο").names_colour);  // a decomposed accent
        CHECK(facts_el("μπλε καρδιά").names_colour);
        CHECK(facts_el("μαύρη γάτα").names_colour);
        CHECK(facts_el("λευκό λουλούδι").names_colour);
        CHECK(facts_el("ροζ").names_colour);
        CHECK_FALSE(facts_el("μήλο").names_colour);
        CHECK_FALSE(facts_el("μπλέξιμο").names_colour);  // μπλε is a whole word, not a stem
    }
    SECTION("skin tones") {
        CHECK(facts_en("thumbs up: medium skin tone").names_colour);
        CHECK(facts_en("waving hand: medium-dark skin tone").names_colour);
        CHECK(facts_el("αντίχειρας πάνω: μεσαίος τόνος δέρματος").names_colour);
        CHECK(facts_el("χέρι: ανοιχτή απόχρωση").names_colour);
        CHECK_FALSE(facts_en("skin care").names_colour);
    }
    SECTION("directions and things a mirror changes") {
        CHECK(facts_en("person walking facing right").names_direction);
        CHECK(facts_en("backhand index pointing LEFT").names_direction);
        CHECK(facts_en("counterclockwise arrows button").names_direction);
        CHECK(facts_en("anti-clockwise").names_direction);
        CHECK(facts_en("flag: Greece").names_direction);
        CHECK(facts_en("up arrow").names_direction);
        CHECK(facts_en("regional indicator letter A").names_direction);
        CHECK(facts_en("keycap: 7").names_direction);
        CHECK(facts_en("stop sign").names_direction);
        CHECK_FALSE(facts_en("apple").names_direction);
        CHECK_FALSE(facts_en("bright sunflower, copyright-free").names_direction);  // right only as a whole word
        CHECK(facts_el("άνθρωπος που περπατά προς τα δεξιά").names_direction);
        CHECK(facts_el("Αριστερό βέλος").names_direction);
        CHECK(facts_el("βέλος προς τα πάνω").names_direction);
        CHECK(facts_el("σημαία: Ελλάδα").names_direction);
        CHECK(facts_el("δεξιόστροφα βέλη").names_direction);
        CHECK(facts_el("αριστερόστροφα").names_direction);
        CHECK_FALSE(facts_el("μήλο").names_direction);
    }
    SECTION("all captions of an item count, in either language") {
        const CaptionFacts f = caption_facts({"apple", "a fruit"}, {"κόκκινο μήλο"});
        CHECK(f.names_colour);
        CHECK_FALSE(f.names_direction);
        const CaptionFacts g = caption_facts({"apple", "white flag"}, {});
        CHECK(g.names_colour);
        CHECK(g.names_direction);
        const CaptionFacts none = caption_facts({}, {});
        CHECK_FALSE(none.names_colour);
        CHECK_FALSE(none.names_direction);
    }
    SECTION("invalid UTF-8 does not throw") {
        CHECK(facts_en("red\xff\xfe apple").names_colour);
        CHECK_FALSE(facts_en("\xc3").names_colour);
    }
}

TEST_CASE("every challenge keeps the size, is exactly the identity at strength 0, and is deterministic",
          "[image_augment]") {
    const RgbaImage pictures[] = {emoji(), photo(), emoji(31), top_left(emoji(), 40, 24)};  // not only squares
    const CaptionFacts facts;
    for (const RgbaImage& img : pictures)
        for (Challenge c : all_challenges()) {
            INFO(challenge_name(c) << " on " << img.width << "x" << img.height);
            std::mt19937_64 rng(7);
            CHECK(apply_challenge(img, c, 0.0f, facts, rng).pixels == img.pixels);
            CHECK(apply_challenge(img, c, -1.0f, facts, rng).pixels == img.pixels);
            CHECK(apply_challenge(img, c, std::nanf(""), facts, rng).pixels == img.pixels);
            bool any_changed = false;
            for (float s : {1e-6f, 0.3f, 0.7f, 1.0f, 5.0f})
                for (std::uint64_t seed = 0; seed < 4; ++seed) {
                    std::mt19937_64 a(seed), b(seed);
                    const RgbaImage x = apply_challenge(img, c, s, facts, a);
                    const RgbaImage y = apply_challenge(img, c, s, facts, b);
                    REQUIRE(x.width == img.width);
                    REQUIRE(x.height == img.height);
                    REQUIRE(x.pixels.size() == img.pixels.size());
                    CHECK(x.pixels == y.pixels);
                    if (s >= 0.3f) any_changed = any_changed || x.pixels != img.pixels;
                }
            const bool opaque = std::all_of(img.pixels.begin() + 3, img.pixels.end(),
                                            [&, i = 0](std::uint8_t v) mutable { return (i++ % 4) != 0 || v == 255; });
            if (!(c == Challenge::background_clutter && opaque)) CHECK(any_changed);  // nothing behind an opaque photo
        }
}

TEST_CASE("degenerate images: tiny, fully transparent, and a bad buffer", "[image_augment]") {
    RgbaImage tiny;
    tiny.width = tiny.height = 1;
    tiny.pixels = {10, 20, 30, 255};
    RgbaImage clear;
    clear.width = clear.height = 16;
    clear.pixels.assign(16 * 16 * 4, 0);
    RgbaImage empty;
    for (const RgbaImage* img : {&tiny, &clear, &empty})
        for (Challenge c : all_challenges()) {
            std::mt19937_64 rng(3);
            const RgbaImage out = apply_challenge(*img, c, 1.0f, CaptionFacts{}, rng);
            CHECK(out.width == img->width);
            CHECK(out.pixels.size() == img->pixels.size());
        }
    RgbaImage bad;
    bad.width = bad.height = 4;
    bad.pixels.assign(10, 0);
    std::mt19937_64 rng(1);
    CHECK_THROWS(apply_challenge(bad, Challenge::scale, 0.5f, CaptionFacts{}, rng));
}

TEST_CASE("colour removal never touches a picture whose captions name a colour", "[image_augment]") {
    const RgbaImage img = emoji();
    for (const CaptionFacts& f :
         {facts_en("red apple"), facts_el("κόκκινο μήλο"), facts_en("thumbs up: medium skin tone")}) {
        REQUIRE(f.names_colour);
        for (float s : {0.2f, 0.5f, 0.8f, 1.0f})
            for (std::uint64_t seed = 0; seed < 3; ++seed) {
                std::mt19937_64 rng(seed);
                CHECK(apply_challenge(img, Challenge::colour_removal, s, f, rng).pixels == img.pixels);
            }
        RandomAugmentOptions only;
        only.probability.fill(0.0f);
        only[Challenge::colour_removal] = 1.0f;
        only.max_strength = 1.0f;
        std::mt19937_64 rng(5);
        CHECK(random_augment(img, f, rng, only).pixels == img.pixels);
    }
}

TEST_CASE("colour removal makes visible pixels grey for a caption without colours", "[image_augment]") {
    const CaptionFacts f = facts_en("apple");
    REQUIRE_FALSE(f.names_colour);
    for (const RgbaImage& img : {emoji(), photo()})
        for (float s : {0.5f, 0.7f, 1.0f}) {
            std::mt19937_64 rng(1);
            const RgbaImage out = apply_challenge(img, Challenge::colour_removal, s, f, rng);
            int visible = 0;
            for (std::size_t i = 0; i < out.pixels.size(); i += 4)
                if (out.pixels[i + 3] > 0) {
                    ++visible;
                    CHECK(out.pixels[i] == out.pixels[i + 1]);
                    CHECK(out.pixels[i] == out.pixels[i + 2]);
                }
            CHECK(visible > 0);
        }
    // Line art at full strength: the picture's outline is drawn, its flat inside is not.
    std::mt19937_64 rng(1);
    const RgbaImage art = apply_challenge(emoji(), Challenge::colour_removal, 1.0f, f, rng);
    CHECK(px(art, 36, 50)[3] == 0);  // inside the face (between eyes and mouth)
    int outline = 0;
    for (int x = 0; x < 72; ++x) outline += px(art, x, 36)[3] > 128;
    CHECK(outline >= 2);
}

TEST_CASE("viewpoint never mirrors a picture whose captions name a direction", "[image_augment]") {
    const RgbaImage img = emoji();
    const RgbaImage mirror = mirrored(img);
    REQUIRE(distance(img, mirror) > 5.0);
    auto count_mirrored = [&](const CaptionFacts& f) {
        int flips = 0;
        for (std::uint64_t seed = 0; seed < 200; ++seed) {
            std::mt19937_64 rng(seed);
            const RgbaImage out = apply_challenge(img, Challenge::viewpoint, 1e-6f, f, rng);
            const double to_original = distance(out, img), to_mirror = distance(out, mirror);
            REQUIRE(std::min(to_original, to_mirror) < 0.5);  // nothing but (maybe) a mirror at this strength
            flips += to_mirror < to_original;
        }
        return flips;
    };
    CHECK(count_mirrored(facts_en("person walking facing right")) == 0);
    CHECK(count_mirrored(facts_el("σημαία: Ελλάδα")) == 0);
    const int apple = count_mirrored(facts_en("apple"));
    CHECK(apple > 50);
    CHECK(apple < 150);
}

TEST_CASE("illumination keeps alpha and the order of the channels", "[image_augment]") {
    RgbaImage img = emoji();
    std::copy_n(std::array<std::uint8_t, 4>{200, 40, 40, 255}.data(), 4, px(img, 36, 36));
    std::copy_n(std::array<std::uint8_t, 4>{128, 128, 128, 200}.data(), 4, px(img, 0, 0));
    bool changed = false;
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        std::mt19937_64 rng(seed);
        const RgbaImage out = apply_challenge(img, Challenge::illumination, 1.0f, CaptionFacts{}, rng);
        for (std::size_t i = 3; i < img.pixels.size(); i += 4) REQUIRE(out.pixels[i] == img.pixels[i]);
        const std::uint8_t* red = px(out, 36, 36);
        CHECK(red[0] > red[1]);
        CHECK(red[0] > red[2]);
        const std::uint8_t* grey = px(out, 0, 0);
        CHECK((grey[0] == grey[1] && grey[1] == grey[2]));
        changed = changed || red[0] != 200;
    }
    CHECK(changed);
}

TEST_CASE("occlusion hides some of the visible picture and keeps the rest", "[image_augment]") {
    const RgbaImage img = emoji();
    int visible = 0;
    for (std::size_t i = 3; i < img.pixels.size(); i += 4) visible += img.pixels[i] > 0;
    for (std::uint64_t seed = 0; seed < 30; ++seed) {
        std::mt19937_64 rng(seed);
        const RgbaImage out = apply_challenge(img, Challenge::occlusion, 1.0f, CaptionFacts{}, rng);
        int changed_visible = 0, changed = 0;
        for (std::size_t i = 0; i < img.pixels.size(); i += 4) {
            const bool diff = !std::equal(img.pixels.begin() + i, img.pixels.begin() + i + 4, out.pixels.begin() + i);
            changed += diff;
            if (img.pixels[i + 3] > 0) changed_visible += diff;
        }
        CHECK(changed_visible > 0);
        CHECK(changed_visible < visible);
        CHECK(changed <= 0.26 * 72 * 72 + 3 * 72);  // about a quarter of the square at most
    }
}

TEST_CASE("background clutter makes an opaque picture", "[image_augment]") {
    const RgbaImage img = emoji();
    RgbaImage clutter = photo();
    for (float s : {0.01f, 0.5f, 1.0f})
        for (std::uint64_t seed = 0; seed < 12; ++seed) {  // all four procedural kinds, and the given picture
            std::mt19937_64 rng(seed);
            const RgbaImage out = apply_challenge(img, Challenge::background_clutter, s, CaptionFacts{}, rng);
            for (std::size_t i = 3; i < out.pixels.size(); i += 4) REQUIRE(out.pixels[i] == 255);
            const RgbaImage with =
                apply_challenge(img, Challenge::background_clutter, s, CaptionFacts{}, rng, &clutter);
            for (std::size_t i = 3; i < with.pixels.size(); i += 4) REQUIRE(with.pixels[i] == 255);
            // The visible picture stays where it was; a fully transparent pixel shows the background.
            CHECK(std::equal(px(img, 36, 36), px(img, 36, 36) + 3, px(with, 36, 36)));
            if (s == 1.0f) CHECK(std::equal(px(clutter, 1, 1), px(clutter, 1, 1) + 3, px(with, 1, 1)));
            if (s == 0.01f) CHECK(px(out, 1, 1)[0] >= 250);  // nearly white
        }
    // A clutter picture of another size is resized.
    const RgbaImage big = photo(100);
    std::mt19937_64 rng(2);
    const RgbaImage out = apply_challenge(img, Challenge::background_clutter, 1.0f, CaptionFacts{}, rng, &big);
    CHECK(out.width == 72);
}

TEST_CASE("resampling challenges blend with premultiplied alpha (no dark fringes)", "[image_augment]") {
    RgbaImage img;
    img.width = img.height = 48;
    img.pixels.assign(48 * 48 * 4, 0);  // transparent black around ...
    for (int y = 14; y < 34; ++y)
        for (int x = 14; x < 34; ++x) std::copy_n(std::array<std::uint8_t, 4>{255, 0, 0, 255}.data(), 4, px(img, x, y));
    for (Challenge c : {Challenge::viewpoint, Challenge::deformation, Challenge::fast_motion})
        for (std::uint64_t seed = 0; seed < 5; ++seed) {
            INFO(challenge_name(c));
            std::mt19937_64 rng(seed);
            const RgbaImage out = apply_challenge(img, c, 1.0f, CaptionFacts{}, rng);
            int partial = 0;
            for (std::size_t i = 0; i < out.pixels.size(); i += 4)
                if (out.pixels[i + 3] > 8) {
                    CHECK(out.pixels[i] >= 250);  // ... an opaque red square: every visible pixel stays red
                    CHECK(out.pixels[i + 1] == 0);
                    partial += out.pixels[i + 3] < 250;
                }
            CHECK(partial > 0);
        }
}

TEST_CASE("scale zooms out onto transparency or zooms in on the centre", "[image_augment]") {
    const RgbaImage img = emoji();
    int out_count = 0, in_count = 0;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        std::mt19937_64 rng(seed);
        const RgbaImage out = apply_challenge(img, Challenge::scale, 1.0f, CaptionFacts{}, rng);
        int opaque_before = 0, opaque_after = 0;
        for (std::size_t i = 3; i < img.pixels.size(); i += 4) {
            opaque_before += img.pixels[i] > 128;
            opaque_after += out.pixels[i] > 128;
        }
        if (opaque_after < opaque_before * 0.4)
            ++out_count;  // half the side: a quarter of the area
        else if (opaque_after > opaque_before * 1.5)
            ++in_count;  // 0.6 of the side: 2.8 times the area
    }
    CHECK(out_count > 0);
    CHECK(in_count > 0);
    CHECK(out_count + in_count == 20);
}

TEST_CASE("random augment: probabilities, determinism, identity when nothing is chosen", "[image_augment]") {
    const RgbaImage img = emoji();
    RandomAugmentOptions none;
    none.probability.fill(0.0f);
    std::mt19937_64 rng(9);
    CHECK(random_augment(img, CaptionFacts{}, rng, none).pixels == img.pixels);
    RandomAugmentOptions defaults;
    CHECK(defaults[Challenge::colour_removal] == Approx(0.15f));
    CHECK(defaults[Challenge::background_clutter] == Approx(0.2f));
    CHECK(defaults[Challenge::viewpoint] == Approx(0.25f));
    CHECK(defaults.max_strength == Approx(0.7f));
    int changed = 0;
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
        std::mt19937_64 a(seed), b(seed);
        const RgbaImage x = random_augment(img, CaptionFacts{}, a, defaults);
        const RgbaImage y = random_augment(img, CaptionFacts{}, b, defaults);
        REQUIRE(x.width == img.width);
        REQUIRE(x.pixels.size() == img.pixels.size());
        CHECK(x.pixels == y.pixels);
        changed += x.pixels != img.pixels;
    }
    CHECK(changed > 20);  // 1 - 0.75^6 * 0.8 * 0.85 ~ 0.88 of the pairs get something
}

// Not run by default: draws every challenge at strengths 1/3, 2/3 and 1 (over a checkerboard
// where transparent) for an emoji-like picture and an opaque one, to look at.
TEST_CASE("augmentation grid picture", "[.][augment_grid]") {
    const RgbaImage pictures[] = {emoji(), photo()};
    const int cell = 72, zoom = 2, cols = 8, rows = 8, gap = 4;
    RgbaImage grid;
    grid.width = cols * (cell * zoom + gap);
    grid.height = rows * (cell * zoom + gap);
    grid.pixels.assign(static_cast<std::size_t>(grid.width) * grid.height * 4, 255);
    int row = 0;
    for (Challenge c : all_challenges()) {
        for (int col = 0; col < cols; ++col) {
            const RgbaImage& src = pictures[col / 4];
            const int step = col % 4;
            std::mt19937_64 rng(100 + col + 10 * row);
            const RgbaImage out =
                step == 0 ? src : apply_challenge(src, c, static_cast<float>(step) / 3.0f, CaptionFacts{}, rng);
            for (int y = 0; y < cell * zoom; ++y)
                for (int x = 0; x < cell * zoom; ++x) {
                    const std::uint8_t* p = px(out, x / zoom, y / zoom);
                    const float a = p[3] / 255.0f;
                    const float back = ((x / 8 + y / 8) & 1) ? 200.0f : 235.0f;
                    std::uint8_t* q = px(grid, col * (cell * zoom + gap) + x, row * (cell * zoom + gap) + y);
                    for (int k = 0; k < 3; ++k) q[k] = static_cast<std::uint8_t>(p[k] * a + back * (1 - a) + 0.5f);
                    q[3] = 255;
                }
        }
        ++row;
    }
    const std::vector<unsigned char> png = encode_png(grid);
    std::ofstream("/tmp/augment_grid.png", std::ios::binary)
        .write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
}

// Not run by default: the cost of each challenge on a 72x72 picture.
TEST_CASE("augmentation timing", "[.][augment_timing]") {
    const RgbaImage img = emoji();
    for (Challenge c : all_challenges())
        for (float s : {0.5f, 1.0f}) {
            std::mt19937_64 rng(1);
            const int n = 2000;
            std::size_t sink = 0;
            const std::clock_t t0 = std::clock();  // processor time: others share the machine
            for (int i = 0; i < n; ++i) sink += apply_challenge(img, c, s, CaptionFacts{}, rng).pixels[100];
            const double us = 1e6 * static_cast<double>(std::clock() - t0) / CLOCKS_PER_SEC / n;
            std::printf("%-20s strength %.1f: %7.1f us  (%zu)\n", challenge_name(c), s, us, sink % 2);
        }
    std::mt19937_64 rng(1);
    const int n = 2000;
    const std::clock_t t0 = std::clock();
    for (int i = 0; i < n; ++i) random_augment(img, CaptionFacts{}, rng);
    std::printf("%-20s             : %7.1f us\n", "random_augment",
                1e6 * static_cast<double>(std::clock() - t0) / CLOCKS_PER_SEC / n);
}
