// Every op's backward against central finite differences of its forward.
// The loss is sum(forward(x) * r) for a fixed random r, so dy = r.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>

#include "encoder/ops.h"
#include "tests/test_support.h"

using namespace opsis;
using opsis::test::random_tensor;

namespace {

double weighted_sum(const Tensor& y, const Tensor& r) {
    double s = 0;
    for (std::int64_t i = 0; i < y.numel(); ++i) s += static_cast<double>(y[i]) * r[i];
    return s;
}

// Perturbs up to 24 entries of `value` (which `loss` reads) and compares the slope with `analytic`.
void check_gradient(const std::string& what, Tensor& value, const Tensor& analytic, const std::function<double()>& loss,
                    std::mt19937& rng, float eps = 1e-2f) {
    REQUIRE(value.shape() == analytic.shape());
    std::uniform_int_distribution<std::int64_t> pick(0, value.numel() - 1);
    const int probes = static_cast<int>(std::min<std::int64_t>(24, value.numel()));
    for (int p = 0; p < probes; ++p) {
        const std::int64_t i = value.numel() <= 24 ? p : pick(rng);
        const double numeric = test::central_difference(value, i, eps, loss);
        INFO(what << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric);
        CHECK(test::gradients_agree(analytic[i], numeric, 1e-2, 2e-2));
    }
}

}  // namespace

TEST_CASE("conv2d backward matches finite differences", "[gradients]") {
    std::mt19937 rng(21);
    struct Case {
        int n, h, w, c, oc, k, stride, pad, groups;
    };
    for (const Case& c : {Case{2, 6, 5, 3, 4, 3, 1, 1, 1}, Case{1, 7, 7, 4, 6, 3, 2, 1, 2},
                          Case{2, 4, 4, 3, 5, 1, 1, 0, 1}, Case{1, 6, 6, 2, 3, 1, 2, 0, 1}}) {
        Tensor x = random_tensor({c.n, c.h, c.w, c.c}, rng);
        Tensor w = random_tensor({c.oc, c.c / c.groups, c.k, c.k}, rng);
        Tensor b = random_tensor({c.oc}, rng);
        auto forward = [&] { return ops::conv2d(x, ops::pack_conv2d(w, b, c.stride, c.pad, c.groups)); };
        const Tensor r = random_tensor(forward().shape(), rng);
        Tensor dw(w.shape()), db(b.shape());
        const Tensor dx = ops::conv2d_backward(x, ops::pack_conv2d(w, b, c.stride, c.pad, c.groups), r, dw, &db);
        auto loss = [&] { return weighted_sum(forward(), r); };
        INFO("k=" << c.k << " stride=" << c.stride << " groups=" << c.groups);
        check_gradient("dx", x, dx, loss, rng);
        check_gradient("dw", w, dw, loss, rng);
        check_gradient("db", b, db, loss, rng);
    }
}

TEST_CASE("training batch-norm backward matches finite differences and tracks statistics", "[gradients]") {
    std::mt19937 rng(22);
    Tensor x = random_tensor({3, 4, 4, 5}, rng, 2.0f), gamma = random_tensor({5}, rng), beta = random_tensor({5}, rng);
    Tensor rm({5}), rv = Tensor::filled({5}, 1.0f);
    ops::BatchNormCache cache;
    auto forward = [&] {
        Tensor m = rm, v = rv;
        ops::BatchNormCache c;
        return ops::batch_norm_train(x, gamma, beta, m, v, 0.1f, 1e-5f, c);
    };
    const Tensor r = random_tensor(x.shape(), rng);
    (void)ops::batch_norm_train(x, gamma, beta, rm, rv, 0.1f, 1e-5f, cache);
    Tensor dg({5}), db({5});
    const Tensor dx = ops::batch_norm_backward(r, cache, gamma, dg, db);
    auto loss = [&] { return weighted_sum(forward(), r); };
    check_gradient("dx", x, dx, loss, rng, 1e-3f);
    check_gradient("dgamma", gamma, dg, loss, rng);
    check_gradient("dbeta", beta, db, loss, rng);
    // Running statistics moved 10% of the way to the batch's.
    double mean0 = 0;
    for (std::int64_t i = 0; i < x.numel(); i += 5) mean0 += x[i];
    CHECK(rm[0] == Approx(0.1 * mean0 / 48).margin(1e-5));
}

