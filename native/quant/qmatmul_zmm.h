// 512-bit vector traits of the quantized-matmul kernel families (qmatmul_f4_impl.h,
// qmatmul_q8_impl.h, qmatmul_i8_impl.h): AVX-512 F/VL/BW (+ AVX2, FMA, F16C), and with kVnni the
// int8 dots of AVX-512 VNNI (vpdpbusd on zmm). Included only inside an ISA region whose target
// has those (and avx512vnni when kVnni is used), inside an anonymous namespace.
template <bool kVnni>
struct QmmZmm {
  using fvec = __m512;
  using ivec = __m512i;
  static constexpr int kLanes = 16;  // f32 / int32 lanes
  static constexpr int kBytes = 64;  // int8 lanes
  static constexpr int kRegs = 32;   // vector registers

  // ---- f32 ----
  static fvec fzero() { return _mm512_setzero_ps(); }
  static fvec set1(float v) { return _mm512_set1_ps(v); }
  static fvec add(fvec a, fvec b) { return _mm512_add_ps(a, b); }
  static fvec mul(fvec a, fvec b) { return _mm512_mul_ps(a, b); }
  static fvec fmadd(fvec a, fvec b, fvec c) { return _mm512_fmadd_ps(a, b, c); }
  static fvec fnmadd(fvec a, fvec b, fvec c) { return _mm512_fnmadd_ps(a, b, c); }
  static fvec load_f(const float* p) { return _mm512_loadu_ps(p); }
  static void store_f(float* p, fvec v) { _mm512_storeu_ps(p, v); }
  static float hsum(fvec v) { return _mm512_reduce_add_ps(v); }  // fixed lane order
  static __mmask16 first_lanes(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }  // n <= 16
  // lanes l < n keep v, the others are +0
  static fvec keep_first(fvec v, int64_t n) { return _mm512_maskz_mov_ps(first_lanes(n), v); }
  static float scale(const QWeight& w, int64_t i) {
    return w.scales_f16 ? _cvtsh_ss(static_cast<const uint16_t*>(w.scales)[i]) : static_cast<const float*>(w.scales)[i];
  }

  // ---- kLanes values as f32: min(n, kLanes) of them read (masked loads), the rest 0 ----
  static fvec load_lanes(const float* p, int64_t n) {
    return n >= kLanes ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(first_lanes(n), p);
  }
  static fvec load_lanes(const uint16_t* p, int64_t n) {  // IEEE binary16 bits
    return _mm512_cvtph_ps(n >= kLanes ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                                       : _mm256_maskz_loadu_epi16(first_lanes(n), p));
  }
  static fvec load_lanes(const uint8_t* p, int64_t n) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(n >= kLanes ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))
                                                               : _mm_maskz_loadu_epi8(first_lanes(n), p)));
  }
  static fvec load_lanes(const int32_t* p, int64_t n) {
    return _mm512_cvtepi32_ps(n >= kLanes ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi32(first_lanes(n), p));
  }

  // ---- int32 ----
  static ivec izero() { return _mm512_setzero_si512(); }
  static ivec set1_i(int v) { return _mm512_set1_epi32(v); }
  static ivec isub(ivec a, ivec b) { return _mm512_sub_epi32(a, b); }
  static fvec to_float(ivec v) { return _mm512_cvtepi32_ps(v); }
  // kLanes code bytes widened to int32; widen_part: n < kLanes bytes (masked), the rest 0
  static ivec widen(const uint8_t* p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static ivec widen_part(const uint8_t* p, int64_t n) { return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(first_lanes(n), p)); }

  // ---- 4-bit-class codes with f32 activations (qmatmul_f4_impl.h) ----
  // A group's 16 dequantized values scale · (q − zero), q = 0..15, sit in one register and
  // vpermps looks the codes up in it (it reads only the low 4 bits of each index, so the low
  // nibble needs no mask): per chunk one vpmovzxbd, one shift and two vpermps give 32 weights,
  // rounded exactly as dequantize_value (group_quant.h) rounds them. The GEMV runs two
  // accumulator sets (even / odd chunks: independent FMA chains) over the whole row and
  // prefetches the codes 2 rows ahead (4 KiB at k = 4096) into L2: ~15% faster than 1 KiB into
  // L1 from DRAM.
  static constexpr bool kTableDecode = true;
  static constexpr int kF4Chains = 2;
  static constexpr int64_t kF4PrefetchAhead = 4096;
  static constexpr int64_t kF4GroupBatch = kLanes;  // 16 groups' scales and zeros per masked load
  struct F4Group {
    fvec table;
  };
  static F4Group f4_group(float scale, float zero) {
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return {_mm512_mul_ps(_mm512_set1_ps(scale), _mm512_sub_ps(iota, _mm512_set1_ps(zero)))};
  }
  // chunk t (kLanes code bytes widened): lo = even columns, hi = odd columns, as scale · (q − zero)
  static void f4_decode(const F4Group& g, ivec t, fvec& lo, fvec& hi) {
    lo = _mm512_permutexvar_ps(t, g.table);
    hi = _mm512_permutexvar_ps(_mm512_srli_epi32(t, 4), g.table);
  }

  // ---- int8 activations (qmatmul_i8_impl.h; only with kVnni) ----
  static ivec load_bytes(const void* p) { return _mm512_loadu_si512(p); }
  static ivec load_bytes_part(const uint8_t* p, int64_t n) {  // n < kBytes
    return _mm512_maskz_loadu_epi8((__mmask64(1) << n) - 1, p);
  }
  static ivec low_nibbles(ivec v) { return _mm512_and_si512(v, _mm512_set1_epi8(0x0f)); }
  static ivec high_nibbles(ivec v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0f)); }
  static ivec dot2(ivec acc, ivec u0, ivec s0, ivec u1, ivec s1) {
    static_assert(kVnni, "the zmm int8 kernel is built for AVX-512 VNNI only (avx512 borrows the AVX2 one)");
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc, u0, s0), u1, s1);
  }
  // lane l gets t[first + (l >> shift)]
  static fvec lane_groups(fvec t, int first, int shift) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_permutexvar_ps(
        _mm512_add_epi32(_mm512_srl_epi32(lane, _mm_cvtsi32_si128(shift)), _mm512_set1_epi32(first)), t);
  }
};
