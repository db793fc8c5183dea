// Bindings of the Hessian-based compressors (native/quant/gptq.h): GPTQ, SparseGPT 2:4 and the
// streaming covariance update. Outputs are allocated by lib/quant and passed in; options are
// validated in TS and checked again here. GPTQ and SparseGPT take an optional progress callback
// (done columns, total columns) as their last argument (op.h: Progress).
#include <memory>

#include "../quant/gptq.h"
#include "op.h"

using nt::TensorView;
using nt::napi::Args;
using nt::napi::OpCall;

namespace {

nt::quant::ProgressFn progress_fn(const nt::napi::ProgressPtr& p) {
  return [p](int64_t done, int64_t total) { p->report(done, total); };
}

}  // namespace

// gptqQuantize(w, hessian, codes, scales, zeros, gIdx | null, bits, groupSize, symmetric, actOrder,
//              staticGroups, damp, blockSize, onProgress?)
NT_NAPI_OP(gptqQuantize) {
  const TensorView w = args.tensor(), h = args.tensor(), codes = args.tensor(), scales = args.tensor(),
                   zeros = args.tensor();
  TensorView gidx;
  const bool has_gidx = args.optional_tensor(&gidx);
  nt::quant::GptqOptions o;
  o.bits = args.i32();
  o.group_size = args.i64();
  o.symmetric = args.boolean();
  o.act_order = args.boolean();
  o.static_groups = args.boolean();
  o.damp = args.f64();
  o.block_size = args.i64();
  const auto progress = nt::napi::progress_arg(args);
  nt::quant::gptq_check(w, h, codes, scales, zeros, has_gidx ? &gidx : nullptr, o);
  return {[=] {
            nt::quant::gptq_run(w, h, codes, scales, zeros, has_gidx ? &gidx : nullptr, o, progress_fn(progress));
          },
          {}};
}

// sparseGpt24(w, hessian, out, damp, blockSize, onProgress?)
NT_NAPI_OP(sparseGpt24) {
  const TensorView w = args.tensor(), h = args.tensor(), out = args.tensor();
  const double damp = args.f64();
  const int64_t block = args.i64();
  const auto progress = nt::napi::progress_arg(args);
  nt::quant::sparsegpt_check(w, h, out, damp, block);
  return {[=] { nt::quant::sparsegpt_run(w, h, out, damp, block, progress_fn(progress)); }, {}};
}

// covarianceUpdate(x, gram | null, sumSq, sumAbs, symmetrize)
NT_NAPI_OP(covarianceUpdate) {
  const TensorView x = args.tensor();
  TensorView gram;
  const bool has_gram = args.optional_tensor(&gram);
  const TensorView sq = args.tensor(), ab = args.tensor();
  const bool symmetrize = args.boolean();
  nt::quant::covariance_check(x, has_gram ? &gram : nullptr, sq, ab);
  return {[=] { nt::quant::covariance_run(x, has_gram ? &gram : nullptr, sq, ab, symmetrize); }, {}};
}
