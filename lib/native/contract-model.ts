/** Plain (synchronous-only) native functions of the model area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ModelFunctions {}

/** Native ops of the model area (the addon also exports an Async twin of each). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ModelOps {}

export const MODEL_FUNCTIONS: Record<keyof ModelFunctions, true> = {};
export const MODEL_OPS: Record<keyof ModelOps, true> = {};
