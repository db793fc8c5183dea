// GEMM kernels written once over a vector-traits struct V (see gemm_avx2.cc and
// gemm_avx512.cc). Included ONLY inside an ISA region (after the target pragma) and inside an
// anonymous namespace, so each ISA file gets its own internal instantiations compiled for its
// target: nothing here is ever shared between translation units built for different ISAs.
//
// V provides: using T (element), vec (register type), W (lanes), zero(), load(p), store(p, v),
// set1(x), fmadd(a, b, c) = a*b+c (one rounding), mul(a, b), hsum(v) (fixed lane order),
// fma1(a, b, c) scalar one-rounding a*b+c.
// No lambdas below: they would not inherit the ISA target (see isa_avx2_begin.h).

// C tile MR x (NV * W) kept in MR * NV registers; per depth step NV loads of B and MR
// broadcasts of A. The loops have compile-time bounds and are fully unrolled, so the
// accumulator array lives in registers.
template <class V, int MR, int NV>
void gemm_tile(int64_t k, const typename V::T* a, const typename V::T* b, typename V::T* c, int64_t ldc,
               typename V::T alpha, typename V::T beta, int64_t mv, int64_t nv) {
  using T = typename V::T;
  using vec = typename V::vec;
  constexpr int NR = NV * V::W;
  vec acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  // C's rows are written once at the end: start fetching them now, off the critical path.
  for (int64_t r = 0; r < mv; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + nv - 1), _MM_HINT_T0);
  }
  for (int64_t p = 0; p < k; ++p) {
    // the A panel streams from L2: keep a few steps ahead of the broadcasts
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * MR), _MM_HINT_T0);
    vec bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * V::W);
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r) {
      const vec ar = V::set1(a[r]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fmadd(ar, bv[v], acc[r][v]);
    }
    a += MR;
    b += NR;
  }
  const vec va = V::set1(alpha);
  if (mv == MR && nv == NR) {
    if (beta == T(0)) {
#pragma GCC unroll 32
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) V::store(c + r * ldc + v * V::W, V::mul(acc[r][v], va));
    } else {
      const vec vb = V::set1(beta);
#pragma GCC unroll 32
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
          T* cp = c + r * ldc + v * V::W;
          V::store(cp, V::fmadd(vb, V::load(cp), V::mul(acc[r][v], va)));
        }
    }
    return;
  }
  // Partial tile: the same roundings through a buffer.
  alignas(64) T tmp[MR * NR];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) V::store(tmp + r * NR + v * V::W, V::mul(acc[r][v], va));
  for (int64_t r = 0; r < mv; ++r)
    for (int64_t j = 0; j < nv; ++j) {
      T& out = c[r * ldc + j];
      out = beta == T(0) ? tmp[r * NR + j] : V::fma1(beta, out, tmp[r * NR + j]);
    }
}

