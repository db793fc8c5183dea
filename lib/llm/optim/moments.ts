// Adam moments of one tensor: full f32 (m, v) or block-wise dynamic 8-bit (codes + per-block
// absmax for each moment). Shared by Adam, Adam8bit, GaLore and GradNormLoRP.
import { Adam8bitMoments, adam8bitStep, adamStep, dequantizeDynamic, quantizeDynamic, zeroAdam8bitMoments } from '../../ops/optim-steps';
import { Tensor } from '../../tensor';
import type { ResolvedAdam } from './optimizer';
import { tensorBytes } from './optimizer';

export type Moments = { kind: 'f32'; m: Tensor; v: Tensor } | ({ kind: '8bit' } & Adam8bitMoments);

export interface MomentPolicy {
  eightBit: boolean;
  /** Quantization block (2048 default, 256 option). */
  blockSize: number;
  /** Tensors with fewer elements keep 32-bit state (4096, as bitsandbytes). */
  minSize8bit: number;
}

export function createMoments(op: string, n: number, policy: MomentPolicy): Moments {
  if (policy.eightBit && n >= policy.minSize8bit) return { kind: '8bit', ...zeroAdam8bitMoments(op, n, policy.blockSize) };
  return { kind: 'f32', m: Tensor._empty(op, [n], 'f32'), v: Tensor._empty(op, [n], 'f32') };
}

/** One Adam step of grad into target (a parameter, or the direction output when `direction`). */
export function stepMoments(target: Tensor, grad: Tensor, s: Moments, h: ResolvedAdam, t: number, direction: boolean): void {
  const hyper = { ...h, step: t };
  if (s.kind === 'f32') adamStep(target, grad, s.m, s.v, hyper, direction);
  else adam8bitStep(target, grad, s, hyper, direction);
}

export function momentBytes(s: Moments): number {
  return s.kind === 'f32' ? tensorBytes(s.m) + tensorBytes(s.v) : tensorBytes(s.mCodes) + tensorBytes(s.vCodes) + tensorBytes(s.mAbsmax) + tensorBytes(s.vAbsmax);
}

export function disposeMoments(s: Moments): void {
  if (s.kind === 'f32') {
    s.m.dispose();
    s.v.dispose();
  } else {
    s.mCodes.dispose();
    s.vCodes.dispose();
    s.mAbsmax.dispose();
    s.vAbsmax.dispose();
  }
}

/** The moments as f32 tensors [n] (copies; 8-bit state is dequantized). For tests and reprojection. */
export function readMoments(s: Moments): { m: Tensor; v: Tensor } {
  if (s.kind === 'f32') return { m: s.m.clone(), v: s.v.clone() };
  return {
    m: dequantizeDynamic(s.mCodes, s.mAbsmax, { signed: true, blockSize: s.blockSize }),
    v: dequantizeDynamic(s.vCodes, s.vAbsmax, { signed: false, blockSize: s.blockSize }),
  };
}

/** Replaces the moments' values by m, v (f32 [n]); 8-bit state is re-quantized. Takes ownership of m, v. */
export function writeMoments(s: Moments, m: Tensor, v: Tensor): Moments {
  if (s.kind === 'f32') {
    s.m.dispose();
    s.v.dispose();
    return { kind: 'f32', m, v };
  }
  try {
    const qm = quantizeDynamic(m, { signed: true, blockSize: s.blockSize });
    const qv = quantizeDynamic(v, { signed: false, blockSize: s.blockSize });
    disposeMoments(s);
    return { kind: '8bit', mCodes: qm.codes, mAbsmax: qm.absmax, vCodes: qv.codes, vAbsmax: qv.absmax, blockSize: s.blockSize };
  } finally {
    m.dispose();
    v.dispose();
  }
}
