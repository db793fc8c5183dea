// GEMM driver (see gemm.h): GotoBLAS/BLIS blocking shared by every ISA. For m > threads * mc:
//   for jc (nc columns of C)            B block kc x nc packed once, shared by the threads
//     for pc (kc deep)                  (packing split over the threads by nr-panels)
//       parallel over (mc-row block, column group) items:  (one Team runs the whole nest:
//                                     spin barriers between steps, no pool wake-ups)
//         pack the A block (mc x kc) into this thread's buffer
//         for ir (mr panels): for jr (nr panels): micro-kernel tile
// The A micro-panel (mr x kc) stays in L1 across the jr loop while the B micro-panels stream
// from L2, where the B block (kc x nc, ~1 MiB) and the A block live (measured ~5-10% faster
// than keeping the wider B micro-panel in L1, which leaves too little L1 for the rest), or
// from L3 where an ISA's B block is larger (AVX-512 f32: see gemm_avx512.cc).
// Every C element is written by exactly one item per pc step, and its value is the
// same FMA chain whatever the block sizes (gemm_kernel.h), so results are bit-identical for
// any thread count. Fewer rows: each thread owns a share of C's columns and packs its own
// panels (gemm_packed_columns). Packing reads any leading dimension and either transpose, so strided and
// transposed operands need no copies. m == 1 or n == 1 go to the GEMV kernels (memory bound:
// no packing), tiny products to a direct loop. The packed path is templated on how B is read:
// f32/f64 as is, or 16-bit floats widened while packing (gemm_packed_f32_widening_b, the
// prefill path of half_gemm.cc), so the micro-kernels never see the difference.
#include <algorithm>
#include <memory>
#include <type_traits>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "../core/team.h"
#include "gemm.h"
#include "gemm_kernel.h"
#include "half_gemm_kernel.h"

namespace nt {
namespace {

// ---- scalar kernel set (the portable fallback and the reference for the SIMD sets) ----

constexpr int kScalarMr = 4, kScalarNr = 4;

template <typename T>
T write_back(T acc, T alpha, T beta, T c) {
  return beta == T(0) ? alpha * acc : alpha * acc + beta * c;
}

template <typename T>
void tile_scalar(int64_t k, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta, int64_t mv, int64_t nv) {
  T acc[kScalarMr][kScalarNr] = {};
  for (int64_t p = 0; p < k; ++p)
    for (int r = 0; r < kScalarMr; ++r)
      for (int j = 0; j < kScalarNr; ++j) acc[r][j] += a[p * kScalarMr + r] * b[p * kScalarNr + j];
  for (int64_t r = 0; r < mv; ++r)
    for (int64_t j = 0; j < nv; ++j) c[r * ldc + j] = write_back(acc[r][j], alpha, beta, c[r * ldc + j]);
}

template <typename T>
void dot_rows_scalar(int64_t m, int64_t k, const T* a, int64_t lda, const T* x, T alpha, T beta, T* y, int64_t incy) {
  for (int64_t i = 0; i < m; ++i) {
    T acc[4] = {};
    int64_t p = 0;
    for (; p + 4 <= k; p += 4)
      for (int u = 0; u < 4; ++u) acc[u] += a[i * lda + p + u] * x[p + u];
    T s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (; p < k; ++p) s += a[i * lda + p] * x[p];
    y[i * incy] = write_back(s, alpha, beta, y[i * incy]);
  }
}

template <typename T>
void axpy_rows_scalar(int64_t n, int64_t k, const T* x, int64_t incx, const T* b, int64_t ldb, T alpha, T beta, T* y,
                      int64_t incy) {
  constexpr int64_t kChunk = 256;
  T acc[kChunk];
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
    const int64_t w = std::min(kChunk, n - j0);
    std::fill(acc, acc + w, T(0));
    for (int64_t p = 0; p < k; ++p) {
      const T xp = x[p * incx];
      const T* row = b + p * ldb + j0;
      for (int64_t j = 0; j < w; ++j) acc[j] += xp * row[j];
    }
    for (int64_t j = 0; j < w; ++j) y[(j0 + j) * incy] = write_back(acc[j], alpha, beta, y[(j0 + j) * incy]);
  }
}

const GemmKernel<float> kScalarF32 = {"scalar",          kScalarMr,  kScalarNr, 256, 128, 1024, tile_scalar<float>,
                                      dot_rows_scalar<float>, axpy_rows_scalar<float>};
const GemmKernel<double> kScalarF64 = {"scalar",          kScalarMr,   kScalarNr, 256, 128, 1024, tile_scalar<double>,
                                       dot_rows_scalar<double>, axpy_rows_scalar<double>};

// ---- packing buffers: one cached buffer per thread and role, grown on demand ----
// Allocating a fresh multi-megabyte buffer per call would page-fault it in every time; the
// cache keeps it. A buffer already in use on this thread (a gemm inside a gemm's caller on
// the same thread, e.g. from a nested parallel_for) falls back to a fresh allocation.

struct CachedBuffer {
  std::unique_ptr<Scratch<unsigned char>> mem;
  bool busy = false;
};

constexpr size_t kMaxCachedBytes = size_t{64} << 20;

template <typename T>
class PackBuffer {
 public:
  PackBuffer(CachedBuffer& cache, size_t count) {
    const size_t bytes = std::max<size_t>(count, 1) * sizeof(T);
    if (!cache.busy && bytes <= kMaxCachedBytes) {
      if (!cache.mem || cache.mem->size() < bytes) {
        cache.mem.reset();
        cache.mem = std::make_unique<Scratch<unsigned char>>(std::max(bytes, size_t{64} << 10));
      }
      cache.busy = true;
      cache_ = &cache;
      ptr_ = reinterpret_cast<T*>(cache.mem->get());
    } else {
      own_ = std::make_unique<Scratch<unsigned char>>(bytes);
      ptr_ = reinterpret_cast<T*>(own_->get());
    }
  }
  ~PackBuffer() {
    if (cache_) cache_->busy = false;
  }
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  T* get() const { return ptr_; }

