// Run-time dispatched inner loops of the softmax-attention kernels (dense, sliding-window,
// block-sparse, delta). A scalar reference (attention_kernels.cc) and AVX2 / AVX-512 forms
// (attention_kernels_avx2.cc, attention_kernels_avx512.cc) written once over vector traits
// (attention_simd_impl.h). This small table is separate from the shared one in
// native/cpu/kernels.h (whose slot list belongs to the core); the selection follows the same
// rules: the best ISA the CPU supports, capped by NTENSOR_ISA (scalar, avx2, avx512).
// test/native/test_attention.cc runs every supported ISA against a float64 reference.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nt {

// One split-K work item of decode attention (dense.cc run_rows): `rows` query rows (already
// scaled, q[r * ldq + 0:d]) against keys [0, n) of one kv head (k[j * ldk + 0:d],
// v[j * ldv + 0:dv]); row r sees keys [lo[r], hi[r]) (0 <= lo, hi <= n; empty when lo >= hi).
// The online-softmax state of row r lives at st + r * ldst: m, l, O[0:dv] (start: -inf, 0, 0).
// pf_n >= n rows of k may be prefetched: the item's keys and those the same thread reads next
// (the rest of its run of chunks of this head), never past the keys any row sees.
struct DecodeItem {
  int64_t rows, n, d, dv;
  const float* q;
  int64_t ldq;
  const float* k;
  int64_t ldk;
  const float* v;
  int64_t ldv;
  const int64_t* lo;
  const int64_t* hi;
  float* st;
  int64_t ldst;
  float* scratch;  // attn_decode_scratch(rows) floats, 64-byte aligned
  int64_t pf_n;
};

// Keys per online-softmax step of the decode kernel; its scratch holds the scores of one step.
constexpr int64_t kDecodeBlock = 32;
inline int64_t attn_decode_scratch(int64_t rows) { return rows * (kDecodeBlock + 1); }

struct AttentionKernels {
  const char* isa;
  int mr;  // query rows of one score / PV tile
  int nr;  // keys of one packed K panel = head-dim columns of one packed V panel

  // Scores of one tile: s[r * lds + j] = sum_p q[r * ldq + p] * kp[(j / nr) * d * nr + p * nr + j % nr]
  // for r < mr, j < npan * nr. kp holds npan packed K panels (d x nr each, zero past the keys).
  void (*scores)(int64_t d, const float* q, int64_t ldq, const float* kp, int64_t npan, float* s, int64_t lds);
  // PV of one tile: o[r * ldo + c] = o[r * ldo + c] * corr[r] + sum_{j < n} p[r * ldp + j] *
  // vp[(c / nr) * vstride + j * nr + c % nr] for r < mr, c < dpan * nr (o's rows hold dpan * nr).
  void (*pv)(int64_t n, const float* p, int64_t ldp, const float* vp, int64_t vstride, int64_t dpan,
             const float* corr, float* o, int64_t ldo);
  // Largest of x[0:n) (n >= 1; NaN-propagation unspecified).
  float (*row_max)(const float* x, int64_t n);
  // x[j] = exp(x[j] - m) in place for j < n (m finite, x[j] - m <= 0 up to rounding); returns the sum.
  float (*exp_sum)(float* x, int64_t n, float m);
  // Decode-shaped products that read K and V rows where they lie (no packing):
  // s[r * lds + j] = dot(q[r * ldq + 0:d], k[j * ldk + 0:d]) for r < m, j < n.
  void (*dot_rows)(int64_t m, int64_t n, int64_t d, const float* q, int64_t ldq, const float* k, int64_t ldk, float* s,
                   int64_t lds);
  // o[r * ldo + c] = o[r * ldo + c] * corr[r] + sum_{j < n} p[r * ldp + j] * v[j * ldv + c] for r < m, c < d.
  void (*axpy_rows)(int64_t m, int64_t n, int64_t d, const float* p, int64_t ldp, const float* v, int64_t ldv,
                    const float* corr, float* o, int64_t ldo);
  // The whole decode work item: scores, online softmax and PV per block of kDecodeBlock keys,
  // each K and V row read once for all rows (a kv group's query heads), streamed with software
  // prefetch: the V rows of a block while its scores are computed, the next block's K rows
  // while its V rows are accumulated, so both streams stay in flight while the core computes.
  void (*decode)(const DecodeItem& item);
  // Delta attention's incremental score update: s[j] += sum_{i < nz} delta[i] * kt[idx[i] * ldkt + j], j < n
  // (kt holds the keys transposed, one row per head-dim component; each component is one axpy).
  void (*delta_update)(int64_t n, int64_t nz, const int32_t* idx, const float* delta, const float* kt, int64_t ldkt,
                       float* s);
};

struct AttentionIsa {
  const char* name;
  int priority;  // the same numbers as the shared dispatch: scalar 0, avx2 20, avx512 30
  bool (*supported)();
  const AttentionKernels* kernels;
  AttentionIsa(const char* n, int p, bool (*s)(), const AttentionKernels* k);
};

// The set in use: the highest-priority supported ISA, capped by NTENSOR_ISA.
const AttentionKernels& attention_kernels();
// One ISA's set (tests); throws NT_UNSUPPORTED when unknown or unsupported on this CPU.
const AttentionKernels& attention_kernels_for(const std::string& isa);
// Registered ISAs this CPU supports, best first.
std::vector<std::string> attention_isas();

}  // namespace nt
