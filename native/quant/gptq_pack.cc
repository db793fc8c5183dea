// Conversion between the QTensor codes/zeros (group_quant.h) and the AutoGPTQ / Hugging Face
// "gptq" checkpoint tensors qweight and qzeros (bit streams in int32 words, quant_ops.h).
// Scales and g_idx need no bit work and are converted in lib/quant/gptq-format.ts.
#include <algorithm>
#include <cstring>

#include "../core/thread_pool.h"
#include "group_quant.h"
#include "quant_ops.h"
#include "quant_util.h"

namespace nt::quant {
namespace {

void check_gptq(const char* op, const QParts& q, const TensorView& qweight, const TensorView& qzeros, int zero_offset) {
  check_parts(op, q, false);
  NT_CHECK(zero_offset == 0 || zero_offset == 1, Value, "[", op, "] zero offset must be 0 (gptq_v2) or 1 (v1), got ",
           zero_offset);
  NT_CHECK(q.cols * q.bits % 32 == 0, Shape, "[", op, "] the GPTQ format needs in features · bits to be a multiple of 32, got ",
           q.cols, " · ", q.bits);
  NT_CHECK(q.rows * q.bits % 32 == 0, Shape, "[", op, "] the GPTQ format needs out features · bits to be a multiple of 32, got ",
           q.rows, " · ", q.bits);
  check_2d(op, qweight, "qweight", DType::I32, q.cols * q.bits / 32, q.rows);
  check_2d(op, qzeros, "qzeros", DType::I32, group_count(q.cols, q.group_size), q.rows * q.bits / 32);
}

int32_t* i32_at(const TensorView& v, int64_t i, int64_t j) { return static_cast<int32_t*>(v.data) + at2(v, i, j); }

}  // namespace

void gptq_pack_check(const QParts& q, const TensorView& qweight, const TensorView& qzeros, int zero_offset) {
  check_gptq("quant.toGptq", q, qweight, qzeros, zero_offset);
}

void gptq_unpack_check(const TensorView& qweight, const TensorView& qzeros, const QParts& q, int zero_offset) {
  check_gptq("quant.fromGptq", q, qweight, qzeros, zero_offset);
}

void gptq_pack_run(const QParts& q, const TensorView& qweight, const TensorView& qzeros, int zero_offset) {
  const int bits = q.bits, maxq = max_code(bits);
  const int64_t rows = q.rows, cols = q.cols, groups = group_count(cols, q.group_size);
  const int64_t words = cols * bits / 32, zwords = rows * bits / 32;
  // Row n of the codes is column n of qweight: one writer per column.
  parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(words, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const uint8_t* crow = code_row(q.codes, n);
      for (int64_t i = 0; i < words; ++i)
        *i32_at(qweight, i, n) = int32_t(pack_stream_word(i, bits, cols, [&](int64_t k) { return read_code(crow, k, bits); }));
    }
  });
  const uint8_t* z = q.zeros.bytes();
  parallel_for(groups, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g)
      for (int64_t j = 0; j < zwords; ++j)
        *i32_at(qzeros, g, j) = int32_t(pack_stream_word(j, bits, rows, [&](int64_t n) {
          return (int(z[at2(q.zeros, n, g)]) - zero_offset) & maxq;
        }));
  });
}

void gptq_unpack_run(const TensorView& qweight, const TensorView& qzeros, const QParts& q, int zero_offset) {
  const int bits = q.bits, maxq = max_code(bits);
  const int64_t rows = q.rows, cols = q.cols, groups = group_count(cols, q.group_size);
  const int64_t row_bytes = code_row_bytes(cols, bits);
  uint8_t* z = q.zeros.bytes();
  parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      uint8_t* crow = code_row(q.codes, n);
      std::memset(crow, 0, size_t(row_bytes));
      const auto word = [&](int64_t i) { return uint32_t(*i32_at(qweight, i, n)); };
      for (int64_t k = 0; k < cols; ++k) write_code(crow, k, bits, unpack_stream_code(k, bits, word));
      for (int64_t g = 0; g < groups; ++g) {
        const int stored = unpack_stream_code(n, bits, [&](int64_t j) { return uint32_t(*i32_at(qzeros, g, j)); });
        z[at2(q.zeros, n, g)] = uint8_t((stored + zero_offset) & maxq);
      }
    }
  });
}

}  // namespace nt::quant
