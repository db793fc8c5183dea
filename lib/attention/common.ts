// Shared argument handling of the softmax-attention ops: q [b, hq, sq, d], k [b, hkv, sk, d],
// v [b, hkv, sk, dv] (any float dtype, any strides), hkv dividing hq; the f32 output
// [b, hq, sq, dv] through the common output plan ({ out } validated before anything is written).
import { isFloat } from '../dtype';
import { ntError } from '../errors';
import { OutputPlan, checkTensor, describe, planOutput, tensorOperand } from '../ops/common';
import { shapeString } from '../shape';
import type { Tensor } from '../tensor';

export interface AttentionOperands {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  b: number;
  hq: number;
  hkv: number;
  sq: number;
  sk: number;
  d: number;
  dv: number;
}

export function checkQkv(op: string, qIn: unknown, kIn: unknown, vIn: unknown, causal: boolean): AttentionOperands {
  const q = checkTensor(op, qIn, 'q');
  const k = checkTensor(op, kIn, 'k');
  const v = checkTensor(op, vIn, 'v');
  for (const [t, name] of [
    [q, 'q'],
    [k, 'k'],
    [v, 'v'],
  ] as const) {
    if (t.ndim !== 4) throw ntError('NT_SHAPE', `[${op}] ${name} must be 4-D [batch, heads, seq, dim], got ${shapeString(t.shape)}`);
    if (!isFloat(t.dtype)) throw ntError('NT_DTYPE', `[${op}] ${name} must be f32, f64, f16 or bf16, got ${t.dtype}`);
  }
  const [b, hq, sq, d] = q.shape;
  const [kb, hkv, sk, dk] = k.shape;
  const [vb, vh, vs, dv] = v.shape;
  if (kb !== b || vb !== b)
    throw ntError('NT_SHAPE', `[${op}] q, k and v must share the batch extent, got ${shapeString(q.shape)}, ${shapeString(k.shape)}, ${shapeString(v.shape)}`);
  if (vh !== hkv || vs !== sk)
    throw ntError('NT_SHAPE', `[${op}] k and v must have the same heads and seq extents, got ${shapeString(k.shape)} and ${shapeString(v.shape)}`);
  if (dk !== d) throw ntError('NT_SHAPE', `[${op}] k must have q's head dim ${d}, got ${shapeString(k.shape)}`);
  if (hkv === 0 ? hq !== 0 : hq % hkv !== 0)
    throw ntError('NT_SHAPE', `[${op}] the kv heads (${hkv}) must divide the query heads (${hq})`);
  if (causal && sk < sq)
    throw ntError('NT_SHAPE', `[${op}] causal attention needs at least as many keys (${sk}) as queries (${sq}): query i sits at position sk - sq + i`);
  if (sk === 0 && b * hq * sq * dv > 0) throw ntError('NT_SHAPE', `[${op}] k and v need at least one key, got ${shapeString(k.shape)}`);
  return { q, k, v, b, hq, hkv, sq, sk, d, dv };
}

export function boolOption(op: string, v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw ntError('NT_VALUE', `[${op}] ${name} must be a boolean, got ${describe(v)}`);
  return v;
}

/** scale: a finite number; default 1 / sqrt(d) (1 when d is 0). */
export function scaleOption(op: string, v: unknown, d: number): number {
  if (v === undefined) return d > 0 ? 1 / Math.sqrt(d) : 1;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw ntError('NT_VALUE', `[${op}] scale must be a finite number, got ${describe(v)}`);
  return v;
}

/** A positive integer option (window, blockSize, k). */
export function positiveInt(op: string, v: unknown, name: string, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw ntError('NT_VALUE', `[${op}] ${name} must be an integer >= 1, got ${describe(v)}`);
  return v;
}

export function planAttentionOutput(op: string, out: unknown, a: AttentionOperands): OutputPlan {
  return planOutput(op, out, [a.b, a.hq, a.sq, a.dv], 'f32', [tensorOperand(a.q), tensorOperand(a.k), tensorOperand(a.v)], false);
}
