// Whole-model compression (ALGORITHMS.md §1-2): every decoder linear becomes an int4 (RTN or
// GPTQ, group 128) and/or 2:4-pruned weight, plus an optional low-rank adapter (EoRA, or the
// svd / act-s baselines) that wins back accuracy. The model is modified in place: each linear
// is replaced by a QuantLinear (fused int4 kernel) or a dense pruned one, wrapped in a
// LoraLinear when an adapter is fitted.
//
// Calibration is sequential, as GPTQ's reference does: layer l's inputs are captured on the
// model whose layers 0 … l−1 are already compressed, so each layer compensates the error that
// actually reaches it. Statistics are streamed (XᵀX, column norms, mean |x|); activations are
// never stored. Cost: one calibration forward per decoder layer.
import { ntError } from '../errors';
import { DenseLinear, LinearLike, LoraLinear, QuantLinear } from '../model/linear';
import type { LlamaModel } from '../model/model';
import { checkOptions, describe } from '../ops/common';
import { dequantize } from '../quant/dequantize';
import type { GroupSizeOption } from '../quant/options';
import { prune24, prune24Async } from '../quant/prune';
import type { QTensor } from '../quant/qtensor';
import { quantize, quantizeAsync } from '../quant/quantize';
import { zeros } from '../creation';
import type { Tensor } from '../tensor';
import { calibrate } from './calibrate';
import { Compensation, CompensationMethod, activationError, compensate, compensateAsync } from './eora';
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
  /** Calibration token ids (required unless method is 'none'/'svd' with RTN and no data-aware pruning). */
  calibration?: Int32Array | readonly number[];
  /** Tokens per calibration forward (default 256). */
  calibrationWindow?: number;
  /** Called after every linear: done and total linears, and what was done. */
  onProgress?(done: number, total: number, layer: LayerReport): void;
}

export interface LayerReport {
  name: string;
  shape: [number, number];
  /** ‖(W − Wc) Xᵀ‖_F / √n on the calibration data (NaN without calibration). */
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
  seconds: number;
}

export interface CompressionReport {
  layers: LayerReport[];
  /** Bytes of the decoder linears before (f32) and after (weights + adapters). */
  bytesBefore: number;
  bytesAfter: number;
  calibrationTokens: number;
  seconds: number;
  options: Required<Omit<CompressOptions, 'calibration' | 'onProgress' | 'svd' | 'factorBits' | 'calibrationWindow' | 'eigenFloor'>> & {
    svd?: 'exact' | 'randomized';
    factorBits?: number;
    eigenFloor?: number;
  };
}

const OP = 'llm.compressModel';

interface Plan {
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
  calibration: Int32Array | null;
  window?: number;
  onProgress?: CompressOptions['onProgress'];
}

function plan(model: LlamaModel, options: CompressOptions): Plan {
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
    calibration: o.calibration === undefined ? null : Int32Array.from(o.calibration as ArrayLike<number>),
    window: o.calibrationWindow,
    onProgress: o.onProgress,
  };
  if (!Number.isInteger(p.rank) || p.rank < 1) throw ntError('NT_VALUE', `[${OP}] rank must be a positive integer, got ${describe(o.rank)}`);
  if (p.bits === null && p.sparsity === null) throw ntError('NT_VALUE', `[${OP}] nothing to do: give bits and/or sparsity '2:4'`);
  if (p.sparsity && p.bits !== null && p.quantizer === 'gptq')
    throw ntError('NT_UNSUPPORTED', `[${OP}] 2:4 sparsity with the GPTQ quantizer is not supported (GPTQ's updates would refill pruned weights); use quantizer 'rtn' after pruning`);
  if (p.calibration === null || p.calibration.length === 0) throw ntError('NT_VALUE', `[${OP}] calibration token ids are required (they also measure every layer's error)`);
  for (const name of model.linears())
    if (!(model.getLinear(name) instanceof DenseLinear))
      throw ntError('NT_VALUE', `[${OP}] '${name}' is already replaced (${model.getLinear(name).constructor.name}); load a fresh model`);
  return p;
}

/** ‖W Xᵀ‖_F / √n: the scale the layer errors are relative to. */
function activationSignal(W: Tensor, cov: Tensor): number {
  const zero = zeros(W.shape, W.dtype);
  try {
    return activationError(W, zero, cov);
  } finally {
    zero.dispose();
  }
}

