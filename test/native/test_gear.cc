// Kernel tests of native/kvcache (GEAR): outliers exact, quantization within half a step,
// low-rank residual lowering the error, packed-row decoding at every alignment, attention over
// compressed chunks vs float64 attention over their decompressed form, and the parameter checks.
#include <algorithm>
#include <cmath>
#include <functional>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "core/error.h"
#include "kvcache/gear.h"
#include "kvcache/gear_common.h"
#include "kvcache/gear_kernels.h"

using namespace nt;
using namespace nt::kvcache;

namespace {

template <typename T>
TensorView view(std::vector<T>& v, DType dt, std::vector<int64_t> shape) {
  TensorView t;
  t.data = v.data();
  t.storage_bytes = v.size() * sizeof(T);
  t.dtype = dt;
  t.ndim = static_cast<int>(shape.size());
  int64_t stride = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    t.shape[i] = shape[static_cast<size_t>(i)];
    t.strides[i] = stride;
    stride *= t.shape[i];
  }
  return t;
}

// Owns the seven parts of B x H slices of n x d (f32 side storage).
struct Parts {
  std::vector<uint8_t> codes;
  std::vector<float> scales, mins, q, p, ovals;
  std::vector<int32_t> oidx;
  GearBlock blk;
  Parts(const GearParams& prm, int64_t B, int64_t H, int64_t n, int64_t d) {
    const int64_t cb = gear_code_bytes(prm, n, d), g = gear_groups(prm, n, d), r = prm.rank;
    const int64_t nv = gear_vectors(prm, n, d), k2 = 2 * prm.outliers;
    codes.resize(static_cast<size_t>(B * H * cb));
    scales.resize(static_cast<size_t>(B * H * g));
    mins.resize(scales.size());
    q.resize(static_cast<size_t>(B * H * n * r));
    p.resize(static_cast<size_t>(B * H * d * r));
    ovals.resize(static_cast<size_t>(B * H * nv * k2));
    oidx.resize(ovals.size());
    blk.codes = view(codes, DType::U8, {B, H, cb});
    blk.scales = view(scales, DType::F32, {B, H, g});
    blk.mins = view(mins, DType::F32, {B, H, g});
    blk.q = view(q, DType::F32, {B, H, n, r});
    blk.p = view(p, DType::F32, {B, H, d, r});
    blk.ovals = view(ovals, DType::F32, {B, H, nv, k2});
    blk.oidx = view(oidx, DType::I32, {B, H, nv, k2});
  }
};

std::vector<float> randn(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = dist(gen) * (gen() % 50 == 0 ? 10.0f : 1.0f);
  return x;
}

double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

std::vector<float> round_trip(std::vector<float>& x, const GearParams& prm, int64_t B, int64_t H, int64_t n, int64_t d,
                              Parts* keep = nullptr) {
  Parts local(prm, B, H, n, d);
  Parts& parts = keep ? *keep : local;
  const TensorView xv = view(x, DType::F32, {B, H, n, d});
  gear_compress_check(xv, parts.blk, prm, 3);
  gear_compress_run(xv, parts.blk, prm, 3, 7);
  std::vector<float> out(x.size());
  const TensorView ov = view(out, DType::F32, {B, H, n, d});
  gear_decompress_check(parts.blk, prm, ov);
  gear_decompress_run(parts.blk, prm, ov);
  return out;
}

}  // namespace

TEST_CASE(outliers_are_exact_and_the_rest_is_within_half_a_step) {
  for (GearKind kind : {GearKind::Key, GearKind::Value}) {
    GearParams prm;
    prm.kind = kind;
    prm.group = 5;
    prm.bits = 4;
    prm.outliers = 2;
    const int64_t B = 2, H = 2, n = 21, d = 12;
    std::vector<float> x = randn(static_cast<size_t>(B * H * n * d), 1);
    Parts parts(prm, B, H, n, d);
    const std::vector<float> y = round_trip(x, prm, B, H, n, d, &parts);
    const int64_t nv = gear_vectors(prm, n, d), k2 = 4, G = gear_groups(prm, n, d);
    const detail::GroupMap gm(prm, d);
    for (int64_t s = 0; s < B * H; ++s) {
      std::vector<uint8_t> is_out(static_cast<size_t>(n * d), 0);
      for (int64_t v = 0; v < nv; ++v)
        for (int64_t m = 0; m < k2; ++m) {
          int64_t t, j;
          detail::outlier_position(prm, v, parts.oidx[static_cast<size_t>((s * nv + v) * k2 + m)], &t, &j);
          const size_t e = static_cast<size_t>(s * n * d + t * d + j);
          CHECK(parts.ovals[static_cast<size_t>((s * nv + v) * k2 + m)] == x[e]);
          CHECK(y[e] == x[e]);
          is_out[static_cast<size_t>(t * d + j)] = 1;
        }
      for (int64_t t = 0; t < n; ++t)
        for (int64_t j = 0; j < d; ++j) {
          if (is_out[static_cast<size_t>(t * d + j)]) continue;
          const int64_t g = gm.row_base(t) + gm.col(j);
          const float step = parts.scales[static_cast<size_t>(s * G + g)];
          const size_t e = static_cast<size_t>(s * n * d + t * d + j);
          CHECK(std::fabs(y[e] - x[e]) <= 0.5f * step * 1.0001f + 1e-6f);
        }
    }
  }
}

