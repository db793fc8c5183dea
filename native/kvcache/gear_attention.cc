// Attention over a GEAR-compressed streaming cache (see gear.h). A task owns one kv head and a
// tile of query rows (all gq query heads that share the kv head, so each chunk is decoded once
// for all of them). Per chunk: D̂ of K decoded into an L1-sized scratch, scores = q·D̂ᵀ +
// ((q·P) Qᵀ) + outlier corrections; online-softmax update; then the same for V with the
// probabilities: acc += p·D̂ + ((p·Q) Pᵀ) + corrections. The buffer follows as a plain f32 block.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "../ops/float_block.h"
#include "gear.h"
#include "gear_common.h"
#include "gear_kernels.h"

namespace nt::kvcache {

namespace {

void scores_portable(const float* qs, int64_t G, const float* rows, int64_t n, int64_t d, float* S) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t g = 0; g < G; ++g) {
      float a = 0;
      for (int64_t j = 0; j < d; ++j) a += qs[g * d + j] * rows[t * d + j];
      S[g * n + t] = a;
    }
}

void accumulate_portable(const float* P, int64_t G, const float* rows, int64_t n, int64_t d, float* acc) {
  for (int64_t g = 0; g < G; ++g)
    for (int64_t t = 0; t < n; ++t) {
      const float w = P[g * n + t];
      for (int64_t j = 0; j < d; ++j) acc[g * d + j] += w * rows[t * d + j];
    }
}

inline float code_at(const uint8_t* codes, int bits, int64_t j) {
  const int64_t bit = j * bits;
  return static_cast<float>((codes[bit >> 3] >> (bit & 7)) & ((1u << bits) - 1));
}

void dequant_channels_portable(const uint8_t* codes, int bits, int64_t d, const float* lo, const float* step,
                               float* out) {
  for (int64_t j = 0; j < d; ++j) out[j] = lo[j] + step[j] * code_at(codes, bits, j);
}

void dequant_scalar_portable(const uint8_t* codes, int bits, int64_t d, float lo, float step, float* out) {
  for (int64_t j = 0; j < d; ++j) out[j] = lo + step * code_at(codes, bits, j);
}

}  // namespace

const GearKernels& gear_kernels_portable() {
  static const GearKernels k{"portable", scores_portable, accumulate_portable, dequant_channels_portable,
                             dequant_scalar_portable};
  return k;
}

const GearKernels& gear_kernels() {
  static const GearKernels& k = gear_kernels_avx2() ? *gear_kernels_avx2() : gear_kernels_portable();
  return k;
}

