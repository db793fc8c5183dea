// The int8-activation kernel of the quantized matmul (qmatmul_kernels.h gemv4_i8) written once
// over vector traits V and instantiated per ISA (qmatmul_avx2.cc, qmatmul_avxvnni.cc,
// qmatmul_avx512vnni.cc). Included ONLY inside an ISA region and an anonymous namespace, as
// cpu/gemm_simd_impl.h, so every ISA file gets its own instantiations for its own target.
//
// One chunk = one vector of kBytes code bytes = 2 · kBytes columns. Its low nibbles (even columns)
// and high nibbles (odd columns) are two vectors of unsigned bytes 0..15, each multiplied with
// kBytes signed x bytes (x in split order) by V::dot2, which sums 4 products per int32 lane
// (vpdpbusd, or vpmaddubsw + vpmaddwd). Lane l of a chunk covers its columns [8l, 8l + 8), so
// groups of 32 or 64 columns inside one chunk are told apart by lane: each lane gets its own
// group's float factor (V::lane_groups), and no group ever mixes with another in an integer.
//
//   y(i, r) = sum_g f_g · (sum_c q_c · xq_c) − sum_g (scale_g · zero_g) · (sx_g · sq_g),   f_g = scale_g · sx_g
//
// The integer dots are exact; the zero term uses the exact integer sq (never zero · sum(x) in
// float, which cancels catastrophically against an activation outlier) and is folded kLanes
// groups at a time with one vector FMA. RB weight rows go together so each x load serves all
// of them; MB x rows go together so each decoded code vector serves all of them (the GEMM path
// runs this over tiles of 4 x rows against a block of weight rows held in L2).
//
// V (qmatmul_ymm.h, qmatmul_zmm.h) provides: ivec, fvec, kBytes, kLanes (= kBytes / 4), kRegs
//   (vector registers); load_bytes(p), load_bytes_part(p, n) (n < kBytes bytes, the rest 0, never
//   reads past p + n), low_nibbles(v), high_nibbles(v), dot2(acc, u0, s0, u1, s1), izero(), fzero(),
//   to_float(ivec), fmadd(a, b, c) = a·b + c, fnmadd(a, b, c) = c − a·b, mul, set1, hsum (fixed lane
//   order), load_f(p), load_lanes(p, n) for float / int32 / f16 bits / uint8 (kLanes values as f32,
//   min(n, kLanes) read, the rest 0), store_f(p, v), lane_groups(t, first, shift): lane l gets
//   t[first + (l >> shift)].
// No lambdas and no std:: templates below: they would not inherit the ISA target.

// One chunk c of RB rows against MB x rows into acc. kTail: c is the row's partial last chunk
// (its bytes past the row are not read); the hot loop has no such test.
template <class V, int MB, int RB, bool kTail>
__attribute__((always_inline)) inline void i8_chunk(const uint8_t* codes, int64_t rb, int64_t c, int64_t pf,
                                                    const int8_t* const (&xrow)[MB], typename V::ivec (&acc)[RB][MB]) {
  constexpr int64_t B = V::kBytes;
  typename V::ivec lo[RB], hi[RB];
#pragma GCC unroll 4
  for (int j = 0; j < RB; ++j) {
    const uint8_t* p = codes + j * rb + c * B;
    typename V::ivec v;
    if constexpr (kTail) {
      v = V::load_bytes_part(p, rb - c * B);
    } else {
      _mm_prefetch(reinterpret_cast<const char*>(p + pf), _MM_HINT_T1);
      v = V::load_bytes(p);
    }
    lo[j] = V::low_nibbles(v);
    hi[j] = V::high_nibbles(v);
  }
#pragma GCC unroll 4
  for (int i = 0; i < MB; ++i) {
    const int8_t* xr = xrow[i] + c * 2 * B;
    const typename V::ivec x0 = V::load_bytes(xr), x1 = V::load_bytes(xr + B);
#pragma GCC unroll 4
    for (int j = 0; j < RB; ++j) acc[j][i] = V::dot2(acc[j][i], lo[j], x0, hi[j], x1);
  }
}

// Chunks [c0, c1) of RB rows against MB x rows into acc (chunks from `full` on are partial).
template <class V, int MB, int RB>
__attribute__((always_inline)) inline void i8_chunks(const uint8_t* codes, int64_t rb, int64_t c0, int64_t c1,
                                                     int64_t full, int64_t pf, const int8_t* const (&xrow)[MB],
                                                     typename V::ivec (&acc)[RB][MB]) {
  const int64_t cf = c1 < full ? c1 : full;
  int64_t c = c0;
  for (; c < cf; ++c) i8_chunk<V, MB, RB, false>(codes, rb, c, pf, xrow, acc);
  if (c < c1) i8_chunk<V, MB, RB, true>(codes, rb, c, pf, xrow, acc);
}