 private:
  CachedBuffer* cache_ = nullptr;
  std::unique_ptr<Scratch<unsigned char>> own_;
  T* ptr_ = nullptr;
};

thread_local CachedBuffer tl_pack_a;
thread_local CachedBuffer tl_pack_b;

// ---- packing ----

constexpr int kMaxPanel = 64;  // largest mr / nr of any kernel set

#if defined(__SSE2__)
// A full f32 panel of row-major A (mr rows, depth kc) through 4 x 4 SSE transposes: four depth
// steps of four rows per transpose, a leftover row pair by unpacking. The element-at-a-time copy
// it replaces cost ~8% of a 2048² SGEMM (perf, Zen 5) and this one measured ~2x faster on A
// streaming from memory. SSE2 is the x86-64 baseline, so every ISA level (scalar included) uses it.
void pack_a_panel_sse(const float* const* src, int mr, int64_t kc, float* panel) {
  int64_t p = 0;
  for (; p + 4 <= kc; p += 4) {
    // the mr row streams advance 64 bytes every 16 steps: ask for them 4 lines ahead
    if ((p & 15) == 0)
      for (int r = 0; r < mr; ++r) _mm_prefetch(reinterpret_cast<const char*>(src[r] + p + 64), _MM_HINT_T0);
    float* out = panel + p * mr;
    int r = 0;
    for (; r + 4 <= mr; r += 4) {
      __m128 x0 = _mm_loadu_ps(src[r] + p), x1 = _mm_loadu_ps(src[r + 1] + p);
      __m128 x2 = _mm_loadu_ps(src[r + 2] + p), x3 = _mm_loadu_ps(src[r + 3] + p);
      _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
      _mm_storeu_ps(out + r, x0);
      _mm_storeu_ps(out + mr + r, x1);
      _mm_storeu_ps(out + 2 * mr + r, x2);
      _mm_storeu_ps(out + 3 * mr + r, x3);
    }
    if (r + 2 <= mr) {
      const __m128 x0 = _mm_loadu_ps(src[r] + p), x1 = _mm_loadu_ps(src[r + 1] + p);
      const __m128 lo = _mm_unpacklo_ps(x0, x1), hi = _mm_unpackhi_ps(x0, x1);
      _mm_storel_pi(reinterpret_cast<__m64*>(out + r), lo);
      _mm_storeh_pi(reinterpret_cast<__m64*>(out + mr + r), lo);
      _mm_storel_pi(reinterpret_cast<__m64*>(out + 2 * mr + r), hi);
      _mm_storeh_pi(reinterpret_cast<__m64*>(out + 3 * mr + r), hi);
      r += 2;
    }
    for (; r < mr; ++r)
      for (int q = 0; q < 4; ++q) out[q * mr + r] = src[r][p + q];
  }
  for (; p < kc; ++p)
    for (int r = 0; r < mr; ++r) panel[p * mr + r] = src[r][p];
}
#endif

// A rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into mr-row panels (k-major), zero-padded.
template <typename T>
void pack_a(bool ta, const T* a, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) {
  for (int64_t ir = 0; ir < mc; ir += mr) {
    const int64_t rows = std::min<int64_t>(mr, mc - ir);
    T* panel = dst + ir * kc;
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float>) {
      if (!ta && rows == mr) {
        const float* src[kMaxPanel];
        for (int64_t r = 0; r < rows; ++r) src[r] = a + (i0 + ir + r) * lda + p0;
        pack_a_panel_sse(src, mr, kc, panel);
        continue;
      }
    }
#endif
    if (!ta) {
      // rows are contiguous in A: read them as mr sequential streams, write the panel in order
      const T* src[kMaxPanel];
      for (int64_t r = 0; r < rows; ++r) src[r] = a + (i0 + ir + r) * lda + p0;
      for (int64_t p = 0; p < kc; ++p) {
        T* out = panel + p * mr;
        int64_t r = 0;
        for (; r < rows; ++r) out[r] = src[r][p];
        for (; r < mr; ++r) out[r] = T(0);
      }
    } else {
      // A stored k x m: each depth p gives mr contiguous row values
      for (int64_t p = 0; p < kc; ++p) {
        const T* src = a + (p0 + p) * lda + i0 + ir;
        T* out = panel + p * mr;
        int64_t r = 0;
        for (; r < rows; ++r) out[r] = src[r];
        for (; r < mr; ++r) out[r] = T(0);
      }
    }
  }
}

