// quant.gatherRows (native/quant/qgather.cc) against a plain loop: for every bit width, f32
// and f16 scales, gIdx, odd column counts and group sizes, and f32/f16/bf16/f64 outputs with
// strides, each gathered row equals scale · (code − zero) of group_quant.h computed value by
// value; bad ids, out shapes/dtypes and gIdx values are coded errors, never a crash.
#include <cstdint>
#include <functional>
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

// A quantized table with seeded codes, scales and zeros (and optionally a random gIdx).
struct Table {
  std::vector<uint8_t> codes, zeros;
  std::vector<float> scales32;
  std::vector<uint16_t> scales16;
  std::vector<int32_t> gidx;
  QParts q;
  Table(int64_t rows, int64_t cols, int bits, int64_t gs, bool f16, bool with_gidx, uint32_t seed) {
    std::mt19937 rng(seed);
    const int64_t groups = group_count(cols, gs), rb = code_row_bytes(cols, bits);
    codes.resize(size_t(rows * rb));
    for (auto& b : codes) b = uint8_t(rng());  // full bytes: 2/3-bit tables read whole nibbles too
    zeros.resize(size_t(rows * groups));
    for (auto& z : zeros) z = uint8_t(rng() % uint32_t(max_code(bits) + 1));
    std::uniform_real_distribution<float> s(0.001f, 2.0f);
    if (f16) {
      for (int64_t i = 0; i < rows * groups; ++i) scales16.push_back(f32_to_f16(s(rng)));
      q.scales = view2(scales16, DType::F16, rows, groups, groups, 1);
    } else {
      for (int64_t i = 0; i < rows * groups; ++i) scales32.push_back(s(rng));
      q.scales = view2(scales32, DType::F32, rows, groups, groups, 1);
    }
    q.codes = view2(codes, DType::U8, rows, rb, rb, 1);
    q.zeros = view2(zeros, DType::U8, rows, groups, groups, 1);
    if (with_gidx) {
      for (int64_t c = 0; c < cols; ++c) gidx.push_back(int32_t(rng() % uint32_t(groups)));
      q.gidx = view1(gidx, DType::I32, cols);
      q.has_gidx = true;
    }
    q.bits = bits;
    q.group_size = gs;
    q.rows = rows;
    q.cols = cols;
  }

  // The plain loop: element (r, c) of the dequantized table.
  float value(int64_t r, int64_t c) const {
    const int64_t groups = group_count(q.cols, q.group_size), rb = code_row_bytes(q.cols, q.bits);
    const int64_t g = q.has_gidx ? gidx[size_t(c)] : c / q.group_size;
    const float scale = q.scales.dtype == DType::F16 ? f16_to_f32(scales16[size_t(r * groups + g)]) : scales32[size_t(r * groups + g)];
    const uint8_t* row = codes.data() + r * rb;
    const int code = q.bits == 8 ? row[c] : (c & 1 ? row[c / 2] >> 4 : row[c / 2] & 15);
    return scale * float(code - int(zeros[size_t(r * groups + g)]));
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

void gather(const QParts& q, const TensorView& ids, const TensorView& out) {
  gather_rows_check(q, ids, out);
  gather_rows_run(q, ids, out);
}

}  // namespace

TEST_CASE(gathered_rows_equal_the_plain_loop_for_every_layout) {
  int bad = 0;
  for (int bits : {2, 3, 4, 8})
    for (int64_t cols : {1, 7, 33, 129})
      for (int64_t gs : {int64_t(3), int64_t(32), int64_t(128)})
        for (bool f16 : {false, true})
          for (bool with_gidx : {false, true}) {
            const int64_t rows = 13;
            Table t(rows, cols, bits, gs, f16, with_gidx, uint32_t(bits * 1000 + cols * 7 + gs));
            std::vector<int32_t> ids = {12, 0, 5, 5, 1, 12, 7};
            std::vector<float> out(ids.size() * size_t(cols), -1.0f);
            gather(t.q, view1(ids, DType::I32, int64_t(ids.size())), view2(out, DType::F32, int64_t(ids.size()), cols, cols, 1));
            for (size_t i = 0; i < ids.size(); ++i)
              for (int64_t c = 0; c < cols; ++c)
                if (out[i * size_t(cols) + size_t(c)] != t.value(ids[i], c) && bad++ < 5)
                  std::printf("  bits %d cols %lld gs %lld f16 %d gidx %d: [%zu, %lld] = %.9g, want %.9g\n", bits, (long long)cols,
                              (long long)gs, f16, with_gidx, i, (long long)c, out[i * size_t(cols) + size_t(c)], t.value(ids[i], c));
          }
  CHECK(bad == 0);
}

TEST_CASE(outputs_convert_to_every_float_dtype_through_strides) {
  const int64_t rows = 9, cols = 33, n = 4;
  Table t(rows, cols, 4, 32, true, false, 7);
  std::vector<int32_t> idbuf = {8, -1, 0, -1, 3, -1, 3, -1};  // every other element: ids stride 2
  const TensorView ids = view1(idbuf, DType::I32, n, 2);
  const int32_t picked[n] = {8, 0, 3, 3};
  // out transposed: [n, cols] with strides [1, n]
  std::vector<double> o64(size_t(n * cols));
  gather(t.q, ids, view2(o64, DType::F64, n, cols, 1, n));
  std::vector<uint16_t> o16(size_t(n * cols)), ob16(size_t(n * cols));
  gather(t.q, ids, view2(o16, DType::F16, n, cols, 1, n));
  gather(t.q, ids, view2(ob16, DType::BF16, n, cols, 1, n));
  std::vector<float> o32(size_t(n * cols));
  gather(t.q, ids, view2(o32, DType::F32, n, cols, 1, n));
  int bad = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < cols; ++c) {
      const float want = t.value(picked[i], c);
      const size_t k = size_t(c * n + i);
      bad += o64[k] != double(want);
      bad += o32[k] != want;
      bad += o16[k] != f32_to_f16(want);
      bad += ob16[k] != f32_to_bf16(want);
    }
  CHECK(bad == 0);
}

