#pragma once
// A weight matrix W applied as y = x · W at inference, packed once at load for the precision the
// model runs at (encoder/precision.h). fp32 keeps the matrix as [in, out] and multiplies on
// blas::gemm/gemv; bf16 and int8 keep it converted and packed once for oneDNN's matmul, whose
// primitives (one per row count, made on first use and shared by threads) all read that packing.
// Shapes: x [rows, in], W [in, out], y [rows, out].
#include <cstdint>
#include <memory>

#include "encoder/precision.h"
#include "encoder/tensor.h"

namespace opsis {

class DenseWeights {
public:
    enum class Layout {
        out_in,  // [out, in]: PyTorch's linear weight (W transposed)
        in_out,  // [in, out]: CLIP's projections and packed convolution kernels
    };

    DenseWeights() = default;
    DenseWeights(const Tensor& matrix, Layout layout, Precision precision);

    std::int64_t in_features() const { return in_; }
    std::int64_t out_features() const { return out_; }
    Precision precision() const { return precision_; }

    // y[rows, out] (rows ldy floats apart) = x[rows, in] (contiguous) · W.
    void apply(const float* x, std::int64_t rows, float* y, std::int64_t ldy) const;

    // The fp32 matrix [in, out] (transposed at construction when given [out, in]), for training's
    // backward; throws unless the precision is fp32.
    const Tensor& fp32() const;

private:
    struct Reduced;  // oneDNN's primitive and the converted weights
    Tensor fp32_;    // [in, out]
    Precision precision_ = Precision::fp32;
    std::int64_t in_ = 0, out_ = 0;
    std::shared_ptr<const Reduced> reduced_;
};

// The fp32 product on BLAS, for a matrix held elsewhere (training's weights).
void dense_fp32(const float* x, std::int64_t rows, const float* w, DenseWeights::Layout layout, std::int64_t in,
                std::int64_t out, float* y, std::int64_t ldy);

}  // namespace opsis
