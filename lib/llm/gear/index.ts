// nt.llm.gear: GEAR KV-cache compression (docs/ALGORITHMS.md §3): compress a K or V tensor into
// 2/4-bit codes + a low-rank residual + exact outliers, and a streaming compressed cache that the
// model runner decodes with (model.forward(ids, { cache: new nt.llm.gear.Cache(model.config) })).
export { compress, compressAsync, GearTensor, resolveGearOptions, GEAR_PRESETS } from './compress';
export type { GearOptions, GearPreset, ResolvedGearOptions, GearBytes, GearBudget } from './compress';
export { Cache } from './cache';
export type { GearCacheConfig, GearCacheOptions, GearCacheBytes } from './cache';
export type { GearKind, GearLayout, GearStorage, GearParams, GearParts } from './kernels';
