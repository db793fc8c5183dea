// AVX2 + FMA + F16C kernels. Selected at run time when cpu_features() reports all three.
// Every slot here is tested against its scalar reference (test/native/test_kernels.cc):
// binary ops and max/min/argmax bit for bit, transcendentals within a few ulp, sums to
// rounding. Tails reuse the vector code on a padded copy, so a row's last elements are
// computed exactly like its first ones.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../core/cpu_features.h"
#include "../core/half.h"
#include "kernels.h"

#include "isa_avx2_begin.h"
#ifdef NT_HAVE_AVX2_BUILD

namespace nt {
namespace {

// Widening conversions into f32. Large outputs (>= 4 MiB per call) use streaming stores:
// a fresh f32 output is not re-read soon, and skipping its read-for-ownership cuts the
// traffic from 10 to 6 bytes per element.
constexpr int64_t kWidenStreamBytes = int64_t{4} << 20;

// Widen supplies v(8 x u16) -> 8 x f32 and s(u16) -> f32 (structs, not lambdas: lambdas
// would not inherit the AVX2 target and would change the vector ABI).
template <class Widen>
void widen_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  const bool stream = n * 4 >= kWidenStreamBytes && (reinterpret_cast<uintptr_t>(dst) & 3) == 0;
  if (stream) {
    for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 31) != 0; ++i) dst[i] = Widen::s(src[i]);
    for (; i + 8 <= n; i += 8)
      _mm256_stream_ps(dst + i, Widen::v(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
    _mm_sfence();
  }
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, Widen::v(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = Widen::s(src[i]);
}

// F16C converts 8 lanes per instruction with IEEE round-to-nearest-even, matching half.h.
struct F16Widen {
  static __m256 v(__m128i h) { return _mm256_cvtph_ps(h); }
  static float s(uint16_t h) { return _cvtsh_ss(h); }
};
void f16_to_f32_avx2(const uint16_t* src, float* dst, int64_t n) { widen_to_f32<F16Widen>(src, dst, n); }

// bf16 is the top half of an f32: widen and shift.
struct Bf16Widen {
  static __m256 v(__m128i b) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16)); }
  static float s(uint16_t b) {
    const uint32_t u = static_cast<uint32_t>(b) << 16;
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
  }
};
void bf16_to_f32_avx2(const uint16_t* src, float* dst, int64_t n) { widen_to_f32<Bf16Widen>(src, dst, n); }

void f32_to_f16_avx2(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

// Round to nearest even on the dropped 16 bits; NaNs are quieted, as in half.h.
void f32_to_bf16_avx2(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet = _mm256_set1_epi32(0x00400000);
  for (; i + 8 <= n; i += 8) {
    __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
    __m256i rounded = _mm256_add_epi32(u, _mm256_add_epi32(bias, lsb));
    __m256i r = _mm256_blendv_epi8(rounded, _mm256_or_si256(u, quiet), is_nan);
    r = _mm256_srli_epi32(r, 16);
    // pack 8 x u32 (each < 65536) into 8 x u16
    __m128i lo = _mm256_castsi256_si128(r), hi = _mm256_extracti128_si256(r, 1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_packus_epi32(lo, hi));
  }
  for (; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}


// ---------------------------------------------------------------------------------------
// Vector math. exp: Cephes expf (range reduction x = n ln2 + r with ln2 split in two,
// degree-5 polynomial on |r| <= ln2/2, about 1 ulp). The scale 2^n is applied as two
// halves so n in [-174, 129] needs no special cases: results overflow to +inf and
// underflow through the subnormals to 0 exactly as IEEE rounding would.

// exp(x) = exp_split(x, &scale) * scale, with the first factor >= 2^-76 (normal): callers
// whose result is tiny (silu, gelu for x << 0) multiply into that factor and apply the scale
// last, so their one rounding into the subnormal range is the only precision lost there.
inline __m256 exp_split(__m256 x, __m256* scale) {
  // Below -120 even x * exp(x) underflows for any f32 x, so those lanes are exactly 0 (a
  // clamped, tiny nonzero would turn -inf * exp(-inf) into -inf instead of NaN, and make
  // silu(-1e30) nonzero). Within [-120, 89] both halves of the scale stay normal.
  // min/max return their second operand when one is NaN: the NaN survives the clamp.
  const __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-120.0f), _CMP_LT_OQ);
  x = _mm256_max_ps(_mm256_set1_ps(-120.0f), _mm256_min_ps(_mm256_set1_ps(89.0f), x));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // exact: 9-bit constant
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  *scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_andnot_ps(under, _mm256_mul_ps(y, s1));  // exact: a power-of-two scaling that stays normal
}

inline __m256 exp_ps(__m256 x) {
  __m256 scale;
  const __m256 y = exp_split(x, &scale);
  return _mm256_mul_ps(y, scale);
}

