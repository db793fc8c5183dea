// The softmax-attention engine behind dense, sliding-window and block-sparse attention.
//
// Prefill (many queries): flash-attention tiling. K and V of every kv head are packed once
// into panels (K transposed, nr keys per panel; V in nr-column panels). A task is one
// (batch, kv head, query block): the query rows of all hq / hkv heads that share the kv head,
// so each packed K/V block is reused by ~128 rows. Per key block: S = Q K^T (score tiles),
// running row max m and sum l, P = exp(S - m), O = O * exp(m_old - m) + P V (PV tiles); O / l
// at the end. The seq x seq matrix never exists; key blocks outside every row's mask are
// skipped (the causal upper triangle, keys outside a sliding window, dropped sparse blocks).
// Tasks are claimed dynamically, most expensive first; each output row belongs to one task,
// so results do not depend on the thread count.
//
// Decode (few queries): split-K. The keys are cut into fixed 256-key chunks; a task runs one
// chunk for all rows of one kv head (every query head of the group) straight from the
// (possibly strided) cache, keeping its own (m, l, O); a final pass merges the chunks with
// log-sum-exp weights. A single query therefore uses every thread, K and V are read once,
// unpacked, and the chunks are fixed, so results do not depend on the thread count. Without
// a block mask each row sees one contiguous key range and the kernel table's fused `decode`
// runs the chunk (scores, online softmax and PV per 32 keys, with software prefetch of the
// other stream: a single core otherwise leaves memory idle while it computes); block masks
// take the general per-64-key loop.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "../core/half.h"
#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "attention.h"

namespace nt {

F32Heads::~F32Heads() { std::free(owned); }

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

float load_as_f32(const TensorView& t, int64_t idx) {
  switch (t.dtype) {
    case DType::F32: return static_cast<const float*>(t.data)[idx];
    case DType::F64: return static_cast<float>(static_cast<const double*>(t.data)[idx]);
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(t.data)[idx]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(t.data)[idx]);
    default: fail(ErrorCode::DType, "[attention] unsupported dtype");
  }
}

}  // namespace

void as_f32_heads(const TensorView& t, F32Heads& out) {
  const int64_t B = t.shape[0], H = t.shape[1], S = t.shape[2], D = t.shape[3];
  if (t.dtype == DType::F32 && (D <= 1 || t.strides[3] == 1)) {
    out.p = t.ptr<float>();
    out.sb = t.strides[0];
    out.sh = t.strides[1];
    out.ss = t.strides[2];
    return;
  }
  const int64_t n = B * H * S * D;
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float);
  out.owned = static_cast<float*>(std::malloc(bytes));
  NT_CHECK(out.owned != nullptr, OOM, "[attention] could not allocate ", bytes, " bytes for an f32 copy");
  float* dst = out.owned;
  const TensorView src = t;
  parallel_for(B * H * S, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t s = r % S, h = (r / S) % H, b = r / (S * H);
      const int64_t base = src.offset + b * src.strides[0] + h * src.strides[1] + s * src.strides[2];
      for (int64_t c = 0; c < D; ++c) dst[r * D + c] = load_as_f32(src, base + c * src.strides[3]);
    }
  });
  out.p = dst;
  out.sb = H * S * D;
  out.sh = S * D;
  out.ss = D;
}

