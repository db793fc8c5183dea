// nt.quant.gptq: GPTQ (Frantar et al., 2022) into a QTensor on the shared group grid
// (native/quant/gptq.cc, ALGORITHMS.md §2). Columns are quantized one at a time, in blocks of
// blockSize with lazy batch updates; each column's rounding error is spread over the columns
// not yet quantized through the upper Cholesky factor of (H + damp·mean(diag H)·I)⁻¹, which
// minimises ‖(W − Ŵ)Xᵀ‖_F far better than rounding to nearest. H = 2XᵀX/n comes from
// nt.llm.covariance(...).hessian(); any positive multiple of it (e.g. covariance.mean()) gives
// the same result up to rounding, since both the updates and the damping are scale-free.
//   - Inputs with H_jj = 0 (never active) are dead: their weights quantize as 0.
//   - When the Cholesky factorization fails, damp grows by 0.01, up to 10 times; then NT_NUMERIC.
//   - actOrder visits columns by descending diag H. Without staticGroups a group is a run of
//     groupSize visited columns and the QTensor carries gIdx (the group of each column); with
//     staticGroups every grid is fixed from W before the sweep, groups stay contiguous, no gIdx.
//   - Dynamic grids (the default) come from each group's weights as updated by the columns
//     already quantized, when the sweep reaches the group.
// Options are those of nt.quant.quantize (./options.ts) plus the GPTQ ones below.
import { isFloat } from '../dtype';
import { ntError } from '../errors';
import { native } from '../native/loader';
import { describe } from '../ops/common';
import { Tensor } from '../tensor';
import { QuantOptions, ResolvedQuantOptions, resolveQuantOptions } from './options';
import { QTensor } from './qtensor';

const OP = 'quant.gptq';

/** (columns done, total columns), called after each block of columns and once at the end. */
export type ProgressCallback = (done: number, total: number) => void;

export interface GptqOptions extends QuantOptions {
  /** H = 2XᵀX/n [cols, cols] of the layer's inputs (any float dtype, symmetric, finite). */
  hessian: Tensor;
  /** Visit columns by descending diag H (default false). */
  actOrder?: boolean;
  /** Fix every group's grid from W before the sweep (default false); with actOrder: no gIdx. */
  staticGroups?: boolean;
  /** Dampening: damp · mean(diag H) is added to the diagonal (default 0.01; in [0, 1]). */
  damp?: number;
  /** Columns per lazy-update block (default 128). */
  blockSize?: number;
  /** Progress in columns; runs on the JS thread (in the Async form: before the promise settles). */
  onProgress?: ProgressCallback;
}

/** The GPTQ-specific options, validated (shared with SparseGPT). */
export interface HessianOptions {
  hessian: Tensor;
  damp: number;
  blockSize: number;
  onProgress: ProgressCallback | undefined;
}

/** Checks hessian ([cols, cols], live, float), damp, blockSize and onProgress of opts. */
export function resolveHessianOptions(op: string, w: Tensor, opts: Partial<GptqOptions>): HessianOptions {
  const cols = w.shape[1];
  const h = opts.hessian;
  if (h === undefined) throw ntError('NT_VALUE', `[${op}] needs hessian (H = 2XᵀX/n, [${cols}, ${cols}])`);
  if (!(h instanceof Tensor)) throw ntError('NT_VALUE', `[${op}] hessian must be a Tensor, got ${describe(h)}`);
  h._check(op, 'hessian');
  if (!isFloat(h.dtype)) throw ntError('NT_DTYPE', `[${op}] hessian must be f32, f64, f16 or bf16, got ${h.dtype}`);
  if (h.ndim !== 2 || h.shape[0] !== cols || h.shape[1] !== cols)
    throw ntError('NT_SHAPE', `[${op}] hessian must have shape [${cols}, ${cols}] for w of shape [${w.shape}], got [${h.shape}]`);
  const damp = opts.damp ?? 0.01;
  if (typeof damp !== 'number' || !(damp >= 0 && damp <= 1))
    throw ntError('NT_VALUE', `[${op}] damp must be a number in [0, 1], got ${describe(damp)}`);
  const blockSize = opts.blockSize ?? 128;
  if (typeof blockSize !== 'number' || !Number.isInteger(blockSize) || blockSize < 1 || blockSize > 2 ** 31 - 1)
    throw ntError('NT_VALUE', `[${op}] blockSize must be a positive integer, got ${describe(blockSize)}`);
  const onProgress = opts.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw ntError('NT_VALUE', `[${op}] onProgress must be a function, got ${describe(onProgress)}`);
  return { hessian: h, damp, blockSize, onProgress };
}

