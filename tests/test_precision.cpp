// Reduced precision (encoder/precision.h, encoder/dense_weights.h): every product against a
// double-precision reference at each precision this CPU runs (a precision it cannot run is
// refused, naming the CPU), a whole model within a cosine of its fp32 self, and an index that
// records the precision its vectors were made at.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "encoder/dense_weights.h"
#include "encoder/precision.h"
#include "tests/test_support.h"

using namespace opsis;
using namespace opsis::test;
using Catch::Matchers::Contains;

namespace {

constexpr Precision kAll[] = {Precision::fp32, Precision::bf16, Precision::int8};

bool runs(Precision p) { return precision_unsupported_reason(p).empty(); }

// The worst cosine between rows of y (ldy apart) and the rows of want [rows, out].
double worst_row_cosine(const std::vector<float>& y, std::int64_t ldy, const std::vector<double>& want,
                        std::int64_t rows, std::int64_t out) {
    double worst = 1.0;
    for (std::int64_t r = 0; r < rows; ++r) {
        double ab = 0, aa = 0, bb = 0;
        for (std::int64_t n = 0; n < out; ++n) {
            const double a = y[static_cast<std::size_t>(r * ldy + n)], b = want[static_cast<std::size_t>(r * out + n)];
            ab += a * b;
            aa += a * a;
            bb += b * b;
        }
        worst = std::min(worst, ab / std::sqrt(aa * bb));
    }
    return worst;
}

double worst_cosine(const Tensor& a, const Tensor& b) {
    const std::int64_t d = a.dim(-1), rows = a.numel() / d;
    std::vector<double> want(b.values().begin(), b.values().end());
    return worst_row_cosine(a.values(), d, want, rows, d);
}

}  // namespace

TEST_CASE("precision names parse, and others are refused naming the value", "[precision]") {
    for (const Precision p : kAll) CHECK(parse_precision(precision_name(p)) == p);
    CHECK_THROWS_WITH(parse_precision("fp16"), Contains("precision 'fp16': unknown (expected fp32, bf16 or int8)"));
    CHECK(precision_unsupported_reason(Precision::fp32).empty());
    CHECK_FALSE(cpu_isa_name().empty());
}

TEST_CASE("dense products match a double reference at every precision, both layouts, any row count", "[precision]") {
    std::mt19937 rng(3);
    const std::int64_t in = 67, out = 45;
    const Tensor w = random_tensor({in, out}, rng);  // [in, out]
    Tensor wt({out, in});                            // the same map as [out, in]
    for (std::int64_t k = 0; k < in; ++k)
        for (std::int64_t n = 0; n < out; ++n) wt[n * in + k] = w[k * out + n];
    for (const Precision p : kAll) {
        INFO(precision_name(p));
        if (!runs(p)) {
            // The refusal names the precision, the CPU and the way out.
            CHECK_THROWS_WITH(DenseWeights(w, DenseWeights::Layout::in_out, p),
                              Contains(std::string("precision '") + precision_name(p) + "'") &&
                                  Contains("oneDNN sees") && Contains("use --precision fp32"));
            continue;
        }
        // bf16 keeps 8 significant bits, int8 7: a row's direction, not its digits, is what
        // survives (the same measure as the embeddings' cosine).
        const double floor = p == Precision::fp32 ? 1.0 - 1e-9 : 0.999;
        for (const auto& [matrix, layout] :
             {std::pair{w, DenseWeights::Layout::in_out}, std::pair{wt, DenseWeights::Layout::out_in}}) {
            const DenseWeights dense(matrix, layout, p);
            CHECK(dense.in_features() == in);
            CHECK(dense.out_features() == out);
            for (const std::int64_t rows : {1, 3, 50, 130}) {
                for (const std::int64_t ldy : {out, out + 5}) {
                    INFO("rows " << rows << ", ldy " << ldy);
                    const Tensor x = random_tensor({rows, in}, rng);
                    std::vector<double> want(static_cast<std::size_t>(rows * out));
                    for (std::int64_t r = 0; r < rows; ++r)
                        for (std::int64_t n = 0; n < out; ++n) {
                            double sum = 0;
                            for (std::int64_t k = 0; k < in; ++k)
                                sum += static_cast<double>(x[r * in + k]) * w[k * out + n];
                            want[static_cast<std::size_t>(r * out + n)] = sum;
                        }
                    std::vector<float> y(static_cast<std::size_t>(rows * ldy), -7.0f);
                    dense.apply(x.data(), rows, y.data(), ldy);
                    CHECK(worst_row_cosine(y, ldy, want, rows, out) >= floor);
                    if (p == Precision::fp32) {
                        double worst = 0;
                        for (std::int64_t r = 0; r < rows; ++r)
                            for (std::int64_t n = 0; n < out; ++n)
                                worst = std::max(worst, std::abs(y[static_cast<std::size_t>(r * ldy + n)] -
                                                                 want[static_cast<std::size_t>(r * out + n)]));
                        CHECK(worst < 1e-4);
                    }
                    // Columns between rows are left as they were.
                    if (ldy > out) CHECK(y[static_cast<std::size_t>(out)] == -7.0f);
                }
            }
        }
        if (p != Precision::fp32)
            CHECK_THROWS_WITH(DenseWeights(w, DenseWeights::Layout::in_out, p).fp32(),
                              Contains("the fp32 matrix is not kept"));
    }
}

