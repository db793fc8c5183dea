// exp, log, sqrt, silu, gelu on f32/f64 (f16/bf16 compute in f32). IEEE semantics:
// exp(-inf) = 0, log(0) = -inf, log(x < 0) = NaN, sqrt(x < 0) = NaN, NaN propagates;
// silu(-inf) and gelu(-inf) are NaN (-inf * 0, as PyTorch evaluates them).
// Accuracy of the f32 SIMD paths vs the exact value: exp, log <= 2 ulp; sqrt exact (log is
// vectorised too, Cephes-style); silu <= 4 ulp; gelu (erf form) <= 10 ulp; gelu tanh form
// <= 5 ulp. f64 uses the C library (correctly rounded or within 1 ulp).
import { ntError } from '../errors';
import { native } from '../native/loader';
import type { Tensor } from '../tensor';
import { OutOptions, OutputPlan, checkFloat, checkOptions, checkTensor, planOutput, runAsync, runSync, tensorOperand } from './common';

type UnaryName = 'exp' | 'log' | 'sqrt' | 'silu' | 'gelu';

export interface GeluOptions extends OutOptions {
  /** 'none' (default): 0.5 x (1 + erf(x / sqrt 2)); 'tanh': the tanh approximation. */
  approximate?: 'none' | 'tanh';
}

interface UnaryCall {
  x: Tensor;
  plan: OutputPlan;
  tanh: boolean;
}

function prepare(op: UnaryName, x: Tensor, options: GeluOptions | undefined): UnaryCall {
  const opts = checkOptions<GeluOptions>(op, options);
  const t = checkTensor(op, x, 'x');
  checkFloat(op, t, 'x');
  let tanh = false;
  if (op === 'gelu') {
    const a = opts.approximate ?? 'none';
    if (a !== 'none' && a !== 'tanh')
      throw ntError('NT_VALUE', `[gelu] approximate must be 'none' or 'tanh', got ${String(a)}`);
    tanh = a === 'tanh';
  }
  const plan = planOutput(op, opts.out, t.shape, t.dtype, [tensorOperand(t)], true);
  return { x: t, plan, tanh };
}

function unary(op: UnaryName, x: Tensor, opts?: GeluOptions): Tensor {
  const c = prepare(op, x, opts);
  return runSync(c.plan, (t) =>
    op === 'gelu'
      ? native.gelu(c.x._storage, c.x._metaArray, t._storage, t._metaArray, c.tanh)
      : native[op](c.x._storage, c.x._metaArray, t._storage, t._metaArray),
  );
}

async function unaryAsync(op: UnaryName, x: Tensor, opts?: GeluOptions): Promise<Tensor> {
  const c = prepare(op, x, opts);
  return runAsync(c.plan, [c.x], (t) =>
    op === 'gelu'
      ? native.geluAsync(c.x._storage, c.x._metaArray, t._storage, t._metaArray, c.tanh)
      : native[`${op}Async`](c.x._storage, c.x._metaArray, t._storage, t._metaArray),
  );
}

/** e^x elementwise. */
export function exp(x: Tensor, opts?: OutOptions): Tensor {
  return unary('exp', x, opts);
}
/** Natural logarithm elementwise. */
export function log(x: Tensor, opts?: OutOptions): Tensor {
  return unary('log', x, opts);
}
/** Square root elementwise (correctly rounded). */
export function sqrt(x: Tensor, opts?: OutOptions): Tensor {
  return unary('sqrt', x, opts);
}
/** x * sigmoid(x) elementwise (SiLU / swish). */
export function silu(x: Tensor, opts?: OutOptions): Tensor {
  return unary('silu', x, opts);
}
/** GELU: the exact erf form, or the tanh approximation with { approximate: 'tanh' }. */
export function gelu(x: Tensor, opts?: GeluOptions): Tensor {
  return unary('gelu', x, opts);
}

export function expAsync(x: Tensor, opts?: OutOptions): Promise<Tensor> {
  return unaryAsync('exp', x, opts);
}
export function logAsync(x: Tensor, opts?: OutOptions): Promise<Tensor> {
  return unaryAsync('log', x, opts);
}
export function sqrtAsync(x: Tensor, opts?: OutOptions): Promise<Tensor> {
  return unaryAsync('sqrt', x, opts);
}
export function siluAsync(x: Tensor, opts?: OutOptions): Promise<Tensor> {
  return unaryAsync('silu', x, opts);
}
export function geluAsync(x: Tensor, opts?: GeluOptions): Promise<Tensor> {
  return unaryAsync('gelu', x, opts);
}
