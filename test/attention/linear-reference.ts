// Float64 references for linear / hybrid attention: naive O(n²) masked sums straight from
// the definitions in ALGORITHMS.md §4, plus seeded inputs and finite differences.
import * as nt from '../../lib';
import { uniform } from '../helpers/reference';

export type MapKind = 'identity' | 'relu' | 'elu+1' | 'hedgehog';

export interface Arr4 {
  data: Float64Array;
  shape: [number, number, number, number];
}

export function arr4(shape: [number, number, number, number], seed: number, lo = -1, hi = 1): Arr4 {
  return { data: uniform(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape };
}

export function at(a: Arr4, b: number, h: number, i: number): Float64Array {
  const [, H, N, D] = a.shape;
  const o = ((b * H + h) * N + i) * D;
  return a.data.subarray(o, o + D);
}

export function toTensor(a: Arr4 | { data: Float64Array; shape: number[] }, dtype: 'f32' | 'f64' = 'f64'): nt.Tensor {
  return nt.tensor(dtype === 'f64' ? a.data : Float32Array.from(a.data), { shape: [...a.shape], dtype });
}

/** φ of one row; weight: [dim * f] row-major for hedgehog. */
export function phiRow(kind: MapKind, x: Float64Array, weight?: Float64Array): Float64Array {
  if (kind === 'identity') return Float64Array.from(x);
  if (kind === 'relu') return x.map((e) => Math.max(e, 0));
  if (kind === 'elu+1') return x.map((e) => (e > 0 ? e + 1 : Math.exp(e)));
  const d = x.length;
  const f = (weight as Float64Array).length / d;
  const u = new Float64Array(f);
  for (let c = 0; c < f; ++c) for (let i = 0; i < d; ++i) u[c] += x[i] * (weight as Float64Array)[i * f + c];
  const out = new Float64Array(2 * f);
  for (const [sign, base] of [
    [1, 0],
    [-1, f],
  ]) {
    let m = -Infinity;
    for (let c = 0; c < f; ++c) m = Math.max(m, sign * u[c]);
    let s = 0;
    for (let c = 0; c < f; ++c) s += out[base + c] = Math.exp(sign * u[c] - m);
    for (let c = 0; c < f; ++c) out[base + c] = Math.max(out[base + c] / s, 1e-12);
  }
  return out;
}

export interface RefProblem {
  q: Arr4;
  k: Arr4;
  v: Arr4;
  kind: MapKind;
  /** hedgehog weights per query head: [hq][d*f] */
  wq?: Float64Array[];
  wk?: Float64Array[];
  window: number; // 0 = linear
  gamma?: number[];
  eps: number;
  scale?: number;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; ++i) s += a[i] * b[i];
  return s;
};

/** y [b, hq, sq, dv] from the definition, per query: explicit sums over every key. */
export function reference(p: RefProblem): Float64Array {
  const [B, Hq, Nq, D] = p.q.shape;
  const [, Hkv, Nk, Dv] = p.v.shape;
  const scale = p.scale ?? 1 / Math.sqrt(D);
  const g = Hq / Hkv;
  const out = new Float64Array(B * Hq * Nq * Dv);
  for (let b = 0; b < B; ++b)
    for (let h = 0; h < Hq; ++h) {
      const kvh = Math.floor(h / g);
      const phiK: Float64Array[] = [];
      for (let j = 0; j < Nk; ++j) phiK.push(phiRow(p.kind, at(p.k, b, kvh, j), p.wk?.[h]));
      for (let i = 0; i < Nq; ++i) {
        const pos = Nk - Nq + i;
        const qi = at(p.q, b, h, i);
        const pq = phiRow(p.kind, qi, p.wq?.[h]);
        const num = new Float64Array(Dv);
        let den = p.eps;
        const w = p.window;
        let cmax = -Infinity;
        if (w > 0) for (let j = Math.max(0, pos - w + 1); j <= pos; ++j) cmax = Math.max(cmax, scale * dot(qi, at(p.k, b, kvh, j)));
        for (let j = 0; j <= pos; ++j) {
          let wt: number;
          if (w > 0 && j > pos - w) wt = (p.gamma as number[])[h] * Math.exp(scale * dot(qi, at(p.k, b, kvh, j)) - cmax);
          else wt = dot(pq, phiK[j]);
          den += wt;
          const vj = at(p.v, b, kvh, j);
          for (let e = 0; e < Dv; ++e) num[e] += wt * vj[e];
        }
        const o = ((b * Hq + h) * Nq + i) * Dv;
        for (let e = 0; e < Dv; ++e) out[o + e] = num[e] / den;
      }
    }
  return out;
}

/** Plain causal softmax attention (bottom-right aligned), float64. */
export function softmaxReference(q: Arr4, k: Arr4, v: Arr4): Float64Array {
  const [B, Hq, Nq, D] = q.shape;
  const [, Hkv, Nk, Dv] = v.shape;
  const out = new Float64Array(B * Hq * Nq * Dv);
  for (let b = 0; b < B; ++b)
    for (let h = 0; h < Hq; ++h)
      for (let i = 0; i < Nq; ++i) {
        const kvh = Math.floor(h / (Hq / Hkv));
        const pos = Nk - Nq + i;
        const s = [];
        for (let j = 0; j <= pos; ++j) s.push(dot(at(q, b, h, i), at(k, b, kvh, j)) / Math.sqrt(D));
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const z = e.reduce((a, c) => a + c, 0);
        const o = ((b * Hq + h) * Nq + i) * Dv;
        for (let j = 0; j <= pos; ++j) {
          const vj = at(v, b, kvh, j);
          for (let c = 0; c < Dv; ++c) out[o + c] += (e[j] / z) * vj[c];
        }
      }
  return out;
}

/** Largest |a − b| / (atol + |b|) style error: max_i |a_i − b_i| / max(1, max |b|). */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1;
  for (let i = 0; i < b.length; ++i) scale = Math.max(scale, Math.abs(b[i]));
  let e = 0;
  for (let i = 0; i < a.length; ++i) e = Math.max(e, Math.abs(a[i] - b[i]));
  return e / scale;
}

export function hedgehogWeights(heads: number, d: number, f: number, seed: number): Float64Array[] {
  return Array.from({ length: heads }, (_, h) => uniform(d * f, seed + 17 * h, -1, 1));
}

export function weightTensor(ws: Float64Array[], d: number, f: number, dtype: 'f32' | 'f64' = 'f64'): nt.Tensor {
  const all = new Float64Array(ws.length * d * f);
  ws.forEach((w, h) => all.set(w, h * d * f));
  return nt.tensor(dtype === 'f64' ? all : Float32Array.from(all), { shape: [ws.length, d, f], dtype });
}

/** Σ G ⊙ f(x) as a function of one scalar entry, central difference. */
export function centralDiff(data: Float64Array, idx: number, h: number, loss: () => number): number {
  const x0 = data[idx];
  data[idx] = x0 + h;
  const lp = loss();
  data[idx] = x0 - h;
  const lm = loss();
  data[idx] = x0;
  return (lp - lm) / (2 * h);
}