// log: Cephes logf. x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(1+f) by a degree-9
// polynomial, e ln2 added in two parts. Subnormals are scaled by 2^23 first; 0, negative,
// +inf and NaN inputs are patched at the end (-inf, NaN, +inf, NaN).
inline __m256 log_ps(__m256 x0) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 tiny = _mm256_cmp_ps(x0, _mm256_set1_ps(1.17549435e-38f), _CMP_LT_OQ);
  const __m256 x = _mm256_blendv_ps(x0, _mm256_mul_ps(x0, _mm256_set1_ps(8388608.0f)), tiny);
  const __m256i xi = _mm256_castps_si256(x);
  __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(xi, 23), _mm256_set1_epi32(126)));
  e = _mm256_sub_ps(e, _mm256_and_ps(tiny, _mm256_set1_ps(23.0f)));
  __m256 m = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_and_si256(xi, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f000000)));
  // m in [0.5, 1): below sqrt(1/2) use 2m - 1 and e - 1, else m - 1.
  const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  const __m256 tmp = _mm256_and_ps(m, small);
  m = _mm256_add_ps(_mm256_sub_ps(m, one), tmp);
  e = _mm256_sub_ps(e, _mm256_and_ps(one, small));
  const __m256 z = _mm256_mul_ps(m, m);
  __m256 y = _mm256_set1_ps(7.0376836292e-2f);
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.1514610310e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.1676998740e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.2420140846e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.4249322787e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.6668057665e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(2.0000714765e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-2.4999993993e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(3.3333331174e-1f));
  y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
  y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
  y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), y);
  __m256 r = _mm256_add_ps(m, y);
  r = _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), r);
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  r = _mm256_blendv_ps(r, _mm256_sub_ps(zero, inf), _mm256_cmp_ps(x0, zero, _CMP_EQ_OQ));
  r = _mm256_blendv_ps(r, inf, _mm256_cmp_ps(x0, inf, _CMP_EQ_OQ));
  const __m256 invalid = _mm256_or_ps(_mm256_cmp_ps(x0, zero, _CMP_LT_OQ), _mm256_cmp_ps(x0, x0, _CMP_UNORD_Q));
  return _mm256_blendv_ps(r, _mm256_set1_ps(std::numeric_limits<float>::quiet_NaN()), invalid);
}

inline __m256 abs_ps(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }

// x * sigmoid(v + vl) with e = exp(-|v|): x / (1 + e) for v >= 0, x e / (1 + e) for v < 0,
// so neither branch overflows and tiny results keep their relative accuracy. vl is a small
// correction to v (|vl| <~ ulp(v)), applied as exp(-|v| - sign(v) vl) ~ e (1 - sign(v) vl).
inline __m256 mul_sigmoid_ps(__m256 x, __m256 v, __m256 vl) {
  __m256 scale;
  const __m256 zero = _mm256_setzero_ps();
  const __m256 neg = _mm256_cmp_ps(v, zero, _CMP_LT_OQ);
  const __m256 svl = _mm256_blendv_ps(vl, _mm256_sub_ps(zero, vl), neg);  // sign(v) * vl
  __m256 eh = exp_split(_mm256_sub_ps(zero, abs_ps(v)), &scale);
  eh = _mm256_fnmadd_ps(eh, svl, eh);
  const __m256 e = _mm256_mul_ps(eh, scale);
  const __m256 num = _mm256_blendv_ps(x, _mm256_mul_ps(_mm256_mul_ps(x, eh), scale), neg);
  return _mm256_div_ps(num, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

inline __m256 silu_ps(__m256 x) { return mul_sigmoid_ps(x, x, _mm256_setzero_ps()); }

// gelu_tanh(x) = 0.5 x (1 + tanh(u)) = x sigmoid(2u), 2u = v = x (c1 + c2 x^2). sigmoid(v)
// turns an absolute error in v into a relative error of the result, and |v| reaches ~100
// before the result underflows, so v is carried as an unevaluated sum vh + vl (exact x^2,
// constants split in two, error-free products and sums): the result stays within a few ulp
// instead of ~|v| ulp.
inline __m256 gelu_tanh_ps(__m256 x) {
  constexpr double c1 = 1.5957691216057307117597842397375;  // 2 sqrt(2/pi)
  constexpr double c2 = c1 * 0.044715;
  const __m256 c1h = _mm256_set1_ps(static_cast<float>(c1));
  const __m256 c1l = _mm256_set1_ps(static_cast<float>(c1 - static_cast<double>(static_cast<float>(c1))));
  const __m256 c2h = _mm256_set1_ps(static_cast<float>(c2));
  const __m256 c2l = _mm256_set1_ps(static_cast<float>(c2 - static_cast<double>(static_cast<float>(c2))));
  const __m256 x2h = _mm256_mul_ps(x, x), x2l = _mm256_fmsub_ps(x, x, x2h);
  const __m256 q = _mm256_mul_ps(c2h, x2h);
  __m256 ql = _mm256_fmsub_ps(c2h, x2h, q);
  ql = _mm256_fmadd_ps(c2h, x2l, _mm256_fmadd_ps(c2l, x2h, ql));
  const __m256 sh = _mm256_add_ps(c1h, q);  // two-sum of c1h + q
  const __m256 bb = _mm256_sub_ps(sh, c1h);
  __m256 sl = _mm256_add_ps(_mm256_sub_ps(c1h, _mm256_sub_ps(sh, bb)), _mm256_sub_ps(q, bb));
  sl = _mm256_add_ps(sl, _mm256_add_ps(ql, c1l));
  const __m256 vh = _mm256_mul_ps(x, sh);
  const __m256 vl = _mm256_fmadd_ps(x, sl, _mm256_fmsub_ps(x, sh, vh));
  // |x| large: x^2 overflows and the compensation terms become inf - inf; the result is
  // then x or +-0 regardless, so drop the correction where it is not finite.
  const __m256 finite = _mm256_cmp_ps(abs_ps(vl), _mm256_set1_ps(std::numeric_limits<float>::max()), _CMP_LE_OQ);
  return mul_sigmoid_ps(x, vh, _mm256_and_ps(vl, finite));
}

// gelu(x) = 0.5 x erfc(-x/sqrt2). erfc(z), z >= 0, by the Chebyshev fit of Numerical Recipes
// (erfcc: t exp(-z^2 + P(t)), t = 1/(1 + z/2), relative error < 1.2e-7 for all z). Two
// details keep f32 accuracy where gelu is tiny (x << 0): z^2 = x^2/2 is carried exactly as
// hi + lo (FMA), and exp(-hi/2) and exp(P - lo/2) are taken apart, since rounding a sum of
// size 50 would cost ~50 ulp. x >= 0 uses erfc(-z) = 2 - erfc(z), which cannot cancel.
inline __m256 gelu_ps(__m256 x) {
  // |x| > 20: erfc is 0 or 2 in f32; clamping keeps hi finite (inf*inf - inf would be NaN).
  const __m256 xc = _mm256_max_ps(_mm256_set1_ps(-20.0f), _mm256_min_ps(_mm256_set1_ps(20.0f), x));
  const __m256 z = _mm256_mul_ps(abs_ps(xc), _mm256_set1_ps(0.70710678118654752f));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), z, one));
  __m256 p = _mm256_set1_ps(0.17087277f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
  const __m256 hi = _mm256_mul_ps(xc, xc);
  const __m256 lo = _mm256_fmsub_ps(xc, xc, hi);  // x^2 = hi + lo exactly
  const __m256 half = _mm256_set1_ps(0.5f);
  __m256 scale;
  const __m256 ea = exp_split(_mm256_mul_ps(hi, _mm256_set1_ps(-0.5f)), &scale);
  const __m256 core = _mm256_mul_ps(t, exp_ps(_mm256_fnmadd_ps(lo, half, p)));  // erfc(|u|) = core*ea*scale
  const __m256 hx = _mm256_mul_ps(half, x);
  // x < 0: 0.5 x erfc(|u|), the tiny scale applied last; x >= 0: 0.5 x (2 - erfc(|u|)).
  const __m256 tiny = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(hx, core), ea), scale);
  const __m256 ec = _mm256_mul_ps(_mm256_mul_ps(core, ea), scale);
  const __m256 big = _mm256_mul_ps(hx, _mm256_sub_ps(_mm256_set1_ps(2.0f), ec));
  return _mm256_blendv_ps(big, tiny, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

inline __m256 sqrt_ps(__m256 x) { return _mm256_sqrt_ps(x); }

// Unary map over a contiguous row; the tail goes through the same vector code on a padded
// copy (padding lanes are 0, harmless for every function here).
template <__m256 (*F)(__m256)>
void unary_avx2(const float* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = F(_mm256_loadu_ps(x + i)), b = F(_mm256_loadu_ps(x + i + 8));
    _mm256_storeu_ps(out + i, a);
    _mm256_storeu_ps(out + i + 8, b);
  }
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, F(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(buf, x + i, static_cast<size_t>(n - i) * 4);
    _mm256_store_ps(buf, F(_mm256_load_ps(buf)));
    std::memcpy(out + i, buf, static_cast<size_t>(n - i) * 4);
  }
}

void sqrt_f64_avx2(const double* x, double* out, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(out + i, _mm256_sqrt_pd(_mm256_loadu_pd(x + i)));
  for (; i < n; ++i) out[i] = std::sqrt(x[i]);
}

// ---------------------------------------------------------------------------------------
// Binary ops. Large outputs (>= 4 MiB in one call: well past L2, and a fresh output is not
// re-read soon) use streaming stores: they skip the read-for-ownership of the destination,
// so an out-of-cache a + b moves 12 bytes per f32 element instead of 16.

