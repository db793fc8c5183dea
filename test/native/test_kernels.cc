// Elementwise, reduction and nn kernel slots: every SIMD slot against the scalar reference on
// odd lengths (vector bodies, tails, the streaming-store path), with special values (NaN,
// +-inf, +-0, subnormals); plus the ops layer: strided run walking and reductions that do
// not depend on the thread count.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "core/thread_pool.h"
#include "cpu/kernels.h"
#include "ops/reduce.h"
#include "ops/strided_iter.h"

namespace {

const float kInfF = std::numeric_limits<float>::infinity();
const float kNaNF = std::numeric_limits<float>::quiet_NaN();

const int64_t kLengths[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 1031};

// Distance in ulps between two floats (0 for equal values, incl. two NaNs and +-0).
int64_t ulps(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
  if (a == b) return 0;
  auto ord = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, 4);
    return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : static_cast<int64_t>(i);
  };
  return std::llabs(ord(a) - ord(b));
}

bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

std::vector<float> random_f32(size_t n, uint32_t seed, float lo, float hi, bool specials) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  if (specials && n > 8) {
    const float sp[] = {kNaNF, kInfF, -kInfF, 0.0f, -0.0f, 1e-40f, -1e-45f, 3.4e38f};
    for (size_t k = 0; k < 8; ++k) v[(k * 7919 + seed) % n] = sp[k];
  }
  return v;
}

std::vector<nt::KernelTable> simd_tables(std::vector<std::string>* names) {
  std::vector<nt::KernelTable> t;
  for (const std::string& isa : nt::supported_isas()) {
    if (isa == "scalar") continue;
    t.push_back(nt::kernels_for(isa));
    names->push_back(isa);
  }
  return t;
}

}  // namespace

TEST_CASE(binary_slots_match_scalar_bit_for_bit) {
  const nt::KernelTable ref = nt::kernels_for("scalar");
  std::vector<std::string> names;
  for (const nt::KernelTable& k : simd_tables(&names)) {
    const nt::BinaryF32 r32[4] = {ref.add_f32, ref.sub_f32, ref.mul_f32, ref.div_f32};
    const nt::BinaryF32 k32[4] = {k.add_f32, k.sub_f32, k.mul_f32, k.div_f32};
    const nt::BinaryF64 r64[4] = {ref.add_f64, ref.sub_f64, ref.mul_f64, ref.div_f64};
    const nt::BinaryF64 k64[4] = {k.add_f64, k.sub_f64, k.mul_f64, k.div_f64};
    // (1 << 20) + 5 elements crosses the 4 MiB streaming-store threshold; starting one
    // element into the buffer makes the output misaligned for the prologue.
    std::vector<int64_t> lengths(std::begin(kLengths), std::end(kLengths));
    lengths.push_back((int64_t{1} << 20) + 5);
    for (int64_t n : lengths) {
      const auto a = random_f32(n + 1, 1, -10, 10, true), b = random_f32(n + 1, 2, -10, 10, true);
      std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end());
      for (int op = 0; op < 4; ++op) {
        for (int steps = 0; steps < 4; ++steps) {
          const int64_t as = steps & 1 ? 0 : 1, bs = steps & 2 ? 0 : 1;
          std::vector<float> o1(n + 1), o2(n + 1);
          r32[op](a.data() + 1, as, b.data() + 1, bs, o1.data() + 1, n);
          k32[op](a.data() + 1, as, b.data() + 1, bs, o2.data() + 1, n);
          bool ok = true;
          for (int64_t i = 1; i <= n && ok; ++i) ok = ulps(o1[i], o2[i]) == 0 && std::signbit(o1[i]) == std::signbit(o2[i]);
          CHECK(ok);
          std::vector<double> d1(n + 1), d2(n + 1);
          r64[op](ad.data() + 1, as, bd.data() + 1, bs, d1.data() + 1, n);
          k64[op](ad.data() + 1, as, bd.data() + 1, bs, d2.data() + 1, n);
          for (int64_t i = 1; i <= n && ok; ++i) ok = same_value(d1[i], d2[i]);
          CHECK(ok);
          if (!ok) std::printf("  isa %s op %d steps %d n %lld\n", names[0].c_str(), op, steps, (long long)n);
        }
      }
    }
  }
}