void attention_check(const char* op, const TensorView& q, const TensorView& k, const TensorView& v,
                     const TensorView* out_ptr, bool causal) {
  auto is_float = [](DType d) { return d == DType::F32 || d == DType::F64 || d == DType::F16 || d == DType::BF16; };
  const TensorView* views[] = {&q, &k, &v};
  const char* names[] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) {
    NT_CHECK(views[i]->ndim == 4, Shape, "[", op, "] ", names[i], " must be 4-D [batch, heads, seq, dim], got ",
             shape_string(*views[i]));
    NT_CHECK(is_float(views[i]->dtype), DType, "[", op, "] ", names[i], " must be f32, f64, f16 or bf16, got dtype code ",
             static_cast<int>(views[i]->dtype));
  }
  NT_CHECK(k.shape[0] == q.shape[0] && v.shape[0] == q.shape[0], Shape, "[", op, "] q, k and v must share the batch extent, got ",
           shape_string(q), ", ", shape_string(k), ", ", shape_string(v));
  NT_CHECK(k.shape[1] == v.shape[1] && k.shape[2] == v.shape[2], Shape, "[", op,
           "] k and v must have the same heads and seq extents, got ", shape_string(k), " and ", shape_string(v));
  NT_CHECK(k.shape[3] == q.shape[3], Shape, "[", op, "] k must have q's head dim ", q.shape[3], ", got ", shape_string(k));
  const int64_t hq = q.shape[1], hkv = k.shape[1];
  NT_CHECK(hkv >= 1 || hq == 0, Shape, "[", op, "] k and v need at least one head, got ", shape_string(k));
  NT_CHECK(hkv == 0 || hq % hkv == 0, Shape, "[", op, "] the kv heads (", hkv, ") must divide the query heads (", hq, ")");
  NT_CHECK(!causal || k.shape[2] >= q.shape[2], Shape, "[", op, "] causal attention needs at least as many keys (", k.shape[2],
           ") as queries (", q.shape[2], ")");
  NT_CHECK(k.shape[2] >= 1 || q.numel() == 0 || v.shape[3] == 0, Shape, "[", op, "] k and v need at least one key, got ",
           shape_string(k));
  if (!out_ptr) return;
  const TensorView& out = *out_ptr;
  NT_CHECK(out.ndim == 4 && out.shape[0] == q.shape[0] && out.shape[1] == hq && out.shape[2] == q.shape[2] &&
               out.shape[3] == v.shape[3],
           Shape, "[", op, "] out must have shape [", q.shape[0], ", ", hq, ", ", q.shape[2], ", ", v.shape[3], "], got ",
           shape_string(out));
  NT_CHECK(out.dtype == DType::F32, DType, "[", op, "] out must be f32");
}

