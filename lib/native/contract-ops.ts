import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the ops area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface OpsFunctions {}

/** Native ops of the ops area (the addon also exports an Async twin of each). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface OpsOps {}

export const OPS_FUNCTIONS: Record<keyof OpsFunctions, true> = {};
export const OPS_OPS: Record<keyof OpsOps, true> = {};

// keep the imports used until this area declares something
export type _OpsUnused = [Meta, Storage];
