// GEAR kernels written once over a vector-traits struct V (see gear_kernels.h). Included ONLY
// inside an ISA region and inside an anonymous namespace, so each ISA file gets its own
// instantiations compiled for its target (the pattern of native/cpu/gemm_simd_impl.h).
//
// V provides: vec, W (lanes), kRegs (vector registers), zero(), load(p), store(p, v), set1(x),
// fmadd(a, b, c) = a*b+c, mul(a, b), hsum(v), hsum4(a, b, c, d, out[4]); for W > 1 also add(a,
// b), tsum(v[W]) = the W vectors' sums in one (lane i: v[i]'s), veci,
// bytes(p) = W bytes from p zero-extended to W int lanes, field(x, shift, mask) = ((x >> shift) &
// mask) as floats (one phase of the phase layout, gear_kernels.h), deinterleave2(a, b, even,
// odd) = the even and the odd elements of the 2W floats a, b, and codes4(p) / codes2(p) =
// the W codes packed from byte p on (low bits first) as floats, in element order.
// No lambdas: they would not inherit the ISA target.

inline float gk_code_at(const uint8_t* codes, int bits, int64_t e) {
  const int64_t bit = e * bits;
  return static_cast<float>((codes[bit >> 3] >> (bit & 7)) & ((1u << bits) - 1));
}

template <class V, int BITS>
inline typename V::vec gk_codes(const uint8_t* codes, int64_t e) {
  if constexpr (V::W == 1) {
    return gk_code_at(codes, BITS, e);  // the scalar traits: one code, anywhere on the bit grid
  } else {
    const uint8_t* p = codes + (e * BITS) / 8;
    if constexpr (BITS == 4) return V::codes4(p);
    else return V::codes2(p);
  }
}

// ---- keys: T tokens x R queries of scores per pass, the codes of a token loaded once per pass ----

// csv: cst[g0 + i / T] at lane i (read where the R x T sums fill a vector)
template <class V, int BITS, int R, int T>
__attribute__((always_inline)) inline void gk_scores_block(const GearScoreArgs& a, int64_t g0, int64_t t0,
                                                           const float* csv) {
  using vec = typename V::vec;
  using veci = typename V::veci;
  constexpr int PER = 8 / BITS, B = V::W * PER;
  const GearCodeRows& cr = a.rows;
  const int64_t d = cr.d, db = cr.phase ? d / B * B : 0;
  vec acc[R][T];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int k = 0; k < T; ++k) acc[r][k] = V::zero();
  if constexpr (V::W > 1) {
    for (int64_t j = 0; j < db; j += B) {
      veci x[T];
#pragma GCC unroll 4
      for (int k = 0; k < T; ++k) x[k] = V::bytes(cr.codes + ((cr.e0 + (t0 + k) * d + j) * BITS) / 8);
#pragma GCC unroll 4
      for (int p = 0; p < PER; ++p) {
        vec c[T];
#pragma GCC unroll 4
        for (int k = 0; k < T; ++k) c[k] = V::field(x[k], p * BITS, (1 << BITS) - 1);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          const vec q = V::load(a.qs + (g0 + r) * a.ldq + j + p * V::W);
#pragma GCC unroll 4
          for (int k = 0; k < T; ++k) acc[r][k] = V::fmadd(q, c[k], acc[r][k]);
        }
      }
    }
    // low-rank term: lw padded with zeros, so the lanes past r add nothing
    for (int64_t c0 = 0; c0 < a.r; c0 += V::W) {
      vec l[T];
#pragma GCC unroll 4
      for (int k = 0; k < T; ++k) l[k] = V::load(a.lq + (t0 + k) * a.r + c0);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const vec w = V::load(a.lw + (g0 + r) * a.ldw + c0);
#pragma GCC unroll 4
        for (int k = 0; k < T; ++k) acc[r][k] = V::fmadd(w, l[k], acc[r][k]);
      }
    }
  }
  // the R x T sums: where they fill a vector, one transpose-and-add tree and, without a tail,
  // cst added and the rows stored from it; else one hsum each
  float sums[R * T];
  if constexpr (V::W > 1 && R * T == V::W) {
    if (db == d) {
      V::store(sums, V::add(V::tsum(&acc[0][0]), V::load(csv)));
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) std::memcpy(a.S + (g0 + r) * a.lds + t0, sums + r * T, T * sizeof(float));
      return;
    }
    V::store(sums, V::tsum(&acc[0][0]));
  } else {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
      if constexpr (T == 4) V::hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3], sums + r * T);
      else
        for (int k = 0; k < T; ++k) sums[r * T + k] = V::hsum(acc[r][k]);
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const float* s = sums + r * T;
    const float* q = a.qs + (g0 + r) * a.ldq;
    for (int k = 0; k < T; ++k) {
      const int64_t t = t0 + k;
      float v = s[k];
      for (int64_t j = db; j < d; ++j) v += q[j] * gk_code_at(cr.codes, BITS, cr.e0 + t * d + j);
      if (V::W == 1)
        for (int64_t c = 0; c < a.r; ++c) v += a.lw[(g0 + r) * a.ldw + c] * a.lq[t * a.r + c];
      a.S[(g0 + r) * a.lds + t] = a.cst[g0 + r] + v;
    }
  }
}

