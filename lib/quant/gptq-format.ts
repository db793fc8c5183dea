// GPTQ checkpoint compatibility: the AutoGPTQ / Hugging Face "gptq" tensors of one linear layer
// (K = in features = our cols, N = out features = our rows, G = ceil(K / groupSize) groups):
//   qweight  i32 [K·bits/32, N]   column n is a little-endian bit stream of the K codes of
//                                 output n: code k at bits [k·bits, k·bits + bits) of the
//                                 stream (8/bits codes per int32 for 2/4/8 bits; 3-bit codes
//                                 straddle words, 32 codes per 3 int32, as AutoGPTQ packs them)
//   qzeros   i32 [G, N·bits/32]   row g is the bit stream of the N zero points of group g
//   scales   f16 [G, N]
//   g_idx    i32 [K]              group of each input column (act-order); k / groupSize otherwise
// Zero points: the classic ("v1", checkpoint_format "gptq") format stores zero − 1 (an AutoGPTQ
// quirk); "gptq_v2" stores the zero as is. Both are supported (option checkpointFormat,
// default 'gptq'). v1 stores (zero − 1) mod 2^bits and reads (stored + 1) mod 2^bits, so our
// export/import round trip is exact; note that a zero of 0 (possible only for an asymmetric
// group with no negative weight) is stored as 2^bits − 1, which legacy v1 kernels read as
// 2^bits. Symmetric grids (zero = 2^(bits−1)) never hit that case.
// Requires K·bits and N·bits to be multiples of 32 (NT_SHAPE otherwise). Reading/writing
// such tensors from/to a safetensors folder is nt.io's job (tensors are plain i32/f16).
import { isFloat } from '../dtype';
import { ntError } from '../errors';
import { native } from '../native/loader';
import { isPromiseLike } from '../job';
import { checkOptions, describe } from '../ops/common';
import { Tensor } from '../tensor';
import { checkQTensor } from './dequantize';
import { QTensor, QuantBits } from './qtensor';

export type GptqCheckpointFormat = 'gptq' | 'gptq_v2';

export interface FromGptqOptions {
  qweight: Tensor;
  qzeros: Tensor;
  scales: Tensor;
  /** g_idx [K] (i32); omitted or the trivial k / groupSize means plain groups (QTensor gIdx null). */
  gIdx?: Tensor | null;
  /** Default 4. */
  bits?: QuantBits;
  /** Columns per group; -1 or 'row' for one group per row (GPTQ's group_size = -1). */
  groupSize: number | 'row';
  /** Marks the QTensor symmetric; default: inferred (every zero equals 2^(bits−1)). */
  sym?: boolean;
  /** 'gptq' (default: zeros stored minus one) or 'gptq_v2' (zeros stored as is). */
  checkpointFormat?: GptqCheckpointFormat;
}

export interface ToGptqOptions {
  checkpointFormat?: GptqCheckpointFormat;
}

export interface GptqTensors {
  qweight: Tensor;
  qzeros: Tensor;
  scales: Tensor;
  g_idx: Tensor;
}

function zeroOffset(op: string, f: unknown): number {
  const format = f ?? 'gptq';
  if (format !== 'gptq' && format !== 'gptq_v2')
    throw ntError('NT_VALUE', `[${op}] checkpointFormat must be 'gptq' or 'gptq_v2', got ${describe(format)}`);
  return format === 'gptq' ? 1 : 0;
}

function checkI32(op: string, t: unknown, name: string, shape: number[] | null): Tensor {
  if (!(t instanceof Tensor)) throw ntError('NT_VALUE', `[${op}] ${name} must be a Tensor, got ${describe(t)}`);
  t._check(op, name);
  if (t.dtype !== 'i32') throw ntError('NT_DTYPE', `[${op}] ${name} must be i32, got ${t.dtype}`);
  if (shape ? t.ndim !== shape.length || t.shape.some((d, i) => d !== shape[i]) : t.ndim !== 2)
    throw ntError('NT_SHAPE', `[${op}] ${name} must have shape ${shape ? `[${shape}]` : '2-D'}, got [${t.shape}]`);
  return t;
}

function disposeAll(ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) t?.dispose();
}

interface FromPlan {
  op: string;
  qweight: Tensor;
  qzeros: Tensor;
  scales: Tensor;
  /** A non-trivial g_idx (kept), or null. */
  gIdx: Tensor | null;
  bits: QuantBits;
  k: number;
  n: number;
  gs: number;
  groups: number;
  offset: number;
  sym: boolean | undefined;
}

