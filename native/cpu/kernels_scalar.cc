// Scalar reference kernels: the portable baseline every SIMD slot is tested against.
// f32 transcendental slots evaluate in double and round once, so they are the accurate
// reference (not merely a portable fallback); sums accumulate in double in index order.
#include <cmath>
#include <cstdint>
#include <limits>

#include "../core/half.h"
#include "kernels.h"

namespace nt {
namespace {

void f16_to_f32_scalar(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}
void f32_to_f16_scalar(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}
void bf16_to_f32_scalar(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}
void f32_to_bf16_scalar(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

// ---- binary ----
struct Add { template <typename T> static T f(T a, T b) { return a + b; } };
struct Sub { template <typename T> static T f(T a, T b) { return a - b; } };
struct Mul { template <typename T> static T f(T a, T b) { return a * b; } };
struct Div { template <typename T> static T f(T a, T b) { return a / b; } };

template <typename Op, typename T>
void binary_scalar(const T* a, int64_t as, const T* b, int64_t bs, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = Op::f(a[i * as], b[i * bs]);
}

// ---- unary (double precision; the f32 slots round the double result once) ----
constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kSqrt2OverPi = 0.79788456080286535588;

// x * sigmoid(x) without overflow: for x < 0 use e^x / (1 + e^x).
double silu_d(double x) {
  if (x >= 0) return x / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return x * e / (1.0 + e);
}
// erfc form: 0.5 x (1 + erf(x/sqrt2)) = 0.5 x erfc(-x/sqrt2), no cancellation for x < 0.
double gelu_d(double x) { return 0.5 * x * std::erfc(-x * kSqrt1_2); }
// 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
double gelu_tanh_d(double x) {
  const double v = 2.0 * kSqrt2OverPi * (x + 0.044715 * x * x * x);
  if (v >= 0) return x / (1.0 + std::exp(-v));
  const double e = std::exp(v);
  return x * e / (1.0 + e);
}
double exp_d(double x) { return std::exp(x); }
double log_d(double x) { return std::log(x); }
double sqrt_d(double x) { return std::sqrt(x); }

template <double (*F)(double)>
void unary_f32(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(F(x[i]));
}
template <double (*F)(double)>
void unary_f64(const double* x, double* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = F(x[i]);
}

// ---- reductions ----
template <typename T>
double sum_scalar(const T* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]);
  return s;
}
template <typename T>
double sumsq_scalar(const T* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return s;
}
template <typename T>
double asum_scalar(const T* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::fabs(static_cast<double>(x[i]));
  return s;
}
// Kind: 0 sum, 1 sum of squares, 2 sum of magnitudes (the column walk of reduce.cc).
template <int Kind, typename T>
void col_acc_scalar(const T* x, int64_t m, double* acc) {
  for (int64_t j = 0; j < m; ++j) {
    const double v = static_cast<double>(x[j]);
    acc[j] += Kind == 0 ? v : Kind == 1 ? v * v : std::fabs(v);
  }
}
// Kind: 0 max, 1 min, 2 max of magnitudes; a NaN sticks (neither comparison replaces it).
template <int Kind, typename T>
void col_ext_scalar(const T* x, int64_t m, double* acc) {
  for (int64_t j = 0; j < m; ++j) {
    const double t = Kind == 2 ? std::fabs(static_cast<double>(x[j])) : static_cast<double>(x[j]);
    const bool take = Kind == 1 ? t < acc[j] : t > acc[j];
    acc[j] = (take || t != t) ? t : acc[j];
  }
}
template <typename T>
void col_argmax_scalar(const T* x, int64_t m, int64_t r, double* acc, int64_t* idx) {
  for (int64_t j = 0; j < m; ++j) {
    const double t = static_cast<double>(x[j]);
    const bool take = t > acc[j] || (t != t && acc[j] == acc[j]);
    acc[j] = take ? t : acc[j];
    idx[j] = take ? r : idx[j];
  }
}
template <typename T>
double max_scalar(const T* x, int64_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    if (v != v) return v;
    if (v > m) m = v;
  }
  return m;
}
template <typename T>
double min_scalar(const T* x, int64_t n) {
  double m = std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    if (v != v) return v;
    if (v < m) m = v;
  }
  return m;
}
template <typename T>
double amax_scalar(const T* x, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = std::fabs(static_cast<double>(x[i]));
    if (v != v) return v;
    if (v > m) m = v;
  }
  return m;
}
template <typename T>
int64_t argmax_scalar(const T* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] != x[i]) return i;
    if (x[i] > x[best]) best = i;
  }
  return best;
}