// B depth [p0, p0+kc) x columns [j0 + panel0*nr, ...) of op(B), panels [panel0, panel1), into
// nr-column panels (k-major), zero-padded past column n.
template <typename T>
void pack_b(bool tb, const T* b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, int64_t panel0,
            int64_t panel1, T* dst) {
  for (int64_t jp = panel0; jp < panel1; ++jp) {
    const int64_t jr = jp * nr;
    const int64_t cols = std::min<int64_t>(nr, nc - jr);
    T* panel = dst + jr * kc;
    if (!tb) {
      for (int64_t p = 0; p < kc; ++p) {
        const T* src = b + (p0 + p) * ldb + j0 + jr;
        T* out = panel + p * nr;
        // a panel reads nr values per row of B, rows ldb apart: too far apart for the hardware
        // prefetchers, so fetch 16 rows ahead (2048² SGEMM, Zen 5: B packing ~0.55 -> ~0.32 ns/element)
        __builtin_prefetch(src + 16 * ldb, 0, 3);
        __builtin_prefetch(src + 16 * ldb + nr - 1, 0, 3);
        int64_t j = 0;
        for (; j < cols; ++j) out[j] = src[j];
        for (; j < nr; ++j) out[j] = T(0);
      }
    } else {
      // B stored n x k: column j of op(B) is contiguous; read nr streams, write in order
      const T* src[kMaxPanel];
      for (int64_t j = 0; j < cols; ++j) src[j] = b + (j0 + jr + j) * ldb + p0;
#if defined(__SSE2__)
      if constexpr (std::is_same_v<T, float>) {
        if (cols == nr) {  // the same transpose as an A panel (x W^T: every nt.linear)
          pack_a_panel_sse(src, nr, kc, panel);
          continue;
        }
      }
#endif
      for (int64_t p = 0; p < kc; ++p) {
        T* out = panel + p * nr;
        int64_t j = 0;
        for (; j < cols; ++j) out[j] = src[j][p];
        for (; j < nr; ++j) out[j] = T(0);
      }
    }
  }
}

// B as 16-bit floats (bf16 or f16), widened to f32 by the ISA's converter while packing.
struct WideningB {
  const uint16_t* bits;
  WidenHalfToF32 widen;
};