template <class V, int BITS, int R>
void gk_scores_rows(const GearScoreArgs& a, int64_t g0) {
  constexpr int T = V::kRegs >= 32 ? 4 : 2;
  float csv[R * T];
  for (int i = 0; i < R * T; ++i) csv[i] = a.cst[g0 + i / T];
  int64_t t = 0;
  for (; t + T <= a.rows.n; t += T) gk_scores_block<V, BITS, R, T>(a, g0, t, csv);
  for (; t < a.rows.n; ++t) gk_scores_block<V, BITS, R, 1>(a, g0, t, csv);
}

template <class V, int BITS>
void gk_code_scores_bits(const GearScoreArgs& a) {
  int64_t g = 0;
  for (; g + 4 <= a.G; g += 4) gk_scores_rows<V, BITS, 4>(a, g);
  for (; g + 2 <= a.G; g += 2) gk_scores_rows<V, BITS, 2>(a, g);
  for (; g < a.G; ++g) gk_scores_rows<V, BITS, 1>(a, g);
}

template <class V>
void gk_code_scores(const GearScoreArgs& a) {
  if (a.rows.bits == 4) gk_code_scores_bits<V, 4>(a);
  else gk_code_scores_bits<V, 2>(a);
}

// ---- values: R queries x NB blocks of B columns in registers while the tokens stream ----

