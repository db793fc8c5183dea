// nt.quant.matmul: the kernel error against a float64 reference written here (dequantize the
// random parts in f64, then an f64 matmul), separate from any quantization error: QTensors
// are built directly from random parts (random code bytes, positive scales, random zeros).
// Odd shapes, k not a multiple of the group, groups 32/64/128/whole row, bits 2/3/4/8, f16 and
// f32 scales, gIdx, the GEMV path (m <= 4), the panel GEMM path (larger m) and the SGEMM on
// dequantized weight blocks (m >= 512), agreeing,
// thread-count independence, strided and batched x, strided out, async, errors.
import * as nt from '../../lib';
import { QTensor } from '../../lib/quant';
import type { QuantBits } from '../../lib/quant';
import { native } from '../../lib/native/loader';
import { errorOf, f16Decode, seeded } from '../helpers/reference';

// Tolerance table (one per op family): |y − y_ref| <= TOL(k) · Σ_c |x_c| · scale · (q_c + zero),
// the magnitude of both the per-element dequantized products and the per-group
// scale · (dot(q, x) − zero · sum(x)) form some kernels use. f32 accumulation over k terms.
const EPS32 = 2 ** -24;
const TOL = (k: number) => 4 * (Math.sqrt(k) + 8) * EPS32;

interface Parts {
  rows: number;
  cols: number;
  bits: QuantBits;
  groupSize: number;
  codes: Uint8Array;
  scales: Float64Array; // the stored values (f16-rounded for f16 scales)
  zeros: Uint8Array;
  gIdx: Int32Array | null;
}

function randomParts(rows: number, cols: number, bits: QuantBits, group: number | 'row', seed: number, withGIdx = false): Parts {
  const r = seeded(seed);
  const groupSize = group === 'row' ? Math.max(cols, 1) : group;
  const groups = Math.ceil(cols / groupSize);
  const rb = bits === 8 ? cols : Math.ceil(cols / 2);
  const maxq = (1 << bits) - 1;
  const codes = new Uint8Array(rows * rb);
  for (let i = 0; i < codes.length; ++i) {
    if (bits === 8) codes[i] = Math.floor(r() * 256);
    else codes[i] = Math.floor(r() * (maxq + 1)) | (Math.floor(r() * (maxq + 1)) << 4);
  }
  const zeros = new Uint8Array(rows * groups);
  for (let i = 0; i < zeros.length; ++i) zeros[i] = Math.floor(r() * (maxq + 1));
  const scales = new Float64Array(rows * groups);
  for (let i = 0; i < scales.length; ++i) scales[i] = Math.fround(0.01 + 0.1 * r());
  let gIdx: Int32Array | null = null;
  if (withGIdx) {
    gIdx = new Int32Array(cols);
    for (let c = 0; c < cols; ++c) gIdx[c] = Math.floor(r() * groups);
  }
  return { rows, cols, bits, groupSize, codes, scales, zeros, gIdx };
}

function makeQ(p: Parts, scaleDtype: 'f32' | 'f16'): QTensor {
  const groups = Math.ceil(p.cols / p.groupSize);
  const rb = p.bits === 8 ? p.cols : Math.ceil(p.cols / 2);
  let scales = nt.tensor(Float32Array.from(p.scales), { shape: [p.rows, groups] });
  if (scaleDtype === 'f16') {
    const h = scales.astype('f16');
    scales.dispose();
    scales = h;
    const bits = h.data as Uint16Array;
    for (let i = 0; i < bits.length; ++i) p.scales[i] = f16Decode(bits[i]);
  }
  return new QTensor({
    codes: nt.tensor(p.codes.slice(), { shape: [p.rows, rb], dtype: 'u8' }),
    scales,
    zeros: nt.tensor(p.zeros.slice(), { shape: [p.rows, groups], dtype: 'u8' }),
    gIdx: p.gIdx ? nt.tensor(p.gIdx.slice(), { shape: [p.cols], dtype: 'i32' }) : null,
    shape: [p.rows, p.cols],
    bits: p.bits,
    groupSize: p.groupSize,
    symmetric: false,
  });
}

function code(p: Parts, r: number, c: number): number {
  if (p.bits === 8) return p.codes[r * p.cols + c];
  const b = p.codes[r * Math.ceil(p.cols / 2) + (c >> 1)];
  return c & 1 ? b >> 4 : b & 15;
}

