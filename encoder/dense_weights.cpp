// DenseWeights: fp32 on BLAS; bf16 and int8 on oneDNN's matmul primitives, one per row count
// (made when first needed, kept), all reading the weights packed once in the layout oneDNN chose
// (its brgemm kernels; AMX where the CPU has it). Measured against one primitive with a run-time
// row count (oneDNN's jit gemm, plain weights) on ViT-B/32: 1.3x the pictures and 1.9x the texts
// a second at batch 1 in bf16, the same at batch 32. Shapes: x [M, K] (rows, in), W [K, N]
// (in, out), y [M, N].
#include "encoder/dense_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "core/error.h"
#include "encoder/blas.h"

namespace opsis {

namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

const dnnl::engine& cpu_engine() {
    static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    return engine;
}

// Round to nearest even, as oneDNN's own conversions do; NaN stays NaN.
std::uint16_t to_bf16(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<std::uint16_t>(u >> 16);
}

// Symmetric quantisation of n values `stride` apart to [-127, 127]; returns the scale.
float quantize(const float* v, std::int64_t n, std::int64_t stride, std::int8_t* q, std::int64_t q_stride) {
    float largest = 0.0f;
    for (std::int64_t i = 0; i < n; ++i) largest = std::max(largest, std::abs(v[i * stride]));
    const float scale = largest > 0.0f && std::isfinite(largest) ? largest / 127.0f : 1.0f;
    const float inverse = 1.0f / scale;
    for (std::int64_t i = 0; i < n; ++i) {
        const float r = std::nearbyint(v[i * stride] * inverse);
        q[i * q_stride] = static_cast<std::int8_t>(std::clamp(r, -127.0f, 127.0f));
    }
    return scale;
}

// Parallel only where the work pays for waking the threads.
constexpr std::int64_t kParallelElements = 1 << 15;

}  // namespace

void dense_fp32(const float* x, std::int64_t rows, const float* w, DenseWeights::Layout layout, std::int64_t in,
                std::int64_t out, float* y, std::int64_t ldy) {
    if (rows == 0 || out == 0) return;
    const int m = static_cast<int>(rows), k = static_cast<int>(in), n = static_cast<int>(out),
              ld = static_cast<int>(ldy);
    const bool out_in = layout == DenseWeights::Layout::out_in;
    if (rows == 1)  // sgemv reads the weight as stored; sgemm with a transposed B is ~10x slower here.
        blas::gemv(!out_in, out_in ? n : k, out_in ? k : n, 1.0f, w, out_in ? k : n, x, 0.0f, y);
    else
        blas::gemm(false, out_in, m, n, k, 1.0f, x, k, w, out_in ? k : n, 0.0f, y, ld);
}

namespace {
// One product for a row count: its primitive, scratch space size and the weights in the
// layout it reads (the shared packing, or its own copy where oneDNN chose another).
struct FixedProduct {
    dnnl::matmul primitive;
    memory::desc scratchpad;
    memory weights;
};

// Copies weights from one oneDNN packing into another. Some pairs of packings have no direct
// reorder (int8 for AMX into the packing of a 1-row product, seen on Sapphire Rapids): those go
// through the plain [in, out] layout.
void repack(const memory& from, memory& to, std::int64_t in, std::int64_t out) {
    dnnl::stream stream(cpu_engine());
    memory source = from;
    try {
        dnnl::reorder(source, to).execute(stream, source, to);
    } catch (const dnnl::error&) {
        memory plain(memory::desc({in, out}, from.get_desc().data_type(), tag::ab), cpu_engine());
        dnnl::reorder(source, plain).execute(stream, source, plain);
        dnnl::reorder(plain, to).execute(stream, plain, to);
    }
    stream.wait();
}
}  // namespace

struct DenseWeights::Reduced {
    dt src_type, dst_type;
    memory::desc weights_md;  // the packing oneDNN chose for kPackingRows rows
    memory weights;
    std::vector<float> column_scales;  // int8: W[:, n] ~ column_scales[n] * q[:, n]
    mutable std::mutex mutex;
    mutable std::map<std::int64_t, std::shared_ptr<const FixedProduct>> products;  // by row count