// One row's dot product with 2 vector accumulators, then the tail in order. Shared by the
// 4-row and 1-row loops so a row's bits never depend on its neighbours.
template <class V, int R>
void dot_rows_block(int64_t k, const typename V::T* const* rows, const typename V::T* x, typename V::T* out) {
  using vec = typename V::vec;
  vec acc0[R], acc1[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = V::zero();
  int64_t p = 0;
  for (; p + 2 * V::W <= k; p += 2 * V::W) {
    const vec x0 = V::load(x + p), x1 = V::load(x + p + V::W);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      acc0[r] = V::fmadd(V::load(rows[r] + p), x0, acc0[r]);
      acc1[r] = V::fmadd(V::load(rows[r] + p + V::W), x1, acc1[r]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    typename V::T s = V::hsum(V::add(acc0[r], acc1[r]));
    for (int64_t q = p; q < k; ++q) s = V::fma1(rows[r][q], x[q], s);
    out[r] = s;
  }
}

template <class V>
void gemv_dot_rows(int64_t m, int64_t k, const typename V::T* a, int64_t lda, const typename V::T* x,
                   typename V::T alpha, typename V::T beta, typename V::T* y, int64_t incy) {
  using T = typename V::T;
  int64_t i = 0;
  T s[4];
  for (; i + 4 <= m; i += 4) {
    const T* rows[4] = {a + i * lda, a + (i + 1) * lda, a + (i + 2) * lda, a + (i + 3) * lda};
    dot_rows_block<V, 4>(k, rows, x, s);
    for (int r = 0; r < 4; ++r) {
      T& out = y[(i + r) * incy];
      out = beta == T(0) ? alpha * s[r] : V::fma1(beta, out, alpha * s[r]);
    }
  }
  for (; i < m; ++i) {
    const T* rows[1] = {a + i * lda};
    dot_rows_block<V, 1>(k, rows, x, s);
    T& out = y[i * incy];
    out = beta == T(0) ? alpha * s[0] : V::fma1(beta, out, alpha * s[0]);
  }
}

// Column chunks of up to kChunk accumulated in a stack buffer (in L1) while the rows stream
// four at a time (four sequential streams of up to 16 KiB each: long runs for the prefetchers), one FMA per element
// and row in row order. The scalar tail uses the same one-rounding FMA as the vector lanes.
template <class V>
void gemv_axpy_rows(int64_t n, int64_t k, const typename V::T* x, int64_t incx, const typename V::T* b, int64_t ldb,
                    typename V::T alpha, typename V::T beta, typename V::T* y, int64_t incy) {
  using T = typename V::T;
  using vec = typename V::vec;
  constexpr int64_t kChunk = 16384 / sizeof(T);  // 16 KiB of accumulators (L1)
  alignas(64) T acc[kChunk];
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
    const int64_t w = n - j0 < kChunk ? n - j0 : kChunk;  // no std:: inline templates in ISA code
    const int64_t wv = w / V::W * V::W;
    for (int64_t j = 0; j < w; ++j) acc[j] = T(0);
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
      const T* r0 = b + p * ldb + j0;
      const T* r1 = r0 + ldb;
      const T* r2 = r1 + ldb;
      const T* r3 = r2 + ldb;
      const vec x0 = V::set1(x[p * incx]), x1 = V::set1(x[(p + 1) * incx]);
      const vec x2 = V::set1(x[(p + 2) * incx]), x3 = V::set1(x[(p + 3) * incx]);
      for (int64_t j = 0; j < wv; j += V::W) {
        vec s = V::load(acc + j);
        s = V::fmadd(x0, V::load(r0 + j), s);
        s = V::fmadd(x1, V::load(r1 + j), s);
        s = V::fmadd(x2, V::load(r2 + j), s);
        s = V::fmadd(x3, V::load(r3 + j), s);
        V::store(acc + j, s);
      }
      for (int64_t j = wv; j < w; ++j) {
        T s = acc[j];
        s = V::fma1(x[p * incx], r0[j], s);
        s = V::fma1(x[(p + 1) * incx], r1[j], s);
        s = V::fma1(x[(p + 2) * incx], r2[j], s);
        s = V::fma1(x[(p + 3) * incx], r3[j], s);
        acc[j] = s;
      }
    }
    for (; p < k; ++p) {
      const T* r0 = b + p * ldb + j0;
      const vec x0 = V::set1(x[p * incx]);
      for (int64_t j = 0; j < wv; j += V::W) V::store(acc + j, V::fmadd(x0, V::load(r0 + j), V::load(acc + j)));
      for (int64_t j = wv; j < w; ++j) acc[j] = V::fma1(x[p * incx], r0[j], acc[j]);
    }
    for (int64_t j = 0; j < w; ++j) {
      T& out = y[(j0 + j) * incy];
      out = beta == T(0) ? alpha * acc[j] : V::fma1(beta, out, alpha * acc[j]);
    }
  }
}
