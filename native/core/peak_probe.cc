// Roofline probes (peak_probe.h). The FMA loop keeps more independent accumulator chains
// than latency x FMA ports (4 cycles x 2 ports on current x86 cores), so throughput, not
// latency, bounds it; values converge to c / (1 - m) and never reach denormals or infinity.
// The read loop keeps four vector sums so the adds never wait on each other.
#include "peak_probe.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "cpu_features.h"
#include "error.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define NT_PROBE_X86 1
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 false positive inside the reduce/setzero intrinsics (as in cpu/gemm_avx512.cc)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

namespace nt::bench {
namespace {

constexpr float kMulF = 0.999f, kAddF = 1e-3f;
constexpr double kMulD = 0.999, kAddD = 1e-3;

// ---- baseline off x86: plain C++ (the compiler may vectorize it for the build's base ISA) ----
constexpr int kBaseChains = 16;

template <typename T>
double fma_baseline(int64_t iterations, double* sink) {
  T acc[kBaseChains];
  for (int j = 0; j < kBaseChains; ++j) acc[j] = T(j) / T(kBaseChains);
  const T m = T(kMulD), c = T(kAddD);
  for (int64_t i = 0; i < iterations; ++i)
    for (int j = 0; j < kBaseChains; ++j) acc[j] = acc[j] * m + c;
  double s = 0;
  for (int j = 0; j < kBaseChains; ++j) s += double(acc[j]);
  *sink = s;
  return 2.0 * kBaseChains * double(iterations);
}

double read_baseline(const float* p, int64_t n) {
  float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) a[j] += p[i + j];
  double s = 0;
  for (int j = 0; j < 8; ++j) s += a[j];
  for (; i < n; ++i) s += p[i];
  return s;
}

#ifdef NT_PROBE_X86
#define NT_REP12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define NT_REP14(X) NT_REP12(X) X(12) X(13)
#define NT_REP16(X) NT_REP14(X) X(14) X(15)

// ---- SSE2, the x86-64 baseline every CPU has (what kernels capped at NTENSOR_ISA=scalar
// may be auto-vectorized to): no FMA, so a multiply then an add; a chain step waits for both
// (about 6 cycles), hence 14 xmm chains (16 registers: 14 + the two constants) ----
double fma_sse2_f32(int64_t iterations, double* sink) {
#define DECL(j) __m128 a##j = _mm_set1_ps(float(j) / 14.f);
#define STEP(j) a##j = _mm_add_ps(_mm_mul_ps(a##j, m), c);
#define SUM(j) s = _mm_add_ps(s, a##j);
  const __m128 m = _mm_set1_ps(kMulF), c = _mm_set1_ps(kAddF);
  NT_REP14(DECL)
  for (int64_t i = 0; i < iterations; ++i) { NT_REP14(STEP) }
  __m128 s = _mm_setzero_ps();
  NT_REP14(SUM)
  alignas(16) float out[4];
  _mm_store_ps(out, s);
  *sink = double(out[0]) + out[1] + out[2] + out[3];
  return 2.0 * 14 * 4 * double(iterations);
#undef DECL
#undef STEP
#undef SUM
}

double fma_sse2_f64(int64_t iterations, double* sink) {
#define DECL(j) __m128d a##j = _mm_set1_pd(double(j) / 14.);
#define STEP(j) a##j = _mm_add_pd(_mm_mul_pd(a##j, m), c);
#define SUM(j) s = _mm_add_pd(s, a##j);
  const __m128d m = _mm_set1_pd(kMulD), c = _mm_set1_pd(kAddD);
  NT_REP14(DECL)
  for (int64_t i = 0; i < iterations; ++i) { NT_REP14(STEP) }
  __m128d s = _mm_setzero_pd();
  NT_REP14(SUM)
  alignas(16) double out[2];
  _mm_store_pd(out, s);
  *sink = out[0] + out[1];
  return 2.0 * 14 * 2 * double(iterations);
#undef DECL
#undef STEP
#undef SUM
}

double read_sse2(const float* p, int64_t n) {
  __m128 a0 = _mm_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm_add_ps(a0, _mm_loadu_ps(p + i));
    a1 = _mm_add_ps(a1, _mm_loadu_ps(p + i + 4));
    a2 = _mm_add_ps(a2, _mm_loadu_ps(p + i + 8));
    a3 = _mm_add_ps(a3, _mm_loadu_ps(p + i + 12));
  }
  alignas(16) float out[4];
  _mm_store_ps(out, _mm_add_ps(_mm_add_ps(a0, a1), _mm_add_ps(a2, a3)));
  double s = double(out[0]) + out[1] + out[2] + out[3];
  for (; i < n; ++i) s += p[i];
  return s;
}