void pack_b(bool tb, const WideningB& b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
            int64_t panel0, int64_t panel1, float* dst) {
  for (int64_t jp = panel0; jp < panel1; ++jp) {
    const int64_t jr = jp * nr;
    const int64_t cols = std::min<int64_t>(nr, nc - jr);
    float* panel = dst + jr * kc;
    if (!tb) {
      // a row of B is contiguous both in B and in the panel: widen it in place
      for (int64_t p = 0; p < kc; ++p) {
        float* out = panel + p * nr;
        b.widen(b.bits + (p0 + p) * ldb + j0 + jr, out, cols);
        std::fill(out + cols, out + nr, 0.0f);
      }
    } else {
      // B stored n x k: widen a run of each of the nr source rows into an L1 block (vector
      // conversions on contiguous data), then transpose the block into the panel in order
      constexpr int64_t kRun = 64;
      alignas(64) float run[kMaxPanel * kRun];
      for (int64_t q0 = 0; q0 < kc; q0 += kRun) {
        const int64_t len = std::min(kRun, kc - q0);
        for (int64_t j = 0; j < cols; ++j) b.widen(b.bits + (j0 + jr + j) * ldb + p0 + q0, run + j * kRun, len);
        for (int64_t q = 0; q < len; ++q) {
          float* out = panel + (q0 + q) * nr;
          int64_t j = 0;
          for (; j < cols; ++j) out[j] = run[j * kRun + q];
          for (; j < nr; ++j) out[j] = 0.0f;
        }
      }
    }
  }
}

// ---- special cases ----

// C = beta * C (k == 0 or alpha == 0: BLAS semantics, A and B are not read).
template <typename T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

// Tiny products: a direct loop beats packing. Same write-back rule as the kernels.
template <typename T>
void gemm_direct(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
                 int64_t ldb, T beta, T* c, int64_t ldc) {
  T acc[64];
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j0 = 0; j0 < n; j0 += 64) {
      const int64_t w = std::min<int64_t>(64, n - j0);
      std::fill(acc, acc + w, T(0));
      for (int64_t p = 0; p < k; ++p) {
        const T av = ta ? a[p * lda + i] : a[i * lda + p];
        if (!tb)
          for (int64_t j = 0; j < w; ++j) acc[j] += av * b[p * ldb + j0 + j];
        else
          for (int64_t j = 0; j < w; ++j) acc[j] += av * b[(j0 + j) * ldb + p];
      }
      for (int64_t j = 0; j < w; ++j) c[i * ldc + j0 + j] = write_back(acc[j], alpha, beta, c[i * ldc + j0 + j]);
    }
}

// Rows/columns per parallel unit of the GEMV paths.
constexpr int64_t kDotUnit = 4, kAxpyUnit = 64;

// y (len values, stride incy) = alpha * matrix-vector product (+ beta * y). dot_form: y[i] =
// row i of mat . x; otherwise y[j] = sum_p x[p] * mat[p, j].
template <typename T>
void gemv(const GemmKernel<T>& kern, bool dot_form, int64_t len, int64_t k, T alpha, const T* mat, int64_t ldm,
          const T* x, int64_t incx, T beta, T* y, int64_t incy) {
  if (dot_form) {
    // y[i] = dot(mat row i, x): x must be contiguous
    const T* xc = x;
    std::unique_ptr<Scratch<T>> copy;
    if (incx != 1 && k > 1) {
      copy = std::make_unique<Scratch<T>>(static_cast<size_t>(k));
      for (int64_t p = 0; p < k; ++p) (*copy)[p] = x[p * incx];
      xc = copy->get();
    }
    const int64_t units = (len + kDotUnit - 1) / kDotUnit;
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(k * kDotUnit, 1));
    parallel_for(units, grain, [&](int64_t u0, int64_t u1) {
      const int64_t i0 = u0 * kDotUnit, i1 = std::min(len, u1 * kDotUnit);
      kern.dot_rows(i1 - i0, k, mat + i0 * ldm, ldm, xc, alpha, beta, y + i0 * incy, incy);
    });
  } else {
    // y[j] = sum_p x[p] * mat[p, j]
    const int64_t units = (len + kAxpyUnit - 1) / kAxpyUnit;
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(k * kAxpyUnit, 1));
    parallel_for(units, grain, [&](int64_t u0, int64_t u1) {
      const int64_t j0 = u0 * kAxpyUnit, j1 = std::min(len, u1 * kAxpyUnit);
      kern.axpy_rows(j1 - j0, k, x, incx, mat + j0, ldm, alpha, beta, y + j0 * incy, incy);
    });
  }
}

// ---- the blocked, packed path ----

