// The one thread pool of the core. parallel_for splits [0, n) into chunks of at least
// `grain` items over the pool; results must not depend on the thread count beyond
// rounding, so kernels give each chunk a fixed, index-determined piece of work.
#pragma once
#include <cstdint>
#include <functional>

namespace nt {

// Number of threads parallel kernels use (>= 1). Default: hardware concurrency.
int num_threads();
// Resize the pool; n <= 0 restores the default. Thread-safe.
void set_num_threads(int n);

// fn(begin, end) is called for disjoint subranges covering [0, n). Runs inline when the
// work is small, when only one thread is configured, or when the pool is already busy
// (a nested call or a concurrent async op): never deadlocks, always completes.
// The first exception thrown by fn is rethrown in the caller after all chunks finish.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace nt
