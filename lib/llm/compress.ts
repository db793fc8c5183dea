// Whole-model compression (ALGORITHMS.md §1-2): every decoder linear becomes an int4 (RTN or
// GPTQ, group 128) and/or 2:4-pruned weight, plus an optional low-rank adapter (EoRA, or the
// svd / act-s baselines) that wins back accuracy. The model is modified in place: each linear
// is replaced by a QuantLinear (fused int4 kernel) or a dense pruned one, wrapped in a
// LoraLinear when an adapter is fitted.
//
// One pass over the model, in GPTQ's true-sequential order: the calibration windows are
// embedded once and their hidden states [tokens, hidden] f32 are carried from layer to layer.
// Within a layer, each block (attention, MLP) runs in steps: its norm's output calibrates
// q/k/v (gate/up), which are compressed; the block then runs up to its output projection with
// them, and that input (attention output, silu(gate)·up, kept for the chunk) calibrates o_proj
// (down_proj), which is compressed and applied. So every linear compensates the error that
// reaches it in the compressed model, and each chunk passes through each layer once, with the
// compressed weights. Parallel mode (CompressMode) calibrates on the original model instead.
// Linears fed one tensor (q/k/v, gate/up) share one accumulator and one set of derived
// statistics: one XᵀX, one f64 eigendecomposition. Statistics are streamed (XᵀX, column
// norms, mean |x|) and only those the options use are kept; activations are kept no longer
// than one block's projection input. Cost: L layer passes over the calibration tokens, per
// shared input one XᵀX and at most one eigh; the activation errors (two d_out·d_in² f64 GEMMs
// per linear) run only with measureErrors.
import { ntError } from '../errors';
import { DenseLinear, LinearLike, LoraLinear, QuantLinear } from '../model/linear';
import type { LayerBlock, LlamaModel } from '../model/model';
import { checkOptions, describe } from '../ops/common';
import { dequantize, dequantizeAsync } from '../quant/dequantize';
import type { GroupSizeOption } from '../quant/options';
import { matmul, matmulAsync } from '../linalg/matmul';
import { prune24, prune24Async } from '../quant/prune';
import type { QTensor } from '../quant/qtensor';
import { quantize, quantizeAsync } from '../quant/quantize';
import type { Tensor } from '../tensor';
import { CovarianceAccumulator, covariance } from './covariance';
import { SpillFile } from './spill';
import {
  Compensation,
  CompensationMethod,
  ActivationErrors,
  CovarianceEigen,
  activationErrors,
  activationErrorsAsync,
  compensate,
  compensateAsync,
  covarianceEigen,
  covarianceEigenAsync,
} from './eora';
import { Job, inline, runAsync, runSync, step } from '../job';

export interface CompressOptions {
  /** Quantization bits, or null for pruning only (default 4). */
  bits?: 2 | 3 | 4 | 8 | null;
  /** Group size along d_in (default 128). */
  groupSize?: GroupSizeOption;
  /** 'rtn' (default) or 'gptq'. */
  quantizer?: 'rtn' | 'gptq';
  /** Symmetric grid (zero 2^(bits−1)), as llama.cpp's Q4_0 / Q8_0 need (default false). */
  symmetric?: boolean;
  /** '2:4' structured sparsity (pruned before quantizing), or null (default). */
  sparsity?: '2:4' | null;
  /** Pruning criterion (default 'sparsegpt'). */
  pruneMethod?: 'magnitude' | 'wanda' | 'sparsegpt';
  /** Compensation (default 'eora'); 'none' keeps the compressed weights alone. */
  method?: CompensationMethod | 'none';
  /** Adapter rank (default 64, clipped to min(d_out, d_in)). */
  rank?: number;
  /** Adapter SVD: see nt.llm.eora (default: exact up to 1024 columns, randomized above). */
  svd?: 'exact' | 'randomized';
  /** Quantize the adapter factors too (int4/int8 RTN). */
  factorBits?: 2 | 3 | 4 | 8;
  /** EoRA's eigenvalue cutoff relative to λ_max (default 1e-8; see nt.llm.eora). */
  eigenFloor?: number;
  /**
   * Calibration token ids (required). Not read when no option uses them: RTN with method 'none'
   * or 'svd', no or magnitude pruning, and measureErrors false compress without running the model.
   */
  calibration?: Int32Array | readonly number[];
  /** Tokens per calibration sequence (default 256, at most max_position_embeddings); a shorter last window is its own sequence. */
  calibrationWindow?: number;
  /**
   * Measure each linear's activation errors (LayerReport's error fields; default false): two
   * f64 products of d_out·d_in² per linear (about 6 TFLOP per Llama-3-8B layer). Without it
   * those fields are NaN.
   */
  measureErrors?: boolean;
  /** Which activations each layer calibrates on (default 'layer-sequential'); see CompressMode. */
  mode?: CompressMode;
  /** Called after every linear: done and total linears, what was done, and where the pass stands. */
  onProgress?(done: number, total: number, layer: LayerReport, progress: CompressProgress): void;
}

