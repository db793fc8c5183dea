#include "linear_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/thread_pool.h"
#include "../cpu/gemm.h"
#include "linear_view.h"

namespace nt {
namespace {

using linattn::gather_rows;
using linattn::read_elem;
using linattn::scatter_rows;

constexpr int64_t kChunk = 64;

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  gemm_f64(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, double beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  gemm_f32(ta, tb, m, n, k, static_cast<float>(alpha), a, lda, b, ldb, static_cast<float>(beta), c, ldc);
}

double gamma_of(const LinearAttentionInputs& in, int64_t h) {
  return in.window > 0 ? read_elem(*in.gamma, h * in.gamma->strides[0]) : 0.0;
}

// The per-(batch, query head) chunked pass. forward() runs the chunks in order and, when a
// gradient is given, also produces everything that only needs the state before each chunk
// (dφq, the window part's dq/dk/dv/dγ); backward_keys() then runs the chunks in reverse with
// the transposed state R = Σ φq g'ᵀ for dφk and the linear part of dv.
template <typename T>
struct HeadPass {
  using Buf = std::vector<T>;
  const LinearAttentionInputs& in;
  int64_t b, h, kvh;
  int64_t nq, nk, off, w, F, Dv, D;
  T gamma;

  // chunk buffers
  Buf Qf, Kf, Vb, A, num, den, S, z, Qr, Kb, Vw, L, Ew, Y;
  std::vector<int64_t> argmax;
  // backward buffers
  Buf Gp, beta, dQf, M, Eb, ds, dQr, R, rr, dKf, dVb;
  Buf Dn, Beta;  // per query row: denominator and β = g'·y, kept for the reverse pass

  HeadPass(const LinearAttentionInputs& in_, int64_t b_, int64_t h_)
      : in(in_), b(b_), h(h_) {
    nq = in.phi_q.shape[2];
    nk = in.phi_k.shape[2];
    off = nk - nq;
    w = in.window;
    F = in.phi_q.shape[3];
    Dv = in.v.shape[3];
    D = w > 0 ? in.q->shape[3] : 0;
    kvh = h / (in.phi_q.shape[1] / in.v.shape[1]);
    gamma = static_cast<T>(gamma_of(in, h));
    Qf.resize(kChunk * F);
    Kf.resize(kChunk * F);
    Vb.resize(kChunk * Dv);
    A.resize(kChunk * kChunk);
    num.resize(kChunk * Dv);
    den.resize(kChunk);
    S.assign(F * Dv, T(0));
    z.assign(F, T(0));
    Y.resize(kChunk * Dv);
  }

  // Keys [0, count) fold into S, z (the keys every query sees through the linear part).
  void fold_prefix(int64_t count) {
    for (int64_t j0 = 0; j0 < count; j0 += kChunk) {
      const int64_t c = std::min(kChunk, count - j0);
      gather_rows(in.phi_k, b, h, j0, c, Kf.data());
      gather_rows(in.v, b, kvh, j0, c, Vb.data());
      gemm(true, false, F, Dv, c, 1, Kf.data(), F, Vb.data(), Dv, 1, S.data(), Dv);
      for (int64_t r = 0; r < c; ++r)
        for (int64_t f = 0; f < F; ++f) z[f] += Kf[r * F + f];
    }
  }

  // Window band of a chunk: keys [jb0, jb0 + nb) and, per row, the valid column range.
  int64_t band_start(int64_t p0) const { return std::max<int64_t>(0, p0 - w + 1); }

