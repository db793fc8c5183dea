// Shared by the factorization tests (qr, cholesky, solve, rsvd): float64 matrices read back
// from tensors, float64 reference products and factorizations, seeded special matrices, and the
// tolerance table of the whole family.
import * as nt from '../../lib';
import { seeded } from '../helpers/reference';

export type Dt = 'f32' | 'f64';

/** Dense row-major float64 matrix. */
export interface M {
  rows: number;
  cols: number;
  data: Float64Array;
}

/**
 * Tolerances of the factor family, per dtype. Reconstruction and residuals are relative to the
 * norm of the input (||A - QR||_F / ||A||_F); orthogonality is max |Q^T Q - I|. f32 targets are
 * ALGORITHMS.md's 1e-5 at n <= 1024 (the norms' ratio of sums keeps ~sqrt(n) eps well below);
 * f64 targets 1e-12. `solve` is the residual ||op(A) X - B|| / (||A|| ||X||) of a backward-stable
 * solve; `inverse` is ||A A^-1 - I||_max / cond(A) headroom (the tests use cond <= 1e3);
 * `rsvdSigma` is the relative error of the top singular values on the 0.9^i spectrum with the
 * default oversample 10 / powerIters 2: that is the randomized approximation's own error (~5e-6
 * measured, for f64 as for f32), not rounding, so both dtypes share it (ALGORITHMS.md asks 1e-3).
 */
export const TOL = {
  f32: { recon: 1e-5, ortho: 1e-5, solve: 1e-5, vsRef: 1e-4, inverse: 1e-3, rsvdSigma: 1e-4, powerSigma: 1e-4 },
  f64: { recon: 1e-12, ortho: 1e-12, solve: 1e-12, vsRef: 1e-10, inverse: 1e-10, rsvdSigma: 1e-4, powerSigma: 1e-9 },
};

export function read(t: nt.Tensor): M {
  const c = t.astype('f64');
  try {
    const data = (c.data as Float64Array).slice();
    if (t.ndim === 1) return { rows: t.shape[0], cols: 1, data };
    return { rows: t.shape[0], cols: t.shape[1], data };
  } finally {
    c.dispose();
  }
}

export function toTensor(a: M, dtype: nt.DType = 'f64'): nt.Tensor {
  return nt.tensor(a.data, { shape: [a.rows, a.cols], dtype });
}

