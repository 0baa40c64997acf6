#pragma once
// The one door to BLAS: matrix products on oneDNN's sgemm, matrix-vector products on
// OpenBLAS's sgemv. Every product in Opsis goes through here so that the thread count is set in
// one place (both run on libgomp's pool) and the work done can be counted for benchmarks.
#include <cstdint>
#include <string>

namespace opsis::blas {

// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major; op transposes when the flag is set.
void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc);

// y[M] = alpha * op(A) * x + beta * y with A row-major [M, N] (or [N, M] when trans_a).
void gemv(bool trans_a, int m, int n, float alpha, const float* a, int lda, const float* x, float beta, float* y);

// Threads used by OpenBLAS and by Opsis's own OpenMP loops (one pool: libgomp).
void set_threads(int threads);
int threads();
// Makes OpenMP regions started by the calling thread (and the OpenBLAS calls it makes, which
// follow OpenMP's setting) single-threaded, leaving other threads as they are.
void set_thread_local_single();

// "oneDNN 2.6.3 (sgemm, OpenMP threading); OpenBLAS 0.3.21 … (sgemv)": which libraries are in use.
std::string describe();

// Floating-point operations issued through gemm/gemv since the last reset (2 per multiply-add).
std::uint64_t flops_issued();
void reset_flops_issued();
// Counts products done outside gemm/gemv (the reduced-precision ones: encoder/dense_weights.h).
void count_flops(std::uint64_t flops);

}  // namespace opsis::blas
