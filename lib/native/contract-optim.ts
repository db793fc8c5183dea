/** Plain (synchronous-only) native functions of the optim area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface OptimFunctions {}

/** Native ops of the optim area (the addon also exports an Async twin of each). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface OptimOps {}

export const OPTIM_FUNCTIONS: Record<keyof OptimFunctions, true> = {};
export const OPTIM_OPS: Record<keyof OptimOps, true> = {};
