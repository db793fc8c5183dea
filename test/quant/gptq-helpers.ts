// Float64 references for the GPTQ / SparseGPT / covariance tests: correlated calibration data,
// the proxy loss ‖(W − Ŵ)Xᵀ‖_F, H⁻¹'s upper Cholesky factor by the textbook route
// (cholesky → inverse → cholesky), and unblocked GPTQ / SparseGPT sweeps (every update applied
// at once, no lazy batching) on the grid emulation of ./helpers.ts.
import * as nt from '../../lib';
import { refGroupParams, refQuantizeValue, values } from './helpers';

/** Tolerances of this file family, in one place. */
export const TOL = {
  /** covariance of f32 inputs vs the float64 reference (relative to max |C|). */
  covF32: 2e-6,
  /** covariance of f64 inputs (relative to max |C|). */
  covF64: 1e-12,
  /** the same tokens in different batches (relative to max |C|). */
  covStreaming: 1e-6,
  /** GPTQ / SparseGPT proxy loss vs the float64 unblocked reference (relative). */
  lossVsReference: 1e-3,
  /** fraction of codes / masks that must match the reference exactly (f32 vs f64 may flip a tie). */
  agreement: 0.99,
};

/**
 * Calibration activations X [n, cols] with correlated features (standard normals mixed by a
 * random matrix, plus a few high-variance channels), as real layer inputs have: that
 * correlation is what GPTQ and SparseGPT exploit.
 */
export function calibration(n: number, cols: number, seed: number): nt.Tensor {
  const z = nt.randn([n, cols], { seed });
  const mix = nt.randn([cols, cols], { seed: seed + 1000 });
  const scaled = nt.mul(mix, 1 / Math.sqrt(cols));
  const eye = nt.eye(cols);
  const m = nt.add(scaled, eye);
  const x = nt.matmul(z, m);
  for (const t of [z, mix, scaled, eye, m]) t.dispose();
  return x;
}

/** ‖(W − Ŵ) Xᵀ‖_F in float64; w, what: row-major [rows, cols], x: [n, cols]. */
export function proxyLoss(w: ArrayLike<number>, what: ArrayLike<number>, x: ArrayLike<number>, rows: number, cols: number, n: number): number {
  const d = new Float64Array(rows * cols);
  for (let i = 0; i < d.length; ++i) d[i] = w[i] - what[i];
  let sum = 0;
  for (let r = 0; r < rows; ++r) {
    for (let t = 0; t < n; ++t) {
      let y = 0;
      for (let c = 0; c < cols; ++c) y += d[r * cols + c] * x[t * cols + c];
      sum += y * y;
    }
  }
  return Math.sqrt(sum);
}

/** Lower Cholesky factor of an n x n SPD matrix (row-major); throws when a pivot is not positive. */
export function cholLower(a: ArrayLike<number>, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; ++j) {
    let d = a[j * n + j];
    for (let k = 0; k < j; ++k) d -= l[j * n + k] ** 2;
    if (!(d > 0)) throw new Error(`not positive definite at ${j}`);
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; ++i) {
      let s = a[i * n + j];
      for (let k = 0; k < j; ++k) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/** A⁻¹ of an SPD matrix through its Cholesky factor (column by column solves). */
export function spdInverse(a: ArrayLike<number>, n: number): Float64Array {
  const l = cholLower(a, n);
  const inv = new Float64Array(n * n);
  const y = new Float64Array(n);
  for (let c = 0; c < n; ++c) {
    for (let i = 0; i < n; ++i) {
      let s = i === c ? 1 : 0;
      for (let k = 0; k < i; ++k) s -= l[i * n + k] * y[k];
      y[i] = s / l[i * n + i];
    }
    for (let i = n - 1; i >= 0; --i) {
      let s = y[i];
      for (let k = i + 1; k < n; ++k) s -= l[k * n + i] * inv[k * n + c];
      inv[i * n + c] = s / l[i * n + i];
    }
  }
  return inv;
}

export interface PreparedHessian {
  /** Visiting order: perm[k] = original column visited k-th. */
  perm: number[];
  /** Upper factor U of (H_perm + damp·mean(diag)·I)⁻¹, row-major. */
  u: Float64Array;
  dead: boolean[];
}

/** The reference's Hessian preparation: dead inputs, act-order permutation, damping, U. */
export function prepareHessian(h: ArrayLike<number>, n: number, damp: number, actOrder: boolean): PreparedHessian {
  const hd = Float64Array.from(h);
  const dead: boolean[] = [];
  for (let j = 0; j < n; ++j) {
    dead.push(hd[j * n + j] === 0);
    if (dead[j]) hd[j * n + j] = 1;
  }
  const perm = [...Array(n).keys()];
  if (actOrder) perm.sort((a, b) => hd[b * n + b] - hd[a * n + a] || a - b);
  const hp = new Float64Array(n * n);
  let mean = 0;
  for (let i = 0; i < n; ++i) mean += hd[i * n + i] / n;
  for (let i = 0; i < n; ++i) for (let k = 0; k < n; ++k) hp[i * n + k] = hd[perm[i] * n + perm[k]];
  for (let i = 0; i < n; ++i) hp[i * n + i] += damp * mean;
  const l = cholLower(spdInverse(hp, n), n);
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; ++i) for (let k = i; k < n; ++k) u[i * n + k] = l[k * n + i];
  return { perm, u, dead };
}