constexpr int64_t kStreamBytes = int64_t{4} << 20;

struct AddOp {
  static __m256 v(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
  static __m256d v(__m256d a, __m256d b) { return _mm256_add_pd(a, b); }
  template <typename T> static T s(T a, T b) { return a + b; }
};
struct SubOp {
  static __m256 v(__m256 a, __m256 b) { return _mm256_sub_ps(a, b); }
  static __m256d v(__m256d a, __m256d b) { return _mm256_sub_pd(a, b); }
  template <typename T> static T s(T a, T b) { return a - b; }
};
struct MulOp {
  static __m256 v(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
  static __m256d v(__m256d a, __m256d b) { return _mm256_mul_pd(a, b); }
  template <typename T> static T s(T a, T b) { return a * b; }
};
struct DivOp {
  static __m256 v(__m256 a, __m256 b) { return _mm256_div_ps(a, b); }
  static __m256d v(__m256d a, __m256d b) { return _mm256_div_pd(a, b); }
  template <typename T> static T s(T a, T b) { return a / b; }
};

// Lane-type traits so one template serves f32 (8 lanes) and f64 (4 lanes).
struct F32V {
  using T = float;
  using V = __m256;
  static constexpr int W = 8;
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static V set1(T v) { return _mm256_set1_ps(v); }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static void stream(T* p, V v) { _mm256_stream_ps(p, v); }
};
struct F64V {
  using T = double;
  using V = __m256d;
  static constexpr int W = 4;
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static V set1(T v) { return _mm256_set1_pd(v); }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static void stream(T* p, V v) { _mm256_stream_pd(p, v); }
};

// AS/BS: 1 = contiguous operand, 0 = broadcast scalar (hoisted into a register).
template <class L, class Op, int AS, int BS, bool Stream>
void binary_run(const typename L::T* a, const typename L::T* b, typename L::T* out, int64_t i, int64_t n) {
  using V = typename L::V;
  constexpr int W = L::W;
  const V va = L::set1(a[0]), vb = L::set1(b[0]);
  auto A = [&](int64_t k) { return AS ? L::load(a + k) : va; };
  auto B = [&](int64_t k) { return BS ? L::load(b + k) : vb; };
  auto put = [&](int64_t k, V v) { Stream ? L::stream(out + k, v) : L::store(out + k, v); };
  for (; i + 4 * W <= n; i += 4 * W) {
    const V r0 = Op::v(A(i), B(i)), r1 = Op::v(A(i + W), B(i + W));
    const V r2 = Op::v(A(i + 2 * W), B(i + 2 * W)), r3 = Op::v(A(i + 3 * W), B(i + 3 * W));
    put(i, r0);
    put(i + W, r1);
    put(i + 2 * W, r2);
    put(i + 3 * W, r3);
  }
  for (; i + W <= n; i += W) put(i, Op::v(A(i), B(i)));
  for (; i < n; ++i) out[i] = Op::s(a[AS * i], b[BS * i]);
  if (Stream) _mm_sfence();
}

template <class L, class Op, int AS, int BS>
void binary_dispatch(const typename L::T* a, const typename L::T* b, typename L::T* out, int64_t n) {
  using T = typename L::T;
  const bool stream = n * static_cast<int64_t>(sizeof(T)) >= kStreamBytes &&
                      (reinterpret_cast<uintptr_t>(out) % sizeof(T)) == 0;
  if (!stream) return binary_run<L, Op, AS, BS, false>(a, b, out, 0, n);
  // Scalar prologue up to a 32-byte boundary: streaming stores need aligned addresses.
  int64_t i = 0;
  for (; i < n && (reinterpret_cast<uintptr_t>(out + i) & 31) != 0; ++i) out[i] = Op::s(a[AS * i], b[BS * i]);
  binary_run<L, Op, AS, BS, true>(a, b, out, i, n);
}

template <class L, class Op>
void binary_avx2(const typename L::T* a, int64_t as, const typename L::T* b, int64_t bs, typename L::T* out,
                 int64_t n) {
  if (n <= 0) return;
  if (as != 0 && bs != 0) binary_dispatch<L, Op, 1, 1>(a, b, out, n);
  else if (as != 0) binary_dispatch<L, Op, 1, 0>(a, b, out, n);
  else if (bs != 0) binary_dispatch<L, Op, 0, 1>(a, b, out, n);
  else {
    const typename L::T v = Op::s(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  }
}

void add_f32_avx2(const float* a, int64_t as, const float* b, int64_t bs, float* o, int64_t n) { binary_avx2<F32V, AddOp>(a, as, b, bs, o, n); }
void sub_f32_avx2(const float* a, int64_t as, const float* b, int64_t bs, float* o, int64_t n) { binary_avx2<F32V, SubOp>(a, as, b, bs, o, n); }
void mul_f32_avx2(const float* a, int64_t as, const float* b, int64_t bs, float* o, int64_t n) { binary_avx2<F32V, MulOp>(a, as, b, bs, o, n); }
void div_f32_avx2(const float* a, int64_t as, const float* b, int64_t bs, float* o, int64_t n) { binary_avx2<F32V, DivOp>(a, as, b, bs, o, n); }
void add_f64_avx2(const double* a, int64_t as, const double* b, int64_t bs, double* o, int64_t n) { binary_avx2<F64V, AddOp>(a, as, b, bs, o, n); }
void sub_f64_avx2(const double* a, int64_t as, const double* b, int64_t bs, double* o, int64_t n) { binary_avx2<F64V, SubOp>(a, as, b, bs, o, n); }
void mul_f64_avx2(const double* a, int64_t as, const double* b, int64_t bs, double* o, int64_t n) { binary_avx2<F64V, MulOp>(a, as, b, bs, o, n); }
void div_f64_avx2(const double* a, int64_t as, const double* b, int64_t bs, double* o, int64_t n) { binary_avx2<F64V, DivOp>(a, as, b, bs, o, n); }

// ---------------------------------------------------------------------------------------
// Reductions. f32 sums widen to f64 (four independent f64 accumulators): the error of a
// 1e6-element sum stays at the f64 level, far below the f32 result's own rounding.

inline double hsum_pd(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// Kind: 0 sum, 1 sum of squares, 2 sum of |x|.
template <int Kind>
double sum_like_f32(const float* x, int64_t n) {
  __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
  auto add = [&](int k, __m128 v) {
    const __m256d d = _mm256_cvtps_pd(v);
    acc[k] = Kind == 1 ? _mm256_fmadd_pd(d, d, acc[k]) : _mm256_add_pd(acc[k], d);
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
    if (Kind == 2) { v0 = abs_ps(v0); v1 = abs_ps(v1); }
    add(0, _mm256_castps256_ps128(v0));
    add(1, _mm256_extractf128_ps(v0, 1));
    add(2, _mm256_castps256_ps128(v1));
    add(3, _mm256_extractf128_ps(v1, 1));
  }
  double s = hsum_pd(_mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3])));
  for (; i < n; ++i) {
    const double v = x[i];
    s += Kind == 0 ? v : Kind == 1 ? v * v : std::fabs(v);
  }
  return s;
}

template <int Kind>
double sum_like_f64(const double* x, int64_t n) {
  __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
  const __m256d sign = _mm256_set1_pd(-0.0);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 4; ++k) {
      __m256d v = _mm256_loadu_pd(x + i + 4 * k);
      if (Kind == 2) v = _mm256_andnot_pd(sign, v);
      acc[k] = Kind == 1 ? _mm256_fmadd_pd(v, v, acc[k]) : _mm256_add_pd(acc[k], v);
    }
  }
  double s = hsum_pd(_mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3])));
  for (; i < n; ++i) {
    const double v = x[i];
    s += Kind == 0 ? v : Kind == 1 ? v * v : std::fabs(v);
  }
  return s;
}