// Columns [j0, j0 + NB·B) lie in one group: one weight per query row and token for the pass.
template <class V, int BITS, int R, int NB>
void gk_values_block(const GearValueArgs& a, int64_t g0, int64_t j0) {
  using vec = typename V::vec;
  using veci = typename V::veci;
  constexpr int PER = 8 / BITS, B = V::W * PER;
  const GearCodeRows& cr = a.rows;
  vec acc[R][NB * PER];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < NB * PER; ++c) acc[r][c] = V::load(a.acc + (g0 + r) * a.lda + j0 + c * V::W);
  const float* w0 = a.W + g0 * a.ldw + (j0 / a.group) * a.ldc;
  for (int64_t t = 0; t < cr.n; ++t) {
    vec w[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) w[r] = V::set1(w0[r * a.ldw + t]);
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) {
      const veci x = V::bytes(cr.codes + ((cr.e0 + t * cr.d + j0 + b * B) * BITS) / 8);
#pragma GCC unroll 4
      for (int p = 0; p < PER; ++p) {
        const vec v = V::field(x, p * BITS, (1 << BITS) - 1);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[r][b * PER + p] = V::fmadd(w[r], v, acc[r][b * PER + p]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < NB * PER; ++c) V::store(a.acc + (g0 + r) * a.lda + j0 + c * V::W, acc[r][c]);
}

// Columns [j0, j1) one element at a time (head-dim tails, and everything off the phase layout).
template <int BITS>
void gk_values_columns(const GearValueArgs& a, int64_t j0, int64_t j1) {
  const GearCodeRows& cr = a.rows;
  for (int64_t g = 0; g < a.G; ++g)
    for (int64_t j = j0; j < j1; ++j) {
      const float* w = a.W + g * a.ldw + (j / a.group) * a.ldc;
      float s = a.acc[g * a.lda + j];
      for (int64_t t = 0; t < cr.n; ++t) s += w[t] * gk_code_at(cr.codes, BITS, cr.e0 + t * cr.d + j);
      a.acc[g * a.lda + j] = s;
    }
}

template <class V, int BITS, int R>
void gk_values_rows(const GearValueArgs& a, int64_t g0, int64_t db) {
  constexpr int PER = 8 / BITS, B = V::W * PER;
  // accumulators: R x NB·PER vectors, half the registers; a pass never straddles two groups
  constexpr int NB = (V::kRegs / 2) / (R * PER) > 0 ? (V::kRegs / 2) / (R * PER) : 1;
  const bool wide = a.ldc == 0 || a.group % (NB * B) == 0;
  int64_t j = 0;
  if (wide)
    for (; j + NB * B <= db; j += NB * B) gk_values_block<V, BITS, R, NB>(a, g0, j);
  for (; j < db; j += B) gk_values_block<V, BITS, R, 1>(a, g0, j);
}

template <class V, int BITS>
void gk_code_values_bits(const GearValueArgs& a) {
  constexpr int PER = 8 / BITS, B = V::W * PER;
  const int64_t db = (V::W > 1 && a.rows.phase) ? a.rows.d / B * B : 0;
  if constexpr (V::W > 1) {
    if (db > 0) {
      constexpr int R = V::kRegs >= 32 || PER <= 2 ? 4 : 2;
      int64_t g = 0;
      for (; g + R <= a.G; g += R) gk_values_rows<V, BITS, R>(a, g, db);
      for (; g < a.G; ++g) gk_values_rows<V, BITS, 1>(a, g, db);
    }
  }
  if (db < a.rows.d) gk_values_columns<BITS>(a, db, a.rows.d);
}

template <class V>
void gk_code_values(const GearValueArgs& a) {
  if (a.rows.bits == 4) gk_code_values_bits<V, 4>(a);
  else gk_code_values_bits<V, 2>(a);
}

// ---- f32 rows and D̂ decoding (compress / decompress and the older scratch-tile kernels) ----

template <class V>
void gk_scores_f32(const float* qs, int64_t G, const float* rows, int64_t n, int64_t d, float* S) {
  using vec = typename V::vec;
  const int64_t dv = d / V::W * V::W;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t g = 0; g < G; ++g) {
      vec acc = V::zero();
      for (int64_t j = 0; j < dv; j += V::W) acc = V::fmadd(V::load(qs + g * d + j), V::load(rows + t * d + j), acc);
      float s = V::hsum(acc);
      for (int64_t j = dv; j < d; ++j) s += qs[g * d + j] * rows[t * d + j];
      S[g * n + t] = s;
    }
}

template <class V>
void gk_accumulate_f32(const float* P, int64_t G, const float* rows, int64_t n, int64_t d, float* acc) {
  using vec = typename V::vec;
  const int64_t dv = d / V::W * V::W;
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t j = 0; j < dv; j += V::W) {
      vec a = V::load(acc + g * d + j);
      for (int64_t t = 0; t < n; ++t) a = V::fmadd(V::set1(P[g * n + t]), V::load(rows + t * d + j), a);
      V::store(acc + g * d + j, a);
    }
    for (int64_t j = dv; j < d; ++j) {
      float a = acc[g * d + j];
      for (int64_t t = 0; t < n; ++t) a += P[g * n + t] * rows[t * d + j];
      acc[g * d + j] = a;
    }
  }
}

template <class V, int BITS>
void gk_dequant_bits(const uint8_t* codes, int64_t d, const float* lo, const float* step, bool per_channel, float* out) {
  int64_t j = 0;
  if ((V::W * BITS) % 8 == 0 && V::W > 1)
    for (; j + V::W <= d; j += V::W) {
      const typename V::vec c = gk_codes<V, BITS>(codes, j);
      V::store(out + j, per_channel ? V::fmadd(V::load(step + j), c, V::load(lo + j))
                                    : V::fmadd(V::set1(step[0]), c, V::set1(lo[0])));
    }
  for (; j < d; ++j) out[j] = per_channel ? lo[j] + step[j] * gk_code_at(codes, BITS, j) : lo[0] + step[0] * gk_code_at(codes, BITS, j);
}

template <class V>
void gk_dequant_channels(const uint8_t* codes, int bits, int64_t d, const float* lo, const float* step, float* out) {
  if (bits == 4) gk_dequant_bits<V, 4>(codes, d, lo, step, true, out);
  else gk_dequant_bits<V, 2>(codes, d, lo, step, true, out);
}

