// Typed wrappers of the native optimizer step kernels (native/optim/optim.h), for the optimizer
// classes in lib/llm/optim (which must not call the native module directly). Not part of the
// public nt.* surface: every state tensor here is owned by an optimizer. Each wrapper checks
// dtypes, contiguity, extents and disposal first (so a failed call writes nothing), then runs
// the in-place native step.
import { ntError } from '../errors';
import { native } from '../native/loader';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';
import { checkTensor } from './common';

/** Adam constants of one step; step is t >= 1 (bias corrections 1 - beta^t). */
export interface AdamStepHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

/** Quantized moments of 8-bit Adam: codes u8 [n], absmax f32 [ceil(n / blockSize)]. */
export interface Adam8bitMoments {
  mCodes: Tensor;
  mAbsmax: Tensor;
  vCodes: Tensor;
  vAbsmax: Tensor;
  blockSize: number;
}

/** A contiguous tensor of the given dtype (NT_VALUE, NT_DISPOSED, NT_DTYPE, NT_VALUE for strided). */
export function checkStateTensor(op: string, t: unknown, arg: string, dtype: 'f32' | 'u8' = 'f32'): Tensor {
  const x = checkTensor(op, t, arg);
  if (x.dtype !== dtype) throw ntError('NT_DTYPE', `[${op}] ${arg} must be ${dtype}, got ${x.dtype}`);
  if (!x.isContiguous) throw ntError('NT_VALUE', `[${op}] ${arg} must be contiguous, got a strided view ${shapeString(x.shape)}`);
  return x;
}

function checkSize(op: string, t: Tensor, arg: string, n: number): void {
  if (t.size !== n) throw ntError('NT_SHAPE', `[${op}] ${arg} must have ${n} elements, got ${t.size} (shape ${shapeString(t.shape)})`);
}

function checkBlock(op: string, blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 2048)
    throw ntError('NT_VALUE', `[${op}] blockSize must be an integer in [1, 2048], got ${String(blockSize)}`);
}

/** Number of quantization blocks (absmax entries) of n elements. */
export function blockCount(n: number, blockSize: number): number {
  return Math.ceil(n / blockSize);
}

/**
 * One Adam/AdamW step over target, grad, m, v (f32, contiguous, equal sizes), in place:
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; u = (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps);
 * direction false: target = target (1 - lr wd) - lr u (decoupled weight decay); true: target = u.
 */
export function adamStep(target: Tensor, grad: Tensor, m: Tensor, v: Tensor, h: AdamStepHyper, direction = false): void {
  const op = 'optim.adamStep';
  const t = checkStateTensor(op, target, 'target');
  const g = checkStateTensor(op, grad, 'grad');
  const mm = checkStateTensor(op, m, 'm');
  const vv = checkStateTensor(op, v, 'v');
  for (const [x, name] of [[t, 'target'], [mm, 'm'], [vv, 'v']] as const) checkSize(op, x, name, g.size);
  native.optimAdamStep(t._storage, t._metaArray, g._storage, g._metaArray, mm._storage, mm._metaArray, vv._storage, vv._metaArray,
    h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.step, direction);
}

/** adamStep with both moments block-quantized to the dynamic 8-bit maps (signed m, unsigned v). */
export function adam8bitStep(target: Tensor, grad: Tensor, s: Adam8bitMoments, h: AdamStepHyper, direction = false): void {
  const op = 'optim.adam8bitStep';
  checkBlock(op, s.blockSize);
  const t = checkStateTensor(op, target, 'target');
  const g = checkStateTensor(op, grad, 'grad');
  const mq = checkStateTensor(op, s.mCodes, 'mCodes', 'u8');
  const vq = checkStateTensor(op, s.vCodes, 'vCodes', 'u8');
  const ma = checkStateTensor(op, s.mAbsmax, 'mAbsmax');
  const va = checkStateTensor(op, s.vAbsmax, 'vAbsmax');
  for (const [x, name] of [[t, 'target'], [mq, 'mCodes'], [vq, 'vCodes']] as const) checkSize(op, x, name, g.size);
  checkSize(op, ma, 'mAbsmax', blockCount(g.size, s.blockSize));
  checkSize(op, va, 'vAbsmax', blockCount(g.size, s.blockSize));
  native.optimAdam8bitStep(t._storage, t._metaArray, g._storage, g._metaArray, mq._storage, mq._metaArray, ma._storage, ma._metaArray,
    vq._storage, vq._metaArray, va._storage, va._metaArray, s.blockSize, h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.step, direction);
}