// Column accumulation: 8 outputs per step, each still one f64 add per row (no reassociation).
template <int Kind>
inline __m256d col_term(__m256d v) {
  if (Kind == 1) return _mm256_mul_pd(v, v);
  if (Kind == 2) return _mm256_andnot_pd(_mm256_set1_pd(-0.0), v);
  return v;
}

template <int Kind>
void col_acc_f32(const float* x, int64_t m, double* acc) {
  int64_t j = 0;
  for (; j + 8 <= m; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    const __m256d lo = col_term<Kind>(_mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    const __m256d hi = col_term<Kind>(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    _mm256_storeu_pd(acc + j, _mm256_add_pd(_mm256_loadu_pd(acc + j), lo));
    _mm256_storeu_pd(acc + j + 4, _mm256_add_pd(_mm256_loadu_pd(acc + j + 4), hi));
  }
  for (; j < m; ++j) {
    const double v = x[j];
    acc[j] += Kind == 0 ? v : Kind == 1 ? v * v : std::fabs(v);
  }
}

template <int Kind>
void col_acc_f64(const double* x, int64_t m, double* acc) {
  int64_t j = 0;
  for (; j + 4 <= m; j += 4)
    _mm256_storeu_pd(acc + j, _mm256_add_pd(_mm256_loadu_pd(acc + j), col_term<Kind>(_mm256_loadu_pd(x + j))));
  for (; j < m; ++j) {
    const double v = x[j];
    acc[j] += Kind == 0 ? v : Kind == 1 ? v * v : std::fabs(v);
  }
}

// Kind: 0 max, 1 min, 2 max of magnitudes; NaN sticks: taken when t is NaN, and an acc that
// is NaN compares false either way, so it stays.
template <int Kind>
inline __m256d col_ext(__m256d t, __m256d a) {
  if (Kind == 2) t = _mm256_andnot_pd(_mm256_set1_pd(-0.0), t);
  const __m256d better = Kind == 1 ? _mm256_cmp_pd(t, a, _CMP_LT_OQ) : _mm256_cmp_pd(t, a, _CMP_GT_OQ);
  return _mm256_blendv_pd(a, t, _mm256_or_pd(better, _mm256_cmp_pd(t, t, _CMP_UNORD_Q)));
}

template <int Kind>
void col_ext_f32(const float* x, int64_t m, double* acc) {
  int64_t j = 0;
  for (; j + 8 <= m; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    _mm256_storeu_pd(acc + j, col_ext<Kind>(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_loadu_pd(acc + j)));
    _mm256_storeu_pd(acc + j + 4, col_ext<Kind>(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), _mm256_loadu_pd(acc + j + 4)));
  }
  for (; j < m; ++j) {
    const double t = Kind == 2 ? std::fabs(static_cast<double>(x[j])) : static_cast<double>(x[j]);
    const bool take = Kind == 1 ? t < acc[j] : t > acc[j];
    acc[j] = (take || t != t) ? t : acc[j];
  }
}

template <int Kind>
void col_ext_f64(const double* x, int64_t m, double* acc) {
  int64_t j = 0;
  for (; j + 4 <= m; j += 4) _mm256_storeu_pd(acc + j, col_ext<Kind>(_mm256_loadu_pd(x + j), _mm256_loadu_pd(acc + j)));
  for (; j < m; ++j) {
    const double t = Kind == 2 ? std::fabs(x[j]) : x[j];
    const bool take = Kind == 1 ? t < acc[j] : t > acc[j];
    acc[j] = (take || t != t) ? t : acc[j];
  }
}

// 4 outputs' (acc, idx) per step: taken where t > acc, or t is NaN and acc is not.
inline void col_arg_step(__m256d t, int64_t r, double* acc, int64_t* idx) {
  const __m256d a = _mm256_loadu_pd(acc);
  const __m256d take = _mm256_or_pd(_mm256_cmp_pd(t, a, _CMP_GT_OQ),
                                    _mm256_and_pd(_mm256_cmp_pd(t, t, _CMP_UNORD_Q), _mm256_cmp_pd(a, a, _CMP_ORD_Q)));
  _mm256_storeu_pd(acc, _mm256_blendv_pd(a, t, take));
  const __m256d i = _mm256_castsi256_pd(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx)));
  const __m256d row = _mm256_castsi256_pd(_mm256_set1_epi64x(r));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx), _mm256_castpd_si256(_mm256_blendv_pd(i, row, take)));
}

