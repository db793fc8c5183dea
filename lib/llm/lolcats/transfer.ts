// LoLCATs stage 1 over a whole model, streamed layer by layer: the calibration sequences are
// embedded once, then for each layer l the softmax layer runs over the residual stream
// (model.runLayer), its post-RoPE q/k/v are copied, layer l's HybridLayer trains on them, and
// they are freed before layer l+1 runs. Layer l's inputs come from the unmodified softmax
// layers 0..l-1, exactly what one softmax forward per sequence gives, so peak memory is the
// stream [tokens, H] plus one layer's q/k/v (not L layers'), and no lm_head runs. A held-out
// split measures the transfer loss before and after; hybridHooks runs the model with the result.
import { ntError } from '../../errors';
import { loadSafetensors, safetensorsInfo, saveSafetensors } from '../../io';
import { Tensor } from '../../tensor';
import type { LlamaModel, ModelHooks, PerplexityResult } from '../../model';
import { HybridLayer } from './layer';
import { AttentionSample, softmaxTargets, trainLayer, transferLoss } from './train';

/** What transfer needs of a model (nt.model.load's LlamaModel fits). */
export interface TransferModel {
  readonly config: { numLayers: number; numHeads: number; numKvHeads: number; headDim: number; maxPositionEmbeddings: number };
  /** Embedding rows of independent sequences stacked: [Σ n, hidden] f32 (the caller owns it). */
  embedSequences(sequences: readonly Int32Array[]): Tensor;
  /** Decoder layer `layer` over x in place; hooks.onAttentionInputs fires once per sequence. */
  runLayer(layer: number, x: Tensor, lengths: readonly number[], opts: { hooks?: ModelHooks }): void;
}

/** Splits ids into consecutive sequences of seqLen tokens (a shorter tail is dropped). */
export function splitSequences(ids: Int32Array, seqLen: number): Int32Array[] {
  if (!Number.isInteger(seqLen) || seqLen < 1) throw ntError('NT_VALUE', `[llm.lolcats.splitSequences] seqLen must be an integer >= 1, got ${seqLen}`);
  const out: Int32Array[] = [];
  for (let s = 0; s + seqLen <= ids.length; s += seqLen) out.push(ids.subarray(s, s + seqLen));
  return out;
}

function disposeSamples(samples: readonly AttentionSample[]): void {
  for (const s of samples) for (const t of [s.q, s.k, s.v]) if (!t.isDisposed) t.dispose();
}

/** Consecutive groups of sequences of at most maxTokens tokens each (at least one sequence per group). */
function groupSequences(sequences: readonly Int32Array[], maxTokens: number): Int32Array[][] {
  const groups: Int32Array[][] = [];
  let tokens = Infinity;
  for (const seq of sequences) {
    if (tokens + seq.length > maxTokens) {
      groups.push([]);
      tokens = 0;
    }
    groups[groups.length - 1].push(seq);
    tokens += seq.length;
  }
  return groups;
}

export interface TransferOptions {
  /** Sliding window of the hybrid attention (default 64). */
  window?: number;
  /** Hedgehog columns per map (default 64: 128 features). */
  features?: number;
  /** Adam steps per layer (default 100). */
  steps?: number;
  /** Adam learning rate (default 1e-2). */
  lr?: number;
  /** Tokens per calibration sequence (default min(256, max_position_embeddings)). */
  seqLen?: number;
  /** Fraction of the sequences held out to measure the transfer loss (default 0.25, at least 1 sequence). */
  heldOutFraction?: number;
  /**
   * Tokens per runLayer call (default 2048, at least one sequence): the layer's temporaries
   * (q/k/v, MLP activations) scale with this, not with the calibration set.
   */
  batchTokens?: number;
  /** Called after every training step. */
  onStep?(layer: number, step: number, loss: number): void;
}

export interface TransferResult {
  /** The trained maps and γ of every layer. */
  layers: HybridLayer[];
  /** Training loss (1000 · MSE) of every step, per layer. */
  history: number[][];
  /** Held-out attention-transfer loss (1000 · MSE) per layer with the initial and the trained maps. */
  heldOut: { before: number[]; after: number[] };
  trainSequences: number;
  heldOutSequences: number;
  dispose(): void;
}

/**
 * LoLCATs attention transfer on calibration token ids: every layer's φ_q, φ_k and γ are
 * trained (everything else frozen) to make hybrid attention match the model's softmax
 * attention on the training split; the held-out split measures the result.
 */