TEST_CASE(binary_slots_work_in_place) {
  for (const std::string& isa : nt::supported_isas()) {
    const nt::KernelTable k = nt::kernels_for(isa);
    auto a = random_f32(1031, 3, -1, 1, false);
    const auto b = random_f32(1031, 4, -1, 1, false);
    std::vector<float> expect(1031);
    for (size_t i = 0; i < a.size(); ++i) expect[i] = a[i] * b[i];
    k.mul_f32(a.data(), 1, b.data(), 1, a.data(), 1031);
    CHECK(a == expect);
  }
}

TEST_CASE(unary_slots_are_within_a_few_ulp_of_the_double_reference) {
  const nt::KernelTable ref = nt::kernels_for("scalar");
  std::vector<std::string> names;
  struct Case { const char* name; nt::UnaryF32 nt::KernelTable::*slot; float lo, hi; int64_t max_ulps; };
  // Bounds measured over 2M random points per range (exp/log 1, silu 3, gelu_tanh 4, gelu 8).
  const Case cases[] = {
      {"exp", &nt::KernelTable::exp_f32, -104, 89, 2},      {"log", &nt::KernelTable::log_f32, 0, 1e6, 2},
      {"sqrt", &nt::KernelTable::sqrt_f32, 0, 1e6, 0},      {"silu", &nt::KernelTable::silu_f32, -105, 105, 4},
      {"gelu", &nt::KernelTable::gelu_f32, -14, 14, 10},    {"gelu_tanh", &nt::KernelTable::gelu_tanh_f32, -12, 12, 5},
  };
  for (const nt::KernelTable& k : simd_tables(&names)) {
    for (const Case& c : cases) {
      for (int64_t n : {int64_t{100003}, int64_t{1}, int64_t{7}, int64_t{9}, int64_t{17}, int64_t{33}}) {
        auto x = random_f32(n, 11, c.lo, c.hi, false);
        std::vector<float> o1(n), o2(n);
        (ref.*c.slot)(x.data(), o1.data(), n);
        (k.*c.slot)(x.data(), o2.data(), n);
        int64_t worst = 0;
        float at = 0;
        for (int64_t i = 0; i < n; ++i)
          if (ulps(o1[i], o2[i]) > worst) { worst = ulps(o1[i], o2[i]); at = x[i]; }
        if (worst > c.max_ulps) std::printf("  %s: %lld ulp at x = %.9g (n = %lld)\n", c.name, (long long)worst, at, (long long)n);
        CHECK(worst <= c.max_ulps);
      }
    }
  }
}

TEST_CASE(unary_slots_handle_special_values) {
  const float sp[] = {kNaNF, kInfF, -kInfF, 0.0f, -0.0f, 1e-40f, -1e-40f, 1.4e-45f, 88.7f, 89.0f, -87.5f, -103.0f,
                      -104.5f, 1.0f, -1.0f, 3.4e38f, -3.4e38f};
  const int64_t n = sizeof(sp) / sizeof(sp[0]);
  const nt::KernelTable ref = nt::kernels_for("scalar");
  std::vector<std::string> names;
  for (const nt::KernelTable& k : simd_tables(&names)) {
    for (auto slot : {&nt::KernelTable::exp_f32, &nt::KernelTable::log_f32, &nt::KernelTable::sqrt_f32,
                      &nt::KernelTable::silu_f32, &nt::KernelTable::gelu_f32, &nt::KernelTable::gelu_tanh_f32}) {
      std::vector<float> o1(n), o2(n);
      (ref.*slot)(sp, o1.data(), n);
      (k.*slot)(sp, o2.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        // same class (NaN, inf, zero, finite) and within a few ulp
        const bool ok = ulps(o1[i], o2[i]) <= 10;
        if (!ok) std::printf("  x = %g: ref %.9g, simd %.9g\n", sp[i], o1[i], o2[i]);
        CHECK(ok);
      }
    }
    float o[4];
    const float x[4] = {0.0f, -1.0f, kInfF, kNaNF};
    k.log_f32(x, o, 4);
    CHECK(o[0] == -kInfF && std::isnan(o[1]) && o[2] == kInfF && std::isnan(o[3]));
    k.exp_f32(x, o, 4);
    CHECK(o[0] == 1.0f && o[2] == kInfF && std::isnan(o[3]));
  }
}

