// Attention inner loops written once over a vector-traits struct V (see attention_kernels_avx2.cc,
// attention_kernels_avx512.cc and the scalar W = 1 traits in attention_kernels.cc). Included ONLY
// inside an ISA region and inside an anonymous namespace, so every ISA file gets its own
// instantiations compiled for its target.
//
// V provides: vec, W (lanes), zero(), load(p), store(p, v), set1(x), fmadd(a, b, c), mul(a, b),
// add(a, b), max(a, b), hsum(v), hmax(v), exp_neg(v) = exp(v) for v <= 0 (underflow to ~0 below -87).
// No lambdas: they would not inherit the ISA target.

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
                         int64_t lds) {
  using vec = typename V::vec;
  const int64_t dv = d / V::W * V::W;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
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

// Rows in passes of RB (4 with 32 vector registers, 2 with 16).
template <class V>
void attn_dot_rows(int64_t m, int64_t n, int64_t d, const float* q, int64_t ldq, const float* k, int64_t ldk, float* s,
                   int64_t lds) {
  constexpr int RB = V::kRegs >= 32 ? 4 : 2;
  int64_t r = 0;
  for (; r + RB <= m; r += RB) attn_dot_rows_block<V, RB>(n, d, q + r * ldq, ldq, k, ldk, s + r * lds, lds);
  for (; r < m; ++r) attn_dot_rows_block<V, 1>(n, d, q + r * ldq, ldq, k, ldk, s + r * lds, lds);
}

// R rows x (C vectors of head-dim columns) of o in registers while the keys stream by.
template <class V, int R, int C>
void attn_axpy_block(int64_t n, const float* p, int64_t ldp, const float* v, int64_t ldv, const float* corr, float* o,
                     int64_t ldo) {
  using vec = typename V::vec;
  vec acc[R][C];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const vec cr = V::set1(corr[r]);
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) acc[r][c] = V::mul(V::load(o + r * ldo + c * V::W), cr);
  }
  for (int64_t j = 0; j < n; ++j) {
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

template <class V, int R>
void attn_axpy_rows_r(int64_t n, int64_t d, const float* p, int64_t ldp, const float* v, int64_t ldv, const float* corr,
                      float* o, int64_t ldo) {
  int64_t c = 0;
  for (; c + 4 * V::W <= d; c += 4 * V::W) attn_axpy_block<V, R, 4>(n, p, ldp, v + c, ldv, corr, o + c, ldo);
  for (; c + V::W <= d; c += V::W) attn_axpy_block<V, R, 1>(n, p, ldp, v + c, ldv, corr, o + c, ldo);
  for (; c < d; ++c)  // head-dim tail (d not a multiple of the lanes)
    for (int r = 0; r < R; ++r) {
      float t = o[r * ldo + c] * corr[r];
      for (int64_t j = 0; j < n; ++j) t = V::fma1(p[r * ldp + j], v[j * ldv + c], t);
      o[r * ldo + c] = t;
    }
}

template <class V>
void attn_axpy_rows(int64_t m, int64_t n, int64_t d, const float* p, int64_t ldp, const float* v, int64_t ldv,
                    const float* corr, float* o, int64_t ldo) {
  // 4 rows x 4 vectors of accumulators with 32 registers, 2 x 4 with 16
  int64_t r = 0;
  if (V::kRegs >= 32)
    for (; r + 4 <= m; r += 4) attn_axpy_rows_r<V, 4>(n, d, p + r * ldp, ldp, v, ldv, corr + r, o + r * ldo, ldo);
  for (; r + 2 <= m; r += 2) attn_axpy_rows_r<V, 2>(n, d, p + r * ldp, ldp, v, ldv, corr + r, o + r * ldo, ldo);
  for (; r < m; ++r) attn_axpy_rows_r<V, 1>(n, d, p + r * ldp, ldp, v, ldv, corr + r, o + r * ldo, ldo);
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
  k.delta_update = attn_delta_update<V>;
  return k;
}
