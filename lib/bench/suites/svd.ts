// Thin SVD with both factors: nt.linalg.svd f64 n x n. Flops are the nominal 22n³ of
// Golub-Reinsch with U and V for a square matrix (4m²n + 8mn² + 9n³ at m = n; Golub & Van
// Loan, Matrix Computations, 4th ed., §8.6); bytes: the matrix. Peer: numpy.linalg.svd
// (LAPACK gesdd), full_matrices=False. Bytes count only past the last-level cache.
import * as nt from '../../index';
import { ntError } from '../../errors';
import { type BenchSuite, type BuiltSuite, type RowSpec, type SuiteOptions, dramBytes } from '../suite';

export const svdSuite: BenchSuite = {
  name: 'svd',
  title: 'SVD (nt.linalg.svd f64, thin U, S, Vᵀ)',
  defaultSizes: [128, 256],
  sizeMeaning: 'n of the n x n matrix',
  checkSizes(sizes) {
    for (const n of sizes)
      if (!(Number.isInteger(n) && n >= 2 && n <= 4096)) throw ntError('NT_VALUE', `[bench svd] sizes must be integers in [2, 4096], got ${n}`);
  },
  build(o: SuiteOptions): BuiltSuite {
    const owned: nt.Tensor[] = [];
    const rows: RowSpec[] = [];
    for (const n of o.sizes) {
      const a = nt.randn([n, n], { seed: 9 + n, dtype: 'f64' });
      owned.push(a);
      for (const threads of o.threads)
        rows.push({
          name: `svd ${n}x${n}`,
          threads,
          dtype: 'f64',
          flops: 22 * n ** 3,
          bytes: dramBytes(n * n * 8, o.llcBytes),
          run: () => {
            const r = nt.linalg.svd(a);
            r.S.dispose();
            r.U?.dispose();
            r.Vt?.dispose();
          },
          numpy: { kind: 'svd', dtype: 'f64', dims: [n] },
        });
    }
    return {
      rows,
      notes: ['flops: the nominal 22n³ of Golub-Reinsch with U and V (Golub & Van Loan §8.6), not a count of what either code does; bytes (the matrix) only when it exceeds the last-level cache'],
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
