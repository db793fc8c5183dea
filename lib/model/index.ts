// LLaMA-family models (nt.model): load a Hugging Face folder, forward, decode, perplexity.
export { LlamaModel } from './model';
export { load, loadAsync } from './load';
export type { LoadOptions, WeightDType } from './load';
export { sumNll } from './nll';
export type { ModelHooks, ForwardOptions, BatchForwardOptions, PerplexityOptions, PerplexityResult, GenerateOptions, CacheOptions, QuantizeHeadOptions, LayerBlock } from './model';
export type { ModelConfig, RopeScaling } from './config';
export { DenseKVCache, BatchKVCache } from './cache';
export type { KVCacheLike, DenseKVCacheOptions } from './cache';
export { DenseLinear, QuantLinear, LoraLinear } from './linear';
export type { LinearLike, QuantLinearOptions } from './linear';
export { encodeBytes, decodeBytes, loadTokenIds, loadTokenizer } from './tokenizer';
export { loadGguf, ggufConfigObject, GGUF_ARCHITECTURES, isGgufPath } from './load-gguf';
export { ggufTokenizer, ggufTokenizerParts } from './gguf-vocab';