TEST_CASE(f64_unary_slots_match_the_reference) {
  const nt::KernelTable ref = nt::kernels_for("scalar");
  std::vector<std::string> names;
  for (const nt::KernelTable& k : simd_tables(&names)) {
    std::vector<double> x(1031), o1(1031), o2(1031);
    std::mt19937 rng(5);
    for (auto& v : x) v = std::uniform_real_distribution<double>(0, 100)(rng);
    x[3] = std::numeric_limits<double>::infinity();
    x[4] = -1;
    ref.sqrt_f64(x.data(), o1.data(), 1031);
    k.sqrt_f64(x.data(), o2.data(), 1031);
    bool ok = true;
    for (int i = 0; i < 1031; ++i) ok = ok && same_value(o1[i], o2[i]);
    CHECK(ok);
  }
}

TEST_CASE(reduction_slots_match_scalar) {
  const nt::KernelTable ref = nt::kernels_for("scalar");
  std::vector<std::string> names;
  for (const nt::KernelTable& k : simd_tables(&names)) {
    for (int64_t n : kLengths) {
      for (int variant = 0; variant < 4; ++variant) {
        auto x = random_f32(n, 20 + variant, -5, 5, false);
        // variant 1: a NaN in the body or tail; 2: ties of the max (first index wins);
        // 3: all -inf (max is -inf, argmax 0)
        if (variant == 1 && n > 0) x[(n * 2) / 3] = kNaNF;
        if (variant == 2 && n > 2) { x[1] = 9; x[n - 1] = 9; }
        if (variant == 3) for (auto& v : x) v = -kInfF;
        std::vector<double> xd(x.begin(), x.end());
        const double tol = 1e-12 * (1 + n);
        if (variant == 0 || variant == 2) {
          CHECK_CLOSE(k.sum_f32(x.data(), n), ref.sum_f32(x.data(), n), tol);
          CHECK_CLOSE(k.sumsq_f32(x.data(), n), ref.sumsq_f32(x.data(), n), tol * 25);
          CHECK_CLOSE(k.asum_f32(x.data(), n), ref.asum_f32(x.data(), n), tol);
          CHECK_CLOSE(k.sum_f64(xd.data(), n), ref.sum_f64(xd.data(), n), tol);
          CHECK_CLOSE(k.sumsq_f64(xd.data(), n), ref.sumsq_f64(xd.data(), n), tol * 25);
          CHECK_CLOSE(k.asum_f64(xd.data(), n), ref.asum_f64(xd.data(), n), tol);
        }
        if (variant == 1 && n > 0) {
          CHECK(std::isnan(k.sum_f32(x.data(), n)) && std::isnan(k.sum_f64(xd.data(), n)));
        }
        CHECK(same_value(k.max_f32(x.data(), n), ref.max_f32(x.data(), n)));
        CHECK(same_value(k.min_f32(x.data(), n), ref.min_f32(x.data(), n)));
        CHECK(same_value(k.amax_f32(x.data(), n), ref.amax_f32(x.data(), n)));
        CHECK(k.argmax_f32(x.data(), n) == ref.argmax_f32(x.data(), n));
        CHECK(same_value(k.max_f64(xd.data(), n), ref.max_f64(xd.data(), n)));
        CHECK(same_value(k.min_f64(xd.data(), n), ref.min_f64(xd.data(), n)));
        CHECK(same_value(k.amax_f64(xd.data(), n), ref.amax_f64(xd.data(), n)));
        CHECK(k.argmax_f64(xd.data(), n) == ref.argmax_f64(xd.data(), n));
        if (variant == 1 && n > 0) {
          CHECK(std::isnan(k.max_f32(x.data(), n)) && std::isnan(k.min_f32(x.data(), n)));
          CHECK(k.argmax_f32(x.data(), n) == (n * 2) / 3);
        }
        if (variant == 2 && n > 2) CHECK(k.argmax_f32(x.data(), n) == 1);
      }
    }
    // identities of empty reductions
    CHECK(k.sum_f32(nullptr, 0) == 0 && k.max_f32(nullptr, 0) == -INFINITY && k.min_f32(nullptr, 0) == INFINITY);
  }
}