    const FixedProduct& product(std::int64_t rows, std::int64_t in, std::int64_t out) const {
        const std::lock_guard<std::mutex> lock(mutex);
        auto& slot = products[rows];
        if (slot) return *slot;
        auto made = std::make_shared<FixedProduct>();
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        const memory::desc src_md({rows, in}, src_type, tag::ab), dst_md({rows, out}, dst_type, tag::ab);
        dnnl::matmul::primitive_desc pd;
        try {
            pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, weights_md, dst_md), attr, cpu_engine());
            // A reference (unoptimised) kernel for the shared packing is no use: repack instead.
            if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0)
                throw dnnl::error(dnnl_unimplemented, "only a reference kernel reads the shared packing");
            made->weights = weights;
        } catch (const dnnl::error&) {
            // oneDNN wants another layout for this row count: repack a copy for it.
            const memory::desc any({in, out}, src_type == dt::bf16 ? dt::bf16 : dt::s8, tag::any);
            pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, any, dst_md), attr, cpu_engine());
            made->weights = memory(pd.weights_desc(), cpu_engine());
            repack(weights, made->weights, in, out);
        }
        made->primitive = dnnl::matmul(pd);
        made->scratchpad = pd.scratchpad_desc();
        slot = std::move(made);
        return *slot;
    }
};

namespace {
// The row count whose primitive chooses the packing; products of other row counts read it too.
constexpr std::int64_t kPackingRows = 64;
constexpr std::int64_t kRowStep = 64;
}  // namespace

DenseWeights::DenseWeights(const Tensor& matrix, Layout layout, Precision precision) : precision_(precision) {
    expect_shape("dense weights", "matrix", matrix, {-1, -1});
    in_ = layout == Layout::in_out ? matrix.dim(0) : matrix.dim(1);
    out_ = layout == Layout::in_out ? matrix.dim(1) : matrix.dim(0);
    if (precision == Precision::fp32) {
        // Kept as [in, out]: sgemm with a transposed weight runs at a quarter to two thirds of
        // the speed for a few dozen rows (a picture's 50 tokens), and the same for thousands.
        if (layout == Layout::in_out) {
            fp32_ = matrix;
        } else {
            fp32_ = Tensor({in_, out_});
            for (std::int64_t n = 0; n < out_; ++n)
                for (std::int64_t k = 0; k < in_; ++k) fp32_[k * out_ + n] = matrix[n * in_ + k];
        }
        return;
    }
    require_precision(precision);
    const tag stored = layout == Layout::in_out ? tag::ab : tag::ba;  // W [K, N] as the matrix holds it
    const dt weight_type = precision == Precision::bf16 ? dt::bf16 : dt::s8;
    auto reduced = std::make_shared<Reduced>();
    reduced->src_type = weight_type;
    reduced->dst_type = precision == Precision::bf16 ? dt::f32 : dt::s32;
    try {
        const memory::desc plain_md({in_, out_}, weight_type, stored);
        memory plain(plain_md, cpu_engine());
        if (precision == Precision::bf16) {
            auto* dst = static_cast<std::uint16_t*>(plain.get_data_handle());
            for (std::int64_t i = 0; i < matrix.numel(); ++i) dst[i] = to_bf16(matrix[i]);
        } else {
            auto* q = static_cast<std::int8_t*>(plain.get_data_handle());
            reduced->column_scales.resize(static_cast<std::size_t>(out_));
            // Column n of W: a row of [out, in], a strided column of [in, out].
            for (std::int64_t n = 0; n < out_; ++n)
                reduced->column_scales[static_cast<std::size_t>(n)] =
                    layout == Layout::out_in ? quantize(matrix.data() + n * in_, in_, 1, q + n * in_, 1)
                                             : quantize(matrix.data() + n, in_, out_, q + n, out_);
        }
        // Scratch space comes with each call, so that threads may share the primitives.
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        const memory::desc any_md({in_, out_}, weight_type, tag::any);
        const dnnl::matmul::primitive_desc pd(
            dnnl::matmul::desc(memory::desc({kPackingRows, in_}, weight_type, tag::ab), any_md,
                               memory::desc({kPackingRows, out_}, reduced->dst_type, tag::ab)),
            attr, cpu_engine());
        reduced->weights_md = pd.weights_desc();
        reduced->weights = memory(reduced->weights_md, cpu_engine());
        dnnl::stream stream(cpu_engine());
        dnnl::reorder(plain, reduced->weights).execute(stream, plain, reduced->weights);
        stream.wait();
    } catch (const dnnl::error& e) {
        throw Error("dense weights [" + std::to_string(in_) + " x " + std::to_string(out_) + "] at " +
                    precision_name(precision) + ": oneDNN cannot make the product (" + e.what() + ")");
    }
    reduced_ = std::move(reduced);
}

