// Shared by the GEAR kernels (gear_compress.cc, gear_attention.cc): side-storage access (f16 or
// f32), code packing, the group map of each layout and the per-slice D̂ decoder.
#pragma once
#include <cstdint>
#include <cstring>

#include "../core/half.h"
#include "../core/tensor_view.h"
#include "../cpu/kernels.h"
#include "gear.h"
#include "gear_kernels.h"

namespace nt::kvcache::detail {

inline float side_get(const TensorView& v, int64_t i) {
  return v.dtype == DType::F16 ? f16_to_f32(v.ptr<uint16_t>()[i]) : v.ptr<float>()[i];
}
inline void side_put(const TensorView& v, int64_t i, float x) {
  if (v.dtype == DType::F16) v.ptr<uint16_t>()[i] = f32_to_f16(x);
  else v.ptr<float>()[i] = x;
}
// x as the side storage will hold it.
inline float side_round(DType dt, float x) { return dt == DType::F16 ? f16_to_f32(f32_to_f16(x)) : x; }
// n consecutive side values starting at element i, as f32.
inline void side_load(const TensorView& v, int64_t i, int64_t n, float* dst) {
  if (v.dtype == DType::F16) {
    kernels().f16_to_f32(v.ptr<uint16_t>() + i, dst, n);  // F16C where the CPU has it
  } else {
    std::memcpy(dst, v.ptr<float>() + i, static_cast<size_t>(n) * sizeof(float));
  }
}

// Group of element (t, j) = row_base(t) + col_map[j] (see gear.h).
struct GroupMap {
  int64_t row_mul = 0, row_div = 1;  // row_base(t) = (t / row_div) * row_mul
  bool per_channel = false;          // col part: j (KIVI key) or j / group (KIVI value)
  int64_t group = 1;
  GroupMap(const GearParams& prm, int64_t d) {
    group = prm.group;
    if (prm.layout == GearLayout::Uniform) return;
    if (prm.kind == GearKind::Key) {
      row_div = prm.group;
      row_mul = d;
      per_channel = true;
    } else {
      row_mul = (d + prm.group - 1) / prm.group;
      row_div = 1;
    }
  }
  int64_t row_base(int64_t t) const { return (t / row_div) * row_mul; }
  int64_t col(int64_t j) const { return per_channel ? j : (row_mul == 0 ? 0 : j / group); }
};

// codes of row t (d elements starting at element t·d of the slice) -> integer values as f32.
inline void unpack_row(const uint8_t* codes, int bits, int64_t t, int64_t d, float* dst) {
  const int64_t e0 = t * d;
  const int per = 8 / bits;
  const uint32_t mask = (1u << bits) - 1;
  if ((e0 * bits) % 8 == 0) {
    const uint8_t* p = codes + (e0 * bits) / 8;
    const int64_t full = d / per;
    if (bits == 4) {
      for (int64_t b = 0; b < full; ++b) {
        dst[2 * b] = static_cast<float>(p[b] & 15u);
        dst[2 * b + 1] = static_cast<float>(p[b] >> 4);
      }
    } else {
      for (int64_t b = 0; b < full; ++b) {
        dst[4 * b] = static_cast<float>(p[b] & 3u);
        dst[4 * b + 1] = static_cast<float>((p[b] >> 2) & 3u);
        dst[4 * b + 2] = static_cast<float>((p[b] >> 4) & 3u);
        dst[4 * b + 3] = static_cast<float>(p[b] >> 6);
      }
    }
    for (int64_t j = full * per; j < d; ++j) {
      const int64_t bit = (e0 + j) * bits;
      dst[j] = static_cast<float>((codes[bit >> 3] >> (bit & 7)) & mask);
    }
    return;
  }
  for (int64_t j = 0; j < d; ++j) {
    const int64_t bit = (e0 + j) * bits;
    dst[j] = static_cast<float>((codes[bit >> 3] >> (bit & 7)) & mask);
  }
}

// D̂ of slice s (n x d, row-major) from its codes and group ranges. lo/step: scratch of
// gear_groups() floats. Byte-aligned runs go through the dispatched dequant kernels.
inline void decode_slice(const GearBlock& blk, const GearParams& prm, int64_t s, int64_t n, int64_t d, float* out,
                         float* lo, float* step) {
  const GearKernels& k = gear_kernels();
  const int64_t groups = gear_groups(prm, n, d);
  side_load(blk.mins, s * groups, groups, lo);
  side_load(blk.scales, s * groups, groups, step);
  const uint8_t* codes = blk.codes.ptr<uint8_t>() + s * gear_code_bytes(prm, n, d);
  const GroupMap gm(prm, d);
  const int bits = prm.bits;
  for (int64_t t = 0; t < n; ++t) {
    float* row = out + t * d;
    const int64_t base = gm.row_base(t);
    const int64_t e0 = t * d;
    if (gm.per_channel || gm.row_mul == 0) {
      if ((e0 * bits) % 8 == 0) {
        if (gm.per_channel) k.dequant_channels(codes + e0 * bits / 8, bits, d, lo + base, step + base, row);
        else k.dequant_scalar(codes + e0 * bits / 8, bits, d, lo[0], step[0], row);
        continue;
      }
      unpack_row(codes, bits, t, d, row);
      if (gm.per_channel) {
        for (int64_t j = 0; j < d; ++j) row[j] = lo[base + j] + step[base + j] * row[j];
      } else {
        for (int64_t j = 0; j < d; ++j) row[j] = lo[0] + step[0] * row[j];
      }
      continue;
    }
    for (int64_t j0 = 0, g = base; j0 < d; j0 += gm.group, ++g) {
      const int64_t j1 = j0 + gm.group < d ? j0 + gm.group : d;
      if (((e0 + j0) * bits) % 8 == 0) {
        k.dequant_scalar(codes + (e0 + j0) * bits / 8, bits, j1 - j0, lo[g], step[g], row + j0);
        continue;
      }
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t bit = (e0 + j) * bits;
        row[j] = lo[g] + step[g] * static_cast<float>((codes[bit >> 3] >> (bit & 7)) & ((1u << bits) - 1));
      }
    }
  }
}

// Position (t, j) in the slice of outlier m of vector v.
inline void outlier_position(const GearParams& prm, int64_t v, int32_t idx, int64_t* t, int64_t* j) {
  if (prm.kind == GearKind::Key) {
    *t = idx;
    *j = v;
  } else {
    *t = v;
    *j = idx;
  }
}

}  // namespace nt::kvcache::detail