TEST_CASE("activation, pooling and normalisation backward match finite differences", "[gradients]") {
    std::mt19937 rng(23);
    for (const auto a : {ops::Activation::relu, ops::Activation::gelu, ops::Activation::quick_gelu}) {
        Tensor x = random_tensor({43}, rng, 3.0f);  // not a multiple of 8: the vector tail is used
        const Tensor r = random_tensor({43}, rng);
        Tensor dx = r;
        ops::activate_backward(x, a, dx);
        check_gradient(
            ops::activation_name(a), x, dx,
            [&] {
                Tensor y = x;
                ops::activate(y, a);
                return weighted_sum(y, r);
            },
            rng, 1e-3f);
    }
    Tensor x = random_tensor({2, 7, 6, 3}, rng);
    Tensor r = random_tensor(ops::max_pool2d(x, 3, 2, 1).shape(), rng);
    check_gradient(
        "max_pool2d", x, ops::max_pool2d_backward(x, r, 3, 2, 1),
        [&] { return weighted_sum(ops::max_pool2d(x, 3, 2, 1), r); }, rng, 1e-3f);
    r = random_tensor({2, 3}, rng);
    check_gradient(
        "global_avg_pool", x, ops::global_avg_pool_backward(r, x.shape()),
        [&] { return weighted_sum(ops::global_avg_pool(x), r); }, rng);

    Tensor v = random_tensor({3, 6}, rng);
    r = random_tensor({3, 6}, rng);
    Tensor y = v;
    ops::l2_normalize_rows(y);
    check_gradient(
        "l2_normalize", v, ops::l2_normalize_backward(v, y, r),
        [&] {
            Tensor z = v;
            ops::l2_normalize_rows(z);
            return weighted_sum(z, r);
        },
        rng, 1e-3f);
}

TEST_CASE("linear, projection, embedding and layer-norm backward match finite differences", "[gradients]") {
    std::mt19937 rng(24);
    Tensor x = random_tensor({2, 3, 5}, rng), w = random_tensor({4, 5}, rng), b = random_tensor({4}, rng);
    Tensor r = random_tensor({2, 3, 4}, rng);
    Tensor dw(w.shape()), db(b.shape());
    Tensor dx = ops::linear_backward(x, w, r, dw, &db);
    auto linear_loss = [&] { return weighted_sum(ops::linear(x, w, b), r); };
    check_gradient("linear dx", x, dx, linear_loss, rng);
    check_gradient("linear dw", w, dw, linear_loss, rng);
    check_gradient("linear db", b, db, linear_loss, rng);

    Tensor p = random_tensor({5, 4}, rng), dp(p.shape());
    dx = ops::project_backward(x, p, r, dp);
    auto project_loss = [&] { return weighted_sum(ops::project(x, p), r); };
    check_gradient("project dx", x, dx, project_loss, rng);
    check_gradient("project dp", p, dp, project_loss, rng);

    Tensor table = random_tensor({6, 3}, rng), dtable(table.shape());
    const std::vector<std::int32_t> ids{2, 5, 2, 0};
    r = random_tensor({4, 3}, rng);
    ops::embedding_backward(ids, r, dtable);
    check_gradient(
        "embedding", table, dtable, [&] { return weighted_sum(ops::embedding(ids, table), r); }, rng);

    Tensor g = random_tensor({5}, rng), be = random_tensor({5}, rng), dg({5}), dbe({5});
    r = random_tensor(x.shape(), rng);
    dx = ops::layer_norm_backward(x, g, r, dg, dbe, 1e-5f);
    auto ln_loss = [&] { return weighted_sum(ops::layer_norm(x, g, be, 1e-5f), r); };
    check_gradient("layer_norm dx", x, dx, ln_loss, rng, 1e-3f);
    check_gradient("layer_norm dgamma", g, dg, ln_loss, rng);
    check_gradient("layer_norm dbeta", be, dbe, ln_loss, rng);
}

TEST_CASE("multi-head attention backward matches finite differences", "[gradients]") {
    std::mt19937 rng(25);
    const int d = 8, heads = 2;
    for (const bool causal : {false, true}) {
        Tensor x = random_tensor({2, 5, d}, rng);
        Tensor in_w = random_tensor({3 * d, d}, rng, 0.5f), in_b = random_tensor({3 * d}, rng);
        Tensor out_w = random_tensor({d, d}, rng, 0.5f), out_b = random_tensor({d}, rng);
        const ops::AttentionWeights w{in_w, in_b, out_w, out_b};
        const Tensor r = random_tensor({2, 5, d}, rng);
        ops::AttentionCache cache;
        (void)ops::multi_head_attention_train(x, w, heads, causal, cache);
        Tensor d_in_w(in_w.shape()), d_in_b(in_b.shape()), d_out_w(out_w.shape()), d_out_b(out_b.shape());
        const Tensor dx = ops::multi_head_attention_backward(x, w, heads, cache, r, {d_in_w, d_in_b, d_out_w, d_out_b});
        auto loss = [&] { return weighted_sum(ops::multi_head_attention(x, w, heads, causal), r); };
        INFO("causal " << causal);
        check_gradient("dx", x, dx, loss, rng, 1e-3f);
        check_gradient("d in_proj_weight", in_w, d_in_w, loss, rng, 1e-3f);
        check_gradient("d in_proj_bias", in_b, d_in_b, loss, rng, 1e-3f);
        check_gradient("d out_proj_weight", out_w, d_out_w, loss, rng, 1e-3f);
        check_gradient("d out_proj_bias", out_b, d_out_b, loss, rng, 1e-3f);
    }
}
