// Dequantization of a QTensor (group_quant.h layout) into f32: x̂ = scale · (q − zero), with
// the group of column c given by gIdx[c] (GPTQ act-order) or c / groupSize. One row per task.
#include <algorithm>
#include <vector>

#include "../core/thread_pool.h"
#include "group_quant.h"
#include "quant_ops.h"
#include "quant_util.h"

namespace nt::quant {
namespace {
constexpr const char* kOp = "quant.dequantize";
}

void dequantize_check(const QParts& q, const TensorView& out) {
  check_parts(kOp, q);
  check_2d(kOp, out, "out", DType::F32, q.rows, q.cols);
}

void dequantize_run(const QParts& q, const TensorView& out) {
  const int64_t rows = q.rows, cols = q.cols, gs = q.group_size;
  if (rows == 0 || cols == 0) return;
  const int bits = q.bits;
  const int64_t groups = group_count(cols, gs);
  const int32_t* gidx = q.has_gidx ? static_cast<const int32_t*>(q.gidx.data) + q.gidx.offset : nullptr;
  const int64_t gstride = q.has_gidx ? q.gidx.strides[0] : 0;
  parallel_for(rows, std::max<int64_t>(1, 16384 / cols), [&](int64_t begin, int64_t end) {
    std::vector<GroupParams> params(static_cast<size_t>(groups));
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t g = 0; g < groups; ++g) params[size_t(g)] = {load_scale(q.scales, r, g), q.zeros.bytes()[at2(q.zeros, r, g)]};
      const uint8_t* crow = code_row(q.codes, r);
      float* o = static_cast<float*>(out.data) + out.offset + r * out.strides[0];
      const int64_t os = out.strides[1];
      if (gidx) {
        for (int64_t c = 0; c < cols; ++c)
          o[c * os] = dequantize_value(read_code(crow, c, bits), params[size_t(gidx[c * gstride])]);
      } else if (bits == 8) {
        for (int64_t g = 0; g < groups; ++g) {
          const GroupParams p = params[size_t(g)];
          for (int64_t c = g * gs, c1 = std::min(cols, c + gs); c < c1; ++c) o[c * os] = dequantize_value(crow[c], p);
        }
      } else {
        // Nibble codes: the 16 values of the group's grid, then one table lookup per code
        // (the same products as dequantize_value, so the result is identical).
        float lut[16];
        for (int64_t g = 0; g < groups; ++g) {
          for (int v = 0; v < 16; ++v) lut[v] = dequantize_value(v, params[size_t(g)]);
          int64_t c = g * gs;
          const int64_t c1 = std::min(cols, c + gs);
          if (c < c1 && (c & 1)) {
            o[c * os] = lut[crow[c >> 1] >> 4];
            ++c;
          }
          if (os == 1) {
            for (; c + 1 < c1; c += 2) {
              const uint8_t b = crow[c >> 1];
              o[c] = lut[b & 15];
              o[c + 1] = lut[b >> 4];
            }
          } else {
            for (; c + 1 < c1; c += 2) {
              const uint8_t b = crow[c >> 1];
              o[c * os] = lut[b & 15];
              o[(c + 1) * os] = lut[b >> 4];
            }
          }
          if (c < c1) o[c * os] = lut[crow[c >> 1] & 15];
        }
      }
    }
  });
}

}  // namespace nt::quant
