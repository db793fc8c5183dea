// Attention kernels without Node: every supported ISA's kernel set (scalar, avx2, avx512) runs
// the engine (tiled prefill path and split-K decode path) under dense, causal, sliding-window
// and block-sparse masks against a float64 reference; delta attention at threshold 0 equals
// dense; results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/attention_kernels.h"
#include "check.h"
#include "core/thread_pool.h"

namespace {

struct Buf {
  std::vector<float> data;
  nt::TensorView view;
  Buf(std::vector<int64_t> shape, std::mt19937& rng, float amp = 1.0f) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    data.resize(static_cast<size_t>(std::max<int64_t>(n, 1)));
    std::uniform_real_distribution<float> u(-amp, amp);
    for (float& x : data) x = u(rng);
    view.data = data.data();
    view.storage_bytes = data.size() * sizeof(float);
    view.dtype = nt::DType::F32;
    view.ndim = static_cast<int>(shape.size());
    int64_t st = 1;
    for (int i = view.ndim - 1; i >= 0; --i) {
      view.shape[i] = shape[i];
      view.strides[i] = st;
      st *= shape[i];
    }
  }
  float at(int64_t b, int64_t h, int64_t s, int64_t c) const {
    return data[b * view.strides[0] + h * view.strides[1] + s * view.strides[2] + c * view.strides[3]];
  }
};

struct Mask {
  bool causal = true;
  int64_t window = 0;
  const std::vector<uint8_t>* blocks = nullptr;
  int64_t bs = 0;
};

std::vector<double> reference(const Buf& q, const Buf& k, const Buf& v, float scale, const Mask& m) {
  const int64_t B = q.view.shape[0], HQ = q.view.shape[1], SQ = q.view.shape[2], D = q.view.shape[3];
  const int64_t HKV = k.view.shape[1], SK = k.view.shape[2], DV = v.view.shape[3], G = HQ / HKV;
  const int64_t nb = m.bs ? (SK + m.bs - 1) / m.bs : 0;
  std::vector<double> out(B * HQ * SQ * DV, 0.0), s(SK);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < HQ; ++h)
      for (int64_t i = 0; i < SQ; ++i) {
        const int64_t pos = SK - SQ + i;
        double mx = -INFINITY;
        std::vector<bool> ok(SK);
        for (int64_t j = 0; j < SK; ++j) {
          bool keep = !m.causal || j <= pos;
          if (m.window) keep = keep && j > pos - m.window && (m.causal || j < pos + m.window);
          if (m.blocks) keep = keep && (*m.blocks)[((b * HQ + h) * nb + pos / m.bs) * nb + j / m.bs];
          ok[j] = keep;
          if (!keep) continue;
          double t = 0;
          for (int64_t c = 0; c < D; ++c) t += double(q.at(b, h, i, c)) * k.at(b, h / G, j, c);
          s[j] = t * scale;
          mx = std::max(mx, s[j]);
        }
        if (mx == -INFINITY) continue;
        double l = 0;
        for (int64_t j = 0; j < SK; ++j) l += ok[j] ? std::exp(s[j] - mx) : 0.0;
        for (int64_t j = 0; j < SK; ++j) {
          if (!ok[j]) continue;
          const double w = std::exp(s[j] - mx) / l;
          for (int64_t c = 0; c < DV; ++c) out[((b * HQ + h) * SQ + i) * DV + c] += w * v.at(b, h / G, j, c);
        }
      }
  return out;
}

double max_rel(const std::vector<float>& a, const std::vector<double>& ref) {
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < ref.size(); ++i) {
    err = std::max(err, std::fabs(a[i] - ref[i]));
    scale = std::max(scale, std::fabs(ref[i]));
  }
  return std::isnan(err) ? INFINITY : err / scale;
}

