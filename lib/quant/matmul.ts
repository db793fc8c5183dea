// nt.quant.matmul: y = x · dequant(q)ᵀ with the dequantization fused into the kernels
// (native/quant/qmatmul.h): the f32 weight is never materialised for the whole matrix.
//
// Shapes: x [..., k] (leading dims flattened into m rows; a 1-D x is one row), q [n, k];
// y [..., n] f32. x may be f32, f64, f16 or bf16 (non-f32 inputs are converted to f32 first)
// and any strided view (read in place when its leading dims collapse into one stride).
// Kernels: m <= 4 with 2/3/4-bit codes and no gIdx takes the fused GEMV (codes streamed once);
// otherwise weight panels are dequantized into L2-sized f32 blocks and multiplied by an f32
// micro-kernel. Results do not depend on the thread count (bit-identical).
// NaN and Inf propagate per IEEE, as in nt.matmul (they are not an error); an Inf may come
// out as NaN where the product meets a zero weight.
// { activations: 'int8' } takes the int8-activation kernels where they serve the layout; where
// they cannot (matmulPath says why) the f32 kernels run and the process gets one warning per
// reason (code NT_QMATMUL_INT8_FALLBACK): a request is never dropped silently.
import { ntError } from '../errors';
import { native } from '../native/loader';
import { OutOptions, OutputPlan, checkFloat, checkOptions, checkTensor, describe, planOutput, tensorOperand } from '../ops/common';
import { shapeString } from '../shape';
import { Tensor, copyInto } from '../tensor';
import { QTensor } from './qtensor';

const OP = 'quant.matmul';

export interface QuantMatmulOptions extends OutOptions {
  /**
   * 'f32' (default): x stays f32, the result is the f32 product with the dequantized weight.
   * 'int8': x is quantized to int8 per row and weight group (symmetric, scale max|x| / 127) and
   * each group's dot product is exact integer arithmetic (AVX-512 VNNI, AVX-VNNI or AVX2
   * vpmaddubsw), as llama.cpp Q4_0 × Q8_0 and onnxruntime MatMulNBits accuracy_level 4: faster
   * (decode and prefill), with the error of rounding x to int8 (typically 0.2-0.5% of max |y|).
   * Served for 2/3/4-bit codes without gIdx in groups of 32, 64, any multiple of the kernel's
   * chunk (64 or 128 columns) or whole rows, on every x86-64 kernel set; otherwise the f32 path
   * runs and a one-time warning (code NT_QMATMUL_INT8_FALLBACK) says why: see matmulPath.
   */
  activations?: 'f32' | 'int8';
}

/** The kernels nt.quant.matmul runs for a weight on this CPU (NTENSOR_ISA caps the choice). */
export interface QuantMatmulPath {
  /** The kernel set: 'avx512vnni', 'avx512', 'avx2vnni', 'avx2' or 'scalar'. */
  kernel: string;
  /** The activations the kernels take: 'int8' only when requested and served. */
  activations: 'f32' | 'int8';
  /** Present when 'int8' was requested and the f32 kernels run instead: why. */
  fallback?: string;
}

interface Call {
  int8: boolean;
  x2: Tensor;
  y2: Tensor;
  /** Where the kernel writes when the output cannot be viewed as 2-D; copied into the target after. */
  yTemp: Tensor | null;
  q: QTensor;
  plan: OutputPlan;
  temps: Tensor[];
  keep: unknown[];
}

function checkQ(q: unknown, op = OP): QTensor {
  if (!(q instanceof QTensor)) throw ntError('NT_VALUE', `[${op}] q must be a QTensor, got ${describe(q)}`);
  q._check(op, 'q');
  q.codes._check(OP, 'q.codes');
  q.scales._check(OP, 'q.scales');
  q.zeros._check(OP, 'q.zeros');
  q.gIdx?._check(OP, 'q.gIdx');
  return q;
}

/** A [rows, last] view of t when its leading dims collapse into one stride, else null. */
function view2d(t: Tensor): Tensor | null {
  const nd = t.ndim;
  const cols = t.shape[nd - 1];
  const cs = t.strides[nd - 1];
  let rows = 1;
  let rowStride = 0;
  let expect: number | undefined;
  for (let i = nd - 2; i >= 0; --i) {
    const d = t.shape[i];
    rows *= d;
    if (d === 1) continue;
    if (expect === undefined) rowStride = t.strides[i];
    else if (t.strides[i] !== expect) return null;
    expect = t.strides[i] * d;
  }
  return t._view([rows, cols], [rowStride, cs], t.offset);
}

function checkActivations(op: string, a: unknown): 'f32' | 'int8' {
  if (a !== undefined && a !== 'f32' && a !== 'int8') throw ntError('NT_VALUE', `[${op}] activations must be 'f32' or 'int8', got ${describe(a)}`);
  return a ?? 'f32';
}

// Paths by layout (the kernel set is fixed for the process) and the fallback reasons warned about.
const pathCache = new Map<string, QuantMatmulPath>();
const warned = new Set<string>();