namespace {

struct Problem {
  int64_t B, HQ, HKV, G, SQ, SK, D, DV;
  float scale;
  const F32Heads* q;
  const F32Heads* k;
  const F32Heads* v;
  const TensorView* out;
  const AttentionMask* mask;
  const AttentionKernels* ks;
  // block-sparse flags
  const uint8_t* blocks = nullptr;
  int64_t bsb = 0, bsh = 0, bsq = 0, bsk = 0, nb = 0;
};

// Allowed key segments [a, b) of the row at position pos (head h, batch b) inside [kb, ke).
// Returns the number of segments written to seg (at most (ke - kb) / B + 2).
int64_t row_segments(const Problem& pr, int64_t bi, int64_t h, int64_t pos, int64_t kb, int64_t ke,
                     int64_t* seg) {
  int64_t lo = 0, hi = pr.SK;
  if (pr.mask->causal) hi = std::min(hi, pos + 1);
  if (pr.mask->window > 0) {
    lo = std::max<int64_t>(lo, pos - pr.mask->window + 1);
    if (!pr.mask->causal) hi = std::min(hi, pos + pr.mask->window);
  }
  lo = std::max(lo, kb);
  hi = std::min(hi, ke);
  if (lo >= hi) return 0;
  if (!pr.blocks) {
    seg[0] = lo;
    seg[1] = hi;
    return 1;
  }
  const int64_t B = pr.mask->block;
  const int64_t qb = pos / B;
  const uint8_t* row = pr.blocks + bi * pr.bsb + h * pr.bsh + qb * pr.bsq;
  int64_t n = 0;
  for (int64_t kbk = lo / B; kbk * B < hi; ++kbk) {
    if (!row[kbk * pr.bsk]) continue;
    const int64_t a = std::max(lo, kbk * B), b = std::min(hi, (kbk + 1) * B);
    if (n > 0 && seg[2 * n - 1] == a) {
      seg[2 * n - 1] = b;  // merge adjacent kept blocks
    } else {
      seg[2 * n] = a;
      seg[2 * n + 1] = b;
      ++n;
    }
  }
  return n;
}

// The key range any row of a task may see (before block flags): for skipping whole blocks.
void row_bounds(const Problem& pr, int64_t pos, int64_t& lo, int64_t& hi) {
  lo = 0;
  hi = pr.SK;
  if (pr.mask->causal) hi = std::min(hi, pos + 1);
  if (pr.mask->window > 0) {
    lo = std::max<int64_t>(lo, pos - pr.mask->window + 1);
    if (!pr.mask->causal) hi = std::min(hi, pos + pr.mask->window);
  }
}

// Online-softmax step for one row over a block of scores s[0:n) (keys kb + j): masks with the
// row's segments, updates m and l, leaves P in s and the O correction factor in corr.
// Returns false when the row sees no key of the block (P = 0, corr = 1).
bool softmax_step(const AttentionKernels& ks, float* s, int64_t n, int64_t kb, const int64_t* seg, int64_t nseg,
                  float& m, float& l, float& corr) {
  if (nseg == 0) {
    std::memset(s, 0, static_cast<size_t>(n) * sizeof(float));
    corr = 1.0f;
    return false;
  }
  float mx = kNegInf;
  for (int64_t i = 0; i < nseg; ++i) {
    const float r = ks.row_max(s + seg[2 * i] - kb, seg[2 * i + 1] - seg[2 * i]);
    mx = (std::isnan(r) || std::isnan(mx)) ? r + mx : std::max(mx, r);
  }
  const float mnew = std::max(m, mx);
  if (std::isnan(mx) || !(mnew > kNegInf)) {  // a NaN score makes the row NaN (through l); all -inf: nothing
    std::memset(s, 0, static_cast<size_t>(n) * sizeof(float));
    corr = 1.0f;
    if (std::isnan(mx)) l = mx;
    return false;
  }
  corr = m == kNegInf ? 0.0f : std::exp(m - mnew);
  float sum = 0.0f;
  int64_t prev = kb;
  for (int64_t i = 0; i < nseg; ++i) {
    const int64_t a = seg[2 * i], b = seg[2 * i + 1];
    if (a > prev) std::memset(s + (prev - kb), 0, static_cast<size_t>(a - prev) * sizeof(float));
    sum += ks.exp_sum(s + (a - kb), b - a, mnew);
    prev = b;
  }
  if (kb + n > prev) std::memset(s + (prev - kb), 0, static_cast<size_t>(kb + n - prev) * sizeof(float));
  l = l * corr + sum;
  m = mnew;
  return true;
}

void write_row(const Problem& pr, int64_t bi, int64_t h, int64_t i, const float* o, float l) {
  const TensorView& out = *pr.out;
  float* base = static_cast<float*>(out.data) + out.offset + bi * out.strides[0] + h * out.strides[1] + i * out.strides[2];
  // a row that sees no key gives 0; NaN scores or values give NaN
  const float inv = l > 0.0f ? 1.0f / l : (std::isnan(l) ? l : 0.0f);
  for (int64_t c = 0; c < pr.DV; ++c) base[c * out.strides[3]] = o[c] * inv;
}

// ---- prefill: packed K/V panels and score / PV tiles ----

void run_tiled(const Problem& pr) {
  const AttentionKernels& ks = *pr.ks;
  const int64_t mr = ks.mr, nr = ks.nr;
  const int64_t nkp = (pr.SK + nr - 1) / nr, skp = nkp * nr;
  const int64_t dpan = (pr.DV + nr - 1) / nr, ldo = dpan * nr;
  const int64_t heads = pr.B * pr.HKV;
  // Pack K (transposed panels) and V (column panels) of every kv head.
  Scratch<float> kp(static_cast<size_t>(heads * nkp * pr.D * nr));
  Scratch<float> vp(static_cast<size_t>(heads * dpan * skp * nr));
  parallel_for(heads * nkp, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t hh = t / nkp, pan = t % nkp, bi = hh / pr.HKV, kh = hh % pr.HKV;
      const float* K = pr.k->p + bi * pr.k->sb + kh * pr.k->sh;
      const float* V = pr.v->p + bi * pr.v->sb + kh * pr.v->sh;
      float* kd = kp.get() + (hh * nkp + pan) * pr.D * nr;
      for (int64_t jj = 0; jj < nr; ++jj) {
        const int64_t j = pan * nr + jj;
        if (j < pr.SK) {
          const float* kr = K + j * pr.k->ss;
          for (int64_t p = 0; p < pr.D; ++p) kd[p * nr + jj] = kr[p];
        } else {
          for (int64_t p = 0; p < pr.D; ++p) kd[p * nr + jj] = 0.0f;
        }
      }
      for (int64_t dp = 0; dp < dpan; ++dp) {
        float* vd = vp.get() + (hh * dpan + dp) * skp * nr + pan * nr * nr;
        for (int64_t jj = 0; jj < nr; ++jj) {
          const int64_t j = pan * nr + jj;
          const float* vr = V + j * pr.v->ss;
          for (int64_t cc = 0; cc < nr; ++cc) {
            const int64_t c = dp * nr + cc;
            vd[jj * nr + cc] = (j < pr.SK && c < pr.DV) ? vr[c] : 0.0f;
          }
        }
      }
    }
  });

  // ~128 query rows per task (all heads of a kv group), 128-key blocks; a sliding window w
  // shrinks both (about w / 2 positions, w / 4 keys) so the blocks straddling the window's
  // edges, whose work is partly masked, stay a small share of the total.
  int64_t bq = std::max<int64_t>(8, std::min<int64_t>(128, (128 + pr.G - 1) / pr.G));
  int64_t bk = 128;
  if (pr.mask->window > 0) {
    bq = std::max<int64_t>(8, std::min<int64_t>(bq, pr.mask->window / 2));
    bk = std::max<int64_t>(nr, std::min<int64_t>(128, (pr.mask->window / 4 + nr - 1) / nr * nr));
  }
  const int64_t nqb = (pr.SQ + bq - 1) / bq;
  const int64_t ntasks = heads * nqb;
  const int64_t rows_max = pr.G * bq, rows_pad = (rows_max + mr - 1) / mr * mr;
  const int64_t lds = bk;
  // Most expensive query blocks first (the last ones under a causal mask).
  std::atomic<int64_t> next{0};
  const int threads = num_threads();
  parallel_for(threads, 1, [&](int64_t, int64_t) {
    Scratch<float> qbuf(static_cast<size_t>(rows_pad * std::max<int64_t>(pr.D, 1)));
    Scratch<float> sbuf(static_cast<size_t>(rows_pad * lds));
    Scratch<float> obuf(static_cast<size_t>(rows_pad * ldo));
    std::vector<float> m(rows_pad), l(rows_pad), corr(rows_pad);
    std::vector<int64_t> lo(rows_pad), hi(rows_pad), pos(rows_pad), head(rows_pad);
    std::vector<int64_t> seg(2 * (bk / std::max<int64_t>(pr.mask->block, 1) + 3));
    std::vector<uint8_t> group_live(rows_pad / mr);
    for (;;) {
      const int64_t t = next.fetch_add(1);
      if (t >= ntasks) break;
      const int64_t qbi = nqb - 1 - t % nqb, hh = t / nqb, bi = hh / pr.HKV, kh = hh % pr.HKV;
      const int64_t i0 = qbi * bq, i1 = std::min(pr.SQ, i0 + bq), nq = i1 - i0;
      const int64_t rows = pr.G * nq, rpad = (rows + mr - 1) / mr * mr;
      int64_t kmin = pr.SK, kmax = 0;
      for (int64_t r = 0; r < rpad; ++r) {
        m[r] = kNegInf;
        l[r] = 0.0f;
        float* qd = qbuf.get() + r * pr.D;
        if (r >= rows) {
          lo[r] = hi[r] = 0;
          std::fill(qd, qd + pr.D, 0.0f);
          continue;
        }
        const int64_t g = r / nq, i = i0 + r % nq, h = kh * pr.G + g;
        head[r] = h;
        pos[r] = pr.SK - pr.SQ + i;
        row_bounds(pr, pos[r], lo[r], hi[r]);
        kmin = std::min(kmin, lo[r]);
        kmax = std::max(kmax, hi[r]);
        const float* qs = pr.q->p + bi * pr.q->sb + h * pr.q->sh + i * pr.q->ss;
        for (int64_t p = 0; p < pr.D; ++p) qd[p] = qs[p] * pr.scale;
      }
      std::fill(obuf.get(), obuf.get() + rpad * ldo, 0.0f);
      const float* kph = kp.get() + hh * nkp * pr.D * nr;
      const float* vph = vp.get() + hh * dpan * skp * nr;
      for (int64_t kb = kmin / nr * nr; kb < kmax; kb += bk) {
        const int64_t ke = std::min(kb + bk, kmax), npan = (ke - kb + nr - 1) / nr, nk = npan * nr;
        for (int64_t rg = 0; rg < rpad / mr; ++rg) {
          bool live = false;
          for (int64_t r = rg * mr; r < rg * mr + mr && !live; ++r) live = lo[r] < ke && hi[r] > kb;
          group_live[rg] = live;
          if (live) ks.scores(pr.D, qbuf.get() + rg * mr * pr.D, pr.D, kph + (kb / nr) * pr.D * nr, npan,
                              sbuf.get() + rg * mr * lds, lds);
        }
        for (int64_t rg = 0; rg < rpad / mr; ++rg) {
          if (!group_live[rg]) continue;
          bool any = false;
          for (int64_t r = rg * mr; r < rg * mr + mr; ++r) {
            float* s = sbuf.get() + r * lds;
            const int64_t nseg = r < rows ? row_segments(pr, bi, head[r], pos[r], kb, ke, seg.data()) : 0;
            any |= softmax_step(ks, s, nk, kb, seg.data(), nseg, m[r], l[r], corr[r]);
          }
          if (any)
            ks.pv(nk, sbuf.get() + rg * mr * lds, lds, vph + kb * nr, skp * nr, dpan, corr.data() + rg * mr,
                  obuf.get() + rg * mr * ldo, ldo);
        }
      }
      for (int64_t r = 0; r < rows; ++r) write_row(pr, bi, head[r], i0 + r % nq, obuf.get() + r * ldo, l[r]);
    }
  });
}

