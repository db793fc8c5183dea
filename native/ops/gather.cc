// Row gather (embedding lookup): out[r, :] = table[ids[r], :]. Every id is validated on the
// worker as well as at bind time, so ids mutated between the two (an async call) still
// cannot read outside the table.
#include <algorithm>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "float_block.h"
#include "model_ops.h"

namespace nt::ops {
namespace {

int32_t id_at(const TensorView& ids, int64_t r) {
  return reinterpret_cast<const int32_t*>(ids.data)[ids.offset + r * ids.strides[0]];
}

void check_ids(const TensorView& table, const TensorView& ids) {
  const int64_t rows = table.shape[0];
  for (int64_t r = 0; r < ids.shape[0]; ++r) {
    const int32_t id = id_at(ids, r);
    NT_CHECK(id >= 0 && id < rows, Value, "[gatherRows] ids[", r, "] = ", id, " is out of range for a table of ", rows,
             " rows");
  }
}

template <typename T>
void gather_typed(const TensorView& table, const TensorView& ids, const TensorView& out) {
  const int64_t n = ids.shape[0], cols = table.shape[1];
  const int64_t st = table.strides[1], so = out.strides[1];
  parallel_for(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)), [&](int64_t b, int64_t e) {
    Scratch<T> buf(static_cast<size_t>(cols));
    for (int64_t r = b; r < e; ++r) {
      const int64_t id = id_at(ids, r);
      load_run<T>(elem_ptr(table, id * table.strides[0]), table.dtype, st, cols, buf.get());
      store_run<T>(buf.get(), elem_ptr(out, r * out.strides[0]), out.dtype, so, cols);
    }
  });
}

}  // namespace

void gather_rows_check(const TensorView& table, const TensorView& ids, const TensorView& out) {
  const TensorView* views[2] = {&table, &out};
  const char* names[2] = {"table", "out"};
  check_float_family("gatherRows", views, names, 2);
  NT_CHECK(table.ndim == 2, Shape, "[gatherRows] table must be 2-D [rows, cols], got ", shape_string(table));
  NT_CHECK(ids.dtype == DType::I32, DType, "[gatherRows] ids must be i32, got ", dtype_name(ids.dtype));
  NT_CHECK(ids.ndim == 1, Shape, "[gatherRows] ids must be 1-D, got ", shape_string(ids));
  NT_CHECK(out.ndim == 2 && out.shape[0] == ids.shape[0] && out.shape[1] == table.shape[1], Shape,
           "[gatherRows] out must have shape [", ids.shape[0], ", ", table.shape[1], "], got ", shape_string(out));
  check_ids(table, ids);
}

void gather_rows_run(const TensorView& table, const TensorView& ids, const TensorView& out) {
  if (out.numel() == 0) return;
  check_ids(table, ids);
  if (table.dtype == DType::F64) gather_typed<double>(table, ids, out);
  else gather_typed<float>(table, ids, out);
}

}  // namespace nt::ops
