// nt.quant kernels: the group grid (group_quant.h), nibble packing, the GPTQ bit streams
// (all bit widths, including 3-bit words that straddle int32 boundaries, against AutoGPTQ's
// own packing loop), RTN on strided f32/f16 views, dequantization with gIdx, and 2:4 pruning.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "check.h"
#include "views.h"
#include "core/error.h"
#include "core/half.h"
#include "quant/group_quant.h"
#include "quant/quant_ops.h"

using namespace nt;
using namespace nt::quant;

namespace {

using nt_test::view1;
using nt_test::view2;

const auto kIdentity = [](float s) { return s; };
const auto kF16 = [](float s) { return f16_to_f32(f32_to_f16(s)); };

struct Parts {
  std::vector<uint8_t> codes, zeros;
  std::vector<float> scales32;
  std::vector<uint16_t> scales16;
  std::vector<int32_t> gidx;
  QParts q;
  Parts(int64_t rows, int64_t cols, int bits, int64_t gs, bool f16) {
    const int64_t groups = group_count(cols, gs), rb = code_row_bytes(cols, bits);
    codes.assign(size_t(rows * rb), 0xAB);  // garbage: kernels must not rely on zeroed codes
    zeros.assign(size_t(rows * groups), 0);
    q.codes = view2(codes, DType::U8, rows, rb, rb, 1);
    q.zeros = view2(zeros, DType::U8, rows, groups, groups, 1);
    if (f16) {
      scales16.assign(size_t(rows * groups), 0);
      q.scales = view2(scales16, DType::F16, rows, groups, groups, 1);
    } else {
      scales32.assign(size_t(rows * groups), 0);
      q.scales = view2(scales32, DType::F32, rows, groups, groups, 1);
    }
    q.bits = bits;
    q.group_size = gs;
    q.rows = rows;
    q.cols = cols;
  }
};

ErrorCode code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::Internal;
}

}  // namespace

TEST_CASE(grid_parameters) {
  GroupParams a = group_params(-1.0f, 2.0f, 4, false, kIdentity);
  CHECK_CLOSE(a.scale, 0.2, 1e-7);
  CHECK(a.zero == 5);
  GroupParams s = group_params(-1.0f, 2.0f, 4, true, kIdentity);
  CHECK_CLOSE(s.scale, 4.0 / 15, 1e-7);
  CHECK(s.zero == 8);
  // The range always contains 0: a positive-only group has zero 0.
  GroupParams p = group_params(0.5f, 2.0f, 3, false, kIdentity);
  CHECK(p.zero == 0);
  CHECK_CLOSE(p.scale, 2.0 / 7, 1e-7);
  // Constant groups: scale 1 for all-zero, every code equals the zero point.
  for (bool sym : {false, true}) {
    GroupParams z = group_params(0.0f, 0.0f, 4, sym, kIdentity);
    CHECK(z.scale == 1.0f);
    CHECK(quantize_value(0.0f, z, 4) == z.zero);
    CHECK(dequantize_value(quantize_value(0.0f, z, 4), z) == 0.0f);
  }
  GroupParams c = group_params(0.75f, 0.75f, 4, false, kIdentity);
  CHECK(dequantize_value(quantize_value(0.75f, c, 4), c) == 0.75f);
  // f16 rounding of the scale happens before the zero is chosen.
  GroupParams h = group_params(-0.1f, 0.3f, 4, false, kF16);
  CHECK(h.scale == kF16(0.4f / 15));
}

TEST_CASE(representable_grids_round_trip_exactly) {
  for (int bits : {2, 3, 4, 8}) {
    const int maxq = max_code(bits);
    for (int zero = 0; zero <= maxq; zero += std::max(1, maxq / 5)) {
      const float scale = 0.0078125f;  // 2^-7: every grid point exact in f32
      const GroupParams want{scale, zero};
      const GroupParams got = group_params(scale * float(-zero), scale * float(maxq - zero), bits, false, kIdentity);
      CHECK(got.scale == scale);
      CHECK(got.zero == zero);
      for (int q = 0; q <= maxq; ++q) CHECK(quantize_value(dequantize_value(q, want), got, bits) == q);
    }
  }
}

