// Attention inner loops written once over a vector-traits struct V (see attention_kernels_avx2.cc,
// attention_kernels_avx512.cc and the scalar W = 1 traits in attention_kernels.cc). Included ONLY
// inside an ISA region and inside an anonymous namespace, so every ISA file gets its own
// instantiations compiled for its target.
//
// The including file provides <algorithm>, <cmath>, <cstdint> and <limits>.
// V provides: vec, W (lanes), zero(), load(p), store(p, v), set1(x), fmadd(a, b, c), mul(a, b),
// add(a, b), max(a, b), hsum(v), hmax(v), exp_neg(v) = exp(v) for v <= 0 (underflow to ~0 below -87).
// No lambdas: they would not inherit the ISA target.

// Software prefetch of `rows` rows (row j at p + j * ld, `bytes` long): the decode kernels hint
// the rows of the other stream (V while scoring K, the next K block while accumulating V) so the
// memory system always has both in flight. rows = 0: nothing. A prefetch never faults.
// Forced inline: GCC 12 splits an outlined row() and then drops the part holding the
// prefetches as if it had no effect (checked in the object code: no prefetcht0 at all).
struct RowPrefetch {
  const float* p = nullptr;
  int64_t ld = 0, rows = 0, bytes = 0;
  __attribute__((always_inline)) inline void row(int64_t j) const {
    if (j < rows) {  // every 64-byte line the row touches, once
      const uintptr_t a = reinterpret_cast<uintptr_t>(p + j * ld), end = a + static_cast<uintptr_t>(bytes);
      for (uintptr_t x = a & ~uintptr_t{63}; x < end; x += 64) __builtin_prefetch(reinterpret_cast<const void*>(x), 0, 3);
    }
  }
};

template <class V, int MR, int NV>
void attn_scores(int64_t d, const float* q, int64_t ldq, const float* kp, int64_t npan, float* s, int64_t lds) {
  using vec = typename V::vec;
  constexpr int NR = NV * V::W;
  for (int64_t pan = 0; pan < npan; ++pan) {
    const float* b = kp + pan * d * NR;
    vec acc[MR][NV];
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
    for (int64_t p = 0; p < d; ++p) {
      vec bv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) bv[v] = V::load(b + p * NR + v * V::W);
#pragma GCC unroll 32
      for (int r = 0; r < MR; ++r) {
        const vec a = V::set1(q[r * ldq + p]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fmadd(a, bv[v], acc[r][v]);
      }
    }
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) V::store(s + r * lds + pan * NR + v * V::W, acc[r][v]);
  }
}

template <class V, int MR, int NV>
void attn_pv(int64_t n, const float* p, int64_t ldp, const float* vp, int64_t vstride, int64_t dpan, const float* corr,
             float* o, int64_t ldo) {
  using vec = typename V::vec;
  constexpr int NR = NV * V::W;
  for (int64_t pan = 0; pan < dpan; ++pan) {
    const float* b = vp + pan * vstride;
    float* c = o + pan * NR;
    vec acc[MR][NV];
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r) {
      const vec cr = V::set1(corr[r]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::mul(V::load(c + r * ldo + v * V::W), cr);
    }
    for (int64_t j = 0; j < n; ++j) {
      vec bv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) bv[v] = V::load(b + j * NR + v * V::W);
#pragma GCC unroll 32
      for (int r = 0; r < MR; ++r) {
        const vec a = V::set1(p[r * ldp + j]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fmadd(a, bv[v], acc[r][v]);
      }
    }
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) V::store(c + r * ldo + v * V::W, acc[r][v]);
  }
}

