// nt.llm.covariance: streaming second moments of a layer's inputs for GPTQ, SparseGPT, Wanda,
// act-s and EoRA (ALGORITHMS.md §1–2). Feed calibration activations batch by batch with
// update(x); the accumulator keeps only f64 sums (XᵀX, Σx², Σ|x|) and the token count, never
// the activations.
//
// The covariance is the plain mean C = XᵀX / n over every token seen. (The published EoRA code
// keeps a decaying running sum, which weights late batches more; the scale would cancel but the
// weighting does not, and the method's math assumes the plain mean.) Feeding the tokens in any
// batching gives the same sums up to rounding.
import { ntError } from '../errors';
import { checkOptions, describe } from '../ops/common';
import { div, divAsync, mul, sqrt } from '../ops';
import { accumulateCovariance, accumulateCovarianceAsync, symmetrizeCovariance, symmetrizeCovarianceAsync, type CovarianceState } from '../quant/calibration';
import { Tensor } from '../tensor';

const OP = 'llm.covariance';

export interface CovarianceOptions {
  /**
   * Keep XᵀX (default true). false keeps only the column statistics (inputNorms, meanAbs) — all
   * Wanda and act-s need — without the dim × dim f64 matrix; mean() and hessian() then throw.
   */
  gram?: boolean;
}

export class CovarianceAccumulator {
  /** Features per token (the last axis of every update). */
  readonly dim: number;
  private state: CovarianceState;
  private tokens = 0;
  /** Whether gram's upper triangle is up to date with its lower one. */
  private symmetric = true;
  private disposed = false;
  private inFlight = 0;
  private tail: Promise<unknown> = Promise.resolve();

  /** @internal use nt.llm.covariance(dim, opts). */
  constructor(dim: number, keepGram: boolean) {
    this.dim = dim;
    const made: Tensor[] = [];
    try {
      made.push(Tensor._empty(OP, [dim], 'f64'), Tensor._empty(OP, [dim], 'f64'));
      if (keepGram) made.push(Tensor._empty(OP, [dim, dim], 'f64'));
    } catch (e) {
      for (const t of made) t.dispose();
      throw e;
    }
    // updates fill the lower triangle; it is mirrored once, when XᵀX is read
    this.state = { sumSq: made[0], sumAbs: made[1], gram: made[2] ?? null, lowerOnly: true };
  }