export interface CompressProgress {
  /** The decoder layer of this linear (0-based), of `layers`. */
  layer: number;
  layers: number;
  /**
   * Seconds left: the mean time per finished decoder layer times the layers not finished,
   * less the time already spent in the current one (at least 0); NaN until a layer finishes.
   */
  etaSeconds: number;
}

export interface LayerReport {
  name: string;
  shape: [number, number];
  /** ‖(W − Wc) Xᵀ‖_F / √n on the calibration data (this and the next three: NaN unless measureErrors). */
  errorCompressed: number;
  /** ‖(W − Wc − BA) Xᵀ‖_F / √n (equals errorCompressed without an adapter). */
  errorCompensated: number;
  /** Relative to ‖W Xᵀ‖_F / √n. */
  relativeCompressed: number;
  relativeCompensated: number;
  /** Eigen-directions dropped by EoRA's guard, and the share of activation energy (Σλ) they held. */
  droppedDirections: number;
  droppedEnergy: number;
  /** Weight bytes as stored after compression (packed codes + scales + zeros, or dense f32). */
  weightBytes: number;
  adapterBytes: number;
  /** Time on this linear; the first linear of a shared input (q_proj, gate_proj) includes the shared statistics. */
  seconds: number;
}

export interface CompressionReport {
  layers: LayerReport[];
  /** Bytes of the decoder linears before (f32) and after (weights + adapters). */
  bytesBefore: number;
  bytesAfter: number;
  calibrationTokens: number;
  seconds: number;
  /** Where the time went (the stages sum to `seconds`). */
  stages: StageSeconds;
  options: Required<Omit<CompressOptions, 'calibration' | 'onProgress' | 'svd' | 'factorBits' | 'calibrationWindow' | 'eigenFloor'>> & {
    svd?: 'exact' | 'randomized';
    factorBits?: number;
    eigenFloor?: number;
  };
}

const OP = 'llm.compressModel';
/** Calibration rows per stream chunk: bounds a layer pass's intermediates (gate/up: rows × d_ff f32) whatever the calibration size. */
const CHUNK_TOKENS = 2048;

export interface Plan {
  bits: 2 | 3 | 4 | 8 | null;
  groupSize: GroupSizeOption;
  quantizer: 'rtn' | 'gptq';
  symmetric: boolean;
  sparsity: '2:4' | null;
  pruneMethod: 'magnitude' | 'wanda' | 'sparsegpt';
  method: CompensationMethod | 'none';
  rank: number;
  svd?: 'exact' | 'randomized';
  factorBits?: 2 | 3 | 4 | 8;
  eigenFloor?: number;
  calibration: Int32Array;
  window: number;
  measureErrors: boolean;
  mode: CompressMode;
  onProgress?: CompressOptions['onProgress'];
}

export function plan(model: LlamaModel, options: CompressOptions): Plan {
  const o = checkOptions<CompressOptions>(OP, options);
  const pick = <T>(name: string, v: T | undefined, allowed: readonly T[], fallback: T): T => {
    const x = v === undefined ? fallback : v;
    if (!allowed.includes(x)) throw ntError('NT_VALUE', `[${OP}] ${name} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(x)}`);
    return x;
  };
  const p: Plan = {
    bits: pick('bits', o.bits, [2, 3, 4, 8, null] as const, 4),
    groupSize: pick('groupSize', o.groupSize, [32, 64, 128, 'row'] as const, 128),
    quantizer: pick('quantizer', o.quantizer, ['rtn', 'gptq'] as const, 'rtn'),
    symmetric: pick('symmetric', o.symmetric, [false, true] as const, false),
    sparsity: pick('sparsity', o.sparsity, ['2:4', null] as const, null),
    pruneMethod: pick('pruneMethod', o.pruneMethod, ['magnitude', 'wanda', 'sparsegpt'] as const, 'sparsegpt'),
    method: pick('method', o.method, ['eora', 'svd', 'act-s', 'none'] as const, 'eora'),
    rank: o.rank ?? 64,
    svd: o.svd,
    factorBits: o.factorBits,
    eigenFloor: o.eigenFloor,
    calibration: o.calibration === undefined ? new Int32Array(0) : Int32Array.from(o.calibration as ArrayLike<number>),
    window: o.calibrationWindow ?? Math.min(256, model.config.maxPositionEmbeddings),
    measureErrors: pick('measureErrors', o.measureErrors, [false, true] as const, false),
    mode: pick('mode', o.mode, ['sequential', 'layer-sequential', 'parallel'] as const, 'layer-sequential'),
    onProgress: o.onProgress,
  };
  const maxWindow = model.config.maxPositionEmbeddings;
  if (!Number.isInteger(p.window) || p.window < 1 || p.window > maxWindow)
    throw ntError('NT_VALUE', `[${OP}] calibrationWindow must be an integer in [1, ${maxWindow}], got ${describe(o.calibrationWindow)}`);
  if (p.onProgress !== undefined && typeof p.onProgress !== 'function') throw ntError('NT_VALUE', `[${OP}] onProgress must be a function, got ${describe(p.onProgress)}`);
  if (!Number.isInteger(p.rank) || p.rank < 1) throw ntError('NT_VALUE', `[${OP}] rank must be a positive integer, got ${describe(o.rank)}`);
  if (p.bits === null && p.sparsity === null) throw ntError('NT_VALUE', `[${OP}] nothing to do: give bits and/or sparsity '2:4'`);
  if (p.sparsity && p.bits !== null && p.quantizer === 'gptq')
    throw ntError('NT_UNSUPPORTED', `[${OP}] 2:4 sparsity with the GPTQ quantizer is not supported (GPTQ's updates would refill pruned weights); use quantizer 'rtn' after pruning`);
  if (p.calibration.length === 0) throw ntError('NT_VALUE', `[${OP}] calibration token ids are required (they also measure every layer's error)`);
  const V = model.config.vocabSize;
  const bad = p.calibration.findIndex((t) => t < 0 || t >= V);
  if (bad >= 0) throw ntError('NT_VALUE', `[${OP}] calibration[${bad}] = ${p.calibration[bad]} is not a token id of this vocabulary (0..${V - 1})`);
  for (const name of model.linears())
    if (!(model.getLinear(name) instanceof DenseLinear))
      throw ntError('NT_VALUE', `[${OP}] '${name}' is already replaced (${model.getLinear(name).constructor.name}); load a fresh model`);
  return p;
}