// Few rows (m <= threads * mc): each thread takes a contiguous share of the nr-panels of C's
// columns and packs its own B slice and the whole A, so the call is one parallel region with
// no barrier per k block (small products would otherwise pay two pool wake-ups per block).
template <typename T, typename BSource>
void gemm_packed_columns(const GemmKernel<T>& kern, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
                         const T* a, int64_t lda, const BSource& b, int64_t ldb, T beta, T* c, int64_t ldc, int64_t kblocks,
                         int64_t kc_max) {
  const int mr = kern.mr, nr = kern.nr;
  const int64_t panels = (n + nr - 1) / nr;
  const int64_t mc = std::min<int64_t>(kern.mc, (m + mr - 1) / mr * mr);
  parallel_for(panels, 1, [&](int64_t q0, int64_t q1) {
    const int64_t j_begin = q0 * nr, j_end = std::min(n, q1 * nr);
    const int64_t nc_max =
        std::min<int64_t>((j_end - j_begin + nr - 1) / nr * nr, std::max<int64_t>(nr, kern.nc / nr * nr));
    PackBuffer<T> bbuf(tl_pack_b, static_cast<size_t>(kc_max * nc_max));
    PackBuffer<T> abuf(tl_pack_a, static_cast<size_t>(mc * kc_max));
    T* bpack = bbuf.get();
    T* apack = abuf.get();
    for (int64_t jc = j_begin; jc < j_end; jc += nc_max) {
      const int64_t nc = std::min(nc_max, j_end - jc);
      for (int64_t pb = 0; pb < kblocks; ++pb) {
        const int64_t p0 = k * pb / kblocks, kc = k * (pb + 1) / kblocks - p0;
        const T beta_step = pb == 0 ? beta : T(1);
        pack_b(tb, b, ldb, p0, kc, jc, nc, nr, 0, (nc + nr - 1) / nr, bpack);
        for (int64_t i0 = 0; i0 < m; i0 += mc) {
          const int64_t rows = std::min(mc, m - i0);
          pack_a(ta, a, lda, i0, rows, p0, kc, mr, apack);
          for (int64_t ir = 0; ir < rows; ir += mr) {
            const int64_t rv = std::min<int64_t>(mr, rows - ir);
            for (int64_t jr = 0; jr < nc; jr += nr)
              kern.tile(kc, apack + ir * kc, bpack + jr * kc, c + (i0 + ir) * ldc + jc + jr, ldc, alpha, beta_step,
                        rv, std::min<int64_t>(nr, nc - jr));
          }
        }
      }
    }
  });
}