std::vector<float> run(const nt::AttentionKernels& ks, const Buf& q, const Buf& k, const Buf& v, float scale,
                       const Mask& m, std::mt19937& rng) {
  Buf out({q.view.shape[0], q.view.shape[1], q.view.shape[2], v.view.shape[3]}, rng);
  nt::AttentionMask am;
  am.causal = m.causal;
  am.window = m.window;
  nt::TensorView bv;
  if (m.blocks) {
    const int64_t nb = (k.view.shape[2] + m.bs - 1) / m.bs;
    bv.data = const_cast<uint8_t*>(m.blocks->data());
    bv.storage_bytes = m.blocks->size();
    bv.dtype = nt::DType::U8;
    bv.ndim = 4;
    const int64_t shape[4] = {q.view.shape[0], q.view.shape[1], nb, nb};
    int64_t st = 1;
    for (int i = 3; i >= 0; --i) {
      bv.shape[i] = shape[i];
      bv.strides[i] = st;
      st *= shape[i];
    }
    am.blocks = &bv;
    am.block = m.bs;
  }
  nt::attention_forward(q.view, k.view, v.view, out.view, scale, am, ks);
  return out.data;
}

TEST_CASE(every_isa_matches_the_float64_reference) {
  std::mt19937 rng(7);
  struct Shape { int64_t b, hq, hkv, sq, sk, d; };
  const Shape shapes[] = {{1, 1, 1, 1, 1, 1},     {2, 8, 2, 7, 7, 3},     {1, 4, 4, 33, 33, 64},
                          {1, 6, 3, 129, 129, 80}, {2, 8, 2, 1, 129, 64}, {1, 4, 1, 3, 300, 17},
                          {1, 2, 2, 200, 260, 32}};
  for (const std::string& isa : nt::attention_isas()) {
    const nt::AttentionKernels& ks = nt::attention_kernels_for(isa);
    for (const Shape& s : shapes) {
      Buf q({s.b, s.hq, s.sq, s.d}, rng), k({s.b, s.hkv, s.sk, s.d}, rng), v({s.b, s.hkv, s.sk, s.d}, rng);
      const float scale = 1.0f / std::sqrt(float(s.d));
      const int64_t nb = (s.sk + 15) / 16;
      std::vector<uint8_t> blocks(s.b * s.hq * nb * nb);
      for (auto& x : blocks) x = rng() % 3 != 0;
      Mask masks[6];
      masks[1].causal = false;
      masks[2].window = 5;
      masks[3].window = 40;
      masks[3].causal = false;
      masks[4].blocks = &blocks;
      masks[4].bs = 16;
      masks[5] = masks[4];
      masks[5].causal = false;
      for (const Mask& m : masks) {
        if (m.causal && s.sk < s.sq) continue;
        const double err = max_rel(run(ks, q, k, v, scale, m, rng), reference(q, k, v, scale, m));
        if (!(err < 2e-5))
          std::printf("  isa %s shape b%lld hq%lld sq%lld sk%lld d%lld causal %d window %lld blocks %d: err %g\n",
                      isa.c_str(), (long long)s.b, (long long)s.hq, (long long)s.sq, (long long)s.sk, (long long)s.d,
                      m.causal, (long long)m.window, m.blocks != nullptr, err);
        CHECK(err < 2e-5);
      }
    }
  }
}

TEST_CASE(thread_count_does_not_change_results) {
  std::mt19937 rng(11);
  const nt::AttentionKernels& ks = nt::attention_kernels();
  Buf q({1, 8, 300, 32}, rng), k({1, 2, 300, 32}, rng), v({1, 2, 300, 32}, rng), q1({1, 8, 1, 32}, rng);
  const int prev = nt::num_threads();
  nt::set_num_threads(1);
  const auto a = run(ks, q, k, v, 0.2f, Mask{}, rng), a1 = run(ks, q1, k, v, 0.2f, Mask{}, rng);
  nt::set_num_threads(2);
  const auto b = run(ks, q, k, v, 0.2f, Mask{}, rng), b1 = run(ks, q1, k, v, 0.2f, Mask{}, rng);
  nt::set_num_threads(prev);
  CHECK(a == b);
  CHECK(a1 == b1);
}

