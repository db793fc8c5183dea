// Attention over a GEAR-compressed streaming cache (see gear.h). Two drivers:
//
// Decode (few query rows per kv head): scores straight from the packed codes. Per chunk and kv
// head, for the G query rows sharing it: S = (q ⊙ Δ)·codesᵀ + q·min (scale and zero folded as
// the int4 GEMV does) + (q·P)·Qᵀ (the low-rank term, folded into the same pass) + the outlier
// corrections (stored value - (D̂ + L), derived once per chunk by gear_outlier_deltas); online
// softmax (running max); then acc = acc·corr + (p·Q)·Pᵀ + Σ_t (p_t·Δ_t)·code_t + Σ_t p_t·min_t
// (the value ranges folded into the probabilities, codes converted in registers) + the value
// outlier corrections. The f32 buffer of the newest
// tokens follows as plain rows. The chunks are split across tasks (split-K, a fixed split that
// depends on the shapes only) and the partial (max, sum, acc) merged by log-sum-exp, so one
// query uses every thread and the result does not depend on the thread count.
//
// Prefill (many query rows): the cache is reconstructed (D̂ + L + outliers) one superblock of
// ~2048 tokens at a time into the packed K/V panels of the dense attention kernels, each chunk
// exactly once, and the query blocks run the flash-attention tiles of attention_kernels() over
// it with their running (max, sum, O) kept across superblocks.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>
#include <vector>

#include "../attention/attention_kernels.h"
#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "../ops/float_block.h"
#include "gear.h"
#include "gear_common.h"
#include "gear_kernels.h"