export function zeros(rows: number, cols: number): M {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

export function identity(n: number): M {
  const e = zeros(n, n);
  for (let i = 0; i < n; ++i) e.data[i * n + i] = 1;
  return e;
}

export function transpose(a: M): M {
  const t = zeros(a.cols, a.rows);
  for (let i = 0; i < a.rows; ++i) for (let j = 0; j < a.cols; ++j) t.data[j * a.rows + i] = a.data[i * a.cols + j];
  return t;
}

/** op(A) op(B) in float64 (i-k-j order: row-major friendly). */
export function matmul(a: M, b: M, ta = false, tb = false): M {
  const A = ta ? transpose(a) : a;
  const B = tb ? transpose(b) : b;
  if (A.cols !== B.rows) throw new Error(`matmul: ${A.rows}x${A.cols} by ${B.rows}x${B.cols}`);
  const c = zeros(A.rows, B.cols);
  const n = B.cols;
  for (let i = 0; i < A.rows; ++i) {
    const ci = i * n;
    for (let k = 0; k < A.cols; ++k) {
      const f = A.data[i * A.cols + k];
      if (f === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; ++j) c.data[ci + j] += f * B.data[bk + j];
    }
  }
  return c;
}

export function sub(a: M, b: M): M {
  const c = zeros(a.rows, a.cols);
  for (let i = 0; i < a.data.length; ++i) c.data[i] = a.data[i] - b.data[i];
  return c;
}

export function frob(a: M): number {
  let s = 0;
  for (const x of a.data) s += x * x;
  return Math.sqrt(s);
}

export function maxAbs(a: M): number {
  let s = 0;
  for (const x of a.data) s = Math.max(s, Math.abs(x));
  return s;
}

/** ||a - b||_F / ||ref||_F (||ref|| = 0: absolute). */
export function relErr(a: M, b: M, ref: M = b): number {
  const d = frob(sub(a, b));
  const r = frob(ref);
  return r === 0 ? d : d / r;
}

/** max |Q^T Q - I| over the columns of q. */
export function orthoError(q: M): number {
  return maxAbs(sub(matmul(q, q, true), identity(q.cols)));
}

/** Seeded standard normals (Box-Muller on mulberry32). */
export function gaussian(rows: number, cols: number, seed: number): M {
  const r = seeded(seed);
  const a = zeros(rows, cols);
  for (let i = 0; i < a.data.length; ++i) {
    const u = Math.max(r(), 1e-300);
    a.data[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return a;
}

export function uniformM(rows: number, cols: number, seed: number, lo = -1, hi = 1): M {
  const r = seeded(seed);
  const a = zeros(rows, cols);
  for (let i = 0; i < a.data.length; ++i) a.data[i] = lo + (hi - lo) * r();
  return a;
}

/** n x k matrix with orthonormal columns (modified Gram-Schmidt, twice, on Gaussians). */
export function orthonormal(n: number, k: number, seed: number): M {
  const g = gaussian(n, k, seed);
  for (let pass = 0; pass < 2; ++pass)
    for (let j = 0; j < k; ++j) {
      for (let p = 0; p < j; ++p) {
        let d = 0;
        for (let i = 0; i < n; ++i) d += g.data[i * k + p] * g.data[i * k + j];
        for (let i = 0; i < n; ++i) g.data[i * k + j] -= d * g.data[i * k + p];
      }
      let s = 0;
      for (let i = 0; i < n; ++i) s += g.data[i * k + j] ** 2;
      s = Math.sqrt(s);
      for (let i = 0; i < n; ++i) g.data[i * k + j] /= s;
    }
  return g;
}

/** U diag(s) V^T with random orthonormal U (m x p), V (n x p), p = s.length. */
export function withSpectrum(m: number, n: number, s: ArrayLike<number>, seed: number): M {
  const p = s.length;
  const u = orthonormal(m, p, seed);
  const v = orthonormal(n, p, seed + 1);
  for (let i = 0; i < m; ++i) for (let j = 0; j < p; ++j) u.data[i * p + j] *= s[j];
  return matmul(u, v, false, true);
}

/** Symmetric positive definite Q diag(lambda) Q^T. */
export function spdWithSpectrum(lambda: ArrayLike<number>, seed: number): M {
  const n = lambda.length;
  const q = orthonormal(n, n, seed);
  const ql = zeros(n, n);
  for (let i = 0; i < n; ++i) for (let j = 0; j < n; ++j) ql.data[i * n + j] = q.data[i * n + j] * lambda[j];
  const a = matmul(ql, q, false, true);
  // exact symmetry (the product rounds each triangle differently)
  for (let i = 0; i < n; ++i) for (let j = 0; j < i; ++j) a.data[j * n + i] = a.data[i * n + j];
  return a;
}

/** Well-conditioned SPD: G G^T / n + I (eigenvalues in ~[1, 5]). */
export function spd(n: number, seed: number): M {
  const g = gaussian(n, n, seed);
  const a = matmul(g, g, false, true);
  for (let i = 0; i < n * n; ++i) a.data[i] /= Math.max(n, 1);
  for (let i = 0; i < n; ++i) a.data[i * n + i] += 1;
  for (let i = 0; i < n; ++i) for (let j = 0; j < i; ++j) a.data[j * n + i] = a.data[i * n + j];
  return a;
}

/** Float64 Cholesky (lower), the reference. */
export function choleskyRef(a: M): M {
  const n = a.rows;
  const l = zeros(n, n);
  for (let j = 0; j < n; ++j) {
    let d = a.data[j * n + j];
    for (let k = 0; k < j; ++k) d -= l.data[j * n + k] ** 2;
    l.data[j * n + j] = Math.sqrt(d);
    for (let i = j + 1; i < n; ++i) {
      let s = a.data[i * n + j];
      for (let k = 0; k < j; ++k) s -= l.data[i * n + k] * l.data[j * n + k];
      l.data[i * n + j] = s / l.data[j * n + j];
    }
  }
  return l;
}

/** Lower (or upper) triangular part, the rest zero. */
export function triangle(a: M, lower: boolean): M {
  const t = zeros(a.rows, a.cols);
  for (let i = 0; i < a.rows; ++i)
    for (let j = 0; j < a.cols; ++j) if (lower ? j <= i : j >= i) t.data[i * a.cols + j] = a.data[i * a.cols + j];
  return t;
}

/** Every element below the diagonal is exactly 0. */
export function isUpperExact(r: M): boolean {
  for (let i = 0; i < r.rows; ++i) for (let j = 0; j < Math.min(i, r.cols); ++j) if (r.data[i * r.cols + j] !== 0) return false;
  return true;
}

export function isLowerExact(l: M): boolean {
  return isUpperExact(transpose(l));
}

/** Disposes every tensor in a result object (or array). */
export function disposeAll(...xs: unknown[]): void {
  for (const x of xs) {
    if (x instanceof nt.Tensor) x.dispose();
    else if (Array.isArray(x)) disposeAll(...x);
    else if (x && typeof x === 'object') disposeAll(...Object.values(x));
  }
}

/** Captures the code and message of a rejected promise. */
export async function rejectionOf(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: string; message: string };
    return { code: err.code, message: err.message };
  }
  throw new Error('expected a rejection, the promise resolved');
}
