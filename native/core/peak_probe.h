// Roofline probes for `ntensor bench`: the FMA throughput this CPU sustains from registers
// (no memory traffic) and the rate it streams a buffer far larger than the last-level cache.
// Both run the best ISA the CPU supports at or below the NTENSOR_ISA cap, the same ceiling
// the kernels obey, so a capped run is compared with the peak of its own ISA.
#pragma once
#include <cstdint>
#include <string>

namespace nt::bench {

struct ProbeIsa {
  // "avx512", "avx2", "sse2" (x86-64 under NTENSOR_ISA=scalar or without AVX2: mul + add),
  // or "baseline" off x86 (what the compiler makes of plain C++)
  std::string name;
  int lanes_f32;  // f32 lanes per vector (1 for baseline: counted per scalar op)
};

// The ISA both probes use on this CPU under the current cap.
ProbeIsa probe_isa();

// Runs `threads` threads (the caller is one), each doing `iterations` steps of independent
// multiply-adds on `f64 ? double : float` vectors; returns the flop count done (2 per
// multiply-add and lane). The result of the chains is written to *sink so nothing is elided.
double fma_probe(bool f64, int threads, int64_t iterations, double* sink);

// Sums n floats with `threads` threads, each over a contiguous slice; returns the sum.
double read_probe(const float* data, int64_t n, int threads);

}  // namespace nt::bench
