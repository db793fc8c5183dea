// Portable versions of the SVD hot loops and the run-time choice of the AVX2 ones. The
// portable loops are the reference the AVX2 kernels are tested against (test/native/test_svd.cc).
#include "svd_kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "../cpu/kernels.h"
#include "../core/team.h"

namespace nt::svd_detail {
namespace {

// Column blocks of gemv_t and row counts per task: fixed, so the split (and every rounding)
// is the same for any thread count.
constexpr int64_t kGemvColumnBlock = 256;
constexpr int64_t kGemvMinWork = 1 << 15;  // multiply-adds below which a gemv runs inline
constexpr int64_t kTeamPieces = 16;         // most tasks per product on a team


// y[0:nc] += M^T x (x already scaled by alpha), rows in order: the portable reference.
template <typename T>
void gemv_t_block_portable(int64_t nr, int64_t nc, const T* M, int64_t ld, const T* x, T* y) {
  for (int64_t r = 0; r < nr; ++r) {
    const T xr = x[r];
    const T* row = M + r * ld;
    for (int64_t c = 0; c < nc; ++c) y[c] = std::fma(xr, row[c], y[c]);
  }
}

template <typename T>
T dot_portable(const T* a, const T* b, int64_t n) {
  T acc = 0;
  for (int64_t i = 0; i < n; ++i) acc = std::fma(a[i], b[i], acc);
  return acc;
}

template <typename T>
void sweeps_portable(T* X, int64_t ld, int64_t c0, int64_t c1, const RotationSweep* sweeps, int64_t nsweeps,
                     const T* cs, const T* sn) {
  for (int64_t q = 0; q < nsweeps; ++q) {
    const RotationSweep& w = sweeps[q];
    for (int64_t t = 0; t < w.count; ++t) {
      const int64_t j = w.forward ? t : w.count - 1 - t;
      const T c = cs[w.offset + j], s = sn[w.offset + j];
      T* x = X + (w.first + j) * ld;
      T* y = x + ld;
      for (int64_t col = c0; col < c1; ++col) {
        const T xv = x[col], yv = y[col];
        x[col] = c * xv + s * yv;
        y[col] = c * yv - s * xv;
      }
    }
  }
}

template <typename T>
void gemv_t_impl(Team* team, int64_t nr, int64_t nc, T alpha, const T* M, int64_t ld, const T* x, T beta, T* y,
                 void (*block)(int64_t, int64_t, const T*, int64_t, const T*, T*)) {
  if (nc <= 0) return;
  if (beta == T(0)) {
    std::fill(y, y + nc, T(0));
  } else if (beta != T(1)) {
    for (int64_t c = 0; c < nc; ++c) y[c] *= beta;
  }
  if (nr <= 0 || alpha == T(0)) return;
  std::vector<T> xs(static_cast<size_t>(nr));
  for (int64_t r = 0; r < nr; ++r) xs[r] = alpha * x[r];
  if (!block) block = gemv_t_block_portable<T>;
  if (team) {
    // Column slices of a fixed count per size (whole vectors): on a team each step's wake-up is
    // a counter, so small products are worth sharing too. The kernels' sums run over rows in
    // order for every column, so the slicing never changes a result.
    const int64_t pieces = nr * nc < kGemvMinWork ? 1 : std::min<int64_t>(kTeamPieces, (nc + 63) / 64);
    const int64_t width = ((nc + pieces - 1) / pieces + 7) / 8 * 8;
    const int64_t ntasks = (nc + width - 1) / width;
    auto task = [&](int64_t p) {
      const int64_t c0 = p * width, c1 = std::min(nc, c0 + width);
      block(nr, c1 - c0, M + c0, ld, xs.data(), y + c0);
    };
    if (ntasks == 1) {
      task(0);
    } else {
      team->run(ntasks, task);
    }
    return;
  }
  const int64_t nblocks = (nc + kGemvColumnBlock - 1) / kGemvColumnBlock;
  const int64_t grain = std::max<int64_t>(1, kGemvMinWork / std::max<int64_t>(1, nr * kGemvColumnBlock));
  parallel_for(nblocks, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t c0 = b * kGemvColumnBlock, c1 = std::min(nc, c0 + kGemvColumnBlock);
      block(nr, c1 - c0, M + c0, ld, xs.data(), y + c0);
    }
  });
}