namespace nt::kvcache {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr const char* kOp = "llm.gear.Cache.attend";

// One slice's side data as f32: ranges, and the low-rank factors in the layouts the kernels read.
struct SliceSide {
  std::vector<float> lo, step;  // gear_groups() each
  std::vector<float> q;         // Q: n x r, then `lanes` zeros (the score kernel reads a vector past a row)
  std::vector<float> pt;        // Pᵀ: r x d, each row in the values' phase layout when asked
  std::vector<float> qt;        // Qᵀ: r x n (values only)
  std::vector<float> pn;        // P: d x r as stored
  std::vector<float> tmp, ptmp;
  // group of (t, j) = rowb[t] + colg[j] (no division per outlier), for the params of `for_prm`
  std::vector<int64_t> rowb, colg, opos;
  const GearParams* for_prm = nullptr;
  int64_t for_n = -1, for_d = -1;
};

// phase_bits: Pᵀ's rows in the phase layout of codes of that many bits (0: element order).
// need_qt: Qᵀ too (the values' p·Q).
void load_side(const GearBlock& blk, const GearParams& prm, int64_t s, int64_t n, int64_t d, int lanes, bool need_qt,
               SliceSide& sd, int phase_bits = 0) {
  const int64_t groups = gear_groups(prm, n, d), r = prm.rank;
  sd.lo.resize(static_cast<size_t>(groups));
  sd.step.resize(static_cast<size_t>(groups));
  detail::side_load(blk.mins, s * groups, groups, sd.lo.data());
  detail::side_load(blk.scales, s * groups, groups, sd.step.data());
  if (r == 0) return;
  const GearKernels& gk = gear_kernels();
  sd.q.resize(static_cast<size_t>(n * r + lanes));
  std::fill(sd.q.begin() + n * r, sd.q.end(), 0.0f);
  detail::side_load(blk.q, s * n * r, n * r, sd.q.data());
  sd.pn.resize(static_cast<size_t>(d * r));
  detail::side_load(blk.p, s * d * r, d * r, sd.pn.data());
  sd.pt.resize(static_cast<size_t>(r * d));
  if (phase_bits == 0) {
    gk.transpose_factor(sd.pn.data(), d, r, sd.pt.data());
  } else {
    sd.ptmp.resize(static_cast<size_t>(r * d));
    gk.transpose_factor(sd.pn.data(), d, r, sd.ptmp.data());
    for (int64_t c = 0; c < r; ++c) gk.phase_row(sd.ptmp.data() + c * d, d, phase_bits, sd.pt.data() + c * d);
  }
  if (!need_qt) return;
  sd.qt.resize(static_cast<size_t>(r * n));
  gk.transpose_factor(sd.q.data(), n, r, sd.qt.data());
}

inline float code_at(const uint8_t* codes, int bits, int64_t e) {
  const int64_t bit = e * bits;
  return static_cast<float>((codes[bit >> 3] >> (bit & 7)) & ((1u << bits) - 1));
}

// The group of (t, j) as rowb[t] + colg[j], computed once per layout (no division per outlier).
void group_tables(const GearParams& prm, int64_t n, int64_t d, SliceSide& sd) {
  if (sd.for_prm == &prm && sd.for_n == n && sd.for_d == d) return;
  const detail::GroupMap gm(prm, d);
  sd.rowb.resize(static_cast<size_t>(n));
  sd.colg.resize(static_cast<size_t>(d));
  for (int64_t t = 0; t < n; ++t) sd.rowb[t] = gm.row_base(t);
  for (int64_t j = 0; j < d; ++j) sd.colg[j] = gm.col(j);
  sd.for_prm = &prm;
  sd.for_n = n;
  sd.for_d = d;
}

// Calls fn(t, j, value, delta) for every stored outlier of slice s: delta = its stored value -
// (D̂ + L) there, what attention must add on top of the codes and the low-rank term.
template <class F>
void for_each_outlier(const GearBlock& blk, const GearParams& prm, int64_t s, int64_t n, int64_t d, SliceSide& sd,
                      const uint8_t* codes, F&& fn) {
  const int64_t k2 = 2 * prm.outliers, r = prm.rank;
  if (k2 == 0) return;
  const int64_t nvec = gear_vectors(prm, n, d);
  const int32_t* oidx = blk.oidx.ptr<int32_t>() + s * nvec * k2;
  sd.tmp.resize(static_cast<size_t>(nvec * k2));
  detail::side_load(blk.ovals, s * nvec * k2, nvec * k2, sd.tmp.data());
  group_tables(prm, n, d, sd);
  const bool key = prm.kind == GearKind::Key;
  for (int64_t v = 0; v < nvec; ++v)
    for (int64_t m = 0; m < k2; ++m) {
      const int32_t idx = oidx[v * k2 + m];
      const int64_t t = key ? idx : v, j = key ? v : idx;
      // indices come from the caller's memory: a corrupt one is an error, never a stray read
      NT_CHECK(t >= 0 && t < n && j >= 0 && j < d, Value, "[", kOp, "] outlier index ", idx, " out of range");
      const int64_t gi = sd.rowb[t] + sd.colg[j];
      float x = sd.lo[gi] + sd.step[gi] * code_at(codes, prm.bits, t * d + j);
      for (int64_t c = 0; c < r; ++c) x += sd.q[t * r + c] * sd.pn[j * r + c];
      const float val = sd.tmp[v * k2 + m];
      fn(t, j, val, val - x);
    }
}

// ---- decode ----

// acc[g·d + pos[j]] += S[g·n + t]·delta at every value outlier (t, j) of slice s, delta = the
// correction precomputed by gear_outlier_deltas (stored value - (D̂ + L)).
void add_value_outliers(const GearBlock& blk, const GearParams& prm, int64_t s, int64_t n, int64_t d,
                        const float* delta, const int64_t* pos, const float* S, int64_t G, float* acc) {
  const int64_t k2 = 2 * prm.outliers;
  if (k2 == 0) return;
  const int32_t* oidx = blk.oidx.ptr<int32_t>() + s * n * k2;
  // token-major: the same channel is an outlier of many tokens, and updates of one address
  // back to back would chain through store forwarding
  if (G == 4) {  // a GQA group of 4 (one query each): the token's 4 probabilities in registers
    for (int64_t t = 0, i = 0; t < n; ++t) {
      const float s0 = S[t], s1 = S[n + t], s2 = S[2 * n + t], s3 = S[3 * n + t];
      for (int64_t m = 0; m < k2; ++m, ++i) {
        const int32_t j = oidx[i];
        // indices come from the caller's memory: a corrupt one is an error, never a stray write
        NT_CHECK(j >= 0 && j < d, Value, "[", kOp, "] outlier index ", j, " out of range");
        float* __restrict a = acc + pos[j];
        const float dl = delta[i];
        a[0] += s0 * dl;
        a[d] += s1 * dl;
        a[2 * d] += s2 * dl;
        a[3 * d] += s3 * dl;
      }
    }
    return;
  }
  for (int64_t t = 0, i = 0; t < n; ++t)
    for (int64_t m = 0; m < k2; ++m, ++i) {
      const int32_t j = oidx[i];
      NT_CHECK(j >= 0 && j < d, Value, "[", kOp, "] outlier index ", j, " out of range");
      float* __restrict a = acc + pos[j];
      const float dl = delta[i];
      for (int64_t g = 0; g < G; ++g) a[g * d] += S[g * n + t] * dl;
    }
}

// G query rows of one kv head and their running softmax state.
struct RowState {
  int64_t G = 0, d = 0;
  const float* qs = nullptr;     // G x d, pre-scaled
  const float* qp = nullptr;     // the same in the keys' phase layout (or qs)
  const int64_t* limit = nullptr;  // last visible absolute position per row
  float* m = nullptr;            // running max
  float* l = nullptr;            // running sum
  float* acc = nullptr;          // G x d (in the values' phase layout while chunks run)
};

// Column orders of one call: the phase layout of the key and value codes where it applies.
struct PhaseLayout {
  bool k = false, v = false;
  std::vector<int64_t> vpos;  // value column j -> its accumulator position (identity when off)
  PhaseLayout(const GearLayerView& L, int64_t d, int lanes) {
    k = gear_phase_ok(lanes, L.kp.bits, d);
    const int64_t bv = static_cast<int64_t>(lanes) * (8 / L.vp.bits);
    v = gear_phase_ok(lanes, L.vp.bits, d) && (L.vp.layout == GearLayout::Uniform || L.vp.group % bv == 0);
    vpos.resize(static_cast<size_t>(d));
    for (int64_t j = 0; j < d; ++j) vpos[j] = v ? gear_phase_index(lanes, L.vp.bits, d, j) : j;
  }
};

// rows x d: phase layout -> element order, in place.
void unphase_rows(const PhaseLayout& pl, int64_t rows, int64_t d, float* acc, std::vector<float>& tmp) {
  if (!pl.v) return;
  tmp.resize(static_cast<size_t>(d));
  for (int64_t r = 0; r < rows; ++r) {
    float* a = acc + r * d;
    for (int64_t j = 0; j < d; ++j) tmp[j] = a[pl.vpos[j]];
    std::memcpy(a, tmp.data(), static_cast<size_t>(d) * sizeof(float));
  }
}

struct DecodeScratch {
  std::vector<float> S, corr, qsc, cst, lw, pq, lo, step, stepp, tmp, vstep, vlo, vw, vz;
  SliceSide ks, vs;
};

// Online-softmax step over S (G x n, tokens start .. start + n): S becomes the unnormalized
// probabilities (0 where masked), corr the factor acc must be scaled by. False when no row
// sees a token of the block.
bool softmax_block(const AttentionKernels& ak, RowState& st, int64_t start, int64_t n, float* S, float* corr) {
  bool any = false;
  for (int64_t g = 0; g < st.G; ++g) {
    float* s = S + g * n;
    const int64_t vis = std::min<int64_t>(n, std::max<int64_t>(0, st.limit[g] - start + 1));
    corr[g] = 1.0f;
    if (vis == 0) {
      std::fill(s, s + n, 0.0f);
      continue;
    }
    const float mx = ak.row_max(s, vis);
    const float m_new = std::max(st.m[g], mx);
    corr[g] = st.m[g] == kNegInf ? 0.0f : std::exp(st.m[g] - m_new);
    const float sum = ak.exp_sum(s, vis, m_new);
    std::fill(s + vis, s + n, 0.0f);
    st.l[g] = st.l[g] * corr[g] + sum;
    st.m[g] = m_new;
    any = true;
  }
  return any;
}

// Starts fetching slice s of every part decode reads (the loop reads slice s right after slice
// s - 1, but each part is a separate short stream the hardware prefetchers follow poorly): the
// codes, ranges, factors and outlier indices of K and V and their outlier corrections (not the
// outlier values: decode reads the corrections instead). noipa: a function of prefetches alone
// is "const" to GCC's IPA, which then deletes every call to it (it did, until 2026-12-08).
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noipa))
#endif
void prefetch_slice(const GearLayerView& L, int64_t s) {
  for (const TensorView* v : {&L.k.codes, &L.k.scales, &L.k.mins, &L.k.q, &L.k.p, &L.k.oidx, &L.kdelta, &L.v.codes,
                              &L.v.scales, &L.v.mins, &L.v.q, &L.v.p, &L.v.oidx, &L.vdelta}) {
    if (v->ndim < 3 || s >= v->shape[0] * v->shape[1]) continue;
    const int64_t esz = static_cast<int64_t>(dtype_bits(v->dtype) / 8);
    int64_t per = esz;
    for (int i = 2; i < v->ndim; ++i) per *= v->shape[i];
    const char* p = static_cast<const char*>(v->data) + v->offset * esz + s * per;
    for (int64_t o = 0; o < per; o += 64) __builtin_prefetch(p + o);
  }
}

