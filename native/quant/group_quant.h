// The group-quantization grid shared by RTN, GPTQ, SparseGPT and the quantized matmul.
// ALGORITHMS.md §2. A weight W [rows = d_out, cols = d_in] is quantized along its rows in
// groups of `group_size` consecutive columns (the last group of a row may be shorter).
//
// Packed layout (QTensor, documented in README):
//   codes  u8 [rows, code_row_bytes(cols, bits)]
//          bits 2..4: two codes per byte, column c in byte c/2, low nibble for even c;
//          bits 8:    one code per byte.
//   scales f32 or f16 [rows, groups]      groups = ceil(cols / group_size)
//   zeros  u8  [rows, groups]             integer zero point in [0, 2^bits - 1]
//   g_idx  optional i32 [cols]            group of each column (GPTQ act-order without static
//                                          groups); absent means group(c) = c / group_size.
// Dequantized value: x̂ = scale · (q − zero).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace nt::quant {

inline int max_code(int bits) { return (1 << bits) - 1; }
inline int64_t code_row_bytes(int64_t cols, int bits) { return bits == 8 ? cols : (cols + 1) / 2; }
inline int64_t group_count(int64_t cols, int64_t group_size) { return (cols + group_size - 1) / group_size; }

// Scale and zero of one group. The range always contains 0 (min ≤ 0 ≤ max), as GPTQ does, so
// a zero weight is exact. Symmetric: zero = 2^(bits-1), scale = 2·max|x| / (2^bits − 1).
// A constant-zero group would give scale 0: it gets scale 1 (every code equals zero).
// `round_scale` maps the scale to what storage holds (identity for f32, f16 rounding for f16)
// so codes are chosen against the scale the dequantizer will actually use.
struct GroupParams {
  float scale;
  int zero;
};

template <class RoundScale>
inline GroupParams group_params(float lo, float hi, int bits, bool symmetric, RoundScale round_scale) {
  const int maxq = max_code(bits);
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  if (symmetric) {
    const float amax = std::max(-lo, hi);
    float scale = round_scale(2.0f * amax / float(maxq));
    if (!(scale > 0.0f)) scale = 1.0f;
    return {scale, 1 << (bits - 1)};
  }
  float scale = round_scale((hi - lo) / float(maxq));
  if (!(scale > 0.0f)) scale = 1.0f;
  const int zero = std::clamp(int(std::nearbyint(-lo / scale)), 0, maxq);
  return {scale, zero};
}

// q = clamp(round(x / scale) + zero, 0, maxq), round half to even (as torch.round).
inline int quantize_value(float x, GroupParams p, int bits) {
  return std::clamp(int(std::nearbyint(x / p.scale)) + p.zero, 0, max_code(bits));
}

inline float dequantize_value(int q, GroupParams p) { return p.scale * float(q - p.zero); }

inline int read_code(const uint8_t* row_codes, int64_t col, int bits) {
  if (bits == 8) return row_codes[col];
  const uint8_t byte = row_codes[col >> 1];
  return (col & 1) ? (byte >> 4) : (byte & 0x0f);
}

inline void write_code(uint8_t* row_codes, int64_t col, int bits, int q) {
  if (bits == 8) {
    row_codes[col] = uint8_t(q);
    return;
  }
  uint8_t& byte = row_codes[col >> 1];
  byte = (col & 1) ? uint8_t((byte & 0x0f) | (q << 4)) : uint8_t((byte & 0xf0) | q);
}

}  // namespace nt::quant
