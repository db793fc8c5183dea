/** Plain (synchronous-only) native functions of the attention area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface AttentionFunctions {}

/** Native ops of the attention area (the addon also exports an Async twin of each). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface AttentionOps {}

export const ATTENTION_FUNCTIONS: Record<keyof AttentionFunctions, true> = {};
export const ATTENTION_OPS: Record<keyof AttentionOps, true> = {};
