// Run-time dispatched SIMD kernels. Every slot has a scalar reference (kernels_scalar.cc,
// kept for tests); an ISA file (kernels_avx2.cc, ...) fills the slots it accelerates and
// registers itself with NT_REGISTER_ISA. Adding AVX-512 or NEON is one new file in native/cpu
// (native/sources.js picks it up): nothing else changes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nt {

using ConvertU16ToF32 = void (*)(const uint16_t* src, float* dst, int64_t n);
using ConvertF32ToU16 = void (*)(const float* src, uint16_t* dst, int64_t n);
// out[i] = a[i*a_step] op b[i*b_step] over n elements; steps are 0 (a broadcast scalar) or 1.
// Bit-exact across ISAs (one IEEE operation per element). out may equal a or b exactly.
using BinaryF32 = void (*)(const float* a, int64_t a_step, const float* b, int64_t b_step, float* out, int64_t n);
using BinaryF64 = void (*)(const double* a, int64_t a_step, const double* b, int64_t b_step, double* out, int64_t n);
// out[i] = f(x[i]), contiguous; out may equal x. Also the softmax slots (f over the whole row).
using UnaryF32 = void (*)(const float* x, float* out, int64_t n);
using UnaryF64 = void (*)(const double* x, double* out, int64_t n);
// Contiguous reductions returning a double: sums accumulate in f64 (f32 input) or in several
// f64 accumulators (f64 input); max/min/amax are exact and propagate NaN; n = 0 gives the
// identity (0, -inf, +inf, 0).
using ReduceF32 = double (*)(const float* x, int64_t n);
using ReduceF64 = double (*)(const double* x, int64_t n);
// Index of the first maximum; the first NaN when there is one; 0 when n = 0.
// Reductions over a strided axis: acc[j] += f(x[j]) in f64 for j < m (one row of a block of
// outputs; f = x, x² or |x|), or acc[j] = max/min(acc[j], x[j] or |x[j]|) with NaN sticking.
// Each output's rows are taken in order, as the portable loop does.
using ColumnAccF32 = void (*)(const float* x, int64_t m, double* acc);
using ColumnAccF64 = void (*)(const double* x, int64_t m, double* acc);
// argmax over a strided axis, row r of a block: x[j] replaces (acc[j], idx[j]) when larger, or
// when NaN and acc[j] is not (the first NaN wins; ties keep the earlier row).
using ColumnArgF32 = void (*)(const float* x, int64_t m, int64_t r, double* acc, int64_t* idx);
using ColumnArgF64 = void (*)(const double* x, int64_t m, int64_t r, double* acc, int64_t* idx);
using ArgReduceF32 = int64_t (*)(const float* x, int64_t n);
using ArgReduceF64 = int64_t (*)(const double* x, int64_t n);
// out[i] = (x[i] * s) * w[i] (the rmsnorm scaling step, rounded in this order as HF does).
using ScaleMulF32 = void (*)(const float* x, float s, const float* w, float* out, int64_t n);
using ScaleMulF64 = void (*)(const double* x, double s, const double* w, double* out, int64_t n);
// GEMM micro-kernel sets (tile + GEMV kernels + their cache blocking): see gemm_kernel.h.
template <typename T> struct GemmKernel;
using GemmKernelF32 = const GemmKernel<float>*;
using GemmKernelF64 = const GemmKernel<double>*;
// f32 x bf16/f16 GEMM/GEMV kernels (widening packers + streaming GEMV): see half_gemm_kernel.h.
struct HalfGemmKernel;
using HalfGemmKernelPtr = const HalfGemmKernel*;

// eigh (native/linalg/eigh_kernels.h documents them): fused lower symmetric matrix-vector
// product over a column range, and the two loops of the secular equation.
using SymvColumnsF32 = void (*)(const float* a, int64_t lda, int64_t m, int64_t c0, int64_t c1, const float* x, float* y);
using SymvColumnsF64 = void (*)(const double* a, int64_t lda, int64_t m, int64_t c0, int64_t c1, const double* x,
                                double* y);
using SecularSums = void (*)(const double* p, const double* w, int64_t n, double tau, double* sums);
using DivideSumsq = double (*)(const double* num, const double* den, double* out, int64_t n);

// SVD (native/linalg/svd_kernels.h documents them): y += M^T x over a row block, dot
// products, and batched Givens rotation sweeps. No scalar slot: a null slot means the
// portable loop in svd_kernels.cc.
namespace svd_detail { struct RotationSweep; }
using GemvBlockF32 = void (*)(int64_t nr, int64_t nc, const float* M, int64_t ld, const float* x, float* y);
using GemvBlockF64 = void (*)(int64_t nr, int64_t nc, const double* M, int64_t ld, const double* x, double* y);
using DotF32 = float (*)(const float* a, const float* b, int64_t n);
using DotF64 = double (*)(const double* a, const double* b, int64_t n);
using RotationSweepsF32 = void (*)(float* X, int64_t ld, int64_t c0, int64_t c1, const svd_detail::RotationSweep* sweeps,
                                   int64_t nsweeps, const float* cs, const float* sn);
using RotationSweepsF64 = void (*)(double* X, int64_t ld, int64_t c0, int64_t c1, const svd_detail::RotationSweep* sweeps,
                                   int64_t nsweeps, const double* cs, const double* sn);

