// ntensor: a native tensor engine for the math of compressed LLMs.
export { Tensor, memory } from './tensor';
export type { IndexRange } from './tensor';
export type { DType } from './dtype';
export { DTYPES } from './dtype';
export { ntError, isNtError } from './errors';
export type { ErrorCode, NtError } from './errors';
export { tensor, zeros, ones, full, arange, eye } from './creation';
export { rand, randn } from './random';
export type { RandomOptions } from './random';
export type { TensorOptions, NestedNumbers } from './creation';
export { info, setNumThreads, getNumThreads } from './runtime';
export type { Info } from './runtime';
export * from './ops';
export * as io from './io';
export { matmul, matmulAsync } from './linalg/matmul';
export type { MatmulOptions } from './linalg/matmul';
export * as linalg from './linalg';