/** f64 dequantized weight [rows, cols] and the magnitude weight scale · (q + zero). */
function dequant64(p: Parts): { w: Float64Array; mag: Float64Array } {
  const groups = Math.ceil(p.cols / p.groupSize);
  const w = new Float64Array(p.rows * p.cols);
  const mag = new Float64Array(p.rows * p.cols);
  for (let r = 0; r < p.rows; ++r)
    for (let c = 0; c < p.cols; ++c) {
      const g = p.gIdx ? p.gIdx[c] : Math.floor(c / p.groupSize);
      const s = p.scales[r * groups + g];
      const z = p.zeros[r * groups + g];
      const q = code(p, r, c);
      w[r * p.cols + c] = s * (q - z);
      mag[r * p.cols + c] = s * (q + z);
    }
  return { w, mag };
}

/** Checks y [m, n] (row-major values) against x [m, k] · Ŵᵀ in f64; returns the worst error / tolerance. */
function checkAgainstReference(y: ArrayLike<number>, x: ArrayLike<number>, m: number, p: Parts): number {
  const { w, mag } = dequant64(p);
  const k = p.cols;
  let worst = 0;
  for (let i = 0; i < m; ++i)
    for (let r = 0; r < p.rows; ++r) {
      let s = 0;
      let a = 0;
      for (let c = 0; c < k; ++c) {
        s += x[i * k + c] * w[r * k + c];
        a += Math.abs(x[i * k + c]) * mag[r * k + c];
      }
      const err = Math.abs(y[i * p.rows + r] - s);
      const tol = TOL(k) * a + 1e-30;
      worst = Math.max(worst, err / tol);
      if (!(err <= tol)) throw new Error(`y(${i}, ${r}) = ${y[i * p.rows + r]}, reference ${s}, |err| ${err} > tol ${tol}`);
    }
  return worst;
}

function randomX(m: number, k: number, seed: number): Float32Array {
  const r = seeded(seed);
  const x = new Float32Array(m * k);
  for (let i = 0; i < x.length; ++i) x[i] = 2 * r() - 1;
  return x;
}

function values(t: nt.Tensor): number[] {
  return Array.from(t.contiguous().data as Float32Array);
}