template <class V>
float attn_row_max(const float* x, int64_t n) {
  using vec = typename V::vec;
  int64_t j = 0;
  float m = x[0];
  if (n >= V::W) {
    vec a = V::load(x), b = a;
    for (j = V::W; j + 2 * V::W <= n; j += 2 * V::W) {
      a = V::max(a, V::load(x + j));
      b = V::max(b, V::load(x + j + V::W));
    }
    for (; j + V::W <= n; j += V::W) a = V::max(a, V::load(x + j));
    m = V::hmax(V::max(a, b));
  }
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

template <class V>
float attn_exp_sum(float* x, int64_t n, float m) {
  using vec = typename V::vec;
  const vec vm = V::set1(m);
  vec acc = V::zero();
  int64_t j = 0;
  for (; j + V::W <= n; j += V::W) {
    const vec e = V::exp_neg(V::sub(V::load(x + j), vm));
    V::store(x + j, e);
    acc = V::add(acc, e);
  }
  float sum = V::hsum(acc);
  for (; j < n; ++j) {
    x[j] = V::exp1(x[j] - m);
    sum += x[j];
  }
  return sum;
}

// R query rows x 4 keys per step: one accumulator per (row, key), reduced four at a time
// (V::hsum4), so the horizontal sums cost a fraction of the multiply-adds; each K row is
// loaded once per R rows. Keys past a multiple of 4 take the one-key loop.
template <class V, int R>
void attn_dot_rows_block(int64_t n, int64_t d, const float* q, int64_t ldq, const float* k, int64_t ldk, float* s,
                         int64_t lds, const RowPrefetch& pf) {
  using vec = typename V::vec;
  const int64_t dv = d / V::W * V::W;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    pf.row(j);
    pf.row(j + 1);
    pf.row(j + 2);
    pf.row(j + 3);
    const float* k0 = k + j * ldk;
    const float* k1 = k0 + ldk;
    const float* k2 = k1 + ldk;
    const float* k3 = k2 + ldk;
    vec acc[R][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = V::zero();
    for (int64_t p = 0; p < dv; p += V::W) {
      const vec a0 = V::load(k0 + p), a1 = V::load(k1 + p), a2 = V::load(k2 + p), a3 = V::load(k3 + p);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const vec qv = V::load(q + r * ldq + p);
        acc[r][0] = V::fmadd(qv, a0, acc[r][0]);
        acc[r][1] = V::fmadd(qv, a1, acc[r][1]);
        acc[r][2] = V::fmadd(qv, a2, acc[r][2]);
        acc[r][3] = V::fmadd(qv, a3, acc[r][3]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      float t[4];
      V::hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3], t);
      const float* qr = q + r * ldq;
      for (int64_t p = dv; p < d; ++p) {
        t[0] += qr[p] * k0[p];
        t[1] += qr[p] * k1[p];
        t[2] += qr[p] * k2[p];
        t[3] += qr[p] * k3[p];
      }
      s[r * lds + j] = t[0];
      s[r * lds + j + 1] = t[1];
      s[r * lds + j + 2] = t[2];
      s[r * lds + j + 3] = t[3];
    }
  }
  for (; j < n; ++j) {
    pf.row(j);
    const float* kr = k + j * ldk;
    vec acc[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[r] = V::zero();
    for (int64_t p = 0; p < dv; p += V::W) {
      const vec k0 = V::load(kr + p);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r] = V::fmadd(V::load(q + r * ldq + p), k0, acc[r]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      float t = V::hsum(acc[r]);
      for (int64_t p = dv; p < d; ++p) t += q[r * ldq + p] * kr[p];
      s[r * lds + j] = t;
    }
  }
}

// Rows in passes of RB (4 with 32 vector registers, 2 with 16); the first pass issues the
// prefetches (later passes find K in L1).
template <class V>
void attn_dot_rows_pf(int64_t m, int64_t n, int64_t d, const float* q, int64_t ldq, const float* k, int64_t ldk,
                      float* s, int64_t lds, const RowPrefetch& pf) {
  constexpr int RB = V::kRegs >= 32 ? 4 : 2;
  const RowPrefetch none;
  int64_t r = 0;
  for (; r + RB <= m; r += RB)
    attn_dot_rows_block<V, RB>(n, d, q + r * ldq, ldq, k, ldk, s + r * lds, lds, r == 0 ? pf : none);
  for (; r < m; ++r) attn_dot_rows_block<V, 1>(n, d, q + r * ldq, ldq, k, ldk, s + r * lds, lds, r == 0 ? pf : none);
}

template <class V>
void attn_dot_rows(int64_t m, int64_t n, int64_t d, const float* q, int64_t ldq, const float* k, int64_t ldk, float* s,
                   int64_t lds) {
  attn_dot_rows_pf<V>(m, n, d, q, ldq, k, ldk, s, lds, RowPrefetch{});
}

// R rows x (C vectors of head-dim columns) of o in registers while the keys stream by.
template <class V, int R, int C>
void attn_axpy_block(int64_t n, const float* p, int64_t ldp, const float* v, int64_t ldv, const float* corr, float* o,
                     int64_t ldo, const RowPrefetch& pf) {
  using vec = typename V::vec;
  vec acc[R][C];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const vec cr = V::set1(corr[r]);
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) acc[r][c] = V::mul(V::load(o + r * ldo + c * V::W), cr);
  }
  for (int64_t j = 0; j < n; ++j) {
    pf.row(j);
    vec vv[C];
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) vv[c] = V::load(v + j * ldv + c * V::W);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const vec a = V::set1(p[r * ldp + j]);
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c) acc[r][c] = V::fmadd(a, vv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) V::store(o + r * ldo + c * V::W, acc[r][c]);
}

