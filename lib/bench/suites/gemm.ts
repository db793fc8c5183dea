// SGEMM: nt.matmul f32 n x n x n. 2n³ flops over 3n² f32 (A, B read, C written); while that
// working set fits in the last-level cache no DRAM traffic bounds it (compute roof only).
// Peer: numpy matmul.
import * as nt from '../../index';
import { ntError } from '../../errors';
import { type BenchSuite, type BuiltSuite, type RowSpec, type SuiteOptions, dramBytes } from '../suite';

export const gemmSuite: BenchSuite = {
  name: 'gemm',
  title: 'SGEMM (nt.matmul f32, square)',
  defaultSizes: [256, 512, 1024],
  sizeMeaning: 'n of an n x n x n product',
  checkSizes(sizes) {
    for (const n of sizes)
      if (!(Number.isInteger(n) && n >= 1 && n <= 16384)) throw ntError('NT_VALUE', `[bench gemm] sizes must be integers in [1, 16384], got ${n}`);
  },
  build(o: SuiteOptions): BuiltSuite {
    const owned: nt.Tensor[] = [];
    const rows: RowSpec[] = [];
    for (const n of o.sizes) {
      const a = nt.randn([n, n], { seed: 2 * n + 1 });
      const b = nt.randn([n, n], { seed: 2 * n + 2 });
      const c = nt.zeros([n, n]);
      owned.push(a, b, c);
      for (const threads of o.threads)
        rows.push({
          name: `SGEMM ${n}x${n}x${n}`,
          threads,
          dtype: 'f32',
          flops: 2 * n * n * n,
          bytes: dramBytes(3 * n * n * 4, o.llcBytes),
          run: () => void nt.matmul(a, b, { out: c }),
          numpy: { kind: 'matmul', dtype: 'f32', dims: [n, n, n] },
        });
    }
    return {
      rows,
      notes: ['flops 2n³; bytes 3n² f32 (A and B read, C written once), counted only when they exceed the last-level cache (a smaller working set stays in cache between calls)'],
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
