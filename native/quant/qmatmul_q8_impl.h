// The 8-bit-code kernels of the quantized matmul (qmatmul_kernels.h gemv8 and dequant8) written
// once over vector traits V and instantiated per ISA (qmatmul_avx2.cc, qmatmul_avx512.cc; the
// avx2vnni / avx512vnni sets borrow them). Included ONLY inside an ISA region and an anonymous
// namespace, as qmatmul_i8_impl.h, so every ISA file gets its own instantiations for its target.
//
// 8-bit codes are one byte per column in natural order, so x is packed in natural order too and a
// vector of kLanes code bytes widens (vpmovzxbd) to kLanes int32 lanes matching kLanes floats of x.
// The zero point is subtracted in the integer domain (q − zero, exact as a float), then the dot
// with x runs in f32 and the group's scale is applied once per group:
//   y = sum_g scale_g · dot(q_g − zero_g, x_g)
// never dot(q, x) − zero · sum(x), which cancels catastrophically against an activation outlier
// (see qmatmul_f4_impl.h). RB weight rows go together so each x load serves all of them, MB x rows
// so each widened code vector serves all of them; every (row, x row) pair sees the same operation
// sequence whatever RB and MB are, so the bits do not depend on the blocking or the thread count.
// The next row block (RB rows ahead, one contiguous stream) is prefetched into L2 per group.
//
// V (qmatmul_ymm.h, qmatmul_zmm.h) provides: fvec, ivec, kLanes, kRegs; widen(p) (kLanes bytes as int32), widen_part(p, n) (n <
// kLanes bytes, the rest 0, never reads past p + n), isub, set1_i(int), to_float, fzero, set1,
// fmadd(a, b, c) = a·b + c, mul, load_f(p), store_f(p, v) (unaligned), hsum (fixed lane order),
// and scale(w, i) (the stored scale i as f32).
// No lambdas and no std:: templates below: they would not inherit the ISA target.

template <class V, int MB, int RB>
__attribute__((always_inline)) inline void q8_rows(const QWeight& w, int64_t r, const float* xs, int64_t ldx,
                                                   QmmOut y) {
  using fvec = typename V::fvec;
  using ivec = typename V::ivec;
  constexpr int64_t L = V::kLanes;
  const int64_t cols = w.cols, rb = cols, groups = w.groups();
  const int64_t group = groups == 1 ? cols : w.group_size;
  const int64_t pf = RB * rb;  // the same offset one row block ahead
  const uint8_t* codes = w.codes + r * rb;
  fvec tot[RB][MB];
#pragma GCC unroll 4
  for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) tot[j][i] = V::fzero();
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t c0 = g * group, c1 = c0 + group < cols ? c0 + group : cols;
    const int64_t cf = c0 + (c1 - c0) / L * L;  // [c0, cf) whole vectors; only the row's last group has a rest
    ivec zv[RB];
#pragma GCC unroll 4
    for (int j = 0; j < RB; ++j) {
      zv[j] = V::set1_i(w.zeros[(r + j) * groups + g]);
      for (int64_t off = c0 & ~int64_t(63); off < c1; off += 64)
        _mm_prefetch(reinterpret_cast<const char*>(codes + j * rb + pf + off), _MM_HINT_T1);
    }
    fvec acc[RB][MB];