// ---- decode: split-K over fixed key chunks, rows read in place ----

// Merges the chunk partials (m, l, O) of every row of head hh in chunk order:
// O = sum_c e^(m_c - M) O_c / sum_c e^(m_c - M) l_c. o: dv floats of scratch.
void merge_head(const Problem& pr, const float* part, int64_t nchunks, int64_t rows, int64_t stride, int64_t hh,
                float* o) {
  const int64_t bi = hh / pr.HKV, kh = hh % pr.HKV;
  for (int64_t r = 0; r < rows; ++r) {
    float M = kNegInf;
    for (int64_t c = 0; c < nchunks; ++c) M = std::max(M, part[((hh * nchunks + c) * rows + r) * stride]);
    std::fill(o, o + pr.DV, 0.0f);
    float L = 0.0f;
    bool nan = false;
    for (int64_t c = 0; c < nchunks; ++c) nan = nan || std::isnan(part[((hh * nchunks + c) * rows + r) * stride + 1]);
    if (nan) {
      L = std::numeric_limits<float>::quiet_NaN();
    } else if (M > kNegInf) {
      for (int64_t c = 0; c < nchunks; ++c) {
        const float* pt = part + ((hh * nchunks + c) * rows + r) * stride;
        if (!(pt[0] > kNegInf)) continue;
        const float w = std::exp(pt[0] - M);
        L += w * pt[1];
        for (int64_t cc = 0; cc < pr.DV; ++cc) o[cc] += w * pt[2 + cc];
      }
    } else if (std::isnan(M)) {
      L = M;
    }
    write_row(pr, bi, kh * pr.G + r / pr.SQ, r % pr.SQ, o, L);
  }
}

