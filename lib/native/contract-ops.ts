import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the ops area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface OpsFunctions {}

/**
 * Native ops of the ops area (the addon also exports an Async twin of each). Tensors are
 * (storage, meta) pairs; every op writes into the `out` tensor it is given.
 */
export interface OpsOps {
  /** out = a + b; a, b, out share one shape (broadcast operands come as stride-0 views). */
  add(a: Storage, am: Meta, b: Storage, bm: Meta, out: Storage, om: Meta): void;
  sub(a: Storage, am: Meta, b: Storage, bm: Meta, out: Storage, om: Meta): void;
  mul(a: Storage, am: Meta, b: Storage, bm: Meta, out: Storage, om: Meta): void;
  div(a: Storage, am: Meta, b: Storage, bm: Meta, out: Storage, om: Meta): void;
  exp(x: Storage, xm: Meta, out: Storage, om: Meta): void;
  log(x: Storage, xm: Meta, out: Storage, om: Meta): void;
  sqrt(x: Storage, xm: Meta, out: Storage, om: Meta): void;
  silu(x: Storage, xm: Meta, out: Storage, om: Meta): void;
  /** tanh: the tanh approximation instead of the exact erf form. */
  gelu(x: Storage, xm: Meta, out: Storage, om: Meta, tanh: boolean): void;
  /** axis >= 0, or null/undefined for every element (out holds one element). */
  sum(x: Storage, xm: Meta, out: Storage, om: Meta, axis: number | null): void;
  mean(x: Storage, xm: Meta, out: Storage, om: Meta, axis: number | null): void;
  max(x: Storage, xm: Meta, out: Storage, om: Meta, axis: number | null): void;
  min(x: Storage, xm: Meta, out: Storage, om: Meta, axis: number | null): void;
  /** out is i32. */
  argmax(x: Storage, xm: Meta, out: Storage, om: Meta, axis: number | null): void;
  /** ord: 1, 2 or Infinity. */
  norm(x: Storage, xm: Meta, out: Storage, om: Meta, axis: number | null, ord: number): void;
  /** axis >= 0. */
  softmax(x: Storage, xm: Meta, out: Storage, om: Meta, axis: number): void;
  /** Over the last axis; weight 1-D of the last extent, x's dtype. */
  rmsnorm(x: Storage, xm: Meta, w: Storage, wm: Meta, out: Storage, om: Meta, eps: number): void;
}

export const OPS_FUNCTIONS: Record<keyof OpsFunctions, true> = {};
export const OPS_OPS: Record<keyof OpsOps, true> = {
  add: true,
  sub: true,
  mul: true,
  div: true,
  exp: true,
  log: true,
  sqrt: true,
  silu: true,
  gelu: true,
  sum: true,
  mean: true,
  max: true,
  min: true,
  argmax: true,
  norm: true,
  softmax: true,
  rmsnorm: true,
};
