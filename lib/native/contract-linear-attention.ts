/** Plain (synchronous-only) native functions of the linear-attention area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface LinearAttentionFunctions {}

/** Native ops of the linear-attention area (the addon also exports an Async twin of each). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface LinearAttentionOps {}

export const LINEAR_ATTENTION_FUNCTIONS: Record<keyof LinearAttentionFunctions, true> = {};
export const LINEAR_ATTENTION_OPS: Record<keyof LinearAttentionOps, true> = {};