#pragma GCC unroll 4
    for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) acc[j][i] = V::fzero();
    int64_t c = c0;
    for (; c < cf; c += L) {
      fvec q[RB];
#pragma GCC unroll 4
      for (int j = 0; j < RB; ++j) q[j] = V::to_float(V::isub(V::widen(codes + j * rb + c), zv[j]));
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) {
        const fvec xv = V::load_f(xs + i * ldx + c);
#pragma GCC unroll 4
        for (int j = 0; j < RB; ++j) acc[j][i] = V::fmadd(q[j], xv, acc[j][i]);
      }
    }
    if (c < c1) {
      // the row's partial last vector: codes past the row read 0 and x is zero padded there, so
      // those lanes add (0 − zero) · 0 = 0
      fvec q[RB];
#pragma GCC unroll 4
      for (int j = 0; j < RB; ++j) q[j] = V::to_float(V::isub(V::widen_part(codes + j * rb + c, c1 - c), zv[j]));
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) {
        const fvec xv = V::load_f(xs + i * ldx + c);
#pragma GCC unroll 4
        for (int j = 0; j < RB; ++j) acc[j][i] = V::fmadd(q[j], xv, acc[j][i]);
      }
    }
#pragma GCC unroll 4
    for (int j = 0; j < RB; ++j) {
      const fvec sv = V::set1(V::scale(w, (r + j) * groups + g));
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) tot[j][i] = V::fmadd(sv, acc[j][i], tot[j][i]);
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) y.p[i * y.s0 + (r + j) * y.s1] = V::hsum(tot[j][i]);
}

template <class V, int MB>
void q8_rows_mb(const QWeight& w, int64_t r0, int64_t r1, const float* xs, int64_t ldx, QmmOut y) {
  // rows per block: as many as keep RB · MB accumulators and totals in registers
  constexpr int RB = V::kRegs >= 32 ? (MB <= 2 ? 4 : 2) : (MB == 1 ? 4 : MB == 2 ? 2 : 1);
  int64_t r = r0;
  for (; r + RB <= r1; r += RB) q8_rows<V, MB, RB>(w, r, xs, ldx, y);
  for (; r < r1; ++r) q8_rows<V, MB, 1>(w, r, xs, ldx, y);
}

// gemv8: y(i, r) for rows [r0, r1), i < m <= kQmmGemvMaxM; xs natural order, zero padded.
template <class V>
void q8_gemv(const QWeight& w, int64_t r0, int64_t r1, const float* xs, int64_t ldx, int64_t m, QmmOut y) {
  switch (m) {
    case 1: return q8_rows_mb<V, 1>(w, r0, r1, xs, ldx, y);
    case 2: return q8_rows_mb<V, 2>(w, r0, r1, xs, ldx, y);
    case 3: return q8_rows_mb<V, 3>(w, r0, r1, xs, ldx, y);
    default: return q8_rows_mb<V, 4>(w, r0, r1, xs, ldx, y);
  }
}

// dequant8: natural-order scale · (q − zero) of rows [r0, r0 + nrows), columns [k0, k0 + kc) into
// dst[r * ldd + p] (columns past w.cols: 0), rounded as dequantize_value. Any group size, no g_idx.
template <class V>
void q8_dequant(const QWeight& w, int64_t r0, int64_t nrows, int64_t k0, int64_t kc, float* dst, int64_t ldd) {
  using fvec = typename V::fvec;
  constexpr int64_t L = V::kLanes;
  const int64_t cols = w.cols, groups = w.groups();
  const int64_t group = groups == 1 ? cols : w.group_size;
  const int64_t k1 = k0 + kc < cols ? k0 + kc : cols;
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t row = r0 + r;
    const uint8_t* codes = w.codes + row * cols;
    float* out = dst + r * ldd - k0;
    for (int64_t c = k0; c < k1;) {
      const int64_t g = c / group, end = (g + 1) * group < k1 ? (g + 1) * group : k1;
      const float s = V::scale(w, row * groups + g);
      const int zero = w.zeros[row * groups + g];
      const fvec sv = V::set1(s);
      const typename V::ivec zv = V::set1_i(zero);
      for (; c + L <= end; c += L) V::store_f(out + c, V::mul(sv, V::to_float(V::isub(V::widen(codes + c), zv))));
      for (; c < end; ++c) out[c] = s * float(int(codes[c]) - zero);
    }
    for (int64_t c = k1; c < k0 + kc; ++c) out[c] = 0.0f;
  }
}