// The first column block issues the prefetches (the others re-read V from L1).
template <class V, int R>
void attn_axpy_rows_r(int64_t n, int64_t d, const float* p, int64_t ldp, const float* v, int64_t ldv, const float* corr,
                      float* o, int64_t ldo, const RowPrefetch& pf) {
  const RowPrefetch none;
  int64_t c = 0;
  for (; c + 4 * V::W <= d; c += 4 * V::W)
    attn_axpy_block<V, R, 4>(n, p, ldp, v + c, ldv, corr, o + c, ldo, c == 0 ? pf : none);
  for (; c + V::W <= d; c += V::W) attn_axpy_block<V, R, 1>(n, p, ldp, v + c, ldv, corr, o + c, ldo, c == 0 ? pf : none);
  if (c == 0)
    for (int64_t j = 0; j < n; ++j) pf.row(j);  // d below the lanes: no vector block ran
  for (; c < d; ++c)  // head-dim tail (d not a multiple of the lanes)
    for (int r = 0; r < R; ++r) {
      float t = o[r * ldo + c] * corr[r];
      for (int64_t j = 0; j < n; ++j) t = V::fma1(p[r * ldp + j], v[j * ldv + c], t);
      o[r * ldo + c] = t;
    }
}

// 4 rows x 4 vectors of accumulators with 32 registers, 2 x 4 with 16; the first row pass
// issues the prefetches.
template <class V>
void attn_axpy_rows_pf(int64_t m, int64_t n, int64_t d, const float* p, int64_t ldp, const float* v, int64_t ldv,
                       const float* corr, float* o, int64_t ldo, const RowPrefetch& pf) {
  const RowPrefetch none;
  int64_t r = 0;
  if (V::kRegs >= 32)
    for (; r + 4 <= m; r += 4)
      attn_axpy_rows_r<V, 4>(n, d, p + r * ldp, ldp, v, ldv, corr + r, o + r * ldo, ldo, r == 0 ? pf : none);
  for (; r + 2 <= m; r += 2)
    attn_axpy_rows_r<V, 2>(n, d, p + r * ldp, ldp, v, ldv, corr + r, o + r * ldo, ldo, r == 0 ? pf : none);
  for (; r < m; ++r) attn_axpy_rows_r<V, 1>(n, d, p + r * ldp, ldp, v, ldv, corr + r, o + r * ldo, ldo, r == 0 ? pf : none);
}

template <class V>
void attn_axpy_rows(int64_t m, int64_t n, int64_t d, const float* p, int64_t ldp, const float* v, int64_t ldv,
                    const float* corr, float* o, int64_t ldo) {
  attn_axpy_rows_pf<V>(m, n, d, p, ldp, v, ldv, corr, o, ldo, RowPrefetch{});
}

