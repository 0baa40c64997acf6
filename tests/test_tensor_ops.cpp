// Every optimised op against its plain-loop reference on random data.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.h"
#include "encoder/blas.h"
#include "encoder/fast_math.h"
#include "encoder/ops.h"
#include "tests/reference_ops.h"
#include "tests/test_support.h"

using namespace opsis;
using opsis::test::max_abs_diff;
using opsis::test::random_tensor;

TEST_CASE("tensor shapes are checked", "[tensor]") {
    Tensor t({2, 3, 4});
    CHECK(t.numel() == 24);
    CHECK(t.reshaped({6, -1}).shape() == Shape{6, 4});
    CHECK_THROWS_AS(t.reshaped({5, -1}), Error);
    CHECK_THROWS_AS(Tensor({2, 2}, std::vector<float>(3)), Error);
    CHECK_THROWS_AS(Tensor({-1, 2}), Error);
    CHECK_THROWS_WITH(expect_shape("op", "x", t, {2, 3, 5}),
                      Catch::Contains("op: x has shape [2, 3, 4], expected [2, 3, 5]"));
}

TEST_CASE("conv2d matches the reference for strides, padding, groups and 1x1", "[ops]") {
    std::mt19937 rng(1);
    struct Case {
        int n, h, w, c, oc, k, stride, pad, groups;
        bool bias;
    };
    const Case cases[] = {
        {2, 9, 7, 3, 8, 3, 1, 1, 1, true},  {1, 10, 10, 4, 6, 3, 2, 1, 2, false}, {3, 8, 8, 5, 7, 1, 1, 0, 1, true},
        {1, 8, 8, 6, 6, 3, 1, 1, 6, true},  {2, 12, 12, 3, 4, 4, 4, 0, 1, false}, {1, 5, 6, 2, 3, 5, 2, 2, 1, true},
        {1, 7, 7, 8, 8, 1, 2, 0, 1, false},
    };
    for (const Case& c : cases) {
        const Tensor x = random_tensor({c.n, c.h, c.w, c.c}, rng);
        const Tensor w = random_tensor({c.oc, c.c / c.groups, c.k, c.k}, rng);
        const Tensor b = c.bias ? random_tensor({c.oc}, rng) : Tensor();
        const Tensor got = ops::conv2d(x, ops::pack_conv2d(w, b, c.stride, c.pad, c.groups));
        const Tensor want = reference::conv2d(x, w, b, c.stride, c.pad, c.groups);
        INFO("case k=" << c.k << " stride=" << c.stride << " pad=" << c.pad << " groups=" << c.groups);
        CHECK(max_abs_diff(got, want) < 1e-4f);
    }
}

TEST_CASE("conv2d rejects mismatched input and impossible geometry", "[ops]") {
    std::mt19937 rng(2);
    const auto conv = ops::pack_conv2d(random_tensor({4, 3, 3, 3}, rng), Tensor(), 1, 1, 1);
    CHECK_THROWS_WITH(ops::conv2d(Tensor({1, 8, 8, 5}), conv), Catch::Contains("conv2d: input has shape"));
    CHECK_THROWS_AS(
        ops::conv2d(Tensor({1, 0, 8, 3}), ops::pack_conv2d(random_tensor({4, 3, 3, 3}, rng), Tensor(), 1, 0, 1)),
        Error);
    CHECK_THROWS_AS(ops::pack_conv2d(random_tensor({5, 3, 3, 3}, rng), Tensor(), 1, 1, 2), Error);
}

TEST_CASE("batch-norm folded into a conv equals conv then batch-norm", "[ops]") {
    std::mt19937 rng(3);
    const Tensor x = random_tensor({2, 6, 6, 3}, rng);
    Tensor w = random_tensor({5, 3, 3, 3}, rng);
    const Tensor gamma = random_tensor({5}, rng), beta = random_tensor({5}, rng), mean = random_tensor({5}, rng);
    Tensor var = random_tensor({5}, rng);
    for (std::int64_t i = 0; i < 5; ++i) var[i] = std::abs(var[i]) + 0.1f;
    const Tensor want =
        reference::batch_norm(reference::conv2d(x, w, Tensor(), 1, 1, 1), gamma, beta, mean, var, 1e-5f);
    CHECK(max_abs_diff(ops::batch_norm(reference::conv2d(x, w, Tensor(), 1, 1, 1), gamma, beta, mean, var, 1e-5f),
                       want) < 1e-4f);
    Tensor bias;
    ops::fold_batch_norm(w, bias, gamma, beta, mean, var, 1e-5f);
    CHECK(max_abs_diff(ops::conv2d(x, ops::pack_conv2d(w, bias, 1, 1, 1)), want) < 1e-4f);
}

