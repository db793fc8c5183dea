// Kernel tests of the optimizer steps: every supported ISA of the optim table against a
// float64 reference of the same math (Adam with bias correction and decoupled decay, 8-bit
// Adam block steps), the dynamic code maps, the quantization round-trip bound, the weight-norm
// gradient, and thread-count independence.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "core/thread_pool.h"
#include "optim/optim.h"
#include "optim/optim_kernels.h"

namespace {

using nt::optim::AdamConstants;
using nt::optim::AdamHyper;

std::vector<float> randn(int64_t n, uint32_t seed, float scale = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0, scale);
  std::vector<float> x(n);
  for (auto& v : x) v = d(rng);
  return x;
}

AdamHyper hyper(int64_t step, bool direction) {
  AdamHyper h;
  h.lr = 1e-2;
  h.beta1 = 0.9;
  h.beta2 = 0.99;
  h.eps = 1e-8;
  h.weight_decay = 0.1;
  h.step = step;
  h.direction = direction;
  return h;
}

// The Adam element math in double.
void adam_reference(std::vector<double>& p, const std::vector<float>& g, std::vector<double>& m, std::vector<double>& v,
                    const AdamHyper& h) {
  const double bc1 = 1 - std::pow(h.beta1, h.step), bc2 = 1 - std::pow(h.beta2, h.step);
  for (size_t i = 0; i < g.size(); ++i) {
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g[i];
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * double(g[i]) * g[i];
    const double u = (m[i] / bc1) / (std::sqrt(v[i] / bc2) + h.eps);
    p[i] = h.direction ? u : p[i] * (1 - h.lr * h.weight_decay) - h.lr * u;
  }
}

}  // namespace

TEST_CASE(dynamic_maps_are_sorted_256_codes_with_zero_and_one) {
  for (bool is_signed : {true, false}) {
    const float* c = nt::optim::dynamic_code(is_signed);
    for (int i = 1; i < 256; ++i) CHECK(c[i] > c[i - 1]);
    CHECK(c[255] == 1.0f);
    CHECK(std::count(c, c + 256, 0.0f) == 1);
    if (is_signed) CHECK(c[0] < -0.99f && c[127] == 0.0f);
    else CHECK(c[0] == 0.0f);
    CHECK(nt::optim::max_code_gap(is_signed) < (is_signed ? 0.0141f : 0.0071f));
  }
}

TEST_CASE(adam_kernels_match_the_float64_reference_on_every_isa) {
  for (const std::string& isa : nt::optim::optim_supported_isas()) {
    const nt::optim::OptimKernels k = nt::optim::optim_kernels_for(isa);
    for (int64_t n : {1, 7, 8, 33, 1031}) {
      for (bool direction : {false, true}) {
        std::vector<float> p = randn(n, 1), m(n, 0), v(n, 0);
        std::vector<double> pr(p.begin(), p.end()), mr(n, 0), vr(n, 0);
        double err = 0;
        for (int64_t t = 1; t <= 3; ++t) {
          const std::vector<float> g = randn(n, 10 + t);
          const AdamHyper h = hyper(t, direction);
          const AdamConstants c = nt::optim::adam_constants("test", h);
          k.adam_f32(p.data(), g.data(), m.data(), v.data(), n, c);
          adam_reference(pr, g, mr, vr, h);
          for (int64_t i = 0; i < n; ++i) err = std::max(err, std::fabs(p[i] - pr[i]) / (1 + std::fabs(pr[i])));
        }
        CHECK(err < 2e-6);
        if (!(err < 2e-6)) std::printf("  %s n=%lld direction=%d err %.3g\n", isa.c_str(), (long long)n, direction, err);
      }
    }
  }
}

