// Core: half conversions (all 65536 f16 patterns round-trip), SIMD conversion slots agree
// with the scalar reference bit for bit, thread pool covers ranges and propagates errors.
#include <atomic>
#include <cstring>
#include <random>
#include <vector>

#include "check.h"
#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "cpu/kernels.h"

TEST_CASE(f16_round_trips_every_pattern) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = nt::f16_to_f32(static_cast<uint16_t>(h));
    const uint16_t back = nt::f32_to_f16(f);
    if (std::isnan(f)) CHECK((back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0);
    else if (back != h) { CHECK(back == h); break; }
  }
}

TEST_CASE(f16_rounds_to_nearest_even) {
  CHECK(nt::f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);         // tie -> even (down)
  CHECK(nt::f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);         // tie -> even (up)
  CHECK(nt::f32_to_f16(65520.0f) == 0x7c00);                   // overflow -> inf
  CHECK(nt::f32_to_f16(65519.0f) == 0x7bff);
  CHECK(nt::f32_to_f16(5.9604644775390625e-8f) == 0x0001);     // smallest subnormal
  CHECK(nt::f32_to_f16(2.98e-8f) == 0x0000);                   // below half of it
}

TEST_CASE(bf16_rounds_and_keeps_nan) {
  CHECK(nt::f32_to_bf16(1.0f) == 0x3f80);
  CHECK(nt::bf16_to_f32(0x3f80) == 1.0f);
  CHECK(std::isnan(nt::bf16_to_f32(nt::f32_to_bf16(std::nanf("")))));
  CHECK(nt::f32_to_bf16(nt::bits_f32(0x3f808000u)) == 0x3f80);  // tie -> even
  CHECK(nt::f32_to_bf16(nt::bits_f32(0x3f818000u)) == 0x3f82);
}

TEST_CASE(simd_conversions_match_scalar_bits) {
  std::mt19937 rng(7);
  std::vector<float> src(1037);
  for (auto& x : src) { uint32_t u = rng(); std::memcpy(&x, &u, 4); }
  src[3] = INFINITY; src[4] = -0.0f; src[5] = 1e-30f;
  const nt::KernelTable ref = nt::kernels_for("scalar");
  for (const std::string& isa : nt::supported_isas()) {
    const nt::KernelTable k = nt::kernels_for(isa);
    std::vector<uint16_t> a(src.size()), b(src.size());
    std::vector<float> fa(src.size()), fb(src.size());
    ref.f32_to_f16(src.data(), a.data(), src.size());
    k.f32_to_f16(src.data(), b.data(), src.size());
    CHECK(a == b);
    ref.f16_to_f32(a.data(), fa.data(), a.size());
    k.f16_to_f32(a.data(), fb.data(), a.size());
    CHECK(std::memcmp(fa.data(), fb.data(), fa.size() * 4) == 0);
    ref.f32_to_bf16(src.data(), a.data(), src.size());
    k.f32_to_bf16(src.data(), b.data(), src.size());
    CHECK(a == b);
    ref.bf16_to_f32(a.data(), fa.data(), a.size());
    k.bf16_to_f32(a.data(), fb.data(), a.size());
    CHECK(std::memcmp(fa.data(), fb.data(), fa.size() * 4) == 0);
  }
}

// Outputs of >= 4 MiB take the streaming-store path (aligned body, scalar head and tail).
TEST_CASE(large_widening_conversions_match_scalar) {
  const int64_t n = (int64_t{1} << 20) + 13;
  std::mt19937 rng(11);
  std::vector<uint16_t> src(n);
  for (auto& h : src) h = static_cast<uint16_t>(rng());
  const nt::KernelTable ref = nt::kernels_for("scalar");
  for (const std::string& isa : nt::supported_isas()) {
    const nt::KernelTable k = nt::kernels_for(isa);
    std::vector<float> a(n + 1), b(n + 1);
    ref.f16_to_f32(src.data(), a.data() + 1, n);  // +1: an output not 32-byte aligned
    k.f16_to_f32(src.data(), b.data() + 1, n);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
    ref.bf16_to_f32(src.data(), a.data() + 1, n);
    k.bf16_to_f32(src.data(), b.data() + 1, n);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
  }
}

TEST_CASE(parallel_for_covers_range_once) {
  for (int threads : {1, 2, 3}) {
    nt::set_num_threads(threads);
    std::vector<std::atomic<int>> hits(10007);
    nt::parallel_for(10007, 100, [&](int64_t b, int64_t e) { for (int64_t i = b; i < e; ++i) hits[i]++; });
    bool once = true;
    for (auto& h : hits) once = once && h.load() == 1;
    CHECK(once);
  }
  nt::set_num_threads(0);
}

TEST_CASE(parallel_for_rethrows_kernel_errors) {
  bool caught = false;
  try {
    nt::parallel_for(1000, 1, [](int64_t b, int64_t) { if (b == 0) nt::fail(nt::ErrorCode::Numeric, "boom"); });
  } catch (const nt::Error& e) {
    caught = e.code() == nt::ErrorCode::Numeric;
  }
  CHECK(caught);
}

TEST_MAIN()
