// Float64 masked-softmax attention reference and inputs for the softmax-attention tests.
import * as nt from '../../lib';
import { uniform } from '../helpers/reference';

export interface RefMask {
  causal?: boolean;
  scale?: number;
  window?: number;
  /** keep flags [b][h][nb][nb] (row-major flat), block size */
  blocks?: ArrayLike<number>;
  blockSize?: number;
}

/** Flattened logical values (row-major) of any tensor view, as float64. */
export function flat(t: nt.Tensor): Float64Array {
  const out = new Float64Array(t.size);
  let i = 0;
  const walk = (a: unknown): void => {
    if (Array.isArray(a)) a.forEach(walk);
    else out[i++] = a as number;
  };
  walk(t.toArray());
  return out;
}

/** softmax(scale q kᵀ + mask) v in float64; rows that see no key give 0. Shapes as nt.attention.dense. */
export function attentionRef(q: nt.Tensor, k: nt.Tensor, v: nt.Tensor, m: RefMask = {}): Float64Array {
  const [b, hq, sq, d] = q.shape;
  const [, hkv, sk] = k.shape;
  const dv = v.shape[3];
  const Q = flat(q), K = flat(k), V = flat(v);
  const causal = m.causal ?? true;
  const scale = m.scale ?? 1 / Math.sqrt(d);
  const g = hq / hkv;
  const nb = m.blockSize ? Math.ceil(sk / m.blockSize) : 0;
  const out = new Float64Array(b * hq * sq * dv);
  const s = new Float64Array(sk);
  for (let bi = 0; bi < b; ++bi)
    for (let h = 0; h < hq; ++h) {
      const kh = Math.floor(h / g);
      for (let i = 0; i < sq; ++i) {
        const pos = sk - sq + i;
        let mx = -Infinity;
        for (let j = 0; j < sk; ++j) {
          let ok = !causal || j <= pos;
          if (m.window !== undefined) ok = ok && j > pos - m.window && (causal || j < pos + m.window);
          if (m.blocks && m.blockSize) ok = ok && m.blocks[((bi * hq + h) * nb + Math.floor(pos / m.blockSize)) * nb + Math.floor(j / m.blockSize)] !== 0;
          if (!ok) {
            s[j] = -Infinity;
            continue;
          }
          let t = 0;
          for (let c = 0; c < d; ++c) t += Q[((bi * hq + h) * sq + i) * d + c] * K[((bi * hkv + kh) * sk + j) * d + c];
          s[j] = t * scale;
          mx = Math.max(mx, s[j]);
        }
        if (mx === -Infinity) continue;
        let l = 0;
        for (let j = 0; j < sk; ++j) {
          s[j] = s[j] === -Infinity ? 0 : Math.exp(s[j] - mx);
          l += s[j];
        }
        const o = ((bi * hq + h) * sq + i) * dv;
        for (let j = 0; j < sk; ++j) {
          if (s[j] === 0) continue;
          const w = s[j] / l;
          for (let c = 0; c < dv; ++c) out[o + c] += w * V[((bi * hkv + kh) * sk + j) * dv + c];
        }
      }
    }
  return out;
}

let seedCounter = 1000;
/** A seeded f32 tensor uniform in [-amp, amp). */
export function rnd(shape: number[], amp = 1, seed = seedCounter++): nt.Tensor {
  const n = shape.reduce((a, x) => a * x, 1);
  return nt.tensor(Float32Array.from(uniform(n, seed, -amp, amp)), { shape });
}

/** Largest |a - b| relative to max |b| (1 when b is all zero). */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; ++i) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  if (Number.isNaN(err)) return Infinity;
  return err / Math.max(scale, 1e-30);
}