// One compressed chunk (slice s of the layer, tokens start .. start + n) for the rows of st.
void decode_chunk(const GearLayerView& L, const PhaseLayout& pl, int64_t s, int64_t start, RowState& st,
                  DecodeScratch& sc) {
  const GearKernels& gk = gear_kernels();
  const AttentionKernels& ak = attention_kernels();
  const int64_t G = st.G, d = st.d, n = L.chunk_tokens, lanes = gk.lanes;
  const GearParams &kp = L.kp, &vp = L.vp;
  const uint8_t* kcodes = L.k.codes.ptr<uint8_t>() + s * gear_code_bytes(kp, n, d);
  const uint8_t* vcodes = L.v.codes.ptr<uint8_t>() + s * gear_code_bytes(vp, n, d);
  sc.S.resize(static_cast<size_t>(G * n));
  sc.corr.resize(static_cast<size_t>(G));
  float* S = sc.S.data();
  prefetch_slice(L, s + 2);

  // scores
  load_side(L.k, kp, s, n, d, static_cast<int>(lanes), false, sc.ks);
  const int64_t rk = kp.rank, rpad = rk > 0 ? (rk + lanes - 1) / lanes * lanes : 0;
  if (rk > 0) {
    sc.lw.assign(static_cast<size_t>(G * rpad), 0.0f);
    ak.dot_rows(G, rk, d, st.qs, d, sc.ks.pt.data(), d, sc.lw.data(), rpad);
  }
  sc.qsc.resize(static_cast<size_t>(G * d));
  sc.cst.resize(static_cast<size_t>(G));
  const bool uniform = kp.layout == GearLayout::Uniform;
  const int64_t tg = uniform ? n : kp.group;
  if (uniform) {
    sc.lo.assign(static_cast<size_t>(d), sc.ks.lo[0]);
    sc.step.assign(static_cast<size_t>(d), sc.ks.step[0]);
  }
  for (int64_t t0 = 0; t0 < n; t0 += tg) {
    const int64_t t1 = std::min(n, t0 + tg);
    const float* lo = uniform ? sc.lo.data() : sc.ks.lo.data() + (t0 / tg) * d;
    const float* step = uniform ? sc.step.data() : sc.ks.step.data() + (t0 / tg) * d;
    if (pl.k) {  // Δ in the phase layout of the query
      sc.stepp.resize(static_cast<size_t>(d));
      gk.phase_row(step, d, kp.bits, sc.stepp.data());
      step = sc.stepp.data();
    }
    gk.mul_rows(G, d, st.qp, step, sc.qsc.data());
    ak.dot_rows(G, 1, d, st.qs, d, lo, d, sc.cst.data(), 1);
    const GearScoreArgs a{{kcodes, t0 * d, t1 - t0, d, kp.bits, pl.k}, G, sc.qsc.data(), d, sc.cst.data(),
                          rk > 0 ? sc.ks.q.data() + t0 * rk : nullptr, rk, sc.lw.data(), rpad, S + t0, n};
    gk.code_scores(a);
  }
  if (kp.outliers > 0) {  // channel j's outliers at tokens oidx, corrections precomputed
    const int64_t k2 = 2 * kp.outliers;
    const int32_t* oidx = L.k.oidx.ptr<int32_t>() + s * d * k2;
    const float* delta = L.kdelta.ptr<float>() + s * d * k2;
    for (int64_t j = 0, i = 0; j < d; ++j)
      for (int64_t m = 0; m < k2; ++m, ++i) {
        const int32_t t = oidx[i];
        NT_CHECK(t >= 0 && t < n, Value, "[", kOp, "] outlier index ", t, " out of range");
        for (int64_t g = 0; g < G; ++g) S[g * n + t] += st.qs[g * d + j] * delta[i];
      }
  }
  if (!softmax_block(ak, st, start, n, S, sc.corr.data())) return;

  // values
  load_side(L.v, vp, s, n, d, static_cast<int>(lanes), true, sc.vs, pl.v ? vp.bits : 0);
  const int64_t rv = vp.rank;
  if (rv > 0) {  // acc = acc·corr + (p·Q)·Pᵀ
    sc.pq.resize(static_cast<size_t>(G * rv));
    ak.dot_rows(G, rv, n, S, n, sc.vs.qt.data(), n, sc.pq.data(), rv);
    ak.axpy_rows(G, rv, d, sc.pq.data(), rv, sc.vs.pt.data(), d, sc.corr.data(), st.acc, d);
  } else {  // acc = acc·corr
    ak.axpy_rows(G, 0, d, nullptr, 0, nullptr, 0, sc.corr.data(), st.acc, d);
  }
  // p·V̂ = Σ_t (p_t·Δ_t)·code_t + Σ_t p_t·min_t per range: ranges as [group][token] rows, the
  // weights W[group][row][token] for the code kernel, the zeros added per group of columns
  const bool vuni = vp.layout == GearLayout::Uniform;
  const int64_t ngr = vuni ? 1 : (d + vp.group - 1) / vp.group, width = vuni ? d : vp.group;
  sc.vstep.resize(static_cast<size_t>(ngr * n));
  sc.vlo.resize(static_cast<size_t>(ngr * n));
  if (vuni) {
    std::fill(sc.vstep.begin(), sc.vstep.end(), sc.vs.step[0]);
    std::fill(sc.vlo.begin(), sc.vlo.end(), sc.vs.lo[0]);
  } else {
    gk.transpose_factor(sc.vs.step.data(), n, ngr, sc.vstep.data());
    gk.transpose_factor(sc.vs.lo.data(), n, ngr, sc.vlo.data());
  }
  sc.vw.resize(static_cast<size_t>(ngr * G * n));
  for (int64_t c = 0; c < ngr; ++c) gk.mul_rows(G, n, S, sc.vstep.data() + c * n, sc.vw.data() + c * G * n);
  sc.vz.resize(static_cast<size_t>(G * ngr));
  ak.dot_rows(G, ngr, n, S, n, sc.vlo.data(), n, sc.vz.data(), ngr);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t c = 0; c < ngr; ++c) {
      float* a = st.acc + g * d;
      const float z = sc.vz[g * ngr + c];
      for (int64_t j = c * width; j < std::min(d, (c + 1) * width); ++j) a[j] += z;
    }
  const GearValueArgs a{{vcodes, 0, n, d, vp.bits, pl.v}, G, sc.vw.data(), n, vuni ? 0 : G * n, width, st.acc, d};
  gk.code_values(a);
  if (vp.outliers > 0)
    add_value_outliers(L.v, vp, s, n, d, L.vdelta.ptr<float>() + s * n * 2 * vp.outliers, pl.vpos.data(), S, G, st.acc);
}