namespace {

// Exact correction at an outlier: stored value - (D̂ + L) there.
struct Correction {
  int32_t t, j;
  float delta;
};

// Everything attention needs about one block of tokens for one kv head.
struct TokenBlock {
  const float* rows;     // D̂ (or the raw buffer), n x d row-major
  const float* qt = nullptr;  // Qᵀ: r x n (low-rank, may be null)
  const float* pt = nullptr;  // Pᵀ: r x d
  int64_t r = 0;
  const std::vector<Correction>* corr = nullptr;
};

struct SideScratch {
  std::vector<float> lo, step, q, p, qt, pt;
  std::vector<Correction> corr;
};

// Decodes slice s of blk (n x d) into rows + low-rank factors + corrections.
TokenBlock decode_block(const GearBlock& blk, const GearParams& prm, int64_t s, int64_t n, int64_t d, float* rows,
                        SideScratch& sc) {
  const int64_t groups = gear_groups(prm, n, d), r = prm.rank, k2 = 2 * prm.outliers;
  sc.lo.resize(static_cast<size_t>(groups));
  sc.step.resize(static_cast<size_t>(groups));
  detail::decode_slice(blk, prm, s, n, d, rows, sc.lo.data(), sc.step.data());
  TokenBlock tb{rows};
  if (r > 0) {
    sc.q.resize(static_cast<size_t>(n * r));
    sc.p.resize(static_cast<size_t>(d * r));
    detail::side_load(blk.q, s * n * r, n * r, sc.q.data());
    detail::side_load(blk.p, s * d * r, d * r, sc.p.data());
    // transposed, so the low-rank products run through the same SIMD kernels as the rows
    sc.qt.resize(sc.q.size());
    sc.pt.resize(sc.p.size());
    for (int64_t t = 0; t < n; ++t)
      for (int64_t c = 0; c < r; ++c) sc.qt[c * n + t] = sc.q[t * r + c];
    for (int64_t j = 0; j < d; ++j)
      for (int64_t c = 0; c < r; ++c) sc.pt[c * d + j] = sc.p[j * r + c];
    tb.qt = sc.qt.data();
    tb.pt = sc.pt.data();
    tb.r = r;
  }
  sc.corr.clear();
  const int64_t nvec = gear_vectors(prm, n, d);
  const int32_t* oidx = blk.oidx.ptr<int32_t>() + s * nvec * k2;
  for (int64_t v = 0; v < nvec; ++v)
    for (int64_t m = 0; m < k2; ++m) {
      int64_t t, j;
      detail::outlier_position(prm, v, oidx[v * k2 + m], &t, &j);
      NT_CHECK(t >= 0 && t < n && j >= 0 && j < d, Value, "[llm.gear.Cache.attend] outlier index ", oidx[v * k2 + m],
               " out of range");
      float low = 0;
      for (int64_t c = 0; c < r; ++c) low += sc.q[t * r + c] * sc.p[j * r + c];
      const float val = detail::side_get(blk.ovals, s * nvec * k2 + v * k2 + m);
      sc.corr.push_back({static_cast<int32_t>(t), static_cast<int32_t>(j), val - rows[t * d + j] - low});
    }
  tb.corr = &sc.corr;
  return tb;
}

struct QueryTile {
  int64_t G, d;
  const float* qs;       // G x d, pre-scaled
  const int64_t* limit;  // per query: last visible absolute token position
  float* m;              // running max
  float* l;              // running sum
  float* acc;            // G x d
};

// Scores of the tile against tokens [start, start + n) of kb, softmax update, then values vb.
// G is small (the gq heads of a kv head x a few rows), so the products are the dedicated
// kernels of gear_kernels.h rather than GEMM calls (whose packing would cost as much as the math).
void attend_block(QueryTile& qt, int64_t start, int64_t n, const TokenBlock& kb, const TokenBlock& vb,
                  std::vector<float>& scores, std::vector<float>& proj) {
  const int64_t G = qt.G, d = qt.d;
  const int64_t rk = kb.r, rv = vb.r;
  scores.resize(static_cast<size_t>(G * n));
  proj.resize(static_cast<size_t>(G * std::max<int64_t>(1, std::max(rk, rv))));
  float* S = scores.data();
  // S = q Kᵀ (+ (q P) Qᵀ)
  const GearKernels& kern = gear_kernels();
  kern.scores(qt.qs, G, kb.rows, n, d, S);
  if (rk > 0) {  // S += (q P) Qᵀ
    kern.scores(qt.qs, G, kb.pt, rk, d, proj.data());
    kern.accumulate(proj.data(), G, kb.qt, rk, n, S);
  }
  if (kb.corr)
    for (const Correction& c : *kb.corr)
      for (int64_t g = 0; g < G; ++g) S[g * n + c.t] += qt.qs[g * d + c.j] * c.delta;
  // online softmax; S becomes the unnormalized probabilities (0 where masked)
  for (int64_t g = 0; g < G; ++g) {
    const int64_t vis = std::min<int64_t>(n, std::max<int64_t>(0, qt.limit[g] - start + 1));
    float* s = S + g * n;
    if (vis == 0) {
      std::fill(s, s + n, 0.0f);
      continue;
    }
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t t = 0; t < vis; ++t) mx = std::max(mx, s[t]);
    const float m_new = std::max(qt.m[g], mx);
    const float rescale = std::exp(qt.m[g] - m_new);  // exp(-inf) = 0 on the first block
    if (rescale != 1.0f) {
      qt.l[g] *= rescale;
      float* acc = qt.acc + g * d;
      for (int64_t j = 0; j < d; ++j) acc[j] *= rescale;
    }
    qt.m[g] = m_new;
    float sum = 0;
    for (int64_t t = 0; t < vis; ++t) {
      s[t] = std::exp(s[t] - m_new);
      sum += s[t];
    }
    std::fill(s + vis, s + n, 0.0f);
    qt.l[g] += sum;
  }
  // acc += p V (+ (p Q) Pᵀ)
  kern.accumulate(S, G, vb.rows, n, d, qt.acc);
  if (rv > 0) {  // acc += (p Q) Pᵀ
    kern.scores(S, G, vb.qt, rv, n, proj.data());
    kern.accumulate(proj.data(), G, vb.pt, rv, d, qt.acc);
  }
  if (vb.corr)
    for (const Correction& c : *vb.corr)
      for (int64_t g = 0; g < G; ++g) qt.acc[g * d + c.j] += S[g * n + c.t] * c.delta;
}

}  // namespace

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
  const int64_t total = L.chunks * L.chunk_tokens + L.buf_len;
  NT_CHECK(q.shape[2] <= total, Shape, "[", op, "] ", q.shape[2], " queries but only ", total,
           " tokens in the cache (append the new keys first)");
}

