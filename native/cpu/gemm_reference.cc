// Reference GEMM (see gemm.h): the plain triple loop with f64 accumulation that the packed
// kernels (gemm.cc) are tested against.
#include <algorithm>
#include "../core/thread_pool.h"
#include "gemm.h"

namespace nt {
namespace {

template <typename T>
void reference(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
               int64_t ldb, T beta, T* c, int64_t ldc) {
  parallel_for(m, std::max<int64_t>(1, 4096 / std::max<int64_t>(n * k, 1)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) {
          const double av = ta ? a[p * lda + i] : a[i * lda + p];
          const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
          acc += av * bv;
        }
        T& out = c[i * ldc + j];
        out = static_cast<T>(alpha * acc + (beta == T(0) ? 0.0 : static_cast<double>(beta) * out));
      }
  });
}

}  // namespace

void gemm_reference_f32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                        const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm_reference_f64(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                        const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
}  // namespace nt