function boolOption(op: string, name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw ntError('NT_VALUE', `[${op}] ${name} must be a boolean, got ${describe(v)}`);
  return v;
}

interface Plan {
  w: Tensor;
  r: ResolvedQuantOptions;
  h: HessianOptions;
  actOrder: boolean;
  staticGroups: boolean;
  q: QTensor;
}

function prepare(op: string, w: Tensor, r: ResolvedQuantOptions, opts: Partial<GptqOptions>): Plan {
  const h = resolveHessianOptions(op, w, opts);
  const actOrder = boolOption(op, 'actOrder', opts.actOrder);
  const staticGroups = boolOption(op, 'staticGroups', opts.staticGroups);
  const [rows, cols] = w.shape;
  const groups = Math.ceil(cols / r.groupSize);
  const made: Tensor[] = [];
  try {
    made.push(Tensor._empty(op, [rows, QTensor.codeRowBytes(cols, r.bits)], 'u8'));
    made.push(Tensor._empty(op, [rows, groups], r.scaleDtype));
    made.push(Tensor._empty(op, [rows, groups], 'u8'));
    if (actOrder && !staticGroups) made.push(Tensor._empty(op, [cols], 'i32'));
    const [codes, scales, zeros, gIdx] = made;
    const q = new QTensor({ codes, scales, zeros, gIdx: gIdx ?? null, shape: [rows, cols], bits: r.bits, groupSize: r.groupSize, symmetric: r.symmetric });
    return { w, r, h, actOrder, staticGroups, q };
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}

function args(p: Plan) {
  const { w, r, h, q } = p;
  return [
    w._storage, w._metaArray,
    h.hessian._storage, h.hessian._metaArray,
    q.codes._storage, q.codes._metaArray,
    q.scales._storage, q.scales._metaArray,
    q.zeros._storage, q.zeros._metaArray,
    q.gIdx ? q.gIdx._storage : null, q.gIdx ? q.gIdx._metaArray : null,
    r.bits, r.groupSize, r.symmetric, p.actOrder, p.staticGroups, h.damp, h.blockSize, h.onProgress,
  ] as const;
}

/**
 * GPTQ with options already resolved by resolveQuantOptions (for nt.quant.quantize's method
 * 'gptq'); `op` names the caller in argument errors.
 */
export function gptqResolved(op: string, w: Tensor, r: ResolvedQuantOptions, opts: Partial<GptqOptions>): QTensor {
  const p = prepare(op, w, r, opts);
  try {
    native.gptqQuantize(...args(p));
  } catch (e) {
    p.q.dispose();
    throw e;
  }
  return p.q;
}

/** gptqResolved on a worker thread. */
export async function gptqResolvedAsync(op: string, w: Tensor, r: ResolvedQuantOptions, opts: Partial<GptqOptions>): Promise<QTensor> {
  const p = prepare(op, w, r, opts);
  try {
    await native.gptqQuantizeAsync(...args(p));
  } catch (e) {
    p.q.dispose();
    throw e;
  } finally {
    keep([w, p.h.hessian]);
  }
  return p.q;
}

/**
 * Quantizes w [rows = d_out, cols = d_in] (any float dtype, any strides, finite) with GPTQ.
 * Errors: NT_VALUE (options, NaN/Inf in w or hessian, negative diag H), NT_SHAPE (hessian not
 * [cols, cols]), NT_DTYPE, NT_DISPOSED, NT_NUMERIC (H + damping never positive definite).
 */
export function gptq(w: Tensor, opts: GptqOptions): QTensor {
  return gptqResolved(OP, w, resolveQuantOptions(OP, w, opts), opts ?? {});
}

/** gptq on a worker thread (argument errors reject); onProgress reports arrive before it resolves. */
export async function gptqAsync(w: Tensor, opts: GptqOptions): Promise<QTensor> {
  return gptqResolvedAsync(OP, w, resolveQuantOptions(OP, w, opts), opts ?? {});
}

let sink: unknown;
/** Keeps the JS objects alive until the async call settled (the addon pins the storages too). */
export function keep(v: unknown): void {
  sink = v;
  sink = undefined;
}
