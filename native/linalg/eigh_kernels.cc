// Scalar references of the eigh kernels (see eigh_kernels.h).
#include "eigh_kernels.h"

#include <cmath>

namespace nt {
namespace {

template <typename T>
void symv_columns_scalar(const T* a, int64_t lda, int64_t m, int64_t c0, int64_t c1, const T* x, T* y) {
  for (int64_t c = c0; c < c1; ++c) {
    const T* ac = a + c * lda;
    const T xc = x[c];
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0;  // independent partial sums: no loop-carried latency chain
    int64_t r = c + 1;
    for (; r + 4 <= m; r += 4) {
      s0 += ac[r] * x[r];
      s1 += ac[r + 1] * x[r + 1];
      s2 += ac[r + 2] * x[r + 2];
      s3 += ac[r + 3] * x[r + 3];
      y[r] += ac[r] * xc;
      y[r + 1] += ac[r + 1] * xc;
      y[r + 2] += ac[r + 2] * xc;
      y[r + 3] += ac[r + 3] * xc;
    }
    for (; r < m; ++r) {
      s0 += ac[r] * x[r];
      y[r] += ac[r] * xc;
    }
    y[c] += ac[c] * xc + ((s0 + s1) + (s2 + s3));
  }
}

void secular_sums_scalar(const double* p, const double* w, int64_t n, double tau, double* sums) {
  double s = 0, ds = 0, abs = 0;
  for (int64_t j = 0; j < n; ++j) {
    const double t = w[j] / (p[j] - tau);
    const double term = w[j] * t;
    s += term;
    ds += t * t;
    abs += std::fabs(term);
  }
  sums[0] += s;
  sums[1] += ds;
  sums[2] += abs;
}

double divide_sumsq_scalar(const double* num, const double* den, double* out, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = num[i] / den[i];
    s += out[i] * out[i];
  }
  return s;
}

bool always() { return true; }

void fill_eigh_scalar(KernelTable& t) {
  t.eigh_symv_f32 = symv_columns_scalar<float>;
  t.eigh_symv_f64 = symv_columns_scalar<double>;
  t.eigh_secular_sums = secular_sums_scalar;
  t.eigh_divide_sumsq = divide_sumsq_scalar;
}

}  // namespace

static IsaRegistration nt_isa_registration_eigh_scalar("scalar", 0, always, fill_eigh_scalar);

}  // namespace nt