// BSource: const T* (B as stored), or WideningB (16-bit B widened to f32 while packing).
template <typename T, typename BSource>
void gemm_packed(const GemmKernel<T>& kern, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                 int64_t lda, const BSource& b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const int mr = kern.mr, nr = kern.nr;
  NT_CHECK(mr <= kMaxPanel && nr <= kMaxPanel, Internal, "[gemm] kernel tile ", mr, "x", nr, " exceeds the packing limit");
  const int threads = num_threads();
  // Near-equal k blocks (300 = 150 + 150, not 256 + 44): the split depends on k only.
  const int64_t kblocks = (k + kern.kc - 1) / kern.kc;
  const int64_t kc_max = (k + kblocks - 1) / kblocks;
  if (m <= threads * kern.mc) {
    gemm_packed_columns(kern, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, kblocks, kc_max);
    return;
  }
  const int64_t nc_max = std::min<int64_t>((n + nr - 1) / nr * nr, std::max<int64_t>(nr, kern.nc / nr * nr));
  // Row blocks: at most mc rows, their count a multiple of the thread count, and the mr-panels
  // spread evenly over them (sizes differ by at most one panel), so the threads get equal shares.
  const int64_t mpanels = (m + mr - 1) / mr;
  int64_t mblocks = (m + kern.mc - 1) / kern.mc;
  mblocks = std::min<int64_t>((mblocks + threads - 1) / threads * threads, mpanels);
  const int64_t mc = (mpanels + mblocks - 1) / mblocks * mr;  // the largest block

  PackBuffer<T> bbuf(tl_pack_b, static_cast<size_t>(kc_max * nc_max));
  T* bpack = bbuf.get();

  // One team runs the whole loop nest: its threads stay spinning between the steps, so each
  // k block costs two spin barriers (B packed / block computed) instead of two pool wake-ups.
  // Each step is split into `threads` contiguous tasks; a member takes its own task first, so
  // a thread computes the same row blocks every step. The team runs without helpers when the
  // pool is busy (nested or concurrent calls): the leader then claims every task itself.
  Team::lead([&](Team& team) {
    for (int64_t jc = 0; jc < n; jc += nc_max) {
      const int64_t nc = std::min(nc_max, n - jc);
      const int64_t panels = (nc + nr - 1) / nr;
      // Few row blocks per thread: also split the columns into groups for balance.
      const int64_t groups = std::max<int64_t>(1, std::min<int64_t>(panels, (2 * threads + mblocks - 1) / mblocks));
      const int64_t items = mblocks * groups;
      const int64_t pack_tasks = std::min<int64_t>(threads, panels), work_tasks = std::min<int64_t>(threads, items);
      for (int64_t pb = 0; pb < kblocks; ++pb) {
        const int64_t p0 = k * pb / kblocks, kc = k * (pb + 1) / kblocks - p0;
        const T beta_step = pb == 0 ? beta : T(1);
        team.run(pack_tasks, [&](int64_t t) {
          pack_b(tb, b, ldb, p0, kc, jc, nc, nr, panels * t / pack_tasks, panels * (t + 1) / pack_tasks, bpack);
        });
        team.run(work_tasks, [&](int64_t t) {
          PackBuffer<T> abuf(tl_pack_a, static_cast<size_t>(mc * kc));
          T* apack = abuf.get();
          int64_t packed_block = -1;
          for (int64_t w = items * t / work_tasks; w < items * (t + 1) / work_tasks; ++w) {
            const int64_t ib = w / groups, g = w % groups;
            const int64_t i0 = mpanels * ib / mblocks * mr;
            const int64_t rows = std::min(mpanels * (ib + 1) / mblocks * mr, m) - i0;
            if (packed_block != ib) {
              pack_a(ta, a, lda, i0, rows, p0, kc, mr, apack);
              packed_block = ib;
            }
            const int64_t q0 = panels * g / groups, q1 = panels * (g + 1) / groups;
            for (int64_t ir = 0; ir < rows; ir += mr) {
              const int64_t rv = std::min<int64_t>(mr, rows - ir);
              for (int64_t q = q0; q < q1; ++q) {
                const int64_t jr = q * nr, cols = std::min<int64_t>(nr, nc - jr);
                kern.tile(kc, apack + ir * kc, bpack + jr * kc, c + (i0 + ir) * ldc + jc + jr, ldc, alpha,
                          beta_step, rv, cols);
              }
            }
          }
        });
      }
    }
  });
}

template <typename T>
void gemm_dispatch(const GemmKernel<T>& kern, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                   int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == T(0)) {
    if (beta != T(1)) scale_c(m, n, beta, c, ldc);
    return;
  }
  if (m == 1) {
    // row vector op(A) (stride lda when A is stored k x 1) times op(B)
    const int64_t incx = ta ? lda : 1;
    if (!tb) gemv(kern, false, n, k, alpha, b, ldb, a, incx, beta, c, 1);
    else gemv(kern, true, n, k, alpha, b, ldb, a, incx, beta, c, 1);
    return;
  }
  if (n == 1) {
    const int64_t incx = tb ? 1 : ldb;
    if (!ta) gemv(kern, true, m, k, alpha, a, lda, b, incx, beta, c, ldc);
    else gemv(kern, false, m, k, alpha, a, lda, b, incx, beta, c, ldc);
    return;
  }
  if (static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) <= 4096) {  // no int64 overflow
    gemm_direct(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  gemm_packed(kern, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

const GemmKernel<float>& gemm_scalar_kernel_f32() { return kScalarF32; }
const GemmKernel<double>& gemm_scalar_kernel_f64() { return kScalarF64; }
const GemmKernel<float>& gemm_kernel_f32(const KernelTable& t) { return t.gemm_f32_kernel ? *t.gemm_f32_kernel : kScalarF32; }
const GemmKernel<double>& gemm_kernel_f64(const KernelTable& t) { return t.gemm_f64_kernel ? *t.gemm_f64_kernel : kScalarF64; }

void gemm_with_f32(const GemmKernel<float>& kern, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_dispatch(kern, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm_packed_f32_widening_b(const GemmKernel<float>& kern, WidenHalfToF32 widen, bool ta, bool tb, int64_t m,
                                int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                                int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_packed(kern, ta, tb, m, n, k, alpha, a, lda, WideningB{b, widen}, ldb, beta, c, ldc);
}
void gemm_with_f64(const GemmKernel<double>& kern, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                   const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_dispatch(kern, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_f32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_dispatch(gemm_kernel_f32(kernels()), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm_f64(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
              const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_dispatch(gemm_kernel_f64(kernels()), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace nt
