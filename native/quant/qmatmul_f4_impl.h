// The f32-activation kernels of the quantized matmul for 2/3/4-bit codes (qmatmul_kernels.h
// gemv4, dequant4) and the dot-form micro-kernel of the panel GEMM (tile), written once over
// vector traits V (qmatmul_ymm.h, qmatmul_zmm.h) and instantiated per ISA (qmatmul_avx2.cc,
// qmatmul_avx512.cc). Included ONLY inside an ISA region and an anonymous namespace, as
// cpu/gemm_simd_impl.h, so every ISA file gets its own instantiations for its own target.
//
// Split order, chunk = 2 · kLanes columns = kLanes code bytes: one vpmovzxbd widens the bytes to
// kLanes int32 lanes, whose low nibbles are the chunk's even columns and high nibbles its odd
// columns (x is packed in the same order), so a chunk decodes into two vectors with no shuffle.
// How a chunk decodes is the traits' choice (V::f4_decode), and with it where the scale goes:
//   kTableDecode (zmm): a 16-entry table of scale · (q − zero) per group, looked up by vpermps;
//       the GEMV accumulates the dequantized weights times x over the whole row.
//   otherwise (ymm, whose vpermps has 8 entries): q − zero in the integer domain; the GEMV sums
//       dot(q − zero, x) per group and applies the group's scale once: sum_g scale_g · dot_g.
// Never dot(q, x) − zero · sum(x): that cancels catastrophically when x holds a large value
// against a code equal to the zero point (a weight that dequantizes to 0). The dequantizer
// computes scale · (q − zero) per element either way, rounded as dequantize_value.
//
// V provides (besides the f32 / int32 basics): kLanes, fzero, set1, add, mul, fmadd, load_f,
//   store_f (unaligned), hsum (fixed lane order), keep_first(v, n), scale(w, i),
//   load_lanes(p, n) for float / f16 bits / uint8 (kLanes values as f32, min(n, kLanes) read),
//   widen(p), widen_part(p, n), kTableDecode, kF4Chains (independent accumulator sets of the
//   GEMV, chunks dealt round-robin), kF4PrefetchAhead (bytes; 0: none), kF4GroupBatch (groups
//   whose scales and zeros the GEMV converts at once: 1 or kLanes), F4Group, f4_group(scale,
//   zero), f4_decode(group, t, lo, hi).
// No lambdas and no std:: templates below: they would not inherit the ISA target.

// ---- fused GEMV ----

// One chunk of codes t against MB rows of x (split order, at xs) into the accumulators a.
template <class V, int MB>
__attribute__((always_inline)) inline void f4_chunk(const typename V::F4Group& grp, typename V::ivec t,
                                                    const float* xs, int64_t ldx, typename V::fvec (&a)[2][MB]) {
  typename V::fvec lo, hi;
  V::f4_decode(grp, t, lo, hi);
#pragma GCC unroll 4
  for (int i = 0; i < MB; ++i) {
    a[0][i] = V::fmadd(lo, V::load_f(xs + i * ldx), a[0][i]);
    a[1][i] = V::fmadd(hi, V::load_f(xs + i * ldx + V::kLanes), a[1][i]);
  }
}

// The sum of the accumulator sets of x row i: (a0 + a1) [+ (b0 + b1)].
template <class V, int MB>
__attribute__((always_inline)) inline typename V::fvec f4_total(const typename V::fvec (&a)[V::kF4Chains][2][MB],
                                                                int i) {
  typename V::fvec s = V::add(a[0][0][i], a[0][1][i]);
#pragma GCC unroll 2
  for (int ch = 1; ch < V::kF4Chains; ++ch) s = V::add(s, V::add(a[ch][0][i], a[ch][1][i]));
  return s;
}

