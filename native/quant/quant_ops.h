// Kernels of nt.quant (helper "quant"): round-to-nearest group quantization, dequantization,
// 2:4 magnitude/Wanda pruning, and the AutoGPTQ "gptq" checkpoint packing. The grid and the
// QTensor layout are those of group_quant.h (ALGORITHMS.md §2). Every *_check validates
// views and options on the JS thread; *_run computes (thread-safe, no Node-API).
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"

namespace nt::quant {

// The parts of a quantized weight W [rows, cols] as views:
//   codes u8 [rows, code_row_bytes(cols, bits)] (last dim contiguous), scales f32|f16
//   [rows, groups], zeros u8 [rows, groups], gidx i32 [cols] (only when has_gidx).
struct QParts {
  TensorView codes, scales, zeros, gidx;
  bool has_gidx = false;
  int bits = 4;
  int64_t group_size = 128;
  int64_t rows = 0, cols = 0;
};

// Shapes and dtypes of the parts (scales skipped unless with_scales); gidx values in
// [0, groups). `op` names the public op in messages.
void check_parts(const char* op, const QParts& q, bool with_scales = true);

// W (any float dtype, any strides, [rows, cols]) -> codes, scales, zeros. Computes in f32
// (f64 inputs are rounded to f32 first). Codes are chosen against the scale as stored
// (f16-rounded for f16 scales). NaN/Inf in W, or an f16 scale overflow: NT_VALUE, naming
// the first offending row in row order (independent of the thread count).
void rtn_check(const TensorView& w, const QParts& q);
void rtn_run(const TensorView& w, const QParts& q, bool symmetric);

// out f32 [rows, cols] (any strides) = scale[g] · (code − zero[g]), g = gidx[c] or c / group.
void dequantize_check(const QParts& q, const TensorView& out);
void dequantize_run(const QParts& q, const TensorView& out);

// Row gather from a quantized table (qgather.cc): out[i, :] = dequantize(q)[ids[i], :] with
// dequantize_run's exact f32 values, stored as out's dtype (f32, f16, bf16 rounded; f64
// widened). ids i32 [n] (any stride), each in [0, rows) (NT_VALUE naming the index, checked
// again on the worker); out [n, cols], any strides.
void gather_rows_check(const QParts& q, const TensorView& ids, const TensorView& out);
void gather_rows_run(const QParts& q, const TensorView& ids, const TensorView& out);

// 2:4 pruning along the columns: out (W's dtype and shape, any strides) keeps, in every 4
// consecutive columns of a row, the 2 with the largest score |W_ij| (norms == nullptr) or
// |W_ij| · norms[j] (Wanda), ties going to the lower column; the other 2 are written as 0.
// cols must be a multiple of 4; W and norms must be finite, norms >= 0.
void prune24_check(const TensorView& w, const TensorView* norms, const TensorView& out);
void prune24_run(const TensorView& w, const TensorView* norms, const TensorView& out);

// AutoGPTQ "gptq" layout (cols = K = in features, rows = N = out features):
//   qweight i32 [K·bits/32, N]: column n is a little-endian bit stream of the K codes of
//           row n, code k at bits [k·bits, k·bits + bits) (3-bit codes straddle words).
//   qzeros  i32 [groups, N·bits/32]: row g is the bit stream of the N zeros of group g,
//           each stored as (zero − zero_offset) mod 2^bits (zero_offset 1: classic v1,
//           0: "gptq_v2"); unpacking adds zero_offset back mod 2^bits.
// Needs K·bits and N·bits to be multiples of 32 (NT_SHAPE otherwise).
void gptq_pack_check(const QParts& q, const TensorView& qweight, const TensorView& qzeros, int zero_offset);
void gptq_pack_run(const QParts& q, const TensorView& qweight, const TensorView& qzeros, int zero_offset);
void gptq_unpack_check(const TensorView& qweight, const TensorView& qzeros, const QParts& q, int zero_offset);
void gptq_unpack_run(const TensorView& qweight, const TensorView& qzeros, const QParts& q, int zero_offset);

// One 32-bit word of a little-endian bit stream of `count` codes of `bits` bits each:
// bits [32·word, 32·word + 32) of the stream, code(k) giving code k.
template <class Code>
inline uint32_t pack_stream_word(int64_t word, int bits, int64_t count, Code code) {
  const int64_t first_bit = word * 32;
  int64_t k = first_bit / bits;
  uint64_t acc = 0;
  for (; k < count && k * bits < first_bit + 32; ++k) {
    const int64_t shift = k * bits - first_bit;  // may be negative for a straddling code
    const uint64_t v = uint64_t(code(k)) & ((1u << bits) - 1);
    acc |= shift >= 0 ? (v << shift) : (v >> -shift);
  }
  return uint32_t(acc & 0xffffffffu);
}

// Code k of a bit stream whose words are word(i) (uint32).
template <class Word>
inline int unpack_stream_code(int64_t k, int bits, Word word) {
  const int64_t bit = k * bits;
  const int64_t w = bit / 32;
  const int shift = int(bit % 32);
  uint64_t v = uint64_t(word(w)) >> shift;
  if (shift + bits > 32) v |= uint64_t(word(w + 1)) << (32 - shift);
  return int(v & ((1u << bits) - 1));
}

}  // namespace nt::quant
