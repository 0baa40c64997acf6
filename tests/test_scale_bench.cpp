// The scale benchmark's own pieces: the lifted model (vectors placed in more dimensions with
// cosines unchanged) and the synthetic index made through the catalog's bulk path or batches,
// the real index's pictures and captions first.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "benchmarks/lifted_model.h"
#include "benchmarks/synthetic_index.h"
#include "encoder/dual_encoder.h"
#include "index_folder/open_index.h"
#include "storage/index_store.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::test;
using storage::Collection;

namespace {

double dot(const float* a, const float* b, std::size_t n) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
    return s;
}

}  // namespace

TEST_CASE("the lift map has orthonormal columns and is the same on every call", "[bench][scale]") {
    const std::vector<float> map = bench::lift_map(8, 20);
    REQUIRE(map.size() == 160u);
    for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 8; ++j) {
            double d = 0;
            for (int r = 0; r < 20; ++r) d += static_cast<double>(map[r * 8 + i]) * map[r * 8 + j];
            CHECK(d == Approx(i == j ? 1.0 : 0.0).margin(1e-5));
        }
    CHECK(bench::lift_map(8, 20) == map);
    REQUIRE_THROWS_WITH(bench::lift_map(8, 4), Catch::Contains("'4': must be at least the model's 8"));
}

TEST_CASE("a lifted model embeds as the original placed by the map: cosines unchanged", "[bench][scale]") {
    TempDir dir;
    const std::string original = init_tiny_model(dir, "base", 3);
    const std::string lifted = bench::lifted_model(original, 20, dir.file("cache"));
    CHECK(bench::lifted_model(original, 20, dir.file("cache")) == lifted);  // made once
    const DualEncoder a = DualEncoder::load(original), b = DualEncoder::load(lifted);
    REQUIRE(b.config().embed_dim == 20);
    const std::vector<float> map = bench::lift_map(8, 20);
    const std::vector<std::string> texts{"a red apple", "σημαία της Ελλάδας"};
    const Tensor ta = a.encode_texts(texts), tb = b.encode_texts(texts);
    std::vector<RgbaImage> pictures;
    for (std::uint32_t seed : {1u, 2u}) {
        const std::vector<unsigned char> png = random_png(seed, 20);
        pictures.push_back(decode_image(png.data(), png.size(), "p.png", ImageLimits{}));
    }
    const Tensor ia = a.encode_images(a.preprocess(pictures)), ib = b.encode_images(b.preprocess(pictures));
    std::vector<float> placed(20);
    for (const auto& [small, big] : {std::pair{&ta, &tb}, std::pair{&ia, &ib}})
        for (int i = 0; i < 2; ++i) {
            bench::lift(map, 8, 20, small->data() + i * 8, placed.data(), 1);
            for (int k = 0; k < 20; ++k) CHECK(big->data()[i * 20 + k] == Approx(placed[k]).margin(1e-5));
        }
    CHECK(dot(tb.data(), ib.data(), 20) == Approx(dot(ta.data(), ia.data(), 8)).margin(1e-5));
}

TEST_CASE("a synthetic index: the real items first, lifted, then generated ones, by bulks or batches",
          "[bench][scale]") {
    TempDir dir;
    const std::string base = init_tiny_model(dir, "base", 4);
    const DualEncoder model = DualEncoder::load(base);
    // A "real" index: 6 pictures with paths and sources, 4 captions.
    std::mt19937 rng(5);
    std::normal_distribution<float> g;
    auto unit = [&] {
        std::vector<float> v(8);
        double n = 0;
        for (float& x : v) x = g(rng), n += x * x;
        for (float& x : v) x /= static_cast<float>(std::sqrt(n));
        return v;
    };
    std::map<std::string, std::vector<float>> real_vectors;
    {
        auto store = storage::IndexStore::open(dir.file("real"), identify_model(base, model), true);
        storage::Catalog::Batch b(store->catalog());
        for (int k = 0; k < 6; ++k) {
            storage::Item it;
            it.hash = "picture" + std::to_string(k);
            it.source = "demo";
            const std::vector<float> v = unit();
            real_vectors[it.hash] = v;
            b.add_path(b.add_item(Collection::images, it, v.data(), 8), "/demo/" + std::to_string(k) + ".png", 10, 20);
        }
        for (int k = 0; k < 4; ++k) {
            storage::Item it;
            it.hash = "caption" + std::to_string(k);
            it.text = "caption " + std::to_string(k);
            const std::vector<float> v = unit();
            real_vectors[it.hash] = v;
            b.add_item(Collection::texts, it, v.data(), 8);
        }
        store->commit(b);
    }
    const std::vector<float> map = bench::lift_map(8, 20);
    for (const bool batches : {false, true}) {
        bench::SyntheticIndexOptions o;
        o.images = 700;
        o.factory = "IVF2,PQ4x4";
        o.base_model = base;
        o.model = bench::lifted_model(base, 20, dir.file("cache"));
        o.dim = 20;
        o.real = dir.file("real");
        o.batches = batches;
        o.cache = dir.file("cache");
        const bench::SyntheticIndex made = bench::synthetic_index(o);
        CHECK(made.made_now);
        CHECK(made.build.at("real_images") == 6);
        CHECK(made.build.at("real_texts") == 4);
        CHECK(made.build.at("images") == 700);
        CHECK(made.build.contains("loading_s"));
        CHECK_FALSE(bench::synthetic_index(o).made_now);  // cached
        auto store = storage::IndexStore::open(made.dir, std::nullopt, false);
        const storage::Catalog& cat = store->catalog();
        CHECK(cat.item_count(Collection::images) == 700);
        CHECK(cat.item_count(Collection::texts) == 4);
        CHECK(store->vectors(Collection::images).is_trained());
        CHECK(store->vectors(Collection::images).size() == 700);
        const auto first = cat.item(Collection::images, 1);
        REQUIRE(first);
        CHECK(first->hash == "picture0");
        CHECK(first->source == "demo");
        CHECK(cat.find_path("/demo/0.png").value().size == 10);
        std::vector<float> placed(20);
        for (const auto& [c, id, hash] :
             {std::tuple{Collection::images, 3, "picture2"}, std::tuple{Collection::texts, 2, "caption1"}}) {
            const std::vector<float> stored = cat.vector(c, id);
            bench::lift(map, 8, 20, real_vectors.at(hash).data(), placed.data(), 1);
            REQUIRE(stored.size() == 20u);
            for (int k = 0; k < 20; ++k) CHECK(stored[static_cast<std::size_t>(k)] == Approx(placed[k]).margin(1e-6));
        }
        CHECK(cat.find_hash(Collection::images, "synthetic-699").has_value());
        const storage::VerifyReport report = store->verify();
        for (const std::string& p : report.problems) UNSCOPED_INFO(p);
        CHECK(report.ok());
    }
}
