// The per-ISA pieces of the quantized matmul (qmatmul.h) and their own small dispatch table.
// The shared KernelTable (native/cpu/kernels.h) has fixed slots; this area registers its
// kernel sets here instead, with the same rules: an ISA name and priority (scalar 0, avx2 20,
// avx512 30), a run-time support check, the highest supported priority wins, and
// NTENSOR_ISA=<name> caps the choice exactly as it caps the shared table.
//
// Layouts the kernels share (all row-major f32, padded to kQmmPad columns with zeros):
//   natural order: packed column p holds column p.
//   split order (4-bit-class codes, chunk = `split` columns = split/2 code bytes): within chunk c,
//     packed position c*split + i holds column c*split + 2i (the low nibble of byte i) and
//     packed position c*split + split/2 + i holds column c*split + 2i + 1 (its high nibble),
//     so a chunk of bytes decodes into two contiguous vectors with no shuffle. x is packed in
//     the same order, so dot products see matching pairs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qmatmul.h"

namespace nt::quant {

constexpr int64_t kQmmPad = 32;       // packed rows are padded to a multiple of this
constexpr int64_t kQmmGemvMaxM = 4;   // m up to this goes to the fused GEMV when it applies
constexpr int kQmmMaxMr = 8;

// x quantized to int8 for the int8-activation kernels (see gemv4_i8). q: rows in split order
// with chunk i8_split of the kernel set (row stride ldq, zero padded past k); sx[i * groups + g]
// the scale of row i's group g (x ≈ sx · q), sq[i * groups + g] the integer sum of q over it.
struct QmmI8X {
  const int8_t* q;
  int64_t ldq;
  const float* sx;
  const int32_t* sq;
  int64_t groups;
};
struct QmmKernels {
  const char* isa;
  // Columns per split-order chunk (a divisor of kQmmPad); 0: this set has no split-order
  // kernels (dequant4 and gemv4 are null) and every case takes the portable dequantizer.
  int split;
  int mr, nr;  // micro-tile of `tile`: up to mr rows of x against nr rows of the weight buffer
  // y(i, j) (+)= sum_{p < kc} x[i * ldx + p] * w[j * ldw + p] for i < mv <= mr, j < nv <= nr;
  // kc is a multiple of kQmmPad; w holds nr rows (rows past nv are read, zeros are fine).
  // Overwrites y unless accumulate. Each y element is one fixed-order sum, independent of
  // mv, nv and of the neighbouring elements.
  void (*tile)(int64_t kc, const float* x, int64_t ldx, int64_t mv, const float* w, int64_t ldw, int64_t nv,
               QmmOut y, bool accumulate);
  // Split-order dequantization of rows [r0, r0 + nrows) and packed columns [k0, k0 + kc) into
  // dst[r * ldd + p]: k0 and kc are multiples of kQmmPad (k0 + kc <= the padded k), codes past
  // the row's bytes read as 0. Needs bits <= 4, no g_idx, group_size % split == 0 or one group.
  void (*dequant4)(const QWeight& w, int64_t r0, int64_t nrows, int64_t k0, int64_t kc, float* dst, int64_t ldd);
  // Fused GEMV, same conditions: y(i, r) = sum_c x(i, c) · ŵ(r, c) for rows r in [r0, r1) and
  // i < m <= kQmmGemvMaxM; xs is x in split order (row stride ldx, padded). The zero point is
  // applied per element (q − zero), never folded as zero · sum(x): see qmatmul_f4_impl.h.
  void (*gemv4)(const QWeight& w, int64_t r0, int64_t r1, const float* xs, int64_t ldx, int64_t m, QmmOut y);
  // Optional int8-activation kernel (null: int8 requests take the f32 path, reported by qmm_path).
  // Needs bits <= 4, no g_idx, and groups that tile the chunk of i8_split columns (one vector of
  // code bytes): group_size % i8_split == 0, or i8_split % group_size == 0 with group_size % 32
  // == 0 (several groups per chunk, told apart by int32 lane), or one group. For weight rows
  // [r0, r1) and x rows i < m <= kQmmGemvMaxM:
  //   y(i, r) = sum_g scale_g · sx_ig · (sum_c q_c · xq_c − zero_g · sq_ig)
  // with the integer dot exact; the zero term uses the integer sq (exact), folded in f32.
  void (*gemv4_i8)(const QWeight& w, int64_t r0, int64_t r1, const QmmI8X& x, int64_t m, QmmOut y);
  int i8_split;            // columns per int8 chunk: 2 × the vector width in bytes (0: no int8 kernel)
  const char* i8_kernel;   // what the int8 kernel is, for info() ("avx2 vpmaddubsw ymm", ...; null: none)
  // 8-bit codes (qmatmul_q8_impl.h), natural order, no g_idx; null: the portable dequantizer.
  // gemv8: the fused GEMV (as gemv4, x in natural order), for groups of a multiple of q8_lanes
  // columns or one group. dequant8: as dequant4 in natural order, any group size.
  void (*gemv8)(const QWeight& w, int64_t r0, int64_t r1, const float* xs, int64_t ldx, int64_t m, QmmOut y);
  void (*dequant8)(const QWeight& w, int64_t r0, int64_t nrows, int64_t k0, int64_t kc, float* dst, int64_t ldd);
  int q8_lanes;
};

// The int8 kernels of the ISA files, borrowed by the sets that share their f32 kernels.
void qmm_avx2_gemv4_i8(const QWeight& w, int64_t r0, int64_t r1, const QmmI8X& x, int64_t m, QmmOut y);
bool qmm_avx512vnni_supported();
void qmm_avx512vnni_gemv4_i8(const QWeight& w, int64_t r0, int64_t r1, const QmmI8X& x, int64_t m, QmmOut y);
bool qmm_avxvnni_supported();
void qmm_avxvnni_gemv4_i8(const QWeight& w, int64_t r0, int64_t r1, const QmmI8X& x, int64_t m, QmmOut y);

struct QmmRegistration {
  const char* name;
  int priority;
  bool (*supported)();
  const QmmKernels* kernels;
  QmmRegistration(const char* n, int p, bool (*s)(), const QmmKernels* k);
};

// The kernel set in use (highest supported priority, capped by NTENSOR_ISA).
const QmmKernels& qmm_kernels();
// A named ISA's set, or null when it is not registered here or not supported by this CPU.
const QmmKernels* qmm_kernels_for(const std::string& isa);
// Names of the registered sets this CPU supports, best first.
std::vector<std::string> qmm_supported_isas();

// True when the split-order kernels of `kern` apply to w.
bool qmm_split_applies(const QmmKernels& kern, const QWeight& w);
// True when the fused 8-bit GEMV of `kern` applies to w (bits 8, no g_idx, groups of whole vectors).
bool qmm_gemv8_applies(const QmmKernels& kern, const QWeight& w);
// Why the int8-activation kernel of `kern` cannot serve w (null when it can).
const char* qmm_int8_unavailable(const QmmKernels& kern, const QWeight& w);

}  // namespace nt::quant