// The f32 buffer rows of kv head h (tokens start .. start + n).
void decode_buffer(const GearLayerView& L, int64_t h, int64_t start, RowState& st, DecodeScratch& sc) {
  const AttentionKernels& ak = attention_kernels();
  const int64_t G = st.G, d = st.d, n = L.buf_len, cap = L.buf_k.shape[1];
  sc.S.resize(static_cast<size_t>(G * n));
  sc.corr.resize(static_cast<size_t>(G));
  const float* K = L.buf_k.ptr<float>() + h * cap * d;
  const float* V = L.buf_v.ptr<float>() + h * cap * d;
  ak.dot_rows(G, n, d, st.qs, d, K, d, sc.S.data(), n);
  if (softmax_block(ak, st, start, n, sc.S.data(), sc.corr.data()))
    ak.axpy_rows(G, n, d, sc.S.data(), n, V, d, sc.corr.data(), st.acc, d);
}

// Loads the G = gq·sq query rows of kv head h (row g = hh·sq + i), pre-scaled.
void load_queries(const TensorView& q, int64_t h, int64_t gq, int64_t total, double scale, float* qs, int64_t* limit) {
  const int64_t sq = q.shape[2], d = q.shape[3];
  for (int64_t hh = 0; hh < gq; ++hh)
    for (int64_t i = 0; i < sq; ++i) {
      const int64_t g = hh * sq + i;
      float* dst = qs + g * d;
      ops::load_run<float>(ops::elem_ptr(q, (h * gq + hh) * q.strides[1] + i * q.strides[2]), q.dtype, q.strides[3], d,
                           dst);
      for (int64_t j = 0; j < d; ++j) dst[j] = static_cast<float>(dst[j] * scale);
      limit[g] = total - sq + i;
    }
}