template <typename T>
void col_argmax_avx2(const T* x, int64_t m, int64_t r, double* acc, int64_t* idx) {
  int64_t j = 0;
  for (; j + 4 <= m; j += 4) {
    const __m256d t = sizeof(T) == 4 ? _mm256_cvtps_pd(_mm_loadu_ps(reinterpret_cast<const float*>(x + j)))
                                     : _mm256_loadu_pd(reinterpret_cast<const double*>(x + j));
    col_arg_step(t, r, acc + j, idx + j);
  }
  for (; j < m; ++j) {
    const double t = static_cast<double>(x[j]);
    const bool take = t > acc[j] || (t != t && acc[j] == acc[j]);
    acc[j] = take ? t : acc[j];
    idx[j] = take ? r : idx[j];
  }
}

double sum_f32_avx2(const float* x, int64_t n) { return sum_like_f32<0>(x, n); }
double sumsq_f32_avx2(const float* x, int64_t n) { return sum_like_f32<1>(x, n); }
double asum_f32_avx2(const float* x, int64_t n) { return sum_like_f32<2>(x, n); }
double sum_f64_avx2(const double* x, int64_t n) { return sum_like_f64<0>(x, n); }
double sumsq_f64_avx2(const double* x, int64_t n) { return sum_like_f64<1>(x, n); }
double asum_f64_avx2(const double* x, int64_t n) { return sum_like_f64<2>(x, n); }

// Max/min with NaN propagation: vmaxps drops NaNs depending on operand order, so NaNs are
// tracked in a separate mask and reported as the result.
struct MaxOp {
  static __m256 v(__m256 a, __m256 b) { return _mm256_max_ps(a, b); }
  static __m256d v(__m256d a, __m256d b) { return _mm256_max_pd(a, b); }
  template <typename T> static bool better(T v, T m) { return v > m; }
  static constexpr double init = -std::numeric_limits<double>::infinity();
};
struct MinOp {
  static __m256 v(__m256 a, __m256 b) { return _mm256_min_ps(a, b); }
  static __m256d v(__m256d a, __m256d b) { return _mm256_min_pd(a, b); }
  template <typename T> static bool better(T v, T m) { return v < m; }
  static constexpr double init = std::numeric_limits<double>::infinity();
};

