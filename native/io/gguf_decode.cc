#include "gguf_decode.h"

#include <cstring>

#include "../core/error.h"
#include "../core/half.h"
#include "../core/thread_pool.h"

namespace nt::io {
namespace {

enum : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30 };

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
float h2f(const uint8_t* p) { return f16_to_f32(u16(p)); }

// Each decoder writes one block; the products are formed in the order gguf-py's numpy
// code forms them (f32 throughout), so the values match it bit for bit.
void q4_0(const uint8_t* b, float* y) {
  const float d = h2f(b);
  for (int i = 0; i < 16; ++i) {
    y[i] = d * float(int(b[2 + i] & 0x0F) - 8);
    y[i + 16] = d * float(int(b[2 + i] >> 4) - 8);
  }
}

void q4_1(const uint8_t* b, float* y) {
  const float d = h2f(b), m = h2f(b + 2);
  for (int i = 0; i < 16; ++i) {
    y[i] = d * float(b[4 + i] & 0x0F) + m;
    y[i + 16] = d * float(b[4 + i] >> 4) + m;
  }
}

void q8_0(const uint8_t* b, float* y) {
  const float d = h2f(b);
  for (int i = 0; i < 32; ++i) y[i] = float(static_cast<int8_t>(b[2 + i])) * d;
}

// The 6-bit scales and mins of the 8 sub-blocks of a Q4_K / Q5_K block (12 bytes).
void scale_min_k4(const uint8_t* s, uint8_t* sc, uint8_t* mn) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 0x3F;
    mn[j] = s[4 + j] & 0x3F;
    sc[4 + j] = (s[8 + j] & 0x0F) | ((s[j] >> 2) & 0x30);
    mn[4 + j] = (s[8 + j] >> 4) | ((s[4 + j] >> 2) & 0x30);
  }
}

void q4_k(const uint8_t* b, float* y) {
  const float d = h2f(b), dmin = h2f(b + 2);
  uint8_t sc[8], mn[8];
  scale_min_k4(b + 4, sc, mn);
  const uint8_t* qs = b + 16;
  for (int s = 0; s < 8; ++s) {
    const float ds = d * float(sc[s]), dm = dmin * float(mn[s]);
    const uint8_t* q = qs + (s / 2) * 32;
    const int shift = (s % 2) * 4;
    for (int i = 0; i < 32; ++i) y[s * 32 + i] = ds * float((q[i] >> shift) & 0x0F) - dm;
  }
}

void q5_k(const uint8_t* b, float* y) {
  const float d = h2f(b), dmin = h2f(b + 2);
  uint8_t sc[8], mn[8];
  scale_min_k4(b + 4, sc, mn);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int s = 0; s < 8; ++s) {
    const float ds = d * float(sc[s]), dm = dmin * float(mn[s]);
    const uint8_t* q = qs + (s / 2) * 32;
    const int shift = (s % 2) * 4;
    for (int i = 0; i < 32; ++i) {
      const int v = ((q[i] >> shift) & 0x0F) | (((qh[i] >> s) & 1) << 4);
      y[s * 32 + i] = ds * float(v) - dm;
    }
  }
}

void q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = h2f(b + 208);
  for (int e = 0; e < 256; ++e) {
    const int c = e / 128, r = e % 128;
    const int lo = (ql[c * 64 + r % 64] >> ((r / 64) * 4)) & 0x0F;
    const int hi = (qh[c * 32 + r % 32] >> ((r / 32) * 2)) & 0x03;
    const float ds = d * float(scales[e / 16]);
    y[e] = ds * float((lo | (hi << 4)) - 32);
  }
}

struct Decoder {
  int block;
  int bytes;
  void (*fn)(const uint8_t*, float*);
};

bool decoder(uint32_t type, Decoder* out) {
  switch (type) {
    case Q4_0: *out = {32, 18, q4_0}; return true;
    case Q4_1: *out = {32, 20, q4_1}; return true;
    case Q8_0: *out = {32, 34, q8_0}; return true;
    case Q4_K: *out = {256, 144, q4_k}; return true;
    case Q5_K: *out = {256, 176, q5_k}; return true;
    case Q6_K: *out = {256, 210, q6_k}; return true;
  }
  return false;
}

}  // namespace

bool gguf_can_dequantize(uint32_t type) {
  Decoder d;
  return type == F32 || type == F16 || type == BF16 || decoder(type, &d);
}

bool gguf_can_repack(uint32_t type) { return type == Q4_0 || type == Q8_0; }

void gguf_dequantize(uint32_t type, const uint8_t* src, int64_t n, float* dst) {
  if (type == F32 || type == F16 || type == BF16) {
    parallel_for(n, 1 << 16, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        if (type == F32) std::memcpy(dst + i, src + 4 * i, 4);
        else if (type == F16) dst[i] = h2f(src + 2 * i);
        else dst[i] = bf16_to_f32(u16(src + 2 * i));
      }
    });
    return;
  }
  Decoder dec;
  NT_CHECK(decoder(type, &dec), Unsupported, "ggml type ", type, " cannot be dequantized");
  NT_CHECK(n % dec.block == 0, Value, "element count ", n, " is not a multiple of the block size ", dec.block);
  parallel_for(n / dec.block, 256, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) dec.fn(src + k * dec.bytes, dst + k * dec.block);
  });
}

void gguf_repack(uint32_t type, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* codes, uint16_t* scales,
                 uint8_t* zeros) {
  NT_CHECK(gguf_can_repack(type), Unsupported, "ggml type ", type, " has no QTensor form");
  NT_CHECK(cols % 32 == 0, Value, "row length ", cols, " is not a multiple of 32");
  const int64_t groups = cols / 32;
  const bool four = type == Q4_0;
  const int64_t block_bytes = four ? 18 : 34;
  const int64_t code_row = four ? cols / 2 : cols;
  parallel_for(rows, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      for (int64_t g = 0; g < groups; ++g) {
        const uint8_t* b = src + (r * groups + g) * block_bytes;
        scales[r * groups + g] = u16(b);
        zeros[r * groups + g] = four ? 8 : 128;
        uint8_t* c = codes + r * code_row + g * (four ? 16 : 32);
        if (four) {
          // block element i is the low nibble of qs[i] (i < 16) or the high nibble of qs[i - 16];
          // QTensor column pairs (2j, 2j + 1) share a byte, low nibble first
          const uint8_t* qs = b + 2;
          for (int j = 0; j < 8; ++j) {
            c[j] = (qs[2 * j] & 0x0F) | ((qs[2 * j + 1] & 0x0F) << 4);
            c[8 + j] = (qs[2 * j] >> 4) | (qs[2 * j + 1] & 0xF0);
          }
        } else {
          for (int i = 0; i < 32; ++i) c[i] = static_cast<uint8_t>(static_cast<int8_t>(b[2 + i]) + 128);
        }
      }
    }
  });
}

}  // namespace nt::io