function planFrom(op: string, parts: FromGptqOptions): FromPlan {
  const p = checkOptions<FromGptqOptions>(op, parts);
  if (parts === undefined) throw ntError('NT_VALUE', `[${op}] expected { qweight, qzeros, scales, groupSize, ... }`);
  const bits = p.bits ?? 4;
  if (!([2, 3, 4, 8] as unknown[]).includes(bits)) throw ntError('NT_VALUE', `[${op}] bits must be 2, 3, 4 or 8, got ${describe(bits)}`);
  const offset = zeroOffset(op, p.checkpointFormat);
  if (p.sym !== undefined && typeof p.sym !== 'boolean') throw ntError('NT_VALUE', `[${op}] sym must be a boolean, got ${describe(p.sym)}`);
  const qweight = checkI32(op, p.qweight, 'qweight', null);
  const [words, n] = qweight.shape;
  if ((words * 32) % bits !== 0)
    throw ntError('NT_SHAPE', `[${op}] qweight has ${words} rows, not a whole number of ${bits}-bit codes per column`);
  const k = (words * 32) / bits;
  const gs = p.groupSize === 'row' || p.groupSize === -1 ? Math.max(k, 1) : p.groupSize;
  if (!Number.isInteger(gs) || gs < 1)
    throw ntError('NT_VALUE', `[${op}] groupSize must be a positive integer, -1 or 'row', got ${describe(p.groupSize)}`);
  const groups = Math.ceil(k / gs);
  if ((n * bits) % 32 !== 0) throw ntError('NT_SHAPE', `[${op}] out features · bits must be a multiple of 32, got ${n} · ${bits}`);
  const qzeros = checkI32(op, p.qzeros, 'qzeros', [groups, (n * bits) / 32]);
  const scales = p.scales;
  if (!(scales instanceof Tensor)) throw ntError('NT_VALUE', `[${op}] scales must be a Tensor, got ${describe(scales)}`);
  scales._check(op, 'scales');
  if (!isFloat(scales.dtype)) throw ntError('NT_DTYPE', `[${op}] scales must be f16, f32, bf16 or f64, got ${scales.dtype}`);
  if (scales.ndim !== 2 || scales.shape[0] !== groups || scales.shape[1] !== n)
    throw ntError('NT_SHAPE', `[${op}] scales must have shape [${groups},${n}], got [${scales.shape}]`);
  let gIdx: Tensor | null = null;
  if (p.gIdx !== undefined && p.gIdx !== null) {
    const g = checkI32(op, p.gIdx, 'gIdx', [k]);
    const v = g.toArray() as number[];
    let trivial = true;
    for (let c = 0; c < k; ++c) {
      if (!(v[c] >= 0 && v[c] < groups)) throw ntError('NT_VALUE', `[${op}] gIdx[${c}] = ${v[c]} is outside [0, ${groups})`);
      if (v[c] !== Math.floor(c / gs)) trivial = false;
    }
    if (!trivial) gIdx = g;
  }
  return { op, qweight, qzeros, scales, gIdx, bits: bits as QuantBits, k, n, gs, groups, offset, sym: p.sym };
}

function unpackArgs(f: FromPlan, codes: Tensor, zeros: Tensor) {
  return [
    f.qweight._storage, f.qweight._metaArray, f.qzeros._storage, f.qzeros._metaArray,
    codes._storage, codes._metaArray, zeros._storage, zeros._metaArray,
    f.k, f.bits, f.gs, f.offset,
  ] as const;
}

/** Runs the unpacking (sync or on a worker) into fresh codes/zeros, then assembles the QTensor. */
async function buildFrom(f: FromPlan, unpack: (codes: Tensor, zeros: Tensor) => void | Promise<void>): Promise<QTensor> {
  return finishFrom(f, await startFrom(f, unpack));
}

function startFrom(f: FromPlan, unpack: (codes: Tensor, zeros: Tensor) => void | Promise<void>): Tensor[] | Promise<Tensor[]> {
  const codes = Tensor._empty(f.op, [f.n, QTensor.codeRowBytes(f.k, f.bits)], 'u8');
  let zeros: Tensor | undefined;
  const fail = (e: unknown) => {
    disposeAll([codes, zeros]);
    throw e;
  };
  try {
    zeros = Tensor._empty(f.op, [f.n, f.groups], 'u8');
    const r = unpack(codes, zeros);
    if (isPromiseLike(r)) return Promise.resolve(r).then(() => [codes, zeros!], fail);
    return [codes, zeros];
  } catch (e) {
    return fail(e);
  }
}

function finishFrom(f: FromPlan, [codes, zeros]: Tensor[]): QTensor {
  const made: Tensor[] = [codes, zeros];
  try {
    const st = f.scales.transpose(1, 0);
    made.push(st);
    const scales = st.astype(f.scales.dtype === 'f16' ? 'f16' : 'f32');
    made.push(scales);
    st.dispose();
    const gIdx = f.gIdx ? f.gIdx.clone() : null;
    if (gIdx) made.push(gIdx);
    const mid = 1 << (f.bits - 1);
    const sym = f.sym ?? (zeros.data as Uint8Array).every((z) => z === mid);
    return new QTensor({ codes, scales, zeros, gIdx, shape: [f.n, f.k], bits: f.bits, groupSize: f.gs, symmetric: sym });
  } catch (e) {
    disposeAll(made);
    throw e;
  }
}

