#include "tensor_view.h"
#include <sstream>

namespace nt {

void TensorView::check_bounds(const char* what) const {
  NT_CHECK(dtype_valid(static_cast<int32_t>(dtype)), DType, what, ": unknown dtype code ",
           static_cast<int32_t>(dtype));
  NT_CHECK(ndim >= 0 && ndim <= kMaxDims, Shape, what, ": rank ", ndim, " exceeds ", kMaxDims);
  if (numel() == 0) {
    for (int i = 0; i < ndim; ++i) NT_CHECK(shape[i] >= 0, Shape, what, ": negative extent");
    return;
  }
  // Reachable element range [lo, hi] of the view; must sit inside the storage.
  int64_t lo = offset, hi = offset;
  for (int i = 0; i < ndim; ++i) {
    NT_CHECK(shape[i] > 0, Shape, what, ": negative extent ", shape[i]);
    int64_t span = 0;
    NT_CHECK(!__builtin_mul_overflow(shape[i] - 1, strides[i], &span) &&
                 !__builtin_add_overflow(span < 0 ? lo : hi, span, span < 0 ? &lo : &hi),
             Value, what, ": view extent overflows");
  }
  const uint64_t capacity = dtype_packed(dtype) ? storage_bytes * 2 : storage_bytes / (dtype_bits(dtype) / 8);
  NT_CHECK(lo >= 0 && static_cast<uint64_t>(hi) < capacity, Value, what,
           ": view reaches elements [", lo, ", ", hi, "] outside its storage of ", capacity, " elements");
}

bool same_shape(const TensorView& a, const TensorView& b) {
  if (a.ndim != b.ndim) return false;
  for (int i = 0; i < a.ndim; ++i)
    if (a.shape[i] != b.shape[i]) return false;
  return true;
}

std::string shape_string(const TensorView& t) {
  std::ostringstream os;
  os << '[';
  for (int i = 0; i < t.ndim; ++i) os << (i ? "," : "") << t.shape[i];
  os << ']';
  return os.str();
}

}  // namespace nt
