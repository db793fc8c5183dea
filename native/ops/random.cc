#include "random.h"

#include <algorithm>
#include <cmath>

#include "../core/thread_pool.h"

namespace nt {
namespace {

constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;

inline double unit53(uint32_t hi, uint32_t lo) {
  // top 53 bits of (hi:lo) scaled by 2^-53: exactly representable, in [0, 1)
  const uint64_t bits = ((static_cast<uint64_t>(hi) << 32) | lo) >> 11;
  return static_cast<double>(bits) * 0x1.0p-53;
}

template <typename T>
void fill_uniform(T* out, int64_t begin, int64_t end, uint64_t seed) {
  for (int64_t i = begin; i < end; ++i) {
    const auto w = philox4x32_10(static_cast<uint64_t>(i) >> 1, seed);
    const int k = static_cast<int>(i & 1) * 2;
    double u = unit53(w[k], w[k + 1]);
    if constexpr (sizeof(T) == 4) out[i] = std::min(static_cast<float>(u), 0x1.fffffep-1f);
    else out[i] = u;
  }
}

template <typename T>
void fill_normal(T* out, int64_t begin, int64_t end, int64_t n, uint64_t seed) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for (int64_t j = begin / 2; j * 2 < end; ++j) {
    const auto w = philox4x32_10(static_cast<uint64_t>(j), seed);
    const double u1 = unit53(w[0], w[1]), u2 = unit53(w[2], w[3]);
    const double r = std::sqrt(-2.0 * std::log1p(-u1));  // 1 - u1 in (0, 1]: never log(0)
    const double z0 = r * std::cos(kTwoPi * u2), z1 = r * std::sin(kTwoPi * u2);
    if (2 * j >= begin) out[2 * j] = static_cast<T>(z0);
    if (2 * j + 1 < std::min(end, n)) out[2 * j + 1] = static_cast<T>(z1);
  }
}

}  // namespace

std::array<uint32_t, 4> philox4x32_10(uint64_t counter, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c0, p1 = static_cast<uint64_t>(kM1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  return {c0, c1, c2, c3};
}

void fill_random(const TensorView& out, Distribution dist, uint64_t seed) {
  const int64_t n = out.numel();
  // Chunks start on even indices so a normal pair is never split between threads.
  const int64_t pairs = (n + 1) / 2;
  parallel_for(pairs, 1 << 13, [&](int64_t b, int64_t e) {
    const int64_t begin = 2 * b, end = std::min(2 * e, n);
    if (out.dtype == DType::F32) {
      float* p = out.ptr<float>();
      if (dist == Distribution::Uniform) fill_uniform(p, begin, end, seed);
      else fill_normal(p, begin, end, n, seed);
    } else {
      double* p = out.ptr<double>();
      if (dist == Distribution::Uniform) fill_uniform(p, begin, end, seed);
      else fill_normal(p, begin, end, n, seed);
    }
  });
}

}  // namespace nt
