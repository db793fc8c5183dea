// Memory bandwidth: nt.sum over a buffer of `size` MiB (f32) and nt.max over the same bytes as
// f64, both pure streaming reads, measured against the read probe. Peer: numpy's sum.
import * as nt from '../../index';
import { ntError } from '../../errors';
import type { BenchSuite, BuiltSuite, RowSpec, SuiteOptions } from '../suite';

const MiB = 2 ** 20;

export const membwSuite: BenchSuite = {
  name: 'membw',
  title: 'Memory bandwidth (streaming reductions over a buffer much larger than the LLC)',
  defaultSizes: [256],
  sizeMeaning: 'buffer size in MiB',
  checkSizes(sizes) {
    for (const n of sizes)
      if (!(Number.isInteger(n) && n >= 1 && n <= 65536)) throw ntError('NT_VALUE', `[bench membw] sizes must be integers (MiB) in [1, 65536], got ${n}`);
  },
  build(o: SuiteOptions): BuiltSuite {
    const owned: nt.Tensor[] = [];
    const rows: RowSpec[] = [];
    const notes = ['bytes: the buffer, read once'];
    for (const mib of o.sizes) {
      const bytes = mib * MiB;
      if (bytes < 4 * o.llcBytes) notes.push(`${mib} MiB is less than 4x the last-level cache (${o.llcBytes / MiB} MiB): part of it is read from cache`);
      const x32 = nt.rand([bytes / 4], { seed: 1, dtype: 'f32' });
      const x64 = nt.rand([bytes / 8], { seed: 2, dtype: 'f64' });
      const s32 = nt.zeros([], 'f32');
      const s64 = nt.zeros([], 'f64');
      owned.push(x32, x64, s32, s64);
      for (const threads of o.threads) {
        rows.push({
          name: `read ${mib} MiB f32 (nt.sum)`,
          threads,
          dtype: 'f32',
          bytes,
          run: () => void nt.sum(x32, { out: s32 }),
          numpy: { kind: 'sum', dtype: 'f32', dims: [bytes / 4] },
        });
        rows.push({ name: `read ${mib} MiB f64 (nt.max)`, threads, dtype: 'f64', bytes, run: () => void nt.max(x64, { out: s64 }) });
      }
    }
    return { rows, notes, dispose: () => owned.forEach((t) => t.dispose()) };
  },
};
