// Elementwise, reductions and nn building blocks: one file per op family.
export type { OutOptions } from './common';
export { add, sub, mul, div, addAsync, subAsync, mulAsync, divAsync } from './binary';
export { exp, log, sqrt, silu, gelu, expAsync, logAsync, sqrtAsync, siluAsync, geluAsync } from './unary';
export type { GeluOptions } from './unary';
export { sum, mean, max, min, argmax, norm, sumAsync, meanAsync, maxAsync, minAsync, argmaxAsync, normAsync } from './reduce';
export type { ReduceOptions, NormOptions } from './reduce';
export { softmax, rmsnorm, softmaxAsync, rmsnormAsync } from './nn';
export { rope, ropeAsync, ropeInverseFrequencies } from './rope';
export type { RopeOptions } from './rope';
export { gatherRows, gatherRowsAsync } from './gather';
