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

function prepare(table: Tensor, ids: Tensor | Int32Array | readonly number[], options: OutOptions | undefined): GatherCall {
  const opts = checkOptions<OutOptions>(OP, options);
  const t = checkTensor(OP, table, 'table');
  checkFloat(OP, t, 'table');
  if (t.ndim !== 2) throw ntError('NT_SHAPE', `[${OP}] table must be 2-D [rows, cols], got ${shapeString(t.shape)}`);
  const rows = t.shape[0];
  let idx: Tensor;
  let ownIds = false;
  if (ids instanceof Tensor) {
    idx = checkTensor(OP, ids, 'ids');
    if (idx.dtype !== 'i32') throw ntError('NT_DTYPE', `[${OP}] ids must be i32, got ${idx.dtype}`);
    if (idx.ndim !== 1) throw ntError('NT_SHAPE', `[${OP}] ids must be 1-D, got ${shapeString(idx.shape)}`);
  } else if (ids instanceof Int32Array || Array.isArray(ids)) {
    const src = ids as ArrayLike<number>;
    for (let i = 0; i < src.length; ++i)
      if (!Number.isInteger(src[i])) throw ntError('NT_VALUE', `[${OP}] ids[${i}] must be an integer, got ${describe(src[i])}`);
    // out-of-range values are reported below from the original numbers, before any wrap-around
    for (let i = 0; i < src.length; ++i)
      if (src[i] < 0 || src[i] >= rows) throw ntError('NT_VALUE', `[${OP}] ids[${i}] = ${src[i]} is out of range for a table of ${rows} rows`);
    const a = Int32Array.from(src);
    idx = Tensor._wrap(a, 'i32', [a.length]);
    ownIds = true;
  } else {
    throw ntError('NT_VALUE', `[${OP}] ids must be an i32 Tensor, an Int32Array or an array of integers, got ${describe(ids)}`);
  }
  try {
    const data = idx.isContiguous ? (idx.data as Int32Array) : undefined;
    for (let i = 0; i < idx.shape[0]; ++i) {
      const v = data ? data[i] : idx.get(i);
      if (v < 0 || v >= rows) throw ntError('NT_VALUE', `[${OP}] ids[${i}] = ${v} is out of range for a table of ${rows} rows`);
    }
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