/** Which input statistics the options use (only those are accumulated and derived). */
interface Needs {
  /** XᵀX at all (anything below but the column statistics). */
  gram: boolean;
  /** C = XᵀX / n kept for the error measurements. */
  covariance: boolean;
  eigen: boolean;
  hessian: boolean;
  norms: boolean;
  meanAbs: boolean;
}

function needsOf(p: Plan): Needs {
  const hessian = (p.bits !== null && p.quantizer === 'gptq') || (p.sparsity !== null && p.pruneMethod === 'sparsegpt');
  const eigen = p.method === 'eora';
  const covariance = p.measureErrors;
  return { gram: hessian || eigen || covariance, covariance, eigen, hessian, norms: p.sparsity !== null && p.pruneMethod === 'wanda', meanAbs: p.method === 'act-s' };
}

/** The statistics derived once from one shared input (q/k/v's, gate/up's, o's, down's). */
interface InputStats {
  covariance?: Tensor;
  eigen?: CovarianceEigen;
  hessian?: Tensor;
  norms?: Tensor;
  meanAbs?: Tensor;
}

function disposeStats(s: InputStats): void {
  s.covariance?.dispose();
  s.eigen?.dispose();
  s.hessian?.dispose();
  s.norms?.dispose();
  s.meanAbs?.dispose();
}

function* inputStats(acc: CovarianceAccumulator, need: Needs, stages: StageSeconds): Job<InputStats> {
  const s: InputStats = {};
  try {
    if (need.covariance || need.eigen) {
      const cov = yield* timed(stages, 'covariance', step(() => acc.mean(), () => acc.meanAsync()));
      try {
        if (need.eigen) s.eigen = yield* timed(stages, 'eigh', step(() => covarianceEigen(cov), () => covarianceEigenAsync(cov)));
      } finally {
        if (need.covariance) s.covariance = cov;
        else cov.dispose();
      }
    }
    if (need.hessian) s.hessian = yield* timed(stages, 'covariance', step(() => acc.hessian(), () => acc.hessianAsync()));
    if (need.norms) s.norms = acc.inputNorms(); // O(d_in)
    if (need.meanAbs) s.meanAbs = acc.meanAbs();
    return s;
  } catch (e) {
    disposeStats(s);
    throw e;
  }
}

/** signal, before and after from two f64 GEMMs (activationErrors), on a worker in the async driver. */
function measure(W: Tensor, Wc: Tensor, cov: Tensor, comp: Compensation | null): Job<ActivationErrors> {
  const adapter = comp ?? undefined;
  return step(() => activationErrors(W, Wc, cov, adapter), () => activationErrorsAsync(W, Wc, cov, adapter));
}

/**
 * The f32 weight a compressed linear applies: Wc (dequantized, or pruned) + B·A. Running the
 * calibration stream through it instead of the int4 kernels and the adapter's two thin GEMMs
 * gives the same outputs up to f32 rounding, about 25% faster at 2048 rows (1.1B shapes). Wc is
 * taken over from `owned` when it is a temporary; otherwise copied.
 */