// ---- softmax over one contiguous row: subtract the max so exp never overflows ----
template <typename T>
void softmax_scalar(const T* x, T* out, int64_t n) {
  const T m = static_cast<T>(max_scalar(x, n));
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T e = static_cast<T>(std::exp(static_cast<double>(x[i] - m)));
    out[i] = e;
    s += e;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(static_cast<double>(out[i]) / s);
}

template <typename T>
void scale_mul_scalar(const T* x, T s, const T* w, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * s) * w[i];
}

bool always() { return true; }

void fill_scalar(KernelTable& t) {
  t.f16_to_f32 = f16_to_f32_scalar;
  t.f32_to_f16 = f32_to_f16_scalar;
  t.bf16_to_f32 = bf16_to_f32_scalar;
  t.f32_to_bf16 = f32_to_bf16_scalar;
  t.add_f32 = binary_scalar<Add, float>;
  t.sub_f32 = binary_scalar<Sub, float>;
  t.mul_f32 = binary_scalar<Mul, float>;
  t.div_f32 = binary_scalar<Div, float>;
  t.add_f64 = binary_scalar<Add, double>;
  t.sub_f64 = binary_scalar<Sub, double>;
  t.mul_f64 = binary_scalar<Mul, double>;
  t.div_f64 = binary_scalar<Div, double>;
  t.exp_f32 = unary_f32<exp_d>;
  t.log_f32 = unary_f32<log_d>;
  t.sqrt_f32 = unary_f32<sqrt_d>;
  t.silu_f32 = unary_f32<silu_d>;
  t.gelu_f32 = unary_f32<gelu_d>;
  t.gelu_tanh_f32 = unary_f32<gelu_tanh_d>;
  t.exp_f64 = unary_f64<exp_d>;
  t.log_f64 = unary_f64<log_d>;
  t.sqrt_f64 = unary_f64<sqrt_d>;
  t.silu_f64 = unary_f64<silu_d>;
  t.gelu_f64 = unary_f64<gelu_d>;
  t.gelu_tanh_f64 = unary_f64<gelu_tanh_d>;
  t.sum_f32 = sum_scalar<float>;
  t.sumsq_f32 = sumsq_scalar<float>;
  t.asum_f32 = asum_scalar<float>;
  t.max_f32 = max_scalar<float>;
  t.min_f32 = min_scalar<float>;
  t.amax_f32 = amax_scalar<float>;
  t.argmax_f32 = argmax_scalar<float>;
  t.col_sum_f32 = col_acc_scalar<0, float>;
  t.col_sumsq_f32 = col_acc_scalar<1, float>;
  t.col_asum_f32 = col_acc_scalar<2, float>;
  t.col_sum_f64 = col_acc_scalar<0, double>;
  t.col_sumsq_f64 = col_acc_scalar<1, double>;
  t.col_asum_f64 = col_acc_scalar<2, double>;
  t.col_max_f32 = col_ext_scalar<0, float>;
  t.col_min_f32 = col_ext_scalar<1, float>;
  t.col_amax_f32 = col_ext_scalar<2, float>;
  t.col_max_f64 = col_ext_scalar<0, double>;
  t.col_min_f64 = col_ext_scalar<1, double>;
  t.col_amax_f64 = col_ext_scalar<2, double>;
  t.col_argmax_f32 = col_argmax_scalar<float>;
  t.col_argmax_f64 = col_argmax_scalar<double>;
  t.sum_f64 = sum_scalar<double>;
  t.sumsq_f64 = sumsq_scalar<double>;
  t.asum_f64 = asum_scalar<double>;
  t.max_f64 = max_scalar<double>;
  t.min_f64 = min_scalar<double>;
  t.amax_f64 = amax_scalar<double>;
  t.argmax_f64 = argmax_scalar<double>;
  t.softmax_f32 = softmax_scalar<float>;
  t.softmax_f64 = softmax_scalar<double>;
  t.scale_mul_f32 = scale_mul_scalar<float>;
  t.scale_mul_f64 = scale_mul_scalar<double>;
}

}  // namespace

NT_REGISTER_ISA(scalar, 0, always, fill_scalar);

}  // namespace nt
