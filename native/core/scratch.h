// Aligned scratch memory for kernels (packing buffers, temporaries). RAII; allocation
// failure is NT_OOM, never a crash. 64-byte alignment suits AVX-512 and cache lines.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>
#include "error.h"

namespace nt {

template <typename T>
class Scratch {
 public:
  explicit Scratch(size_t count) : count_(count) {
    if (count == 0) return;
    NT_CHECK(count <= (static_cast<size_t>(1) << 60) / sizeof(T), OOM, "scratch of ", count,
             " elements is too large");
    size_t bytes = (count * sizeof(T) + kAlign - 1) / kAlign * kAlign;
    ptr_ = static_cast<T*>(std::aligned_alloc(kAlign, bytes));
    NT_CHECK(ptr_ != nullptr, OOM, "could not allocate ", bytes, " bytes of scratch");
  }
  ~Scratch() { std::free(ptr_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  Scratch(Scratch&& o) noexcept : ptr_(o.ptr_), count_(o.count_) { o.ptr_ = nullptr; o.count_ = 0; }

  T* get() const { return ptr_; }
  T& operator[](size_t i) const { return ptr_[i]; }
  size_t size() const { return count_; }

  static constexpr size_t kAlign = 64;

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

}  // namespace nt