TEST_CASE(delta_threshold_zero_equals_dense_and_counts_work) {
  std::mt19937 rng(5);
  for (const std::string& isa : nt::attention_isas()) {
    const nt::AttentionKernels& ks = nt::attention_kernels_for(isa);
    const int64_t B = 1, HQ = 4, HKV = 2, S = 70, D = 24, W = 8;
    Buf q({B, HQ, S, D}, rng), k({B, HKV, S, D}, rng), v({B, HKV, S, D}, rng), out({B, HQ, S, D}, rng);
    std::vector<float> qhat(B * HQ * D, 0.0f), scores(B * HQ * S), kt(B * HKV * D * S);
    nt::DeltaState st{qhat.data(), scores.data(), kt.data(), S, 0, -1};
    const float scale = 0.2f;
    const nt::DeltaCounts c = nt::delta_forward(q.view, k.view, v.view, out.view, scale, W, 0.0f, st, ks);
    CHECK(max_rel(out.data, reference(q, k, v, scale, Mask{})) < 5e-5);
    double dense = 0;
    for (int64_t p = 0; p < S; ++p) dense += double(D) * std::max<int64_t>(0, p - W + 1);
    CHECK(c.dense * 1 == dense * B * HQ);
    CHECK(c.done == c.dense);  // random queries: every component changes
    CHECK(st.next == S && st.seen == S);
  }
}

TEST_CASE(delta_decode_row_by_row_equals_prefill) {
  std::mt19937 rng(9);
  for (const std::string& isa : nt::attention_isas()) {
    const nt::AttentionKernels& ks = nt::attention_kernels_for(isa);
    const int64_t HQ = 4, HKV = 2, S = 40, D = 20, W = 6;
    const float theta = 0.3f;
    Buf q({1, HQ, S, D}, rng), k({1, HKV, S, D}, rng), v({1, HKV, S, D}, rng), out({1, HQ, S, D}, rng);
    std::vector<float> qhat(HQ * D, 0.0f), scores(HQ * S), kt(HKV * D * S);
    nt::DeltaState st{qhat.data(), scores.data(), kt.data(), S, 0, -1};
    const nt::DeltaCounts all = nt::delta_forward(q.view, k.view, v.view, out.view, 0.25f, W, theta, st, ks);
    std::vector<float> qhat2(HQ * D, 0.0f), scores2(HQ * S), kt2(HKV * D * S);
    nt::DeltaState st2{qhat2.data(), scores2.data(), kt2.data(), S, 0, -1};
    double done = 0;
    bool same = true;
    for (int64_t t = 0; t < S; ++t) {
      nt::TensorView qt = q.view, kt_ = k.view, vt = v.view;
      qt.offset = t * q.view.strides[2];
      qt.shape[2] = 1;
      kt_.shape[2] = vt.shape[2] = t + 1;
      Buf o({1, HQ, 1, D}, rng);
      done += nt::delta_forward(qt, kt_, vt, o.view, 0.25f, W, theta, st2, ks).done;
      for (int64_t h = 0; h < HQ; ++h)
        for (int64_t c = 0; c < D; ++c) same = same && o.at(0, h, 0, c) == out.at(0, h, t, c);
    }
    CHECK(same);
    CHECK(done == all.done);
    CHECK(all.done < all.dense);  // the threshold skips work
  }
}

TEST_CASE(delta_update_kernel_matches_scalar) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  const nt::AttentionKernels& ref = nt::attention_kernels_for("scalar");
  for (const std::string& isa : nt::attention_isas()) {
    const nt::AttentionKernels& ks = nt::attention_kernels_for(isa);
    for (int64_t n : {1, 7, 33, 100}) {
      const int64_t d = 13, ld = 101;
      std::vector<float> kt(d * ld), delta(d), s0(n);
      for (auto& x : kt) x = u(rng);
      for (auto& x : delta) x = u(rng);
      for (auto& x : s0) x = u(rng);
      const std::vector<int32_t> idx = {0, 2, 3, 5, 7, 8, 12};
      std::vector<float> a = s0, b = s0;
      ref.delta_update(n, 7, idx.data(), delta.data(), kt.data(), ld, a.data());
      ks.delta_update(n, 7, idx.data(), delta.data(), kt.data(), ld, b.data());
      for (int64_t j = 0; j < n; ++j) {
        double e = s0[j];
        for (int i = 0; i < 7; ++i) e += double(delta[i]) * kt[idx[i] * ld + j];
        CHECK_CLOSE(b[j], e, 1e-5);
        CHECK(a[j] == b[j]);  // the same fma chain in every ISA
      }
    }
  }
}

}  // namespace

TEST_MAIN()
