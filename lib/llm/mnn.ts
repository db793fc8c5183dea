// Matrix Nuclear-Norm (Li et al. 2024), ALGORITHMS.md §7: an O(N·d) stand-in for the nuclear
// norm of a model's hidden states, and the exact nuclear norm of the same matrix for reference.
//
// Both functions first form the same matrix from hidden states H (N tokens x d):
//   centre columns: X = H - mean_rows(H);   normalise rows: R_i = X_i / (||X_i||_2 + eps)
// then
//   mnn(H)         = (sum of the D = min(N, d) largest column norms c_j = ||R_:j||_2) / N
//   nuclearNorm(H) = ||R||_* / N = (sum of the singular values of R) / N
// so the two numbers are directly comparable: mnn is the L_{1,2}-norm bound of the nuclear
// norm restricted to the top D columns (equal for R with orthogonal columns; for rank-1 R,
// nuclearNorm = ||R||_F / N while mnn sums the column norms).
import { ntError } from '../errors';
import { checkFloat, checkOptions, checkTensor, describe } from '../ops/common';
import { add, div, sub } from '../ops/binary';
import { mean, norm } from '../ops/reduce';
import { shapeString } from '../shape';
import { svd } from '../linalg/svd';
import type { Tensor } from '../tensor';

export interface MnnOptions {
  /** Added to every row norm before dividing (default 1e-8): a zero row stays zero. */
  eps?: number;
}

function normalisedRows(op: string, hidden: unknown, options: unknown): Tensor {
  const o = checkOptions<MnnOptions>(op, options);
  const h = checkTensor(op, hidden, 'hidden');
  checkFloat(op, h, 'hidden');
  if (h.ndim !== 2) throw ntError('NT_SHAPE', `[${op}] hidden must be 2-D [tokens, dim], got shape ${shapeString(h.shape)}`);
  if (h.shape[0] === 0 || h.shape[1] === 0) throw ntError('NT_VALUE', `[${op}] hidden must have at least one token and one column, got shape ${shapeString(h.shape)}`);
  const eps = o.eps ?? 1e-8;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw ntError('NT_VALUE', `[${op}] eps must be a finite number >= 0, got ${describe(o.eps)}`);
  const mu = mean(h, 0);
  const x = sub(h, mu);
  mu.dispose();
  const rn = norm(x, { axis: 1, keepdims: true });
  const den = add(rn, eps);
  rn.dispose();
  const r = div(x, den);
  x.dispose();
  den.dispose();
  return r;
}

function checkFinite(op: string, v: number): number {
  if (!Number.isFinite(v)) throw ntError('NT_VALUE', `[${op}] hidden contains NaN or Inf`);
  return v;
}

/** Matrix Nuclear-Norm of hidden states [N, d] (see the file comment): O(N·d). */
export function mnn(hidden: Tensor, opts?: MnnOptions): number {
  const op = 'llm.mnn';
  const r = normalisedRows(op, hidden, opts);
  const [n, d] = r.shape;
  const cn = norm(r, { axis: 0 });
  r.dispose();
  const c64 = cn.astype('f64');
  cn.dispose();
  const c = Array.from(c64.data as Float64Array);
  c64.dispose();
  const D = Math.min(n, d);
  // D = d when N >= d (every column); otherwise the N largest column norms.
  const top = D === d ? c : c.sort((a, b) => b - a).slice(0, D);
  return checkFinite(op, top.reduce((s, v) => s + v, 0) / n);
}

/** The exact reference: nuclear norm of the same centred, row-normalised matrix / N, by SVD. */
export function nuclearNorm(hidden: Tensor, opts?: MnnOptions): number {
  const op = 'llm.nuclearNorm';
  const r = normalisedRows(op, hidden, opts);
  const n = r.shape[0];
  let s: Tensor;
  try {
    if (r.dtype === 'f32' || r.dtype === 'f64') {
      const res = svd(r, { computeUV: false });
      s = res.S;
    } else {
      const f = r.astype('f32');
      try {
        s = svd(f, { computeUV: false }).S;
      } finally {
        f.dispose();
      }
    }
  } catch (e) {
    r.dispose();
    throw e;
  }
  r.dispose();
  const vals = s.astype('f64');
  s.dispose();
  const total = (vals.data as Float64Array).reduce((a, b) => a + b, 0);
  vals.dispose();
  return checkFinite(op, total / n);
}
