#include "encoder/blas.h"

#include <atomic>
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include "core/error.h"

namespace opsis::blas {
namespace {
std::atomic<std::uint64_t> g_flops{0};
}

void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc) {
    if (m == 0 || n == 0) return;
    g_flops.fetch_add(2ull * static_cast<std::uint64_t>(m) * n * k, std::memory_order_relaxed);
    // oneDNN's sgemm, not OpenBLAS's: it picks the CPU's widest kernels at run time (Debian's
    // OpenBLAS 0.3.21 stops at AVX2), 1.3-3x faster on an AVX-512 machine for our shapes, and it
    // threads on the same libgomp pool. Row-major, as cblas with CblasRowMajor.
    const dnnl_status_t status =
        dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (status != dnnl_success)
        throw Error("sgemm " + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) +
                    ": oneDNN failed (status " + std::to_string(static_cast<int>(status)) + ")");
}

void gemv(bool trans_a, int m, int n, float alpha, const float* a, int lda, const float* x, float beta, float* y) {
    if (m == 0 || n == 0) return;
    g_flops.fetch_add(2ull * static_cast<std::uint64_t>(m) * n, std::memory_order_relaxed);
    cblas_sgemv(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, m, n, alpha, a, lda, x, 1, beta, y, 1);
}

void set_threads(int threads) {
    if (threads < 1) threads = 1;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}

int threads() { return omp_get_max_threads(); }

void set_thread_local_single() { omp_set_num_threads(1); }

std::string describe() {
    static const char* threading[] = {"sequential", "pthreads threading", "OpenMP threading"};
    const int p = openblas_get_parallel();
    std::string s = openblas_get_config();
    while (!s.empty() && s.back() == ' ') s.pop_back();
    const dnnl_version_t* v = dnnl_version();
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
           " (sgemm, " + (v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other") + " threading); " + s + ", " +
           (p >= 0 && p <= 2 ? threading[p] : "unknown threading") + " (sgemv)";
}

std::uint64_t flops_issued() { return g_flops.load(std::memory_order_relaxed); }
void reset_flops_issued() { g_flops.store(0, std::memory_order_relaxed); }
void count_flops(std::uint64_t flops) { g_flops.fetch_add(flops, std::memory_order_relaxed); }

}  // namespace opsis::blas
