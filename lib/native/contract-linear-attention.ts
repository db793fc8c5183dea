import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the linear-attention area: linear and hybrid (LoLCATs) attention, feature maps and their backward passes. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface LinearAttentionFunctions {}

type S = Storage | null;
type M = Meta | null;

/**
 * Native ops of the linear-attention area (the addon also exports an Async twin of each).
 * Views are f32 or f64 (computed in float64); absent optional tensors are (null, null).
 * Shapes: x/q [B, Hq, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv], phiQ [B, Hq, Nq, F],
 * phiK [B, Hq, Nk, F], gamma [Hq]; see native/attention/linear_attention.h for the formula.
 */
export interface LinearAttentionOps {
  /** out [B, Hout, N, F] = φ(x) per head; kind 0 hedgehog (weight [Hout, D, f], F = 2f), 1 identity, 2 relu, 3 elu+1. */
  featureMap(x: Storage, xm: Meta, weight: S, wm: M, out: Storage, om: Meta, kind: number): void;
  /** dx [B, Hx, N, D] and dweight [Hout, D, f] (hedgehog) from grad [B, Hout, N, F]; both overwritten. */
  featureMapBackward(x: Storage, xm: Meta, weight: S, wm: M, grad: Storage, gm: Meta, dx: Storage, dxm: Meta, dweight: S, dwm: M, kind: number): void;
  /** Causal linear (window 0) or hybrid (window > 0: needs q, k, gamma) attention into out [B, Hq, Nq, Dv]. */
  linearAttention(
    q: S, qm: M, k: S, km: M, v: Storage, vm: Meta, phiQ: Storage, pqm: Meta, phiK: Storage, pkm: Meta, gamma: S, gm: M,
    out: Storage, om: Meta, window: number, eps: number, scale: number,
  ): void;
  /** Gradients of Σ grad ⊙ out (all overwritten); dq, dk, dgamma only with window > 0. */
  linearAttentionBackward(
    q: S, qm: M, k: S, km: M, v: Storage, vm: Meta, phiQ: Storage, pqm: Meta, phiK: Storage, pkm: Meta, gamma: S, gm: M,
    grad: Storage, gradm: Meta, dq: S, dqm: M, dk: S, dkm: M, dv: Storage, dvm: Meta, dphiQ: Storage, dpqm: Meta,
    dphiK: Storage, dpkm: Meta, dgamma: S, dgm: M, window: number, eps: number, scale: number,
  ): void;
  /** Recurrent decode of T new tokens after `position`, updating the f64 state (s, z, rings) in place. */
  linearAttentionStep(
    q: S, qm: M, k: S, km: M, v: Storage, vm: Meta, phiQ: Storage, pqm: Meta, phiK: Storage, pkm: Meta, gamma: S, gm: M,
    s: Storage, sm: Meta, z: Storage, zm: Meta, ringK: S, rkm: M, ringV: S, rvm: M, ringPhiK: S, rpm: M, position: number,
    out: Storage, om: Meta, window: number, eps: number, scale: number,
  ): void;
}

export const LINEAR_ATTENTION_FUNCTIONS: Record<keyof LinearAttentionFunctions, true> = {};
export const LINEAR_ATTENTION_OPS: Record<keyof LinearAttentionOps, true> = {
  featureMap: true,
  featureMapBackward: true,
  linearAttention: true,
  linearAttentionBackward: true,
  linearAttentionStep: true,
};