  // grad: optional [B,Hq,Nq,Dv]; g: optional outputs (dq written here, dk/dv accumulated in dk_acc/dv_acc).
  void forward(const TensorView* out, const TensorView* grad, const LinearAttentionGrads* g, T* dk_acc, T* dv_acc,
               double* dgamma) {
    fold_prefix(std::max<int64_t>(0, off - w));
    if (grad) {
      Gp.resize(kChunk * Dv);
      beta.resize(kChunk);
      dQf.resize(kChunk * F);
      M.resize(kChunk * kChunk);
      Dn.resize(nq);
      Beta.resize(nq);
    }
    for (int64_t i0 = 0; i0 < nq; i0 += kChunk) {
      const int64_t c = std::min(kChunk, nq - i0), p0 = off + i0, kb0 = p0 - w;
      gather_rows(in.phi_q, b, h, i0, c, Qf.data());
      gather_rows(in.phi_k, b, h, kb0, c, Kf.data());
      gather_rows(in.v, b, kvh, kb0, c, Vb.data());
      // intra-chunk linear part: A[r][J] = φq_r·φk_J for J ≤ r (key kb0 + J ≤ p − w)
      gemm(false, true, c, c, F, 1, Qf.data(), F, Kf.data(), F, 0, A.data(), c);
      for (int64_t r = 0; r < c; ++r) {
        T s = 0;
        for (int64_t J = 0; J < c; ++J) {
          T& a = A[r * c + J];
          if (J > r) a = 0;
          s += a;
        }
        for (int64_t f = 0; f < F; ++f) s += Qf[r * F + f] * z[f];
        den[r] = s;
      }
      gemm(false, false, c, Dv, c, 1, A.data(), c, Vb.data(), Dv, 0, num.data(), Dv);
      gemm(false, false, c, Dv, F, 1, Qf.data(), F, S.data(), Dv, 1, num.data(), Dv);
      // window part: γ e^{s − c_p} over the band of the last w keys
      int64_t jb0 = 0, nb = 0;
      if (w > 0) {
        jb0 = band_start(p0);
        nb = p0 + c - jb0;
        Qr.resize(c * D);
        Kb.resize(nb * D);
        Vw.resize(nb * Dv);
        L.resize(c * nb);
        Ew.resize(c * nb);
        argmax.resize(c);
        gather_rows(*in.q, b, h, i0, c, Qr.data());
        gather_rows(*in.k, b, kvh, jb0, nb, Kb.data());
        gather_rows(in.v, b, kvh, jb0, nb, Vw.data());
        gemm(false, true, c, nb, D, in.scale, Qr.data(), D, Kb.data(), D, 0, L.data(), nb);
        for (int64_t r = 0; r < c; ++r) {
          const int64_t p = p0 + r, lo = std::max<int64_t>(0, p - w + 1) - jb0, hi = p - jb0;  // inclusive
          T m = -INFINITY;
          int64_t am = lo;
          for (int64_t jj = lo; jj <= hi; ++jj)
            if (L[r * nb + jj] > m) m = L[r * nb + jj], am = jj;
          argmax[r] = am;
          T s = 0;
          for (int64_t jj = 0; jj < nb; ++jj) {
            const T e = (jj >= lo && jj <= hi) ? std::exp(L[r * nb + jj] - m) : T(0);
            Ew[r * nb + jj] = e;
            s += e;
          }
          den[r] += gamma * s;
        }
        gemm(false, false, c, Dv, nb, gamma, Ew.data(), nb, Vw.data(), Dv, 1, num.data(), Dv);
      }
      for (int64_t r = 0; r < c; ++r) {
        den[r] += in.eps;
        for (int64_t e = 0; e < Dv; ++e) Y[r * Dv + e] = num[r * Dv + e] / den[r];
      }
      if (out) scatter_rows(*out, b, h, i0, c, Y.data());
      if (grad) chunk_backward(*grad, *g, i0, c, kb0, jb0, nb, dk_acc, dv_acc, dgamma);
      // the chunk's key block joins the state seen by later chunks
      gemm(true, false, F, Dv, c, 1, Kf.data(), F, Vb.data(), Dv, 1, S.data(), Dv);
      for (int64_t r = 0; r < c; ++r)
        for (int64_t f = 0; f < F; ++f) z[f] += Kf[r * F + f];
    }
  }

