// Float64 references and seeded inputs shared by tests.

/** mulberry32: a tiny seeded PRNG for test inputs (independent of the library's own PRNG). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [lo, hi). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = seeded(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; ++i) out[i] = lo + (hi - lo) * r();
  return out;
}

export function f16Decode(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function bf16Decode(b: number): number {
  const f = new Float32Array(new Uint32Array([(b & 0xffff) << 16]).buffer);
  return f[0];
}

/** Row-major element order of a strided view described by shape/strides/offset. */
export function stridedIndices(shape: readonly number[], strides: readonly number[], offset: number): number[] {
  const out: number[] = [];
  const idx = new Array(shape.length).fill(0);
  const n = shape.reduce((a, b) => a * b, 1);
  for (let k = 0; k < n; ++k) {
    out.push(offset + idx.reduce((acc, v, i) => acc + v * strides[i], 0));
    for (let d = shape.length - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Captures the code of a thrown error (errors from the addon live in another realm). */
export function errorOf(fn: () => unknown): { code?: string; message: string; name: string } {
  try {
    fn();
  } catch (e) {
    const err = e as { code?: string; message: string; name: string };
    return { code: err.code, message: err.message, name: err.name };
  }
  throw new Error('expected an error, none was thrown');
}