/** Fresh zero 8-bit moments for n elements (absmax 0 dequantizes every code to 0). */
export function zeroAdam8bitMoments(op: string, n: number, blockSize: number): Adam8bitMoments {
  checkBlock(op, blockSize);
  const nb = blockCount(n, blockSize);
  return {
    mCodes: Tensor._empty(op, [n], 'u8'),
    mAbsmax: Tensor._empty(op, [nb], 'f32'),
    vCodes: Tensor._empty(op, [n], 'u8'),
    vAbsmax: Tensor._empty(op, [nb], 'f32'),
    blockSize,
  };
}

/** Block-wise dynamic 8-bit quantization of an f32 tensor: codes u8 [n], absmax f32 [blocks]. */
export function quantizeDynamic(x: Tensor, opts: { signed: boolean; blockSize: number }): { codes: Tensor; absmax: Tensor } {
  const op = 'optim.quantizeDynamic';
  checkBlock(op, opts.blockSize);
  const t = checkStateTensor(op, x, 'x');
  const codes = Tensor._empty(op, [t.size], 'u8');
  const absmax = Tensor._empty(op, [blockCount(t.size, opts.blockSize)], 'f32');
  try {
    native.optimQuantize(t._storage, t._metaArray, codes._storage, codes._metaArray, absmax._storage, absmax._metaArray, opts.blockSize, opts.signed);
  } catch (e) {
    codes.dispose();
    absmax.dispose();
    throw e;
  }
  return { codes, absmax };
}

