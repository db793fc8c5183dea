import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the io area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface IoFunctions {}

/** Native ops of the io area (the addon also exports an Async twin of each). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface IoOps {}

export const IO_FUNCTIONS: Record<keyof IoFunctions, true> = {};
export const IO_OPS: Record<keyof IoOps, true> = {};

// keep the imports used until this area declares something
export type _IoUnused = [Meta, Storage];