  /** Tokens (rows of x) accumulated so far. */
  get count(): number {
    return this.tokens;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Whether XᵀX is kept (mean() and hessian() available). */
  get hasGram(): boolean {
    return this.state.gram !== null;
  }

  private check(op: string): void {
    if (this.disposed) throw ntError('NT_DISPOSED', `[${op}] the covariance accumulator was disposed`);
    if (this.inFlight > 0) throw ntError('NT_VALUE', `[${op}] an updateAsync is still running; await it first`);
  }

  /**
   * Adds the tokens of x [..., dim] (any float dtype, any strides; every row is one token).
   * An empty x is a no-op. NaN/Inf: NT_VALUE, and the accumulator is unchanged.
   */
  update(x: Tensor): this {
    this.check(`${OP}.update`);
    this.symmetric = false;
    this.tokens += accumulateCovariance(x, this.state, `${OP}.update`);
    return this;
  }

  /** update on a worker thread. Concurrent calls run one after another in call order. */
  updateAsync(x: Tensor): Promise<this> {
    const op = `${OP}.updateAsync`;
    if (this.disposed) return Promise.reject(ntError('NT_DISPOSED', `[${op}] the covariance accumulator was disposed`));
    this.inFlight++;
    const run = async (): Promise<this> => {
      try {
        if (this.disposed) throw ntError('NT_DISPOSED', `[${op}] the covariance accumulator was disposed`);
        this.symmetric = false;
        this.tokens += await accumulateCovarianceAsync(x, this.state, op);
        return this;
      } finally {
        this.inFlight--;
      }
    };
    const job = this.tail.then(run, run);
    this.tail = job.catch(() => undefined);
    return job;
  }

  private gram(op: string): Tensor {
    this.check(op);
    if (this.state.gram === null) throw ntError('NT_VALUE', `[${op}] this accumulator was created with { gram: false }`);
    if (this.tokens === 0) throw ntError('NT_VALUE', `[${op}] no tokens accumulated yet`);
    if (!this.symmetric) symmetrizeCovariance(this.state, op);
    this.symmetric = true;
    return this.state.gram;
  }

  /** gram(op) with the mirror on a worker thread, queued behind pending updates like one. */
  private async gramAsync(op: string): Promise<Tensor> {
    const run = async (): Promise<void> => {
      if (this.disposed || this.state.gram === null || this.tokens === 0 || this.symmetric) return;
      await symmetrizeCovarianceAsync(this.state, op);
      this.symmetric = true;
    };
    const job = this.tail.then(run, run);
    this.tail = job.catch(() => undefined);
    await job;
    return this.gram(op);
  }

  /** C = XᵀX / n, f64 [dim, dim], exactly symmetric (a new tensor). */
  mean(): Tensor {
    return div(this.gram(`${OP}.mean`), this.tokens);
  }

  /** mean() with the dim² division on a worker thread (awaits any pending updateAsync first). */
  async meanAsync(): Promise<Tensor> {
    return divAsync(await this.gramAsync(`${OP}.meanAsync`), this.tokens);
  }

  /** H = 2XᵀX / n, f32 [dim, dim] (a new tensor): the Hessian GPTQ and SparseGPT take. */
  hessian(): Tensor {
    const m = div(this.gram(`${OP}.hessian`), this.tokens / 2);
    try {
      return m.astype('f32');
    } finally {
      m.dispose();
    }
  }

  /** hessian() with the division on a worker thread (the f64 → f32 copy stays on this one). */
  async hessianAsync(): Promise<Tensor> {
    const m = await divAsync(await this.gramAsync(`${OP}.hessianAsync`), this.tokens / 2);
    try {
      return m.astype('f32');
    } finally {
      m.dispose();
    }
  }

  /** ‖X_j‖₂ = sqrt(Σ_t x_tj²) per input column, f32 [dim] (Wanda's input norms; zeros before any token). */
  inputNorms(): Tensor {
    this.check(`${OP}.inputNorms`);
    const s = sqrt(this.state.sumSq);
    try {
      return s.astype('f32');
    } finally {
      s.dispose();
    }
  }

  /** mean_t |x_tj| per input column, f32 [dim] (act-s scales). */
  meanAbs(): Tensor {
    const op = `${OP}.meanAbs`;
    this.check(op);
    if (this.tokens === 0) throw ntError('NT_VALUE', `[${op}] no tokens accumulated yet`);
    const m = mul(this.state.sumAbs, 1 / this.tokens);
    try {
      return m.astype('f32');
    } finally {
      m.dispose();
    }
  }

  /** Frees the sums; later calls throw NT_DISPOSED. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.state.gram?.dispose();
    this.state.sumSq.dispose();
    this.state.sumAbs.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `CovarianceAccumulator(dim=${this.dim}, count=${this.tokens}${this.hasGram ? '' : ', no gram'}${this.disposed ? ', disposed' : ''})`;
  }
}

/** A streaming accumulator of XᵀX, Σx² and Σ|x| for inputs of `dim` features. */
export function covariance(dim: number, opts?: CovarianceOptions): CovarianceAccumulator {
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1)
    throw ntError('NT_VALUE', `[${OP}] dim must be a positive integer, got ${describe(dim)}`);
  const o = checkOptions<CovarianceOptions>(OP, opts);
  const gram = o.gram ?? true;
  if (typeof gram !== 'boolean') throw ntError('NT_VALUE', `[${OP}] gram must be a boolean, got ${describe(gram)}`);
  return new CovarianceAccumulator(dim, gram);
}
