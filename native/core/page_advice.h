// Page-level hints for large fresh buffers.
#pragma once
#include <cstddef>

namespace nt {

// Asks the kernel to back the 2 MiB-aligned interior of [p, p + bytes) with transparent huge
// pages (Linux, THP in "madvise" mode). A fresh 64 MB output otherwise costs ~16K page
// faults on first touch, more than an out-of-cache conversion of it. Returns whether the
// advice was given; a no-op elsewhere and for buffers under 4 MiB.
bool advise_huge_pages(void* p, size_t bytes);

}  // namespace nt