void write_row(float* o, const float* acc, int64_t d, float l) {
  const float inv = l > 0 ? 1.0f / l : 0.0f;
  for (int64_t j = 0; j < d; ++j) o[j] = acc[j] * inv;
}

void attend_decode(const GearLayerView& L, const TensorView& q, const TensorView& out, double scale) {
  const int64_t hq = q.shape[1], sq = q.shape[2], d = q.shape[3];
  const int64_t hkv = L.buf_k.shape[0], gq = hq / hkv, nb = L.chunk_tokens, G = gq * sq;
  const int64_t total = L.chunks * nb + L.buf_len;
  // the chunks, then the buffer as one more block
  const int64_t blocks = L.chunks + (L.buf_len > 0 ? 1 : 0);
  // split-K: a task walks a range of blocks for every kv head (chunk c of all heads is one
  // contiguous run of each part, so the reads stream); 16 tasks of at least 4 blocks, a
  // function of the shapes only, so the bits do not depend on the thread count
  const int64_t split = std::max<int64_t>(1, std::min<int64_t>(16, blocks / 4));
  const int64_t per = (blocks + split - 1) / split;
  const int64_t rows = hkv * G, stride = d + 2;  // per row: m, l, acc[d]
  Scratch<float> part(static_cast<size_t>(split * rows * stride));
  std::vector<float> qs(static_cast<size_t>(rows * d));
  std::vector<int64_t> limit(static_cast<size_t>(rows));
  for (int64_t h = 0; h < hkv; ++h) load_queries(q, h, gq, total, scale, qs.data() + h * G * d, limit.data() + h * G);
  const PhaseLayout pl(L, d, gear_kernels().lanes);
  std::vector<float> qp(qs);
  if (pl.k)
    for (int64_t r = 0; r < rows; ++r) gear_kernels().phase_row(qs.data() + r * d, d, L.kp.bits, qp.data() + r * d);
  parallel_for(split, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> m(static_cast<size_t>(rows)), l(static_cast<size_t>(rows)), acc(static_cast<size_t>(rows * d));
    DecodeScratch sc;
    for (int64_t sp = w0; sp < w1; ++sp) {
      std::fill(m.begin(), m.end(), kNegInf);
      std::fill(l.begin(), l.end(), 0.0f);
      std::fill(acc.begin(), acc.end(), 0.0f);
      bool phased = true;  // acc in the values' phase layout
      for (int64_t b = sp * per; b < std::min(blocks, (sp + 1) * per); ++b) {
        if (b == L.chunks) {  // the buffer's f32 rows add in element order
          unphase_rows(pl, rows, d, acc.data(), sc.tmp);
          phased = false;
        }
        for (int64_t h = 0; h < hkv; ++h) {
          RowState st{G, d, qs.data() + h * G * d, qp.data() + h * G * d, limit.data() + h * G, m.data() + h * G,
                      l.data() + h * G, acc.data() + h * G * d};
          if (b < L.chunks) decode_chunk(L, pl, b * hkv + h, b * nb, st, sc);
          else decode_buffer(L, h, L.chunks * nb, st, sc);
        }
      }
      if (phased) unphase_rows(pl, rows, d, acc.data(), sc.tmp);
      float* pt = part.get() + sp * rows * stride;
      for (int64_t r = 0; r < rows; ++r) {
        pt[r * stride] = m[r];
        pt[r * stride + 1] = l[r];
        std::memcpy(pt + r * stride + 2, acc.data() + r * d, static_cast<size_t>(d) * sizeof(float));
      }
    }
  });
  // merge the splits of each row: O = Σ e^(m_s - M) O_s / Σ e^(m_s - M) l_s
  parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
    std::vector<float> o(static_cast<size_t>(d));
    for (int64_t r = r0; r < r1; ++r) {
      float M = kNegInf;
      for (int64_t sp = 0; sp < split; ++sp) M = std::max(M, part[(sp * rows + r) * stride]);
      std::fill(o.begin(), o.end(), 0.0f);
      float Lsum = 0;
      if (M > kNegInf)
        for (int64_t sp = 0; sp < split; ++sp) {
          const float* pt = part.get() + (sp * rows + r) * stride;
          if (!(pt[0] > kNegInf)) continue;
          const float wgt = std::exp(pt[0] - M);
          Lsum += wgt * pt[1];
          for (int64_t j = 0; j < d; ++j) o[j] += wgt * pt[2 + j];
        }
      const int64_t h = r / G, g = r % G, hh = g / sq, i = g % sq;
      write_row(out.ptr<float>() + ((h * gq + hh) * sq + i) * d, o.data(), d, Lsum);
    }
  });
}

// ---- prefill ----

// X̂ = D̂ + L (+ the stored outliers) of slice s into rows (n x d).
void reconstruct(const GearBlock& blk, const GearParams& prm, int64_t s, int64_t n, int64_t d, float* rows,
                 SliceSide& sd, std::vector<float>& ones) {
  const uint8_t* codes = blk.codes.ptr<uint8_t>() + s * gear_code_bytes(prm, n, d);
  load_side(blk, prm, s, n, d, 0, false, sd);
  detail::decode_slice(blk, prm, s, n, d, rows, sd.lo.data(), sd.step.data());
  std::vector<std::pair<int64_t, float>> exact;
  for_each_outlier(blk, prm, s, n, d, sd, codes,
                   [&](int64_t t, int64_t j, float val, float) { exact.emplace_back(t * d + j, val); });
  if (prm.rank > 0) {
    ones.assign(static_cast<size_t>(n), 1.0f);
    attention_kernels().axpy_rows(n, prm.rank, d, sd.q.data(), prm.rank, sd.pt.data(), d, ones.data(), rows, d);
  }
  for (const auto& e : exact) rows[e.first] = e.second;
}