TEST_CASE(many_ids_split_over_the_pool_give_the_same_rows) {
  const int64_t rows = 64, cols = 129, n = 5000;
  Table t(rows, cols, 8, 64, false, false, 3);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 37 + 5) % rows);
  std::vector<float> out(size_t(n * cols));
  gather(t.q, view1(ids, DType::I32, n), view2(out, DType::F32, n, cols, cols, 1));
  int bad = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < cols; ++c) bad += out[size_t(i * cols + c)] != t.value(ids[size_t(i)], c);
  CHECK(bad == 0);
}

TEST_CASE(bad_ids_out_and_gidx_are_coded_errors) {
  Table t(4, 8, 4, 4, false, false, 1);
  std::vector<int32_t> ok = {0, 3}, far = {0, 4}, neg = {-1, 0};
  std::vector<float> out(16);
  std::vector<int32_t> out_i32(16);
  const TensorView o = view2(out, DType::F32, 2, 8, 8, 1);
  CHECK(code_of([&] { gather(t.q, view1(far, DType::I32, 2), o); }) == ErrorCode::Value);
  CHECK(code_of([&] { gather(t.q, view1(neg, DType::I32, 2), o); }) == ErrorCode::Value);
  // the worker checks again (ids mutated after the check)
  CHECK(code_of([&] { gather_rows_run(t.q, view1(far, DType::I32, 2), o); }) == ErrorCode::Value);
  CHECK(code_of([&] { gather(t.q, view1(ok, DType::I32, 2), view2(out, DType::F32, 2, 7, 7, 1)); }) == ErrorCode::Shape);
  CHECK(code_of([&] { gather(t.q, view1(ok, DType::I32, 2), view2(out_i32, DType::I32, 2, 8, 8, 1)); }) == ErrorCode::DType);
  CHECK(code_of([&] { gather(t.q, view2(ok, DType::I32, 1, 2, 2, 1), o); }) == ErrorCode::Shape);
  CHECK(code_of([&] { gather(t.q, view1(out, DType::F32, 2), o); }) == ErrorCode::DType);
  std::vector<int32_t> g = {0, 0, 1, 1, 2, 0, 0, 0};  // 2 groups: 2 is outside
  QParts q = t.q;
  q.gidx = view1(g, DType::I32, 8);
  q.has_gidx = true;
  CHECK(code_of([&] { gather(q, view1(ok, DType::I32, 2), o); }) == ErrorCode::Value);
  CHECK(code_of([&] { gather_rows_run(q, view1(ok, DType::I32, 2), o); }) == ErrorCode::Value);
  std::vector<int32_t> none;
  std::vector<float> empty;
  gather(t.q, view1(none, DType::I32, 0), view2(empty, DType::F32, 0, 8, 8, 1));  // n = 0: nothing to do
}

TEST_MAIN()