TEST_CASE("pooling matches the reference", "[ops]") {
    std::mt19937 rng(4);
    const Tensor x = random_tensor({2, 9, 8, 3}, rng);
    CHECK(max_abs_diff(ops::max_pool2d(x, 3, 2, 1), reference::pool2d(x, 3, 2, 1, true)) < 1e-6f);
    CHECK(max_abs_diff(ops::max_pool2d(x, 2, 2, 0), reference::pool2d(x, 2, 2, 0, true)) < 1e-6f);
    CHECK(max_abs_diff(ops::avg_pool2d(x, 3, 2, 1), reference::pool2d(x, 3, 2, 1, false)) < 1e-5f);
    const Tensor g = ops::global_avg_pool(x);
    const Tensor want = reference::pool2d(x, 1, 1, 0, false);  // identity, then average by hand
    for (int b = 0; b < 2; ++b)
        for (int c = 0; c < 3; ++c) {
            double s = 0;
            for (int p = 0; p < 72; ++p) s += want[(b * 72 + p) * 3 + c];
            CHECK(g[b * 3 + c] == Approx(s / 72).margin(1e-5));
        }
}

TEST_CASE("activations match their formulas", "[ops]") {
    std::mt19937 rng(5);
    const Tensor x = random_tensor({257}, rng, 4.0f);
    for (const auto a : {ops::Activation::relu, ops::Activation::gelu, ops::Activation::quick_gelu}) {
        Tensor y = x;
        ops::activate(y, a);
        for (std::int64_t i = 0; i < x.numel(); ++i) {
            const double v = x[i];
            const double want = a == ops::Activation::relu   ? std::max(0.0, v)
                                : a == ops::Activation::gelu ? 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))
                                                             : v / (1 + std::exp(-1.702 * v));
            CHECK(y[i] == Approx(want).margin(1e-5));
        }
    }
    CHECK(ops::parse_activation("quick_gelu") == ops::Activation::quick_gelu);
    CHECK_THROWS_WITH(ops::parse_activation("swish"), Catch::Contains("unknown activation 'swish'"));
}

TEST_CASE("vectorised exp and erf agree with libm", "[ops]") {
    float worst_exp = 0, worst_erf = 0;
    for (float x = -30.0f; x <= 30.0f; x += 0.001953125f) {
        worst_exp = std::max(worst_exp, std::abs(fast::exp(x) - std::exp(x)) / std::exp(x));
        worst_erf = std::max(worst_erf, std::abs(fast::erf(x) - std::erf(x)));
    }
    CHECK(worst_exp < 5e-7f);
    CHECK(worst_erf < 5e-7f);
    CHECK(fast::exp(-200.0f) >= 0.0f);
    CHECK(fast::exp(-200.0f) < 1e-37f);
    CHECK(std::isfinite(fast::exp(200.0f)));
}

TEST_CASE("linear matches the reference on the gemv and gemm paths", "[ops]") {
    std::mt19937 rng(6);
    const Tensor w = random_tensor({13, 17}, rng), b = random_tensor({13}, rng);
    for (const Shape& shape : {Shape{1, 17}, Shape{17}, Shape{5, 17}, Shape{2, 3, 17}}) {
        const Tensor x = random_tensor(shape, rng);
        CHECK(max_abs_diff(ops::linear(x, w, b), reference::linear(x, w, b)) < 1e-4f);
        CHECK(max_abs_diff(ops::linear(x, w, Tensor()), reference::linear(x, w, Tensor())) < 1e-4f);
    }
    CHECK_THROWS_WITH(ops::linear(Tensor({2, 16}), w, b), Catch::Contains("linear: weight has shape [13, 17]"));
}

TEST_CASE("project multiplies by an [in, out] matrix", "[ops]") {
    std::mt19937 rng(7);
    const Tensor p = random_tensor({6, 4}, rng);
    Tensor pt({4, 6});  // the same map as an [out, in] linear weight
    for (int i = 0; i < 6; ++i)
        for (int o = 0; o < 4; ++o) pt[o * 6 + i] = p[i * 4 + o];
    for (const Shape& shape : {Shape{1, 6}, Shape{3, 6}}) {
        const Tensor x = random_tensor(shape, rng);
        CHECK(max_abs_diff(ops::project(x, p), reference::linear(x, pt, Tensor())) < 1e-5f);
    }
}