describe('nt.quant.matmul vs a float64 dequantize-then-matmul reference', () => {
  const cases: [number, number, number, QuantBits, number | 'row', 'f32' | 'f16', boolean][] = [];
  // [m, n, k, bits, group, scaleDtype, gIdx]
  let i = 0;
  for (const bits of [4, 2, 3, 8] as QuantBits[])
    for (const group of [32, 64, 128, 'row'] as const)
      for (const [m, n, k] of [
        [1, 7, 33],
        [3, 17, 129],
        [7, 33, 200],
        [17, 3, 65],
      ]) {
        if (bits !== 4 && (m === 3 || m === 17)) continue; // keep the non-4-bit grid smaller
        cases.push([m, n, k, bits, group, ++i % 2 ? 'f32' : 'f16', false]);
      }
  for (const bits of [4, 8] as QuantBits[])
    for (const m of [1, 33]) cases.push([m, 9, 129, bits, 32, 'f16', true]);
  // m >= 512: weight blocks dequantized once, then the SGEMM (every layout's dequantizer)
  for (const [bits, group, gidx] of [
    [4, 128, false],
    [4, 32, false],
    [3, 64, false],
    [8, 'row', false],
    [4, 32, true],
  ] as const)
    cases.push([520, 37, 200, bits, group, 'f16', gidx]);
  cases.push([129, 7, 1, 4, 32, 'f32', false]);
  cases.push([4, 1, 1031, 4, 128, 'f32', false]);
  cases.push([1, 1, 7, 3, 'row', 'f16', false]);

  test.each(cases)('m=%i n=%i k=%i bits=%i group=%s scales=%s gIdx=%s', (m, n, k, bits, group, sd, gidx) => {
    const p = randomParts(n, k, bits, group, 1000 + m * 31 + n * 7 + k + bits, gidx);
    const q = makeQ(p, sd);
    const xv = randomX(m, k, 5 + m + k);
    const x = nt.tensor(xv, { shape: [m, k] });
    const y = nt.quant.matmul(x, q);
    expect(y.shape).toEqual([m, n]);
    expect(y.dtype).toBe('f32');
    checkAgainstReference(values(y), xv, m, p);
    y.dispose();
    x.dispose();
    q.dispose();
  });

  // 8-bit codes: the fused 8-bit GEMV (m <= 4) and the 8-bit panel dequantizer (m > 4), every m
  // from 1 to 9, odd k and n, asymmetric and symmetric (zero 128) codes, and an activation outlier
  // of ±65504 in column 6 against codes at the zero point (ŵ = 0 there exactly)
  const eight: [number, number, number | 'row', boolean, boolean][] = [];
  let e = 0;
  for (const group of [32, 64, 128, 'row'] as const)
    for (let m = 1; m <= 9; ++m) eight.push([m, m % 2 ? 13 : 8, group, ++e % 2 === 0, e % 3 === 0]);
  test.each(eight)('bits=8 m=%i n=%i group=%s symmetric=%s outlier=%s', (m, n, group, sym, outlier) => {
    const k = 161;
    const p = randomParts(n, k, 8, group, 4000 + m * 13 + n, false);
    if (sym) p.zeros.fill(128);
    const groups = Math.ceil(k / p.groupSize);
    const xv = randomX(m, k, 40 + m);
    if (outlier) {
      for (let i = 0; i < m; ++i) xv[i * k + 6] = i % 2 ? -65504 : 65504;
      for (let r = 0; r < n; ++r) p.codes[r * k + 6] = p.zeros[r * groups + Math.floor(6 / p.groupSize)];
    }
    const q = makeQ(p, m % 2 ? 'f16' : 'f32');
    const x = nt.tensor(xv, { shape: [m, k] });
    const y = nt.quant.matmul(x, q);
    checkAgainstReference(values(y), xv, m, p);
    [x, y, q].forEach((t) => t.dispose());
  });

  test('the tolerance is tight enough to see one wrong code', () => {
    const p = randomParts(5, 130, 4, 32, 77);
    const q = makeQ(p, 'f32');
    const xv = randomX(2, 130, 78);
    const x = nt.tensor(xv, { shape: [2, 130] });
    const y = nt.quant.matmul(x, q);
    p.codes[3] ^= 0x01; // the reference now differs in one code of row 0
    expect(() => checkAgainstReference(values(y), xv, 2, p)).toThrow(/reference/);
    [x, y, q].forEach((t) => t.dispose());
  });
});

describe('paths and threads', () => {
  test('the GEMV path (m = 1) and the panel path (m = 40) give the same rows', () => {
    for (const [group, bits] of [
      [32, 4],
      [128, 4],
      ['row', 4],
      [64, 3],
    ] as const) {
      const k = 515;
      const p = randomParts(70, k, bits as QuantBits, group as number | 'row', 300);
      const q = makeQ(p, 'f16');
      const xv = randomX(40, k, 301);
      const x = nt.tensor(xv, { shape: [40, k] });
      const big = values(nt.quant.matmul(x, q));
      for (const i of [0, 17, 39]) {
        const row = x.slice([i, i + 1]);
        const one = values(nt.quant.matmul(row, q));
        const { mag } = dequant64(p);
        for (let r = 0; r < 70; ++r) {
          let a = 0;
          for (let c = 0; c < k; ++c) a += Math.abs(xv[i * k + c]) * mag[r * k + c];
          expect(Math.abs(one[r] - big[i * 70 + r])).toBeLessThanOrEqual(2 * TOL(k) * a);
        }
        row.dispose();
      }
      checkAgainstReference(big, xv, 40, p);
      x.dispose();
      q.dispose();
    }
  });

  test('the SGEMM over dequantized weight blocks (m = 515; two blocks of 508 and 92 weight rows at k = 4099) gives the GEMV rows', () => {
    const [m, n, k] = [515, 600, 4099];
    const p = randomParts(n, k, 4, 128, 310);
    const q = makeQ(p, 'f16');
    const xv = randomX(m, k, 311);
    const x = nt.tensor(xv, { shape: [m, k] });
    const big = values(nt.quant.matmul(x, q));
    const { mag } = dequant64(p);
    for (const i of [0, 258, 514]) {
      const row = x.slice([i, i + 1]);
      const one = values(nt.quant.matmul(row, q));
      for (const r of [0, 1, 507, 508, 509, 599]) {
        let a = 0;
        for (let c = 0; c < k; ++c) a += Math.abs(xv[i * k + c]) * mag[r * k + c];
        expect(Math.abs(one[r] - big[i * n + r])).toBeLessThanOrEqual(2 * TOL(k) * a);
      }
      row.dispose();
    }
    x.dispose();
    q.dispose();
  });

  test('1 and 2 threads give bit-identical results (GEMV, small-m GEMM, large-m GEMM, SGEMM blocks)', () => {
    const before = nt.getNumThreads();
    try {
      for (const m of [1, 3, 9, 300, 600]) {
        const p = randomParts(257, 300, 4, 64, 400 + m);
        const q = makeQ(p, 'f32');
        const x = nt.tensor(randomX(m, 300, 401), { shape: [m, 300] });
        nt.setNumThreads(1);
        const y1 = nt.quant.matmul(x, q);
        nt.setNumThreads(2);
        const y2 = nt.quant.matmul(x, q);
        expect(Array.from(y2.data as Float32Array)).toEqual(Array.from(y1.data as Float32Array));
        [x, y1, y2, q].forEach((t) => t.dispose());
      }
    } finally {
      nt.setNumThreads(before);
    }
  });
});