template <class V, int MB>
void f4_gemv_mb(const QWeight& w, int64_t r0, int64_t r1, const float* xs, int64_t ldx, QmmOut y) {
  using fvec = typename V::fvec;
  constexpr int L = V::kLanes, NC = V::kF4Chains;
  constexpr int64_t S = 2 * L;  // columns per chunk
  const int64_t rb = w.row_bytes(), groups = w.groups(), cols = w.cols;
  const int64_t full = cols / S, nchunks = (cols + S - 1) / S;
  const int64_t per_group = groups == 1 ? nchunks : w.group_size / S;
  const int64_t rem = cols - full * S;  // columns of the partial last chunk (0: none)
  constexpr int64_t GB = V::kF4GroupBatch;
  static_assert(GB == 1 || GB == L, "scales and zeros are converted one group or one vector of groups at a time");
  alignas(64) float sbuf[GB], zbuf[GB];
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* codes = w.codes + r * rb;
    int64_t c = 0;  // the next chunk: each group's chunks follow the previous group's
    fvec acc[NC][2][MB], tot[MB];
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) {
      tot[i] = V::fzero();
#pragma GCC unroll 2
      for (int ch = 0; ch < NC; ++ch) acc[ch][0][i] = acc[ch][1][i] = V::fzero();
    }
    for (int64_t gb = 0; gb < groups; gb += GB) {
      const int64_t ng = groups - gb < GB ? groups - gb : GB;
      const int64_t o = r * groups + gb;
      if constexpr (GB > 1) {
        // GB = kLanes groups' scales and zeros converted at once, read back by broadcast
        V::store_f(sbuf, w.scales_f16 ? V::load_lanes(static_cast<const uint16_t*>(w.scales) + o, ng)
                                      : V::load_lanes(static_cast<const float*>(w.scales) + o, ng));
        V::store_f(zbuf, V::load_lanes(w.zeros + o, ng));
      }
      for (int64_t gi = 0; gi < ng; ++gi) {
        const float scale = GB > 1 ? sbuf[gi] : V::scale(w, o + gi);
        const typename V::F4Group grp = V::f4_group(scale, GB > 1 ? zbuf[gi] : static_cast<float>(w.zeros[o + gi]));
        const int64_t c1 = c + per_group < nchunks ? c + per_group : nchunks;
        const int64_t cf = c1 < full ? c1 : full;  // chunks [c, cf) are whole
        for (; c + NC <= cf; c += NC) {
          if constexpr (V::kF4PrefetchAhead > 0)
            _mm_prefetch(reinterpret_cast<const char*>(codes + c * L + V::kF4PrefetchAhead), _MM_HINT_T1);
#pragma GCC unroll 2
          for (int ch = 0; ch < NC; ++ch) f4_chunk<V, MB>(grp, V::widen(codes + (c + ch) * L), xs + (c + ch) * S, ldx, acc[ch]);
        }
        for (; c < cf; ++c) f4_chunk<V, MB>(grp, V::widen(codes + c * L), xs + c * S, ldx, acc[0]);
        if (c < c1) {
          // the partial last chunk: bytes past the row are not read, lanes of columns >= cols are 0
          typename V::fvec lo, hi;
          V::f4_decode(grp, V::widen_part(codes + c * L, (rem + 1) / 2), lo, hi);
          lo = V::keep_first(lo, (rem + 1) / 2);
          hi = V::keep_first(hi, rem / 2);
#pragma GCC unroll 4
          for (int i = 0; i < MB; ++i) {
            acc[0][0][i] = V::fmadd(lo, V::load_f(xs + i * ldx + c * S), acc[0][0][i]);
            acc[0][1][i] = V::fmadd(hi, V::load_f(xs + i * ldx + c * S + L), acc[0][1][i]);
          }
          ++c;
        }
        if constexpr (!V::kTableDecode) {
          // the group's dot(q − zero, x) times its scale into the row's total
          const fvec sv = V::set1(scale);
#pragma GCC unroll 4
          for (int i = 0; i < MB; ++i) {
            tot[i] = V::fmadd(sv, f4_total<V, MB>(acc, i), tot[i]);
#pragma GCC unroll 2
            for (int ch = 0; ch < NC; ++ch) acc[ch][0][i] = acc[ch][1][i] = V::fzero();
          }
        }
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) y.p[i * y.s0 + r * y.s1] = V::hsum(V::kTableDecode ? f4_total<V, MB>(acc, i) : tot[i]);
  }
}

template <class V>
void f4_gemv(const QWeight& w, int64_t r0, int64_t r1, const float* xs, int64_t ldx, int64_t m, QmmOut y) {
  switch (m) {
    case 1: return f4_gemv_mb<V, 1>(w, r0, r1, xs, ldx, y);
    case 2: return f4_gemv_mb<V, 2>(w, r0, r1, xs, ldx, y);
    case 3: return f4_gemv_mb<V, 3>(w, r0, r1, xs, ldx, y);
    default: return f4_gemv_mb<V, 4>(w, r0, r1, xs, ldx, y);
  }
}

// ---- panel dequantization ----

