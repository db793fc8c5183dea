// The typed contract of the .node file: one interface for the whole native surface, split
// by area (one file each). test/native-contract.test.ts checks it against the real exports.
import type { IoFunctions, IoOps } from './contract-io';
import type { OpsFunctions, OpsOps } from './contract-ops';
import type { RuntimeFunctions, RuntimeOps } from './contract-runtime';
import type { TensorFunctions, TensorOps } from './contract-tensor';
import type { WithAsync } from './types';
import { IO_FUNCTIONS, IO_OPS } from './contract-io';
import { OPS_FUNCTIONS, OPS_OPS } from './contract-ops';
import { RUNTIME_FUNCTIONS, RUNTIME_OPS } from './contract-runtime';
import { TENSOR_FUNCTIONS, TENSOR_OPS } from './contract-tensor';

export type NativeOps = RuntimeOps & TensorOps & OpsOps & IoOps;
export type NativeFunctions = RuntimeFunctions & TensorFunctions & OpsFunctions & IoFunctions;
export type NativeModule = WithAsync<NativeOps> & NativeFunctions;

/** Names the contract declares, for the contract test. */
export const NATIVE_OP_NAMES: string[] = [RUNTIME_OPS, TENSOR_OPS, OPS_OPS, IO_OPS].flatMap((o) => Object.keys(o));
export const NATIVE_FUNCTION_NAMES: string[] = [RUNTIME_FUNCTIONS, TENSOR_FUNCTIONS, OPS_FUNCTIONS, IO_FUNCTIONS].flatMap(
  (o) => Object.keys(o),
);