describe("activations: 'int8'", () => {
  // Accuracy of the int8-activation path (x rounded to int8 per row and weight group): its error
  // against the f64 reference, relative to max |y|. Under NTENSOR_ISA=scalar the request falls
  // back to the f32 path (reported), whose error is far below this bound.
  const INT8_REL = 2e-2;
  const int8Served = nt.info().qmatmul.int8Kernel !== null;

  test.each([
    [1, 4096, 128],
    [1, 2048, 32],
    [2, 515, 64],
    [3, 515, 'row'],
    [4, 300, 32],
    [6, 640, 256],
    [40, 384, 128],
    [17, 333, 32],
    [600, 160, 32],
  ] as const)('m=%i k=%i group=%s: close to the f64 reference', (m, k, group) => {
    const p = randomParts(37, k, 4, group, 700 + m + k);
    const q = makeQ(p, 'f16');
    const xv = randomX(m, k, 701 + m);
    const x = nt.tensor(xv, { shape: [m, k] });
    const y8 = values(nt.quant.matmul(x, q, { activations: 'int8' }));
    const { w } = dequant64(p);
    let worst = 0;
    let ymax = 0;
    for (let i = 0; i < m; ++i)
      for (let r = 0; r < 37; ++r) {
        let s = 0;
        for (let c = 0; c < k; ++c) s += xv[i * k + c] * w[r * k + c];
        worst = Math.max(worst, Math.abs(y8[i * 37 + r] - s));
        ymax = Math.max(ymax, Math.abs(s));
      }
    expect(worst / ymax).toBeLessThan(INT8_REL);
    const y8b = values(nt.quant.matmul(x, q, { activations: 'int8' }));
    expect(y8b).toEqual(y8);
    expect(nt.quant.matmulPath(q, { activations: 'int8' }).activations).toBe(int8Served ? 'int8' : 'f32');
    [x, q].forEach((t) => t.dispose());
  });

  test('group 32 (Q4_0-style symmetric int4) takes the int8 kernel on every x86 kernel set', () => {
    const p = randomParts(8, 256, 4, 32, 710);
    p.zeros.fill(8);
    const q = makeQ(p, 'f16');
    const path = nt.quant.matmulPath(q, { activations: 'int8' });
    expect(path.kernel).toBe(nt.info().qmatmul.kernel);
    if (int8Served) expect(path).toEqual({ kernel: path.kernel, activations: 'int8' });
    else expect(path.fallback).toMatch(/no int8-activation kernel/);
    expect(nt.quant.matmulPath(q)).toEqual({ kernel: path.kernel, activations: 'f32' });
    q.dispose();
  });

  test('a request the int8 kernels cannot serve runs the f32 bits and is reported once per reason', () => {
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      for (const [bits, group, gidx, reason] of [
        [4, 128, true, /gIdx/],
        [8, 128, false, /2\/3\/4-bit codes/],
        [4, 96, false, /group size does not tile/],
      ] as const) {
        const p = randomParts(9, 192, bits, group, 720 + bits + group, gidx);
        const q = makeQ(p, 'f32');
        const x = nt.tensor(randomX(2, 192, 721), { shape: [2, 192] });
        const path = nt.quant.matmulPath(q, { activations: 'int8' });
        expect(path.activations).toBe('f32');
        expect(path.fallback).toMatch(int8Served ? reason : /no int8-activation kernel/);
        warn.mockClear();
        const y8 = values(nt.quant.matmul(x, q, { activations: 'int8' }));
        const y8again = values(nt.quant.matmul(x, q, { activations: 'int8' }));
        expect(y8).toEqual(values(nt.quant.matmul(x, q)));
        expect(y8again).toEqual(y8);
        // the first fallback of this reason in the process warns (scalar: all share one reason)
        const calls = warn.mock.calls.filter((c) => (c[1] as { code?: string } | undefined)?.code === 'NT_QMATMUL_INT8_FALLBACK');
        expect(calls.length).toBeLessThanOrEqual(1);
        if (int8Served) {
          expect(calls.length).toBe(1);
          expect(String(calls[0][0])).toMatch(/activations 'int8' requested/);
          expect(String(calls[0][0])).toMatch(reason);
        }
        [x, q].forEach((t) => t.dispose());
      }
    } finally {
      warn.mockRestore();
    }
  });

  test('an f32 request never warns', () => {
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const q = makeQ(randomParts(3, 64, 8, 32, 740), 'f32');
      const x = nt.tensor(randomX(1, 64, 741), { shape: [1, 64] });
      nt.quant.matmul(x, q, { activations: 'f32' }).dispose();
      nt.quant.matmul(x, q).dispose();
      expect(warn).not.toHaveBeenCalled();
      [x, q].forEach((t) => t.dispose());
    } finally {
      warn.mockRestore();
    }
  });

  test('1 and 2 threads give the same bits; async matches', async () => {
    const before = nt.getNumThreads();
    for (const group of [128, 32]) {
      const p = randomParts(150, 512, 4, group, 730 + group);
      const q = makeQ(p, 'f32');
      const x = nt.tensor(randomX(9, 512, 731), { shape: [9, 512] });
      try {
        nt.setNumThreads(1);
        const y1 = values(nt.quant.matmul(x, q, { activations: 'int8' }));
        nt.setNumThreads(2);
        const y2 = values(nt.quant.matmul(x, q, { activations: 'int8' }));
        expect(y2).toEqual(y1);
        const ya = values(await nt.quant.matmulAsync(x, q, { activations: 'int8' }));
        expect(ya).toEqual(y1);
      } finally {
        nt.setNumThreads(before);
        [x, q].forEach((t) => t.dispose());
      }
    }
  });

  test('QuantLinear takes { activations } and reports its path', () => {
    const p = randomParts(12, 256, 4, 64, 750);
    const x = nt.tensor(randomX(5, 256, 751), { shape: [5, 256] });
    const lin8 = new nt.model.QuantLinear(makeQ(p, 'f16'), { activations: 'int8' });
    const lin32 = new nt.model.QuantLinear(makeQ(p, 'f16'));
    try {
      expect(lin8.activations).toBe('int8');
      expect(lin32.activations).toBe('f32');
      expect(lin8.path.activations).toBe(int8Served ? 'int8' : 'f32');
      expect(lin32.path).toEqual({ kernel: nt.info().qmatmul.kernel, activations: 'f32' });
      expect(values(lin8.forward(x))).toEqual(values(nt.quant.matmul(x, lin8.q, { activations: 'int8' })));
      expect(values(lin32.forward(x))).toEqual(values(nt.quant.matmul(x, lin32.q)));
      const e = errorOf(() => new nt.model.QuantLinear(lin8.q, { activations: 'fp8' as 'int8' }));
      expect(e.code).toBe('NT_VALUE');
      expect(e.message).toMatch(/\[QuantLinear\] activations must be 'f32' or 'int8', got fp8/);
      expect(errorOf(() => new nt.model.QuantLinear(lin8.q, 5 as unknown as object)).code).toBe('NT_VALUE');
    } finally {
      [x, lin8, lin32].forEach((t) => t.dispose());
    }
  });

  test('nt.info() lists the quantized-matmul kernel sets and the int8 kernel in use', () => {
    const i = nt.info().qmatmul;
    expect(i.kernelSets[i.kernelSets.length - 1]).toBe('scalar');
    expect(i.kernelSets).toContain(i.kernel);
    if (i.kernel === 'scalar') expect(i.int8Kernel).toBeNull();
    else expect(i.int8Kernel).toMatch(/vpdpbusd|vpmaddubsw/);
    if (process.env.NTENSOR_ISA === 'avx2') expect(i.kernel).toBe('avx2');
  });
});