/** A QTensor from the tensors of a GPTQ checkpoint layer (see the header for the layout). */
export function fromGptq(parts: FromGptqOptions): QTensor {
  const f = planFrom('quant.fromGptq', parts);
  const made = startFrom(f, (codes, zeros) => native.quantGptqUnpack(...unpackArgs(f, codes, zeros))) as Tensor[];
  return finishFrom(f, made);
}

/** fromGptq with the bit unpacking on a worker thread; argument errors reject. */
export async function fromGptqAsync(parts: FromGptqOptions): Promise<QTensor> {
  const f = planFrom('quant.fromGptq', parts);
  try {
    return await buildFrom(f, (codes, zeros) => native.quantGptqUnpackAsync(...unpackArgs(f, codes, zeros)));
  } finally {
    keep(f);
  }
}

let sink: unknown;
function keep(v: unknown): void {
  sink = v;
  sink = undefined;
}

interface ToPlan {
  q: QTensor;
  op: string;
  offset: number;
}

function planTo(q: QTensor, opts: ToGptqOptions | undefined): ToPlan {
  const op = 'quant.toGptq';
  checkQTensor(op, q);
  const o = checkOptions<ToGptqOptions>(op, opts);
  const offset = zeroOffset(op, o.checkpointFormat);
  const [n, k] = q.shape;
  if ((k * q.bits) % 32 !== 0 || (n * q.bits) % 32 !== 0)
    throw ntError('NT_SHAPE', `[${op}] the GPTQ format needs in features · bits and out features · bits to be multiples of 32, got [${n}, ${k}] at ${q.bits} bits`);
  return { q, op, offset };
}

function packArgs(t: ToPlan, qweight: Tensor, qzeros: Tensor) {
  const { q } = t;
  return [
    q.codes._storage, q.codes._metaArray, q.zeros._storage, q.zeros._metaArray,
    qweight._storage, qweight._metaArray, qzeros._storage, qzeros._metaArray,
    q.shape[1], q.bits, q.groupSize, t.offset,
  ] as const;
}

/** Allocates qweight/qzeros, packs them (sync or on a worker), then adds scales and g_idx. */
function buildTo(t: ToPlan, pack: (qweight: Tensor, qzeros: Tensor) => void | Promise<void>): GptqTensors | Promise<GptqTensors> {
  const { q, op } = t;
  const [n, k] = q.shape;
  const made: Tensor[] = [];
  const fail = (e: unknown): never => {
    disposeAll(made);
    throw e;
  };
  const finish = (): GptqTensors => {
    try {
      const [qweight, qzeros] = made;
      const st = q.scales.transpose(1, 0);
      made.push(st);
      const scales = st.astype('f16');
      made.push(scales);
      st.dispose();
      let g_idx: Tensor;
      if (q.gIdx) g_idx = q.gIdx.clone();
      else {
        g_idx = Tensor._empty(op, [k], 'i32');
        const d = g_idx.data as Int32Array;
        for (let c = 0; c < k; ++c) d[c] = Math.floor(c / q.groupSize);
      }
      return { qweight, qzeros, scales, g_idx };
    } catch (e) {
      return fail(e);
    }
  };
  try {
    made.push(Tensor._empty(op, [(k * q.bits) / 32, n], 'i32'));
    made.push(Tensor._empty(op, [q.groups, (n * q.bits) / 32], 'i32'));
    const r = pack(made[0], made[1]);
    if (isPromiseLike(r)) return Promise.resolve(r).then(finish, fail);
    return finish();
  } catch (e) {
    return fail(e);
  }
}

/**
 * The GPTQ checkpoint tensors of q (see the header). f32 scales are rounded to f16 (the
 * format's scale type): quantize with scaleDtype 'f16' (the default) for a lossless export.
 */
export function toGptq(q: QTensor, opts?: ToGptqOptions): GptqTensors {
  const t = planTo(q, opts);
  return buildTo(t, (qweight, qzeros) => native.quantGptqPack(...packArgs(t, qweight, qzeros))) as GptqTensors;
}

/** toGptq with the bit packing on a worker thread; argument errors reject. */
export async function toGptqAsync(q: QTensor, opts?: ToGptqOptions): Promise<GptqTensors> {
  const t = planTo(q, opts);
  try {
    return await buildTo(t, (qweight, qzeros) => native.quantGptqPackAsync(...packArgs(t, qweight, qzeros)));
  } finally {
    keep(t);
  }
}
