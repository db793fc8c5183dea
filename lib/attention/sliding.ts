// nt.attention.slidingWindow: each query sees only the last `window` keys up to its position
// (itself included); key blocks entirely outside every row's window are skipped natively, so
// the work is O(seq · window · d) instead of O(seq² · d).
import { native } from '../native/loader';
import { checkOptions, runAsync, runSync } from '../ops/common';
import type { OutputPlan } from '../ops/common';
import type { Tensor } from '../tensor';
import { AttentionOperands, boolOption, checkQkv, planAttentionOutput, positiveInt, scaleOption } from './common';

export interface SlidingWindowOptions {
  /** Keys per query, the query's own position included (integer ≥ 1). window ≥ sk equals dense. */
  window: number;
  /** Default true: query at position p sees keys p − window + 1 … p. false: |j − p| < window. */
  causal?: boolean;
  /** Score scale (default 1/√d). */
  scale?: number;
  out?: Tensor;
}

const OP = 'attention.slidingWindow';

interface SlidingCall {
  a: AttentionOperands;
  causal: boolean;
  scale: number;
  window: number;
  plan: OutputPlan;
}

function prepare(q: Tensor, k: Tensor, v: Tensor, options: SlidingWindowOptions | undefined): SlidingCall {
  const opts = checkOptions<SlidingWindowOptions>(OP, options);
  const window = positiveInt(OP, opts.window, 'window');
  const causal = boolOption(OP, opts.causal, 'causal', true);
  const a = checkQkv(OP, q, k, v, causal);
  const scale = scaleOption(OP, opts.scale, a.d);
  return { a, causal, scale, window, plan: planAttentionOutput(OP, opts.out, a) };
}

/** Sliding-window softmax attention (shapes, GQA, dtypes and alignment as nt.attention.dense). */
export function slidingWindow(q: Tensor, k: Tensor, v: Tensor, opts: SlidingWindowOptions): Tensor {
  const c = prepare(q, k, v, opts);
  const { a } = c;
  return runSync(c.plan, (t) =>
    native.attention(a.q._storage, a.q._metaArray, a.k._storage, a.k._metaArray, a.v._storage, a.v._metaArray, t._storage, t._metaArray, c.causal, c.scale, c.window, null, null, 0),
  );
}

export async function slidingWindowAsync(q: Tensor, k: Tensor, v: Tensor, opts: SlidingWindowOptions): Promise<Tensor> {
  const c = prepare(q, k, v, opts);
  const { a } = c;
  return runAsync(c.plan, [a.q, a.k, a.v], (t) =>
    native.attentionAsync(a.q._storage, a.q._metaArray, a.k._storage, a.k._metaArray, a.v._storage, a.v._metaArray, t._storage, t._metaArray, c.causal, c.scale, c.window, null, null, 0),
  );
}
