// nt.attention.dense: softmax(scale q kᵀ + causal mask) v with GQA, flash-attention tiling natively
// (online softmax over key blocks, never a seq x seq matrix; split-K over the cache for decode).
import { native } from '../native/loader';
import { checkOptions, runAsync, runSync } from '../ops/common';
import type { OutputPlan } from '../ops/common';
import type { Tensor } from '../tensor';
import { AttentionOperands, boolOption, checkQkv, planAttentionOutput, scaleOption } from './common';

export interface DenseOptions {
  /** Mask keys after each query's position (bottom-right aligned: query i sits at sk - sq + i). Default true. */
  causal?: boolean;
  /** Score scale (default 1/√d). */
  scale?: number;
  /** Write the result (f32 [b, hq, sq, dv]) here; validated before anything is written. */
  out?: Tensor;
}

const OP = 'attention.dense';

interface DenseCall {
  a: AttentionOperands;
  causal: boolean;
  scale: number;
  plan: OutputPlan;
}

function prepare(q: Tensor, k: Tensor, v: Tensor, options: DenseOptions | undefined): DenseCall {
  const opts = checkOptions<DenseOptions>(OP, options);
  const causal = boolOption(OP, opts.causal, 'causal', true);
  const a = checkQkv(OP, q, k, v, causal);
  const scale = scaleOption(OP, opts.scale, a.d);
  return { a, causal, scale, plan: planAttentionOutput(OP, opts.out, a) };
}

/**
 * Softmax attention. q [b, hq, sq, d], k [b, hkv, sk, d], v [b, hkv, sk, dv] with hkv dividing hq
 * (grouped-query attention: query head h reads kv head ⌊h / (hq / hkv)⌋). Any float dtype (f16/bf16
 * are widened; computed in f32) and any strided view (e.g. a cache buffer sliced to its length).
 * Causal alignment is bottom-right: query i sees keys 0 … sk − sq + i, so decode is sq = 1 against
 * the whole cache. Returns f32 [b, hq, sq, dv].
 */
export function dense(q: Tensor, k: Tensor, v: Tensor, opts?: DenseOptions): Tensor {
  const c = prepare(q, k, v, opts);
  const { a } = c;
  return runSync(c.plan, (t) =>
    native.attention(a.q._storage, a.q._metaArray, a.k._storage, a.k._metaArray, a.v._storage, a.v._metaArray, t._storage, t._metaArray, c.causal, c.scale, 0, null, null, 0),
  );
}

export async function denseAsync(q: Tensor, k: Tensor, v: Tensor, opts?: DenseOptions): Promise<Tensor> {
  const c = prepare(q, k, v, opts);
  const { a } = c;
  return runAsync(c.plan, [a.q, a.k, a.v], (t) =>
    native.attentionAsync(a.q._storage, a.q._metaArray, a.k._storage, a.k._metaArray, a.v._storage, a.v._metaArray, t._storage, t._metaArray, c.causal, c.scale, 0, null, null, 0),
  );
}
