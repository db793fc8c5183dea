// Mixed-precision (f32 x bf16/f16) kernels written once over vector traits, instantiated per
// ISA by gemm_avx2.cc and gemm_avx512.cc. Same rules as gemm_simd_impl.h: included ONLY
// inside an ISA region and an anonymous namespace, no lambdas, no std:: inline templates.
//
// V: the f32 traits of gemm_simd_impl.h, plus kRegisters (vector registers of the ISA).
// H: how one 16-bit format widens: load(p) -> V::vec of the V::W values p[0:W] as f32,
//    one(u) -> the f32 value of one 16-bit pattern (the same value load gives).
//    kPairs: H also has load_pairs(p, even, odd), the 2W values p[0:2W] widened without a
//    shuffle (even elements in one vector, odd in the other: a bf16 is the top half of an f32,
//    so a shift and a mask widen both halves of each 32-bit lane), and V has
//    deinterleave(a, b, even, odd) for x. Measured on Zen 5: the lane-crossing zero-extend
//    of load() held the AVX-512 GEMV at 19.7 GB/s on one core, below the AVX2 kernel's 24.6.

template <class V, class H>
void widen_half_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) V::store(dst + i, H::load(src + i));
  for (; i < n; ++i) dst[i] = H::one(src[i]);
}

// RB weight rows (row stride ldw) against MB rows of x (row stride ldx): out[r * MB + i] =
// dot(w_r, x_i). Two accumulators per pair (even / odd W-chunks of each 64-byte step), then the
// tail in order: each pair's arithmetic depends only on k, never on RB or MB. The rows of the
// next block (the same offset RB rows on) are prefetched into L2 as these stream, so the RB
// interleaved streams do not wait for the hardware prefetcher to find them.
template <class V, class H, int MB, int RB>
void half_gemv_block(int64_t k, const float* x, int64_t ldx, const uint16_t* w, int64_t ldw, float* out) {
  using vec = typename V::vec;
  vec acc0[RB][MB], acc1[RB][MB];
#pragma GCC unroll 4
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) acc0[r][i] = acc1[r][i] = V::zero();
  const int64_t ahead = RB * ldw;
  int64_t p = 0;
  for (; p + 2 * V::W <= k; p += 2 * V::W) {
    vec x0[MB], x1[MB];
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) {
      x0[i] = V::load(x + i * ldx + p);
      x1[i] = V::load(x + i * ldx + p + V::W);
    }
    if constexpr (H::kPairs) {
      // x0/x1 become x's even and odd elements of the 2W-chunk, matching load_pairs
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) V::deinterleave(x0[i], x1[i], x0[i], x1[i]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < RB; ++r) {
      const uint16_t* wr = w + r * ldw + p;
      _mm_prefetch(reinterpret_cast<const char*>(wr + ahead), _MM_HINT_T1);
      vec w0, w1;
      if constexpr (H::kPairs) H::load_pairs(wr, w0, w1);
      else {
        w0 = H::load(wr);
        w1 = H::load(wr + V::W);
      }
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) {
        acc0[r][i] = V::fmadd(w0, x0[i], acc0[r][i]);
        acc1[r][i] = V::fmadd(w1, x1[i], acc1[r][i]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) {
      float s = V::hsum(V::add(acc0[r][i], acc1[r][i]));
      for (int64_t q = p; q < k; ++q) s = V::fma1(H::one(w[r * ldw + q]), x[i * ldx + q], s);
      out[r * MB + i] = s;
    }
}

template <int MB, int RB>
void half_gemv_write(const float* s, int64_t j, float alpha, float beta, float* y, int64_t ldy) {
  for (int r = 0; r < RB; ++r)
    for (int i = 0; i < MB; ++i) {
      float& out = y[i * ldy + j + r];
      out = beta == 0.0f ? alpha * s[r * MB + i] : __builtin_fmaf(beta, out, alpha * s[r * MB + i]);
    }
}

// Rows per block: as many as keep RB * MB * 2 accumulators, the MB * 2 x vectors and two weight
// vectors within the register file.
template <class V, int MB>
constexpr int half_gemv_rows_per_block() {
  return V::kRegisters >= 32 ? (MB <= 2 ? 4 : 2) : (MB == 1 ? 4 : MB == 2 ? 2 : 1);
}

template <class V, class H, int MB>
void half_gemv_mb(int64_t j0, int64_t j1, int64_t k, const float* x, int64_t ldx, const uint16_t* w, int64_t ldw,
                  float alpha, float beta, float* y, int64_t ldy) {
  constexpr int RB = half_gemv_rows_per_block<V, MB>();
  float s[RB * MB];
  int64_t j = j0;
  for (; j + RB <= j1; j += RB) {
    half_gemv_block<V, H, MB, RB>(k, x, ldx, w + j * ldw, ldw, s);
    half_gemv_write<MB, RB>(s, j, alpha, beta, y, ldy);
  }
  for (; j < j1; ++j) {
    half_gemv_block<V, H, MB, 1>(k, x, ldx, w + j * ldw, ldw, s);
    half_gemv_write<MB, 1>(s, j, alpha, beta, y, ldy);
  }
}

template <class V, class H>
void half_gemv(int64_t m, int64_t j0, int64_t j1, int64_t k, const float* x, int64_t ldx, const uint16_t* w,
               int64_t ldw, float alpha, float beta, float* y, int64_t ldy) {
  switch (m) {
    case 1: half_gemv_mb<V, H, 1>(j0, j1, k, x, ldx, w, ldw, alpha, beta, y, ldy); break;
    case 2: half_gemv_mb<V, H, 2>(j0, j1, k, x, ldx, w, ldw, alpha, beta, y, ldy); break;
    case 3: half_gemv_mb<V, H, 3>(j0, j1, k, x, ldx, w, ldw, alpha, beta, y, ldy); break;
    case 4: half_gemv_mb<V, H, 4>(j0, j1, k, x, ldx, w, ldw, alpha, beta, y, ldy); break;
    default: break;  // the driver never passes more than kHalfGemvMaxRows rows
  }
}
