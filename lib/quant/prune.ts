// nt.quant.prune24: 2:4 structured sparsity along the input dimension. In every 4 consecutive
// columns of each row, the 2 weights with the lowest score become 0:
//   'magnitude'  score |W_ij|
//   'wanda'      score |W_ij| · ‖X_j‖₂ (inputNorms [cols], e.g. covariance.inputNorms())
//   'sparsegpt'  OBS-style pruning with H⁻¹ updates of the kept weights (./sparsegpt.ts)
// Magnitude and Wanda run natively (one row per thread), compare scores in f64, break ties
// toward the lower column and copy kept weights bit for bit. The result is a new contiguous
// tensor of w's dtype and shape.
import { ntError } from '../errors';
import { isFloat } from '../dtype';
import { native } from '../native/loader';
import { checkOptions, describe } from '../ops/common';
import { Tensor } from '../tensor';
import type { ProgressCallback } from './gptq';
import { checkWeight } from './options';
import { sparseGpt24AsyncAs, sparseGpt24As } from './sparsegpt';

const OP = 'quant.prune24';

export interface Prune24Options {
  /** Default 'magnitude'. */
  method?: 'magnitude' | 'wanda' | 'sparsegpt';
  /** Wanda: ‖X_j‖₂ per input column [cols] (any float dtype). */
  inputNorms?: Tensor;
  /** SparseGPT: H = 2XᵀX/n [cols, cols]. */
  hessian?: Tensor;
  /** SparseGPT: dampening (fraction of mean diag H, default 0.01). */
  damp?: number;
  /** SparseGPT: columns per block (default 128). */
  blockSize?: number;
  /** SparseGPT: progress in columns (on the JS thread). */
  onProgress?: ProgressCallback;
}

interface Plan {
  w: Tensor;
  norms: Tensor | null;
  method: 'magnitude' | 'wanda' | 'sparsegpt';
  opts: Prune24Options;
}

function prepare(w: Tensor, options: Prune24Options | undefined): Plan {
  checkWeight(OP, w);
  const opts = checkOptions<Prune24Options>(OP, options);
  const method = opts.method ?? 'magnitude';
  if (method !== 'magnitude' && method !== 'wanda' && method !== 'sparsegpt')
    throw ntError('NT_VALUE', `[${OP}] method must be 'magnitude', 'wanda' or 'sparsegpt', got ${describe(method)}`);
  const cols = w.shape[1];
  if (cols % 4 !== 0) throw ntError('NT_SHAPE', `[${OP}] w must have a multiple of 4 columns, got [${w.shape}]`);
  const misplaced = (key: keyof Prune24Options, owner: string) => {
    if (opts[key] !== undefined) throw ntError('NT_VALUE', `[${OP}] ${key} is only used by method '${owner}'`);
  };
  if (method !== 'wanda') misplaced('inputNorms', 'wanda');
  if (method !== 'sparsegpt') for (const k of ['hessian', 'damp', 'blockSize', 'onProgress'] as const) misplaced(k, 'sparsegpt');
  let norms: Tensor | null = null;
  if (method === 'wanda') {
    const n = opts.inputNorms;
    if (n === undefined) throw ntError('NT_VALUE', `[${OP}] method 'wanda' needs inputNorms (‖X_j‖₂, [${cols}])`);
    if (!(n instanceof Tensor)) throw ntError('NT_VALUE', `[${OP}] inputNorms must be a Tensor, got ${describe(n)}`);
    n._check(OP, 'inputNorms');
    if (!isFloat(n.dtype)) throw ntError('NT_DTYPE', `[${OP}] inputNorms must be f32, f64, f16 or bf16, got ${n.dtype}`);
    if (n.ndim !== 1 || n.shape[0] !== cols)
      throw ntError('NT_SHAPE', `[${OP}] inputNorms must have shape [${cols}], got [${n.shape}]`);
    norms = n;
  }
  return { w, norms, method, opts };
}

function args(p: Plan, out: Tensor) {
  return [
    p.w._storage, p.w._metaArray,
    p.norms ? p.norms._storage : null, p.norms ? p.norms._metaArray : null,
    out._storage, out._metaArray,
  ] as const;
}

/** w with exactly 2 of every 4 consecutive input columns zeroed per row (cols % 4 === 0). */
export function prune24(w: Tensor, opts?: Prune24Options): Tensor {
  const p = prepare(w, opts);
  if (p.method === 'sparsegpt') return sparseGptDispatch(p);
  const out = Tensor._empty(OP, w.shape, w.dtype);
  try {
    native.quantPrune24(...args(p, out));
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

export async function prune24Async(w: Tensor, opts?: Prune24Options): Promise<Tensor> {
  const p = prepare(w, opts);
  if (p.method === 'sparsegpt') return sparseGptDispatchAsync(p);
  const out = Tensor._empty(OP, w.shape, w.dtype);
  try {
    await native.quantPrune24Async(...args(p, out));
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    keep([w, p.norms]);
  }
  return out;
}

let sink: unknown;
function keep(v: unknown): void {
  sink = v;
  sink = undefined;
}

function sparseGptOptions(p: Plan) {
  const { hessian, damp, blockSize, onProgress } = p.opts;
  return { hessian: hessian as Tensor, damp, blockSize, onProgress };
}
function sparseGptDispatch(p: Plan): Tensor {
  return sparseGpt24As(OP, p.w, sparseGptOptions(p));
}
function sparseGptDispatchAsync(p: Plan): Promise<Tensor> {
  return sparseGpt24AsyncAs(OP, p.w, sparseGptOptions(p));
}