// X(type, slot) — the one list of slots; the table, the merge and `ntensor info` use it.
#define NT_KERNEL_SLOTS(X)            \
  X(ConvertU16ToF32, f16_to_f32)      \
  X(ConvertF32ToU16, f32_to_f16)      \
  X(ConvertU16ToF32, bf16_to_f32)     \
  X(ConvertF32ToU16, f32_to_bf16)     \
  X(BinaryF32, add_f32)               \
  X(BinaryF32, sub_f32)               \
  X(BinaryF32, mul_f32)               \
  X(BinaryF32, div_f32)               \
  X(BinaryF64, add_f64)               \
  X(BinaryF64, sub_f64)               \
  X(BinaryF64, mul_f64)               \
  X(BinaryF64, div_f64)               \
  X(UnaryF32, exp_f32)                \
  X(UnaryF32, log_f32)                \
  X(UnaryF32, sqrt_f32)               \
  X(UnaryF32, silu_f32)               \
  X(UnaryF32, gelu_f32)               \
  X(UnaryF32, gelu_tanh_f32)          \
  X(UnaryF64, exp_f64)                \
  X(UnaryF64, log_f64)                \
  X(UnaryF64, sqrt_f64)               \
  X(UnaryF64, silu_f64)               \
  X(UnaryF64, gelu_f64)               \
  X(UnaryF64, gelu_tanh_f64)          \
  X(ReduceF32, sum_f32)               \
  X(ReduceF32, sumsq_f32)             \
  X(ReduceF32, asum_f32)              \
  X(ReduceF32, max_f32)               \
  X(ReduceF32, min_f32)               \
  X(ReduceF32, amax_f32)              \
  X(ArgReduceF32, argmax_f32)         \
  X(ReduceF64, sum_f64)               \
  X(ReduceF64, sumsq_f64)             \
  X(ReduceF64, asum_f64)              \
  X(ReduceF64, max_f64)               \
  X(ReduceF64, min_f64)               \
  X(ReduceF64, amax_f64)              \
  X(ArgReduceF64, argmax_f64)         \
  X(ColumnAccF32, col_sum_f32)        \
  X(ColumnAccF32, col_sumsq_f32)      \
  X(ColumnAccF32, col_asum_f32)       \
  X(ColumnAccF64, col_sum_f64)        \
  X(ColumnAccF64, col_sumsq_f64)      \
  X(ColumnAccF64, col_asum_f64)       \
  X(ColumnAccF32, col_max_f32)        \
  X(ColumnAccF32, col_min_f32)        \
  X(ColumnAccF32, col_amax_f32)       \
  X(ColumnAccF64, col_max_f64)        \
  X(ColumnAccF64, col_min_f64)        \
  X(ColumnAccF64, col_amax_f64)       \
  X(ColumnArgF32, col_argmax_f32)     \
  X(ColumnArgF64, col_argmax_f64)     \
  X(UnaryF32, softmax_f32)            \
  X(UnaryF64, softmax_f64)            \
  X(ScaleMulF32, scale_mul_f32)       \
  X(ScaleMulF64, scale_mul_f64)       \
  X(GemmKernelF32, gemm_f32_kernel)   \
  X(GemmKernelF64, gemm_f64_kernel)   \
  X(HalfGemmKernelPtr, half_gemm_kernel) \
  X(SymvColumnsF32, eigh_symv_f32)    \
  X(SymvColumnsF64, eigh_symv_f64)    \
  X(SecularSums, eigh_secular_sums)   \
  X(DivideSumsq, eigh_divide_sumsq)   \
  X(GemvBlockF32, svd_gemv_t_f32)     \
  X(GemvBlockF64, svd_gemv_t_f64)     \
  X(DotF32, svd_dot_f32)              \
  X(DotF64, svd_dot_f64)              \
  X(RotationSweepsF32, svd_sweeps_f32) \
  X(RotationSweepsF64, svd_sweeps_f64)

struct KernelTable {
#define NT_KERNEL_FIELD(type, slot) type slot = nullptr;
  NT_KERNEL_SLOTS(NT_KERNEL_FIELD)
#undef NT_KERNEL_FIELD
};

struct IsaRegistration {
  const char* name;
  int priority;            // higher wins when supported
  bool (*supported)();     // run-time check (cpu_features)
  void (*fill)(KernelTable& table);  // sets the slots this ISA accelerates
  IsaRegistration(const char* n, int p, bool (*s)(), void (*f)(KernelTable&));
};

#define NT_REGISTER_ISA(name, priority, supported, fill) \
  static ::nt::IsaRegistration nt_isa_registration_##name(#name, priority, supported, fill)

// The table in use: each slot from the highest-priority supported ISA that fills it.
// NTENSOR_ISA=scalar (or avx2, ...) caps the choice, for testing references.
const KernelTable& kernels();
// A table made only of one ISA's slots over the scalar ones (for tests); throws
// NT_UNSUPPORTED when that ISA is unknown or unsupported on this CPU.
KernelTable kernels_for(const std::string& isa);
// (slot, isa) pairs of the table in use, for `ntensor info`.
std::vector<std::pair<std::string, std::string>> kernel_choices();
// Names of registered ISAs that this CPU supports, best first.
std::vector<std::string> supported_isas();

}  // namespace nt
