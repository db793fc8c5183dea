// int4 GEMV (decode's matmul): y[1, n] = x[1, k] · Wᵀ, W a 4-bit group-quantized [n, k]
// (group 128, asymmetric, as nt.quant.quantize makes it). 2nk flops over the packed weight
// bytes (codes + scales + zeros) plus x and y: about 4 flops per byte, memory-bound here.
// The weights rotate over copies spanning 4 x the last-level cache so each call
// streams them from memory, as decode does. numpy has no 4-bit matmul: no peer.
import * as nt from '../../index';
import { ntError } from '../../errors';
import { QTensor } from '../../quant';
import { type BenchSuite, type BuiltSuite, type RowSpec, type SuiteOptions, rotatingCopies } from '../suite';

const GROUP = 128;

function copyOf(q: QTensor): QTensor {
  return new QTensor({
    codes: q.codes.clone(),
    scales: q.scales.clone(),
    zeros: q.zeros.clone(),
    gIdx: null,
    shape: q.shape,
    bits: q.bits,
    groupSize: q.groupSize,
    symmetric: q.symmetric,
  });
}

export const qmatmulSuite: BenchSuite = {
  name: 'qmatmul',
  title: 'int4 GEMV (nt.quant.matmul, 1 x k @ (n x k)ᵀ, group 128)',
  defaultSizes: [4096],
  sizeMeaning: 'n = k of the weight (a multiple of 128)',
  checkSizes(sizes) {
    for (const n of sizes)
      if (!(Number.isInteger(n) && n >= GROUP && n <= 32768 && n % GROUP === 0))
        throw ntError('NT_VALUE', `[bench qmatmul] sizes must be multiples of ${GROUP} in [${GROUP}, 32768], got ${n}`);
  },
  build(o: SuiteOptions): BuiltSuite {
    const owned: { dispose(): void }[] = [];
    const rows: RowSpec[] = [];
    for (const n of o.sizes) {
      const k = n;
      const w = nt.randn([n, k], { seed: 31 + n });
      const q0 = nt.quant.quantize(w, { bits: 4, groupSize: GROUP });
      w.dispose();
      const copies = rotatingCopies(q0.bytes, o.llcBytes);
      const qs = [q0];
      while (qs.length < copies) qs.push(copyOf(q0));
      const x = nt.randn([1, k], { seed: 17 });
      const y = nt.zeros([1, n]);
      owned.push(...qs, x, y);
      const kernel = nt.quant.matmulPath(q0).kernel;
      let i = 0;
      for (const threads of o.threads)
        rows.push({
          name: `int4 GEMV ${k} -> ${n} (${copies} rotating weights)`,
          threads,
          dtype: 'f32',
          flops: 2 * n * k,
          bytes: q0.bytes + (k + n) * 4,
          run: () => void nt.quant.matmul(x, qs[i++ % copies], { out: y }),
          note: `kernel ${kernel}`,
        });
    }
    return {
      rows,
      notes: ['flops 2nk; bytes: the packed weight (4-bit codes, scales, zeros) + x + y; no numpy peer (numpy has no 4-bit matmul)'],
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
