// Decoding ggml's block formats (layouts as gguf-py's quants.py and ggml-quants.c define
// them) for the GGUF loader: dequantization to f32 (Q4_1 and the K-quants, whose codes have
// no QTensor form) and the repacking of Q4_0 / Q8_0 blocks into QTensor parts without a
// dequantized copy. Q4_0 is x = d·(q − 8) with 4-bit q and an f16 d per 32 values: exactly a
// symmetric int4 QTensor of group 32 with zero 8; Q8_0 is x = d·q with int8 q: an 8-bit
// QTensor with code q + 128 and zero 128. Q4_1 is x = d·q + m with an f16 m that is not an
// integer multiple of d in general, so the integer zero points of a QTensor cannot hold it.
#pragma once
#include <cstdint>

namespace nt::io {

// True for the ggml type ids gguf_dequantize accepts.
bool gguf_can_dequantize(uint32_t type);
// True for the ids gguf_repack accepts (Q4_0, Q8_0).
bool gguf_can_repack(uint32_t type);

// n elements (a multiple of the type's block size) of `type` at src into dst.
void gguf_dequantize(uint32_t type, const uint8_t* src, int64_t n, float* dst);

// A [rows, cols] matrix of Q4_0 or Q8_0 blocks (cols a multiple of 32) into QTensor parts:
// codes [rows, cols/2] (Q4_0) or [rows, cols] (Q8_0), scales f16 bits [rows, cols/32],
// zeros [rows, cols/32].
void gguf_repack(uint32_t type, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* codes, uint16_t* scales,
                 uint8_t* zeros);

}  // namespace nt::io
