// Inner loops of GEAR attention and decoding (see gear.h). Written once over vector traits in
// gear_simd_impl.h and instantiated per ISA: a portable scalar table (gear_portable.cc, the
// reference the tests compare against), AVX2+FMA (gear_avx2.cc) and AVX-512 (gear_avx512.cc),
// chosen once at run time from the CPU features, capped by NTENSOR_ISA (isa_priority_cap).
// Each output element is owned by one call, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace nt::kvcache {

// n rows of d packed codes: element (t, j) at bit (e0 + t·d + j)·bits of `codes`, low bits
// first (the GEAR storage of gear.h; e0 lets a row range start inside a slice).
struct GearCodeRows {
  const uint8_t* codes;
  int64_t e0, n, d;
  int bits;  // 2 | 4
  // Phase layout (only where gear_phase_ok): each block of B = lanes·8/bits codes, loaded as
  // lanes bytes, is used as 8/bits vectors, vector p holding codes p, p + 8/bits, ... (one shift
  // and mask each, no interleaving shuffles). The query (scores) or accumulator (values) side
  // is then stored in that order over the first d / B·B columns (gear_phase_index); the tail
  // stays in element order. Off: element order everywhere, one code at a time.
  bool phase;
};

// Whether rows of d codes of `bits` bits can use the phase layout with `lanes` lanes.
inline bool gear_phase_ok(int lanes, int bits, int64_t d) { return lanes > 1 && (d * bits) % 8 == 0; }
// Position of column j in the phase layout.
inline int64_t gear_phase_index(int lanes, int bits, int64_t d, int64_t j) {
  const int64_t per = 8 / bits, B = lanes * per;
  if (j >= d / B * B) return j;
  return j / B * B + (j % per) * lanes + (j % B) / per;
}

// S[g·lds + t] = cst[g] + Σ_j qs[g·ldq + j]·code(t, j) (qs in the phase layout when rows.phase) + Σ_c lw[g·ldw + c]·lq[t·r + c]
// for g < G, t < n: scores against quantized keys with the scale folded into qs (q ⊙ Δ), the
// zero into cst (q·min), plus the low-rank term (q·P)·Q_tᵀ when r > 0. lw rows are padded
// with zeros to a multiple of the lanes and lq is readable that far past its last row.
struct GearScoreArgs {
  GearCodeRows rows;
  int64_t G;
  const float* qs;
  int64_t ldq;
  const float* cst;
  const float* lq;
  int64_t r;
  const float* lw;
  int64_t ldw;
  float* S;
  int64_t lds;
};

// acc[g·lda + j] += Σ_t W[g·ldw + (j / group)·ldc + t]·code(t, j) for g < G, j < d: the
// probability-weighted value codes, with each range's scale folded into the weights (P ⊙ Δ, per
// row, column group and token) and its zero added by the caller (Σ_t P·min per group), as the
// keys fold theirs into the query. ldc = 0: one range for every column. With rows.phase, acc is
// in the phase layout and every block of B codes lies in one group (ldc = 0 or group % B == 0).
struct GearValueArgs {
  GearCodeRows rows;
  int64_t G;
  const float* W;
  int64_t ldw, ldc, group;
  float* acc;
  int64_t lda;
};

struct GearKernels {
  const char* isa;
  int lanes;
  // S[g * n + t] = dot(qs[g * d ...], rows[t * d ...]) for g < G, t < n
  void (*scores)(const float* qs, int64_t G, const float* rows, int64_t n, int64_t d, float* S);
  // acc[g * d + j] += sum_t P[g * n + t] * rows[t * d + j]
  void (*accumulate)(const float* P, int64_t G, const float* rows, int64_t n, int64_t d, float* acc);
  // out[j] = lo[j] + step[j] * code_j for the d codes packed from byte `codes` on (bits 2|4,
  // element j at bit j·bits, low bits first): per-channel ranges (KIVI keys)
  void (*dequant_channels)(const uint8_t* codes, int bits, int64_t d, const float* lo, const float* step, float* out);
  // the same with one range for all d codes (KIVI value groups, uniform)
  void (*dequant_scalar)(const uint8_t* codes, int bits, int64_t d, float lo, float step, float* out);
  void (*code_scores)(const GearScoreArgs& a);
  void (*code_values)(const GearValueArgs& a);
  // out[g * d + j] = x[g * d + j] * y[j] for g < G, j < d (the scale folded into the queries)
  void (*mul_rows)(int64_t G, int64_t d, const float* x, const float* y, float* out);
  // dst[c·m + i] = src[i·r + c] for i < m, c < r: a row-major m x r factor transposed (Q or P
  // of the low-rank term), by in-register deinterleaves where r is a power of two
  void (*transpose_factor)(const float* src, int64_t m, int64_t r, float* dst);
  // dst[gear_phase_index(lanes, bits, d, j)] = src[j] for j < d: a row of d values into the
  // phase layout of `bits`-bit codes (a copy where the table has one lane)
  void (*phase_row)(const float* src, int64_t d, int bits, float* dst);
};

const GearKernels& gear_kernels();
const GearKernels& gear_kernels_portable();
// nullptr when this build has no such form or the CPU (or NTENSOR_ISA) rules it out.
const GearKernels* gear_kernels_avx2();
const GearKernels* gear_kernels_avx512();

}  // namespace nt::kvcache