function* foldedWeight(W: Tensor, Wc: Tensor, pruned: Tensor | null, comp: Compensation | null, owned: Tensor[]): Job<Tensor> {
  let f: Tensor;
  const i = owned.indexOf(Wc);
  if (i >= 0 && Wc !== pruned) f = owned.splice(i, 1)[0];
  else f = Wc === W ? W.clone() : Wc.clone();
  if (!comp) return f;
  try {
    const c = comp;
    yield* step(
      () => matmul(c.B, c.A, { out: f, beta: 1 }),
      () => matmulAsync(c.B, c.A, { out: f, beta: 1 }),
    );
    return f;
  } catch (e) {
    f.dispose();
    throw e;
  }
}

/**
 * Compresses one linear. With `standIn`, also hands back a DenseLinear over its effective f32
 * weight (dequantized, with B·A folded in) for the calibration passes still to run through it.
 */
function* compressLinear(
  p: Plan,
  name: string,
  W: Tensor,
  bias: Tensor | null,
  stats: InputStats,
  stages: StageSeconds,
  standIn: boolean,
): Job<{ linear: LinearLike; report: LayerReport; standIn: DenseLinear | null }> {
  const owned: Tensor[] = [];
  let q: QTensor | null = null;
  let comp: Compensation | null = null;
  try {
    let pruned: Tensor | null = null;
    if (p.sparsity) {
      const o = { method: p.pruneMethod, hessian: stats.hessian, inputNorms: stats.norms };
      pruned = yield* timed(stages, 'prune', step(() => prune24(W, o), () => prune24Async(W, o)));
      owned.push(pruned);
    }
    const source = pruned ?? W;
    if (p.bits !== null) {
      const o = p.quantizer === 'gptq' ? { bits: p.bits, groupSize: p.groupSize, symmetric: p.symmetric, method: 'gptq' as const, hessian: stats.hessian } : { bits: p.bits, groupSize: p.groupSize, symmetric: p.symmetric };
      q = yield* timed(stages, 'quantize', step(() => quantize(source, o), () => quantizeAsync(source, o)));
    }
    const qt = q;
    const Wc = qt ? yield* timed(stages, 'quantize', step(() => dequantize(qt), () => dequantizeAsync(qt))) : source;
    if (qt) owned.push(Wc);
    const [dOut, dIn] = W.shape as [number, number];
    const rank = Math.min(p.rank, dOut, dIn);
    if (p.method !== 'none') {
      const o = { method: p.method, rank, eigen: stats.eigen, meanAbs: stats.meanAbs, svd: p.svd, factorBits: p.factorBits, eigenFloor: p.eigenFloor };
      comp = yield* timed(stages, 'svd', step(() => compensate(W, Wc, o), () => compensateAsync(W, Wc, o)));
    }
    const m: ActivationErrors = p.measureErrors ? yield* timed(stages, 'measure', measure(W, Wc, stats.covariance!, comp)) : { signal: NaN, compressed: NaN, compensated: NaN };
    const folded = standIn && (q || comp) ? yield* timed(stages, 'other', foldedWeight(W, Wc, pruned, comp, owned)) : null;
    // the bias (Qwen2's q/k/v, llama attention_bias) is kept as it is: only the weight is compressed
    const b = bias ? bias.clone() : null;
    const base: LinearLike = q ? new QuantLinear(q, { bias: b }) : new DenseLinear(pruned!, b);
    if (!q) owned.splice(owned.indexOf(pruned!), 1); // the DenseLinear owns it now
    q = null;
    const weightBytes = base instanceof QuantLinear ? base.q.bytes : dOut * dIn * 4;
    const linear = comp ? new LoraLinear(base, comp.A, comp.B) : base;
    const report: LayerReport = {
      name,
      shape: [dOut, dIn],
      errorCompressed: m.compressed,
      errorCompensated: m.compensated,
      relativeCompressed: m.compressed / m.signal,
      relativeCompensated: m.compensated / m.signal,
      droppedDirections: comp?.droppedDirections ?? 0,
      droppedEnergy: comp?.droppedEnergy ?? 0,
      weightBytes,
      adapterBytes: comp?.bytes ?? 0,
      seconds: 0, // set by the caller, which also counts the shared statistics
    };
    comp = null;
    return { linear, report, standIn: folded ? new DenseLinear(folded, bias ? bias.clone() : null) : null };
  } finally {
    owned.forEach((t) => t.dispose());
    q?.dispose();
    comp?.dispose();
  }
}

/** A slice of the calibration stream: independent sequences stacked as rows [Σ lengths, hidden] f32. */
export interface Chunk {
  x: Tensor;
  lengths: number[];
}

/** The calibration ids cut into windows (the last shorter one its own sequence), grouped into chunks of about CHUNK_TOKENS rows. */
export function chunkWindows(p: Plan): Int32Array[][] {
  const ids = p.calibration;
  const groups: Int32Array[][] = [];
  let group: Int32Array[] = [];
  let rows = 0;
  for (let s = 0; s < ids.length; s += p.window) {
    const w = ids.subarray(s, Math.min(s + p.window, ids.length));
    if (group.length > 0 && rows + w.length > CHUNK_TOKENS) {
      groups.push(group);
      group = [];
      rows = 0;
    }
    group.push(w);
    rows += w.length;
  }
  groups.push(group);
  return groups;
}

