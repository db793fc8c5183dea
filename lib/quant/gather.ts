// nt.quant.gatherRows: rows of a quantized table (an embedding lookup on a QTensor), each
// dequantized exactly as nt.quant.dequantize computes it (x̂ = scale · (q − zero), gIdx
// honoured), without materializing the table. The result is f32 by default; { out } may be
// f32, f16, bf16 (rounded from the f32 values) or f64 (widened), like nt.gatherRows. Native,
// one output row per task.
import { ntError } from '../errors';
import { native } from '../native/loader';
import { OutOptions, OutputPlan, checkOptions, checkTensor, describe, planOutput, runAsync, runSync, tensorOperand } from '../ops/common';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';
import { checkQTensor } from './dequantize';
import { QTensor } from './qtensor';

const OP = 'quant.gatherRows';
const OUT_DTYPES = ['f32', 'f16', 'bf16', 'f64'];

export type RowIds = Tensor | Int32Array | readonly number[];

interface GatherCall {
  q: QTensor;
  ids: Tensor;
  /** ids was made here from an array: dispose it after the call. */
  ownIds: boolean;
  plan: OutputPlan;
}

/** ids as a 1-D i32 tensor, every value an integer in [0, rows) (NT_VALUE naming the index). */
function idsTensor(ids: unknown, rows: number): { ids: Tensor; own: boolean } {
  const outOfRange = (i: number, v: number) =>
    ntError('NT_VALUE', `[${OP}] ids[${i}] = ${v} is out of range for a table of ${rows} rows`);
  if (ids instanceof Tensor) {
    const t = checkTensor(OP, ids, 'ids');
    if (t.dtype !== 'i32') throw ntError('NT_DTYPE', `[${OP}] ids must be i32, got ${t.dtype}`);
    if (t.ndim !== 1) throw ntError('NT_SHAPE', `[${OP}] ids must be 1-D, got ${shapeString(t.shape)}`);
    const data = t.isContiguous ? (t.data as Int32Array) : undefined;
    for (let i = 0; i < t.shape[0]; ++i) {
      const v = data ? data[i] : t.get(i);
      if (v < 0 || v >= rows) throw outOfRange(i, v);
    }
    return { ids: t, own: false };
  }
  if (!(ids instanceof Int32Array || Array.isArray(ids)))
    throw ntError('NT_VALUE', `[${OP}] ids must be an i32 Tensor, an Int32Array or an array of integers, got ${describe(ids)}`);
  const src = ids as ArrayLike<number>;
  // checked on the original numbers, before Int32Array.from could wrap them into range
  for (let i = 0; i < src.length; ++i) {
    if (!Number.isInteger(src[i])) throw ntError('NT_VALUE', `[${OP}] ids[${i}] must be an integer, got ${describe(src[i])}`);
    if (src[i] < 0 || src[i] >= rows) throw outOfRange(i, src[i]);
  }
  const a = Int32Array.from(src);
  return { ids: Tensor._wrap(a, 'i32', [a.length]), own: true };
}

function prepare(q: QTensor, ids: RowIds, options: OutOptions | undefined): GatherCall {
  checkQTensor(OP, q);
  const opts = checkOptions<OutOptions>(OP, options);
  const [rows, cols] = q.shape;
  const { ids: idx, own } = idsTensor(ids, rows);
  try {
    const dtype = opts.out instanceof Tensor && !opts.out.isDisposed ? opts.out.dtype : 'f32';
    if (!OUT_DTYPES.includes(dtype)) throw ntError('NT_DTYPE', `[${OP}] out must be f32, f16, bf16 or f64, got ${dtype}`);
    const inputs = [q.codes, q.scales, q.zeros, ...(q.gIdx ? [q.gIdx] : []), idx].map(tensorOperand);
    const plan = planOutput(OP, opts.out, [idx.shape[0], cols], dtype, inputs, false);
    return { q, ids: idx, ownIds: own, plan };
  } catch (e) {
    if (own) idx.dispose();
    throw e;
  }
}

type NativeGather = typeof native.quantGatherRows | typeof native.quantGatherRowsAsync;

function nativeCall<R>(fn: NativeGather, c: GatherCall, out: Tensor): R {
  const { q, ids } = c;
  return fn(
    q.codes._storage, q.codes._metaArray,
    q.scales._storage, q.scales._metaArray,
    q.zeros._storage, q.zeros._metaArray,
    q.gIdx ? q.gIdx._storage : null, q.gIdx ? q.gIdx._metaArray : null,
    ids._storage, ids._metaArray,
    out._storage, out._metaArray,
    q.bits, q.groupSize, q.shape[1],
  ) as R;
}

/**
 * Rows `ids` of the dequantized q [rows, cols]: [ids.length, cols], f32 unless { out } (f32,
 * f16, bf16 or f64, that shape, any strides) is given. Row i equals row ids[i] of
 * nt.quant.dequantize(q) bit for bit (then rounded to out's dtype).
 */
export function gatherRows(q: QTensor, ids: RowIds, opts?: OutOptions): Tensor {
  const c = prepare(q, ids, opts);
  try {
    return runSync(c.plan, (t) => nativeCall<void>(native.quantGatherRows, c, t));
  } finally {
    if (c.ownIds) c.ids.dispose();
  }
}

export async function gatherRowsAsync(q: QTensor, ids: RowIds, opts?: OutOptions): Promise<Tensor> {
  const c = prepare(q, ids, opts);
  try {
    return await runAsync(c.plan, [c.q, c.ids], (t) => nativeCall<Promise<void>>(native.quantGatherRowsAsync, c, t));
  } finally {
    if (c.ownIds) c.ids.dispose();
  }
}