// One online-softmax row over a key block of scores s[0:n) (keys kb + j) seeing keys < hi.
bool softmax_row(const AttentionKernels& ak, float* s, int64_t n, int64_t kb, int64_t hi, float& m, float& l,
                 float& corr) {
  const int64_t vis = std::min<int64_t>(n, std::max<int64_t>(0, hi - kb));
  corr = 1.0f;
  if (vis == 0) {
    std::memset(s, 0, static_cast<size_t>(n) * sizeof(float));
    return false;
  }
  const float m_new = std::max(m, ak.row_max(s, vis));
  corr = m == kNegInf ? 0.0f : std::exp(m - m_new);
  const float sum = ak.exp_sum(s, vis, m_new);
  if (vis < n) std::memset(s + vis, 0, static_cast<size_t>(n - vis) * sizeof(float));
  l = l * corr + sum;
  m = m_new;
  return true;
}

void attend_tiled(const GearLayerView& L, const TensorView& q, const TensorView& out, double scale) {
  const AttentionKernels& ak = attention_kernels();
  const int64_t mr = ak.mr, nr = ak.nr;
  const int64_t hq = q.shape[1], sq = q.shape[2], d = q.shape[3];
  const int64_t hkv = L.buf_k.shape[0], cap = L.buf_k.shape[1], gq = hq / hkv, nb = L.chunk_tokens;
  const int64_t total = L.chunks * nb + L.buf_len;
  const int64_t dpan = (d + nr - 1) / nr, ldo = dpan * nr;
  // superblocks of whole chunks, ~2048 tokens; the buffer joins the last one
  const int64_t cps = std::max<int64_t>(1, 2048 / nb);
  const int64_t nsb = std::max<int64_t>(1, (L.chunks + cps - 1) / cps);
  const int64_t sb_max = std::min(L.chunks, cps) * nb + L.buf_len;
  const int64_t skp_max = (sb_max + nr - 1) / nr * nr;
  Scratch<float> kp(static_cast<size_t>(hkv * skp_max * d)), vp(static_cast<size_t>(hkv * dpan * skp_max * nr));
  // running state of every query row (row = head·sq + i)
  Scratch<float> O(static_cast<size_t>(hq * sq * ldo)), M(static_cast<size_t>(hq * sq)), Lsum(static_cast<size_t>(hq * sq));
  std::fill(O.get(), O.get() + hq * sq * ldo, 0.0f);
  std::fill(M.get(), M.get() + hq * sq, kNegInf);
  std::fill(Lsum.get(), Lsum.get() + hq * sq, 0.0f);
  const int64_t bq = std::max<int64_t>(8, std::min<int64_t>(128, (128 + gq - 1) / gq));
  const int64_t nqb = (sq + bq - 1) / bq, ntasks = hkv * nqb;
  const int64_t bk = std::max<int64_t>(1, 128 / nr) * nr;  // key blocks start on panels
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const int64_t c0 = sb * cps, c1 = std::min(L.chunks, c0 + cps);
    const bool last = sb == nsb - 1;
    const int64_t p0 = c0 * nb, p1 = c1 * nb + (last ? L.buf_len : 0);
    const int64_t nkp = (p1 - p0 + nr - 1) / nr, skp = nkp * nr;
    const int64_t pieces = c1 - c0 + (last && L.buf_len > 0 ? 1 : 0);
    // pack: K transposed in panels of nr keys, V in panels of nr columns (attention_kernels.h)
    parallel_for(hkv * pieces, 1, [&](int64_t w0, int64_t w1) {
      std::vector<float> krows(static_cast<size_t>(std::max(nb, L.buf_len) * d)), vrows(krows.size()), ones;
      SliceSide sd;
      for (int64_t w = w0; w < w1; ++w) {
        const int64_t h = w / pieces, pc = w % pieces, c = c0 + pc;
        const float *K, *V;
        int64_t n;
        if (c < c1) {
          reconstruct(L.k, L.kp, c * hkv + h, nb, d, krows.data(), sd, ones);
          reconstruct(L.v, L.vp, c * hkv + h, nb, d, vrows.data(), sd, ones);
          K = krows.data();
          V = vrows.data();
          n = nb;
        } else {
          K = L.buf_k.ptr<float>() + h * cap * d;
          V = L.buf_v.ptr<float>() + h * cap * d;
          n = L.buf_len;
        }
        const int64_t k0 = c * nb - p0;
        // the last piece also zeroes the padding keys of the last panel
        const int64_t k1 = (pc == pieces - 1) ? skp : k0 + n;
        float* kd = kp.get() + h * skp_max * d;
        float* vd = vp.get() + h * dpan * skp_max * nr;
        for (int64_t key = k0; key < k1; ++key) {
          const bool real = key - k0 < n;
          const float* kr = K + (key - k0) * d;
          const float* vr = V + (key - k0) * d;
          float* kdst = kd + (key / nr) * d * nr + key % nr;
          for (int64_t p = 0; p < d; ++p) kdst[p * nr] = real ? kr[p] : 0.0f;
          for (int64_t dp = 0; dp < dpan; ++dp) {
            float* vdst = vd + dp * skp_max * nr + key * nr;
            for (int64_t cc = 0; cc < nr; ++cc) {
              const int64_t j = dp * nr + cc;
              vdst[cc] = real && j < d ? vr[j] : 0.0f;
            }
          }
        }
      }
    });
    // attend: (kv head, query block) tasks, the most expensive (last) blocks first
    std::atomic<int64_t> next{0};
    parallel_for(num_threads(), 1, [&](int64_t, int64_t) {
      const int64_t rows_pad = (gq * bq + mr - 1) / mr * mr;
      Scratch<float> qbuf(static_cast<size_t>(rows_pad * d)), sbuf(static_cast<size_t>(rows_pad * bk)),
          obuf(static_cast<size_t>(rows_pad * ldo));
      std::vector<float> m(rows_pad), l(rows_pad), corr(rows_pad);
      std::vector<int64_t> hi(rows_pad), row(rows_pad);
      for (;;) {
        const int64_t t = next.fetch_add(1);
        if (t >= ntasks) break;
        const int64_t qbi = nqb - 1 - t % nqb, h = t / nqb;
        const int64_t i0 = qbi * bq, i1 = std::min(sq, i0 + bq), nq = i1 - i0, rows = gq * nq;
        const int64_t rpad = (rows + mr - 1) / mr * mr;
        int64_t kmax = 0;
        for (int64_t r = 0; r < rpad; ++r) {
          float* qd = qbuf.get() + r * d;
          if (r >= rows) {
            hi[r] = 0;
            m[r] = kNegInf;
            l[r] = 0;
            std::fill(qd, qd + d, 0.0f);
            std::fill(obuf.get() + r * ldo, obuf.get() + (r + 1) * ldo, 0.0f);
            continue;
          }
          const int64_t hh = r / nq, i = i0 + r % nq;
          row[r] = (h * gq + hh) * sq + i;
          hi[r] = total - sq + i + 1;
          kmax = std::max(kmax, hi[r]);
          ops::load_run<float>(ops::elem_ptr(q, (h * gq + hh) * q.strides[1] + i * q.strides[2]), q.dtype,
                               q.strides[3], d, qd);
          for (int64_t p = 0; p < d; ++p) qd[p] = static_cast<float>(qd[p] * scale);
          m[r] = M[row[r]];
          l[r] = Lsum[row[r]];
          std::memcpy(obuf.get() + r * ldo, O.get() + row[r] * ldo, static_cast<size_t>(ldo) * sizeof(float));
        }
        if (kmax <= p0) continue;  // no row of the block sees this superblock
        const float* kph = kp.get() + h * skp_max * d;
        const float* vph = vp.get() + h * dpan * skp_max * nr;
        for (int64_t kb = p0; kb < std::min(p1, kmax); kb += bk) {
          const int64_t ke = std::min({kb + bk, p1, kmax}), npan = (ke - kb + nr - 1) / nr, nk = npan * nr;
          const int64_t lb = kb - p0;  // local key index, a multiple of nr
          for (int64_t rg = 0; rg < rpad / mr; ++rg) {
            bool live = false;
            for (int64_t r = rg * mr; r < rg * mr + mr && !live; ++r) live = hi[r] > kb;
            if (!live) continue;
            ak.scores(d, qbuf.get() + rg * mr * d, d, kph + (lb / nr) * d * nr, npan, sbuf.get() + rg * mr * bk, bk);
            bool any = false;
            for (int64_t r = rg * mr; r < rg * mr + mr; ++r)
              any |= softmax_row(ak, sbuf.get() + r * bk, nk, kb, std::min(hi[r], ke), m[r], l[r], corr[r]);
            if (any)
              ak.pv(nk, sbuf.get() + rg * mr * bk, bk, vph + lb * nr, skp_max * nr, dpan, corr.data() + rg * mr,
                    obuf.get() + rg * mr * ldo, ldo);
          }
        }
        for (int64_t r = 0; r < rows; ++r) {
          M[row[r]] = m[r];
          Lsum[row[r]] = l[r];
          std::memcpy(O.get() + row[r] * ldo, obuf.get() + r * ldo, static_cast<size_t>(ldo) * sizeof(float));
        }
      }
    });
  }
  parallel_for(hq * sq, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) write_row(out.ptr<float>() + r * d, O.get() + r * ldo, d, Lsum[r]);
  });
}

}  // namespace