TEST_CASE(low_rank_and_outliers_lower_the_error) {
  const int64_t B = 1, H = 3, n = 64, d = 32;
  std::vector<float> x = randn(static_cast<size_t>(B * H * n * d), 2);
  for (GearKind kind : {GearKind::Key, GearKind::Value}) {
    GearParams prm;
    prm.kind = kind;
    prm.bits = 2;
    prm.group = 16;
    const double e0 = rel_err(round_trip(x, prm, B, H, n, d), x);
    prm.rank = 4;
    const double e1 = rel_err(round_trip(x, prm, B, H, n, d), x);
    prm.outliers = 1;
    const double e2 = rel_err(round_trip(x, prm, B, H, n, d), x);
    CHECK(e0 > e1);
    CHECK(e1 > e2);
  }
}

TEST_CASE(packed_rows_decode_at_every_alignment) {
  for (int bits : {2, 4})
    for (int64_t d : {1, 3, 5, 8, 13}) {
      const int64_t n = 7;
      std::vector<uint8_t> codes(static_cast<size_t>((n * d * bits + 7) / 8), 0);
      std::vector<int> want(static_cast<size_t>(n * d));
      std::mt19937 gen(static_cast<unsigned>(d * 10 + bits));
      for (int64_t e = 0; e < n * d; ++e) {
        want[static_cast<size_t>(e)] = static_cast<int>(gen() % (1u << bits));
        const int64_t bit = e * bits;
        codes[static_cast<size_t>(bit >> 3)] |= static_cast<uint8_t>(want[static_cast<size_t>(e)] << (bit & 7));
      }
      std::vector<float> row(static_cast<size_t>(d));
      for (int64_t t = 0; t < n; ++t) {
        detail::unpack_row(codes.data(), bits, t, d, row.data());
        for (int64_t j = 0; j < d; ++j) CHECK(row[static_cast<size_t>(j)] == want[static_cast<size_t>(t * d + j)]);
      }
    }
}

TEST_CASE(simd_kernels_match_the_portable_loops) {
  const GearKernels* simd = gear_kernels_avx2();
  if (!simd) {
    std::printf("  (no AVX2 on this CPU: only the portable kernels run)\n");
    return;
  }
  const GearKernels& ref = gear_kernels_portable();
  for (int64_t d : {1, 7, 16, 33, 128})
    for (int64_t G : {1, 3, 4, 9}) {
      const int64_t n = 13;
      std::vector<float> qs = randn(static_cast<size_t>(G * d), 8), rows = randn(static_cast<size_t>(n * d), 9);
      std::vector<float> p = randn(static_cast<size_t>(G * n), 10);
      std::vector<float> s1(static_cast<size_t>(G * n)), s2(s1.size()), a1 = randn(static_cast<size_t>(G * d), 11), a2 = a1;
      ref.scores(qs.data(), G, rows.data(), n, d, s1.data());
      simd->scores(qs.data(), G, rows.data(), n, d, s2.data());
      for (size_t i = 0; i < s1.size(); ++i) CHECK_CLOSE(s1[i], s2[i], 1e-4 * (1 + std::fabs(s1[i])));
      ref.accumulate(p.data(), G, rows.data(), n, d, a1.data());
      simd->accumulate(p.data(), G, rows.data(), n, d, a2.data());
      for (size_t i = 0; i < a1.size(); ++i) CHECK_CLOSE(a1[i], a2[i], 1e-4 * (1 + std::fabs(a1[i])));
    }
  for (int bits : {2, 4})
    for (int64_t d : {1, 15, 16, 17, 64, 70}) {
      std::vector<uint8_t> codes(static_cast<size_t>((d * bits + 7) / 8));
      std::mt19937 gen(static_cast<unsigned>(d + bits));
      for (uint8_t& c : codes) c = static_cast<uint8_t>(gen());
      std::vector<float> lo = randn(static_cast<size_t>(d), 12), st = randn(static_cast<size_t>(d), 13);
      std::vector<float> o1(static_cast<size_t>(d)), o2(o1.size());
      ref.dequant_channels(codes.data(), bits, d, lo.data(), st.data(), o1.data());
      simd->dequant_channels(codes.data(), bits, d, lo.data(), st.data(), o2.data());
      for (size_t i = 0; i < o1.size(); ++i) CHECK_CLOSE(o1[i], o2[i], 1e-5 * (1 + std::fabs(o1[i])));
      ref.dequant_scalar(codes.data(), bits, d, 0.25f, -1.5f, o1.data());
      simd->dequant_scalar(codes.data(), bits, d, 0.25f, -1.5f, o2.data());
      for (size_t i = 0; i < o1.size(); ++i) CHECK_CLOSE(o1[i], o2[i], 1e-5 * (1 + std::fabs(o1[i])));
    }
}

