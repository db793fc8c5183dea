// The shared shell of every optimizer in nt.llm.optim: option checks, parameter and gradient
// validation (all before any state is touched), the NaN/Inf gradient refusal, strided gradient
// handling, step counting and disposal. Subclasses implement updateParam for one tensor.
import { ntError } from '../../errors';
import { checkOptions, checkTensor, describe } from '../../ops/common';
import { norm } from '../../ops/reduce';
import { shapeString } from '../../shape';
import type { Tensor } from '../../tensor';

export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** [beta1, beta2], each in [0, 1) (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to sqrt(v̂) (default 1e-8). */
  eps?: number;
  /** Decoupled (AdamW) weight decay: p <- p (1 - lr wd) before the Adam update (default 0). */
  weightDecay?: number;
}

export interface ResolvedAdam {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export function numberOption(op: string, name: string, v: unknown, fallback: number, ok: (x: number) => boolean, range: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
    throw ntError('NT_VALUE', `[${op}] ${name} must be a finite number ${range}, got ${describe(v)}`);
  return v;
}

export function intOpt(op: string, name: string, v: unknown, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw ntError('NT_VALUE', `[${op}] ${name} must be an integer >= ${min}, got ${describe(v)}`);
  return v;
}

export function boolOpt(op: string, name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw ntError('NT_VALUE', `[${op}] ${name} must be a boolean, got ${describe(v)}`);
  return v;
}

export function resolveAdam(op: string, o: AdamOptions, defaultEps: number): ResolvedAdam {
  const lr = numberOption(op, 'lr', o.lr, 1e-3, (x) => x >= 0, '>= 0');
  const betas = o.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2 || betas.some((b) => typeof b !== 'number' || !(b >= 0 && b < 1)))
    throw ntError('NT_VALUE', `[${op}] betas must be two numbers in [0, 1), got ${describe(o.betas)}`);
  const eps = numberOption(op, 'eps', o.eps, defaultEps, (x) => x > 0, '> 0');
  const weightDecay = numberOption(op, 'weightDecay', o.weightDecay, 0, (x) => x >= 0, '>= 0');
  return { lr, beta1: betas[0], beta2: betas[1], eps, weightDecay };
}

/** Bytes of a tensor's elements (the optimizer's own state tensors are contiguous). */
export function tensorBytes(t: Tensor): number {
  return t.size * (t.dtype === 'u8' || t.dtype === 'i8' ? 1 : t.dtype === 'f64' ? 8 : t.dtype === 'f16' || t.dtype === 'bf16' ? 2 : 4);
}

export abstract class Optimizer {
  /** The parameters, updated in place by step(). */
  readonly params: readonly Tensor[];
  /** Steps taken so far (bias corrections use t = steps + 1 during a step). */
  protected steps = 0;
  protected disposed = false;
  protected readonly op: string;
  readonly hyper: ResolvedAdam;

  protected constructor(op: string, params: unknown, options: unknown, defaultEps: number) {
    this.op = op;
    const o = checkOptions<AdamOptions>(op, options);
    if (!Array.isArray(params) || params.length === 0)
      throw ntError('NT_VALUE', `[${op}] params must be a non-empty array of tensors, got ${describe(params)}`);
    params.forEach((p, i) => {
      const t = checkTensor(op, p, `params[${i}]`);
      if (t.dtype !== 'f32') throw ntError('NT_DTYPE', `[${op}] params[${i}] must be f32, got ${t.dtype}`);
      if (!t.isContiguous) throw ntError('NT_VALUE', `[${op}] params[${i}] must be contiguous (it is updated in place), got a strided view ${shapeString(t.shape)}`);
    });
    if (new Set(params).size !== params.length) throw ntError('NT_VALUE', `[${op}] params must not repeat a tensor`);
    this.params = Object.freeze(params.slice() as Tensor[]);
    this.hyper = resolveAdam(op, o, defaultEps);
  }

  /** Number of steps taken. */
  get stepCount(): number {
    return this.steps;
  }

  /**
   * One optimizer step: grads[i] is dL/dparams[i] (f32, the param's shape; strided views are
   * copied). Every gradient is validated and checked for NaN/Inf before any parameter or state
   * is written: a bad gradient throws (NT_VALUE for non-finite values) and changes nothing.
   */
  step(grads: readonly Tensor[]): void {
    const op = this.op;
    if (this.disposed) throw ntError('NT_DISPOSED', `[${op}] the optimizer was disposed`);
    if (!Array.isArray(grads) || grads.length !== this.params.length)
      throw ntError('NT_VALUE', `[${op}] grads must be an array of ${this.params.length} tensors (one per param), got ${Array.isArray(grads) ? `${grads.length}` : describe(grads)}`);
    this.params.forEach((p, i) => {
      p._check(op, `params[${i}]`);
      const g = checkTensor(op, grads[i], `grads[${i}]`);
      if (g.dtype !== 'f32') throw ntError('NT_DTYPE', `[${op}] grads[${i}] must be f32 like its param, got ${g.dtype}`);
      if (g.shape.length !== p.shape.length || g.shape.some((d, k) => d !== p.shape[k]))
        throw ntError('NT_SHAPE', `[${op}] grads[${i}] must have the shape of params[${i}] ${shapeString(p.shape)}, got ${shapeString(g.shape)}`);
    });
    grads.forEach((g, i) => {
      if (g.size === 0) return;
      const amax = norm(g, { ord: Infinity });
      const v = amax.toArray() as number;
      amax.dispose();
      if (!Number.isFinite(v)) throw ntError('NT_VALUE', `[${op}] grads[${i}] contains NaN or Inf: no parameter was updated`);
    });
    const t = this.steps + 1;
    this.params.forEach((p, i) => {
      if (p.size === 0) return;
      const g = grads[i].isContiguous ? grads[i] : grads[i].contiguous();
      try {
        this.updateParam(i, p, g, t);
      } finally {
        if (g !== grads[i]) g.dispose();
      }
    });
    this.steps = t;
  }

  /**
   * Exact bytes of the optimizer state held now: moments, quantization codes and absmax scales,
   * projectors (allocated at the first step), weight-norm vectors. 0 after dispose().
   */
  abstract stateBytes(): number;

  /** @internal Throws NT_DISPOSED from the inspection methods of a disposed optimizer. */
  protected alive(what: string, i: number): void {
    if (this.disposed) throw ntError('NT_DISPOSED', `[${this.op}.${what}] the optimizer was disposed`);
    if (!Number.isInteger(i) || i < 0 || i >= this.params.length)
      throw ntError('NT_VALUE', `[${this.op}.${what}] parameter index must be an integer in [0, ${this.params.length - 1}], got ${describe(i)}`);
  }

  /** Frees the state; the optimizer cannot step afterwards. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.releaseState();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  protected abstract updateParam(index: number, param: Tensor, grad: Tensor, t: number): void;
  protected abstract releaseState(): void;
}
