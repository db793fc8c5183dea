import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the optim area: optimizer steps (Adam, 8-bit Adam, GaLore, GradNormLoRP). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface OptimFunctions {}

/**
 * Native ops of the optim area (the addon also exports an Async twin of each). Every tensor is a
 * contiguous f32 (codes: u8) (storage, meta) pair updated in place; see native/optim/optim.h.
 * step is t >= 1; direction: write the Adam direction into target instead of updating it.
 */
export interface OptimOps {
  optimAdamStep(
    target: Storage, tm: Meta, g: Storage, gm: Meta, m: Storage, mm: Meta, v: Storage, vm: Meta,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, direction: boolean,
  ): void;
  optimAdam8bitStep(
    target: Storage, tm: Meta, g: Storage, gm: Meta,
    mCodes: Storage, mcm: Meta, mAbsmax: Storage, mam: Meta, vCodes: Storage, vcm: Meta, vAbsmax: Storage, vam: Meta,
    block: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, direction: boolean,
  ): void;
  /** Block-wise dynamic quantization: codes u8 [n], absmax f32 [ceil(n / block)]. */
  optimQuantize(x: Storage, xm: Meta, codes: Storage, cm: Meta, absmax: Storage, am: Meta, block: number, signed: boolean): void;
  optimDequantize(codes: Storage, cm: Meta, absmax: Storage, am: Meta, x: Storage, xm: Meta, block: number, signed: boolean): void;
  /** The 256 sorted values of the signed / unsigned dynamic map. */
  optimDynamicCode(out: Storage, om: Meta, signed: boolean): void;
  /** s = g = sqrt(sum_row W^2 + eps). */
  optimWeightNormInit(w: Storage, wm: Meta, g: Storage, gm: Meta, s: Storage, sm: Meta, eps: number): void;
  /** dv = (g/s)(G - (V̂·G) V̂), dg = V̂·G per row, V̂ = W / g. */
  optimWeightNormGrad(
    w: Storage, wm: Meta, g: Storage, gm: Meta, s: Storage, sm: Meta,
    grad: Storage, gradm: Meta, dv: Storage, dvm: Meta, dg: Storage, dgm: Meta,
  ): void;
  /** V' = V(1 - lr wd) - lr scale uv, g' = g(1 - lr wd) - lr ug, s' = ||V'||, W = g' V' / s'. */
  optimWeightNormApply(
    w: Storage, wm: Meta, g: Storage, gm: Meta, s: Storage, sm: Meta, uv: Storage, uvm: Meta, ug: Storage, ugm: Meta,
    lr: number, scale: number, weightDecay: number, eps: number,
  ): void;
  /** p = p(1 - lr wd) - lr scale u. */
  optimScaledUpdate(p: Storage, pm: Meta, u: Storage, um: Meta, lr: number, scale: number, weightDecay: number): void;
}

export const OPTIM_FUNCTIONS: Record<keyof OptimFunctions, true> = {};
export const OPTIM_OPS: Record<keyof OptimOps, true> = {
  optimAdamStep: true,
  optimAdam8bitStep: true,
  optimQuantize: true,
  optimDequantize: true,
  optimDynamicCode: true,
  optimWeightNormInit: true,
  optimWeightNormGrad: true,
  optimWeightNormApply: true,
  optimScaledUpdate: true,
};