/** Inverse of quantizeDynamic: code value x absmax, f32 [n]. */
export function dequantizeDynamic(codes: Tensor, absmax: Tensor, opts: { signed: boolean; blockSize: number }): Tensor {
  const op = 'optim.dequantizeDynamic';
  checkBlock(op, opts.blockSize);
  const c = checkStateTensor(op, codes, 'codes', 'u8');
  const a = checkStateTensor(op, absmax, 'absmax');
  checkSize(op, a, 'absmax', blockCount(c.size, opts.blockSize));
  const out = Tensor._empty(op, [c.size], 'f32');
  try {
    native.optimDequantize(c._storage, c._metaArray, a._storage, a._metaArray, out._storage, out._metaArray, opts.blockSize, opts.signed);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

/** The 256 sorted values of the signed ([-1, 1]) or unsigned ([0, 1]) dynamic map. */
export function dynamicCode(signed: boolean): Float32Array {
  const out = Tensor._empty('optim.dynamicCode', [256], 'f32');
  try {
    native.optimDynamicCode(out._storage, out._metaArray, signed);
    return Float32Array.from(out.data as Float32Array);
  } finally {
    out.dispose();
  }
}

function checkWeightNorm(op: string, w: Tensor, g: Tensor, s: Tensor): [Tensor, Tensor, Tensor] {
  const ww = checkStateTensor(op, w, 'param');
  if (ww.ndim !== 2) throw ntError('NT_SHAPE', `[${op}] param must be 2-D, got shape ${shapeString(ww.shape)}`);
  const gg = checkStateTensor(op, g, 'g');
  const ss = checkStateTensor(op, s, 's');
  checkSize(op, gg, 'g', ww.shape[0]);
  checkSize(op, ss, 's', ww.shape[0]);
  return [ww, gg, ss];
}

/** Weight-norm state of W [rows, cols]: s = g = sqrt(sum_row W^2 + eps) (so V = W). */
export function weightNormInit(w: Tensor, eps: number): { g: Tensor; s: Tensor } {
  const op = 'optim.weightNormInit';
  const ww = checkStateTensor(op, w, 'param');
  if (ww.ndim !== 2) throw ntError('NT_SHAPE', `[${op}] param must be 2-D, got shape ${shapeString(ww.shape)}`);
  const g = Tensor._empty(op, [ww.shape[0]], 'f32');
  const s = Tensor._empty(op, [ww.shape[0]], 'f32');
  native.optimWeightNormInit(ww._storage, ww._metaArray, g._storage, g._metaArray, s._storage, s._metaArray, eps);
  return { g, s };
}

/**
 * Gradients of the weight-norm factors from dL/dW = grad (W = g V / ||V||, V̂ = W / g):
 * dg = sum_row(grad ⊙ V̂), dV = (g / s)(grad - (V̂·grad)_row V̂). Writes into dV [rows, cols], dg [rows].
 */
export function weightNormGrad(w: Tensor, g: Tensor, s: Tensor, grad: Tensor, dV: Tensor, dg: Tensor): void {
  const op = 'optim.weightNormGrad';
  const [ww, gg, ss] = checkWeightNorm(op, w, g, s);
  const G = checkStateTensor(op, grad, 'grad');
  const dv = checkStateTensor(op, dV, 'dV');
  const dgg = checkStateTensor(op, dg, 'dg');
  checkSize(op, G, 'grad', ww.size);
  checkSize(op, dv, 'dV', ww.size);
  checkSize(op, dgg, 'dg', ww.shape[0]);
  const v2 = (t: Tensor) => t._view(ww.shape, ww.strides, t.offset);
  const Gv = v2(G);
  const dvv = v2(dv);
  try {
    native.optimWeightNormGrad(ww._storage, ww._metaArray, gg._storage, gg._metaArray, ss._storage, ss._metaArray,
      Gv._storage, Gv._metaArray, dvv._storage, dvv._metaArray, dgg._storage, dgg._metaArray);
  } finally {
    Gv.dispose();
    dvv.dispose();
  }
}

/**
 * Weight-norm update in place: V = s W / g; V' = V (1 - lr wd) - lr scale uV; g' = g (1 - lr wd) - lr ug;
 * s' = sqrt(sum V'^2 + eps); W = g' V' / s'.
 */
export function weightNormApply(
  w: Tensor, g: Tensor, s: Tensor, uV: Tensor, ug: Tensor,
  h: { lr: number; scale: number; weightDecay: number; eps: number },
): void {
  const op = 'optim.weightNormApply';
  const [ww, gg, ss] = checkWeightNorm(op, w, g, s);
  const u = checkStateTensor(op, uV, 'uV');
  const ugg = checkStateTensor(op, ug, 'ug');
  checkSize(op, u, 'uV', ww.size);
  checkSize(op, ugg, 'ug', ww.shape[0]);
  const uv = u._view(ww.shape, ww.strides, u.offset);
  try {
    native.optimWeightNormApply(ww._storage, ww._metaArray, gg._storage, gg._metaArray, ss._storage, ss._metaArray,
      uv._storage, uv._metaArray, ugg._storage, ugg._metaArray, h.lr, h.scale, h.weightDecay, h.eps);
  } finally {
    uv.dispose();
  }
}

/** p = p (1 - lr wd) - lr scale u (f32, contiguous, equal sizes), in place. */
export function scaledUpdate(p: Tensor, u: Tensor, h: { lr: number; scale: number; weightDecay: number }): void {
  const op = 'optim.scaledUpdate';
  const pp = checkStateTensor(op, p, 'param');
  const uu = checkStateTensor(op, u, 'update');
  checkSize(op, uu, 'update', pp.size);
  native.optimScaledUpdate(pp._storage, pp._metaArray, uu._storage, uu._metaArray, h.lr, h.scale, h.weightDecay);
}