/** The calibration windows embedded, chunk by chunk (chunkWindows). */
export function embedChunks(model: LlamaModel, p: Plan): Chunk[] {
  const chunks: Chunk[] = [];
  try {
    for (const g of chunkWindows(p)) chunks.push({ x: model.embedSequences(g), lengths: g.map((w) => w.length) });
  } catch (e) {
    chunks.forEach((c) => c.x.dispose());
    throw e;
  }
  return chunks;
}

/**
 * Runs layer l (weights as they are) over every chunk (a copy, unless inPlace) and accumulates
 * the inputs of its linears. One accumulator per distinct input tensor.
 */
function* captureLayer(model: LlamaModel, l: number, chunks: readonly Chunk[], need: Needs, stages: StageSeconds, inPlace: boolean): Job<Map<string, CovarianceAccumulator>> {
  const inputs = new Map<string, CovarianceAccumulator>();
  const owned: CovarianceAccumulator[] = [];
  try {
    for (const c of chunks) {
      // within this pass: the tensor a linear received → the accumulator that already holds it
      const seen = new Map<Tensor, CovarianceAccumulator>();
      // x is valid only during the hook: a copy is accumulated after the pass, which lets the
      // async driver run the XᵀX products on a worker instead of in the hook
      const pending: [CovarianceAccumulator, Tensor][] = [];
      const hooks = {
        onLinearInput(name: string, x: Tensor): void {
          const shared = seen.get(x);
          if (shared) {
            if (!inputs.has(name)) inputs.set(name, shared);
            return;
          }
          let acc = inputs.get(name);
          if (!acc) {
            acc = covariance(x.shape[x.ndim - 1], { gram: need.gram });
            owned.push(acc);
            inputs.set(name, acc);
          }
          seen.set(x, acc);
          pending.push([acc, x.clone()]);
        },
      };
      // in place (parallel mode) the original layer's output is the next layer's input
      const scratch = inPlace ? c.x : c.x.clone();
      try {
        yield* timed(stages, 'forward', step(() => model.runLayer(l, scratch, c.lengths, { hooks }), () => model.runLayerAsync(l, scratch, c.lengths, { hooks })));
        if (!inPlace) scratch.dispose();
        for (const [acc, x] of pending) {
          yield* timed(stages, 'covariance', step(() => acc.update(x), () => acc.updateAsync(x)));
          x.dispose();
        }
      } finally {
        if (!inPlace) scratch.dispose();
        for (const [, x] of pending) x.dispose();
      }
    }
    return inputs;
  } catch (e) {
    owned.forEach((a) => a.dispose());
    throw e;
  }
}

/** Seconds spent per stage of a compression run (wall time of the steps; `other` is the rest). */
export interface StageSeconds {
  /** Embedding the calibration windows. */
  embed: number;
  /** Layer passes over the calibration tokens (with the compressed weights in sequential mode, the original ones in parallel mode). */
  forward: number;
  /** XᵀX accumulation and the statistics derived from it (mean, Hessian, norms). */
  covariance: number;
  /** One f64 eigendecomposition per shared input (EoRA). */
  eigh: number;
  /** RTN or GPTQ quantization (and the dequantized copy the adapter fits against). */
  quantize: number;
  /** 2:4 pruning. */
  prune: number;
  /** The adapter's SVD (EoRA / svd / act-s). */
  svd: number;
  /** measureErrors' activation errors. */
  measure: number;
  /** Output files (compressCheckpoint only). */
  write: number;
  /** Everything else: bookkeeping, page release, progress. */
  other: number;
}

export function emptyStages(): StageSeconds {
  return { embed: 0, forward: 0, covariance: 0, eigh: 0, quantize: 0, prune: 0, svd: 0, measure: 0, write: 0, other: 0 };
}

/** `yield* timed(stages, 'eigh', job)`: adds the job's wall time to one stage. */
export function* timed<T>(stages: StageSeconds, stage: keyof StageSeconds, job: Job<T>): Job<T> {
  const started = performance.now();
  try {
    return yield* job;
  } finally {
    stages[stage] += (performance.now() - started) / 1000;
  }
}