  // With y = N / D and g' = g / D, β = g'·y: ∂L/∂(weight of key j) = g'·v_j − β for every key,
  // linear or windowed. S, z still hold the state before this chunk.
  void chunk_backward(const TensorView& grad, const LinearAttentionGrads& g, int64_t i0, int64_t c, int64_t kb0,
                      int64_t jb0, int64_t nb, T* dk_acc, T* dv_acc, double* dgamma) {
    gather_rows(grad, b, h, i0, c, Gp.data());
    for (int64_t r = 0; r < c; ++r) {
      T bt = 0;
      for (int64_t e = 0; e < Dv; ++e) {
        Gp[r * Dv + e] /= den[r];
        bt += Gp[r * Dv + e] * Y[r * Dv + e];
      }
      beta[r] = bt;
      Dn[i0 + r] = den[r];
      Beta[i0 + r] = bt;
    }
    // dφq = G' Sᵀ − β zᵀ + M Kf, M[r][J] = (g'_r·v_J − β_r) masked to J ≤ r
    gemm(false, true, c, F, Dv, 1, Gp.data(), Dv, S.data(), Dv, 0, dQf.data(), F);
    for (int64_t r = 0; r < c; ++r)
      for (int64_t f = 0; f < F; ++f) dQf[r * F + f] -= beta[r] * z[f];
    intra_m(c);
    gemm(false, false, c, F, c, 1, M.data(), c, Kf.data(), F, 1, dQf.data(), F);
    scatter_rows(g.dphi_q, b, h, i0, c, dQf.data());
    if (w == 0) return;
    // window: ds_j = γ e_j (g'·v_j − β); the max shift c_p = s_{p,j*} sends −Σ ds to j*.
    Eb.resize(c * nb);
    ds.resize(c * nb);
    dQr.resize(c * D);
    gemm(false, true, c, nb, Dv, 1, Gp.data(), Dv, Vw.data(), Dv, 0, Eb.data(), nb);
    double dg = 0;
    for (int64_t r = 0; r < c; ++r) {
      T sum = 0;
      for (int64_t jj = 0; jj < nb; ++jj) {
        const T e = Ew[r * nb + jj];
        const T x = e != 0 ? e * (Eb[r * nb + jj] - beta[r]) : T(0);
        dg += x;
        ds[r * nb + jj] = gamma * x;
        sum += gamma * x;
      }
      ds[r * nb + argmax[r]] -= sum;
    }
    *dgamma += dg;
    gemm(false, false, c, D, nb, in.scale, ds.data(), nb, Kb.data(), D, 0, dQr.data(), D);
    scatter_rows(*g.dq, b, h, i0, c, dQr.data());
    gemm(true, false, nb, D, c, in.scale, ds.data(), nb, Qr.data(), D, 1, dk_acc + jb0 * D, D);
    gemm(true, false, nb, Dv, c, gamma, Ew.data(), nb, Gp.data(), Dv, 1, dv_acc + jb0 * Dv, Dv);
  }

  // M = G' Vbᵀ − β, masked to the causal triangle J ≤ r.
  void intra_m(int64_t c) {
    gemm(false, true, c, c, Dv, 1, Gp.data(), Dv, Vb.data(), Dv, 0, M.data(), c);
    for (int64_t r = 0; r < c; ++r)
      for (int64_t J = 0; J < c; ++J) M[r * c + J] = J <= r ? M[r * c + J] - beta[r] : T(0);
  }

  // Reverse pass: dφk_j = R v_j − r + (intra), dv_j += Rᵀ φk_j + (intra), with
  // R = Σ_{later queries} φq g'ᵀ and r = Σ φq β. dpk: [Nk × F] (zeroed by the caller).
  void backward_keys(const TensorView& grad, T* dpk, T* dv_acc) {
    R.assign(F * Dv, T(0));
    rr.assign(F, T(0));
    dKf.resize(kChunk * F);
    dVb.resize(kChunk * Dv);
    const int64_t chunks = (nq + kChunk - 1) / kChunk;
    for (int64_t ci = chunks - 1; ci >= 0; --ci) {
      const int64_t i0 = ci * kChunk, c = std::min(kChunk, nq - i0), kb0 = off + i0 - w;
      gather_rows(in.phi_q, b, h, i0, c, Qf.data());
      gather_rows(in.phi_k, b, h, kb0, c, Kf.data());
      gather_rows(in.v, b, kvh, kb0, c, Vb.data());
      gather_rows(grad, b, h, i0, c, Gp.data());
      for (int64_t r = 0; r < c; ++r) {
        for (int64_t e = 0; e < Dv; ++e) Gp[r * Dv + e] /= Dn[i0 + r];
        beta[r] = Beta[i0 + r];
      }
      gemm(false, true, c, c, F, 1, Qf.data(), F, Kf.data(), F, 0, A.data(), c);
      for (int64_t r = 0; r < c; ++r)
        for (int64_t J = r + 1; J < c; ++J) A[r * c + J] = 0;
      intra_m(c);
      gemm(true, false, c, F, c, 1, M.data(), c, Qf.data(), F, 0, dKf.data(), F);
      key_state_grads(c);
      gemm(true, false, c, Dv, c, 1, A.data(), c, Gp.data(), Dv, 1, dVb.data(), Dv);
      store_keys(kb0, c, dpk, dv_acc);
      gemm(true, false, F, Dv, c, 1, Qf.data(), F, Gp.data(), Dv, 1, R.data(), Dv);
      for (int64_t r = 0; r < c; ++r)
        for (int64_t f = 0; f < F; ++f) rr[f] += Qf[r * F + f] * beta[r];
    }
    // keys before the first chunk's block are seen by every query: R, r are complete now
    const int64_t prefix = std::max<int64_t>(0, off - w);
    for (int64_t j0 = 0; j0 < prefix; j0 += kChunk) {
      const int64_t c = std::min(kChunk, prefix - j0);
      gather_rows(in.phi_k, b, h, j0, c, Kf.data());
      gather_rows(in.v, b, kvh, j0, c, Vb.data());
      std::fill(dKf.begin(), dKf.begin() + c * F, T(0));
      key_state_grads(c);
      store_keys(j0, c, dpk, dv_acc);
    }
  }

