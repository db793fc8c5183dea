// Bindings of softmax attention (native/attention/attention.h). The TS layer (lib/attention)
// validates options and allocates out; everything is re-validated here so a direct call can
// never crash.
#include <cmath>
#include <optional>

#include "../attention/attention.h"
#include "op.h"

using nt::TensorView;

// (q, k, v, out, causal, scale, window, blocks | null, blockSize): dense, sliding-window
// (window > 0) and block-sparse (blocks u8 [b, hq, nb, nb], nb = ceil(sk / blockSize)).
NT_NAPI_OP(attention) {
  const TensorView q = args.tensor(), k = args.tensor(), v = args.tensor(), out = args.tensor();
  const bool causal = args.boolean();
  const double scale = args.f64();
  const int64_t window = args.i64();
  const std::optional<TensorView> blocks = args.optional_tensor();
  const int64_t block = args.i64();
  nt::attention_check("attention", q, k, v, &out, causal);
  NT_CHECK(std::isfinite(scale), Value, "[attention] scale must be finite, got ", scale);
  NT_CHECK(window >= 0, Value, "[attention] window must be >= 0 (0: none), got ", window);
  if (blocks) {
    NT_CHECK(block >= 1, Value, "[attention] blockSize must be >= 1, got ", block);
    const int64_t nb = (k.shape[2] + block - 1) / block;
    NT_CHECK(blocks->dtype == nt::DType::U8 && blocks->ndim == 4 && blocks->shape[0] == q.shape[0] &&
                 blocks->shape[1] == q.shape[1] && blocks->shape[2] == nb && blocks->shape[3] == nb,
             Shape, "[attention] the block mask must be u8 [", q.shape[0], ", ", q.shape[1], ", ", nb, ", ", nb, "], got ",
             nt::shape_string(*blocks));
  }
  return {[=] {
            nt::AttentionMask mask;
            mask.causal = causal;
            mask.window = window;
            mask.blocks = blocks ? &*blocks : nullptr;
            mask.block = block;
            nt::attention_forward(q, k, v, out, static_cast<float>(scale), mask, nt::attention_kernels());
          },
          {}};
}

// (q, k, blocks, blockSize, topk, causal): the top-k block mask of nt.attention.topK.
NT_NAPI_OP(attentionTopkBlocks) {
  const TensorView q = args.tensor(), k = args.tensor(), blocks = args.tensor();
  const int64_t block = args.i64(), topk = args.i64();
  const bool causal = args.boolean();
  nt::attention_check("attention.topK", q, k, k, nullptr, causal);
  NT_CHECK(block >= 1 && topk >= 0, Value, "[attention.topK] blockSize must be >= 1 and k >= 0, got ", block, " and ", topk);
  const int64_t nb = (k.shape[2] + block - 1) / block;
  NT_CHECK(blocks.dtype == nt::DType::U8 && blocks.ndim == 4 && blocks.shape[0] == q.shape[0] &&
               blocks.shape[1] == q.shape[1] && blocks.shape[2] == nb && blocks.shape[3] == nb,
           Shape, "[attention.topK] the block mask must be u8 [", q.shape[0], ", ", q.shape[1], ", ", nb, ", ", nb,
           "], got ", nt::shape_string(blocks));
  NT_CHECK(!causal || k.shape[2] >= q.shape[2], Shape, "[attention.topK] causal attention needs at least as many keys (",
           k.shape[2], ") as queries (", q.shape[2], ")");
  return {[=] { nt::attention_topk_blocks(q, k, blocks, block, topk, causal); }, {}};
}

namespace {
bool dense_f32(const TensorView& t) { return t.dtype == nt::DType::F32 && t.is_contiguous(); }
}  // namespace

// (q, k, v, out, qhat, scores, kt, info, scale, window, threshold): delta attention; info f64 [4] =
// [seen, next position (-1 fresh), done, dense] (seen and next advanced, the counts overwritten).
NT_NAPI_OP(attentionDelta) {
  const TensorView q = args.tensor(), k = args.tensor(), v = args.tensor(), out = args.tensor();
  const TensorView qhat = args.tensor(), scores = args.tensor(), kt = args.tensor(), info = args.tensor();
  const double scale = args.f64();
  const int64_t window = args.i64();
  const double threshold = args.f64();
  nt::attention_check("attention.delta", q, k, v, &out, true);
  NT_CHECK(std::isfinite(scale), Value, "[attention.delta] scale must be finite, got ", scale);
  NT_CHECK(window >= 1, Value, "[attention.delta] window must be an integer >= 1, got ", window);
  NT_CHECK(std::isfinite(threshold) && threshold >= 0, Value, "[attention.delta] threshold must be a finite number >= 0, got ",
           threshold);
  const int64_t B = q.shape[0], HQ = q.shape[1], HKV = k.shape[1], SK = k.shape[2], D = q.shape[3];
  NT_CHECK(info.dtype == nt::DType::F64 && info.ndim == 1 && info.shape[0] == 4 && info.is_contiguous(), Shape,
           "[attention.delta] info must be a contiguous f64 [4]");
  NT_CHECK(dense_f32(qhat) && qhat.ndim == 3 && qhat.shape[0] == B && qhat.shape[1] == HQ && qhat.shape[2] == D, Shape,
           "[attention.delta] qhat must be contiguous f32 [", B, ", ", HQ, ", ", D, "], got ", nt::shape_string(qhat));
  NT_CHECK(dense_f32(scores) && scores.ndim == 3 && scores.shape[0] == B && scores.shape[1] == HQ, Shape,
           "[attention.delta] scores must be contiguous f32 [", B, ", ", HQ, ", cap], got ", nt::shape_string(scores));
  const int64_t cap = scores.shape[2];
  NT_CHECK(dense_f32(kt) && kt.ndim == 4 && kt.shape[0] == B && kt.shape[1] == HKV && kt.shape[2] == D && kt.shape[3] == cap,
           Shape, "[attention.delta] kt must be contiguous f32 [", B, ", ", HKV, ", ", D, ", ", cap, "], got ",
           nt::shape_string(kt));
  NT_CHECK(cap >= SK, Shape, "[attention.delta] the state holds ", cap, " keys, the call needs ", SK);
  const double* inf = info.ptr<double>();
  const double seen = inf[0], next = inf[1];
  NT_CHECK(seen >= 0 && seen <= static_cast<double>(SK) && seen == std::floor(seen), Value,
           "[attention.delta] the state has seen ", seen, " keys, the call has ", SK, " (the cache must only grow)");
  NT_CHECK(next == -1 || next == static_cast<double>(SK - q.shape[2]), Value,
           "[attention.delta] the state continues at position ", next, ", the queries start at ", SK - q.shape[2],
           " (sk - sq)");
  return {[=] {
            nt::DeltaState st{qhat.ptr<float>(), scores.ptr<float>(), kt.ptr<float>(), cap, static_cast<int64_t>(seen),
                              static_cast<int64_t>(next)};
            const nt::DeltaCounts c = nt::delta_forward(q, k, v, out, static_cast<float>(scale), window,
                                                        static_cast<float>(threshold), st, nt::attention_kernels());
            double* o = info.ptr<double>();
            o[0] = static_cast<double>(st.seen);
            o[1] = static_cast<double>(st.next);
            o[2] = c.done;
            o[3] = c.dense;
          },
          {}};
}