function* compressLinear(p: Plan, name: string, W: Tensor, stats: { cov: Tensor; hessian: Tensor; norms: Tensor; meanAbs: Tensor }): Job<{ linear: LinearLike; report: LayerReport }> {
  const started = Date.now();
  const owned: Tensor[] = [];
  let q: QTensor | null = null;
  let comp: Compensation | null = null;
  try {
    let pruned: Tensor | null = null;
    if (p.sparsity) {
      const o = { method: p.pruneMethod, hessian: p.pruneMethod === 'sparsegpt' ? stats.hessian : undefined, inputNorms: p.pruneMethod === 'wanda' ? stats.norms : undefined };
      pruned = yield* step(() => prune24(W, o), () => prune24Async(W, o));
      owned.push(pruned);
    }
    const source = pruned ?? W;
    if (p.bits !== null) {
      const o = p.quantizer === 'gptq' ? { bits: p.bits, groupSize: p.groupSize, symmetric: p.symmetric, method: 'gptq' as const, hessian: stats.hessian } : { bits: p.bits, groupSize: p.groupSize, symmetric: p.symmetric };
      q = yield* step(() => quantize(source, o), () => quantizeAsync(source, o));
    }
    const Wc = q ? dequantize(q) : source;
    if (q) owned.push(Wc);
    const [dOut, dIn] = W.shape as [number, number];
    const rank = Math.min(p.rank, dOut, dIn);
    if (p.method !== 'none') {
      const o = { method: p.method, rank, covariance: stats.cov, meanAbs: stats.meanAbs, svd: p.svd, factorBits: p.factorBits, eigenFloor: p.eigenFloor };
      comp = yield* step(() => compensate(W, Wc, o), () => compensateAsync(W, Wc, o));
    }
    const c = comp;
    const measure = yield* inline(() => ({
      signal: activationSignal(W, stats.cov),
      before: activationError(W, Wc, stats.cov),
      after: c ? activationError(W, Wc, stats.cov, c) : NaN,
    }));
    if (!c) measure.after = measure.before;
    const base: LinearLike = q ? new QuantLinear(q) : new DenseLinear(pruned!);
    if (!q) owned.splice(owned.indexOf(pruned!), 1); // the DenseLinear owns it now
    q = null;
    const weightBytes = base instanceof QuantLinear ? base.q.bytes : dOut * dIn * 4;
    const linear = comp ? new LoraLinear(base, comp.A, comp.B) : base;
    const report: LayerReport = {
      name,
      shape: [dOut, dIn],
      errorCompressed: measure.before,
      errorCompensated: measure.after,
      relativeCompressed: measure.before / measure.signal,
      relativeCompensated: measure.after / measure.signal,
      droppedDirections: comp?.droppedDirections ?? 0,
      droppedEnergy: comp?.droppedEnergy ?? 0,
      weightBytes,
      adapterBytes: comp?.bytes ?? 0,
      seconds: (Date.now() - started) / 1000,
    };
    comp = null;
    return { linear, report };
  } finally {
    owned.forEach((t) => t.dispose());
    q?.dispose();
    comp?.dispose();
  }
}

function* compressSteps(model: LlamaModel, p: Plan): Job<CompressionReport> {
  const started = Date.now();
  const names = model.linears();
  const layers: LayerReport[] = [];
  let bytesBefore = 0;
  let bytesAfter = 0;
  for (let l = 0; l < model.config.numLayers; ++l) {
    const mine = names.filter((n) => n.startsWith(`model.layers.${l}.`));
    const calib = yield* inline(() => calibrate(model, p.calibration!, { window: p.window, modules: mine }));
    try {
      for (const name of mine) {
        const acc = calib.inputs.get(name)!;
        const stats = { cov: acc.mean(), hessian: acc.hessian(), norms: acc.inputNorms(), meanAbs: acc.meanAbs() };
        try {
          // quantizers, pruners and EoRA work on f32 (a bf16/f16 model holds 16-bit weights)
          const stored = (model.getLinear(name) as DenseLinear).weight;
          const W = stored.dtype === 'f32' ? stored : stored.astype('f32');
          let compressed;
          try {
            compressed = yield* compressLinear(p, name, W, stats);
          } finally {
            if (W !== stored) W.dispose();
          }
          const { linear, report } = compressed;
          model.setLinear(name, linear).dispose();
          layers.push(report);
          bytesBefore += report.shape[0] * report.shape[1] * 4;
          bytesAfter += report.weightBytes + report.adapterBytes;
          p.onProgress?.(layers.length, names.length, report);
        } finally {
          Object.values(stats).forEach((t) => t.dispose());
        }
      }
    } finally {
      calib.dispose();
    }
  }
  return {
    layers,
    bytesBefore,
    bytesAfter,
    calibrationTokens: p.calibration!.length,
    seconds: (Date.now() - started) / 1000,
    options: {
      bits: p.bits,
      groupSize: p.groupSize,
      quantizer: p.quantizer,
      symmetric: p.symmetric,
      sparsity: p.sparsity,
      pruneMethod: p.pruneMethod,
      method: p.method,
      rank: p.rank,
      ...(p.svd ? { svd: p.svd } : {}),
      ...(p.factorBits ? { factorBits: p.factorBits } : {}),
      ...(p.eigenFloor !== undefined ? { eigenFloor: p.eigenFloor } : {}),
    },
  };
}

/** Compresses every decoder linear of `model` in place and reports each layer's error. */
export function compressModel(model: LlamaModel, opts: CompressOptions): CompressionReport {
  return runSync(compressSteps(model, plan(model, opts)));
}

/** compressModel with quantization, pruning and the adapter SVDs on worker threads. */
export async function compressModelAsync(model: LlamaModel, opts: CompressOptions): Promise<CompressionReport> {
  return runAsync(compressSteps(model, plan(model, opts)));
}
