/** Plain (synchronous-only) native functions of the gear area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface GearFunctions {}

/** Native ops of the gear area (the addon also exports an Async twin of each). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface GearOps {}

export const GEAR_FUNCTIONS: Record<keyof GearFunctions, true> = {};
export const GEAR_OPS: Record<keyof GearOps, true> = {};
