// Seeded random fills: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC'11), keyed by the 64-bit seed, counter = block index. Counter-based, so
// element i's value depends only on (seed, i): identical for any thread count.
//   uniform: element i = 53-bit fraction from block i/2's words (2i mod 4, +1) in [0, 1)
//   normal:  elements 2j, 2j+1 = Box-Muller of two 53-bit uniforms from block j
// f32 outputs are the f64 values rounded (uniform clamped below 1).
#pragma once
#include <array>
#include <cstdint>
#include "../core/tensor_view.h"

namespace nt {

enum class Distribution { Uniform, Normal };

std::array<uint32_t, 4> philox4x32_10(uint64_t counter, uint64_t key);
void fill_random(const TensorView& out, Distribution dist, uint64_t seed);

}  // namespace nt