  // dKf += Vb Rᵀ − 1 rᵀ;  dVb = Kf R (the contribution of the queries summarised in R, r).
  void key_state_grads(int64_t c) {
    gemm(false, true, c, F, Dv, 1, Vb.data(), Dv, R.data(), Dv, 1, dKf.data(), F);
    for (int64_t r = 0; r < c; ++r)
      for (int64_t f = 0; f < F; ++f) dKf[r * F + f] -= rr[f];
    gemm(false, false, c, Dv, F, 1, Kf.data(), F, R.data(), Dv, 0, dVb.data(), Dv);
  }

  void store_keys(int64_t j0, int64_t c, T* dpk, T* dv_acc) {
    for (int64_t r = 0; r < c; ++r) {
      const int64_t j = j0 + r;
      if (j < 0 || j >= nk) continue;
      std::copy(dKf.begin() + r * F, dKf.begin() + (r + 1) * F, dpk + j * F);
      for (int64_t e = 0; e < Dv; ++e) dv_acc[j * Dv + e] += dVb[r * Dv + e];
    }
  }
};

void check_inputs(const char* op, const LinearAttentionInputs& in) {
  using linattn::check_dims;
  using linattn::check_float_view;
  check_float_view(op, "phiQ", in.phi_q, 4);
  check_float_view(op, "phiK", in.phi_k, 4);
  check_float_view(op, "v", in.v, 4);
  const int64_t B = in.phi_q.shape[0], Hq = in.phi_q.shape[1], Nq = in.phi_q.shape[2], F = in.phi_q.shape[3];
  const int64_t Hkv = in.v.shape[1], Nk = in.v.shape[2];
  NT_CHECK(Hkv > 0 && Hq % Hkv == 0, Shape, "[", op, "] kv heads (", Hkv, ") must divide query heads (", Hq, ")");
  check_dims(op, "phiK", in.phi_k, B, Hq, Nk, F);
  check_dims(op, "v", in.v, B, Hkv, Nk, in.v.shape[3]);
  NT_CHECK(in.window >= 0, Value, "[", op, "] window must be >= 0, got ", in.window);
  NT_CHECK(std::isfinite(in.eps) && in.eps >= 0, Value, "[", op, "] eps must be finite and >= 0, got ", in.eps);
  NT_CHECK(std::isfinite(in.scale), Value, "[", op, "] scale must be finite, got ", in.scale);
  if (in.window > 0) {
    NT_CHECK(in.q && in.k && in.gamma, Value, "[", op, "] window > 0 needs q, k and gamma");
    check_float_view(op, "q", *in.q, 4);
    check_float_view(op, "k", *in.k, 4);
    const int64_t D = in.q->shape[3];
    check_dims(op, "q", *in.q, B, Hq, Nq, D);
    check_dims(op, "k", *in.k, B, Hkv, Nk, D);
    NT_CHECK(in.gamma->dtype == DType::F32 || in.gamma->dtype == DType::F64, DType, "[", op,
             "] gamma must be f32 or f64");
    NT_CHECK(in.gamma->ndim == 1 && in.gamma->shape[0] == Hq, Shape, "[", op, "] gamma must have shape [", Hq,
             "], got ", shape_string(*in.gamma));
  }
}

}  // namespace

void linear_attention_check(const char* op, const LinearAttentionInputs& in, const TensorView& out) {
  check_inputs(op, in);
  NT_CHECK(in.phi_q.shape[2] <= in.phi_k.shape[2], Shape, "[", op, "] queries (", in.phi_q.shape[2],
           ") must not outnumber keys (", in.phi_k.shape[2], ")");
  linattn::check_float_view(op, "out", out, 4);
  linattn::check_dims(op, "out", out, in.phi_q.shape[0], in.phi_q.shape[1], in.phi_q.shape[2], in.v.shape[3]);
}

namespace {

template <typename T>
void forward_all(const LinearAttentionInputs& in, const TensorView& out) {
  const int64_t B = in.phi_q.shape[0], Hq = in.phi_q.shape[1];
  parallel_for(B * Hq, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      HeadPass<T> pass(in, t / Hq, t % Hq);
      pass.forward(&out, nullptr, nullptr, nullptr, nullptr, nullptr);
    }
  });
}

}  // namespace

