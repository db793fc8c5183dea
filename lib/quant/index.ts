// Weight compression (nt.quant): group quantization, GPTQ, 2:4 pruning, quantized matmul.
export { QTensor } from './qtensor';
export type { QTensorParts, QuantBits } from './qtensor';
export { resolveQuantOptions } from './options';
export type { QuantOptions, ResolvedQuantOptions, GroupSizeOption, ScaleDType } from './options';
export { quantize, quantizeAsync } from './quantize';
export type { QuantizeOptions } from './quantize';
export { dequantize, dequantizeAsync } from './dequantize';
export { prune24, prune24Async } from './prune';
export type { Prune24Options } from './prune';
export { fromGptq, fromGptqAsync, toGptq, toGptqAsync } from './gptq-format';
export type { FromGptqOptions, ToGptqOptions, GptqTensors, GptqCheckpointFormat } from './gptq-format';
export { gptq, gptqAsync } from './gptq';
export type { GptqOptions, ProgressCallback } from './gptq';
export { sparseGpt24, sparseGpt24Async } from './sparsegpt';
export type { SparseGpt24Options } from './sparsegpt';
export { accumulateCovariance, accumulateCovarianceAsync } from './calibration';
export type { CovarianceState } from './calibration';