describe('layouts and dtypes', () => {
  const k = 70;
  const n = 11;
  let p: Parts;
  let q: QTensor;
  beforeAll(() => {
    p = randomParts(n, k, 4, 32, 500);
    q = makeQ(p, 'f32');
  });
  afterAll(() => q.dispose());

  test('a transposed x view is read in place', () => {
    const xv = randomX(5, k, 501);
    const xt = nt.tensor(new Float32Array(k * 5), { shape: [k, 5] });
    const d = xt.data as Float32Array;
    for (let i = 0; i < 5; ++i) for (let c = 0; c < k; ++c) d[c * 5 + i] = xv[i * k + c];
    const x = xt.transpose();
    expect(x.isContiguous).toBe(false);
    const y = nt.quant.matmul(x, q);
    checkAgainstReference(values(y), xv, 5, p);
    [xt, x, y].forEach((t) => t.dispose());
  });

  test('batched x [2, 3, k], a non-collapsible 3-D view and a 1-D x', () => {
    const xv = randomX(6, k, 502);
    const x = nt.tensor(xv, { shape: [2, 3, k] });
    const y = nt.quant.matmul(x, q);
    expect(y.shape).toEqual([2, 3, n]);
    checkAgainstReference(values(y), xv, 6, p);
    // rows 1..3 of each of two [5, k] blocks: strides [5k, k, 1] do not collapse
    const bigv = randomX(10, k, 503);
    const big = nt.tensor(bigv, { shape: [2, 5, k] });
    const view = big.slice(null, [1, 4]);
    const yv = nt.quant.matmul(view, q);
    const picked = new Float32Array(6 * k);
    for (let b = 0; b < 2; ++b) for (let r = 0; r < 3; ++r) picked.set(bigv.subarray((b * 5 + r + 1) * k, (b * 5 + r + 2) * k), (b * 3 + r) * k);
    checkAgainstReference(values(yv), picked, 6, p);
    const x1 = nt.tensor(xv.slice(0, k), { shape: [k] });
    const y1 = nt.quant.matmul(x1, q);
    expect(y1.shape).toEqual([n]);
    checkAgainstReference(values(y1), xv, 1, p);
    [x, y, big, view, yv, x1, y1].forEach((t) => t.dispose());
  });

  test('f64, f16 and bf16 x are converted to f32', () => {
    const xv = randomX(3, k, 504);
    const x32 = nt.tensor(xv, { shape: [3, k] });
    for (const dt of ['f64', 'f16', 'bf16'] as const) {
      const x = x32.astype(dt);
      const xr = values(x.astype('f32'));
      const y = nt.quant.matmul(x, q);
      expect(y.dtype).toBe('f32');
      checkAgainstReference(values(y), xr, 3, p);
      [x, y].forEach((t) => t.dispose());
    }
    x32.dispose();
  });

  test('{ out }: written in place, also as a strided (transposed) view, and returned', () => {
    const xv = randomX(4, k, 505);
    const x = nt.tensor(xv, { shape: [4, k] });
    const out = nt.zeros([4, n]);
    expect(nt.quant.matmul(x, q, { out })).toBe(out);
    checkAgainstReference(values(out), xv, 4, p);
    const buf = nt.zeros([n, 4]);
    const outT = buf.transpose();
    expect(nt.quant.matmul(x, q, { out: outT })).toBe(outT);
    checkAgainstReference(values(outT), xv, 4, p);
    const out3 = nt.zeros([2, 3, n]).slice(null, [0, 2]); // [2, 2, n], rows not collapsible
    const x3 = nt.tensor(xv, { shape: [2, 2, k] });
    nt.quant.matmul(x3, q, { out: out3 });
    checkAgainstReference(values(out3), xv, 4, p);
    [x, out, buf, outT, out3, x3].forEach((t) => t.dispose());
  });

  test('empty x and zero columns', () => {
    const x0 = nt.zeros([0, k]);
    const y0 = nt.quant.matmul(x0, q);
    expect(y0.shape).toEqual([0, n]);
    const pk = randomParts(3, 0, 4, 32, 506);
    const qk = makeQ(pk, 'f32');
    const xk = nt.zeros([2, 0]);
    const yk = nt.quant.matmul(xk, qk);
    expect(values(yk)).toEqual([0, 0, 0, 0, 0, 0]);
    [x0, y0, qk, xk, yk].forEach((t) => t.dispose());
  });

  test('NaN in x propagates to its row only (as nt.matmul)', () => {
    const xv = randomX(2, k, 507);
    xv[3] = NaN;
    for (const m of [2, 6]) {
      const x = nt.tensor(m === 2 ? xv : Float32Array.from({ length: 6 * k }, (_, i) => xv[i % (2 * k)]), { shape: [m, k] });
      const y = values(nt.quant.matmul(x, q));
      for (let r = 0; r < n; ++r) {
        expect(y[r]).toBeNaN();
        expect(Number.isFinite(y[n + r])).toBe(true);
      }
      x.dispose();
    }
  });

  test('matmulAsync gives the same bits as matmul', async () => {
    const x = nt.tensor(randomX(6, k, 508), { shape: [6, k] });
    const ys = nt.quant.matmul(x, q);
    const ya = await nt.quant.matmulAsync(x, q);
    expect(values(ya)).toEqual(values(ys));
    [x, ys, ya].forEach((t) => t.dispose());
  });

  test('memory returns to the baseline', () => {
    const base = nt.memory();
    const x32 = nt.tensor(randomX(3, k, 509), { shape: [3, k] });
    const x = x32.astype('f16');
    const xt = x.transpose();
    const xtt = xt.transpose();
    const y = nt.quant.matmul(xtt, q);
    const slice = x32.slice(null, [0, -1]); // k − 1 columns: rejected after the view was made
    expect(errorOf(() => nt.quant.matmul(slice, q)).code).toBe('NT_SHAPE');
    [y, x, xt, xtt, x32, slice].forEach((t) => t.dispose());
    expect(nt.memory().tensors).toBe(base.tensors);
    expect(nt.memory().bytes).toBe(base.bytes);
  });
});

