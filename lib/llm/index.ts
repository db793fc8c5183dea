// LLM compression and training methods (nt.llm): compositions of nt ops, never native calls.
export * from './covariance';
export * from './eora';
export * from './adapter';
export * from './calibrate';
export { compressModel, compressModelAsync } from './compress';
export type { CompressOptions, CompressProgress, CompressionReport, LayerReport, StageSeconds, CompressMode } from './compress';
export { compressCheckpoint, compressCheckpointAsync, mergeCompressedShards, hasUnfinishedRun } from './compress-checkpoint';
export type { CompressCheckpointOptions, CompressCheckpointResult, MergeOptions } from './compress-checkpoint';
export { saveCompressed, applyAdapter } from './export';
export type { SaveCompressedOptions, SavedCompressed } from './export';
export * from './mnn';
export * as optim from './optim';
export * as train from './train';
export * as gear from './gear';
export * as lolcats from './lolcats';