TEST_CASE(nibble_codes) {
  for (int bits : {2, 3, 4, 8}) {
    const int64_t cols = 7;
    std::vector<uint8_t> row(size_t(code_row_bytes(cols, bits)), 0);
    for (int64_t c = 0; c < cols; ++c) write_code(row.data(), c, bits, int((c * 5 + 3) & max_code(bits)));
    for (int64_t c = 0; c < cols; ++c) CHECK(read_code(row.data(), c, bits) == int((c * 5 + 3) & max_code(bits)));
  }
  std::vector<uint8_t> row(1, 0);
  write_code(row.data(), 0, 4, 0x3);
  write_code(row.data(), 1, 4, 0xA);
  CHECK(row[0] == 0xA3);  // low nibble = even column
}

// AutoGPTQ's QuantLinear.pack loop for one column, bits 2/4/8 and 3 (the 10/1/10/1/10 pattern).
std::vector<uint32_t> autogptq_pack(const std::vector<uint32_t>& w, int bits) {
  std::vector<uint32_t> q(w.size() * bits / 32, 0);
  size_t i = 0, row = 0;
  if (bits != 3) {
    while (row < q.size()) {
      for (size_t j = i; j < i + 32 / bits; ++j) q[row] |= w[j] << (bits * (j - i));
      i += 32 / bits;
      ++row;
    }
    return q;
  }
  while (row < q.size()) {
    for (size_t j = i; j < i + 10; ++j) q[row] |= w[j] << (3 * (j - i));
    i += 10;
    q[row] |= w[i] << 30;
    ++row;
    q[row] |= (w[i] >> 2) & 1;
    ++i;
    for (size_t j = i; j < i + 10; ++j) q[row] |= w[j] << (3 * (j - i) + 1);
    i += 10;
    q[row] |= w[i] << 31;
    ++row;
    q[row] |= (w[i] >> 1) & 0x3;
    ++i;
    for (size_t j = i; j < i + 10; ++j) q[row] |= w[j] << (3 * (j - i) + 2);
    i += 10;
    ++row;
  }
  return q;
}

TEST_CASE(bit_streams_match_autogptq) {
  std::mt19937 rng(7);
  for (int bits : {2, 3, 4, 8}) {
    std::vector<uint32_t> codes(96);
    for (auto& c : codes) c = rng() & uint32_t(max_code(bits));
    const auto want = autogptq_pack(codes, bits);
    for (size_t w = 0; w < want.size(); ++w) {
      const uint32_t got = pack_stream_word(int64_t(w), bits, int64_t(codes.size()), [&](int64_t k) { return int(codes[size_t(k)]); });
      CHECK(got == want[w]);
    }
    for (size_t k = 0; k < codes.size(); ++k)
      CHECK(unpack_stream_code(int64_t(k), bits, [&](int64_t w) { return want[size_t(w)]; }) == int(codes[k]));
  }
}

