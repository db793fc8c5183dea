// Rotary position embedding as Hugging Face LLaMA applies it (rotate_half convention):
// for x [..., seq, d] and positions p = positionOffset + i along axis -2, h = d / 2,
//   out[..., i]     = x[..., i] cos(p f_i) - x[..., i + h] sin(p f_i)
//   out[..., i + h] = x[..., i + h] cos(p f_i) + x[..., i] sin(p f_i)
// with inverse frequencies f_i = theta^(-2i/d) (or invFreq, e.g. llama3-scaled ones).
// f32/f16/bf16 compute in f32 with HF's roundings (f32 angle, f32 cos/sin); f64 in f64.
// Strided views are fine (e.g. [1, heads, seq, d] views of a [seq, heads * d] projection).
import { ntError } from '../errors';
import { native } from '../native/loader';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';
import { OutOptions, OutputPlan, checkFloat, checkOptions, checkTensor, describe, planOutput, runAsync, runSync, tensorOperand } from './common';

const OP = 'rope';

export interface RopeOptions extends OutOptions {
  /** Base of the default frequencies theta^(-2i/d) (default 10000). Ignored when invFreq is given. */
  theta?: number;
  /** Inverse frequencies, f32 or f64 [d / 2] (e.g. with llama3 or linear rope scaling applied). */
  invFreq?: Tensor;
  /** Position of the first row along axis -2 (default 0): a decode step passes the cache length. */
  positionOffset?: number;
}

/**
 * HF's default inverse frequencies 1 / theta^(2i/d), i < d/2, evaluated in f32 as
 * LlamaRotaryEmbedding does (f32 exponent, f32 power, f32 reciprocal).
 */
export function ropeInverseFrequencies(d: number, theta = 10000): Float32Array {
  if (!Number.isInteger(d) || d < 2 || d % 2 !== 0) throw ntError('NT_VALUE', `[rope] d must be an even integer >= 2, got ${describe(d)}`);
  if (typeof theta !== 'number' || !Number.isFinite(theta) || theta <= 0)
    throw ntError('NT_VALUE', `[rope] theta must be a finite number > 0, got ${describe(theta)}`);
  const f = new Float32Array(d / 2);
  for (let i = 0; i < d / 2; ++i) f[i] = Math.fround(1 / Math.fround(Math.pow(Math.fround(theta), Math.fround((2 * i) / d))));
  return f;
}

interface RopeCall {
  x: Tensor;
  inv: Tensor;
  ownInv: boolean;
  offset: number;
  plan: OutputPlan;
}

function prepare(x: Tensor, options: RopeOptions | undefined): RopeCall {
  const opts = checkOptions<RopeOptions>(OP, options);
  const t = checkTensor(OP, x, 'x');
  checkFloat(OP, t, 'x');
  if (t.ndim < 2) throw ntError('NT_SHAPE', `[${OP}] x must be [..., seq, d] (at least 2-D), got ${shapeString(t.shape)}`);
  const d = t.shape[t.ndim - 1];
  if (d % 2 !== 0) throw ntError('NT_SHAPE', `[${OP}] the last extent d of x must be even, got ${d} (x ${shapeString(t.shape)})`);
  const offset = opts.positionOffset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw ntError('NT_VALUE', `[${OP}] positionOffset must be an integer >= 0, got ${describe(offset)}`);
  if (offset + t.shape[t.ndim - 2] > 2 ** 24)
    throw ntError('NT_VALUE', `[${OP}] positions must stay below 2^24 (exact in f32), got offset ${offset} + seq ${t.shape[t.ndim - 2]}`);
  let inv: Tensor;
  let ownInv = false;
  if (opts.invFreq !== undefined) {
    inv = checkTensor(OP, opts.invFreq, 'invFreq');
    if (inv.dtype !== 'f32' && inv.dtype !== 'f64') throw ntError('NT_DTYPE', `[${OP}] invFreq must be f32 or f64, got ${inv.dtype}`);
    if (inv.ndim !== 1 || inv.shape[0] !== d / 2)
      throw ntError('NT_SHAPE', `[${OP}] invFreq must have shape [${d / 2}] (d / 2 for x ${shapeString(t.shape)}), got ${shapeString(inv.shape)}`);
  } else {
    const f = d === 0 ? new Float32Array(0) : ropeInverseFrequencies(d, opts.theta ?? 10000);
    inv = Tensor._wrap(f, 'f32', [d / 2]);
    ownInv = true;
  }
  let plan: OutputPlan;
  try {
    plan = planOutput(OP, opts.out, t.shape, t.dtype, [tensorOperand(t)], true);
  } catch (e) {
    if (ownInv) inv.dispose();
    throw e;
  }
  return { x: t, inv, ownInv, offset, plan };
}

/** Rotary embedding of x [..., seq, d] (see the file comment); out may be x itself (in place). */
export function rope(x: Tensor, opts?: RopeOptions): Tensor {
  const c = prepare(x, opts);
  try {
    return runSync(c.plan, (t) => native.rope(c.x._storage, c.x._metaArray, c.inv._storage, c.inv._metaArray, t._storage, t._metaArray, c.offset));
  } finally {
    if (c.ownInv) c.inv.dispose();
  }
}

export async function ropeAsync(x: Tensor, opts?: RopeOptions): Promise<Tensor> {
  const c = prepare(x, opts);
  try {
    return await runAsync(c.plan, [c.x, c.inv], (t) =>
      native.ropeAsync(c.x._storage, c.x._metaArray, c.inv._storage, c.inv._metaArray, t._storage, t._metaArray, c.offset),
    );
  } finally {
    if (c.ownInv) c.inv.dispose();
  }
}