// Decode work item (DecodeItem in attention_kernels.h). Per block of TB keys: the span [a, b)
// any row sees, its scores for every row (each K row loaded once per 4 rows, from L1 after
// the first pass), the online-softmax step of each row over its own keys (P = 0 outside
// them, an exact 0, as in the tiled path), then O = O * corr + P V. A NaN score makes its row
// NaN through l; a row whose keys are all masked keeps m = -inf, l = 0.
template <class V>
void attn_decode(const DecodeItem& t) {
  constexpr int64_t TB = kDecodeBlock;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  float* s = t.scratch;
  float* corr = t.scratch + t.rows * TB;
  for (int64_t kb = 0; kb < t.n; kb += TB) {
    const int64_t nb = std::min(TB, t.n - kb);
    int64_t a = nb, b = 0;
    for (int64_t r = 0; r < t.rows; ++r) {
      const int64_t ra = std::max(t.lo[r], kb) - kb, rb = std::min(t.hi[r], kb + nb) - kb;
      if (ra < rb) {
        a = std::min(a, ra);
        b = std::max(b, rb);
      }
    }
    if (a >= b) continue;
    const float* kblk = t.k + (kb + a) * t.ldk;
    const float* vblk = t.v + (kb + a) * t.ldv;
    attn_dot_rows_pf<V>(t.rows, b - a, t.d, t.q, t.ldq, kblk, t.ldk, s + a, TB,
                        RowPrefetch{vblk, t.ldv, b - a, t.dv * static_cast<int64_t>(sizeof(float))});
    bool any = false;
    for (int64_t r = 0; r < t.rows; ++r) {
      float* sr = s + r * TB;
      float* st = t.st + r * t.ldst;
      const int64_t ra = std::max(a, std::max(t.lo[r], kb) - kb), rb = std::min(b, std::min(t.hi[r], kb + nb) - kb);
      corr[r] = 1.0f;
      if (ra >= rb) {
        for (int64_t j = a; j < b; ++j) sr[j] = 0.0f;
        continue;
      }
      for (int64_t j = a; j < ra; ++j) sr[j] = 0.0f;
      for (int64_t j = rb; j < b; ++j) sr[j] = 0.0f;
      const float mx = attn_row_max<V>(sr + ra, rb - ra);
      const float mnew = std::max(st[0], mx);
      if (std::isnan(mx) || !(mnew > kNegInf)) {  // a NaN score: the row is NaN (through l); all -inf: nothing
        for (int64_t j = ra; j < rb; ++j) sr[j] = 0.0f;
        if (std::isnan(mx)) st[1] = mx;
        continue;
      }
      corr[r] = st[0] == kNegInf ? 0.0f : std::exp(st[0] - mnew);
      const float sum = attn_exp_sum<V>(sr + ra, rb - ra, mnew);
      st[1] = st[1] * corr[r] + sum;
      st[0] = mnew;
      any = true;
    }
    const int64_t next = kb + nb;
    if (any)
      attn_axpy_rows_pf<V>(t.rows, b - a, t.dv, s + a, TB, vblk, t.ldv, corr, t.st + 2, t.ldst,
                           RowPrefetch{t.k + next * t.ldk, t.ldk, std::min(TB, t.pf_n - next),
                                       t.d * static_cast<int64_t>(sizeof(float))});
  }
}

// Four components per pass over the score row: s is read and written once per 4 axpys.
template <class V>
void attn_delta_update(int64_t n, int64_t nz, const int32_t* idx, const float* delta, const float* kt, int64_t ldkt,
                       float* s) {
  using vec = typename V::vec;
  int64_t i = 0;
  for (; i + 4 <= nz; i += 4) {
    const float* k0 = kt + idx[i] * ldkt;
    const float* k1 = kt + idx[i + 1] * ldkt;
    const float* k2 = kt + idx[i + 2] * ldkt;
    const float* k3 = kt + idx[i + 3] * ldkt;
    const vec d0 = V::set1(delta[i]), d1 = V::set1(delta[i + 1]), d2 = V::set1(delta[i + 2]), d3 = V::set1(delta[i + 3]);
    int64_t j = 0;
    for (; j + V::W <= n; j += V::W) {
      vec a = V::fmadd(d0, V::load(k0 + j), V::load(s + j));
      a = V::fmadd(d1, V::load(k1 + j), a);
      a = V::fmadd(d2, V::load(k2 + j), a);
      V::store(s + j, V::fmadd(d3, V::load(k3 + j), a));
    }
    for (; j < n; ++j) {
      float a = V::fma1(delta[i], k0[j], s[j]);
      a = V::fma1(delta[i + 1], k1[j], a);
      a = V::fma1(delta[i + 2], k2[j], a);
      s[j] = V::fma1(delta[i + 3], k3[j], a);
    }
  }
  for (; i < nz; ++i) {
    const float* k0 = kt + idx[i] * ldkt;
    const vec d0 = V::set1(delta[i]);
    int64_t j = 0;
    for (; j + V::W <= n; j += V::W) V::store(s + j, V::fmadd(d0, V::load(k0 + j), V::load(s + j)));
    for (; j < n; ++j) s[j] = V::fma1(delta[i], k0[j], s[j]);
  }
}

template <class V, int MR, int NV>
AttentionKernels make_attention_kernels(const char* isa) {
  AttentionKernels k;
  k.isa = isa;
  k.mr = MR;
  k.nr = NV * V::W;
  k.scores = attn_scores<V, MR, NV>;
  k.pv = attn_pv<V, MR, NV>;
  k.row_max = attn_row_max<V>;
  k.exp_sum = attn_exp_sum<V>;
  k.dot_rows = attn_dot_rows<V>;
  k.axpy_rows = attn_axpy_rows<V>;
  k.decode = attn_decode<V>;
  k.delta_update = attn_delta_update<V>;
  return k;
}