TEST_CASE(rtn_strided_f32_and_f16_scales) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-2.0f, 1.0f);
  const int64_t rows = 5, cols = 13, gs = 4;  // partial last group (13 = 3·4 + 1)
  // W stored transposed: element (r, c) at c·rows + r (strides [1, rows]).
  std::vector<float> buf(size_t(rows * cols));
  for (auto& v : buf) v = u(rng);
  const TensorView w = view2(buf, DType::F32, rows, cols, 1, rows);
  for (int bits : {2, 3, 4, 8}) {
    for (bool f16 : {false, true}) {
      for (bool sym : {false, true}) {
        Parts p(rows, cols, bits, gs, f16);
        rtn_check(w, p.q);
        rtn_run(w, p.q, sym);
        std::vector<float> out(size_t(rows * cols));
        const TensorView o = view2(out, DType::F32, rows, cols, cols, 1);
        dequantize_check(p.q, o);
        dequantize_run(p.q, o);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t g = 0; g < group_count(cols, gs); ++g) {
            float lo = 0, hi = 0;
            for (int64_t c = g * gs; c < std::min(cols, g * gs + gs); ++c) {
              lo = std::min(lo, buf[size_t(c * rows + r)]);
              hi = std::max(hi, buf[size_t(c * rows + r)]);
            }
            const GroupParams want = f16 ? group_params(lo, hi, bits, sym, kF16) : group_params(lo, hi, bits, sym, kIdentity);
            const float scale = f16 ? f16_to_f32(p.scales16[size_t(r * 4 + g)]) : p.scales32[size_t(r * 4 + g)];
            CHECK(scale == want.scale);
            CHECK(int(p.zeros[size_t(r * 4 + g)]) == want.zero);
            for (int64_t c = g * gs; c < std::min(cols, g * gs + gs); ++c) {
              const float x = buf[size_t(c * rows + r)];
              CHECK(read_code(&p.codes[size_t(r * code_row_bytes(cols, bits))], c, bits) == quantize_value(x, want, bits));
              // half a step, plus the clipping the f16-rounded scale can cause at the range ends
              const double tol = 0.5 * scale * (1 + 1e-6) + (f16 ? max_code(bits) * scale / 2048.0 : 0) + 1e-6;
              CHECK_CLOSE(out[size_t(r * cols + c)], x, tol);
            }
          }
        }
      }
    }
  }
}

TEST_CASE(rtn_refuses_nonfinite_and_f16_overflow) {
  std::vector<float> buf = {1, 2, 3, 4, 5, NAN, 7, 8};
  const TensorView w = view2(buf, DType::F32, 2, 4, 4, 1);
  Parts p(2, 4, 4, 4, true);
  CHECK(code_of([&] { rtn_run(w, p.q, false); }) == ErrorCode::Value);
  std::vector<float> big = {-1e6f, 1e6f, 0, 0};
  Parts p16(1, 4, 4, 4, true);
  CHECK(code_of([&] { rtn_run(view2(big, DType::F32, 1, 4, 4, 1), p16.q, false); }) == ErrorCode::Value);
  Parts p32(1, 4, 4, 4, false);
  rtn_run(view2(big, DType::F32, 1, 4, 4, 1), p32.q, false);
  CHECK(p32.scales32[0] == 2e6f / 15);
}

TEST_CASE(dequantize_with_gidx_and_checks) {
  const int64_t rows = 2, cols = 6, gs = 2;
  Parts p(rows, cols, 4, gs, false);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) write_code(&p.codes[size_t(r * 3)], c, 4, int(c + r));
  for (int i = 0; i < 6; ++i) {
    p.scales32[size_t(i)] = float(i + 1);
    p.zeros[size_t(i)] = uint8_t(i);
  }
  p.gidx = {2, 0, 1, 2, 0, 1};
  p.q.gidx = view1(p.gidx, DType::I32, cols);
  p.q.has_gidx = true;
  std::vector<float> out(size_t(rows * cols));
  const TensorView o = view2(out, DType::F32, rows, cols, cols, 1);
  dequantize_check(p.q, o);
  dequantize_run(p.q, o);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t g = p.gidx[size_t(c)];
      CHECK(out[size_t(r * cols + c)] == float(r * 3 + g + 1) * float(c + r - (r * 3 + g)));
    }
  p.gidx[1] = 3;  // out of range
  CHECK(code_of([&] { dequantize_check(p.q, o); }) == ErrorCode::Value);
  p.gidx[1] = 0;
  p.q.bits = 5;
  CHECK(code_of([&] { dequantize_check(p.q, o); }) == ErrorCode::Value);
  p.q.bits = 8;  // codes shape no longer matches (8-bit rows hold cols bytes)
  CHECK(code_of([&] { dequantize_check(p.q, o); }) == ErrorCode::Shape);
}