template <typename T>
void gemv_n_impl(Team* team, int64_t nr, int64_t nc, T alpha, const T* M, int64_t ld, const T* x, T beta, T* y,
                 T (*dot)(const T*, const T*, int64_t)) {
  if (nr <= 0) return;
  if (!dot) dot = dot_portable<T>;
  if (team) {
    const int64_t pieces = nr * nc < kGemvMinWork ? 1 : std::min<int64_t>(kTeamPieces, (nr + 15) / 16);
    const int64_t rows = (nr + pieces - 1) / pieces;
    const int64_t ntasks = (nr + rows - 1) / rows;
    auto task = [&](int64_t p) {
      for (int64_t r = p * rows; r < std::min(nr, (p + 1) * rows); ++r) {
        const T v = nc > 0 ? alpha * dot(M + r * ld, x, nc) : T(0);
        y[r] = beta == T(0) ? v : beta * y[r] + v;
      }
    };
    if (ntasks == 1) {
      task(0);
    } else {
      team->run(ntasks, task);
    }
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kGemvMinWork / std::max<int64_t>(1, nc));
  parallel_for(nr, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T v = nc > 0 ? alpha * dot(M + r * ld, x, nc) : T(0);
      y[r] = beta == T(0) ? v : beta * y[r] + v;
    }
  });
}

}  // namespace

void gemv_t(Team* team, int64_t nr, int64_t nc, float alpha, const float* M, int64_t ld, const float* x, float beta,
            float* y) {
  gemv_t_impl<float>(team, nr, nc, alpha, M, ld, x, beta, y, nt::kernels().svd_gemv_t_f32);
}
void gemv_t(Team* team, int64_t nr, int64_t nc, double alpha, const double* M, int64_t ld, const double* x, double beta,
            double* y) {
  gemv_t_impl<double>(team, nr, nc, alpha, M, ld, x, beta, y, nt::kernels().svd_gemv_t_f64);
}
void gemv_n(Team* team, int64_t nr, int64_t nc, float alpha, const float* M, int64_t ld, const float* x, float beta,
            float* y) {
  gemv_n_impl<float>(team, nr, nc, alpha, M, ld, x, beta, y, nt::kernels().svd_dot_f32);
}
void gemv_n(Team* team, int64_t nr, int64_t nc, double alpha, const double* M, int64_t ld, const double* x, double beta,
            double* y) {
  gemv_n_impl<double>(team, nr, nc, alpha, M, ld, x, beta, y, nt::kernels().svd_dot_f64);
}

void apply_sweeps(float* X, int64_t ld, int64_t c0, int64_t c1, const RotationSweep* sweeps, int64_t nsweeps,
                  const float* cs, const float* sn) {
  if (auto sweeps_f32 = nt::kernels().svd_sweeps_f32) return sweeps_f32(X, ld, c0, c1, sweeps, nsweeps, cs, sn);
  sweeps_portable<float>(X, ld, c0, c1, sweeps, nsweeps, cs, sn);
}
void apply_sweeps(double* X, int64_t ld, int64_t c0, int64_t c1, const RotationSweep* sweeps, int64_t nsweeps,
                  const double* cs, const double* sn) {
  if (auto sweeps_f64 = nt::kernels().svd_sweeps_f64) return sweeps_f64(X, ld, c0, c1, sweeps, nsweeps, cs, sn);
  sweeps_portable<double>(X, ld, c0, c1, sweeps, nsweeps, cs, sn);
}

}  // namespace nt::svd_detail