void run_rows(const Problem& pr) {
  const AttentionKernels& ks = *pr.ks;
  const int64_t rows = pr.G * pr.SQ;
  const int64_t heads = pr.B * pr.HKV;
  constexpr int64_t kChunk = 256, kSub = 64;
  // The key range of the whole problem (rows of later heads see the same range).
  int64_t kmin = pr.SK, kmax = 0;
  for (int64_t i = 0; i < pr.SQ; ++i) {
    int64_t lo, hi;
    row_bounds(pr, pr.SK - pr.SQ + i, lo, hi);
    if (lo < hi) {
      kmin = std::min(kmin, lo);
      kmax = std::max(kmax, hi);
    }
  }
  if (kmin >= kmax) kmin = kmax = 0;
  const int64_t c0 = kmin / kChunk, nchunks = std::max<int64_t>(1, (kmax + kChunk - 1) / kChunk - c0);
  const int64_t stride = pr.DV + 2;  // per row: m, l, O[dv]
  Scratch<float> part(static_cast<size_t>(heads * nchunks * rows * stride));
  // Threads claim runs of up to kClaim chunks of one head (1024 keys) dynamically, so a thread
  // the OS deschedules does not hold the others back; within a run the kernel's prefetch goes
  // on into the next chunk. The thread that finishes a head's last chunk merges that head (in
  // chunk order): one pool job per call. Which thread runs what never changes the arithmetic.
  constexpr int64_t kClaim = 4;
  const int64_t per_head = (nchunks + kClaim - 1) / kClaim, nruns = heads * per_head;
  std::atomic<int64_t> next_run{0};
  std::unique_ptr<std::atomic<int64_t>[]> chunks_done(new std::atomic<int64_t>[heads]);
  for (int64_t h = 0; h < heads; ++h) chunks_done[h].store(0, std::memory_order_relaxed);
  parallel_for(std::min<int64_t>(num_threads(), nruns), 1, [&](int64_t, int64_t) {
    std::vector<float> merged(static_cast<size_t>(std::max<int64_t>(pr.DV, 1)));
    Scratch<float> qbuf(static_cast<size_t>(rows * std::max<int64_t>(pr.D, 1)));
    Scratch<float> sbuf(static_cast<size_t>(std::max(rows * kSub, attn_decode_scratch(rows))));
    std::vector<float> corr(rows);
    std::vector<int64_t> seg(2 * (kSub / std::max<int64_t>(pr.mask->block, 1) + 3));
    std::vector<int64_t> pos(rows), head(rows), lo(rows), hi(rows);
    int64_t qloaded = -1;
    for (;;) {
      const int64_t run = next_run.fetch_add(1);
      if (run >= nruns) break;
      const int64_t run_head = run / per_head, cfirst = run % per_head * kClaim;
      const int64_t clast = std::min(nchunks, cfirst + kClaim);
      const int64_t run_end = std::min(kmax, (c0 + clast) * kChunk);  // prefetch stops here
      for (int64_t t = run_head * nchunks + cfirst; t < run_head * nchunks + clast; ++t) {
        const int64_t hh = t / nchunks, c = t % nchunks, bi = hh / pr.HKV, kh = hh % pr.HKV;
        if (qloaded != hh) {
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t g = r / pr.SQ, i = r % pr.SQ, h = kh * pr.G + g;
            head[r] = h;
            pos[r] = pr.SK - pr.SQ + i;
            const float* qs = pr.q->p + bi * pr.q->sb + h * pr.q->sh + i * pr.q->ss;
            for (int64_t p = 0; p < pr.D; ++p) qbuf[r * pr.D + p] = qs[p] * pr.scale;
          }
          qloaded = hh;
        }
        float* pt = part.get() + t * rows * stride;
        for (int64_t r = 0; r < rows; ++r) {
          pt[r * stride] = kNegInf;
          pt[r * stride + 1] = 0.0f;
          std::fill(pt + r * stride + 2, pt + (r + 1) * stride, 0.0f);
        }
        const float* K = pr.k->p + bi * pr.k->sb + kh * pr.k->sh;
        const float* V = pr.v->p + bi * pr.v->sb + kh * pr.v->sh;
        const int64_t cb = std::max(kmin, (c0 + c) * kChunk), ce = std::min(kmax, (c0 + c + 1) * kChunk);
        if (!pr.blocks) {
          // Every row sees one contiguous key range: the fused kernel runs the whole chunk.
          for (int64_t r = 0; r < rows; ++r) {
            int64_t a, b;
            row_bounds(pr, pos[r], a, b);
            lo[r] = std::clamp<int64_t>(a - cb, 0, ce - cb);
            hi[r] = std::clamp<int64_t>(b - cb, 0, ce - cb);
          }
          DecodeItem item{rows, ce - cb, pr.D, pr.DV, qbuf.get(), pr.D, K + cb * pr.k->ss, pr.k->ss,
                          V + cb * pr.v->ss, pr.v->ss, lo.data(), hi.data(), pt, stride, sbuf.get(), run_end - cb};
          ks.decode(item);
        } else {
          for (int64_t kb = cb; kb < ce; kb += kSub) {
            const int64_t ke = std::min(kb + kSub, ce), n = ke - kb;
            ks.dot_rows(rows, n, pr.D, qbuf.get(), pr.D, K + kb * pr.k->ss, pr.k->ss, sbuf.get(), kSub);
            bool any = false;
            for (int64_t r = 0; r < rows; ++r) {
              const int64_t nseg = row_segments(pr, bi, head[r], pos[r], kb, ke, seg.data());
              any |= softmax_step(ks, sbuf.get() + r * kSub, n, kb, seg.data(), nseg, pt[r * stride], pt[r * stride + 1],
                                  corr[r]);
            }
            // O rows sit `stride` apart in the partial buffer.
            if (any)
              ks.axpy_rows(rows, n, pr.DV, sbuf.get(), kSub, V + kb * pr.v->ss, pr.v->ss, corr.data(), pt + 2, stride);
          }
        }
        // acq_rel: the merging thread sees every other thread's partials of this head
        if (chunks_done[hh].fetch_add(1, std::memory_order_acq_rel) + 1 == nchunks)
          merge_head(pr, part.get(), nchunks, rows, stride, hh, merged.data());
      }
    }
  });
}

}  // namespace