TEST_CASE(column_accumulation_slots_match_scalar_row_by_row) {
  // acc[j] op= x[j] for one row of a block of outputs (reductions over a strided axis): each
  // output's rows taken in order, so sums agree with the portable loop to the last bit (x² may
  // fuse into one rounding) and max/min/amax exactly, NaN sticking in acc and taken from x
  const nt::KernelTable ref = nt::kernels_for("scalar");
  std::vector<std::string> names;
  using F32 = nt::ColumnAccF32;
  using F64 = nt::ColumnAccF64;
  for (const nt::KernelTable& k : simd_tables(&names))
    for (int64_t m : {1, 3, 4, 7, 8, 13, 256})
      for (int slot = 0; slot < 6; ++slot) {
        const F32 f32[] = {k.col_sum_f32, k.col_sumsq_f32, k.col_asum_f32, k.col_max_f32, k.col_min_f32, k.col_amax_f32};
        const F32 r32[] = {ref.col_sum_f32, ref.col_sumsq_f32, ref.col_asum_f32, ref.col_max_f32, ref.col_min_f32, ref.col_amax_f32};
        const F64 f64[] = {k.col_sum_f64, k.col_sumsq_f64, k.col_asum_f64, k.col_max_f64, k.col_min_f64, k.col_amax_f64};
        const F64 r64[] = {ref.col_sum_f64, ref.col_sumsq_f64, ref.col_asum_f64, ref.col_max_f64, ref.col_min_f64, ref.col_amax_f64};
        std::vector<double> a32(static_cast<size_t>(m)), b32(a32.size()), a64(a32.size()), b64(a32.size());
        const auto init = random_f32(m, 90 + slot, -3, 3, false);
        for (int64_t j = 0; j < m; ++j) a32[j] = b32[j] = a64[j] = b64[j] = init[j];
        if (m > 2) a32[1] = b32[1] = a64[1] = b64[1] = kNaNF;  // a NaN already in the accumulator
        for (int row = 0; row < 5; ++row) {
          auto x = random_f32(m, 100 + 7 * row + slot, -5, 5, false);
          if (row == 2 && m > 3) x[m - 1] = kNaNF;  // a NaN arriving (in the tail for m = 13)
          if (row == 3) x[0] = -kInfF;
          const std::vector<double> xd(x.begin(), x.end());
          f32[slot](x.data(), m, a32.data());
          r32[slot](x.data(), m, b32.data());
          f64[slot](xd.data(), m, a64.data());
          r64[slot](xd.data(), m, b64.data());
        }
        for (int64_t j = 0; j < m; ++j) {
          if (slot == 1) {
            CHECK(std::isnan(a32[j]) == std::isnan(b32[j]) && std::isinf(a32[j]) == std::isinf(b32[j]));
            if (std::isfinite(b32[j])) CHECK_CLOSE(a32[j], b32[j], 1e-13 * (1 + std::fabs(b32[j])));
            if (std::isfinite(b64[j])) CHECK_CLOSE(a64[j], b64[j], 1e-13 * (1 + std::fabs(b64[j])));
          } else {
            CHECK(same_value(a32[j], b32[j]));
            CHECK(same_value(a64[j], b64[j]));
          }
        }
        if (m > 3) CHECK(std::isnan(a32[1]) && std::isnan(a32[m - 1]) && std::isnan(a64[m - 1]));
      }
}

TEST_CASE(column_argmax_slots_match_scalar_row_by_row) {
  const nt::KernelTable ref = nt::kernels_for("scalar");
  std::vector<std::string> names;
  for (const nt::KernelTable& k : simd_tables(&names))
    for (int64_t m : {1, 3, 4, 7, 8, 13, 256}) {
      std::vector<double> a32(static_cast<size_t>(m), -INFINITY), b32 = a32, a64 = a32, b64 = a32;
      std::vector<int64_t> i32(a32.size(), 0), j32 = i32, i64 = i32, j64 = i32;
      for (int64_t r = 0; r < 6; ++r) {
        auto x = random_f32(m, 300 + static_cast<uint32_t>(r), -5, 5, false);
        if (r == 1) x[0] = 9;                           // a maximum ...
        if (r == 4) x[0] = 9;                           // ... tied later: the earlier row stays
        if (r == 2 && m > 3) x[m - 1] = kNaNF;          // the first NaN wins (in the tail for m = 13)
        if (r == 5 && m > 3) x[m - 1] = kNaNF;          // a later NaN does not replace it
        const std::vector<double> xd(x.begin(), x.end());
        k.col_argmax_f32(x.data(), m, r, a32.data(), i32.data());
        ref.col_argmax_f32(x.data(), m, r, b32.data(), j32.data());
        k.col_argmax_f64(xd.data(), m, r, a64.data(), i64.data());
        ref.col_argmax_f64(xd.data(), m, r, b64.data(), j64.data());
      }
      for (int64_t j = 0; j < m; ++j) {
        CHECK(same_value(a32[j], b32[j]) && i32[j] == j32[j]);
        CHECK(same_value(a64[j], b64[j]) && i64[j] == j64[j]);
      }
      CHECK(i32[0] == 1 && a32[0] == 9);
      if (m > 3) CHECK(i32[m - 1] == 2 && std::isnan(a32[m - 1]));
    }
}

