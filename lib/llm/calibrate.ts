// Calibration capture: run a model over calibration tokens and stream the input covariance of
// its decoder linears, never storing activations. Linears fed the same tensor (q/k/v share the
// normed hidden state, gate/up share theirs) share one accumulator, updated once per forward.
import { ntError } from '../errors';
import type { LlamaModel } from '../model/model';
import type { Tensor } from '../tensor';
import { CovarianceAccumulator, covariance } from './covariance';

export interface CalibrateOptions {
  /** Tokens per forward window (default 256, at most max_position_embeddings). */
  window?: number;
  /** Capture only these linears (default: all decoder linears). */
  modules?: readonly string[];
  /** Windows per forward (default 8): the statistics are sums over tokens, so batching changes only the speed. */
  batchSize?: number;
  onProgress?(windowsDone: number, windowsTotal: number): void;
}

export interface Calibration {
  /** Linear name → its input statistics (shared inputs: the same object under several names). */
  readonly inputs: ReadonlyMap<string, CovarianceAccumulator>;
  /** Calibration tokens seen by every linear. */
  readonly tokens: number;
  dispose(): void;
}

const OP = 'llm.calibrate';

/**
 * Runs `model` over ids in non-overlapping windows (each an independent sequence, as
 * calibration sets are) and accumulates XᵀX, column norms and mean |x| of every linear's input.
 */
export function calibrate(model: LlamaModel, ids: Int32Array | readonly number[], opts: CalibrateOptions = {}): Calibration {
  const tokens = Int32Array.from(ids as ArrayLike<number>);
  const maxWindow = model.config.maxPositionEmbeddings;
  const window = opts.window ?? Math.min(256, maxWindow);
  if (!Number.isInteger(window) || window < 1 || window > maxWindow)
    throw ntError('NT_VALUE', `[${OP}] window must be an integer in [1, ${maxWindow}], got ${String(window)}`);
  if (tokens.length === 0) throw ntError('NT_VALUE', `[${OP}] no calibration tokens`);
  const batchSize = opts.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw ntError('NT_VALUE', `[${OP}] batchSize must be an integer >= 1, got ${String(opts.batchSize)}`);
  const all = model.linears();
  const wanted = new Set(opts.modules ?? all);
  for (const name of wanted) if (!all.includes(name)) throw ntError('NT_VALUE', `[${OP}] the model has no linear named '${name}'`);

  const inputs = new Map<string, CovarianceAccumulator>();
  const owned: CovarianceAccumulator[] = [];
  // within one forward: the tensor a linear received → the accumulator that already counted it
  let seen = new Map<Tensor, CovarianceAccumulator>();
  const hooks = {
    onLinearInput(name: string, x: Tensor): void {
      if (!wanted.has(name)) return;
      const shared = seen.get(x);
      if (shared) {
        if (!inputs.has(name)) inputs.set(name, shared);
        return;
      }
      let acc = inputs.get(name);
      if (!acc) {
        acc = covariance(x.shape[x.ndim - 1]);
        owned.push(acc);
        inputs.set(name, acc);
      }
      acc.update(x);
      seen.set(x, acc);
    },
  };
  // the forward can stop after the last layer whose inputs are wanted
  const layerOf = (name: string) => Number(/^model\.layers\.(\d+)\./.exec(name)?.[1] ?? model.config.numLayers - 1);
  const layers = Math.max(...[...wanted].map(layerOf)) + 1;
  const windows = Math.ceil(tokens.length / window);
  try {
    for (let w = 0; w < windows; ) {
      // full windows go batchSize at a time; a shorter last window runs alone (rows must match)
      const full = Math.floor(tokens.length / window);
      const count = w < full ? Math.min(batchSize, full - w) : 1;
      const rows = Array.from({ length: count }, (_, i) => tokens.subarray((w + i) * window, Math.min((w + i + 1) * window, tokens.length)));
      seen = new Map();
      model.hiddenBatch(rows, { hooks, layers }).dispose();
      w += count;
      opts.onProgress?.(w, windows);
    }
  } catch (e) {
    owned.forEach((a) => a.dispose());
    throw e;
  }
  seen = new Map();
  return {
    inputs,
    tokens: tokens.length,
    dispose() {
      owned.forEach((a) => a.dispose());
    },
  };
}