void gear_attend_run(const GearLayerView& L, const TensorView& q, const TensorView& out, double scale) {
  const int64_t hq = q.shape[1], sq = q.shape[2], d = q.shape[3];
  const int64_t hkv = L.buf_k.shape[0], cap = L.buf_k.shape[1], gq = hq / hkv, nb = L.chunk_tokens;
  const int64_t total = L.chunks * nb + L.buf_len;
  if (sq == 0 || hq == 0) return;
  // tiles of query rows: all gq heads of a kv head together; ~32 queries per task
  const int64_t rows_per_tile = std::max<int64_t>(1, 32 / gq);
  const int64_t tiles = (sq + rows_per_tile - 1) / rows_per_tile;
  parallel_for(hkv * tiles, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> krows(static_cast<size_t>(nb * d)), vrows(static_cast<size_t>(nb * d));
    std::vector<float> scores, proj;
    SideScratch ks, vs;
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t h = w / tiles, r0 = (w % tiles) * rows_per_tile, r1 = std::min(sq, r0 + rows_per_tile);
      const int64_t G = gq * (r1 - r0);
      std::vector<float> qs(static_cast<size_t>(G * d)), m(static_cast<size_t>(G)), l(static_cast<size_t>(G), 0.0f),
          acc(static_cast<size_t>(G * d), 0.0f);
      std::vector<int64_t> limit(static_cast<size_t>(G));
      std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
      int64_t max_limit = -1;
      for (int64_t hh = 0; hh < gq; ++hh)
        for (int64_t i = r0; i < r1; ++i) {
          const int64_t g = hh * (r1 - r0) + (i - r0), head = h * gq + hh;
          float* dst = qs.data() + g * d;
          const int64_t off = head * q.strides[1] + i * q.strides[2];
          ops::load_run<float>(ops::elem_ptr(q, off), q.dtype, q.strides[3], d, dst);
          for (int64_t j = 0; j < d; ++j) dst[j] = static_cast<float>(dst[j] * scale);
          limit[g] = total - sq + i;
          max_limit = std::max(max_limit, limit[g]);
        }
      QueryTile tile{G, d, qs.data(), limit.data(), m.data(), l.data(), acc.data()};
      for (int64_t c = 0; c < L.chunks && c * nb <= max_limit; ++c) {
        const int64_t s = c * hkv + h;
        const TokenBlock kb = decode_block(L.k, L.kp, s, nb, d, krows.data(), ks);
        const TokenBlock vb = decode_block(L.v, L.vp, s, nb, d, vrows.data(), vs);
        attend_block(tile, c * nb, nb, kb, vb, scores, proj);
      }
      if (L.buf_len > 0) {
        TokenBlock kb{L.buf_k.ptr<float>() + h * cap * d}, vb{L.buf_v.ptr<float>() + h * cap * d};
        attend_block(tile, L.chunks * nb, L.buf_len, kb, vb, scores, proj);
      }
      for (int64_t hh = 0; hh < gq; ++hh)
        for (int64_t i = r0; i < r1; ++i) {
          const int64_t g = hh * (r1 - r0) + (i - r0), head = h * gq + hh;
          float* o = out.ptr<float>() + (head * sq + i) * d;
          const float inv = l[g] > 0 ? 1.0f / l[g] : 0.0f;
          for (int64_t j = 0; j < d; ++j) o[j] = acc[g * d + j] * inv;
        }
    }
  });
}

}  // namespace nt::kvcache
