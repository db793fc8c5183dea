// nt.quant.fromGptq / toGptq: the AutoGPTQ "gptq" checkpoint layout. A hand-built known layer,
// AutoGPTQ's packing loop re-implemented here as the reference, round trips for every bit
// width and both zero conventions, act-order g_idx, and errors.
import * as nt from '../../lib';
import { expectCode, expectRejects, randomTensor, unpackCodes, values } from './helpers';

/** AutoGPTQ QuantLinear.pack for a [K, N] code matrix (intweight = codes transposed). */
function autogptqPack(codes: number[][], bits: number): Int32Array {
  // codes[n][k]; returns qweight [K*bits/32, N] row-major
  const n = codes.length;
  const k = codes[0].length;
  const rows = (k * bits) / 32;
  const q = new Uint32Array(rows * n);
  for (let col = 0; col < n; ++col) {
    for (let bit = 0, kk = 0; kk < k; ++kk, bit += bits) {
      const v = codes[col][kk];
      const w = Math.floor(bit / 32);
      const s = bit % 32;
      q[w * n + col] = (q[w * n + col] | (v << s)) >>> 0;
      if (s + bits > 32) q[(w + 1) * n + col] = (q[(w + 1) * n + col] | (v >>> (32 - s))) >>> 0;
    }
  }
  return new Int32Array(q.buffer);
}

