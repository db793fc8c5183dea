// Training the last layers of a LLaMA model on captured hidden states (hand-written backward).
export { rmsnormBackward, swigluBackward, crossEntropy, headForward, headLossAndGrads, HEAD_PARAM_NAMES } from './head';
export type { HeadParams, HeadGrads, HeadParamName, HeadForward } from './head';
export { lastMlpResidual, loadHeadParams } from './capture';
export { trainCompare, makeOptimizer, TRAIN_METHODS } from './compare';
export type { TrainCompareOptions, TrainRun, TrainMethod } from './compare';
