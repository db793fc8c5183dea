// Float64 references for the GEAR tests (docs/ALGORITHMS.md §3, native/kvcache/gear.h).
import { seeded } from '../helpers/reference';

export interface RefOptions {
  kind: 'key' | 'value';
  bits: 2 | 4;
  layout: 'kivi' | 'uniform';
  group: number;
  /** outliers per side */
  k: number;
  /** rounding of the side storage */
  round: (x: number) => number;
}

export interface RefSlice {
  /** outlier (vector-major, 2k each): indices and values */
  idx: number[];
  vals: number[];
  /** per group */
  mins: number[];
  steps: number[];
  /** unpacked codes, t·d + j */
  codes: number[];
  /** D̂ with the outliers' values at their positions (no low-rank term) */
  dq: Float64Array;
  /** R = X - D̂, zero at outliers */
  residual: Float64Array;
  outlierMask: Uint8Array;
}

export const MIN_STEP = 2 ** -20;

export function groupOf(o: RefOptions, n: number, d: number, t: number, j: number): number {
  if (o.layout === 'uniform') return 0;
  return o.kind === 'key' ? Math.floor(t / o.group) * d + j : t * Math.ceil(d / o.group) + Math.floor(j / o.group);
}

export function groupCount(o: RefOptions, n: number, d: number): number {
  if (n === 0 || d === 0) return 0;
  if (o.layout === 'uniform') return 1;
  return o.kind === 'key' ? Math.ceil(n / o.group) * d : n * Math.ceil(d / o.group);
}

/** One n x d slice (row-major, values already f32-representable). */
export function refCompressSlice(x: ArrayLike<number>, n: number, d: number, o: RefOptions): RefSlice {
  const w = Float64Array.from(x);
  const mask = new Uint8Array(n * d);
  const idx: number[] = [];
  const vals: number[] = [];
  const key = o.kind === 'key';
  const nvec = key ? d : n;
  const len = key ? n : d;
  if (o.k > 0) {
    for (let v = 0; v < nvec; ++v) {
      const e: [number, number][] = [];
      let sum = 0;
      for (let i = 0; i < len; ++i) {
        const val = key ? x[i * d + v] : x[v * d + i];
        e.push([val, i]);
        sum += val;
      }
      const mean = Math.fround(sum / len);
      e.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const chosen = [...e.slice(0, o.k), ...e.slice(len - o.k)];
      for (const [val, i] of chosen) {
        idx.push(i);
        vals.push(o.round(val));
        const pos = key ? i * d + v : v * d + i;
        w[pos] = mean;
        mask[pos] = 1;
      }
    }
  }
  const G = groupCount(o, n, d);
  const lo = new Array(G).fill(Infinity);
  const hi = new Array(G).fill(-Infinity);
  for (let t = 0; t < n; ++t)
    for (let j = 0; j < d; ++j) {
      const g = groupOf(o, n, d, t, j);
      lo[g] = Math.min(lo[g], w[t * d + j]);
      hi[g] = Math.max(hi[g], w[t * d + j]);
    }
  const qmax = 2 ** o.bits - 1;
  const mins: number[] = [];
  const steps: number[] = [];
  for (let g = 0; g < G; ++g) {
    let step = o.round(Math.max(Math.fround((hi[g] - lo[g]) / qmax), MIN_STEP));
    if (step < MIN_STEP) step = MIN_STEP;
    mins.push(o.round(lo[g]));
    steps.push(step);
  }
  const codes: number[] = [];
  const dq = new Float64Array(n * d);
  const residual = new Float64Array(n * d);
  for (let t = 0; t < n; ++t)
    for (let j = 0; j < d; ++j) {
      const g = groupOf(o, n, d, t, j);
      const e = t * d + j;
      const c = Math.min(Math.max(Math.floor((w[e] - mins[g]) / steps[g] + 0.5), 0), qmax);
      codes.push(c);
      dq[e] = mins[g] + steps[g] * c;
      residual[e] = mask[e] ? 0 : x[e] - dq[e];
    }
  for (let v = 0, m = 0; v < nvec; ++v)
    for (let q = 0; q < 2 * o.k; ++q, ++m) {
      const i = idx[m];
      dq[key ? i * d + v : v * d + i] = vals[m];
    }
  return { idx, vals, mins, steps, codes, dq, residual, outlierMask: mask };
}

/** Unpacks the codes of a slice (element e at bit e·bits, low bits first). */
export function unpackCodes(bytes: Uint8Array, offset: number, count: number, bits: number): number[] {
  const out: number[] = [];
  for (let e = 0; e < count; ++e) {
    const bit = e * bits;
    out.push((bytes[offset + (bit >> 3)] >> (bit & 7)) & ((1 << bits) - 1));
  }
  return out;
}

/** Causal GQA attention in float64: q [hq, sq, d], k/v [hkv, sk, d] flattened; bottom-right aligned. */
export function refAttention(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  hq: number,
  hkv: number,
  sq: number,
  sk: number,
  d: number,
): Float64Array {
  const out = new Float64Array(hq * sq * d);
  const g = hq / hkv;
  const scale = 1 / Math.sqrt(d);
  for (let h = 0; h < hq; ++h) {
    const kh = Math.floor(h / g);
    for (let i = 0; i < sq; ++i) {
      const lim = sk - sq + i;
      const s: number[] = [];
      let mx = -Infinity;
      for (let t = 0; t <= lim; ++t) {
        let a = 0;
        for (let j = 0; j < d; ++j) a += q[(h * sq + i) * d + j] * k[(kh * sk + t) * d + j];
        s.push(a * scale);
        mx = Math.max(mx, a * scale);
      }
      let sum = 0;
      for (let t = 0; t <= lim; ++t) {
        s[t] = Math.exp(s[t] - mx);
        sum += s[t];
      }
      for (let t = 0; t <= lim; ++t)
        for (let j = 0; j < d; ++j) out[(h * sq + i) * d + j] += (s[t] / sum) * v[(kh * sk + t) * d + j];
    }
  }
  return out;
}

/** Heavy-tailed synthetic K/V: Gaussian body, a few outlier channels, rare spikes (like real keys). */
export function kvLike(n: number, seed: number, spikeRate = 0.01): Float32Array {
  const r = seeded(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; ++i) {
    const u1 = r() || 1e-12;
    const u2 = r();
    let z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    if (r() < spikeRate) z *= 12;
    out[i] = z;
  }
  return out;
}

export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; ++i) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / (den || 1));
}
