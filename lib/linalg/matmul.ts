// nt.matmul: C = alpha * op(A) op(B) (+ beta * out), through the packed native GEMM.
//
// Shapes: a [m, k] (or [k, m] with transA), b [k, n] (or [n, k] with transB); either may carry
// a leading batch axis, and a 2-D or batch-1 operand is broadcast over the other's batch
// (numpy rules for one batch axis). Result [m, n] or [batch, m, n].
// Dtypes: a and b share one float dtype, or a is f32 and b f16/bf16 (f32 activations times
// 16-bit weights, the Linear case). f32 and f64 compute in that dtype. A 16-bit b is never
// widened: the mixed-precision kernel reads its 2-byte values (streaming GEMV for up to 32 rows
// of a with transB, the packed f32 GEMM widening B panels as it packs them otherwise; either
// layout of b, no copy) and accumulates in f32. A 16-bit a is widened to an f32 copy first
// (activations: small). The result of any 16-bit input is f32.
// Views: transposed and sliced views go straight to the native packing when one of the last
// two axes has unit stride; any other layout is copied to a contiguous temporary first.
// NaN and Inf propagate per IEEE (they are not an error for matmul); alpha = 0 or k = 0
// gives beta * out without reading a and b (BLAS semantics).
import { isFloat } from '../dtype';
import type { DType } from '../dtype';
import { ntError } from '../errors';
import { native } from '../native/loader';
import { OutputPlan, checkOptions, checkTensor, describe, planOutput, tensorOperand } from '../ops/common';
import { shapeString } from '../shape';
import type { Tensor } from '../tensor';

export interface MatmulOptions {
  /** Use a's transpose (its last two axes swapped). */
  transA?: boolean;
  /** Use b's transpose (its last two axes swapped). */
  transB?: boolean;
  /** Write the result here (validated before anything is written) and return it. */
  out?: Tensor;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** out = alpha * op(a) op(b) + beta * out; needs `out` when nonzero (default 0: out is not read). */
  beta?: number;
}

const OP = 'matmul';

interface MatmulCall {
  a: Tensor;
  b: Tensor;
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  plan: OutputPlan;
  /** Converted or copied operands, disposed after the call. */
  temps: Tensor[];
  /** The caller's tensors, kept referenced until an async call settles. */
  keep: Tensor[];
}

function flag(v: unknown, name: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw ntError('NT_VALUE', `[${OP}] ${name} must be a boolean, got ${describe(v)}`);
  return v;
}

function scalar(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw ntError('NT_VALUE', `[${OP}] ${name} must be a finite number, got ${describe(v)}`);
  return v;
}

/** True when the native side can read the view directly: unit stride on one of its last two axes. */
function packable(t: Tensor): boolean {
  const nd = t.ndim;
  const rows = t.shape[nd - 2];
  const cols = t.shape[nd - 1];
  if (rows === 0 || cols === 0 || rows === 1 || cols === 1) return true;
  return t.strides[nd - 1] === 1 || t.strides[nd - 2] === 1;
}