const Tensor& DenseWeights::fp32() const {
    if (precision_ != Precision::fp32)
        throw Error(std::string("dense weights: the fp32 matrix is not kept at ") + precision_name(precision_));
    return fp32_;
}

void DenseWeights::apply(const float* x, std::int64_t rows, float* y, std::int64_t ldy) const {
    if (rows <= 0 || out_ == 0) return;
    if (precision_ == Precision::fp32) {
        dense_fp32(x, rows, fp32_.data(), Layout::in_out, in_, out_, y, ldy);
        return;
    }
    blas::count_flops(2ull * static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(in_) *
                      static_cast<std::uint64_t>(out_));
    // Per-thread buffers: the converted rows, the product before scaling, oneDNN's scratch space.
    thread_local std::vector<std::uint16_t> x_bf16;
    thread_local std::vector<std::int8_t> x_int8;
    thread_local std::vector<float> row_scales, product;
    thread_local std::vector<std::int32_t> product_int32;
    thread_local std::vector<unsigned char> scratch;
    const std::int64_t elements = rows * in_;
    const bool parallel = elements * out_ >= kParallelElements;
    void* src = nullptr;
    void* dst = nullptr;
    if (precision_ == Precision::bf16) {
        x_bf16.resize(static_cast<std::size_t>(elements));
        std::uint16_t* converted = x_bf16.data();
#pragma omp parallel for schedule(static) if (parallel)
        for (std::int64_t i = 0; i < elements; ++i) converted[i] = to_bf16(x[i]);
        src = converted;
        if (ldy == out_) {
            dst = y;
        } else {
            product.resize(static_cast<std::size_t>(rows * out_));
            dst = product.data();
        }
    } else {
        x_int8.resize(static_cast<std::size_t>(elements));
        row_scales.resize(static_cast<std::size_t>(rows));
        std::int8_t* q = x_int8.data();
        float* scales = row_scales.data();
        const std::int64_t in = in_;
#pragma omp parallel for schedule(static) if (parallel)
        for (std::int64_t r = 0; r < rows; ++r) scales[r] = quantize(x + r * in, in, 1, q + r * in, 1);
        src = q;
        product_int32.resize(static_cast<std::size_t>(rows * out_));
        dst = product_int32.data();
    }
    try {
        thread_local dnnl::stream stream(cpu_engine());
        const Reduced& r = *reduced_;
        const std::size_t src_size = precision_ == Precision::bf16 ? 2 : 1, dst_size = 4;
        // Rows in a multiple of kRowStep, then the rest: at most kRowStep + rows / kRowStep
        // primitives to make, none of them computing padding.
        const auto run = [&](std::int64_t first, std::int64_t count) {
            if (count == 0) return;
            const FixedProduct& fixed = r.product(count, in_, out_);
            scratch.resize(std::max<std::size_t>(1, fixed.scratchpad.get_size()));
            fixed.primitive.execute(
                stream, {{DNNL_ARG_SRC, memory(memory::desc({count, in_}, r.src_type, tag::ab), cpu_engine(),
                                               static_cast<char*>(src) + first * in_ * src_size)},
                         {DNNL_ARG_WEIGHTS, fixed.weights},
                         {DNNL_ARG_DST, memory(memory::desc({count, out_}, r.dst_type, tag::ab), cpu_engine(),
                                               static_cast<char*>(dst) + first * out_ * dst_size)},
                         {DNNL_ARG_SCRATCHPAD, memory(fixed.scratchpad, cpu_engine(), scratch.data())}});
        };
        const std::int64_t whole = rows / kRowStep * kRowStep;
        run(0, whole);
        run(whole, rows - whole);
        stream.wait();
    } catch (const dnnl::error& e) {
        throw Error("dense product [" + std::to_string(rows) + " x " + std::to_string(in_) + "] . [" +
                    std::to_string(in_) + " x " + std::to_string(out_) + "] at " + precision_name(precision_) +
                    ": oneDNN failed (" + e.what() + ")");
    }
    const std::int64_t out = out_;
    if (precision_ == Precision::int8) {
        const std::int32_t* acc = product_int32.data();
        const float* rs = row_scales.data();
        const float* cs = reduced_->column_scales.data();
#pragma omp parallel for schedule(static) if (parallel)
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t n = 0; n < out; ++n)
                y[r * ldy + n] = static_cast<float>(acc[r * out + n]) * rs[r] * cs[n];
    } else if (dst != y) {
        for (std::int64_t r = 0; r < rows; ++r) std::copy_n(product.data() + r * out, out, y + r * ldy);
    }
}

}  // namespace opsis
