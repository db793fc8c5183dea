// Quantized matmul y = x · Ŵᵀ with fused dequantization: x f32 [m, k] (any strides),
// Ŵ [n, k] a group-quantized weight in the packed layout of group_quant.h, y f32 [m, n]
// (any strides). The f32 weight is never materialised for the whole matrix:
//   m <= kQmmGemvMaxM, 2/3/4-bit codes, no g_idx, groups aligned to the ISA's code chunk:
//       the fused GEMV (qmatmul_kernels.h gemv4): codes are streamed once, each chunk of
//       packed bytes is decoded in registers and multiplied with every row of x.
//   m <= kQmmGemvMaxM, 8-bit codes, no g_idx, groups of whole vectors (or one group): the fused
//       8-bit GEMV (gemv8, qmatmul_q8_impl.h): code bytes widened in registers, q − zero in the
//       integer domain, the scale once per group.
//   otherwise: the panel GEMM: blocks of weight rows x k-block are dequantized into an f32
//       buffer (in L2) and an f32 dot-form micro-kernel runs over it for a block of x rows,
//       so the dequantization is amortised over m. 4-bit-class codes with aligned groups use
//       the ISA's vector dequantizer, 8-bit codes without g_idx its 8-bit one (dequant8, any
//       group size); g_idx and unaligned 4-bit-class groups the portable one.
// Every y element is computed by one thread with an arithmetic that does not depend on the
// thread count or on how the work is split, so results are bit-identical for any thread count.
// NaN and Inf in x or in the scales propagate (IEEE), as nt.matmul.
#pragma once
#include <cstdint>
#include <string>

namespace nt::quant {

// A view of a QTensor's parts (contiguous, validated by the caller; see qmatmul_check in the
// binding). rows = n (output features), cols = k (input features).
struct QWeight {
  const uint8_t* codes = nullptr;  // [rows, row_bytes()]
  const void* scales = nullptr;    // f32 or f16 (IEEE binary16 bits) [rows, groups()]
  bool scales_f16 = false;
  const uint8_t* zeros = nullptr;  // [rows, groups()]
  const int32_t* g_idx = nullptr;  // [cols] or null; every entry in [0, groups())
  int64_t rows = 0, cols = 0;
  int bits = 4;                    // 2, 3, 4 or 8
  int64_t group_size = 128;        // >= 1

  int64_t groups() const { return (cols + group_size - 1) / group_size; }
  int64_t row_bytes() const { return bits == 8 ? cols : (cols + 1) / 2; }
  float scale(int64_t r, int64_t g) const;  // the stored scale as f32
};

// Strided f32 matrices: element (i, j) at p[i * s0 + j * s1].
struct QmmIn {
  const float* p;
  int64_t s0, s1;
};
struct QmmOut {
  float* p;
  int64_t s0, s1;
};

struct QmmKernels;

// y = x · Ŵᵀ with the best kernels of this CPU (NTENSOR_ISA caps the choice).
// int8_activations: where the kernel set has an int8-activation kernel and the layout allows it
// (qmm_path), x is quantized per row and weight group to int8 (symmetric, scale amax / 127) and
// the group dot products are exact integer arithmetic (vpdpbusd or vpmaddubsw), as llama.cpp's
// Q4_0 × Q8_0 and onnxruntime's MatMulNBits accuracy_level 4; for every m (the GEMM runs tiles of
// 4 x rows against blocks of weight rows). Otherwise, and by default, the f32 kernels run. Its
// error is that of the int8 rounding of x (~0.2-0.5% of |y|).
void qmatmul_f32(const QWeight& w, QmmIn x, int64_t m, QmmOut y, bool int8_activations = false);
// The same with an explicit kernel set; force_panel routes small m through the panel GEMM
// instead of the fused GEMV (tests compare the two paths).
void qmatmul_with(const QmmKernels& kern, const QWeight& w, QmmIn x, int64_t m, QmmOut y, bool force_panel = false,
                  bool int8_activations = false);
// True when qmatmul_with(kern, ...) would take the int8-activation kernel for w.
bool qmm_int8_applies(const QmmKernels& kern, const QWeight& w);

// Which kernels a call takes (only w's layout is read: bits, cols, group_size, g_idx).
struct QmmPath {
  const char* kernel;    // the kernel set's name ("avx512vnni", "avx2vnni", "avx2", "scalar", ...)
  bool int8;             // the int8-activation kernel runs
  const char* fallback;  // int8 was requested but the f32 kernels run: why (null otherwise)
  int i8_split;          // columns per int8 chunk of the kernel that runs (0: f32)
};
QmmPath qmm_path(const QmmKernels& kern, const QWeight& w, bool int8_activations);
QmmPath qmm_path(const QWeight& w, bool int8_activations);  // with qmm_kernels()
// Plain loops, f64 accumulation of x · (scale · (q − zero)): the reference of the tests.
void qmatmul_reference(const QWeight& w, QmmIn x, int64_t m, QmmOut y);

}  // namespace nt::quant