TEST_CASE("embedding, layer-norm, softmax and L2 normalisation", "[ops]") {
    std::mt19937 rng(8);
    const Tensor table = random_tensor({10, 4}, rng);
    const Tensor e = ops::embedding({3, 0, 9}, table);
    CHECK(e[1 * 4 + 2] == table[0 * 4 + 2]);
    CHECK(e[2 * 4 + 3] == table[9 * 4 + 3]);
    CHECK_THROWS_WITH(ops::embedding({10}, table), Catch::Contains("token id 10 outside vocabulary of 10"));

    const Tensor x = random_tensor({3, 5, 16}, rng, 3.0f), g = random_tensor({16}, rng), b = random_tensor({16}, rng);
    CHECK(max_abs_diff(ops::layer_norm(x, g, b, 1e-5f), reference::layer_norm(x, g, b, 1e-5f)) < 1e-4f);
    Tensor s = x;
    ops::softmax(s);
    CHECK(max_abs_diff(s, reference::softmax(x)) < 1e-6f);

    Tensor n = x.reshaped({15, 16});
    ops::l2_normalize_rows(n);
    for (int r = 0; r < 15; ++r) {
        double sum = 0;
        for (int j = 0; j < 16; ++j) sum += n[r * 16 + j] * n[r * 16 + j];
        CHECK(sum == Approx(1.0).margin(1e-5));
    }
    Tensor zero({1, 4});
    ops::l2_normalize_rows(zero);  // a zero row stays zero instead of becoming NaN
    CHECK(zero[0] == 0.0f);
}

TEST_CASE("multi-head attention matches the reference, causal and not", "[ops]") {
    std::mt19937 rng(9);
    const int d = 12, heads = 3;
    const Tensor x = random_tensor({2, 7, d}, rng);
    const Tensor in_w = random_tensor({3 * d, d}, rng, 0.5f), in_b = random_tensor({3 * d}, rng);
    const Tensor out_w = random_tensor({d, d}, rng, 0.5f), out_b = random_tensor({d}, rng);
    for (const bool causal : {false, true}) {
        const Tensor got = ops::multi_head_attention(x, {in_w, in_b, out_w, out_b}, heads, causal);
        CHECK(max_abs_diff(got, reference::attention(x, in_w, in_b, out_w, out_b, heads, causal)) < 1e-4f);
    }
    CHECK_THROWS_WITH(ops::multi_head_attention(x, {in_w, in_b, out_w, out_b}, 5, false),
                      Catch::Contains("not divisible"));
}

TEST_CASE("packed attention equals attention over each sequence alone", "[ops]") {
    std::mt19937 rng(19);
    const int d = 8, heads = 2;
    const Tensor in_w = random_tensor({3 * d, d}, rng, 0.5f), in_b = random_tensor({3 * d}, rng);
    const Tensor out_w = random_tensor({d, d}, rng, 0.5f), out_b = random_tensor({d}, rng);
    const ops::AttentionWeights w{in_w, in_b, out_w, out_b};
    const std::vector<std::int64_t> offsets{0, 3, 4, 9};
    const Tensor packed = random_tensor({9, d}, rng);
    for (const bool causal : {false, true}) {
        const Tensor got = ops::multi_head_attention_packed(packed, offsets, w, heads, causal);
        for (std::size_t r = 0; r + 1 < offsets.size(); ++r) {
            const std::int64_t len = offsets[r + 1] - offsets[r];
            const Tensor one({1, len, d},
                             std::vector<float>(packed.data() + offsets[r] * d, packed.data() + offsets[r + 1] * d));
            const Tensor want = reference::attention(one, in_w, in_b, out_w, out_b, heads, causal);
            for (std::int64_t i = 0; i < len * d; ++i) CHECK(got[offsets[r] * d + i] == Approx(want[i]).margin(1e-4));
        }
    }
    CHECK_THROWS_WITH(ops::multi_head_attention_packed(packed, {0, 3, 8}, w, heads, false),
                      Catch::Contains("do not cover"));
}

TEST_CASE("gemm counts the work it issues", "[blas]") {
    std::vector<float> a(6, 1.0f), b(12, 1.0f), c(8);
    blas::reset_flops_issued();
    blas::gemm(false, false, 2, 4, 3, 1.0f, a.data(), 3, b.data(), 4, 0.0f, c.data(), 4);
    CHECK(blas::flops_issued() == 2u * 2 * 4 * 3);
    CHECK(c[0] == 3.0f);
}
