// The typed contract of the .node file: one interface for the whole native surface, split
// by area (one file each). test/native-contract.test.ts checks it against the real exports.
import type { EighFunctions, EighOps } from './contract-eigh';
import type { FactorFunctions, FactorOps } from './contract-factor';
import type { GemmFunctions, GemmOps } from './contract-gemm';
import type { IoFunctions, IoOps } from './contract-io';
import type { OpsFunctions, OpsOps } from './contract-ops';
import type { RuntimeFunctions, RuntimeOps } from './contract-runtime';
import type { SvdFunctions, SvdOps } from './contract-svd';
import type { TensorFunctions, TensorOps } from './contract-tensor';
import type { WithAsync } from './types';
import { EIGH_FUNCTIONS, EIGH_OPS } from './contract-eigh';
import { FACTOR_FUNCTIONS, FACTOR_OPS } from './contract-factor';
import { GEMM_FUNCTIONS, GEMM_OPS } from './contract-gemm';
import { IO_FUNCTIONS, IO_OPS } from './contract-io';
import { OPS_FUNCTIONS, OPS_OPS } from './contract-ops';
import { RUNTIME_FUNCTIONS, RUNTIME_OPS } from './contract-runtime';
import { SVD_FUNCTIONS, SVD_OPS } from './contract-svd';
import { TENSOR_FUNCTIONS, TENSOR_OPS } from './contract-tensor';

export type NativeOps = RuntimeOps & TensorOps & OpsOps & IoOps & GemmOps & FactorOps & EighOps & SvdOps;
export type NativeFunctions = RuntimeFunctions &
  TensorFunctions &
  OpsFunctions &
  IoFunctions &
  GemmFunctions &
  FactorFunctions &
  EighFunctions &
  SvdFunctions;
export type NativeModule = WithAsync<NativeOps> & NativeFunctions;

const OP_AREAS = [RUNTIME_OPS, TENSOR_OPS, OPS_OPS, IO_OPS, GEMM_OPS, FACTOR_OPS, EIGH_OPS, SVD_OPS];
const FUNCTION_AREAS = [
  RUNTIME_FUNCTIONS,
  TENSOR_FUNCTIONS,
  OPS_FUNCTIONS,
  IO_FUNCTIONS,
  GEMM_FUNCTIONS,
  FACTOR_FUNCTIONS,
  EIGH_FUNCTIONS,
  SVD_FUNCTIONS,
];

/** Names the contract declares, for the contract test. */
export const NATIVE_OP_NAMES: string[] = OP_AREAS.flatMap((o) => Object.keys(o));
export const NATIVE_FUNCTION_NAMES: string[] = FUNCTION_AREAS.flatMap((o) => Object.keys(o));
