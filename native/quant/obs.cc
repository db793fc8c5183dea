// Dense loads, Hessian preparation and the H⁻¹ Cholesky factor shared by GPTQ and SparseGPT
// (see obs.h).
#include "obs.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "../linalg/cholesky.h"
#include "../ops/float_block.h"

namespace nt::quant {

template <typename T>
bool load_dense(const TensorView& v, T* dst) {
  const int64_t rows = v.shape[0], cols = v.shape[1];
  if (rows == 0 || cols == 0) return true;
  // f64 sources load as f64, the others as f32 (f16/bf16 through the ISA conversion slots).
  std::vector<float> f32(v.dtype == DType::F64 || std::is_same_v<T, float> ? 0 : static_cast<size_t>(cols));
  std::vector<double> f64(v.dtype == DType::F64 && !std::is_same_v<T, double> ? static_cast<size_t>(cols) : 0);
  bool finite = true;
  for (int64_t i = 0; i < rows; ++i) {
    const char* p = ops::elem_ptr(v, i * v.strides[0]);
    T* d = dst + i * cols;
    if (v.dtype == DType::F64) {
      if constexpr (std::is_same_v<T, double>) {
        ops::load_run<double>(p, v.dtype, v.strides[1], cols, d);
      } else {
        ops::load_run<double>(p, v.dtype, v.strides[1], cols, f64.data());
        for (int64_t j = 0; j < cols; ++j) d[j] = static_cast<T>(f64[size_t(j)]);
      }
    } else if constexpr (std::is_same_v<T, float>) {
      ops::load_run<float>(p, v.dtype, v.strides[1], cols, d);
    } else {
      ops::load_run<float>(p, v.dtype, v.strides[1], cols, f32.data());
      for (int64_t j = 0; j < cols; ++j) d[j] = f32[size_t(j)];
    }
    // x * 0 is NaN exactly when x is NaN or ±Inf (an f64 value that overflows f32 included)
    T acc = 0;
    for (int64_t j = 0; j < cols; ++j) acc += d[j] * T(0);
    finite = finite && acc == T(0);
  }
  return finite;
}
template bool load_dense<float>(const TensorView&, float*);
template bool load_dense<double>(const TensorView&, double*);

void store_dense(const float* src, const TensorView& dst) {
  const int64_t rows = dst.shape[0], cols = dst.shape[1];
  std::vector<double> f64(dst.dtype == DType::F64 ? static_cast<size_t>(cols) : 0);
  for (int64_t i = 0; i < rows && cols > 0; ++i) {
    char* p = ops::elem_ptr(dst, i * dst.strides[0]);
    if (dst.dtype == DType::F64) {
      for (int64_t j = 0; j < cols; ++j) f64[size_t(j)] = src[i * cols + j];
      ops::store_run<double>(f64.data(), p, dst.dtype, dst.strides[1], cols);
    } else {
      ops::store_run<float>(src + i * cols, p, dst.dtype, dst.strides[1], cols);
    }
  }
}

void load_hessian(const char* op, const TensorView& h, double* hd, uint8_t* dead) {
  const int64_t n = h.shape[0];
  NT_CHECK(load_dense<double>(h, hd), Value, "[", op, "] hessian contains NaN or Inf");
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) hd[i * n + j] = hd[j * n + i];
  for (int64_t j = 0; j < n; ++j) {
    double& d = hd[j * n + j];
    NT_CHECK(d >= 0, Value, "[", op, "] hessian must be positive semidefinite (H = 2XᵀX/n), got diagonal element ", j,
             " = ", d);
    dead[j] = d == 0;
    if (d == 0) d = 1;
  }
}

double inverse_hessian_factor(const char* op, const double* hd, int64_t n, double damp, float* u) {
  if (n == 0) return damp;
  double mean_diag = 0;
  for (int64_t j = 0; j < n; ++j) mean_diag += hd[j * n + j];
  mean_diag /= static_cast<double>(n);
  // U is the upper factor of H⁻¹: with J the reversal permutation and J H J = L Lᵀ (lower
  // Cholesky), H = (J L J)(J L J)ᵀ where J L J is upper, so H⁻¹ = (J L⁻¹ J)ᵀ (J L⁻¹ J) and, by
  // uniqueness of the Cholesky factor, U = J L⁻¹ J. One factorization and one triangular
  // inverse (2/3 n³) instead of the reference's cholesky → cholesky_inverse → cholesky (4/3 n³),
  // and H⁻¹ itself is never formed. All of it in f64: the input is f32-rounded, so a singular
  // H is only singular up to rounding, and f64 keeps the factor's own error far below that.
  Scratch<double> a(static_cast<size_t>(n * n));
  double lambda = damp;
  double pivot = 0;
  int64_t bad = -1;
  for (int attempt = 0; attempt <= kDampRetries; ++attempt) {
    lambda = damp + 0.01 * attempt;
    const double shift = lambda * mean_diag;
    for (int64_t i = 0; i < n; ++i) {
      const double* src = hd + (n - 1 - i) * n + (n - 1);
      for (int64_t j = 0; j <= i; ++j) a[i * n + j] = src[-j];
      a[i * n + i] += shift;
    }
    bad = linalg::cholesky_lower(n, a.get(), n, &pivot);
    if (bad < 0) {
      // A pivot that is positive only by rounding (≤ 1e-10 of its diagonal element) means a
      // numerically singular H, whose inverse would be noise: treat it as a failure too.
      for (int64_t i = 0; i < n && bad < 0; ++i) {
        const double lii = a[i * n + i];
        const double diag = hd[(n - 1 - i) * n + (n - 1 - i)] + shift;
        if (!(lii * lii > 1e-10 * diag)) {
          bad = i;
          pivot = lii * lii;
        }
      }
    }
    if (bad < 0) break;
  }
  NT_CHECK(bad < 0, Numeric, "[", op, "] hessian + damping is not positive definite even with damp = ", lambda,
           " (raised from ", damp, " in steps of 0.01): Cholesky pivot of column ", n - 1 - bad, " is ", pivot);
  linalg::triangular_lower_inverse(n, a.get(), n);
  for (int64_t i = 0; i < n; ++i) {
    float* ui = u + i * n;
    for (int64_t j = 0; j < i; ++j) ui[j] = 0.0f;
    for (int64_t j = i; j < n; ++j) ui[j] = static_cast<float>(a[(n - 1 - i) * n + (n - 1 - j)]);
  }
  return lambda;
}

}  // namespace nt::quant
