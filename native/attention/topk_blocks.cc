// Top-k block selection for block-sparse attention (the block mask nt.attention.topK feeds to
// the engine in dense.cc). Keys and query positions are cut into blocks of B; for query block
// qb (positions qb B ... qb B + B - 1 that occur in q) the score of key block kb is
// mean(q rows of the block) . mean(k rows of kb) (per head, the kv head under GQA). Kept: the
// diagonal block qb and the topk best-scoring other candidates (causal: kb < qb; not causal:
// any kb != qb), ties to the lower index. Query blocks without queries are all zero.
#include <algorithm>
#include <numeric>
#include <vector>

#include "../core/thread_pool.h"
#include "attention.h"

namespace nt {

void attention_topk_blocks(const TensorView& q, const TensorView& k, const TensorView& blocks, int64_t bs,
                           int64_t topk, bool causal) {
  const int64_t B = q.shape[0], HQ = q.shape[1], HKV = k.shape[1], SQ = q.shape[2], SK = k.shape[2], D = q.shape[3];
  if (B * HQ == 0) return;
  const int64_t G = HQ / HKV, nb = (SK + bs - 1) / bs;
  F32Heads fq, fk;
  as_f32_heads(q, fq);
  as_f32_heads(k, fk);
  // Mean-pooled keys per (batch, kv head, block).
  std::vector<double> kmean(static_cast<size_t>(B * HKV * nb * D), 0.0);
  parallel_for(B * HKV * nb, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t kb = t % nb, hh = t / nb, bi = hh / HKV, kh = hh % HKV;
      const int64_t j0 = kb * bs, j1 = std::min(SK, j0 + bs);
      double* m = kmean.data() + t * D;
      for (int64_t j = j0; j < j1; ++j) {
        const float* kr = fk.p + bi * fk.sb + kh * fk.sh + j * fk.ss;
        for (int64_t c = 0; c < D; ++c) m[c] += kr[c];
      }
      for (int64_t c = 0; c < D; ++c) m[c] /= static_cast<double>(j1 - j0);
    }
  });
  uint8_t* base = blocks.ptr<uint8_t>();
  parallel_for(B * HQ, 1, [&](int64_t h0, int64_t h1) {
    std::vector<double> qm(static_cast<size_t>(D)), score(static_cast<size_t>(nb));
    std::vector<int64_t> order(static_cast<size_t>(nb));
    for (int64_t bh = h0; bh < h1; ++bh) {
      const int64_t bi = bh / HQ, h = bh % HQ, kh = h / G;
      for (int64_t qb = 0; qb < nb; ++qb) {
        uint8_t* row = base + bi * blocks.strides[0] + h * blocks.strides[1] + qb * blocks.strides[2];
        for (int64_t kb = 0; kb < nb; ++kb) row[kb * blocks.strides[3]] = 0;
        // query rows i with position sk - sq + i in this block
        const int64_t i0 = std::max<int64_t>(0, qb * bs - (SK - SQ)), i1 = std::min<int64_t>(SQ, (qb + 1) * bs - (SK - SQ));
        if (i0 >= i1) continue;
        std::fill(qm.begin(), qm.end(), 0.0);
        for (int64_t i = i0; i < i1; ++i) {
          const float* qr = fq.p + bi * fq.sb + h * fq.sh + i * fq.ss;
          for (int64_t c = 0; c < D; ++c) qm[c] += qr[c];
        }
        int64_t ncand = 0;
        for (int64_t kb = 0; kb < nb; ++kb) {
          if (kb == qb || (causal && kb > qb)) continue;
          const double* km = kmean.data() + ((bi * HKV + kh) * nb + kb) * D;
          double s = 0.0;
          for (int64_t c = 0; c < D; ++c) s += qm[c] * km[c];
          score[kb] = s;
          order[ncand++] = kb;
        }
        const int64_t keep = std::min(topk, ncand);
        std::partial_sort(order.begin(), order.begin() + keep, order.begin() + ncand, [&](int64_t a, int64_t b) {
          return score[a] > score[b] || (score[a] == score[b] && a < b);
        });
        row[qb * blocks.strides[3]] = 1;
        for (int64_t r = 0; r < keep; ++r) row[order[r] * blocks.strides[3]] = 1;
      }
    }
  });
}

}  // namespace nt