export interface RefGptqOptions {
  bits: number;
  groupSize: number;
  symmetric: boolean;
  actOrder: boolean;
  staticGroups: boolean;
  damp: number;
  f16: boolean;
}

/**
 * Unblocked GPTQ in float64 (grids by the float32 emulation): codes (original column order)
 * and Ŵ = dequantized weights, row-major [rows, cols].
 */
export function refGptq(w: ArrayLike<number>, h: ArrayLike<number>, rows: number, cols: number, o: RefGptqOptions) {
  const { perm, u, dead } = prepareHessian(h, cols, o.damp, o.actOrder);
  const g = o.groupSize;
  const groups = Math.ceil(cols / g);
  const wf = Float64Array.from(w, (v, i) => (dead[i % cols] ? 0 : Math.fround(v)));
  const codes = new Int32Array(rows * cols);
  const what = new Float64Array(rows * cols);
  for (let r = 0; r < rows; ++r) {
    const fixed = [];
    if (o.staticGroups) {
      for (let q = 0; q < groups; ++q) {
        const seg = Array.from(wf.subarray(r * cols + q * g, r * cols + Math.min(cols, q * g + g)));
        fixed.push(refGroupParams(Math.min(...seg), Math.max(...seg), o.bits, o.symmetric, o.f16));
      }
    }
    const row = perm.map((c) => wf[r * cols + c]);
    let p = fixed[0];
    for (let k = 0; k < cols; ++k) {
      if (o.staticGroups) p = fixed[Math.floor(perm[k] / g)];
      else if (k % g === 0) {
        const seg = row.slice(k, Math.min(cols, k + g)).map((v) => Math.fround(v));
        p = refGroupParams(Math.min(...seg), Math.max(...seg), o.bits, o.symmetric, o.f16);
      }
      const code = refQuantizeValue(Math.fround(row[k]), p!, o.bits);
      const deq = p!.scale * (code - p!.zero);
      codes[r * cols + perm[k]] = code;
      what[r * cols + perm[k]] = deq;
      const e = (row[k] - deq) / u[k * cols + k];
      for (let j = k + 1; j < cols; ++j) row[j] -= e * u[k * cols + j];
    }
  }
  return { codes, what };
}

/** Unblocked SparseGPT 2:4 in float64: the pruned, updated weights, row-major. */
export function refSparseGpt(w: ArrayLike<number>, h: ArrayLike<number>, rows: number, cols: number, damp: number): Float64Array {
  const { u, dead } = prepareHessian(h, cols, damp, false);
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; ++r) {
    const row = Array.from({ length: cols }, (_, c) => (dead[c] ? 0 : Math.fround(w[r * cols + c])));
    let pruned = [false, false, false, false];
    for (let k = 0; k < cols; ++k) {
      if (k % 4 === 0) {
        const s = [0, 1, 2, 3].map((i) => row[k + i] ** 2 / u[(k + i) * cols + k + i] ** 2);
        const order = [0, 1, 2, 3].sort((a, b) => s[b] - s[a] || a - b);
        pruned = [0, 1, 2, 3].map((i) => order.indexOf(i) >= 2);
      }
      const q = pruned[k % 4] ? 0 : row[k];
      const e = (row[k] - q) / u[k * cols + k];
      out[r * cols + k] = q;
      for (let j = k + 1; j < cols; ++j) row[j] -= e * u[k * cols + j];
    }
  }
  return out;
}

/** Unpacked codes [rows, cols] of a QTensor (two per byte for bits ≤ 4). */
export function unpackCodes(q: nt.quant.QTensor): Int32Array {
  const [rows, cols] = q.shape;
  const bytes = q.codes.data as Uint8Array;
  const rb = q.codes.shape[1];
  const out = new Int32Array(rows * cols);
  for (let r = 0; r < rows; ++r)
    for (let c = 0; c < cols; ++c) {
      const b = bytes[r * rb + (q.bits === 8 ? c : c >> 1)];
      out[r * cols + c] = q.bits === 8 ? b : c & 1 ? b >> 4 : b & 15;
    }
  return out;
}

/** Fraction of equal entries. */
export function agreement(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let same = 0;
  for (let i = 0; i < a.length; ++i) same += a[i] === b[i] ? 1 : 0;
  return a.length === 0 ? 1 : same / a.length;
}

/** The Hessian H = 2XᵀX/n of x in float64 (row-major [cols, cols]). */
export function refHessian(x: ArrayLike<number>, n: number, cols: number): Float64Array {
  const h = new Float64Array(cols * cols);
  for (let t = 0; t < n; ++t)
    for (let i = 0; i < cols; ++i) {
      const xi = x[t * cols + i];
      if (xi === 0) continue;
      for (let j = 0; j < cols; ++j) h[i * cols + j] += xi * x[t * cols + j];
    }
  for (let i = 0; i < h.length; ++i) h[i] = (2 * h[i]) / n;
  return h;
}

export { values };