TEST_CASE(attention_over_chunks_equals_attention_over_the_decompressed_cache) {
  const int64_t hkv = 2, gq = 3, hq = hkv * gq, d = 16, nb = 8, chunks = 3, buf_len = 5, cap = nb;
  const int64_t total = chunks * nb + buf_len, sq = 4;
  GearParams kp, vp;
  kp.kind = GearKind::Key;
  vp.kind = GearKind::Value;
  kp.group = vp.group = 4;
  kp.rank = vp.rank = 2;
  kp.outliers = 1;
  vp.outliers = 2;
  std::vector<float> K = randn(static_cast<size_t>(chunks * hkv * nb * d), 3);
  std::vector<float> V = randn(K.size(), 4);
  Parts kparts(kp, chunks, hkv, nb, d), vparts(vp, chunks, hkv, nb, d);
  std::vector<float> Kd = round_trip(K, kp, chunks, hkv, nb, d, &kparts);
  std::vector<float> Vd = round_trip(V, vp, chunks, hkv, nb, d, &vparts);
  std::vector<float> bk = randn(static_cast<size_t>(hkv * cap * d), 5), bv = randn(bk.size(), 6);
  std::vector<float> q = randn(static_cast<size_t>(hq * sq * d), 7), out(q.size());
  GearLayerView L;
  L.k = kparts.blk;
  L.v = vparts.blk;
  L.kp = kp;
  L.vp = vp;
  L.chunks = chunks;
  L.chunk_tokens = nb;
  L.buf_len = buf_len;
  L.buf_k = view(bk, DType::F32, {hkv, cap, d});
  L.buf_v = view(bv, DType::F32, {hkv, cap, d});
  // the outlier corrections decode adds, as the streaming cache derives them per chunk
  std::vector<float> kdelta(static_cast<size_t>(chunks * hkv * d * 2 * kp.outliers));
  std::vector<float> vdelta(static_cast<size_t>(chunks * hkv * nb * 2 * vp.outliers));
  L.kdelta = view(kdelta, DType::F32, {chunks, hkv, d * 2 * kp.outliers});
  L.vdelta = view(vdelta, DType::F32, {chunks, hkv, nb * 2 * vp.outliers});
  gear_outlier_deltas_check(L.k, kp, nb, d, L.kdelta);
  gear_outlier_deltas_run(L.k, kp, nb, d, L.kdelta);
  gear_outlier_deltas_check(L.v, vp, nb, d, L.vdelta);
  gear_outlier_deltas_run(L.v, vp, nb, d, L.vdelta);
  const TensorView qv = view(q, DType::F32, {1, hq, sq, d}), ov = view(out, DType::F32, {1, hq, sq, d});
  {  // corrections sized for another outlier budget: a coded error naming the expected shape
    GearLayerView bad = L;
    bad.vdelta = view(vdelta, DType::F32, {chunks, hkv, nb});
    bool shape_error = false;
    try {
      gear_attend_check(bad, qv, ov);
    } catch (const nt::Error& e) {
      shape_error = e.code() == ErrorCode::Shape && std::string(e.what()).find("value outlier corrections") != std::string::npos;
    }
    CHECK(shape_error);
  }
  gear_attend_check(L, qv, ov);
  gear_attend_run(L, qv, ov, 1.0 / std::sqrt(static_cast<double>(d)));
  // dense K/V of head h, token t: chunk c = t / nb (stacked [chunks, hkv, nb, d]) or the buffer
  auto at = [&](const std::vector<float>& dense, const std::vector<float>& buf, int64_t h, int64_t t, int64_t j) {
    if (t < chunks * nb) return static_cast<double>(dense[static_cast<size_t>((((t / nb) * hkv + h) * nb + t % nb) * d + j)]);
    return static_cast<double>(buf[static_cast<size_t>((h * cap + t - chunks * nb) * d + j)]);
  };
  double worst = 0;
  for (int64_t head = 0; head < hq; ++head)
    for (int64_t i = 0; i < sq; ++i) {
      const int64_t h = head / gq, lim = total - sq + i;
      std::vector<double> s(static_cast<size_t>(lim + 1));
      double mx = -INFINITY, sum = 0;
      for (int64_t t = 0; t <= lim; ++t) {
        double a = 0;
        for (int64_t j = 0; j < d; ++j) a += q[static_cast<size_t>((head * sq + i) * d + j)] * at(Kd, bk, h, t, j);
        s[static_cast<size_t>(t)] = a / std::sqrt(static_cast<double>(d));
        mx = std::max(mx, s[static_cast<size_t>(t)]);
      }
      for (double& v : s) sum += (v = std::exp(v - mx));
      for (int64_t j = 0; j < d; ++j) {
        double o = 0;
        for (int64_t t = 0; t <= lim; ++t) o += s[static_cast<size_t>(t)] / sum * at(Vd, bv, h, t, j);
        worst = std::max(worst, std::fabs(o - out[static_cast<size_t>((head * sq + i) * d + j)]));
      }
    }
  CHECK(worst < 1e-5);
}