describe('nt.quant GPTQ checkpoint format', () => {
  const base = nt.memory();
  afterAll(() => expect(nt.memory()).toEqual(base));

  it('reads a hand-built 4-bit v1 layer (zeros stored minus one)', () => {
    // K = 8 inputs, N = 8 outputs, one group of 8. Row n has codes k + n (mod 16) at column k.
    const N = 8;
    const K = 8;
    const qweight = new Int32Array(N);
    for (let n = 0; n < N; ++n) {
      let word = 0;
      for (let k = 0; k < K; ++k) word |= ((k + n) & 15) << (4 * k);
      qweight[n] = word;
    }
    expect(qweight[0] >>> 0).toBe(0x76543210);
    // zero of output n = n + 1 (stored as n in v1), packed 4 bits each along N
    let zword = 0;
    for (let n = 0; n < N; ++n) zword |= n << (4 * n);
    const qw = nt.tensor(qweight, { shape: [1, N] });
    const qz = nt.tensor(Int32Array.from([zword]), { shape: [1, 1] });
    const scales = nt.tensor(Float32Array.from({ length: N }, (_, n) => 0.5 * (n + 1)), { shape: [1, N], dtype: 'f16' });
    const gIdx = nt.zeros([K], 'i32');
    const q = nt.quant.fromGptq({ qweight: qw, qzeros: qz, scales, gIdx, bits: 4, groupSize: -1 });
    expect(q.shape).toEqual([N, K]);
    expect(q.groupSize).toBe(K);
    expect(q.gIdx).toBeNull(); // trivial g_idx dropped
    expect(q.symmetric).toBe(false);
    expect(Array.from(q.zeros.data as Uint8Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const d = nt.quant.dequantize(q);
    const dv = values(d);
    for (let n = 0; n < N; ++n)
      for (let k = 0; k < K; ++k) expect(dv[n * K + k]).toBe(0.5 * (n + 1) * (((k + n) & 15) - (n + 1)));
    // and back: the same tensors
    const back = nt.quant.toGptq(q);
    expect(Array.from(back.qweight.data as Int32Array)).toEqual(Array.from(qweight));
    expect(Array.from(back.qzeros.data as Int32Array)).toEqual([zword]);
    expect(back.scales.dtype).toBe('f16');
    expect(Array.from(values(back.scales))).toEqual(Array.from(values(scales)));
    expect(Array.from(back.g_idx.data as Int32Array)).toEqual(new Array(K).fill(0));
    // v2 reads the stored zeros as they are
    const q2 = nt.quant.fromGptq({ qweight: qw, qzeros: qz, scales, bits: 4, groupSize: 8, checkpointFormat: 'gptq_v2' });
    expect(Array.from(q2.zeros.data as Uint8Array)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    [qw, qz, scales, gIdx, d, back.qweight, back.qzeros, back.scales, back.g_idx].forEach((x) => x.dispose());
    q.dispose();
    q2.dispose();
  });

  it('packs like AutoGPTQ and round-trips every bit width, group size and zero convention', () => {
    for (const bits of [2, 3, 4, 8] as const)
      for (const groupSize of [32, 64, 'row'] as const)
        for (const checkpointFormat of ['gptq', 'gptq_v2'] as const) {
          const w = randomTensor([64, 96], 'f32', bits * 7, -1, 0.8);
          const q = nt.quant.quantize(w, { bits, groupSize });
          const t = nt.quant.toGptq(q, { checkpointFormat });
          expect(t.qweight.shape).toEqual([(96 * bits) / 32, 64]);
          expect(t.qzeros.shape).toEqual([q.groups, (64 * bits) / 32]);
          expect(t.scales.shape).toEqual([q.groups, 64]);
          const codes = unpackCodes(q);
          const rows: number[][] = [];
          for (let n = 0; n < 64; ++n) rows.push(Array.from(codes.subarray(n * 96, n * 96 + 96)));
          expect(Array.from(t.qweight.data as Int32Array)).toEqual(Array.from(autogptqPack(rows, bits)));
          const back = nt.quant.fromGptq({ ...t, gIdx: t.g_idx, bits, groupSize: q.groupSize, sym: false, checkpointFormat });
          expect(back.gIdx).toBeNull();
          expect(back.symmetric).toBe(false);
          expect(Array.from(back.codes.data as Uint8Array)).toEqual(Array.from(q.codes.data as Uint8Array));
          expect(Array.from(back.zeros.data as Uint8Array)).toEqual(Array.from(q.zeros.data as Uint8Array));
          expect(Array.from(values(back.scales))).toEqual(Array.from(values(q.scales)));
          const a = nt.quant.dequantize(q);
          const b = nt.quant.dequantize(back);
          expect(Array.from(b.data as Float32Array)).toEqual(Array.from(a.data as Float32Array));
          [a, b, t.qweight, t.qzeros, t.scales, t.g_idx, w].forEach((x) => x.dispose());
          q.dispose();
          back.dispose();
        }
  });

  it('keeps an act-order g_idx, infers symmetric grids and rounds f32 scales to f16 on export', () => {
    const w = randomTensor([32, 64], 'f32', 3);
    const q = nt.quant.quantize(w, { bits: 4, groupSize: 32, symmetric: true, scaleDtype: 'f32' });
    const t = nt.quant.toGptq(q);
    expect(t.scales.dtype).toBe('f16');
    // a permuted g_idx: columns interleave the two groups
    const perm = Int32Array.from({ length: 64 }, (_, k) => k % 2);
    const gIdx = nt.tensor(perm);
    const r = nt.quant.fromGptq({ qweight: t.qweight, qzeros: t.qzeros, scales: t.scales, gIdx, groupSize: 32 });
    expect(r.symmetric).toBe(true);
    expect(r.scales.dtype).toBe('f16');
    expect(Array.from(r.gIdx!.data as Int32Array)).toEqual(Array.from(perm));
    const d = nt.quant.dequantize(r);
    const codes = unpackCodes(r);
    const sc = values(r.scales);
    const dv = values(d);
    for (let n = 0; n < 32; ++n)
      for (let k = 0; k < 64; ++k) expect(dv[n * 64 + k]).toBe(Math.fround(sc[n * 2 + perm[k]] * (codes[n * 64 + k] - 8)));
    const t2 = nt.quant.toGptq(r);
    expect(Array.from(t2.g_idx.data as Int32Array)).toEqual(Array.from(perm));
    [w, t.qweight, t.qzeros, t.scales, t.g_idx, gIdx, d, t2.qweight, t2.qzeros, t2.scales, t2.g_idx].forEach((x) => x.dispose());
    q.dispose();
    r.dispose();
  });

  it('async twins equal the sync forms; argument errors reject', async () => {
    const w = randomTensor([32, 96], 'f32', 12);
    const q = nt.quant.quantize(w, { bits: 3, groupSize: 32 });
    const a = nt.quant.toGptq(q);
    const b = await nt.quant.toGptqAsync(q);
    for (const key of ['qweight', 'qzeros', 'scales', 'g_idx'] as const)
      expect(Array.from(values(b[key]))).toEqual(Array.from(values(a[key])));
    const parts = { ...b, gIdx: b.g_idx, bits: 3, groupSize: 32 } as const;
    const c = nt.quant.fromGptq(parts);
    const d = await nt.quant.fromGptqAsync(parts);
    expect(Array.from(d.codes.data as Uint8Array)).toEqual(Array.from(c.codes.data as Uint8Array));
    expect(Array.from(d.zeros.data as Uint8Array)).toEqual(Array.from(q.zeros.data as Uint8Array));
    await expectRejects(nt.quant.fromGptqAsync({ ...parts, bits: 4 }), 'NT_SHAPE', /^\[quant\.fromGptq\]/);
    await expectRejects(nt.quant.toGptqAsync(q, { checkpointFormat: 'v3' as never }), 'NT_VALUE', /^\[quant\.toGptq\]/);
    q.dispose();
    await expectRejects(nt.quant.toGptqAsync(q), 'NT_DISPOSED', /^\[quant\.toGptq\]/);
    [a, b].forEach((t) => Object.values(t).forEach((x) => x.dispose()));
    [c, d].forEach((x) => x.dispose());
    w.dispose();
  });

  it('refuses layouts the format cannot hold and malformed tensors', () => {
    const op = /^\[quant\.(toGptq|fromGptq)\]/;
    const w = randomTensor([8, 36], 'f32', 1);
    const q = nt.quant.quantize(w, { groupSize: 32 });
    expectCode(() => nt.quant.toGptq(q), 'NT_SHAPE', /\[quant\.toGptq\] the GPTQ format needs/);
    expectCode(() => nt.quant.toGptq(q, { checkpointFormat: 'awq' as never }), 'NT_VALUE', /checkpointFormat must be/);
    const qw = nt.zeros([4, 8], 'i32');
    const qz = nt.zeros([1, 1], 'i32');
    const sc = nt.ones([1, 8], 'f16');
    const ok = { qweight: qw, qzeros: qz, scales: sc, groupSize: 32 };
    const r = nt.quant.fromGptq(ok);
    expect(r.shape).toEqual([8, 32]);
    r.dispose();
    expectCode(() => nt.quant.fromGptq({ ...ok, bits: 5 as never }), 'NT_VALUE', /bits must be 2, 3, 4 or 8/);
    expectCode(() => nt.quant.fromGptq({ ...ok, bits: 3 }), 'NT_SHAPE', op); // 4 rows are not whole 3-bit streams
    expectCode(() => nt.quant.fromGptq({ ...ok, groupSize: 0 }), 'NT_VALUE', /groupSize must be a positive integer/);
    expectCode(() => nt.quant.fromGptq({ ...ok, groupSize: 16 }), 'NT_SHAPE', /qzeros must have shape \[2,1\]/);
    const sc2 = nt.ones([1, 7], 'f16');
    expectCode(() => nt.quant.fromGptq({ ...ok, scales: sc2 }), 'NT_SHAPE', /scales must have shape \[1,8\]/);
    const qwf = nt.zeros([4, 8]);
    expectCode(() => nt.quant.fromGptq({ ...ok, qweight: qwf }), 'NT_DTYPE', /qweight must be i32/);
    const g = nt.full([32], 1, 'i32');
    expectCode(() => nt.quant.fromGptq({ ...ok, gIdx: g }), 'NT_VALUE', /gIdx\[0\] = 1 is outside \[0, 1\)/);
    expectCode(() => nt.quant.fromGptq(undefined as never), 'NT_VALUE', op);
    q.dispose();
    expectCode(() => nt.quant.toGptq(q), 'NT_DISPOSED', /\[quant\.toGptq\] q \(QTensor\) was disposed/);
    qw.dispose();
    expectCode(() => nt.quant.fromGptq(ok), 'NT_DISPOSED', /\[quant\.fromGptq\] qweight/);
    [w, qz, sc, sc2, qwf, g].forEach((x) => x.dispose());
  });
});
