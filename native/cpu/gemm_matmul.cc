// matmul over views (see gemm_matmul.h): maps each operand's last two axes onto gemm's
// (pointer, leading dimension, transpose) form and loops over the batch. An f32 a with an f16
// or bf16 b goes to the mixed-precision GEMM (half_gemm.h), which reads b's 16-bit values.
#include "gemm_matmul.h"

#include <algorithm>
#include <cstdlib>
#include <type_traits>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "gemm.h"
#include "half_gemm.h"

namespace nt {
namespace {

// One operand's matrix layout: element (i, j) of the logical (untransposed) matrix sits at
// ptr + i * ld + j when !flipped, at ptr + j * ld + i when flipped (column-major storage).
struct MatLayout {
  bool flipped = false;
  int64_t ld = 0;
  int64_t batch_stride = 0;  // 0: broadcast over the batch
  bool ok = false;
};

MatLayout layout_of(const TensorView& t) {
  MatLayout l;
  const int nd = t.ndim;
  const int64_t rows = t.shape[nd - 2], cols = t.shape[nd - 1];
  int64_t s0 = t.strides[nd - 2], s1 = t.strides[nd - 1];
  // the stride of an extent-1 axis is meaningless: pick the one that makes the layout valid
  if (cols == 1) s1 = 1;
  if (rows == 1) s0 = s1 == 1 ? cols : 1;
  if (s1 == 1) {
    l.ld = s0;
    l.ok = true;
  } else if (s0 == 1) {
    l.flipped = true;
    l.ld = s1;
    l.ok = true;
  }
  l.batch_stride = (nd == 3 && t.shape[0] != 1) ? t.strides[0] : 0;
  return l;
}

const char* kOp = "[matmul]";

void check_rank(const TensorView& t, const char* name) {
  NT_CHECK(t.ndim == 2 || t.ndim == 3, Shape, kOp, " ", name, " must be 2-D or 3-D, got shape ", shape_string(t));
}

bool is_half(DType d) { return d == DType::F16 || d == DType::BF16; }

// Row-major C = alpha op(A) op(B) + beta C; TB = uint16_t: B holds the 16-bit floats of b_dtype.
template <typename T, typename TB>
void gemm_t(DType b_dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
            const TB* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if constexpr (std::is_same_v<TB, uint16_t>) gemm_f32_half(b_dtype, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else if constexpr (sizeof(T) == 4) gemm_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else gemm_f64(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Column-major C (element (i, j) at c[j * ldc + i]) with a 16-bit B: the operands cannot swap
// sides (C^T = op(B)^T op(A)^T would put the 16-bit matrix first), so the product is formed in a
// row-major scratch and transposed into C.
void gemm_half_column_major_c(DType b_dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                              const float* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c,
                              int64_t ldc) {
  Scratch<float> rows(static_cast<size_t>(m * n));
  if (beta != 0.0f)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) rows[i * n + j] = c[j * ldc + i];
  gemm_f32_half(b_dtype, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, rows.get(), n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[j * ldc + i] = rows[i * n + j];
}

template <typename T, typename TB>
void run_typed(const TensorView& a, const TensorView& b, const TensorView& out, bool trans_a, bool trans_b,
               T alpha, T beta) {
  const int64_t m = out.shape[out.ndim - 2], n = out.shape[out.ndim - 1];
  const int64_t k = trans_a ? a.shape[a.ndim - 2] : a.shape[a.ndim - 1];
  const int64_t batch = out.ndim == 3 ? out.shape[0] : 1;
  if (m == 0 || n == 0 || batch == 0) return;
  const MatLayout la = layout_of(a), lb = layout_of(b), lc = layout_of(out);
  // op(A) with A stored as `la`: transposed storage flips the gemm transpose flag.
  const bool ga = trans_a != la.flipped, gb = trans_b != lb.flipped;
  const T* pa = a.ptr<T>();
  const TB* pb = b.ptr<TB>();
  T* pc = out.ptr<T>();
  const int64_t out_batch_stride = out.ndim == 3 ? out.strides[0] : 0;

  // C[i] for one batch entry. A column-major C is computed as C^T = op(B)^T op(A)^T.
  auto one = [&](int64_t bi) {
    const T* ai = pa + bi * la.batch_stride;
    const TB* bi_ = pb + bi * lb.batch_stride;
    T* ci = pc + bi * out_batch_stride;
    if (!lc.flipped) gemm_t<T, TB>(b.dtype, ga, gb, m, n, k, alpha, ai, la.ld, bi_, lb.ld, beta, ci, lc.ld);
    else if constexpr (std::is_same_v<TB, T>) gemm_t<T, T>(b.dtype, !gb, !ga, n, m, k, alpha, bi_, lb.ld, ai, la.ld, beta, ci, lc.ld);
    else gemm_half_column_major_c(b.dtype, ga, gb, m, n, k, alpha, ai, la.ld, bi_, lb.ld, beta, ci, lc.ld);
  };

  // A stack of row-major A's against one shared B with evenly spaced rows: one tall GEMM.
  if (batch > 1 && lb.batch_stride == 0 && !ga && !lc.flipped && la.batch_stride == m * la.ld &&
      out_batch_stride == m * lc.ld) {
    gemm_t<T, TB>(b.dtype, false, gb, batch * m, n, k, alpha, pa, la.ld, pb, lb.ld, beta, pc, lc.ld);
    return;
  }
  // Small matrices: threads over the batch (each gemm then runs on one thread); large ones:
  // one after another, each using every thread.
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(std::max<int64_t>(k, 1));
  if (batch > 1 && work < 262144.0) {
    parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t bi = b0; bi < b1; ++bi) one(bi);
    });
  } else {
    for (int64_t bi = 0; bi < batch; ++bi) one(bi);
  }
}

}  // namespace

void matmul_check(const TensorView& a, const TensorView& b, const TensorView& out, bool trans_a, bool trans_b) {
  check_rank(a, "a");
  check_rank(b, "b");
  check_rank(out, "out");
  NT_CHECK(a.dtype == DType::F32 || a.dtype == DType::F64, DType, kOp, " a must be f32 or f64, got ",
           dtype_name(a.dtype));
  // f32 activations may multiply 16-bit weights directly (read as stored, widened in registers)
  NT_CHECK(b.dtype == a.dtype || (a.dtype == DType::F32 && is_half(b.dtype)), DType, kOp, " b must have a's dtype ",
           dtype_name(a.dtype), (a.dtype == DType::F32 ? " (or f16/bf16)" : ""), ", got ", dtype_name(b.dtype));
  NT_CHECK(out.dtype == a.dtype, DType, kOp, " out must have a's dtype ", dtype_name(a.dtype), ", got ",
           dtype_name(out.dtype));
  const int64_t m = trans_a ? a.shape[a.ndim - 1] : a.shape[a.ndim - 2];
  const int64_t ka = trans_a ? a.shape[a.ndim - 2] : a.shape[a.ndim - 1];
  const int64_t kb = trans_b ? b.shape[b.ndim - 1] : b.shape[b.ndim - 2];
  const int64_t n = trans_b ? b.shape[b.ndim - 2] : b.shape[b.ndim - 1];
  NT_CHECK(ka == kb, Shape, kOp, " inner dimensions differ: a is ", shape_string(a), (trans_a ? " (transposed)" : ""),
           ", b is ", shape_string(b), (trans_b ? " (transposed)" : ""));
  const int64_t batch_a = a.ndim == 3 ? a.shape[0] : 1, batch_b = b.ndim == 3 ? b.shape[0] : 1;
  NT_CHECK(batch_a == batch_b || batch_a == 1 || batch_b == 1, Shape, kOp, " batch dimensions differ: a is ",
           shape_string(a), ", b is ", shape_string(b));
  const bool batched = a.ndim == 3 || b.ndim == 3;
  const int64_t batch = batch_a == 1 ? batch_b : batch_a;  // 1 broadcasts (also to 0)
  const bool out_ok = batched ? (out.ndim == 3 && out.shape[0] == batch && out.shape[1] == m && out.shape[2] == n)
                              : (out.ndim == 2 && out.shape[0] == m && out.shape[1] == n);
  NT_CHECK(out_ok, Shape, kOp, " out must have shape ", batched ? "[" + std::to_string(batch) + "," : std::string("["), m,
           ",", n, "], got ", shape_string(out));
  if (a.empty() || b.empty() || out.empty()) return;  // nothing is read through these layouts
  NT_CHECK(layout_of(a).ok, Value, kOp, " a needs unit stride on one of its last two axes, got strides [",
           a.strides[a.ndim - 2], ",", a.strides[a.ndim - 1], "] (make it contiguous)");
  NT_CHECK(layout_of(b).ok, Value, kOp, " b needs unit stride on one of its last two axes, got strides [",
           b.strides[b.ndim - 2], ",", b.strides[b.ndim - 1], "] (make it contiguous)");
  const MatLayout lc = layout_of(out);
  // out's elements must be distinct: rows (or columns) may not overlap
  const int64_t inner = lc.flipped ? m : n;
  NT_CHECK(lc.ok && (std::llabs(lc.ld) >= inner || (lc.flipped ? n : m) == 1), Value, kOp,
           " out needs unit stride on one of its last two axes and non-overlapping rows, got strides [",
           out.strides[out.ndim - 2], ",", out.strides[out.ndim - 1], "]");
  NT_CHECK(out.ndim != 3 || batch == 1 || std::llabs(out.strides[0]) >= 1, Value, kOp,
           " out's batch entries overlap (batch stride 0)");
}

void matmul_run(const TensorView& a, const TensorView& b, const TensorView& out, bool trans_a, bool trans_b,
                double alpha, double beta) {
  if (a.dtype == DType::F32 && is_half(b.dtype))
    run_typed<float, uint16_t>(a, b, out, trans_a, trans_b, static_cast<float>(alpha), static_cast<float>(beta));
  else if (a.dtype == DType::F32)
    run_typed<float, float>(a, b, out, trans_a, trans_b, static_cast<float>(alpha), static_cast<float>(beta));
  else
    run_typed<double, double>(a, b, out, trans_a, trans_b, alpha, beta);
}

}  // namespace nt
