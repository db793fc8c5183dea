// The options every quantizer shares (RTN here, GPTQ in ./gptq.ts): validated once, so both
// methods accept and refuse exactly the same things.
//   bits        2 | 3 | 4 | 8                        (default 4)
//   groupSize   32 | 64 | 128 | 'row'                (default 128; 'row' = one group per row;
//               a row whose length is not a multiple of the group ends in a shorter group)
//   symmetric   boolean                              (default false: asymmetric min/max grid;
//               true: zero = 2^(bits-1), scale from max|w|)
//   scaleDtype  'f16' | 'f32'                        (default 'f16', as GPTQ checkpoints store
//               them: half the scale memory, and toGptq() exports them losslessly. Codes are
//               chosen against the f16-rounded scale. Use 'f32' for weights whose group range
//               exceeds the f16 range (NT_VALUE otherwise) or to avoid the f16 rounding.)
import { isFloat } from '../dtype';
import { ntError } from '../errors';
import { checkOptions, describe } from '../ops/common';
import { Tensor } from '../tensor';
import type { QuantBits } from './qtensor';

export type GroupSizeOption = 32 | 64 | 128 | 'row';
export type ScaleDType = 'f16' | 'f32';

export interface QuantOptions {
  bits?: QuantBits;
  groupSize?: GroupSizeOption;
  symmetric?: boolean;
  scaleDtype?: ScaleDType;
}

export interface ResolvedQuantOptions {
  bits: QuantBits;
  /** Columns per group; 'row' resolves to the column count (at least 1). */
  groupSize: number;
  symmetric: boolean;
  scaleDtype: ScaleDType;
}

/** Checks that w is a live 2-D float tensor [rows = d_out, cols = d_in]. */
export function checkWeight(op: string, w: unknown, arg = 'w'): Tensor {
  if (!(w instanceof Tensor)) throw ntError('NT_VALUE', `[${op}] ${arg} must be a Tensor, got ${describe(w)}`);
  w._check(op, arg);
  if (!isFloat(w.dtype)) throw ntError('NT_DTYPE', `[${op}] ${arg} must be f32, f64, f16 or bf16, got ${w.dtype}`);
  if (w.ndim !== 2) throw ntError('NT_SHAPE', `[${op}] ${arg} must be 2-D [rows, cols], got [${w.shape}]`);
  return w;
}

/**
 * Validates w (live, float, 2-D) and bits / groupSize / symmetric / scaleDtype (NT_VALUE on a
 * bad option). Other keys of opts are left to the caller.
 */
export function resolveQuantOptions(op: string, w: Tensor, opts: unknown): ResolvedQuantOptions {
  checkWeight(op, w);
  const o = checkOptions<QuantOptions>(op, opts);
  const bits = o.bits ?? 4;
  if (!([2, 3, 4, 8] as unknown[]).includes(bits)) throw ntError('NT_VALUE', `[${op}] bits must be 2, 3, 4 or 8, got ${describe(bits)}`);
  const gs = o.groupSize ?? 128;
  if (!([32, 64, 128, 'row'] as unknown[]).includes(gs))
    throw ntError('NT_VALUE', `[${op}] groupSize must be 32, 64, 128 or 'row', got ${describe(gs)}`);
  const symmetric = o.symmetric ?? false;
  if (typeof symmetric !== 'boolean') throw ntError('NT_VALUE', `[${op}] symmetric must be a boolean, got ${describe(symmetric)}`);
  const scaleDtype = o.scaleDtype ?? 'f16';
  if (scaleDtype !== 'f16' && scaleDtype !== 'f32')
    throw ntError('NT_VALUE', `[${op}] scaleDtype must be 'f16' or 'f32', got ${describe(scaleDtype)}`);
  return {
    bits: bits as QuantBits,
    groupSize: gs === 'row' ? Math.max(w.shape[1], 1) : gs,
    symmetric,
    scaleDtype,
  };
}