void gear_outlier_deltas_check(const GearBlock& blk, const GearParams& prm, int64_t n, int64_t d, const TensorView& out) {
  const char* op = "llm.gear.outlierDeltas";
  NT_CHECK(out.ndim == 3 && out.dtype == DType::F32 && out.is_contiguous(), Shape, "[", op,
           "] out must be contiguous f32 [B, heads, corrections], got ", shape_string(out), " ", dtype_name(out.dtype));
  NT_CHECK(blk.codes.ndim == 3 && blk.codes.shape[0] >= out.shape[0], Shape, "[", op, "] codes must be [>= ",
           out.shape[0], ", heads, bytes], got ", shape_string(blk.codes));
  gear_block_check(op, blk, prm, blk.codes.shape[0], out.shape[1], n, d);
  NT_CHECK(out.shape[2] == gear_vectors(prm, n, d) * 2 * prm.outliers, Shape, "[", op, "] out must hold ",
           gear_vectors(prm, n, d) * 2 * prm.outliers, " corrections per slice, got ", out.shape[2]);
}

void gear_outlier_deltas_run(const GearBlock& blk, const GearParams& prm, int64_t n, int64_t d, const TensorView& out) {
  const int64_t slices = out.shape[0] * out.shape[1], per = out.shape[2];
  if (per == 0) return;
  parallel_for(slices, 1, [&](int64_t s0, int64_t s1) {
    SliceSide sd;
    for (int64_t s = s0; s < s1; ++s) {
      const uint8_t* codes = blk.codes.ptr<uint8_t>() + s * gear_code_bytes(prm, n, d);
      load_side(blk, prm, s, n, d, 0, false, sd);
      float* o = out.ptr<float>() + s * per;
      int64_t i = 0;
      for_each_outlier(blk, prm, s, n, d, sd, codes, [&](int64_t, int64_t, float, float delta) { o[i++] = delta; });
    }
  });
}