function pathFor(q: QTensor, activations: 'f32' | 'int8'): QuantMatmulPath {
  const key = `${q.bits}/${q.groupSize}/${q.shape[1]}/${q.gIdx ? 'g' : ''}/${activations}`;
  let p = pathCache.get(key);
  if (!p) {
    const r = native.quantMatmulPath(q.bits, q.groupSize, q.shape[1], q.gIdx !== null, activations === 'int8');
    p = { kernel: r.kernel, activations: r.int8 ? 'int8' : 'f32', ...(r.fallback !== null ? { fallback: r.fallback } : {}) };
    pathCache.set(key, Object.freeze(p));
  }
  return p;
}

/** One process warning per fallback reason: an int8 request served by the f32 kernels is never silent. */
function warnFallback(q: QTensor, p: QuantMatmulPath): void {
  if (p.fallback === undefined) return;
  const what = `${p.kernel}: ${p.fallback}`;
  if (warned.has(what)) return;
  warned.add(what);
  process.emitWarning(
    `[${OP}] activations 'int8' requested for a ${q.bits}-bit weight (groupSize ${q.groupSize}${q.gIdx ? ', gIdx' : ''}); ` +
      `the f32 kernels run instead (kernel set ${p.kernel}: ${p.fallback})`,
    { code: 'NT_QMATMUL_INT8_FALLBACK' },
  );
}

/**
 * Which kernels nt.quant.matmul(x, q, { activations }) runs on this CPU: the kernel set, the
 * activations it takes, and, when 'int8' was asked for but cannot be served, why.
 * @example nt.quant.matmulPath(q, { activations: 'int8' })  // { kernel: 'avx2', activations: 'int8' }
 */
export function matmulPath(q: QTensor, opts?: { activations?: 'f32' | 'int8' }): QuantMatmulPath {
  const o = checkOptions<{ activations?: 'f32' | 'int8' }>(`${OP}Path`, opts);
  const activations = checkActivations(`${OP}Path`, o.activations);
  return pathFor(checkQ(q, `${OP}Path`), activations);
}

function prepare(xIn: Tensor, qIn: QTensor, options: QuantMatmulOptions | undefined): Call {
  const opts = checkOptions<QuantMatmulOptions>(OP, options);
  const activations = checkActivations(OP, opts.activations);
  const x = checkTensor(OP, xIn, 'x');
  const q = checkQ(qIn);
  if (activations === 'int8') warnFallback(q, pathFor(q, activations));
  checkFloat(OP, x, 'x');
  const [n, k] = q.shape;
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== k)
    throw ntError(
      'NT_SHAPE',
      `[${OP}] x must have shape [..., ${k}] (q is [${n}, ${k}]: its columns are the input features), got ${shapeString(x.shape)}`,
    );
  const outShape = [...x.shape.slice(0, -1), n];
  const plan = planOutput(OP, opts.out, outShape, 'f32', [tensorOperand(x)], false);
  const temps: Tensor[] = [];
  const own = <T extends Tensor>(t: T): T => (temps.push(t), t);
  try {
    const xf = x.dtype === 'f32' ? x : own(x.astype('f32'));
    const x2 = own(view2d(xf) ?? view2d(own(xf.contiguous()))!);
    let y2 = view2d(plan.target);
    let yTemp: Tensor | null = null;
    if (!y2) {
      yTemp = own(Tensor._empty(OP, outShape, 'f32'));
      y2 = view2d(yTemp)!;
    }
    own(y2);
    return { int8: opts.activations === 'int8', x2, y2, yTemp, q, plan, temps, keep: [x, q] };
  } catch (e) {
    for (const t of temps) t.dispose();
    plan.abort();
    throw e;
  }
}

function args(c: Call) {
  const { x2, y2, q } = c;
  return [
    x2._storage, x2._metaArray,
    q.codes._storage, q.codes._metaArray,
    q.scales._storage, q.scales._metaArray,
    q.zeros._storage, q.zeros._metaArray,
    q.gIdx ? q.gIdx._storage : null, q.gIdx ? q.gIdx._metaArray : null,
    y2._storage, y2._metaArray,
    q.bits, q.groupSize, c.int8,
  ] as const;
}

function finish(c: Call): Tensor {
  if (c.yTemp) copyInto(OP, c.yTemp, c.plan.target);
  return c.plan.finish();
}

/**
 * y = x · dequant(q)ᵀ: x [..., k] (any float dtype), q a QTensor [n, k]; y [..., n] f32.
 * With { out } (f32, that shape, any strides) the result is written there.
 * @example const y = nt.quant.matmul(x, q)   // x [tokens, 4096], q [11008, 4096]: y [tokens, 11008]
 */
export function matmul(x: Tensor, q: QTensor, opts?: QuantMatmulOptions): Tensor {
  const c = prepare(x, q, opts);
  try {
    native.quantMatmul(...args(c));
    return finish(c);
  } catch (e) {
    c.plan.abort();
    throw e;
  } finally {
    for (const t of c.temps) t.dispose();
  }
}

/** matmul on a worker thread; x and q stay referenced (and must not be disposed) until it settles. */
export async function matmulAsync(x: Tensor, q: QTensor, opts?: QuantMatmulOptions): Promise<Tensor> {
  const c = prepare(x, q, opts);
  try {
    await native.quantMatmulAsync(...args(c));
    return finish(c);
  } catch (e) {
    c.plan.abort();
    throw e;
  } finally {
    for (const t of c.temps) t.dispose();
    keepAlive(c.keep);
  }
}

let sink: unknown;
function keepAlive(values: readonly unknown[]): void {
  sink = values;
  sink = undefined;
}
