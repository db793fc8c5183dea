// nt.llm.optim: memory-efficient training steps over f32 parameters (ALGORITHMS.md §6).
export { Adam, Adam8bit } from './adam';
export type { Adam8bitOptions } from './adam';
export { GaLore, GradNormLoRP } from './lowrank';
export type { GaLoreOptions, GradNormLoRPOptions } from './lowrank';
export { Optimizer } from './optimizer';
export type { AdamOptions } from './optimizer';
export { stateMemoryTable } from './memory';
export type { LayerShape, StateMemoryRow } from './memory';
