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
import type { QuantFunctions, QuantOps } from './contract-quant';
import type { GptqFunctions, GptqOps } from './contract-gptq';
import type { QmatmulFunctions, QmatmulOps } from './contract-qmatmul';
import type { ModelFunctions, ModelOps } from './contract-model';
import type { AttentionFunctions, AttentionOps } from './contract-attention';
import type { LinearAttentionFunctions, LinearAttentionOps } from './contract-linear-attention';
import type { OptimFunctions, OptimOps } from './contract-optim';
import type { GearFunctions, GearOps } from './contract-gear';
import type { GgufFunctions, GgufOps } from './contract-gguf';
import type { BenchFunctions, BenchOps } from './contract-bench';
import type { WithAsync } from './types';
import { EIGH_FUNCTIONS, EIGH_OPS } from './contract-eigh';
import { FACTOR_FUNCTIONS, FACTOR_OPS } from './contract-factor';
import { GEMM_FUNCTIONS, GEMM_OPS } from './contract-gemm';
import { IO_FUNCTIONS, IO_OPS } from './contract-io';
import { OPS_FUNCTIONS, OPS_OPS } from './contract-ops';
import { RUNTIME_FUNCTIONS, RUNTIME_OPS } from './contract-runtime';
import { SVD_FUNCTIONS, SVD_OPS } from './contract-svd';
import { TENSOR_FUNCTIONS, TENSOR_OPS } from './contract-tensor';
import { QUANT_FUNCTIONS, QUANT_OPS } from './contract-quant';
import { GPTQ_FUNCTIONS, GPTQ_OPS } from './contract-gptq';
import { QMATMUL_FUNCTIONS, QMATMUL_OPS } from './contract-qmatmul';
import { MODEL_FUNCTIONS, MODEL_OPS } from './contract-model';
import { ATTENTION_FUNCTIONS, ATTENTION_OPS } from './contract-attention';
import { LINEAR_ATTENTION_FUNCTIONS, LINEAR_ATTENTION_OPS } from './contract-linear-attention';
import { OPTIM_FUNCTIONS, OPTIM_OPS } from './contract-optim';
import { GEAR_FUNCTIONS, GEAR_OPS } from './contract-gear';
import { GGUF_FUNCTIONS, GGUF_OPS } from './contract-gguf';
import { BENCH_FUNCTIONS, BENCH_OPS } from './contract-bench';

export type NativeOps = RuntimeOps &
  TensorOps &
  OpsOps &
  IoOps &
  GemmOps &
  FactorOps &
  EighOps &
  SvdOps &
  QuantOps &
  GptqOps &
  QmatmulOps &
  ModelOps &
  AttentionOps &
  LinearAttentionOps &
  OptimOps &
  GearOps &
  GgufOps &
  BenchOps;
export type NativeFunctions = RuntimeFunctions &
  TensorFunctions &
  OpsFunctions &
  IoFunctions &
  GemmFunctions &
  FactorFunctions &
  EighFunctions &
  SvdFunctions &
  QuantFunctions &
  GptqFunctions &
  QmatmulFunctions &
  ModelFunctions &
  AttentionFunctions &
  LinearAttentionFunctions &
  OptimFunctions &
  GearFunctions &
  GgufFunctions &
  BenchFunctions;
export type NativeModule = WithAsync<NativeOps> & NativeFunctions;

const OP_AREAS = [
  RUNTIME_OPS,
  TENSOR_OPS,
  OPS_OPS,
  IO_OPS,
  GEMM_OPS,
  FACTOR_OPS,
  EIGH_OPS,
  SVD_OPS,
  QUANT_OPS,
  GPTQ_OPS,
  QMATMUL_OPS,
  MODEL_OPS,
  ATTENTION_OPS,
  LINEAR_ATTENTION_OPS,
  OPTIM_OPS,
  GEAR_OPS,
  GGUF_OPS,
  BENCH_OPS,
];
const FUNCTION_AREAS = [
  RUNTIME_FUNCTIONS,
  TENSOR_FUNCTIONS,
  OPS_FUNCTIONS,
  IO_FUNCTIONS,
  GEMM_FUNCTIONS,
  FACTOR_FUNCTIONS,
  EIGH_FUNCTIONS,
  SVD_FUNCTIONS,
  QUANT_FUNCTIONS,
  GPTQ_FUNCTIONS,
  QMATMUL_FUNCTIONS,
  MODEL_FUNCTIONS,
  ATTENTION_FUNCTIONS,
  LINEAR_ATTENTION_FUNCTIONS,
  OPTIM_FUNCTIONS,
  GEAR_FUNCTIONS,
  GGUF_FUNCTIONS,
  BENCH_FUNCTIONS,
];

/** Names the contract declares, for the contract test. */
export const NATIVE_OP_NAMES: string[] = OP_AREAS.flatMap((o) => Object.keys(o));
export const NATIVE_FUNCTION_NAMES: string[] = FUNCTION_AREAS.flatMap((o) => Object.keys(o));