/**
 * How each layer's calibration inputs are produced. 'layer-sequential' is the default: on the
 * fixtures it reproduces the demo table of the capture-then-compress pipeline it replaced,
 * where true-sequential lost 0.2% perplexity on 2:4 + int4 (README). 'sequential' (GPTQ's
 * true-sequential order): every linear calibrates on the inputs it sees in the compressed model, i.e. after
 * the layers before it and the linears before it in its own layer are compressed; the pass
 * stops where each block's projections start and swaps them in, so the stream goes through
 * each layer once, with the compressed weights. 'layer-sequential' (GPTQ's reference default,
 * without true-sequential): a layer's seven linears calibrate on one capture pass of the
 * layer with its original weights, over the stream from the compressed layers before it,
 * and the compressed layer then runs again to feed the next (two passes per layer).
 * 'parallel': on the original model, so layers are independent (shardable over processes);
 * one pass per layer.
 */
export type CompressMode = 'sequential' | 'layer-sequential' | 'parallel';

/** What one layer's compression hands back: its linears' reports in module order. */
export interface LayerResult {
  reports: LayerReport[];
}

interface LayerContext {
  mode: CompressMode;
  /** Whether the stream must come out of the layer (false for the last one: its output feeds nothing). */
  advance: boolean;
  stages: StageSeconds;
  /** Sequential mode: where the projections' inputs wait for their second pass (else in memory). */
  spillDir?: string;
  onLinear?(report: LayerReport): void;
  /**
   * Sequential mode, where the calibration stream still runs through this layer's compressed
   * linears: the model holds f32 stand-ins (compressLinear's standIn) and this map the
   * compressed linears, swapped in when the layer is done.
   */
  pending?: Map<string, LinearLike>;
}

/**
 * Compresses `names` (linears fed one input, whose statistics `acc` holds, or none when the
 * options need no data), replacing them in the model; the statistics are derived once.
 */
function* compressGroup(model: LlamaModel, p: Plan, names: readonly string[], acc: CovarianceAccumulator | null, ctx: LayerContext, reports: LayerReport[]): Job<void> {
  const need = needsOf(p);
  const groupStarted = Date.now();
  let stats: InputStats = {};
  try {
    if (acc) {
      stats = yield* inputStats(acc, need, ctx.stages);
      acc.dispose(); // XᵀX is no longer needed: free its d_in² f64 before the linears' own work
    }
    for (const name of names) {
      // the first linear's time includes the shared statistics
      const linearStarted = name === names[0] ? groupStarted : Date.now();
      // quantizers, pruners and EoRA work on f32 (a bf16/f16 model holds 16-bit weights)
      const dense = model.getLinear(name) as DenseLinear;
      const stored = dense.weight;
      const W = stored.dtype === 'f32' ? stored : stored.astype('f32');
      let compressed;
      try {
        compressed = yield* compressLinear(p, name, W, dense.bias, stats, ctx.stages, ctx.pending !== undefined);
      } finally {
        if (W !== stored) W.dispose();
      }
      // disposing the original releases its mapped pages (a checkpoint's 16-bit weights)
      if (compressed.standIn) {
        ctx.pending!.set(name, compressed.linear);
        model.setLinear(name, compressed.standIn).dispose();
      } else {
        model.setLinear(name, compressed.linear).dispose();
      }
      compressed.report.seconds = (Date.now() - linearStarted) / 1000;
      reports.push(compressed.report);
      ctx.onLinear?.(compressed.report);
    }
  } finally {
    disposeStats(stats);
    acc?.dispose();
  }
}

/** A fresh accumulator of the statistics the options use, for inputs of `dim` features. */
const accumulatorFor = (need: Needs, dim: number) => covariance(dim, { gram: need.gram });

/** The linears of layer l fed by each block's norm, and by its inner part, in module order. */
function blockLinears(model: LlamaModel, l: number, block: LayerBlock): { first: string[]; projection: string } {
  const p = `model.layers.${l}.`;
  return block === 'attention'
    ? { first: ['q_proj', 'k_proj', 'v_proj'].map((n) => `${p}self_attn.${n}`), projection: `${p}self_attn.o_proj` }
    : { first: ['gate_proj', 'up_proj'].map((n) => `${p}mlp.${n}`), projection: `${p}mlp.down_proj` };
}

/**
 * Sequential mode, one layer: per block, the norm's output over every chunk calibrates q/k/v
 * (gate/up), which are compressed; the block's inner part then runs with them over every
 * chunk (kept: the projection's input), calibrates o_proj (down_proj), which is compressed
 * and applied. Each chunk passes through the layer once, with the compressed weights.
 */