export function transfer(model: TransferModel, calibIds: Int32Array, opts: TransferOptions = {}): TransferResult {
  const op = 'llm.lolcats.transfer';
  const { numLayers, numHeads, headDim, maxPositionEmbeddings } = model.config;
  const { window = 64, features = 64, steps = 100, lr = 1e-2, heldOutFraction = 0.25, batchTokens = 2048 } = opts;
  const seqLen = opts.seqLen ?? Math.min(256, maxPositionEmbeddings);
  if (!(heldOutFraction > 0 && heldOutFraction < 1)) throw ntError('NT_VALUE', `[${op}] heldOutFraction must be in (0, 1), got ${heldOutFraction}`);
  if (!Number.isInteger(seqLen) || seqLen < 2 || seqLen > maxPositionEmbeddings)
    throw ntError('NT_VALUE', `[${op}] seqLen must be an integer in [2, ${maxPositionEmbeddings}], got ${seqLen}`);
  if (!Number.isSafeInteger(batchTokens) || batchTokens < 1) throw ntError('NT_VALUE', `[${op}] batchTokens must be an integer >= 1, got ${batchTokens}`);
  const sequences = splitSequences(calibIds, seqLen);
  if (sequences.length < 2)
    throw ntError('NT_VALUE', `[${op}] the calibration data gives ${sequences.length} sequence(s) of ${seqLen} tokens; at least 2 are needed (train + held out)`);
  const nHeld = Math.max(1, Math.round(sequences.length * heldOutFraction));
  const groups = groupSequences(sequences, batchTokens);
  const streams: Tensor[] = [];
  const layers: HybridLayer[] = [];
  const history: number[][] = [];
  const before: number[] = [];
  const after: number[] = [];
  let samples: AttentionSample[] = [];
  try {
    for (const g of groups) streams.push(model.embedSequences(g));
    for (let l = 0; l < numLayers; ++l) {
      // layer l's q/k/v, one sample per sequence in order; the stream moves on to layer l+1's input
      const hooks: ModelHooks = {
        onAttentionInputs(layer, q, k, v) {
          if (layer === l) samples.push({ q: q.clone(), k: k.clone(), v: v.clone() });
        },
      };
      groups.forEach((g, i) => model.runLayer(l, streams[i], g.map((s) => s.length), { hooks }));
      if (samples.length !== sequences.length)
        throw ntError('NT_VALUE', `[${op}] model.runLayer(${l}) gave the q/k/v of ${samples.length} sequence(s) to hooks.onAttentionInputs, expected ${sequences.length}`);
      const train = samples.slice(0, samples.length - nHeld);
      const held = samples.slice(samples.length - nHeld);
      const layer = HybridLayer.init(numHeads, headDim, { window, features });
      layers.push(layer);
      const targets = softmaxTargets(held);
      try {
        before.push(transferLoss(layer, held, targets));
        history.push(trainLayer(layer, train, { steps, lr, onStep: (s, loss) => opts.onStep?.(l, s, loss) }));
        after.push(transferLoss(layer, held, targets));
      } finally {
        for (const t of targets) t.dispose();
      }
      disposeSamples(samples);
      samples = [];
    }
  } catch (e) {
    for (const layer of layers) layer.dispose();
    throw e;
  } finally {
    disposeSamples(samples);
    for (const x of streams) x.dispose();
  }
  return {
    layers,
    history,
    heldOut: { before, after },
    trainSequences: sequences.length - nHeld,
    heldOutSequences: nHeld,
    dispose: () => layers.forEach((layer) => layer.dispose()),
  };
}

/** Model hooks that replace every layer's softmax attention by its hybrid attention. */
export function hybridHooks(layers: readonly HybridLayer[]): ModelHooks {
  return {
    attention(l, q, k, v) {
      const layer = layers[l];
      if (!layer) throw ntError('NT_VALUE', `[llm.lolcats.hybridHooks] no hybrid layer for layer ${l} (have ${layers.length})`);
      return layer.attend(q, k, v);
    },
  };
}

/**
 * Perplexity with the same windows as model.perplexity (window w predicts ids[s+1 .. s+w]
 * from ids[s .. s+w-1], each window from an empty context), running forward with `hooks`.
 */
export function perplexity(
  model: Pick<LlamaModel, 'perplexity'>,
  ids: Int32Array,
  opts: { window?: number; hooks?: ModelHooks; onProgress?(done: number, total: number): void } = {},
): PerplexityResult {
  return model.perplexity(ids, { window: opts.window, hooks: opts.hooks, onProgress: opts.onProgress });
}

const FORMAT = 'ntensor-lolcats-v1';

/**
 * Saves the maps as safetensors: model.layers.{l}.self_attn.feature_map_q.weight /
 * feature_map_k.weight [heads, headDim, f] and .window_factor (p, γ = sigmoid(p)) [heads],
 * with { format, window, layers } metadata.
 */
export function saveMaps(path: string, layers: readonly HybridLayer[]): void {
  const tensors: Record<string, Tensor> = {};
  layers.forEach((layer, l) => {
    const p = `model.layers.${l}.self_attn.`;
    tensors[`${p}feature_map_q.weight`] = layer.weightQ;
    tensors[`${p}feature_map_k.weight`] = layer.weightK;
    tensors[`${p}window_factor`] = layer.p;
  });
  saveSafetensors(path, tensors, { format: FORMAT, window: String(layers[0]?.window ?? 0), layers: String(layers.length) });
}

/** Loads what saveMaps wrote. */
export function loadMaps(path: string): HybridLayer[] {
  const op = 'llm.lolcats.loadMaps';
  const meta = safetensorsInfo(path).metadata;
  if (meta.format !== FORMAT) throw ntError('NT_IO', `[${op}] ${path} is not a LoLCATs maps file (metadata format = ${String(meta.format)})`);
  const all = loadSafetensors(path, { dtype: 'f32' });
  const layers: HybridLayer[] = [];
  try {
    const windowText = meta.window;
    for (let l = 0; ; ++l) {
      const p = `model.layers.${l}.self_attn.`;
      const wq = all[`${p}feature_map_q.weight`];
      if (!wq) break;
      const wk = all[`${p}feature_map_k.weight`];
      const pt = all[`${p}window_factor`];
      if (!wk || !pt) throw ntError('NT_IO', `[${op}] ${path}: layer ${l} lacks feature_map_k.weight or window_factor`);
      layers.push(new HybridLayer(wq, wk, pt, Number(windowText ?? 64)));
    }
    if (layers.length === 0) throw ntError('NT_IO', `[${op}] ${path} holds no LoLCATs feature maps`);
  } catch (e) {
    for (const t of Object.values(all)) if (t instanceof Tensor && !t.isDisposed) t.dispose();
    throw e;
  }
  return layers;
}