template <class Op, bool Abs>
double extreme_f32(const float* x, int64_t n) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const float init = Abs ? 0.0f : static_cast<float>(Op::init);
  __m256 m0 = _mm256_set1_ps(init), m1 = m0, bad = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
    if (Abs) { v0 = abs_ps(v0); v1 = abs_ps(v1); }
    bad = _mm256_or_ps(bad, _mm256_or_ps(_mm256_cmp_ps(v0, v0, _CMP_UNORD_Q), _mm256_cmp_ps(v1, v1, _CMP_UNORD_Q)));
    m0 = Op::v(m0, v0);
    m1 = Op::v(m1, v1);
  }
  if (_mm256_movemask_ps(bad)) return nan;
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, Op::v(m0, m1));
  float m = init;
  for (float v : lanes) if (Op::better(v, m)) m = v;
  for (; i < n; ++i) {
    const float v = Abs ? std::fabs(x[i]) : x[i];
    if (v != v) return nan;
    if (Op::better(v, m)) m = v;
  }
  return m;
}

template <class Op, bool Abs>
double extreme_f64(const double* x, int64_t n) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double init = Abs ? 0.0 : Op::init;
  const __m256d sign = _mm256_set1_pd(-0.0);
  __m256d m0 = _mm256_set1_pd(init), m1 = m0, bad = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256d v0 = _mm256_loadu_pd(x + i), v1 = _mm256_loadu_pd(x + i + 4);
    if (Abs) { v0 = _mm256_andnot_pd(sign, v0); v1 = _mm256_andnot_pd(sign, v1); }
    bad = _mm256_or_pd(bad, _mm256_or_pd(_mm256_cmp_pd(v0, v0, _CMP_UNORD_Q), _mm256_cmp_pd(v1, v1, _CMP_UNORD_Q)));
    m0 = Op::v(m0, v0);
    m1 = Op::v(m1, v1);
  }
  if (_mm256_movemask_pd(bad)) return nan;
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, Op::v(m0, m1));
  double m = init;
  for (double v : lanes) if (Op::better(v, m)) m = v;
  for (; i < n; ++i) {
    const double v = Abs ? std::fabs(x[i]) : x[i];
    if (v != v) return nan;
    if (Op::better(v, m)) m = v;
  }
  return m;
}

double max_f32_avx2(const float* x, int64_t n) { return extreme_f32<MaxOp, false>(x, n); }
double min_f32_avx2(const float* x, int64_t n) { return extreme_f32<MinOp, false>(x, n); }
double amax_f32_avx2(const float* x, int64_t n) { return extreme_f32<MaxOp, true>(x, n); }
double max_f64_avx2(const double* x, int64_t n) { return extreme_f64<MaxOp, false>(x, n); }
double min_f64_avx2(const double* x, int64_t n) { return extreme_f64<MinOp, false>(x, n); }
double amax_f64_avx2(const double* x, int64_t n) { return extreme_f64<MaxOp, true>(x, n); }

// argmax in two vectorised passes: the max (NaN-aware), then the first index equal to it
// (or the first NaN). Equality also matches -0 against +0, keeping "first of the ties".
int64_t argmax_f32_avx2(const float* x, int64_t n) {
  if (n <= 0) return 0;
  const double m = max_f32_avx2(x, n);
  const bool nan = m != m;
  const __m256 target = _mm256_set1_ps(static_cast<float>(m));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const int hit = _mm256_movemask_ps(nan ? _mm256_cmp_ps(v, v, _CMP_UNORD_Q) : _mm256_cmp_ps(v, target, _CMP_EQ_OQ));
    if (hit) return i + __builtin_ctz(static_cast<unsigned>(hit));
  }
  for (; i < n; ++i)
    if (nan ? x[i] != x[i] : x[i] == static_cast<float>(m)) return i;
  return 0;  // unreachable: the max is an element
}

int64_t argmax_f64_avx2(const double* x, int64_t n) {
  if (n <= 0) return 0;
  const double m = max_f64_avx2(x, n);
  const bool nan = m != m;
  const __m256d target = _mm256_set1_pd(m);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d v = _mm256_loadu_pd(x + i);
    const int hit = _mm256_movemask_pd(nan ? _mm256_cmp_pd(v, v, _CMP_UNORD_Q) : _mm256_cmp_pd(v, target, _CMP_EQ_OQ));
    if (hit) return i + __builtin_ctz(static_cast<unsigned>(hit));
  }
  for (; i < n; ++i)
    if (nan ? x[i] != x[i] : x[i] == m) return i;
  return 0;
}

