// nt.quant.quantize: group quantization of the rows of a weight W [rows = d_out, cols = d_in]
// (groups along d_in) into a QTensor. method 'rtn' (default) rounds to nearest natively, one
// row per thread; method 'gptq' runs GPTQ (./gptq.ts) with the same grid and options.
// Options: ./options.ts (bits, groupSize, symmetric, scaleDtype).
import { ntError } from '../errors';
import { native } from '../native/loader';
import { Tensor } from '../tensor';
import { QTensor } from './qtensor';
import { GptqOptions, ProgressCallback, gptqResolved, gptqResolvedAsync } from './gptq';
import { ResolvedQuantOptions, QuantOptions, resolveQuantOptions } from './options';

const OP = 'quant.quantize';

export interface QuantizeOptions extends QuantOptions {
  /** 'rtn' (default): round to nearest; 'gptq': GPTQ with the Hessian of the layer's inputs. */
  method?: 'rtn' | 'gptq';
  /** GPTQ only: H = 2XᵀX/n [cols, cols] (nt.llm.covariance(...).hessian()). */
  hessian?: Tensor;
  /** GPTQ only: process columns by descending diag(H). */
  actOrder?: boolean;
  /** GPTQ only: with actOrder, fix the groups' grids before reordering (no gIdx). */
  staticGroups?: boolean;
  /** GPTQ only: dampening as a fraction of mean(diag H) (default 0.01). */
  damp?: number;
  /** GPTQ only: columns per lazy-update block (default 128). */
  blockSize?: number;
  /** GPTQ only: progress in columns (on the JS thread). */
  onProgress?: ProgressCallback;
}

const GPTQ_ONLY = ['hessian', 'actOrder', 'staticGroups', 'damp', 'blockSize', 'onProgress'] as const;

function method(opts: unknown): 'rtn' | 'gptq' {
  const m = (opts as QuantizeOptions | undefined)?.method ?? 'rtn';
  if (m !== 'rtn' && m !== 'gptq') throw ntError('NT_VALUE', `[${OP}] method must be 'rtn' or 'gptq', got ${String(m)}`);
  if (m === 'rtn') {
    const o = opts as Record<string, unknown>;
    const extra = GPTQ_ONLY.find((k) => o[k] !== undefined);
    if (extra) throw ntError('NT_VALUE', `[${OP}] ${extra} is only used by method 'gptq'`);
  }
  return m;
}

/** Fresh, empty parts of a QTensor for w [rows, cols] (no gIdx). */
export function allocateQTensor(op: string, rows: number, cols: number, r: ResolvedQuantOptions): QTensor {
  const groups = Math.ceil(cols / r.groupSize);
  const made: Tensor[] = [];
  try {
    made.push(Tensor._empty(op, [rows, QTensor.codeRowBytes(cols, r.bits)], 'u8'));
    made.push(Tensor._empty(op, [rows, groups], r.scaleDtype));
    made.push(Tensor._empty(op, [rows, groups], 'u8'));
    const [codes, scales, zeros] = made;
    return new QTensor({ codes, scales, zeros, gIdx: null, shape: [rows, cols], bits: r.bits, groupSize: r.groupSize, symmetric: r.symmetric });
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}

function rtnArgs(w: Tensor, q: QTensor, r: ResolvedQuantOptions) {
  return [
    w._storage, w._metaArray,
    q.codes._storage, q.codes._metaArray,
    q.scales._storage, q.scales._metaArray,
    q.zeros._storage, q.zeros._metaArray,
    r.bits, r.groupSize, r.symmetric,
  ] as const;
}

/**
 * Quantizes w (f32/f64/f16/bf16, any strides, [rows, cols]) into a QTensor. NaN/Inf in w:
 * NT_VALUE. See ./options.ts for the options and their defaults.
 */
export function quantize(w: Tensor, opts: QuantizeOptions = {}): QTensor {
  const r = resolveQuantOptions(OP, w, opts);
  if (method(opts) === 'gptq') return gptqDispatch(w, r, opts);
  const q = allocateQTensor(OP, w.shape[0], w.shape[1], r);
  try {
    native.quantRtn(...rtnArgs(w, q, r));
  } catch (e) {
    q.dispose();
    throw e;
  }
  return q;
}

/** quantize on a worker thread; argument errors reject. */
export async function quantizeAsync(w: Tensor, opts: QuantizeOptions = {}): Promise<QTensor> {
  const r = resolveQuantOptions(OP, w, opts);
  if (method(opts) === 'gptq') return gptqDispatchAsync(w, r, opts);
  const q = allocateQTensor(OP, w.shape[0], w.shape[1], r);
  try {
    await native.quantRtnAsync(...rtnArgs(w, q, r));
  } catch (e) {
    q.dispose();
    throw e;
  } finally {
    keep(w);
  }
  return q;
}

let sink: unknown;
function keep(v: unknown): void {
  sink = v;
  sink = undefined;
}

function gptqDispatch(w: Tensor, r: ResolvedQuantOptions, opts: QuantizeOptions): QTensor {
  return gptqResolved(OP, w, r, opts as Partial<GptqOptions>);
}
function gptqDispatchAsync(w: Tensor, r: ResolvedQuantOptions, opts: QuantizeOptions): Promise<QTensor> {
  return gptqResolvedAsync(OP, w, r, opts as Partial<GptqOptions>);
}
