// Hot loops of the dense SVD (native/linalg/svd.cc): the memory-bound matrix-vector products
// of the Householder bidiagonalization and the application of Givens rotation sweeps from
// the bidiagonal QR iteration. Each has a portable version and an AVX2+FMA version chosen at
// run time through the shared ISA dispatch (native/cpu/kernels.h slots svd_*, registered by
// svd_kernels_avx2.cc; the matrix-vector ones also an AVX-512 version, svd_kernels_avx512.cc;
// NTENSOR_ISA=avx2 / scalar caps the choice). Work is split over
// the core pool in blocks whose bounds do not depend on the thread count, so results are
// identical for any number of threads.
#pragma once
#include <cstdint>

namespace nt {
class Team;
}

namespace nt::svd_detail {

// y[0:nc] = beta * y + alpha * M^T x; M is nr x nc row-major with leading dimension ld, x has
// nr contiguous elements. beta == 0 overwrites y without reading it. With a team (called by
// its leader) the work is shared as team steps; without one it goes through parallel_for.
void gemv_t(Team* team, int64_t nr, int64_t nc, float alpha, const float* M, int64_t ld, const float* x, float beta,
            float* y);
void gemv_t(Team* team, int64_t nr, int64_t nc, double alpha, const double* M, int64_t ld, const double* x,
            double beta, double* y);
// y[0:nr] = beta * y + alpha * M x; x has nc contiguous elements.
void gemv_n(Team* team, int64_t nr, int64_t nc, float alpha, const float* M, int64_t ld, const float* x, float beta,
            float* y);
void gemv_n(Team* team, int64_t nr, int64_t nc, double alpha, const double* M, int64_t ld, const double* x,
            double beta, double* y);
template <typename T>
void gemv_t(int64_t nr, int64_t nc, T alpha, const T* M, int64_t ld, const T* x, T beta, T* y) {
  gemv_t(nullptr, nr, nc, alpha, M, ld, x, beta, y);
}
template <typename T>
void gemv_n(int64_t nr, int64_t nc, T alpha, const T* M, int64_t ld, const T* x, T beta, T* y) {
  gemv_n(nullptr, nr, nc, alpha, M, ld, x, beta, y);
}

// One sweep of plane rotations on consecutive rows of a row-major matrix X, as LAPACK's
// xLASR('L', 'V', direction): rotation j acts on rows (first + j, first + j + 1) with
//   x' = c_j x + s_j y,  y' = c_j y - s_j x   (x = row first + j, y = row first + j + 1),
// applied for j = 0 .. count-1 (forward) or count-1 .. 0 (backward). c_j, s_j live at
// cs[offset + j] and sn[offset + j].
struct RotationSweep {
  int64_t first;
  int64_t count;
  int64_t offset;
  bool forward;
};

// Applies the sweeps in order to columns [c0, c1) of X (ld = row stride). Serial: callers
// split columns into blocks of rotation_block<T>() and run the blocks in parallel.
void apply_sweeps(float* X, int64_t ld, int64_t c0, int64_t c1, const RotationSweep* sweeps, int64_t nsweeps,
                  const float* cs, const float* sn);
void apply_sweeps(double* X, int64_t ld, int64_t c0, int64_t c1, const RotationSweep* sweeps, int64_t nsweeps,
                  const double* cs, const double* sn);

// Column block width of apply_sweeps that keeps one carried row block in registers.
template <typename T>
constexpr int64_t rotation_block() { return sizeof(T) == 4 ? 64 : 32; }

}  // namespace nt::svd_detail
