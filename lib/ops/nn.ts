// nn building blocks: softmax along an axis and RMSNorm over the last axis (f32/f64;
// f16/bf16 compute in f32). Both accept { out }, which may be x itself (in place).
import { ntError } from '../errors';
import { native } from '../native/loader';
import { normalizeAxis, shapeString } from '../shape';
import type { Tensor } from '../tensor';
import { OutOptions, OutputPlan, checkFloat, checkOptions, checkTensor, planOutput, runAsync, runSync, tensorOperand } from './common';

interface SoftmaxCall {
  x: Tensor;
  axis: number;
  plan: OutputPlan;
}

function prepareSoftmax(x: Tensor, axis: number, options: OutOptions | undefined): SoftmaxCall {
  const opts = checkOptions<OutOptions>('softmax', options);
  const t = checkTensor('softmax', x, 'x');
  checkFloat('softmax', t, 'x');
  const a = normalizeAxis('softmax', axis, t.ndim);
  return { x: t, axis: a, plan: planOutput('softmax', opts.out, t.shape, t.dtype, [tensorOperand(t)], true) };
}

/**
 * exp(x - max) / sum(exp(x - max)) along `axis` (default: the last). Numerically stable for
 * any magnitude; a row containing NaN, or whose max is +Inf, gives NaN (IEEE); a row of all
 * -Inf gives NaN (0/0) as in PyTorch.
 */
export function softmax(x: Tensor, axis = -1, opts?: OutOptions): Tensor {
  const c = prepareSoftmax(x, axis, opts);
  return runSync(c.plan, (t) => native.softmax(c.x._storage, c.x._metaArray, t._storage, t._metaArray, c.axis));
}

export async function softmaxAsync(x: Tensor, axis = -1, opts?: OutOptions): Promise<Tensor> {
  const c = prepareSoftmax(x, axis, opts);
  return runAsync(c.plan, [c.x], (t) => native.softmaxAsync(c.x._storage, c.x._metaArray, t._storage, t._metaArray, c.axis));
}

interface RmsnormCall {
  x: Tensor;
  w: Tensor;
  eps: number;
  plan: OutputPlan;
}

function prepareRmsnorm(x: Tensor, weight: Tensor, eps: number, options: OutOptions | undefined): RmsnormCall {
  const opts = checkOptions<OutOptions>('rmsnorm', options);
  const t = checkTensor('rmsnorm', x, 'x');
  const w = checkTensor('rmsnorm', weight, 'weight');
  checkFloat('rmsnorm', t, 'x');
  if (w.dtype !== t.dtype) throw ntError('NT_DTYPE', `[rmsnorm] weight must have x's dtype ${t.dtype}, got ${w.dtype}`);
  if (t.ndim < 1) throw ntError('NT_SHAPE', '[rmsnorm] x must have at least one axis, got a 0-d tensor');
  const last = t.shape[t.ndim - 1];
  if (w.ndim !== 1 || w.shape[0] !== last)
    throw ntError('NT_SHAPE', `[rmsnorm] weight must have shape [${last}] (the last extent of x ${shapeString(t.shape)}), got ${shapeString(w.shape)}`);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0)
    throw ntError('NT_VALUE', `[rmsnorm] eps must be a finite number >= 0, got ${String(eps)}`);
  const plan = planOutput('rmsnorm', opts.out, t.shape, t.dtype, [tensorOperand(t), tensorOperand(w)], true);
  return { x: t, w, eps, plan };
}

/**
 * RMSNorm over the last axis, as HF LlamaRMSNorm: y = x / sqrt(mean(x^2) + eps) * weight,
 * computed in f32 for f32/f16/bf16 (the mean of squares accumulates in f64) and in f64 for
 * f64. weight: 1-D, the last extent of x, x's dtype.
 */
export function rmsnorm(x: Tensor, weight: Tensor, eps = 1e-5, opts?: OutOptions): Tensor {
  const c = prepareRmsnorm(x, weight, eps, opts);
  return runSync(c.plan, (t) =>
    native.rmsnorm(c.x._storage, c.x._metaArray, c.w._storage, c.w._metaArray, t._storage, t._metaArray, c.eps),
  );
}

export async function rmsnormAsync(x: Tensor, weight: Tensor, eps = 1e-5, opts?: OutOptions): Promise<Tensor> {
  const c = prepareRmsnorm(x, weight, eps, opts);
  return runAsync(c.plan, [c.x, c.w], (t) =>
    native.rmsnormAsync(c.x._storage, c.x._metaArray, c.w._storage, c.w._metaArray, t._storage, t._metaArray, c.eps),
  );
}
