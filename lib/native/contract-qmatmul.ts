/** Plain (synchronous-only) native functions of the qmatmul area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface QmatmulFunctions {}

/** Native ops of the qmatmul area (the addon also exports an Async twin of each). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface QmatmulOps {}

export const QMATMUL_FUNCTIONS: Record<keyof QmatmulFunctions, true> = {};
export const QMATMUL_OPS: Record<keyof QmatmulOps, true> = {};