TEST_CASE(prune24_keeps_two_largest) {
  std::vector<float> w = {1, -4, 3, 2, /**/ 0, 0, 0, 0, /**/ 5, 5, 5, 5, /**/ -1, 0.5f, -0.25f, 2};
  std::vector<float> out(w.size(), 9.0f);
  const TensorView wv = view2(w, DType::F32, 2, 8, 8, 1), ov = view2(out, DType::F32, 2, 8, 8, 1);
  prune24_check(wv, nullptr, ov);
  prune24_run(wv, nullptr, ov);
  const std::vector<float> want = {0, -4, 3, 0, /**/ 0, 0, 0, 0, /**/ 5, 5, 0, 0, /**/ -1, 0, 0, 2};
  for (size_t i = 0; i < w.size(); ++i) CHECK(out[i] == want[i]);
  // Wanda: the norms change the choice.
  std::vector<double> norms = {10, 1, 1, 1, 1, 1, 1, 1};
  TensorView nv = view1(norms, DType::F64, 8);
  prune24_run(wv, &nv, ov);
  CHECK(out[0] == 1 && out[1] == -4 && out[2] == 0 && out[3] == 0);
  norms[2] = -1;
  CHECK(code_of([&] { prune24_run(wv, &nv, ov); }) == ErrorCode::Value);
  const TensorView bad = view2(w, DType::F32, 2, 6, 8, 1);
  std::vector<float> out6(12);
  CHECK(code_of([&] { prune24_check(bad, nullptr, view2(out6, DType::F32, 2, 6, 6, 1)); }) == ErrorCode::Shape);
}

TEST_CASE(gptq_pack_unpack_round_trip) {
  std::mt19937 rng(3);
  for (int bits : {2, 3, 4, 8}) {
    for (int offset : {0, 1}) {
      const int64_t rows = 32, cols = 96, gs = 32, groups = 3;
      Parts p(rows, cols, bits, gs, false);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) write_code(&p.codes[size_t(r * code_row_bytes(cols, bits))], c, bits, int(rng() & max_code(bits)));
      for (auto& z : p.zeros) z = uint8_t(rng() & max_code(bits));
      p.zeros[0] = 0;  // the v1 wrap-around case
      std::vector<int32_t> qw(size_t(cols * bits / 32 * rows)), qz(size_t(groups * rows * bits / 32));
      const TensorView qwv = view2(qw, DType::I32, cols * bits / 32, rows, rows, 1);
      const TensorView qzv = view2(qz, DType::I32, groups, rows * bits / 32, rows * bits / 32, 1);
      gptq_pack_check(p.q, qwv, qzv, offset);
      gptq_pack_run(p.q, qwv, qzv, offset);
      // qweight column 0 is AutoGPTQ's packing of row 0's codes
      std::vector<uint32_t> col0(static_cast<size_t>(cols));
      for (int64_t c = 0; c < cols; ++c) col0[size_t(c)] = uint32_t(read_code(p.codes.data(), c, bits));
      const auto want = autogptq_pack(col0, bits);
      for (size_t i = 0; i < want.size(); ++i) CHECK(uint32_t(qw[i * rows]) == want[i]);
      CHECK(unpack_stream_code(0, bits, [&](int64_t j) { return uint32_t(qz[size_t(j)]); }) == ((0 - offset) & max_code(bits)));
      Parts back(rows, cols, bits, gs, false);
      gptq_unpack_check(qwv, qzv, back.q, offset);
      gptq_unpack_run(qwv, qzv, back.q, offset);
      CHECK(back.codes == p.codes);
      CHECK(back.zeros == p.zeros);
    }
  }
  Parts odd(8, 12, 4, 4, false);  // 12 · 4 is not a multiple of 32
  std::vector<int32_t> qw(8), qz(3);
  CHECK(code_of([&] {
          gptq_pack_check(odd.q, view2(qw, DType::I32, 1, 8, 8, 1), view2(qz, DType::I32, 3, 1, 1, 1), 1);
        }) == ErrorCode::Shape);
}

TEST_MAIN()