// ---- AVX2 + FMA: 12 ymm chains (16 registers: 12 + the two constants) ----

__attribute__((target("avx2,fma"))) double fma_avx2_f32(int64_t iterations, double* sink) {
#define DECL(j) __m256 a##j = _mm256_set1_ps(float(j) / 12.f);
#define STEP(j) a##j = _mm256_fmadd_ps(a##j, m, c);
#define SUM(j) s = _mm256_add_ps(s, a##j);
  const __m256 m = _mm256_set1_ps(kMulF), c = _mm256_set1_ps(kAddF);
  NT_REP12(DECL)
  for (int64_t i = 0; i < iterations; ++i) { NT_REP12(STEP) }
  __m256 s = _mm256_setzero_ps();
  NT_REP12(SUM)
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  double t = 0;
  for (float v : out) t += v;
  *sink = t;
  return 2.0 * 12 * 8 * double(iterations);
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) double fma_avx2_f64(int64_t iterations, double* sink) {
#define DECL(j) __m256d a##j = _mm256_set1_pd(double(j) / 12.);
#define STEP(j) a##j = _mm256_fmadd_pd(a##j, m, c);
#define SUM(j) s = _mm256_add_pd(s, a##j);
  const __m256d m = _mm256_set1_pd(kMulD), c = _mm256_set1_pd(kAddD);
  NT_REP12(DECL)
  for (int64_t i = 0; i < iterations; ++i) { NT_REP12(STEP) }
  __m256d s = _mm256_setzero_pd();
  NT_REP12(SUM)
  alignas(32) double out[4];
  _mm256_store_pd(out, s);
  *sink = out[0] + out[1] + out[2] + out[3];
  return 2.0 * 12 * 4 * double(iterations);
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) double read_avx2(const float* p, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
  }
  alignas(32) float out[8];
  _mm256_store_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  double s = 0;
  for (float v : out) s += v;
  for (; i < n; ++i) s += p[i];
  return s;
}

// ---- AVX-512: 16 zmm chains (32 registers) ----
__attribute__((target("avx512f,fma"))) double fma_avx512_f32(int64_t iterations, double* sink) {
#define DECL(j) __m512 a##j = _mm512_set1_ps(float(j) / 16.f);
#define STEP(j) a##j = _mm512_fmadd_ps(a##j, m, c);
#define SUM(j) s = _mm512_add_ps(s, a##j);
  const __m512 m = _mm512_set1_ps(kMulF), c = _mm512_set1_ps(kAddF);
  NT_REP16(DECL)
  for (int64_t i = 0; i < iterations; ++i) { NT_REP16(STEP) }
  __m512 s = _mm512_setzero_ps();
  NT_REP16(SUM)
  *sink = _mm512_reduce_add_ps(s);
  return 2.0 * 16 * 16 * double(iterations);
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx512f,fma"))) double fma_avx512_f64(int64_t iterations, double* sink) {
#define DECL(j) __m512d a##j = _mm512_set1_pd(double(j) / 16.);
#define STEP(j) a##j = _mm512_fmadd_pd(a##j, m, c);
#define SUM(j) s = _mm512_add_pd(s, a##j);
  const __m512d m = _mm512_set1_pd(kMulD), c = _mm512_set1_pd(kAddD);
  NT_REP16(DECL)
  for (int64_t i = 0; i < iterations; ++i) { NT_REP16(STEP) }
  __m512d s = _mm512_setzero_pd();
  NT_REP16(SUM)
  *sink = _mm512_reduce_add_pd(s);
  return 2.0 * 16 * 8 * double(iterations);
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx512f"))) double read_avx512(const float* p, int64_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
  }
  double s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  for (; i < n; ++i) s += p[i];
  return s;
}
#endif