// ---------------------------------------------------------------------------------------
// softmax of one contiguous row: max, exp(x - max) with the sum widened to f64, scale.
// out may equal x (each element is read before it is overwritten).
void softmax_f32_avx2(const float* x, float* out, int64_t n) {
  if (n <= 0) return;
  const float m = static_cast<float>(max_f32_avx2(x, n));
  const __m256 vm = _mm256_set1_ps(m);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(out + i, e);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  if (i < n) {
    // Pad with -inf: exp(-inf - m) = 0 adds nothing to the sum.
    alignas(32) float buf[8];
    for (int k = 0; k < 8; ++k) buf[k] = i + k < n ? x[i + k] : -std::numeric_limits<float>::infinity();
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_load_ps(buf), vm));
    _mm256_store_ps(buf, e);
    std::memcpy(out + i, buf, static_cast<size_t>(n - i) * 4);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / hsum_pd(_mm256_add_pd(s0, s1))));
  i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(out + i), inv));
  for (; i < n; ++i) out[i] *= _mm256_cvtss_f32(inv);
}

void scale_mul_f32_avx2(const float* x, float s, const float* w, float* out, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(w + i)));
  for (; i < n; ++i) {
    const float xs = x[i] * s;  // a separate statement: never contracted with the next product
    out[i] = xs * w[i];
  }
}

void scale_mul_f64_avx2(const double* x, double s, const double* w, double* out, int64_t n) {
  const __m256d vs = _mm256_set1_pd(s);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    _mm256_storeu_pd(out + i, _mm256_mul_pd(_mm256_mul_pd(_mm256_loadu_pd(x + i), vs), _mm256_loadu_pd(w + i)));
  for (; i < n; ++i) {
    const double xs = x[i] * s;
    out[i] = xs * w[i];
  }
}

}  // namespace

void fill_avx2(KernelTable& t) {
  t.f16_to_f32 = f16_to_f32_avx2;
  t.f32_to_f16 = f32_to_f16_avx2;
  t.bf16_to_f32 = bf16_to_f32_avx2;
  t.f32_to_bf16 = f32_to_bf16_avx2;
  t.add_f32 = add_f32_avx2;
  t.sub_f32 = sub_f32_avx2;
  t.mul_f32 = mul_f32_avx2;
  t.div_f32 = div_f32_avx2;
  t.add_f64 = add_f64_avx2;
  t.sub_f64 = sub_f64_avx2;
  t.mul_f64 = mul_f64_avx2;
  t.div_f64 = div_f64_avx2;
  t.exp_f32 = unary_avx2<exp_ps>;
  t.log_f32 = unary_avx2<log_ps>;
  t.sqrt_f32 = unary_avx2<sqrt_ps>;
  t.silu_f32 = unary_avx2<silu_ps>;
  t.gelu_f32 = unary_avx2<gelu_ps>;
  t.gelu_tanh_f32 = unary_avx2<gelu_tanh_ps>;
  t.sqrt_f64 = sqrt_f64_avx2;
  t.sum_f32 = sum_f32_avx2;
  t.sumsq_f32 = sumsq_f32_avx2;
  t.asum_f32 = asum_f32_avx2;
  t.max_f32 = max_f32_avx2;
  t.min_f32 = min_f32_avx2;
  t.amax_f32 = amax_f32_avx2;
  t.argmax_f32 = argmax_f32_avx2;
  t.col_sum_f32 = col_acc_f32<0>;
  t.col_sumsq_f32 = col_acc_f32<1>;
  t.col_asum_f32 = col_acc_f32<2>;
  t.col_sum_f64 = col_acc_f64<0>;
  t.col_sumsq_f64 = col_acc_f64<1>;
  t.col_asum_f64 = col_acc_f64<2>;
  t.col_max_f32 = col_ext_f32<0>;
  t.col_min_f32 = col_ext_f32<1>;
  t.col_amax_f32 = col_ext_f32<2>;
  t.col_max_f64 = col_ext_f64<0>;
  t.col_min_f64 = col_ext_f64<1>;
  t.col_amax_f64 = col_ext_f64<2>;
  t.col_argmax_f32 = col_argmax_avx2<float>;
  t.col_argmax_f64 = col_argmax_avx2<double>;
  t.sum_f64 = sum_f64_avx2;
  t.sumsq_f64 = sumsq_f64_avx2;
  t.asum_f64 = asum_f64_avx2;
  t.max_f64 = max_f64_avx2;
  t.min_f64 = min_f64_avx2;
  t.amax_f64 = amax_f64_avx2;
  t.argmax_f64 = argmax_f64_avx2;
  t.softmax_f32 = softmax_f32_avx2;
  t.scale_mul_f32 = scale_mul_f32_avx2;
  t.scale_mul_f64 = scale_mul_f64_avx2;
}

}  // namespace nt

#endif  // NT_HAVE_AVX2_BUILD
#include "isa_avx2_end.h"

#ifdef NT_HAVE_AVX2_BUILD
namespace nt {
namespace {
bool avx2_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma && f.f16c;
}
}  // namespace
NT_REGISTER_ISA(avx2, 20, avx2_supported, fill_avx2);
}  // namespace nt
#endif
