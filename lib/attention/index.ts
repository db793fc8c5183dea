// Attention kernels (nt.attention): q, k, v are [batch, heads, seq, dim]; kv heads may divide heads.
export { dense, denseAsync } from './dense';
export type { DenseOptions } from './dense';
export { slidingWindow, slidingWindowAsync } from './sliding';
export type { SlidingWindowOptions } from './sliding';
export { blockSparse, blockSparseAsync, topK, topKAsync, topKBlocks } from './block-sparse';
export type { BlockSparseOptions, TopKOptions } from './block-sparse';
export { delta, deltaAsync, DeltaState } from './delta';
export type { DeltaOptions, DeltaResult } from './delta';
export { featureMap, featureMapBackward, hedgehogInit } from './feature-map';
export type { FeatureMapSpec, FeatureMaps, HedgehogMap, FeatureMapOptions } from './feature-map';
export { linear, linearAsync, linearBackward, LinearAttentionState } from './linear';
export type { LinearOptions, RecurrentOptions, AttentionGrads } from './linear';
export { hybrid, hybridAsync, hybridBackward, HybridAttentionState, sigmoid, logit } from './hybrid';
export type { HybridOptions, HybridGrads, HybridStateOptions } from './hybrid';
