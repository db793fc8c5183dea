// 256-bit vector traits of the quantized-matmul kernel families (qmatmul_f4_impl.h,
// qmatmul_q8_impl.h, qmatmul_i8_impl.h): AVX2+FMA+F16C, and for the int8 dots either
// vpmaddubsw + vpmaddwd (the route llama.cpp takes for Q4_0 × Q8_0) or, with kVnni, AVX-VNNI's
// vpdpbusd on ymm. Included only inside an ISA region whose target has AVX2, FMA and F16C (and
// AVX-VNNI when kVnni is used), inside an anonymous namespace.
template <bool kVnni>
struct QmmYmm {
  using fvec = __m256;
  using ivec = __m256i;
  static constexpr int kLanes = 8;   // f32 / int32 lanes
  static constexpr int kBytes = 32;  // int8 lanes
  static constexpr int kRegs = 16;   // vector registers

  // ---- f32 ----
  static fvec fzero() { return _mm256_setzero_ps(); }
  static fvec set1(float v) { return _mm256_set1_ps(v); }
  static fvec add(fvec a, fvec b) { return _mm256_add_ps(a, b); }
  static fvec mul(fvec a, fvec b) { return _mm256_mul_ps(a, b); }
  static fvec fmadd(fvec a, fvec b, fvec c) { return _mm256_fmadd_ps(a, b, c); }
  static fvec fnmadd(fvec a, fvec b, fvec c) { return _mm256_fnmadd_ps(a, b, c); }
  static fvec load_f(const float* p) { return _mm256_loadu_ps(p); }
  static void store_f(float* p, fvec v) { _mm256_storeu_ps(p, v); }
  static float hsum(fvec v) {  // fixed lane order
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // lanes l < n keep v, the others are +0
  static fvec keep_first(fvec v, int64_t n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane)));
  }
  static float scale(const QWeight& w, int64_t i) {
    return w.scales_f16 ? _cvtsh_ss(static_cast<const uint16_t*>(w.scales)[i]) : static_cast<const float*>(w.scales)[i];
  }

  // ---- kLanes values as f32: min(n, kLanes) of them read, the rest 0 (never read past p + n) ----
  static fvec load_full(const float* p) { return _mm256_loadu_ps(p); }
  static fvec load_full(const uint16_t* p) {  // IEEE binary16 bits
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static fvec load_full(const uint8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  static fvec load_full(const int32_t* p) {
    return _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  template <class T>
  static fvec load_lanes(const T* p, int64_t n) {
    if (n >= kLanes) return load_full(p);
    alignas(32) T t[kLanes] = {};
    for (int64_t u = 0; u < n; ++u) t[u] = p[u];
    return load_full(static_cast<const T*>(t));
  }

  // ---- int32 ----
  static ivec izero() { return _mm256_setzero_si256(); }
  static ivec set1_i(int v) { return _mm256_set1_epi32(v); }
  static ivec isub(ivec a, ivec b) { return _mm256_sub_epi32(a, b); }
  static fvec to_float(ivec v) { return _mm256_cvtepi32_ps(v); }
  // kLanes code bytes widened to int32; widen_part: n < kLanes bytes, the rest 0
  static ivec widen(const uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  static ivec widen_part(const uint8_t* p, int64_t n) {
    alignas(16) uint8_t b[16] = {};
    for (int64_t u = 0; u < n; ++u) b[u] = p[u];
    return _mm256_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(b)));
  }

  // ---- 4-bit-class codes with f32 activations (qmatmul_f4_impl.h) ----
  // vpermps has only 8 entries, too few for a 16-entry table of the group's dequantized values,
  // so the decode subtracts the zero in the integer domain (q − zero, exact as a float) and the
  // GEMV applies the scale once per group: y = sum_g scale_g · dot(q_g − zero_g, x_g).
  static constexpr bool kTableDecode = false;
  static constexpr int kF4Chains = 1;           // accumulator sets per row (one per group here)
  static constexpr int64_t kF4PrefetchAhead = 0;  // no software prefetch of the codes
  // scale and zero read per group: converting 8 groups at once (through a zeroed copy for the
  // last, partial batch: AVX2 has no masked byte loads) measured 5-20% slower at 16-64 groups
  static constexpr int64_t kF4GroupBatch = 1;
  struct F4Group {
    ivec zero;
  };
  static F4Group f4_group(float /*scale*/, float zero) { return {_mm256_set1_epi32(static_cast<int>(zero))}; }
  // chunk t (kLanes code bytes widened): lo = even columns, hi = odd columns, as q − zero
  static void f4_decode(const F4Group& g, ivec t, fvec& lo, fvec& hi) {
    lo = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(t, _mm256_set1_epi32(0x0f)), g.zero));
    hi = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(t, 4), g.zero));
  }

  // ---- int8 activations (qmatmul_i8_impl.h) ----
  static ivec load_bytes(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static ivec load_bytes_part(const uint8_t* p, int64_t n) {  // n < kBytes
    alignas(32) uint8_t b[32] = {};
    for (int64_t u = 0; u < n; ++u) b[u] = p[u];
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(b));
  }
  static ivec low_nibbles(ivec v) { return _mm256_and_si256(v, _mm256_set1_epi8(0x0f)); }
  static ivec high_nibbles(ivec v) { return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0f)); }
  static ivec dot2(ivec acc, ivec u0, ivec s0, ivec u1, ivec s1) {
    if constexpr (kVnni) {
      return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(acc, u0, s0), u1, s1);
    } else {
      // vpmaddubsw saturates its int16 pair sums; codes 0..15 times x in [-127, 127] give at most
      // 2 · 15 · 127 = 3810 per pair and 7620 for the two vectors added here: never saturated
      const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(u0, s0), _mm256_maddubs_epi16(u1, s1));
      return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
    }
  }
  // lane l gets t[first + (l >> shift)]
  static fvec lane_groups(fvec t, int first, int shift) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_permutevar8x32_ps(
        t, _mm256_add_epi32(_mm256_srl_epi32(lane, _mm_cvtsi32_si128(shift)), _mm256_set1_epi32(first)));
  }
};
