// Row gather (embedding lookup): out[r, :] = table[ids[r], :]. The table may be any float
// dtype and any strided 2-D view; the result has the table's dtype (or out's, converted,
// within the same float family). Ids out of range are NT_VALUE, naming the position.
import { ntError } from '../errors';
import { native } from '../native/loader';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';
import { OutOptions, OutputPlan, checkFloat, checkOptions, checkTensor, describe, planOutput, runAsync, runSync, tensorOperand } from './common';

const OP = 'gatherRows';

interface GatherCall {
  table: Tensor;
  ids: Tensor;
  ownIds: boolean;
  plan: OutputPlan;
}

/**
 * Row ids as a 1-D i32 tensor, every value an integer in [0, rows) (NT_VALUE naming the index);
 * `own`: made here from an array, for the caller to dispose. Shared by nt.quant.gatherRows.
 */
export function rowIds(op: string, ids: unknown, rows: number): { ids: Tensor; own: boolean } {
  const outOfRange = (i: number, v: number) => ntError('NT_VALUE', `[${op}] ids[${i}] = ${v} is out of range for a table of ${rows} rows`);
  if (ids instanceof Tensor) {
    const t = checkTensor(op, ids, 'ids');
    if (t.dtype !== 'i32') throw ntError('NT_DTYPE', `[${op}] ids must be i32, got ${t.dtype}`);
    if (t.ndim !== 1) throw ntError('NT_SHAPE', `[${op}] ids must be 1-D, got ${shapeString(t.shape)}`);
    const data = t.isContiguous ? (t.data as Int32Array) : undefined;
    for (let i = 0; i < t.shape[0]; ++i) {
      const v = data ? data[i] : t.get(i);
      if (v < 0 || v >= rows) throw outOfRange(i, v);
    }
    return { ids: t, own: false };
  }
  if (!(ids instanceof Int32Array || Array.isArray(ids)))
    throw ntError('NT_VALUE', `[${op}] ids must be an i32 Tensor, an Int32Array or an array of integers, got ${describe(ids)}`);
  const src = ids as ArrayLike<number>;
  // checked on the original numbers, before Int32Array.from could wrap them into range
  for (let i = 0; i < src.length; ++i) {
    if (!Number.isInteger(src[i])) throw ntError('NT_VALUE', `[${op}] ids[${i}] must be an integer, got ${describe(src[i])}`);
    if (src[i] < 0 || src[i] >= rows) throw outOfRange(i, src[i]);
  }
  const a = Int32Array.from(src);
  return { ids: Tensor._wrap(a, 'i32', [a.length]), own: true };
}

function prepare(table: Tensor, ids: Tensor | Int32Array | readonly number[], options: OutOptions | undefined): GatherCall {
  const opts = checkOptions<OutOptions>(OP, options);
  const t = checkTensor(OP, table, 'table');
  checkFloat(OP, t, 'table');
  if (t.ndim !== 2) throw ntError('NT_SHAPE', `[${OP}] table must be 2-D [rows, cols], got ${shapeString(t.shape)}`);
  const rows = t.shape[0];
  const { ids: idx, own: ownIds } = rowIds(OP, ids, rows);
  try {
    const outDtype = opts.out instanceof Tensor && !opts.out.isDisposed ? opts.out.dtype : t.dtype;
    if (outDtype !== t.dtype && (outDtype === 'f64') !== (t.dtype === 'f64'))
      throw ntError('NT_DTYPE', `[${OP}] out must be in table's float family (${t.dtype === 'f64' ? 'f64' : 'f32, f16 or bf16'}), got ${outDtype}`);
    if (outDtype !== t.dtype && !['f32', 'f16', 'bf16', 'f64'].includes(outDtype))
      throw ntError('NT_DTYPE', `[${OP}] out must be a float dtype, got ${outDtype}`);
    const plan = planOutput(OP, opts.out, [idx.shape[0], t.shape[1]], outDtype, [tensorOperand(t), tensorOperand(idx)], false);
    return { table: t, ids: idx, ownIds, plan };
  } catch (e) {
    if (ownIds) idx.dispose();
    throw e;
  }
}

/** Rows of table [rows, cols] picked by ids: [ids.length, cols]. */
export function gatherRows(table: Tensor, ids: Tensor | Int32Array | readonly number[], opts?: OutOptions): Tensor {
  const c = prepare(table, ids, opts);
  try {
    return runSync(c.plan, (t) => native.gatherRows(c.table._storage, c.table._metaArray, c.ids._storage, c.ids._metaArray, t._storage, t._metaArray));
  } finally {
    if (c.ownIds) c.ids.dispose();
  }
}

export async function gatherRowsAsync(table: Tensor, ids: Tensor | Int32Array | readonly number[], opts?: OutOptions): Promise<Tensor> {
  const c = prepare(table, ids, opts);
  try {
    return await runAsync(c.plan, [c.table, c.ids], (t) =>
      native.gatherRowsAsync(c.table._storage, c.table._metaArray, c.ids._storage, c.ids._metaArray, t._storage, t._metaArray),
    );
  } finally {
    if (c.ownIds) c.ids.dispose();
  }
}