function* sequentialLayer(model: LlamaModel, p: Plan, l: number, chunks: readonly Chunk[], ctx: LayerContext, reports: LayerReport[]): Job<void> {
  const need = needsOf(p);
  const t = ctx.stages;
  for (const block of ['attention', 'mlp'] as const) {
    const { first, projection } = blockLinears(model, l, block);
    let acc: CovarianceAccumulator | null = accumulatorFor(need, model.config.hiddenSize);
    try {
      for (const c of chunks) {
        const h = yield* timed(t, 'forward', step(() => model.runBlockNorm(l, block, c.x), () => model.runBlockNormAsync(l, block, c.x)));
        try {
          const a = acc;
          yield* timed(t, 'covariance', step(() => a.update(h), () => a.updateAsync(h)));
        } finally {
          h.dispose();
        }
      }
      const owned = acc;
      acc = null;
      yield* compressGroup(model, p, first, owned, ctx, reports);
    } finally {
      acc?.dispose();
    }
    // the projection's input, computed with the block's compressed first linears; needed again
    // once the projection is compressed, so held: in memory, or spilled to ctx.spillDir for the
    // mlp block (rows × intermediate; the attention block's rows × hidden stays below the peak the
    // mlp block's down_proj statistics reach, so spilling it would only cost I/O)
    const inners: Tensor[] = [];
    const spill = ctx.spillDir === undefined || block === 'attention' ? null : new SpillFile(ctx.spillDir);
    try {
      let pacc: CovarianceAccumulator | null = null;
      try {
        for (const c of chunks) {
          const inner = yield* timed(t, 'forward', step(() => model.runBlockInner(l, block, c.x, c.lengths), () => model.runBlockInnerAsync(l, block, c.x, c.lengths)));
          inners.push(inner);
          pacc ??= accumulatorFor(need, inner.shape[1]);
          const a = pacc;
          yield* timed(t, 'covariance', step(() => a.update(inner), () => a.updateAsync(inner)));
          if (spill) {
            yield* timed(t, 'other', spill.put(inner));
            inners.pop()!.dispose();
          }
        }
        const owned = pacc;
        pacc = null;
        yield* compressGroup(model, p, [projection], owned, ctx, reports);
      } finally {
        pacc?.dispose();
      }
      // the mlp block's output of the last layer feeds nothing
      if (block === 'attention' || ctx.advance)
        for (let i = 0; i < chunks.length; ++i) {
          const c = chunks[i];
          const inner = spill ? yield* timed(t, 'other', spill.get(i)) : inners[i];
          try {
            yield* timed(t, 'forward', step(() => model.runBlockOuter(l, block, c.x, inner), () => model.runBlockOuterAsync(l, block, c.x, inner)));
          } finally {
            inner.dispose();
          }
        }
    } finally {
      inners.forEach((x) => x.dispose());
      spill?.close();
    }
  }
}

/**
 * Compresses decoder layer l of `model` in place (its linears replaced) and, with
 * `ctx.advance`, leaves the calibration stream past it: through the compressed layer
 * (sequential) or the original one (parallel, where the capture pass itself is the advance).
 */
export function* compressLayer(model: LlamaModel, p: Plan, l: number, chunks: readonly Chunk[], ctx: LayerContext): Job<LayerResult> {
  // sequential mode runs the stream through each block's compressed linears, on their f32
  // stand-ins. Layer-sequential's advance pass runs the compressed layer itself: through the
  // stand-ins it was 10-15% faster, but the rounding they change moved SparseGPT's 2:4 masks
  // and the demo's 2:4 + int4 row by +0.01% perplexity; the default mode keeps its numbers.
  const layerCtx: LayerContext = ctx.mode === 'sequential' ? { ...ctx, pending: new Map() } : ctx;
  try {
    return yield* compressLayerWith(model, p, l, chunks, layerCtx);
  } finally {
    // the layer leaves with its compressed linears (also when it failed part way)
    layerCtx.pending?.forEach((linear, name) => model.setLinear(name, linear).dispose());
  }
}

function* compressLayerWith(model: LlamaModel, p: Plan, l: number, chunks: readonly Chunk[], ctx: LayerContext): Job<LayerResult> {
  const need = needsOf(p);
  const dataAware = need.gram || need.norms || need.meanAbs;
  const names = model.linears().filter((n) => n.startsWith(`model.layers.${l}.`));
  const reports: LayerReport[] = [];
  if (!dataAware) {
    // nothing to calibrate: compress, and (parallel) run the original layer for the next one
    if (ctx.mode === 'parallel' && ctx.advance) for (const c of chunks) yield* timed(ctx.stages, 'forward', step(() => model.runLayer(l, c.x, c.lengths), () => model.runLayerAsync(l, c.x, c.lengths)));
    for (const name of names) yield* compressGroup(model, p, [name], null, ctx, reports);
    if (ctx.mode !== 'parallel' && ctx.advance) for (const c of chunks) yield* timed(ctx.stages, 'forward', step(() => model.runLayer(l, c.x, c.lengths), () => model.runLayerAsync(l, c.x, c.lengths)));
    return { reports };
  }
  if (ctx.mode === 'sequential') {
    yield* sequentialLayer(model, p, l, chunks, ctx, reports);
    return { reports };
  }
  // one pass with the original weights captures every input: on the stream itself in parallel
  // mode (the original layer's output is the next input), on a copy in layer-sequential mode
  const inputs = yield* captureLayer(model, l, chunks, need, ctx.stages, ctx.mode === 'parallel' && ctx.advance);
  try {
    const groups = new Map<CovarianceAccumulator, string[]>();
    for (const name of names) {
      const acc = inputs.get(name)!;
      groups.set(acc, [...(groups.get(acc) ?? []), name]);
    }
    for (const [acc, group] of groups) {
      inputs.forEach((a, n) => a === acc && inputs.delete(n));
      yield* compressGroup(model, p, group, acc, ctx, reports);
    }
  } finally {
    new Set(inputs.values()).forEach((a) => a.dispose());
  }
  // layer-sequential: the next layer's inputs come from this layer compressed
  if (ctx.mode === 'layer-sequential' && ctx.advance)
    for (const c of chunks) yield* timed(ctx.stages, 'forward', step(() => model.runLayer(l, c.x, c.lengths), () => model.runLayerAsync(l, c.x, c.lengths)));
  return { reports };
}