TEST_CASE(quantization_round_trip_is_within_half_the_largest_code_gap_and_isas_agree) {
  const nt::optim::OptimKernels ref = nt::optim::optim_kernels_for("scalar");
  for (const std::string& isa : nt::optim::optim_supported_isas()) {
    const nt::optim::OptimKernels k = nt::optim::optim_kernels_for(isa);
    for (bool is_signed : {true, false}) {
      for (int64_t n : {1, 7, 33, 256, 2048}) {
        std::vector<float> x = randn(n, 3 + n, 0.01f);
        if (!is_signed) for (auto& e : x) e = e * e;
        std::vector<uint8_t> codes(n), ref_codes(n);
        float amax = 0, ref_amax = 0;
        k.quantize_block(x.data(), codes.data(), &amax, n, is_signed);
        ref.quantize_block(x.data(), ref_codes.data(), &ref_amax, n, is_signed);
        CHECK(amax == ref_amax);
        CHECK(codes == ref_codes);
        std::vector<float> back(n);
        k.dequantize_block(codes.data(), amax, back.data(), n, is_signed);
        const double bound = amax * (nt::optim::max_code_gap(is_signed) / 2 + std::ldexp(1.0, -21));
        double worst = 0;
        for (int64_t i = 0; i < n; ++i) worst = std::max(worst, double(std::fabs(back[i] - x[i])));
        CHECK(worst <= bound);
      }
      // An all-zero block keeps absmax 0 and dequantizes to exact zeros.
      std::vector<float> z(100, 0.0f), back(100, 1.0f);
      std::vector<uint8_t> codes(100);
      float amax = 1;
      k.quantize_block(z.data(), codes.data(), &amax, 100, is_signed);
      k.dequantize_block(codes.data(), amax, back.data(), 100, is_signed);
      CHECK(amax == 0);
      CHECK(std::all_of(back.begin(), back.end(), [](float e) { return e == 0.0f; }));
    }
  }
}

TEST_CASE(every_code_and_every_midpoint_neighbourhood_gets_the_scalar_index_on_every_isa) {
  const nt::optim::OptimKernels ref = nt::optim::optim_kernels_for("scalar");
  for (const std::string& isa : nt::optim::optim_supported_isas()) {
    const nt::optim::OptimKernels k = nt::optim::optim_kernels_for(isa);
    for (bool is_signed : {true, false}) {
      const float* c = nt::optim::dynamic_code(is_signed);
      std::vector<float> x = {1.0f};  // absmax 1: the block is quantized as given
      for (int i = 0; i < 256; ++i) {
        x.push_back(c[i]);
        if (i + 1 < 256) {
          const float mid = (c[i] + c[i + 1]) / 2;
          x.push_back(mid);
          x.push_back(std::nextafter(mid, 2.0f));
          x.push_back(std::nextafter(mid, -2.0f));
        }
      }
      x.push_back(is_signed ? -1.0f : 0.0f);
      std::vector<uint8_t> a(x.size()), b(x.size());
      float am = 0, bm = 0;
      k.quantize_block(x.data(), a.data(), &am, int64_t(x.size()), is_signed);
      ref.quantize_block(x.data(), b.data(), &bm, int64_t(x.size()), is_signed);
      CHECK(a == b);
      for (int i = 0; i < 256; ++i) CHECK(b[1 + 4 * i] == i);  // each code maps to itself
    }
  }
}

TEST_CASE(adam8bit_block_step_is_adam_on_the_dequantized_state) {
  for (const std::string& isa : nt::optim::optim_supported_isas()) {
    const nt::optim::OptimKernels k = nt::optim::optim_kernels_for(isa);
    for (int64_t n : {5, 256, 2048}) {
      std::vector<float> p = randn(n, 7);
      std::vector<uint8_t> mq(n, 0), vq(n, 0);
      float ma = 0, va = 0;
      for (int64_t t = 1; t <= 4; ++t) {
        // The reference starts from the dequantized state the kernel reads.
        std::vector<float> md(n), vd(n);
        k.dequantize_block(mq.data(), ma, md.data(), n, true);
        k.dequantize_block(vq.data(), va, vd.data(), n, false);
        std::vector<double> pr(p.begin(), p.end()), mr(md.begin(), md.end()), vr(vd.begin(), vd.end());
        const std::vector<float> g = randn(n, 100 + t);
        const AdamHyper h = hyper(t, false);
        k.adam8bit_block(p.data(), g.data(), mq.data(), &ma, vq.data(), &va, n, nt::optim::adam_constants("test", h));
        adam_reference(pr, g, mr, vr, h);
        double perr = 0, merr = 0, verr = 0;
        k.dequantize_block(mq.data(), ma, md.data(), n, true);
        k.dequantize_block(vq.data(), va, vd.data(), n, false);
        for (int64_t i = 0; i < n; ++i) {
          perr = std::max(perr, std::fabs(p[i] - pr[i]) / (1 + std::fabs(pr[i])));
          merr = std::max(merr, std::fabs(md[i] - mr[i]));
          verr = std::max(verr, std::fabs(vd[i] - vr[i]));
        }
        CHECK(perr < 1e-5);
        // Stored moments are the exact ones up to the quantization bound (+ f32 rounding).
        CHECK(merr <= ma * nt::optim::max_code_gap(true) / 2 * 1.001 + 1e-7);
        CHECK(verr <= va * nt::optim::max_code_gap(false) / 2 * 1.001 + 1e-9);
      }
    }
  }
}

