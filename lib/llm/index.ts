// LLM compression and training methods (nt.llm): compositions of nt ops, never native calls.
export * from './covariance';
export * from './eora';
export * from './adapter';
export * from './calibrate';
export * from './compress';
export * from './export';
export * from './mnn';
export * as optim from './optim';
export * as train from './train';
export * as gear from './gear';
export * as lolcats from './lolcats';
