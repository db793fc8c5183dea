// LoLCATs (nt.llm.lolcats): linearizing attention by attention transfer (ALGORITHMS.md §4-5).
// Stage 1 trains per-layer Hedgehog feature maps φ_q, φ_k and the window factor γ so that
// hybrid (sliding-window softmax + linear) attention matches the model's softmax attention.
export { HybridLayer } from './layer';
export type { HybridLayerOptions } from './layer';
export { LOSS_SCALE, softmaxAttention, softmaxTargets, trainLayer, transferLoss } from './train';
export type { AttentionSample, TrainLayerOptions } from './train';
export { hybridHooks, loadMaps, perplexity, saveMaps, splitSequences, transfer } from './transfer';
export type { TransferModel, TransferOptions, TransferResult } from './transfer';
export { HybridCache } from './cache';
