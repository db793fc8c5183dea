// nt.quant.gatherRows: rows of a quantized table (an embedding lookup on a QTensor), each
// dequantized exactly as nt.quant.dequantize computes it (x̂ = scale · (q − zero), gIdx
// honoured), without materializing the table. The result is f32 by default; { out } may be
// f32, f16, bf16 (rounded from the f32 values) or f64 (widened), like nt.gatherRows. Native,
// one output row per task.
import { ntError } from '../errors';
import { native } from '../native/loader';
import { OutOptions, OutputPlan, checkOptions, planOutput, runAsync, runSync, tensorOperand } from '../ops/common';
import { rowIds } from '../ops/gather';
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

function prepare(q: QTensor, ids: RowIds, options: OutOptions | undefined): GatherCall {
  checkQTensor(OP, q);
  const opts = checkOptions<OutOptions>(OP, options);
  const [rows, cols] = q.shape;
  const { ids: idx, own } = rowIds(OP, ids, rows);
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
