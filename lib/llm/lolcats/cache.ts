// Decoding with hybrid attention: a KVCacheLike for model.forward whose per-layer state is
// HybridAttentionState — the linear state S, z over keys that left the window plus the
// window's raw k/v — so memory stays O(window + features · headDim) per head however long
// the sequence, and every decoded token gets exactly the prefill's hybrid attention.
import { HybridAttentionState } from '../../attention';
import { ntError } from '../../errors';
import { Tensor } from '../../tensor';
import type { KVCacheLike } from '../../model';
import type { HybridLayer } from './layer';

export class HybridCache implements KVCacheLike {
  private readonly states: HybridAttentionState[];
  private readonly pending: ([Tensor, Tensor] | null)[];
  private readonly lengths: number[];

  constructor(layers: readonly HybridLayer[]) {
    if (layers.length === 0) throw ntError('NT_VALUE', '[llm.lolcats.HybridCache] needs at least one layer');
    this.states = layers.map(
      (l) =>
        new HybridAttentionState({
          window: l.window,
          featureMap: { q: { kind: 'hedgehog', weight: l.weightQ }, k: { kind: 'hedgehog', weight: l.weightK } },
          gamma: l.gamma(),
        }),
    );
    this.pending = layers.map(() => null);
    this.lengths = layers.map(() => 0);
  }

  get length(): number {
    return Math.min(...this.lengths);
  }

  private checkLayer(op: string, layer: number): void {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.states.length)
      throw ntError('NT_VALUE', `[llm.lolcats.HybridCache.${op}] layer must be an integer in [0, ${this.states.length}), got ${layer}`);
  }

  /** Keeps copies of k, v until attend() consumes them with the queries of the same tokens. */
  append(layer: number, k: Tensor, v: Tensor): void {
    this.checkLayer('append', layer);
    if (this.pending[layer]) throw ntError('NT_VALUE', `[llm.lolcats.HybridCache.append] layer ${layer} already has keys waiting for attend()`);
    this.pending[layer] = [k.clone(), v.clone()];
  }

  attend(layer: number, q: Tensor): Tensor {
    this.checkLayer('attend', layer);
    const kv = this.pending[layer];
    if (!kv) throw ntError('NT_VALUE', `[llm.lolcats.HybridCache.attend] layer ${layer}: append the new tokens' k and v first`);
    this.pending[layer] = null;
    try {
      if (q.ndim !== 4 || q.shape[2] !== kv[0].shape[2])
        throw ntError('NT_SHAPE', `[llm.lolcats.HybridCache.attend] q must hold the ${kv[0].shape[2]} appended tokens`);
      const out = this.states[layer].step(q, kv[0], kv[1]);
      this.lengths[layer] += q.shape[2];
      return out;
    } finally {
      kv[0].dispose();
      kv[1].dispose();
    }
  }

  dispose(): void {
    for (const s of this.states) s.dispose();
    for (const kv of this.pending) kv?.forEach((t) => t.dispose());
    this.pending.fill(null);
  }
}
