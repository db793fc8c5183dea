// LLM compression and training methods (nt.llm): compositions of nt ops, never native calls.
export * from './covariance';
export * from './eora';
export * from './adapter';
export * from './mnn';
export * as optim from './optim';
export * as gear from './gear';
export * as lolcats from './lolcats';
