// The negative log-likelihood behind every perplexity we report (model.perplexity, the GEAR and
// LoLCATs evaluations). No native code: the CLI imports it without loading the addon.
import type { Tensor } from '../tensor';

/**
 * Σ −log softmax(logits[r])[targets[r]] over the rows of logits [n, vocab] (f32), in float64
 * with the max subtracted: the negative log-likelihood behind every perplexity we report.
 */
export function sumNll(logits: Tensor, targets: ArrayLike<number>): number {
  const data = logits.data as Float32Array;
  const V = logits.shape[1];
  let nll = 0;
  for (let r = 0; r < logits.shape[0]; ++r) {
    const row = data.subarray(r * V, (r + 1) * V);
    let m = -Infinity;
    for (let j = 0; j < V; ++j) if (row[j] > m) m = row[j];
    let z = 0;
    for (let j = 0; j < V; ++j) z += Math.exp(row[j] - m);
    nll += m + Math.log(z) - row[targets[r]];
  }
  return nll;
}