void gear_attend_check(const GearLayerView& L, const TensorView& q, const TensorView& out) {
  const char* op = "llm.gear.Cache.attend";
  NT_CHECK(q.ndim == 4 && q.shape[0] == 1, Shape, "[", op, "] expected q of shape [1, heads, seq, dim], got ",
           shape_string(q));
  NT_CHECK(q.dtype == DType::F32 || q.dtype == DType::F16 || q.dtype == DType::BF16, DType, "[", op,
           "] q must be f32, f16 or bf16, got ", dtype_name(q.dtype));
  NT_CHECK(out.ndim == 4 && out.shape[0] == 1 && out.shape[1] == q.shape[1] && out.shape[2] == q.shape[2] &&
               out.shape[3] == q.shape[3],
           Shape, "[", op, "] out must have q's shape ", shape_string(q), ", got ", shape_string(out));
  NT_CHECK(out.dtype == DType::F32 && out.is_contiguous(), DType, "[", op, "] out must be contiguous f32");
  NT_CHECK(L.buf_k.ndim == 3 && L.buf_k.dtype == DType::F32 && L.buf_k.is_contiguous(), Shape, "[", op,
           "] the key buffer must be contiguous f32 [kvHeads, capacity, dim], got ", shape_string(L.buf_k));
  const int64_t hkv = L.buf_k.shape[0], cap = L.buf_k.shape[1], d = L.buf_k.shape[2];
  NT_CHECK(L.buf_v.ndim == 3 && L.buf_v.dtype == DType::F32 && L.buf_v.is_contiguous() && L.buf_v.shape[0] == hkv &&
               L.buf_v.shape[1] == cap && L.buf_v.shape[2] == d,
           Shape, "[", op, "] the value buffer must match the key buffer ", shape_string(L.buf_k), ", got ",
           shape_string(L.buf_v));
  NT_CHECK(q.shape[3] == d, Shape, "[", op, "] q's head dim must be ", d, ", got ", q.shape[3]);
  NT_CHECK(hkv >= 1 && q.shape[1] % hkv == 0, Shape, "[", op, "] q heads (", q.shape[1],
           ") must be a multiple of the kv heads (", hkv, ")");
  NT_CHECK(L.buf_len >= 0 && L.buf_len <= cap, Value, "[", op, "] buffer length ", L.buf_len, " outside [0, ", cap, "]");
  NT_CHECK(L.chunks >= 0 && L.chunk_tokens >= 1, Value, "[", op, "] bad chunk counts");
  NT_CHECK(L.kp.kind == GearKind::Key && L.vp.kind == GearKind::Value, Value, "[", op,
           "] keys must be compressed as kind key, values as kind value");
  NT_CHECK(L.k.codes.ndim == 3 && L.k.codes.shape[0] >= L.chunks && L.v.codes.ndim == 3 &&
               L.v.codes.shape[0] >= L.chunks,
           Shape, "[", op, "] chunk storage holds fewer than ", L.chunks, " chunks");
  gear_block_check(op, L.k, L.kp, L.k.codes.shape[0], hkv, L.chunk_tokens, d);
  gear_block_check(op, L.v, L.vp, L.v.codes.shape[0], hkv, L.chunk_tokens, d);
  for (const auto& [delta, prm, name] : {std::tuple{&L.kdelta, &L.kp, "key"}, std::tuple{&L.vdelta, &L.vp, "value"}}) {
    const int64_t per = gear_vectors(*prm, L.chunk_tokens, d) * 2 * prm->outliers;
    NT_CHECK(delta->ndim == 3 && delta->dtype == DType::F32 && delta->is_contiguous() && delta->shape[0] >= L.chunks &&
                 delta->shape[1] == hkv && delta->shape[2] == per,
             Shape, "[", op, "] the ", name, " outlier corrections must be contiguous f32 [>= ", L.chunks, ", ", hkv,
             ", ", per, "], got ", shape_string(*delta));
  }
  const int64_t total = L.chunks * L.chunk_tokens + L.buf_len;
  NT_CHECK(q.shape[2] <= total, Shape, "[", op, "] ", q.shape[2], " queries but only ", total,
           " tokens in the cache (append the new keys first)");
}

void gear_attend_run(const GearLayerView& L, const TensorView& q, const TensorView& out, double scale) {
  const int64_t hq = q.shape[1], sq = q.shape[2];
  const int64_t gq = hq / L.buf_k.shape[0];
  if (sq == 0 || hq == 0) return;
  // few rows per kv head: scores from the codes, split-K; many: reconstructed panels and tiles
  if (sq <= 8 || gq * sq <= 32) attend_decode(L, q, out, scale);
  else attend_tiled(L, q, out, scale);
}

}  // namespace nt::kvcache
