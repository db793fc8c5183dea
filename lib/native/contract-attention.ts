import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the attention area: softmax attention: dense, sliding-window, block-sparse/top-k and delta. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface AttentionFunctions {}

/**
 * Native ops of the attention area (the addon also exports an Async twin of each).
 * q [b, hq, sq, d], k [b, hkv, sk, d], v [b, hkv, sk, dv] (any float dtype, any strides),
 * out f32 [b, hq, sq, dv]; see native/attention/attention.h for the masks.
 */
export interface AttentionOps {
  /** Dense (window 0, blocks null) / sliding-window (window > 0) / block-sparse (blocks u8 [b, hq, nb, nb]) softmax attention. */
  attention(
    q: Storage, qm: Meta, k: Storage, km: Meta, v: Storage, vm: Meta, out: Storage, om: Meta,
    causal: boolean, scale: number, window: number, blocks: Storage | null, bm: Meta | null, blockSize: number,
  ): void;
  /** Top-k block selection: blocks u8 [b, hq, nb, nb] (overwritten) keeps, per query block, the diagonal block and the topk best-scoring earlier (causal) or any (not causal) key blocks by mean-pooled q . mean-pooled k. */
  attentionTopkBlocks(
    q: Storage, qm: Meta, k: Storage, km: Meta, blocks: Storage, bm: Meta, blockSize: number, topk: number, causal: boolean,
  ): void;
  /**
   * Delta attention (causal) over the state tensors (f32, contiguous, updated in place): qhat [b, hq, d],
   * scores [b, hq, cap], kt [b, hkv, d, cap], info f64 [4] = [seen keys, first position or -1, done MACs, dense MACs]
   * (the last two are overwritten with this call's counts).
   */
  attentionDelta(
    q: Storage, qm: Meta, k: Storage, km: Meta, v: Storage, vm: Meta, out: Storage, om: Meta,
    qhat: Storage, qhm: Meta, scores: Storage, sm: Meta, kt: Storage, ktm: Meta, info: Storage, im: Meta,
    scale: number, window: number, threshold: number,
  ): void;
}

export const ATTENTION_FUNCTIONS: Record<keyof AttentionFunctions, true> = {};
export const ATTENTION_OPS: Record<keyof AttentionOps, true> = { attention: true, attentionTopkBlocks: true, attentionDelta: true };
