import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the gear area: GEAR KV-cache compression and attention over the compressed cache. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface GearFunctions {}

/**
 * A compressed block crosses as its seven parts, each (storage, meta): codes u8 [B, H, bytes],
 * scales and mins f16|f32 [B, H, groups], q [B, H, n, r], p [B, H, d, r], outlier values
 * f16|f32 [B, H, nvec, 2k], outlier indices i32 [B, H, nvec, 2k] (native/kvcache/gear.h).
 */
export type NativeGearBlock = [
  Storage, Meta, Storage, Meta, Storage, Meta, Storage, Meta, Storage, Meta, Storage, Meta, Storage, Meta,
];
/** kind (0 key, 1 value), layout (0 kivi, 1 uniform), bits, group, rank, outliers per side. */
export type NativeGearParams = [number, number, number, number, number, number];

/** Native ops of the gear area (the addon also exports an Async twin of each). */
export interface GearOps {
  /** x [B, H, n, d] (any float dtype/strides) -> the block; slice s's start is keyed by (seed, sliceBase + s). */
  gearCompress(
    x: Storage,
    xm: Meta,
    ...rest: [...NativeGearBlock, ...NativeGearParams, number, number, number, number]
  ): void;
  /** The first B slices of the block -> out f32 [B, H, n, d] contiguous. */
  gearDecompress(...args: [...NativeGearBlock, ...NativeGearParams, Storage, Meta]): void;
  /**
   * The outlier corrections (stored value - (D̂ + L)) of the first B slices of the block, for
   * decode: out f32 [B, H, nvec·2k]; n tokens x d channels per slice.
   */
  gearOutlierDeltas(...args: [...NativeGearBlock, ...NativeGearParams, number, number, Storage, Meta]): void;
  /**
   * q [1, hq, sq, d] -> out f32 [1, hq, sq, d]: causal attention over `chunks` compressed chunks of
   * chunkTokens tokens followed by bufLen tokens of the f32 buffers [hkv, capacity, d]; the key
   * and value outlier corrections (gearOutlierDeltas of every chunk) come after the value params.
   */
  gearAttend(
    q: Storage,
    qm: Meta,
    out: Storage,
    om: Meta,
    ...rest: [
      ...NativeGearBlock,
      ...NativeGearParams,
      ...NativeGearBlock,
      ...NativeGearParams,
      Storage,
      Meta,
      Storage,
      Meta,
      Storage,
      Meta,
      Storage,
      Meta,
      number,
      number,
      number,
      number,
    ]
  ): void;
}

export const GEAR_FUNCTIONS: Record<keyof GearFunctions, true> = {};
export const GEAR_OPS: Record<keyof GearOps, true> = { gearCompress: true, gearDecompress: true, gearOutlierDeltas: true, gearAttend: true };