enum class Level { Baseline, Sse2, Avx2, Avx512 };

Level probe_level() {
#ifdef NT_PROBE_X86
  const CpuFeatures& f = cpu_features();
  const int cap = isa_priority_cap();
  if (f.avx512f && f.fma && cap >= 30) return Level::Avx512;
  if (f.avx2 && f.fma && cap >= 20) return Level::Avx2;
  return Level::Sse2;
#else
  return Level::Baseline;
#endif
}

double fma_one(Level level, bool f64, int64_t iterations, double* sink) {
  switch (level) {
#ifdef NT_PROBE_X86
    case Level::Avx512: return f64 ? fma_avx512_f64(iterations, sink) : fma_avx512_f32(iterations, sink);
    case Level::Avx2: return f64 ? fma_avx2_f64(iterations, sink) : fma_avx2_f32(iterations, sink);
    case Level::Sse2: return f64 ? fma_sse2_f64(iterations, sink) : fma_sse2_f32(iterations, sink);
#endif
    default: return f64 ? fma_baseline<double>(iterations, sink) : fma_baseline<float>(iterations, sink);
  }
}

double read_one(Level level, const float* p, int64_t n) {
  switch (level) {
#ifdef NT_PROBE_X86
    case Level::Avx512: return read_avx512(p, n);
    case Level::Avx2: return read_avx2(p, n);
    case Level::Sse2: return read_sse2(p, n);
#endif
    default: return read_baseline(p, n);
  }
}

// Runs body(t) on threads 1..threads-1 and on the caller as t = 0, then joins. Own threads,
// not the pool: a pool that hands two chunks to one worker would halve the probe's figure.
template <typename F>
void on_threads(int threads, F body) {
  std::vector<std::thread> team;
  team.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) team.emplace_back([&body, t] { body(t); });
  body(0);
  for (std::thread& th : team) th.join();
}

}  // namespace

ProbeIsa probe_isa() {
  switch (probe_level()) {
    case Level::Avx512: return {"avx512", 16};
    case Level::Avx2: return {"avx2", 8};
    case Level::Sse2: return {"sse2", 4};
    default: return {"baseline", 1};
  }
}

double fma_probe(bool f64, int threads, int64_t iterations, double* sink) {
  NT_CHECK(threads >= 1 && threads <= 1024, Value, "[fmaProbe] threads must be in [1, 1024], got ", threads);
  NT_CHECK(iterations >= 1, Value, "[fmaProbe] iterations must be >= 1, got ", iterations);
  const Level level = probe_level();
  std::vector<double> flops(threads), sinks(threads);
  on_threads(threads, [&](int t) { flops[t] = fma_one(level, f64, iterations, &sinks[t]); });
  double total = 0, s = 0;
  for (int t = 0; t < threads; ++t) total += flops[t], s += sinks[t];
  *sink = s;
  return total;
}

double read_probe(const float* data, int64_t n, int threads) {
  NT_CHECK(threads >= 1 && threads <= 1024, Value, "[readProbe] threads must be in [1, 1024], got ", threads);
  const Level level = probe_level();
  std::vector<double> sums(threads);
  on_threads(threads, [&](int t) {
    // slices on 64-float (256-byte) boundaries so no two threads share a cache line
    const int64_t blocks = (n + 63) / 64;
    const int64_t b0 = blocks * t / threads, b1 = blocks * (t + 1) / threads;
    const int64_t begin = std::min(n, b0 * 64), end = std::min(n, b1 * 64);
    sums[t] = read_one(level, data + begin, end - begin);
  });
  double s = 0;
  for (double v : sums) s += v;
  return s;
}

}  // namespace nt::bench