describe('errors', () => {
  const p = randomParts(4, 40, 4, 32, 600);
  const q = makeQ(p, 'f32');
  const x = nt.tensor(randomX(2, 40, 601), { shape: [2, 40] });
  afterAll(() => [q, x].forEach((t) => t.dispose()));

  test.each([
    ['x not a tensor', () => nt.quant.matmul([1, 2] as unknown as nt.Tensor, q), 'NT_VALUE', /\[quant\.matmul\] x must be a Tensor/],
    ['q not a QTensor', () => nt.quant.matmul(x, x as unknown as QTensor), 'NT_VALUE', /\[quant\.matmul\] q must be a QTensor/],
    ['k mismatch', () => nt.quant.matmul(nt.zeros([2, 41]), q), 'NT_SHAPE', /x must have shape \[\.\.\., 40\].*got \[2,41\]/],
    ['0-D x', () => nt.quant.matmul(nt.zeros([]), q), 'NT_SHAPE', /x must have shape/],
    ['integer x', () => nt.quant.matmul(nt.zeros([2, 40], 'i32'), q), 'NT_DTYPE', /x must be f32, f64, f16 or bf16, got i32/],
    ['out shape', () => nt.quant.matmul(x, q, { out: nt.zeros([2, 5]) }), 'NT_SHAPE', /out must have shape \[2,4\], got \[2,5\]/],
    ['out dtype', () => nt.quant.matmul(x, q, { out: nt.zeros([2, 4], 'f64') }), 'NT_DTYPE', /out must be f32, got f64/],
    ['options', () => nt.quant.matmul(x, q, 3 as unknown as object), 'NT_VALUE', /options must be an object/],
    ['activations', () => nt.quant.matmul(x, q, { activations: 'fp16' as 'int8' }), 'NT_VALUE', /activations must be 'f32' or 'int8', got string fp16/],
    ['path of a non-QTensor', () => nt.quant.matmulPath(x as unknown as QTensor), 'NT_VALUE', /\[quant\.matmulPath\] q must be a QTensor/],
    ['path activations', () => nt.quant.matmulPath(q, { activations: 'int4' as 'int8' }), 'NT_VALUE', /\[quant\.matmulPath\] activations must be 'f32' or 'int8', got string int4/],
    ['path options', () => nt.quant.matmulPath(q, 'int8' as unknown as object), 'NT_VALUE', /\[quant\.matmulPath\] options must be an object/],
  ])('%s', (_name, fn, code, msg) => {
    const e = errorOf(fn);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(msg);
  });

  test('out is not written when validation fails', () => {
    const out = nt.full([2, 4], 7);
    expect(errorOf(() => nt.quant.matmul(nt.zeros([2, 41]), q, { out })).code).toBe('NT_SHAPE');
    expect(values(out)).toEqual(new Array(8).fill(7));
    out.dispose();
  });

  test('disposed x, q or part', async () => {
    const pq = makeQ(p, 'f32');
    pq.dispose();
    let e = errorOf(() => nt.quant.matmul(x, pq));
    expect(e.code).toBe('NT_DISPOSED');
    expect(e.message).toMatch(/\[quant\.matmul\] q \(QTensor\) was disposed/);
    const dx = nt.zeros([1, 40]);
    dx.dispose();
    e = errorOf(() => nt.quant.matmul(dx, q));
    expect(e.code).toBe('NT_DISPOSED');
    expect(e.message).toMatch(/\[quant\.matmul\] x was disposed/);
    const pq2 = makeQ(p, 'f32');
    pq2.scales.dispose();
    e = errorOf(() => nt.quant.matmul(x, pq2));
    expect(e.code).toBe('NT_DISPOSED');
    expect(e.message).toMatch(/q\.scales/);
    pq2.dispose();
    await expect(nt.quant.matmulAsync(x, pq)).rejects.toMatchObject({ code: 'NT_DISPOSED' });
  });

  test('the native op re-validates direct calls (gIdx out of range, wrong parts)', () => {
    const gi = nt.tensor(new Int32Array(40).fill(5), { dtype: 'i32' }); // only 2 groups
    const y = nt.zeros([2, 4]);
    let e = errorOf(() =>
      native.quantMatmul(
        x._storage, x._metaArray, q.codes._storage, q.codes._metaArray, q.scales._storage, q.scales._metaArray,
        q.zeros._storage, q.zeros._metaArray, gi._storage, gi._metaArray, y._storage, y._metaArray, 4, 32, false,
      ),
    );
    expect(e.code).toBe('NT_VALUE');
    expect(e.message).toMatch(/\[quant\.matmul\] gIdx\[0\] = 5 is outside \[0, 2\)/);
    e = errorOf(() =>
      native.quantMatmul(
        x._storage, x._metaArray, q.codes._storage, q.codes._metaArray, q.scales._storage, q.scales._metaArray,
        q.zeros._storage, q.zeros._metaArray, null, null, y._storage, y._metaArray, 5, 32, false,
      ),
    );
    expect(e.code).toBe('NT_VALUE');
    expect(e.message).toMatch(/bits must be 2, 3, 4 or 8, got 5/);
    e = errorOf(() =>
      native.quantMatmul(
        x._storage, x._metaArray, q.zeros._storage, q.zeros._metaArray, q.scales._storage, q.scales._metaArray,
        q.zeros._storage, q.zeros._metaArray, null, null, y._storage, y._metaArray, 4, 32, false,
      ),
    );
    expect(e.code).toBe('NT_SHAPE');
    e = errorOf(() =>
      native.quantMatmul(
        x._storage, x._metaArray, q.codes._storage, q.codes._metaArray, q.scales._storage, q.scales._metaArray,
        q.zeros._storage, q.zeros._metaArray, null, null, x._storage, x._metaArray, 4, 32, false,
      ),
    );
    expect(e.code).toBe('NT_SHAPE');
    expect(e.message).toMatch(/out must have shape \[2,4\]/);
    [gi, y].forEach((t) => t.dispose());
  });
});
