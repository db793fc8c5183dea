// 256-bit vector traits of the int8-activation kernel family (qmatmul_i8_impl.h): AVX2
// (vpmaddubsw + vpmaddwd, the route llama.cpp takes for Q4_0 × Q8_0) or AVX-VNNI (vpdpbusd on
// ymm). Included only inside an ISA region whose target has AVX2, FMA and F16C (and AVX-VNNI
// when kVnni), inside an anonymous namespace.
template <bool kVnni>
struct I8Ymm {
  using ivec = __m256i;
  using fvec = __m256;
  static constexpr int kBytes = 32, kLanes = 8, kRegs = 16;

  static ivec load_bytes(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static ivec load_bytes_part(const uint8_t* p, int64_t n) {
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
  static ivec izero() { return _mm256_setzero_si256(); }
  static fvec fzero() { return _mm256_setzero_ps(); }
  static fvec to_float(ivec v) { return _mm256_cvtepi32_ps(v); }
  static fvec fmadd(fvec a, fvec b, fvec c) { return _mm256_fmadd_ps(a, b, c); }
  static fvec fnmadd(fvec a, fvec b, fvec c) { return _mm256_fnmadd_ps(a, b, c); }
  static fvec mul(fvec a, fvec b) { return _mm256_mul_ps(a, b); }
  static fvec set1(float v) { return _mm256_set1_ps(v); }
  static float hsum(fvec v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static fvec load_f(const float* p) { return _mm256_loadu_ps(p); }
  static fvec load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static fvec load_u8(const uint8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  static fvec load_i32(const int32_t* p) { return _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static void store_f(float* p, fvec v) { _mm256_store_ps(p, v); }
  static fvec lane_groups(fvec t, int first, int shift) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_permutevar8x32_ps(t, _mm256_add_epi32(_mm256_srl_epi32(lane, _mm_cvtsi32_si128(shift)), _mm256_set1_epi32(first)));
  }
};