void linear_attention_run(const LinearAttentionInputs& in, const TensorView& out) {
  if (linattn::all_f32({in.q, in.k, &in.v, &in.phi_q, &in.phi_k, &out})) forward_all<float>(in, out);
  else forward_all<double>(in, out);
}

void linear_attention_backward_check(const LinearAttentionInputs& in, const TensorView& grad,
                                     const LinearAttentionGrads& g) {
  const char* op = "attention.linearBackward";
  check_inputs(op, in);
  const int64_t B = in.phi_q.shape[0], Hq = in.phi_q.shape[1], Nq = in.phi_q.shape[2], F = in.phi_q.shape[3];
  const int64_t Hkv = in.v.shape[1], Nk = in.v.shape[2], Dv = in.v.shape[3];
  NT_CHECK(Nq <= Nk, Shape, "[", op, "] queries (", Nq, ") must not outnumber keys (", Nk, ")");
  linattn::check_float_view(op, "grad", grad, 4);
  linattn::check_dims(op, "grad", grad, B, Hq, Nq, Dv);
  linattn::check_float_view(op, "dv", g.dv, 4);
  linattn::check_dims(op, "dv", g.dv, B, Hkv, Nk, Dv);
  linattn::check_float_view(op, "dphiQ", g.dphi_q, 4);
  linattn::check_dims(op, "dphiQ", g.dphi_q, B, Hq, Nq, F);
  linattn::check_float_view(op, "dphiK", g.dphi_k, 4);
  linattn::check_dims(op, "dphiK", g.dphi_k, B, Hq, Nk, F);
  if (in.window > 0) {
    NT_CHECK(g.dq && g.dk && g.dgamma, Value, "[", op, "] window > 0 needs dq, dk and dgamma outputs");
    const int64_t D = in.q->shape[3];
    linattn::check_float_view(op, "dq", *g.dq, 4);
    linattn::check_dims(op, "dq", *g.dq, B, Hq, Nq, D);
    linattn::check_float_view(op, "dk", *g.dk, 4);
    linattn::check_dims(op, "dk", *g.dk, B, Hkv, Nk, D);
    NT_CHECK((g.dgamma->dtype == DType::F32 || g.dgamma->dtype == DType::F64) && g.dgamma->ndim == 1 &&
                 g.dgamma->shape[0] == Hq,
             Shape, "[", op, "] dgamma must be f32/f64 of shape [", Hq, "]");
  }
}