TEST_CASE(weight_norm_gradient_matches_the_direct_formula_in_float64) {
  const int64_t rows = 5, cols = 9;
  std::vector<float> w = randn(rows * cols, 21), G = randn(rows * cols, 22), g(rows), s(rows), dv(rows * cols), dg(rows);
  for (int64_t j = 0; j < cols; ++j) w[2 * cols + j] = 0;  // a zero row
  auto view = [](void* data, int64_t r, int64_t c, int ndim) {
    nt::TensorView t;
    t.data = data;
    t.dtype = nt::DType::F32;
    t.ndim = ndim;
    t.shape[0] = r;
    t.shape[1] = c;
    t.strides[0] = ndim == 2 ? c : 1;
    t.strides[1] = 1;
    t.storage_bytes = uint64_t(r) * (ndim == 2 ? c : 1) * 4;
    return t;
  };
  const auto W = view(w.data(), rows, cols, 2), Gv = view(G.data(), rows, cols, 2), Dv = view(dv.data(), rows, cols, 2);
  const auto gv = view(g.data(), rows, 1, 1), sv = view(s.data(), rows, 1, 1), dgv = view(dg.data(), rows, 1, 1);
  const double eps = 1e-8;
  nt::optim::weight_norm_check("test", W, gv, sv, &Gv, &Dv, &dgv);
  nt::optim::weight_norm_init_run(W, gv, sv, eps);
  nt::optim::weight_norm_grad_run(W, gv, sv, Gv, Dv, dgv);
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t j = 0; j < cols; ++j) ss += double(w[r * cols + j]) * w[r * cols + j];
    const double nrm = std::sqrt(ss + eps);
    CHECK_CLOSE(g[r], nrm, 1e-6 * nrm);
    CHECK_CLOSE(s[r], nrm, 1e-6 * nrm);
    double dot = 0;
    for (int64_t j = 0; j < cols; ++j) dot += w[r * cols + j] / nrm * G[r * cols + j];
    CHECK_CLOSE(dg[r], dot, 1e-5);
    for (int64_t j = 0; j < cols; ++j) {
      const double vhat = w[r * cols + j] / nrm;
      CHECK_CLOSE(dv[r * cols + j], (G[r * cols + j] - dot * vhat), 1e-5);  // g / s = 1 after init
    }
  }
}

TEST_CASE(adam_steps_do_not_depend_on_the_thread_count) {
  const int64_t n = 300000;
  std::vector<float> results[2];
  for (int threads : {1, 2}) {
    nt::set_num_threads(threads);
    std::vector<float> p = randn(n, 5), g = randn(n, 6), m(n, 0), v(n, 0);
    nt::TensorView tv[4];
    float* ptrs[4] = {p.data(), g.data(), m.data(), v.data()};
    for (int i = 0; i < 4; ++i) {
      tv[i].data = ptrs[i];
      tv[i].ndim = 1;
      tv[i].shape[0] = n;
      tv[i].strides[0] = 1;
      tv[i].storage_bytes = n * 4;
    }
    nt::optim::adam_run(tv[0], tv[1], tv[2], tv[3], nt::optim::adam_constants("test", hyper(1, false)));
    results[threads - 1] = p;
  }
  nt::set_num_threads(0);
  CHECK(results[0] == results[1]);
}

TEST_CASE(checks_refuse_mismatched_state_before_writing) {
  std::vector<float> a(10), b(9);
  nt::TensorView x, y;
  x.data = a.data();
  x.ndim = 1;
  x.shape[0] = 10;
  x.strides[0] = 1;
  y = x;
  y.data = b.data();
  y.shape[0] = 9;
  bool threw = false;
  try {
    nt::optim::adam_check("optim.adamStep", x, x, x, y);
  } catch (const nt::Error& e) {
    threw = e.code() == nt::ErrorCode::Shape && std::string(e.what()).find("[optim.adamStep] v must have 10") == 0;
  }
  CHECK(threw);
  threw = false;
  try {
    nt::optim::adam8bit_check("optim.adam8bitStep", x, x, x, x, x, x, 4096);
  } catch (const nt::Error& e) {
    threw = e.code() == nt::ErrorCode::Value;
  }
  CHECK(threw);
}

TEST_MAIN()