// scale · (q − zero) of chunk t, as dequantize_value rounds it (one product of exact operands).
template <class V>
__attribute__((always_inline)) inline void f4_weights(const typename V::F4Group& grp, float scale, typename V::ivec t,
                                                      typename V::fvec& lo, typename V::fvec& hi) {
  V::f4_decode(grp, t, lo, hi);
  if constexpr (!V::kTableDecode) {
    lo = V::mul(V::set1(scale), lo);
    hi = V::mul(V::set1(scale), hi);
  }
}

template <class V>
void f4_dequant(const QWeight& w, int64_t r0, int64_t nrows, int64_t k0, int64_t kc, float* dst, int64_t ldd) {
  constexpr int L = V::kLanes;
  constexpr int64_t S = 2 * L;
  const int64_t rb = w.row_bytes(), groups = w.groups(), cols = w.cols;
  const int64_t full = cols / S, nchunks = (cols + S - 1) / S, rem = cols - full * S;
  const int64_t c_begin = k0 / S, c_end = (k0 + kc) / S;
  const int64_t c_rows = c_end < nchunks ? c_end : nchunks;  // chunks [c_rows, c_end) pad past the row
  const int64_t per_group = groups == 1 ? c_end + 1 : w.group_size / S;
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t row = r0 + r;
    const uint8_t* codes = w.codes + row * rb;
    float* out = dst + r * ldd - k0;
    int64_t c = c_begin;
    while (c < c_rows) {
      const int64_t g = c / per_group;
      const float s = V::scale(w, row * groups + g);
      const typename V::F4Group grp = V::f4_group(s, static_cast<float>(w.zeros[row * groups + g]));
      const int64_t ce = (g + 1) * per_group < c_rows ? (g + 1) * per_group : c_rows;
      const int64_t cf = ce < full ? ce : full;
      typename V::fvec lo, hi;
      for (; c < cf; ++c) {
        f4_weights<V>(grp, s, V::widen(codes + c * L), lo, hi);
        V::store_f(out + c * S, lo);
        V::store_f(out + c * S + L, hi);
      }
      if (c < ce) {  // c == full: the partial last chunk of the row
        f4_weights<V>(grp, s, V::widen_part(codes + c * L, (rem + 1) / 2), lo, hi);
        V::store_f(out + c * S, V::keep_first(lo, (rem + 1) / 2));
        V::store_f(out + c * S + L, V::keep_first(hi, rem / 2));
        ++c;
      }
    }
    for (c = c_rows > c_begin ? c_rows : c_begin; c < c_end; ++c) {
      V::store_f(out + c * S, V::fzero());
      V::store_f(out + c * S + L, V::fzero());
    }
  }
}

// ---- dot-form micro-kernel of the panel GEMM ----

// y(i, j) (+)= sum_p x[i, p] · w[j, p] for i < MV, j < nv <= NR (qmatmul_kernels.h tile): MV · NR
// vector accumulators, one fixed-order sum per element whatever mv and nv are.
template <class V, int MV, int NR>
void f32_tile_mv(int64_t kc, const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t nv, QmmOut y,
                 bool accumulate) {
  typename V::fvec acc[MV][NR];
#pragma GCC unroll 4
  for (int i = 0; i < MV; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = V::fzero();
  for (int64_t p = 0; p < kc; p += V::kLanes) {
    typename V::fvec xv[MV];
#pragma GCC unroll 4
    for (int i = 0; i < MV; ++i) xv[i] = V::load_f(x + i * ldx + p);
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const typename V::fvec wv = V::load_f(w + j * ldw + p);
#pragma GCC unroll 4
      for (int i = 0; i < MV; ++i) acc[i][j] = V::fmadd(xv[i], wv, acc[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MV; ++i)
    for (int64_t j = 0; j < nv; ++j) {
      const float s = V::hsum(acc[i][j]);
      float& out = y.p[i * y.s0 + j * y.s1];
      out = accumulate ? out + s : s;
    }
}

template <class V, int NR>
void f32_tile(int64_t kc, const float* x, int64_t ldx, int64_t mv, const float* w, int64_t ldw, int64_t nv, QmmOut y,
              bool accumulate) {
  switch (mv) {
    case 1: return f32_tile_mv<V, 1, NR>(kc, x, ldx, w, ldw, nv, y, accumulate);
    case 2: return f32_tile_mv<V, 2, NR>(kc, x, ldx, w, ldw, nv, y, accumulate);
    case 3: return f32_tile_mv<V, 3, NR>(kc, x, ldx, w, ldw, nv, y, accumulate);
    default: return f32_tile_mv<V, 4, NR>(kc, x, ldx, w, ldw, nv, y, accumulate);
  }
}