// RB consecutive weight rows from r against MB rows of x; the arithmetic of each (row, x row)
// is the same sequence whatever RB and MB are, so the bits do not depend on the blocking.
template <class V, int MB, int RB>
__attribute__((always_inline)) inline void i8_rows(const QWeight& w, int64_t r, const QmmI8X& x, QmmOut y) {
  using ivec = typename V::ivec;
  using fvec = typename V::fvec;
  constexpr int L = V::kLanes;
  constexpr int64_t C = 2 * V::kBytes;
  const int64_t rb = w.row_bytes(), groups = w.groups(), cols = w.cols;
  const int64_t nchunks = (cols + C - 1) / C, full = rb / V::kBytes;  // chunks [0, full) lie inside the row
  const int64_t group = groups == 1 ? nchunks * C : w.group_size;
  const int64_t per_group = group >= C ? group / C : 0;  // chunks per group (0: several groups per chunk)
  const int64_t per_chunk = group >= C ? 1 : C / group;  // groups per chunk
  const int shift = group >= C ? 0 : (group == 32 ? 2 : group == 64 ? 3 : 4);  // log2(lanes per group)
  const int64_t pf = RB * rb;  // prefetch the same offset one row block ahead (one contiguous stream)
  const uint8_t* codes = w.codes + r * rb;
  const int8_t* xrow[MB];  // in locals: the stores to fac below could alias x's fields
#pragma GCC unroll 4
  for (int i = 0; i < MB; ++i) xrow[i] = x.q + i * x.ldq;
  alignas(64) float fac[RB][MB][L];
  alignas(64) float sbuf[RB][L], xbuf[MB][L];  // the batch's weight and x scales (several groups per chunk)
  fvec accf[RB][MB];
#pragma GCC unroll 4
  for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) accf[j][i] = V::fzero();
  for (int64_t gb = 0; gb < groups; gb += L) {
    const int64_t ng = groups - gb < L ? groups - gb : L;
    // the zero term scale · zero · sx · sq as (scale · zero) · (sx · sq): one FMA per (row, x row)
    fvec sxv[MB], xsq[MB];
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) {
      sxv[i] = V::load_lanes(x.sx + i * x.groups + gb, ng);
      xsq[i] = V::mul(sxv[i], V::load_lanes(x.sq + i * x.groups + gb, ng));
      if (!per_group) V::store_f(xbuf[i], sxv[i]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < RB; ++j) {
      const int64_t o = (r + j) * groups + gb;
      const fvec sc = w.scales_f16 ? V::load_lanes(static_cast<const uint16_t*>(w.scales) + o, ng)
                                   : V::load_lanes(static_cast<const float*>(w.scales) + o, ng);
      const fvec zf = V::load_lanes(w.zeros + o, ng);
      if (!per_group) V::store_f(sbuf[j], sc);
      const fvec scz = V::mul(sc, zf);
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) {
        if (per_group) V::store_f(fac[j][i], V::mul(sc, sxv[i]));
        accf[j][i] = V::fnmadd(scz, xsq[i], accf[j][i]);
      }
    }
    if (per_group) {
      // whole chunks per group: integer sums over the group, one conversion per group
      for (int64_t gi = 0; gi < ng; ++gi) {
        const int64_t c0 = (gb + gi) * per_group, c1 = c0 + per_group < nchunks ? c0 + per_group : nchunks;
        ivec acc[RB][MB];
#pragma GCC unroll 4
        for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
          for (int i = 0; i < MB; ++i) acc[j][i] = V::izero();
        i8_chunks<V, MB, RB>(codes, rb, c0, c1, full, pf, xrow, acc);
#pragma GCC unroll 4
        for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
          for (int i = 0; i < MB; ++i) accf[j][i] = V::fmadd(V::to_float(acc[j][i]), V::set1(fac[j][i][gi]), accf[j][i]);
      }
    } else {
      // several groups per chunk: each lane takes its own group's factor
      const int64_t c0 = gb / per_chunk, ce = (gb + ng + per_chunk - 1) / per_chunk;
      const int64_t c1 = ce < nchunks ? ce : nchunks;
      for (int64_t c = c0; c < c1; ++c) {
        ivec acc[RB][MB];
#pragma GCC unroll 4
        for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
          for (int i = 0; i < MB; ++i) acc[j][i] = V::izero();
        i8_chunks<V, MB, RB>(codes, rb, c, c + 1, full, pf, xrow, acc);
        // each lane's factor is its group's weight scale times its group's x scale: RB + MB lane
        // permutes per chunk instead of one per (row, x row)
        const int first = static_cast<int>((c - c0) * per_chunk);
        fvec sl[RB], xl[MB];
#pragma GCC unroll 4
        for (int j = 0; j < RB; ++j) sl[j] = V::lane_groups(V::load_f(sbuf[j]), first, shift);
#pragma GCC unroll 4
        for (int i = 0; i < MB; ++i) xl[i] = V::lane_groups(V::load_f(xbuf[i]), first, shift);
#pragma GCC unroll 4
        for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
          for (int i = 0; i < MB; ++i) accf[j][i] = V::fmadd(V::mul(V::to_float(acc[j][i]), sl[j]), xl[i], accf[j][i]);
      }
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) y.p[i * y.s0 + (r + j) * y.s1] = V::hsum(accf[j][i]);
}

template <class V, int MB>
void i8_rows_mb(const QWeight& w, int64_t r0, int64_t r1, const QmmI8X& x, QmmOut y) {
  // rows per block: as many as keep RB · MB integer accumulators, the decoded codes and the x
  // loads in registers
  constexpr int RB = V::kRegs >= 32 ? 4 : (MB == 1 ? 4 : 2);
  int64_t r = r0;
  for (; r + RB <= r1; r += RB) i8_rows<V, MB, RB>(w, r, x, y);
  for (; r < r1; ++r) i8_rows<V, MB, 1>(w, r, x, y);
}

template <class V>
void i8_gemv4(const QWeight& w, int64_t r0, int64_t r1, const QmmI8X& x, int64_t m, QmmOut y) {
  switch (m) {
    case 1: return i8_rows_mb<V, 1>(w, r0, r1, x, y);
    case 2: return i8_rows_mb<V, 2>(w, r0, r1, x, y);
    case 3: return i8_rows_mb<V, 3>(w, r0, r1, x, y);
    default: return i8_rows_mb<V, 4>(w, r0, r1, x, y);
  }
}