namespace {

template <typename T>
void backward_all(const LinearAttentionInputs& in, const TensorView& grad, const LinearAttentionGrads& g) {
  using Buf = std::vector<T>;
  const int64_t B = in.phi_q.shape[0], Hq = in.phi_q.shape[1], F = in.phi_q.shape[3];
  const int64_t Hkv = in.v.shape[1], Nk = in.v.shape[2], Dv = in.v.shape[3], group = Hq / Hkv;
  const int64_t D = in.window > 0 ? in.q->shape[3] : 0;
  std::vector<double> dgamma(static_cast<size_t>(B * Hq), 0.0);
  // One task per (batch, kv head): it owns dk, dv of that head and everything of its query heads.
  parallel_for(B * Hkv, 1, [&](int64_t begin, int64_t end) {
    Buf dk_acc, dv_acc, dpk;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / Hkv, kvh = t % Hkv;
      dk_acc.assign(Nk * D, T(0));
      dv_acc.assign(Nk * Dv, T(0));
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        HeadPass<T> pass(in, b, h);
        pass.forward(nullptr, &grad, &g, dk_acc.data(), dv_acc.data(), &dgamma[b * Hq + h]);
        dpk.assign(Nk * F, T(0));
        pass.backward_keys(grad, dpk.data(), dv_acc.data());
        scatter_rows(g.dphi_k, b, h, 0, Nk, dpk.data());
      }
      scatter_rows(g.dv, b, kvh, 0, Nk, dv_acc.data());
      if (in.window > 0) scatter_rows(*g.dk, b, kvh, 0, Nk, dk_acc.data());
    }
  });
  if (in.window > 0) {
    for (int64_t h = 0; h < Hq; ++h) {
      double s = 0;
      for (int64_t b = 0; b < B; ++b) s += dgamma[b * Hq + h];
      linattn::write_elem(*g.dgamma, h * g.dgamma->strides[0], s);
    }
  }
}

}  // namespace

void linear_attention_backward_run(const LinearAttentionInputs& in, const TensorView& grad,
                                   const LinearAttentionGrads& g) {
  if (linattn::all_f32({in.q, in.k, &in.v, &in.phi_q, &in.phi_k, &grad, g.dq, g.dk, &g.dv, &g.dphi_q, &g.dphi_k}))
    backward_all<float>(in, grad, g);
  else
    backward_all<double>(in, grad, g);
}

// ---------------------------------------------------------------- recurrent decode

void linear_attention_step_check(const LinearAttentionInputs& in, const LinearAttentionState& st,
                                 const TensorView& out) {
  const char* op = "attention.linearStep";
  check_inputs(op, in);
  const int64_t B = in.phi_q.shape[0], Hq = in.phi_q.shape[1], T = in.phi_q.shape[2], F = in.phi_q.shape[3];
  const int64_t Hkv = in.v.shape[1], Dv = in.v.shape[3], w = in.window;
  NT_CHECK(in.phi_k.shape[2] == T, Shape, "[", op, "] the step takes as many keys as queries, got ", T, " queries and ",
           in.phi_k.shape[2], " keys");
  linattn::check_float_view(op, "out", out, 4);
  linattn::check_dims(op, "out", out, B, Hq, T, Dv);
  NT_CHECK(st.position >= 0, Value, "[", op, "] position must be >= 0, got ", st.position);
  auto state = [&](const char* name, const TensorView& t, std::initializer_list<int64_t> dims) {
    NT_CHECK(t.dtype == DType::F64 && t.is_contiguous(), DType, "[", op, "] state ", name,
             " must be a contiguous f64 tensor");
    NT_CHECK(t.ndim == static_cast<int>(dims.size()), Shape, "[", op, "] state ", name, " has shape ",
             shape_string(t));
    int i = 0;
    for (int64_t d : dims) {
      NT_CHECK(t.shape[i] == d, Shape, "[", op, "] state ", name, " has shape ", shape_string(t),
               ", which does not fit these inputs");
      ++i;
    }
  };
  state("s", st.s, {B, Hq, F, Dv});
  state("z", st.z, {B, Hq, F});
  if (w > 0) {
    NT_CHECK(st.ring_k && st.ring_v && st.ring_phi_k, Value, "[", op, "] window > 0 needs the ring buffers");
    state("ringK", *st.ring_k, {B, Hkv, w, in.q->shape[3]});
    state("ringV", *st.ring_v, {B, Hkv, w, Dv});
    state("ringPhiK", *st.ring_phi_k, {B, Hq, w, F});
  }
}