TEST_CASE(f32_sum_of_a_million_elements_is_f64_accurate) {
  std::vector<std::string> names;
  auto x = random_f32(1000003, 9, 0, 1, false);
  long double exact = 0;
  for (float v : x) exact += v;
  for (const std::string& isa : nt::supported_isas()) {
    const nt::KernelTable k = nt::kernels_for(isa);
    CHECK_CLOSE(k.sum_f32(x.data(), x.size()), static_cast<double>(exact), 1e-12 * static_cast<double>(exact));
  }
}

TEST_CASE(softmax_and_scale_mul_slots_match_scalar) {
  const nt::KernelTable ref = nt::kernels_for("scalar");
  std::vector<std::string> names;
  for (const nt::KernelTable& k : simd_tables(&names)) {
    for (int64_t n : kLengths) {
      const auto x = random_f32(n, 30, -20, 20, false);
      std::vector<float> o1(n), o2(n);
      ref.softmax_f32(x.data(), o1.data(), n);
      k.softmax_f32(x.data(), o2.data(), n);
      bool ok = true;
      for (int64_t i = 0; i < n; ++i) ok = ok && std::fabs(o1[i] - o2[i]) <= 4e-7f * o1[i] + 1e-30f;
      CHECK(ok);
      // in place
      std::vector<float> y = x;
      k.softmax_f32(y.data(), y.data(), n);
      CHECK(y == o2);
      const auto w = random_f32(n, 31, -2, 2, false);
      ref.scale_mul_f32(x.data(), 0.37f, w.data(), o1.data(), n);
      k.scale_mul_f32(x.data(), 0.37f, w.data(), o2.data(), n);
      CHECK(o1 == o2);
    }
    // a NaN anywhere makes the whole row NaN; a huge spread does not overflow
    std::vector<float> x = {1, 2, kNaNF, 4, 5, 6, 7, 8, 9};
    std::vector<float> o(x.size());
    k.softmax_f32(x.data(), o.data(), x.size());
    for (float v : o) CHECK(std::isnan(v));
    x = {1000, -1000, 999, 0, 0, 0, 0, 0, 0};
    k.softmax_f32(x.data(), o.data(), x.size());
    CHECK_CLOSE(o[0], 1 / (1 + std::exp(-1.0)), 1e-6);
    CHECK(o[1] == 0);
  }
}

TEST_CASE(run_walk_visits_every_element_once_for_any_split) {
  // A transposed, sliced 3-D view against a contiguous one; reorder on and off.
  nt::TensorView a, b;
  a.ndim = b.ndim = 3;
  const int64_t shape[3] = {5, 3, 7};
  for (int d = 0; d < 3; ++d) a.shape[d] = b.shape[d] = shape[d];
  a.strides[0] = 1; a.strides[1] = 40; a.strides[2] = 5;  // permuted strides
  b.strides[0] = 21; b.strides[1] = 7; b.strides[2] = 1;   // contiguous
  for (bool reorder : {false, true}) {
    const nt::TensorView* views[2] = {&b, &a};
    const auto l = nt::ops::coalesce<2>(views, reorder);
    const int64_t n = l.numel();
    CHECK(n == 105);
    for (int64_t split : {int64_t{1}, int64_t{4}, int64_t{13}, int64_t{50}, int64_t{105}}) {
      std::vector<int> seen_b(105, 0), seen_a(300, 0);
      for (int64_t s = 0; s < n; s += split) {
        nt::ops::for_each_run(l, s, std::min(n, s + split), [&](const int64_t* off, int64_t len) {
          for (int64_t j = 0; j < len; ++j) {
            const int64_t ob = off[0] + j * l.strides[0][l.ndim - 1], oa = off[1] + j * l.strides[1][l.ndim - 1];
            ++seen_b[ob];
            ++seen_a[oa];
            // the pair must be the same logical element
            const int64_t i0 = ob / 21, i1 = (ob / 7) % 3, i2 = ob % 7;
            CHECK(oa == i0 * 1 + i1 * 40 + i2 * 5);
          }
        });
      }
      bool once = true;
      for (int v : seen_b) once = once && v == 1;
      CHECK(once);
    }
  }
}

