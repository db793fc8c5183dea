// Symmetric eigendecomposition, values and vectors: nt.linalg.eigh f64 n x n. Flops are the
// nominal 9n³ of a tridiagonalizing solver with vectors (Golub & Van Loan, Matrix
// Computations, 4th ed., §8.3), the count LAPACK's syev is quoted with; bytes: the matrix, when it
// exceeds the last-level cache.
// Peer: numpy.linalg.eigh (LAPACK syevd).
import * as nt from '../../index';
import { ntError } from '../../errors';
import { type BenchSuite, type BuiltSuite, type RowSpec, type SuiteOptions, dramBytes } from '../suite';

export const eighSuite: BenchSuite = {
  name: 'eigh',
  title: 'Symmetric eigendecomposition (nt.linalg.eigh f64, values + vectors)',
  defaultSizes: [128, 256],
  sizeMeaning: 'n of the n x n symmetric matrix',
  checkSizes(sizes) {
    for (const n of sizes)
      if (!(Number.isInteger(n) && n >= 2 && n <= 4096)) throw ntError('NT_VALUE', `[bench eigh] sizes must be integers in [2, 4096], got ${n}`);
  },
  build(o: SuiteOptions): BuiltSuite {
    const owned: nt.Tensor[] = [];
    const rows: RowSpec[] = [];
    for (const n of o.sizes) {
      const g = nt.randn([n, n], { seed: 5 + n, dtype: 'f64' });
      const gt = g.transpose();
      const a = nt.add(g, gt); // G + Gᵀ: symmetric
      gt.dispose();
      g.dispose();
      owned.push(a);
      for (const threads of o.threads)
        rows.push({
          name: `eigh ${n}x${n}`,
          threads,
          dtype: 'f64',
          flops: 9 * n ** 3,
          bytes: dramBytes(n * n * 8, o.llcBytes),
          run: () => {
            const r = nt.linalg.eigh(a);
            r.values.dispose();
            r.vectors.dispose();
          },
          numpy: { kind: 'eigh', dtype: 'f64', dims: [n] },
        });
    }
    return {
      rows,
      notes: ['flops: the nominal 9n³ of a symmetric eigensolver with vectors (Golub & Van Loan §8.3), not a count of what either code does; bytes (the matrix) only when it exceeds the last-level cache'],
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