void attention_forward(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
                       float scale, const AttentionMask& mask, const AttentionKernels& kernels) {
  if (out.numel() == 0) return;
  Problem pr;
  pr.B = q.shape[0];
  pr.HQ = q.shape[1];
  pr.HKV = k.shape[1];
  pr.G = pr.HQ / pr.HKV;
  pr.SQ = q.shape[2];
  pr.SK = k.shape[2];
  pr.D = q.shape[3];
  pr.DV = v.shape[3];
  pr.scale = scale;
  // A window covering every key is no window: the dense blocking (and its exact bits) apply.
  AttentionMask m = mask;
  if (m.window >= pr.SK) m.window = 0;
  pr.mask = &m;
  pr.ks = &kernels;
  pr.out = &out;
  if (mask.blocks) {
    const TensorView& bm = *mask.blocks;
    pr.blocks = bm.ptr<uint8_t>();
    pr.bsb = bm.strides[0];
    pr.bsh = bm.strides[1];
    pr.bsq = bm.strides[2];
    pr.bsk = bm.strides[3];
    pr.nb = bm.shape[2];
  }
  F32Heads fq, fk, fv;
  as_f32_heads(q, fq);
  as_f32_heads(k, fk);
  as_f32_heads(v, fv);
  pr.q = &fq;
  pr.k = &fk;
  pr.v = &fv;
  // Few query rows per kv head: score the cache in place and split the keys across threads.
  if (pr.SQ <= 8 || pr.G * pr.SQ <= 32) {
    run_rows(pr);
  } else {
    run_tiled(pr);
  }
}

}  // namespace nt