function prepare(aIn: Tensor, bIn: Tensor, options: MatmulOptions | undefined): MatmulCall {
  const opts = checkOptions<MatmulOptions>(OP, options);
  const a = checkTensor(OP, aIn, 'a');
  const b = checkTensor(OP, bIn, 'b');
  for (const [t, name] of [
    [a, 'a'],
    [b, 'b'],
  ] as const) {
    if (!isFloat(t.dtype)) throw ntError('NT_DTYPE', `[${OP}] ${name} must be f32, f64, f16 or bf16, got ${t.dtype}`);
    if (t.ndim !== 2 && t.ndim !== 3)
      throw ntError('NT_SHAPE', `[${OP}] ${name} must be 2-D or 3-D, got shape ${shapeString(t.shape)}`);
  }
  const halfB = b.dtype === 'f16' || b.dtype === 'bf16';
  if (a.dtype !== b.dtype && !(a.dtype === 'f32' && halfB))
    throw ntError(
      'NT_DTYPE',
      `[${OP}] a and b must have the same dtype${halfB || a.dtype === 'f16' || a.dtype === 'bf16' ? ' (or a f32 and b f16/bf16)' : ''}, got ${a.dtype} and ${b.dtype}`,
    );
  const transA = flag(opts.transA, 'transA');
  const transB = flag(opts.transB, 'transB');
  const alpha = scalar(opts.alpha, 'alpha', 1);
  const beta = scalar(opts.beta, 'beta', 0);
  if (beta !== 0 && opts.out === undefined)
    throw ntError('NT_VALUE', `[${OP}] beta = ${beta} needs an out tensor to accumulate into`);

  const ar = a.ndim - 2;
  const br = b.ndim - 2;
  const m = transA ? a.shape[ar + 1] : a.shape[ar];
  const ka = transA ? a.shape[ar] : a.shape[ar + 1];
  const kb = transB ? b.shape[br + 1] : b.shape[br];
  const n = transB ? b.shape[br] : b.shape[br + 1];
  if (ka !== kb)
    throw ntError(
      'NT_SHAPE',
      `[${OP}] inner dimensions differ: a is ${shapeString(a.shape)}${transA ? ' (transA)' : ''}, b is ${shapeString(b.shape)}${transB ? ' (transB)' : ''}`,
    );
  const batchA = a.ndim === 3 ? a.shape[0] : 1;
  const batchB = b.ndim === 3 ? b.shape[0] : 1;
  if (batchA !== batchB && batchA !== 1 && batchB !== 1)
    throw ntError('NT_SHAPE', `[${OP}] batch dimensions differ: a is ${shapeString(a.shape)}, b is ${shapeString(b.shape)}`);
  const batched = a.ndim === 3 || b.ndim === 3;
  const outShape = batched ? [batchA === 1 ? batchB : batchA, m, n] : [m, n]; // 1 broadcasts, also to 0
  const halfA = a.dtype === 'f16' || a.dtype === 'bf16';
  const outDtype: DType = halfA || halfB ? 'f32' : a.dtype;

  const plan = planOutput(OP, opts.out, outShape, outDtype, [tensorOperand(a), tensorOperand(b)], false);
  if (beta !== 0 && plan.target !== opts.out) {
    plan.abort();
    throw ntError('NT_VALUE', `[${OP}] out overlaps a or b, which beta != 0 cannot accumulate into`);
  }
  const temps: Tensor[] = [];
  try {
    // a 16-bit a widens to f32 (a 16-bit b is read as stored); layouts without a unit stride
    // become contiguous copies
    const operand = (t: Tensor, widen: boolean): Tensor => {
      let x = t;
      if (widen) temps.push((x = x.astype('f32')));
      else if (!packable(x)) temps.push((x = x.clone()));
      return x;
    };
    return { a: operand(a, halfA), b: operand(b, false), transA, transB, alpha, beta, plan, temps, keep: [a, b] };
  } catch (e) {
    for (const t of temps) t.dispose();
    plan.abort();
    throw e;
  }
}

function release(c: MatmulCall): void {
  for (const t of c.temps) t.dispose();
}

/**
 * Matrix product alpha * op(a) op(b) (+ beta * out) of 2-D or batched 3-D tensors.
 * @example nt.matmul(x, w, { transB: true })   // x [t, d] times w [o, d] transposed: [t, o]
 */
export function matmul(a: Tensor, b: Tensor, opts?: MatmulOptions): Tensor {
  const c = prepare(a, b, opts);
  try {
    const t = c.plan.target;
    native.matmul(c.a._storage, c.a._metaArray, c.b._storage, c.b._metaArray, t._storage, t._metaArray, c.transA, c.transB, c.alpha, c.beta);
  } catch (e) {
    c.plan.abort();
    throw e;
  } finally {
    release(c);
  }
  return c.plan.finish();
}

/** matmul on a worker thread; the inputs stay referenced (and must not be disposed) until it settles. */
export async function matmulAsync(a: Tensor, b: Tensor, opts?: MatmulOptions): Promise<Tensor> {
  const c = prepare(a, b, opts);
  try {
    const t = c.plan.target;
    await native.matmulAsync(c.a._storage, c.a._metaArray, c.b._storage, c.b._metaArray, t._storage, t._metaArray, c.transA, c.transB, c.alpha, c.beta);
  } catch (e) {
    c.plan.abort();
    throw e;
  } finally {
    release(c);
    keepAlive(c.keep);
  }
  return c.plan.finish();
}

let sink: unknown;
function keepAlive(values: readonly unknown[]): void {
  sink = values;
  sink = undefined;
}
