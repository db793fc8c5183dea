// nt.quant.sparseGpt24: SparseGPT (Frantar & Alistarh, 2023) with the 2:4 pattern — in every 4
// consecutive input columns of each row, 2 weights become 0 (native/quant/sparsegpt.cc). The
// same blocked OBS sweep as GPTQ (./gptq.ts): when the sweep reaches a group of 4, each row
// prunes the 2 weights with the smallest w²/[H⁻¹]_jj (on the weights as updated so far; ties
// prune the higher column), and the pruning error is spread over the columns not yet visited,
// so the kept weights compensate. nt.quant.prune24(w, { method: 'sparsegpt', hessian })
// dispatches here. Dead inputs (H_jj = 0) are pruned to 0 like the reference does.
import { ntError } from '../errors';
import { native } from '../native/loader';
import { checkOptions } from '../ops/common';
import { Tensor } from '../tensor';
import { HessianOptions, ProgressCallback, keep, resolveHessianOptions } from './gptq';
import { checkWeight } from './options';

const OP = 'quant.sparseGpt24';

export interface SparseGpt24Options {
  /** H = 2XᵀX/n [cols, cols] of the layer's inputs (any float dtype, symmetric, finite). */
  hessian: Tensor;
  /** Dampening as a fraction of mean(diag H) (default 0.01; in [0, 1]); grows by 0.01 on failure. */
  damp?: number;
  /** Columns per lazy-update block (default 128). */
  blockSize?: number;
  /** Progress in columns; runs on the JS thread (in the Async form: before the promise settles). */
  onProgress?: ProgressCallback;
}

interface Plan {
  w: Tensor;
  h: HessianOptions;
  out: Tensor;
}

function prepare(op: string, w: Tensor, opts: SparseGpt24Options): Plan {
  checkWeight(op, w);
  const o = checkOptions<SparseGpt24Options>(op, opts);
  if (w.shape[1] % 4 !== 0) throw ntError('NT_SHAPE', `[${op}] w must have a multiple of 4 columns, got [${w.shape}]`);
  const h = resolveHessianOptions(op, w, o);
  return { w, h, out: Tensor._empty(op, w.shape, w.dtype) };
}

function args(p: Plan) {
  return [
    p.w._storage, p.w._metaArray,
    p.h.hessian._storage, p.h.hessian._metaArray,
    p.out._storage, p.out._metaArray,
    p.h.damp, p.h.blockSize, p.h.onProgress,
  ] as const;
}

/** sparseGpt24 reporting argument errors under `op` (nt.quant.prune24 passes its own name). */
export function sparseGpt24As(op: string, w: Tensor, opts: SparseGpt24Options): Tensor {
  const p = prepare(op, w, opts);
  try {
    native.sparseGpt24(...args(p));
  } catch (e) {
    p.out.dispose();
    throw e;
  }
  return p.out;
}

export async function sparseGpt24AsyncAs(op: string, w: Tensor, opts: SparseGpt24Options): Promise<Tensor> {
  const p = prepare(op, w, opts);
  try {
    await native.sparseGpt24Async(...args(p));
  } catch (e) {
    p.out.dispose();
    throw e;
  } finally {
    keep([w, p.h.hessian]);
  }
  return p.out;
}

/**
 * w [rows, cols] (any float dtype and strides, finite, cols % 4 === 0) pruned to 2:4 by
 * SparseGPT: a new contiguous tensor of w's dtype and shape (computed in f32). Errors: NT_SHAPE
 * (cols % 4, hessian shape), NT_VALUE (options, NaN/Inf, negative diag H), NT_DTYPE,
 * NT_DISPOSED, NT_NUMERIC (H + damping never positive definite).
 */
export function sparseGpt24(w: Tensor, opts: SparseGpt24Options): Tensor {
  return sparseGpt24As(OP, w, opts);
}

/** sparseGpt24 on a worker thread (argument errors reject). */
export function sparseGpt24Async(w: Tensor, opts: SparseGpt24Options): Promise<Tensor> {
  return sparseGpt24AsyncAs(OP, w, opts);
}