void linear_attention_step_run(const LinearAttentionInputs& in, const LinearAttentionState& st,
                               const TensorView& out) {
  const int64_t B = in.phi_q.shape[0], Hq = in.phi_q.shape[1], T = in.phi_q.shape[2], F = in.phi_q.shape[3];
  const int64_t Hkv = in.v.shape[1], Dv = in.v.shape[3], w = in.window, group = Hq / Hkv;
  const int64_t D = w > 0 ? in.q->shape[3] : 0;
  double* S_all = st.s.ptr<double>();
  double* z_all = st.z.ptr<double>();
  using Buf = std::vector<double>;
  parallel_for(B * Hkv, 1, [&](int64_t begin, int64_t end) {
    Buf kr(D), vr(Dv), qf(F), kf(F), qr(D), y(Dv), logits;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / Hkv, kvh = t % Hkv;
      double* ringK = w > 0 ? st.ring_k->ptr<double>() + (b * Hkv + kvh) * w * D : nullptr;
      double* ringV = w > 0 ? st.ring_v->ptr<double>() + (b * Hkv + kvh) * w * Dv : nullptr;
      for (int64_t i = 0; i < T; ++i) {
        const int64_t pos = st.position + i, slot = w > 0 ? pos % w : 0;
        gather_rows(in.v, b, kvh, i, 1, vr.data());
        if (w > 0) gather_rows(*in.k, b, kvh, i, 1, kr.data());
        for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
          double* S = S_all + (b * Hq + h) * F * Dv;
          double* z = z_all + (b * Hq + h) * F;
          // the key entering the linear part: the new one (w = 0) or the one leaving the window
          const double* fold_k = nullptr;
          const double* fold_v = nullptr;
          if (w == 0) {
            gather_rows(in.phi_k, b, h, i, 1, kf.data());
            fold_k = kf.data();
            fold_v = vr.data();
          } else if (pos >= w) {
            fold_k = st.ring_phi_k->ptr<double>() + ((b * Hq + h) * w + slot) * F;
            fold_v = ringV + slot * Dv;
          }
          if (fold_k) {
            for (int64_t f = 0; f < F; ++f) {
              z[f] += fold_k[f];
              for (int64_t e = 0; e < Dv; ++e) S[f * Dv + e] += fold_k[f] * fold_v[e];
            }
          }
          if (w > 0) gather_rows(in.phi_k, b, h, i, 1, st.ring_phi_k->ptr<double>() + ((b * Hq + h) * w + slot) * F);
        }
        if (w > 0) {
          std::copy(kr.begin(), kr.end(), ringK + slot * D);
          std::copy(vr.begin(), vr.end(), ringV + slot * Dv);
        }
        for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
          const double* S = S_all + (b * Hq + h) * F * Dv;
          const double* z = z_all + (b * Hq + h) * F;
          gather_rows(in.phi_q, b, h, i, 1, qf.data());
          double den = in.eps;
          std::fill(y.begin(), y.end(), 0.0);
          for (int64_t f = 0; f < F; ++f) {
            den += qf[f] * z[f];
            for (int64_t e = 0; e < Dv; ++e) y[e] += qf[f] * S[f * Dv + e];
          }
          if (w > 0) {
            const double gamma = gamma_of(in, h);
            gather_rows(*in.q, b, h, i, 1, qr.data());
            const int64_t first = std::max<int64_t>(0, pos - w + 1), count = pos - first + 1;
            logits.resize(count);
            double m = -INFINITY;
            for (int64_t j = 0; j < count; ++j) {
              const double* kk = ringK + ((first + j) % w) * D;
              double s = 0;
              for (int64_t d = 0; d < D; ++d) s += qr[d] * kk[d];
              logits[j] = s * in.scale;
              m = std::max(m, logits[j]);
            }
            for (int64_t j = 0; j < count; ++j) {
              const double a = gamma * std::exp(logits[j] - m);
              const double* vv = ringV + ((first + j) % w) * Dv;
              den += a;
              for (int64_t e = 0; e < Dv; ++e) y[e] += a * vv[e];
            }
          }
          for (int64_t e = 0; e < Dv; ++e) y[e] /= den;
          scatter_rows(out, b, h, i, 1, y.data());
        }
      }
    }
  });
}

}  // namespace nt