/** The report's options: the plan less the calibration and callbacks. */
export function reportOptions(p: Plan): CompressionReport['options'] {
  return {
    bits: p.bits,
    groupSize: p.groupSize,
    quantizer: p.quantizer,
    symmetric: p.symmetric,
    sparsity: p.sparsity,
    pruneMethod: p.pruneMethod,
    method: p.method,
    rank: p.rank,
    measureErrors: p.measureErrors,
    mode: p.mode,
    ...(p.svd ? { svd: p.svd } : {}),
    ...(p.factorBits ? { factorBits: p.factorBits } : {}),
    ...(p.eigenFloor !== undefined ? { eigenFloor: p.eigenFloor } : {}),
  };
}

/** Whether the options read the calibration data at all (else the model never runs). */
export function usesCalibration(p: Plan): boolean {
  const need = needsOf(p);
  return need.gram || need.norms || need.meanAbs;
}

/** Tracks per-layer times for the progress callback's ETA. */
export class LayerClock {
  private finishedSeconds = 0;
  private finishedLayers = 0;
  private layerStarted = Date.now();
  constructor(private readonly layersLeftAtStart: number) {}
  startLayer(): void {
    this.layerStarted = Date.now();
  }
  endLayer(): void {
    this.finishedSeconds += (Date.now() - this.layerStarted) / 1000;
    this.finishedLayers += 1;
  }
  /** Seconds left: mean time per finished layer × layers not finished, less the current layer's time so far. */
  eta(): number {
    if (this.finishedLayers === 0) return NaN;
    const spent = (Date.now() - this.layerStarted) / 1000;
    return Math.max(0, (this.finishedSeconds / this.finishedLayers) * (this.layersLeftAtStart - this.finishedLayers) - spent);
  }
}

function* compressSteps(model: LlamaModel, p: Plan): Job<CompressionReport> {
  const started = Date.now();
  const total = model.linears().length;
  const L = model.config.numLayers;
  const stages = emptyStages();
  const layers: LayerReport[] = [];
  let bytesBefore = 0;
  let bytesAfter = 0;
  const chunks = usesCalibration(p) ? yield* timed(stages, 'embed', inline(() => embedChunks(model, p))) : [];
  const clock = new LayerClock(L);
  try {
    for (let l = 0; l < L; ++l) {
      clock.startLayer();
      yield* compressLayer(model, p, l, chunks, {
        mode: p.mode,
        advance: l + 1 < L,
        stages,
        onLinear: (report) => {
          layers.push(report);
          bytesBefore += report.shape[0] * report.shape[1] * 4;
          bytesAfter += report.weightBytes + report.adapterBytes;
          p.onProgress?.(layers.length, total, report, { layer: l, layers: L, etaSeconds: clock.eta() });
        },
      });
      clock.endLayer();
    }
  } finally {
    chunks.forEach((c) => c.x.dispose());
  }
  const seconds = (Date.now() - started) / 1000;
  return { layers, bytesBefore, bytesAfter, calibrationTokens: p.calibration.length, seconds, stages: closeStages(stages, seconds), options: reportOptions(p) };
}

/** Sets `other` to the wall time not in any stage. */
export function closeStages(stages: StageSeconds, seconds: number): StageSeconds {
  const counted = Object.entries(stages).reduce((s, [k, v]) => (k === 'other' ? s : s + v), 0);
  return { ...stages, other: Math.max(0, seconds - counted) };
}

/** Compresses every decoder linear of `model` in place and reports each layer's error. */
export function compressModel(model: LlamaModel, opts: CompressOptions): CompressionReport {
  return runSync(compressSteps(model, plan(model, opts)));
}

/**
 * compressModel with the layer passes, XᵀX accumulation, quantization, pruning, eigh, SVDs and
 * error measurements on worker threads: the event loop stays free (the JS thread only copies
 * each layer's linear inputs and does O(d²) bookkeeping).
 */
export async function compressModelAsync(model: LlamaModel, opts: CompressOptions): Promise<CompressionReport> {
  return runAsync(compressSteps(model, plan(model, opts)));
}