template <class V>
void gk_dequant_scalar(const uint8_t* codes, int bits, int64_t d, float lo, float step, float* out) {
  if (bits == 4) gk_dequant_bits<V, 4>(codes, d, &lo, &step, false, out);
  else gk_dequant_bits<V, 2>(codes, d, &lo, &step, false, out);
}

template <class V>
void gk_mul_rows(int64_t G, int64_t d, const float* x, const float* y, float* out) {
  const int64_t dv = d / V::W * V::W;
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t j = 0; j < dv; j += V::W) V::store(out + g * d + j, V::mul(V::load(x + g * d + j), V::load(y + j)));
    for (int64_t j = dv; j < d; ++j) out[g * d + j] = x[g * d + j] * y[j];
  }
}

// ---- side-data layouts without gathers ----

// out[c] lane l = src[l·K + c] for the W·K floats from src (K a power of two): log2 K rounds of
// pairwise even/odd splits, a perfect-shuffle network that leaves stream c in out[c].
template <class V, int K>
inline void gk_deinterleave(const float* src, typename V::vec* out) {
  using vec = typename V::vec;
#pragma GCC unroll 16
  for (int i = 0; i < K; ++i) out[i] = V::load(src + i * V::W);
  for (int span = 1; span < K; span *= 2) {
    vec next[K];
#pragma GCC unroll 8
    for (int i = 0; i < K / 2; ++i) V::deinterleave2(out[2 * i], out[2 * i + 1], next[i], next[K / 2 + i]);
#pragma GCC unroll 16
    for (int i = 0; i < K; ++i) out[i] = next[i];
  }
}

template <class V, int K>
void gk_transpose_k(const float* src, int64_t m, float* dst) {
  int64_t i = 0;
  if constexpr (V::W > 1)
    for (; i + V::W <= m; i += V::W) {
      typename V::vec o[K];
      gk_deinterleave<V, K>(src + i * K, o);
#pragma GCC unroll 16
      for (int c = 0; c < K; ++c) V::store(dst + c * m + i, o[c]);
    }
  for (; i < m; ++i)
    for (int c = 0; c < K; ++c) dst[c * m + i] = src[i * K + c];
}

template <class V>
void gk_transpose_factor(const float* src, int64_t m, int64_t r, float* dst) {
  switch (r) {
    case 1: std::memcpy(dst, src, static_cast<size_t>(m) * sizeof(float)); return;
    case 2: gk_transpose_k<V, 2>(src, m, dst); return;
    case 4: gk_transpose_k<V, 4>(src, m, dst); return;
    case 8: gk_transpose_k<V, 8>(src, m, dst); return;
    case 16: gk_transpose_k<V, 16>(src, m, dst); return;
    default:
      for (int64_t c = 0; c < r; ++c)
        for (int64_t i = 0; i < m; ++i) dst[c * m + i] = src[i * r + c];
  }
}

template <class V, int BITS>
void gk_phase_row_bits(const float* src, int64_t d, float* dst) {
  constexpr int PER = 8 / BITS, B = V::W * PER;
  int64_t j = 0;
  if constexpr (V::W > 1)
    if ((d * BITS) % 8 == 0)  // gear_phase_ok
      for (; j + B <= d; j += B) {
        typename V::vec o[PER];
        gk_deinterleave<V, PER>(src + j, o);
#pragma GCC unroll 4
        for (int p = 0; p < PER; ++p) V::store(dst + j + p * V::W, o[p]);
      }
  for (; j < d; ++j) dst[j] = src[j];
}

template <class V>
void gk_phase_row(const float* src, int64_t d, int bits, float* dst) {
  if (bits == 4) gk_phase_row_bits<V, 4>(src, d, dst);
  else gk_phase_row_bits<V, 2>(src, d, dst);
}

template <class V>
GearKernels make_gear_kernels(const char* isa) {
  GearKernels k;
  k.isa = isa;
  k.lanes = V::W;
  k.scores = gk_scores_f32<V>;
  k.accumulate = gk_accumulate_f32<V>;
  k.dequant_channels = gk_dequant_channels<V>;
  k.dequant_scalar = gk_dequant_scalar<V>;
  k.code_scores = gk_code_scores<V>;
  k.code_values = gk_code_values<V>;
  k.mul_rows = gk_mul_rows<V>;
  k.transpose_factor = gk_transpose_factor<V>;
  k.phase_row = gk_phase_row<V>;
  return k;
}