TEST_CASE(parallel_runs_tiles_transposed_operands_and_visits_every_element_once) {
  // out contiguous [3, 130, 70]; the input is the same logical tensor stored as [3, 70, 130]
  // (its last two axes transposed): tiled walk, with partial tiles on both axes.
  nt::TensorView out, in;
  out.ndim = in.ndim = 3;
  out.shape[0] = in.shape[0] = 3;
  out.shape[1] = in.shape[1] = 130;
  out.shape[2] = in.shape[2] = 70;
  out.strides[0] = 9100; out.strides[1] = 70; out.strides[2] = 1;
  in.strides[0] = 9100; in.strides[1] = 1; in.strides[2] = 130;
  const nt::TensorView* views[2] = {&out, &in};
  const auto l = nt::ops::coalesce<2>(views, true);
  const int before = nt::num_threads();
  for (int threads : {1, 2, 4}) {
    nt::set_num_threads(threads);
    std::vector<std::atomic<int>> seen(27300);
    std::atomic<int> mismatches{0};
    nt::ops::parallel_runs(l, 1000, [&](const int64_t* off, int64_t len) {
      for (int64_t j = 0; j < len; ++j) {
        const int64_t o = off[0] + j * l.strides[0][l.ndim - 1], i = off[1] + j * l.strides[1][l.ndim - 1];
        seen[o]++;
        const int64_t b = o / 9100, r = (o / 70) % 130, c = o % 70;
        if (i != b * 9100 + r * 1 + c * 130) mismatches++;
      }
    });
    bool once = true;
    for (auto& v : seen) once = once && v.load() == 1;
    CHECK(once);
    CHECK(mismatches.load() == 0);
  }
  nt::set_num_threads(before);
}

TEST_CASE(reductions_do_not_depend_on_the_thread_count) {
  const int before = nt::num_threads();
  // [3, 200001] f32: the long-row path (pieces per row); transposed: the column path;
  // all elements: the pieces path.
  const int64_t rows = 3, cols = 200001;
  auto data = random_f32(rows * cols, 40, -1, 1, false);
  nt::TensorView x;
  x.data = data.data();
  x.storage_bytes = data.size() * 4;
  x.dtype = nt::DType::F32;
  x.ndim = 2;
  x.shape[0] = rows; x.shape[1] = cols;
  x.strides[0] = cols; x.strides[1] = 1;
  nt::TensorView xt = x;  // [cols, rows] view
  xt.shape[0] = cols; xt.shape[1] = rows;
  xt.strides[0] = 1; xt.strides[1] = cols;
  auto run = [&](const nt::TensorView& v, int axis, int64_t outputs) {
    std::vector<float> out(outputs);
    nt::TensorView o;
    o.data = out.data();
    o.storage_bytes = out.size() * 4;
    o.dtype = nt::DType::F32;
    o.ndim = axis < 0 ? 0 : 1;
    o.shape[0] = outputs;
    o.strides[0] = 1;
    nt::ops::reduce_check(nt::ops::ReduceKind::Sum, v, o, axis);
    nt::ops::reduce_run(nt::ops::ReduceKind::Sum, v, o, axis);
    return out;
  };
  std::vector<std::vector<float>> results[3];
  for (int threads : {1, 2, 3, 8}) {
    nt::set_num_threads(threads);
    results[0].push_back(run(x, 1, rows));
    results[1].push_back(run(xt, 0, rows));
    results[2].push_back(run(x, -1, 1));
  }
  nt::set_num_threads(before);
  for (auto& r : results)
    for (auto& v : r) CHECK(v == r[0]);
  // and they agree with a long double reference
  long double total = 0;
  for (float v : data) total += v;
  CHECK_CLOSE(results[2][0][0], static_cast<double>(total), 1e-6 * (1 + std::fabs(static_cast<double>(total))));
}

TEST_MAIN()
