// Kernel tests of the GPTQ / SparseGPT machinery (native/quant/obs.h): the reversed-Cholesky
// factor U of H⁻¹ against the definition UᵀU (H + λI) = I, the damping retry and its limit, the
// blocked sweep against the unblocked one for any block size and group alignment, and the
// covariance update on strided views.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "check.h"
#include "core/error.h"
#include "quant/gptq.h"
#include "quant/obs.h"

using namespace nt;
using namespace nt::quant;

namespace {

std::vector<double> random_values(int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> dist(0.0, 1.0);
  std::vector<double> a(static_cast<size_t>(n));
  for (double& x : a) x = dist(gen);
  return a;
}

// H = 2XᵀX/m for a random X [m, n] (m > n: positive definite)
std::vector<double> random_hessian(int64_t n, int64_t m, unsigned seed) {
  const std::vector<double> x = random_values(m * n, seed);
  std::vector<double> h(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t t = 0; t < m; ++t) s += x[t * n + i] * x[t * n + j];
      h[i * n + j] = 2 * s / m;
    }
  return h;
}

TensorView view2(void* data, DType d, int64_t rows, int64_t cols, int64_t s0, int64_t s1, uint64_t bytes) {
  TensorView v;
  v.data = data;
  v.storage_bytes = bytes;
  v.dtype = d;
  v.ndim = 2;
  v.shape[0] = rows;
  v.shape[1] = cols;
  v.strides[0] = s0;
  v.strides[1] = s1;
  return v;
}

}  // namespace

TEST_CASE(inverse_factor_is_the_upper_cholesky_factor_of_the_damped_inverse) {
  for (int64_t n : {1, 7, 65, 130}) {
    std::vector<double> h = random_hessian(n, 2 * n + 3, unsigned(n));
    std::vector<float> u(static_cast<size_t>(n * n));
    const double lambda = inverse_hessian_factor("test", h.data(), n, 0.01, u.data());
    CHECK_CLOSE(lambda, 0.01, 0);
    double mean = 0;
    for (int64_t j = 0; j < n; ++j) mean += h[j * n + j] / n;
    // (H + λ·mean·I) · UᵀU = I, and U is upper with a positive diagonal
    double worst = 0;
    bool upper = true;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        if (j < i && u[i * n + j] != 0.0f) upper = false;
        double s = 0;
        for (int64_t k = 0; k < n; ++k) {
          double hk = h[i * n + k] + (i == k ? 0.01 * mean : 0.0);
          double m = 0;  // (UᵀU)_kj
          for (int64_t t = 0; t <= std::min(k, j); ++t) m += double(u[t * n + k]) * double(u[t * n + j]);
          s += hk * m;
        }
        worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
      }
    CHECK(upper);
    for (int64_t i = 0; i < n; ++i) CHECK(u[i * n + i] > 0);
    CHECK(worst < 1e-4);
  }
}

TEST_CASE(damping_grows_until_the_factorization_succeeds_then_gives_up) {
  const int64_t n = 6;
  std::vector<double> ones(static_cast<size_t>(n * n), 1.0);  // rank 1: singular at damp 0
  std::vector<float> u(static_cast<size_t>(n * n));
  CHECK_CLOSE(inverse_hessian_factor("test", ones.data(), n, 0.0, u.data()), 0.01, 1e-15);
  std::vector<double> bad = {1, 10, 10, 1};  // indefinite beyond any damping tried
  bool threw = false;
  try {
    inverse_hessian_factor("test", bad.data(), 2, 0.01, u.data());
  } catch (const Error& e) {
    threw = e.code() == ErrorCode::Numeric;
  }
  CHECK(threw);
}

TEST_CASE(blocked_sweep_equals_the_unblocked_one_for_any_block_and_alignment) {
  const int64_t rows = 5, cols = 37;
  std::vector<double> h = random_hessian(cols, 100, 3);
  std::vector<float> u(static_cast<size_t>(cols * cols));
  inverse_hessian_factor("test", h.data(), cols, 0.01, u.data());
  const std::vector<double> w0 = random_values(rows * cols, 4);
  // target: round to a grid whose step is set by the group's max |w| when a group of 8 starts,
  // which needs the group's current values (the alignment promise)
  auto run = [&](int64_t block) {
    std::vector<float> w(w0.begin(), w0.end());
    std::vector<float> step(static_cast<size_t>(rows));
    obs_sweep(w.data(), rows, cols, u.data(), block, 8,
              [&](int64_t r, int64_t j, float* wr) {
                if (j % 8 == 0) {
                  float m = 0;
                  for (int64_t k = j; k < std::min(cols, j + 8); ++k) m = std::max(m, std::fabs(wr[k]));
                  step[size_t(r)] = m / 3;
                }
                return std::nearbyint(wr[j] / step[size_t(r)]) * step[size_t(r)];
              },
              {});
    return w;
  };
  const std::vector<float> ref = run(1);
  for (int64_t block : {2, 5, 8, 12, 37, 128}) {
    const std::vector<float> got = run(block);
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, double(std::fabs(got[i] - ref[i])));
    CHECK(worst < 1e-4);
  }
}

TEST_CASE(covariance_update_reads_strided_views_and_refuses_nan_untouched) {
  const int64_t n = 300, dim = 9;
  std::vector<double> xs = random_values(n * dim, 5);
  std::vector<float> x(xs.begin(), xs.end());
  // x stored column-major: element (t, j) at j * n + t
  std::vector<float> xt(static_cast<size_t>(n * dim));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < dim; ++j) xt[j * n + t] = x[t * dim + j];
  const TensorView xv = view2(xt.data(), DType::F32, n, dim, 1, n, xt.size() * 4);
  std::vector<double> gram(dim * dim), sq(dim), ab(dim);
  TensorView gv = view2(gram.data(), DType::F64, dim, dim, dim, 1, gram.size() * 8);
  TensorView sv, av;
  sv.data = sq.data(); sv.storage_bytes = dim * 8; sv.dtype = DType::F64; sv.ndim = 1; sv.shape[0] = dim; sv.strides[0] = 1;
  av = sv;
  av.data = ab.data();
  covariance_check(xv, &gv, sv, av);
  covariance_run(xv, &gv, sv, av, true);
  double worst = 0;
  for (int64_t i = 0; i < dim; ++i) {
    double s2 = 0, s1 = 0;
    for (int64_t t = 0; t < n; ++t) {
      s2 += double(x[t * dim + i]) * x[t * dim + i];
      s1 += std::fabs(double(x[t * dim + i]));
    }
    CHECK_CLOSE(sq[i], s2, 1e-9 * s2);
    CHECK_CLOSE(ab[i], s1, 1e-9 * s1);
    for (int64_t j = 0; j < dim; ++j) {
      double s = 0;
      for (int64_t t = 0; t < n; ++t) s += double(x[t * dim + i]) * x[t * dim + j];
      worst = std::max(worst, std::fabs(gram[i * dim + j] - s) / n);
      CHECK(gram[i * dim + j] == gram[j * dim + i]);
    }
  }
  CHECK(worst < 1e-5);
  const std::vector<double> before = gram;
  xt[3 * n + 250] = NAN;
  bool threw = false;
  try {
    covariance_run(xv, &gv, sv, av, true);
  } catch (const Error& e) {
    threw = e.code() == ErrorCode::Value;
  }
  CHECK(threw);
  CHECK(gram == before);
}

TEST_MAIN()