TEST_CASE("a model at bf16 or int8 embeds within a cosine of its fp32 self", "[precision]") {
    const DualEncoder fp32 = tiny_model("precision-tiny", 12, 5);
    std::vector<RgbaImage> images;
    for (int i = 0; i < 4; ++i) images.push_back(pattern_image(20 + 7 * i, 17 + 3 * i, i % 2 == 0));
    const std::vector<std::string> texts = {"a red apple", "σημαία", "x", "a cat sitting on a mat"};
    const Tensor image_want = fp32.encode_images(fp32.preprocess(images));
    const Tensor text_want = fp32.encode_texts(texts);
    for (const Precision p : {Precision::bf16, Precision::int8}) {
        INFO(precision_name(p));
        if (!runs(p)) {
            CHECK_THROWS_WITH(fp32.at_precision(p), Contains("use --precision fp32"));
            continue;
        }
        const DualEncoder reduced = fp32.at_precision(p);
        CHECK(reduced.precision() == p);
        CHECK(worst_cosine(reduced.encode_images(reduced.preprocess(images)), image_want) >= 0.99);
        CHECK(worst_cosine(reduced.encode_texts(texts), text_want) >= 0.99);
    }
}

TEST_CASE("a precision the CPU cannot run is refused, naming the CPU's instructions", "[precision][cli]") {
    TempDir dir;
    tiny_model("precision-cli", 12, 6).save(dir.file("m"));
    // oneDNN obeys DNNL_MAX_CPU_ISA: this plays a CPU with AVX2 alone.
    for (const char* p : {"bf16", "int8"}) {
        const CommandResult r = run_opsis_with_prefix(
            "DNNL_MAX_CPU_ISA=AVX2 ", "embed --model " + dir.file("m") + " --precision " + p + " --text 'a cat'");
        INFO(r.output);
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.output, Contains(std::string("precision '") + p + "': this CPU has neither") &&
                                 Contains("oneDNN sees avx2") && Contains("use --precision fp32"));
    }
    const CommandResult bad = run_opsis("embed --model " + dir.file("m") + " --precision fp16 --text 'a cat'");
    CHECK(bad.exit_code != 0);
    CHECK_THAT(bad.output, Contains("--precision"));
}

TEST_CASE("an index records the precision its vectors were made at and keeps new ones alike", "[precision][cli]") {
    TempDir dir;
    tiny_model("precision-index", 12, 7).save(dir.file("m"));
    std::filesystem::create_directories(dir.file("pics"));
    write_bytes(dir.file("pics/a.png"), encode_png_rgba(pattern_image(24, 24, false)));
    const std::string index = dir.file("ix");
    // The reduced precision this CPU runs, if any.
    std::string reduced;
    for (const Precision p : {Precision::bf16, Precision::int8})
        if (reduced.empty() && runs(p)) reduced = precision_name(p);
    if (reduced.empty()) {
        const CommandResult r = run_opsis("index add --index " + index + " --model " + dir.file("m") +
                                          " --precision int8 " + dir.file("pics"));
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.output, Contains("use --precision fp32"));
        return;
    }
    CommandResult r = run_opsis("index add --index " + index + " --model " + dir.file("m") + " --precision " + reduced +
                                " " + dir.file("pics"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    r = run_opsis("index stats --json --index " + index);
    REQUIRE(r.exit_code == 0);
    CHECK(nlohmann::json::parse(r.output)["model"]["precision"] == reduced);
    r = run_opsis("index stats --index " + index);
    CHECK_THAT(r.output, Contains("vectors made at " + reduced));
    // Adding at another precision would mix vectors: refused, nothing written.
    write_bytes(dir.file("pics/b.png"), encode_png_rgba(pattern_image(30, 20, true)));
    r = run_opsis("index add --index " + index + " --precision fp32 " + dir.file("pics"));
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Contains("its vectors were made at " + reduced) && Contains("would mix them"));
    // Without --precision, the index's own is used.
    r = run_opsis("index add --index " + index + " " + dir.file("pics"));
    INFO(r.output);
    CHECK(r.exit_code == 0);
    r = run_opsis("index stats --json --index " + index);
    CHECK(nlohmann::json::parse(r.output)["images"]["items"] == 2);
    // Searching may embed its query at another precision.
    r = run_opsis("search --index " + index + " --precision fp32 --text 'a square' -k 2");
    INFO(r.output);
    CHECK(r.exit_code == 0);
}