TEST_CASE(outlier_corrections_reject_bad_shapes_and_corrupt_indices) {
  GearParams vp;
  vp.kind = GearKind::Value;
  vp.group = 4;
  vp.rank = 1;
  vp.outliers = 1;
  const int64_t B = 2, H = 1, n = 4, d = 8;
  std::vector<float> x = randn(static_cast<size_t>(B * H * n * d), 21);
  Parts parts(vp, B, H, n, d);
  round_trip(x, vp, B, H, n, d, &parts);
  std::vector<float> out(static_cast<size_t>(B * H * n * 2), -1.0f);
  auto code_of = [&](const std::function<void()>& f) {
    try {
      f();
    } catch (const nt::Error& e) {
      return e.code();
    }
    return ErrorCode::Internal;
  };
  const TensorView wrong = view(out, DType::F32, {B, H, n});  // n·2 corrections per slice, not n
  CHECK(code_of([&] { gear_outlier_deltas_check(parts.blk, vp, n, d, wrong); }) == ErrorCode::Shape);
  const TensorView good = view(out, DType::F32, {B, H, n * 2});
  gear_outlier_deltas_check(parts.blk, vp, n, d, good);
  gear_outlier_deltas_run(parts.blk, vp, n, d, good);
  // each correction = the stored value - (min + step·code + Q_t·P_j) there, in float64 from the parts
  const int64_t ngr = (d + vp.group - 1) / vp.group, cb = gear_code_bytes(vp, n, d);
  for (int64_t sl = 0; sl < B * H; ++sl)
    for (int64_t t = 0; t < n; ++t)
      for (int64_t m = 0; m < 2; ++m) {
        const size_t i = static_cast<size_t>((sl * n + t) * 2 + m);
        const int64_t j = parts.oidx[i], gi = sl * n * ngr + t * ngr + j / vp.group;
        const int64_t e = t * d + j;
        const int code = (parts.codes[static_cast<size_t>(sl * cb + e / 2)] >> (4 * (e % 2))) & 15;
        const double rec = double(parts.mins[static_cast<size_t>(gi)]) + double(parts.scales[static_cast<size_t>(gi)]) * code +
                           double(parts.q[static_cast<size_t>(sl * n + t)]) * parts.p[static_cast<size_t>(sl * d + j)];
        CHECK_CLOSE(out[i], double(parts.ovals[i]) - rec, 1e-5 * (1 + std::fabs(rec)));
      }
  parts.oidx[3] = static_cast<int32_t>(d);  // one past the row
  CHECK(code_of([&] { gear_outlier_deltas_run(parts.blk, vp, n, d, good); }) == ErrorCode::Value);
}

TEST_CASE(bad_parameters_are_coded_errors) {
  GearParams prm;
  prm.bits = 3;
  std::vector<float> x(32, 1.0f);
  GearParams ok;
  Parts parts(ok, 1, 1, 4, 8);
  const TensorView xv = view(x, DType::F32, {1, 1, 4, 8});
  auto code_of = [&](const GearParams& p) {
    try {
      gear_compress_check(xv, parts.blk, p, 3);
    } catch (const nt::Error& e) {
      return e.code();
    }
    return ErrorCode::Internal;
  };
  CHECK(code_of(prm) == ErrorCode::Value);
  GearParams big = ok;
  big.rank = 5;  // > min(4, 8)
  CHECK(code_of(big) == ErrorCode::Value);
  GearParams many = ok;
  many.outliers = 3;  // keys: vectors of 4 tokens hold at most 2 per side
  CHECK(code_of(many) == ErrorCode::Value);
  GearParams shaped = ok;
  shaped.group = 2;  // the parts were sized for group 64
  CHECK(code_of(shaped) == ErrorCode::Shape);
  x[3] = NAN;
  bool threw = false;
  try {
    gear_compress_run(xv, parts.blk, ok, 3, 1);
  } catch (const nt::Error& e) {
    threw = e.code() == ErrorCode::Value;
  }
  CHECK(threw);
}

TEST_MAIN()
