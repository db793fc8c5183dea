// Delta attention (ALGORITHMS.md section 4; DeltaLLM-style temporal sparsity). Per (batch,
// query head) the state holds qhat (the last propagated query) and the score row s[j] = qhat . k_j
// of the keys already outside the local window. Query rows are processed in order:
//   1. Delta = q - qhat; components with |Delta_c| <= theta are dropped (qhat_c kept), the others
//      propagate (qhat_c = q_c);
//   2. the held scores are updated incrementally, s[j] += sum over propagated c of Delta_c k_j[c]:
//      the keys are kept transposed ([d, cap] per kv head), so each propagated component is one
//      contiguous axpy over the held keys and dropped components cost nothing;
//   3. keys that just left the window are scored in full with the new qhat;
//   4. keys inside the window (j > p - window) get exact scores q . k_j;
//   5. softmax over the whole row (scaled) and the weighted sum of V: O(p d), not sparse.
// Counts: `dense` = d x (out-of-window keys) per row (what recomputing those scores costs);
// `done` = the multiply-adds steps 2 and 3 actually did. sparsity = 1 - done / dense.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "attention.h"

namespace nt {

DeltaCounts delta_forward(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
                          float scale, int64_t window, float threshold, DeltaState& st,
                          const AttentionKernels& ks) {
  const int64_t B = q.shape[0], HQ = q.shape[1], HKV = k.shape[1], SQ = q.shape[2], SK = k.shape[2], D = q.shape[3],
                DV = v.shape[3];
  DeltaCounts total;
  if (B * HQ == 0) return total;
  const int64_t G = HQ / HKV, cap = st.cap;
  const int64_t p0 = SK - SQ;  // position of the first query of this call
  F32Heads fq, fk, fv;
  as_f32_heads(q, fq);
  as_f32_heads(k, fk);
  as_f32_heads(v, fv);
  // Append the keys not yet transposed: kt[c, j] = k[j, c] for j in [seen, SK).
  const int64_t seen = std::min(st.seen, SK);
  if (seen < SK && D > 0) {
    parallel_for(B * HKV * D, 8, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t c = t % D, hh = t / D, bi = hh / HKV, kh = hh % HKV;
        const float* K = fk.p + bi * fk.sb + kh * fk.sh + c;
        float* row = st.kt + (hh * D + c) * cap;
        for (int64_t j = seen; j < SK; ++j) row[j] = K[j * fk.ss];
      }
    });
  }
  st.seen = std::max(st.seen, SK);
  const bool fresh = st.next < 0;
  // Prefill: the weighted sums of V of a block of rows run as PV tiles over packed V panels
  // (as the dense engine does); the score rows themselves are computed one after the other.
  // Decode-sized calls read V in place. Both sum the same products in the same order.
  const bool tiled = SQ >= 16;
  const int64_t mr = ks.mr, nr = ks.nr;
  const int64_t nkp = (SK + nr - 1) / nr, skp = nkp * nr;
  const int64_t dpan = (DV + nr - 1) / nr, ldo = dpan * nr;
  const int64_t rb = tiled ? mr * ((32 + mr - 1) / mr) : 1;
  Scratch<float> vp(tiled ? static_cast<size_t>(B * HKV * dpan * skp * nr) : 0);
  if (tiled) {
    parallel_for(B * HKV * nkp, 4, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t hh = t / nkp, pan = t % nkp, bi = hh / HKV, kh = hh % HKV;
        const float* V = fv.p + bi * fv.sb + kh * fv.sh;
        for (int64_t dp = 0; dp < dpan; ++dp) {
          float* vd = vp.get() + (hh * dpan + dp) * skp * nr + pan * nr * nr;
          for (int64_t jj = 0; jj < nr; ++jj) {
            const int64_t j = pan * nr + jj;
            for (int64_t cc = 0; cc < nr; ++cc) {
              const int64_t c = dp * nr + cc;
              vd[jj * nr + cc] = (j < SK && c < DV) ? V[j * fv.ss + c] : 0.0f;
            }
          }
        }
      }
    });
  }
  std::vector<DeltaCounts> counts(static_cast<size_t>(B * HQ));
  parallel_for(B * HQ, 1, [&](int64_t h0, int64_t h1) {
    const int64_t ldp = tiled ? skp : SK;
    Scratch<float> pbuf(static_cast<size_t>(rb * std::max<int64_t>(ldp, 1)));
    Scratch<float> obuf(static_cast<size_t>(rb * std::max<int64_t>(ldo, 1)));
    Scratch<float> dq(static_cast<size_t>(std::max<int64_t>(D, 1)));
    std::vector<float> l(rb), zero(rb, 0.0f);
    std::vector<int32_t> idx(static_cast<size_t>(D));
    for (int64_t bh = h0; bh < h1; ++bh) {
      const int64_t bi = bh / HQ, h = bh % HQ, kh = h / G, hh = bi * HKV + kh;
      float* qhat = st.qhat + bh * D;
      float* s = st.scores + bh * cap;
      const float* kt = st.kt + hh * D * cap;
      const float* K = fk.p + bi * fk.sb + kh * fk.sh;
      const float* V = fv.p + bi * fv.sb + kh * fv.sh;
      DeltaCounts c;
      for (int64_t i0 = 0; i0 < SQ; i0 += rb) {
        const int64_t i1 = std::min(SQ, i0 + rb);
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t p = p0 + i;
          const float* qi = fq.p + bi * fq.sb + h * fq.sh + i * fq.ss;
          float* row = pbuf.get() + (i - i0) * ldp;
          // Held scores: those of keys outside the previous row's window (none for a fresh state's first row).
          const int64_t nold = (i == 0 && fresh) ? 0 : std::max<int64_t>(0, p - window);
          const int64_t nout = std::max<int64_t>(0, p - window + 1);
          // 1. thresholded delta
          int64_t nz = 0;
          for (int64_t cc = 0; cc < D; ++cc) {
            const float delta = qi[cc] - qhat[cc];
            if (std::fabs(delta) > threshold) {
              idx[nz] = static_cast<int32_t>(cc);
              dq[nz] = delta;
              ++nz;
              qhat[cc] = qi[cc];
            }
          }
          // 2. incremental update of the held scores, propagated components only
          if (nz > 0 && nold > 0) ks.delta_update(nold, nz, idx.data(), dq.get(), kt, cap, s);
          // 3. keys that just left the window: full dot products with qhat
          if (nout > nold) ks.dot_rows(1, nout - nold, D, qhat, D, K + nold * fk.ss, fk.ss, s + nold, 1);
          c.done += static_cast<double>(nz) * nold + static_cast<double>(D) * (nout - nold);
          c.dense += static_cast<double>(D) * nout;
          // 4. exact in-window scores
          const int64_t n = p + 1;
          for (int64_t j = 0; j < nout; ++j) row[j] = s[j] * scale;
          if (n > nout) {
            ks.dot_rows(1, n - nout, D, qi, D, K + nout * fk.ss, fk.ss, row + nout, 1);
            for (int64_t j = nout; j < n; ++j) row[j] *= scale;
          }
          // 5. softmax over the whole row (P left in row, its sum in l)
          const float mx = ks.row_max(row, n);
          l[i - i0] = std::isfinite(mx) ? ks.exp_sum(row, n, mx) : std::numeric_limits<float>::quiet_NaN();
          if (!std::isfinite(mx)) std::fill(row, row + n, 0.0f);
          if (tiled) std::fill(row + n, row + ldp, 0.0f);
          float* o = obuf.get() + (i - i0) * ldo;
          std::fill(o, o + ldo, 0.0f);
          if (!tiled) ks.axpy_rows(1, n, DV, row, n, V, fv.ss, zero.data(), o, ldo);
        }
        if (tiled) {  // the block's weighted sums of V as PV tiles (rows past i1 are zero)
          const int64_t rows = i1 - i0, rpad = (rows + mr - 1) / mr * mr;
          for (int64_t r = rows; r < rpad; ++r) {
            std::fill(pbuf.get() + r * ldp, pbuf.get() + (r + 1) * ldp, 0.0f);
            std::fill(obuf.get() + r * ldo, obuf.get() + (r + 1) * ldo, 0.0f);
          }
          const int64_t npan = (p0 + i1 + nr - 1) / nr;  // keys 0 ... p0 + i1 - 1
          for (int64_t rg = 0; rg < rpad / mr; ++rg)
            ks.pv(npan * nr, pbuf.get() + rg * mr * ldp, ldp, vp.get() + hh * dpan * skp * nr, skp * nr, dpan,
                  zero.data(), obuf.get() + rg * mr * ldo, ldo);
        }
        for (int64_t i = i0; i < i1; ++i) {
          const float* o = obuf.get() + (i - i0) * ldo;
          float* dst = static_cast<float*>(out.data) + out.offset + bi * out.strides[0] + h * out.strides[1] +
                       i * out.strides[2];
          const float inv = 1.0f / l[i - i0];
          for (int64_t cc = 0; cc < DV; ++cc) dst[cc * out.strides[3]] = o[cc] * inv;
        }
      }
      counts[bh] = c;
    }
  });
  for (const DeltaCounts& c : counts) {
    total.done += c.done;
    total.dense += c.dense;
  }
  st.next = SK;
  return total;
}

}  // namespace nt
