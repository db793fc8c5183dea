// Quantized matmul driver (see qmatmul.h), the kernel-set registry (qmatmul_kernels.h), the
// scalar kernel set, the portable dequantizer and the f64 reference.
#include "qmatmul.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/half.h"
#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "../cpu/gemm.h"
#include "group_quant.h"
#include "qmatmul_kernels.h"

namespace nt::quant {

float QWeight::scale(int64_t r, int64_t g) const {
  const int64_t i = r * groups() + g;
  return scales_f16 ? f16_to_f32(static_cast<const uint16_t*>(scales)[i]) : static_cast<const float*>(scales)[i];
}

// ---- registry ----

namespace {

std::vector<const QmmRegistration*>& registry() {
  static std::vector<const QmmRegistration*> r;
  return r;
}

const QmmKernels& select_kernels() {
  int cap = 1 << 30;
  if (const char* env = std::getenv("NTENSOR_ISA"); env && *env)
    for (const QmmRegistration* r : registry())
      if (r->name == std::string(env)) cap = r->priority;
  const QmmRegistration* best = nullptr;
  for (const QmmRegistration* r : registry())
    if (r->priority <= cap && r->supported() && (!best || r->priority > best->priority)) best = r;
  NT_CHECK(best != nullptr, Internal, "[quant.matmul] no kernel set registered");
  return *best->kernels;
}

}  // namespace

QmmRegistration::QmmRegistration(const char* n, int p, bool (*s)(), const QmmKernels* k)
    : name(n), priority(p), supported(s), kernels(k) {
  registry().push_back(this);
}

const QmmKernels& qmm_kernels() {
  static const QmmKernels& k = select_kernels();
  return k;
}

const QmmKernels* qmm_kernels_for(const std::string& isa) {
  for (const QmmRegistration* r : registry())
    if (r->name == isa && r->supported()) return r->kernels;
  return nullptr;
}

std::vector<std::string> qmm_supported_isas() {
  std::vector<const QmmRegistration*> regs = registry();
  std::sort(regs.begin(), regs.end(), [](auto* a, auto* b) { return a->priority > b->priority; });
  std::vector<std::string> out;
  for (const QmmRegistration* r : regs)
    if (r->supported()) out.emplace_back(r->name);
  return out;
}

bool qmm_split_applies(const QmmKernels& kern, const QWeight& w) {
  return kern.split > 0 && kern.dequant4 && w.bits <= 4 && !w.g_idx &&
         (w.groups() == 1 || w.group_size % kern.split == 0);
}

bool qmm_gemv8_applies(const QmmKernels& kern, const QWeight& w) {
  return kern.gemv8 && kern.q8_lanes > 0 && w.bits == 8 && !w.g_idx &&
         (w.groups() == 1 || w.group_size % kern.q8_lanes == 0);
}

// ---- scalar kernel set ----

namespace {

template <int MV>
void tile_scalar_mv(int64_t kc, const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t nv, QmmOut y,
                    bool accumulate) {
  constexpr int NR = 4;
  float acc[MV][NR] = {};
  for (int64_t p = 0; p < kc; ++p)
    for (int i = 0; i < MV; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += x[i * ldx + p] * w[j * ldw + p];
  for (int i = 0; i < MV; ++i)
    for (int64_t j = 0; j < nv; ++j) {
      float& out = y.p[i * y.s0 + j * y.s1];
      out = accumulate ? out + acc[i][j] : acc[i][j];
    }
}

void tile_scalar(int64_t kc, const float* x, int64_t ldx, int64_t mv, const float* w, int64_t ldw, int64_t nv, QmmOut y,
                 bool accumulate) {
  switch (mv) {
    case 1: return tile_scalar_mv<1>(kc, x, ldx, w, ldw, nv, y, accumulate);
    case 2: return tile_scalar_mv<2>(kc, x, ldx, w, ldw, nv, y, accumulate);
    case 3: return tile_scalar_mv<3>(kc, x, ldx, w, ldw, nv, y, accumulate);
    default: return tile_scalar_mv<4>(kc, x, ldx, w, ldw, nv, y, accumulate);
  }
}

const QmmKernels kScalar = {"scalar", 0, 4, 4, tile_scalar, nullptr, nullptr, nullptr, 0, nullptr, nullptr, nullptr, 0};

bool always() { return true; }

}  // namespace

static QmmRegistration nt_qmm_registration_scalar("scalar", 0, always, &kScalar);

// ---- shared pieces of the driver ----

namespace {

int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

// Row i of x into dst (kp floats, zero padded) in natural (split == 0) or split order.
void pack_x_row(QmmIn x, int64_t i, int64_t k, int64_t kp, int split, float* dst) {
  std::fill(dst, dst + kp, 0.0f);
  const float* row = x.p + i * x.s0;
  if (split == 0) {
    for (int64_t c = 0; c < k; ++c) dst[c] = row[c * x.s1];
    return;
  }
  const int64_t half = split / 2;
  for (int64_t c0 = 0; c0 < k; c0 += split) {
    const int64_t len = std::min<int64_t>(split, k - c0);
    const float* src = row + c0 * x.s1;
    float* out = dst + c0;
    for (int64_t j = 0; j < len; ++j) out[(j & 1) ? half + (j >> 1) : (j >> 1)] = src[j * x.s1];
  }
}

// Natural-order dequantization of any layout (bits 2..8, g_idx, any group size): rows
// [r0, r0 + nrows), columns [k0, k0 + kc) (past w.cols: 0) into dst[r * ldd + p].
void dequant_portable(const QWeight& w, int64_t r0, int64_t nrows, int64_t k0, int64_t kc, float* dst, int64_t ldd) {
  const int64_t groups = w.groups(), rb = w.row_bytes();
  const int64_t k1 = std::min(k0 + kc, w.cols);
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t row = r0 + r;
    const uint8_t* codes = w.codes + row * rb;
    const uint8_t* zeros = w.zeros + row * groups;
    float* out = dst + r * ldd;
    if (w.g_idx) {
      for (int64_t c = k0; c < k1; ++c) {
        const int64_t g = w.g_idx[c];
        out[c - k0] = dequantize_value(read_code(codes, c, w.bits), {w.scale(row, g), zeros[g]});
      }
    } else {
      for (int64_t c = k0; c < k1;) {
        const int64_t g = c / w.group_size, end = std::min(k1, (g + 1) * w.group_size);
        const GroupParams gp{w.scale(row, g), zeros[g]};
        for (; c < end; ++c) out[c - k0] = dequantize_value(read_code(codes, c, w.bits), gp);
      }
    }
    std::fill(out + (k1 - k0), out + kc, 0.0f);
  }
}

// One reusable weight buffer per thread (a per-call allocation would page-fault it in every
// time). A buffer already in use on this thread falls back to a fresh allocation.
struct CachedBuffer {
  std::unique_ptr<Scratch<float>> mem;
  bool busy = false;
};
thread_local CachedBuffer tl_wbuf;

class WeightBuffer {
 public:
  explicit WeightBuffer(size_t count) {
    if (!tl_wbuf.busy) {
      if (!tl_wbuf.mem || tl_wbuf.mem->size() < count) {
        tl_wbuf.mem.reset();
        tl_wbuf.mem = std::make_unique<Scratch<float>>(count);
      }
      tl_wbuf.busy = true;
      cached_ = true;
      ptr_ = tl_wbuf.mem->get();
    } else {
      own_ = std::make_unique<Scratch<float>>(count);
      ptr_ = own_->get();
    }
  }
  ~WeightBuffer() {
    if (cached_) tl_wbuf.busy = false;
  }
  WeightBuffer(const WeightBuffer&) = delete;
  WeightBuffer& operator=(const WeightBuffer&) = delete;
  float* get() const { return ptr_; }

 private:
  bool cached_ = false;
  std::unique_ptr<Scratch<float>> own_;
  float* ptr_ = nullptr;
};

// Panel blocking: KC packed columns per k block (x micro-panel mr x KC in L1), kNbTarget
// weight rows per dequantized block (NB x KC f32 ~ 384 KiB, in L2), MC rows of x per block
// (MC x KC f32 ~ 1 MiB, in L2) so the weight block is dequantized once per MC rows of x.
constexpr int64_t KC = 1024, kNbTarget = 96, MC = 256;

void panel_gemm(const QmmKernels& kern, const QWeight& w, const float* xs, int64_t kp, int split, int64_t m, QmmOut y) {
  const int64_t n = w.rows;
  const int mr = kern.mr, nr = kern.nr;
  const int64_t nb = std::max<int64_t>(nr, kNbTarget / nr * nr);
  const int64_t mc = MC / mr * mr;
  const int64_t kblocks = (kp + KC - 1) / KC;
  const int64_t nblocks = (n + nb - 1) / nb, mtiles = (m + mr - 1) / mr;
  const int64_t threads = num_threads();
  // Split over the weight rows first (each row block is dequantized once); when there are too
  // few of them for the threads, also over the rows of x (those items dequantize the same
  // weight blocks again). The split changes nothing in any element's arithmetic.
  const int64_t n_items = std::min(nblocks, threads);
  const int64_t m_items = n_items < threads ? std::min((threads + n_items - 1) / n_items, mtiles) : 1;
  auto dequant = split ? kern.dequant4 : (w.bits == 8 && !w.g_idx && kern.dequant8) ? kern.dequant8 : dequant_portable;
  parallel_for(n_items * m_items, 1, [&](int64_t it0, int64_t it1) {
    WeightBuffer wbuf(static_cast<size_t>(nb * KC));
    float* wb = wbuf.get();
    for (int64_t it = it0; it < it1; ++it) {
      const int64_t ni = it / m_items, mi = it % m_items;
      const int64_t n0 = nblocks * ni / n_items * nb, n1 = std::min(n, nblocks * (ni + 1) / n_items * nb);
      const int64_t m0 = mtiles * mi / m_items * mr, m1 = std::min(m, mtiles * (mi + 1) / m_items * mr);
      for (int64_t mb0 = m0; mb0 < m1; mb0 += mc) {
        const int64_t mb1 = std::min(m1, mb0 + mc);
        for (int64_t kb = 0; kb < kblocks; ++kb) {
          const int64_t k0 = kb * KC, kc = std::min(KC, kp - k0);
          for (int64_t nb0 = n0; nb0 < n1; nb0 += nb) {
            const int64_t rows = std::min(nb, n1 - nb0), rows_pad = round_up(rows, nr);
            dequant(w, nb0, rows, k0, kc, wb, KC);
            for (int64_t r = rows; r < rows_pad; ++r) std::fill(wb + r * KC, wb + r * KC + kc, 0.0f);
            for (int64_t i = mb0; i < mb1; i += mr) {
              const int64_t mv = std::min<int64_t>(mr, mb1 - i);
              for (int64_t j = nb0; j < nb0 + rows; j += nr) {
                const int64_t nv = std::min<int64_t>(nr, nb0 + rows - j);
                kern.tile(kc, xs + i * kp + k0, kp, mv, wb + (j - nb0) * KC, KC, nv,
                          {y.p + i * y.s0 + j * y.s1, y.s0, y.s1}, kb > 0);
              }
            }
          }
        }
      }
    }
  });
}

// Many rows of x: blocks of weight rows are dequantized once (in the order x was packed in,
// padding columns zero) and each block goes to the SGEMM against all m rows. The panel loop
// dequantizes every weight block once per MC rows of x: at m = 2048 (a calibration chunk, a
// long prompt) that was 8 times, and a 2048 x 5632 x 2048 int4 product took 1.5x the f32
// SGEMM's time (179 vs 120 ms, AMD EPYC Zen 5, 2 threads).
constexpr int64_t kSgemmFromM = 2 * MC;
constexpr int64_t kSgemmBlockBytes = int64_t{8} << 20;

void sgemm_blocks(const QmmKernels& kern, const QWeight& w, const float* xs, int64_t kp, int split, int64_t m, QmmOut y) {
  const int64_t n = w.rows;
  auto dequant = split ? kern.dequant4 : (w.bits == 8 && !w.g_idx && kern.dequant8) ? kern.dequant8 : dequant_portable;
  const int64_t block = std::min(n, std::max<int64_t>(16, kSgemmBlockBytes / (kp * static_cast<int64_t>(sizeof(float)))));
  Scratch<float> wb(static_cast<size_t>(block * kp));
  for (int64_t r0 = 0; r0 < n; r0 += block) {
    const int64_t rows = std::min(block, n - r0);
    parallel_for(rows, 16, [&](int64_t a, int64_t b) { dequant(w, r0 + a, b - a, 0, kp, wb.get() + a * kp, kp); });
    gemm_f32(false, true, m, rows, kp, 1.0f, xs, kp, wb.get(), kp, 0.0f, y.p + r0 * y.s1, y.s0);
  }
}

}  // namespace

const char* qmm_int8_unavailable(const QmmKernels& kern, const QWeight& w) {
  if (!kern.gemv4_i8) return "this CPU's kernel set has no int8-activation kernel";
  if (w.bits > 4) return "int8 activations need 2/3/4-bit codes";
  if (w.g_idx) return "int8 activations need groups of consecutive columns (no gIdx)";
  const int64_t chunk = kern.i8_split;
  if (w.groups() > 1 && w.group_size % chunk != 0 && !(chunk % w.group_size == 0 && w.group_size % 32 == 0))
    return "the group size does not tile the int8 kernel's chunk";
  return nullptr;
}

bool qmm_int8_applies(const QmmKernels& kern, const QWeight& w) { return qmm_int8_unavailable(kern, w) == nullptr; }

QmmPath qmm_path(const QmmKernels& kern, const QWeight& w, bool int8_activations) {
  QmmPath p{kern.isa, false, nullptr, 0};
  if (!int8_activations) return p;
  p.fallback = qmm_int8_unavailable(kern, w);
  p.int8 = p.fallback == nullptr;
  p.i8_split = p.int8 ? kern.i8_split : 0;
  return p;
}

QmmPath qmm_path(const QWeight& w, bool int8_activations) { return qmm_path(qmm_kernels(), w, int8_activations); }

namespace {

// Weight rows [0, n) in blocks of `block` rows, claimed in row order from a shared counter by up
// to `workers` pool threads, so a thread that wakes late takes fewer blocks instead of finishing
// last. Every row is computed by exactly one thread with the same arithmetic whichever thread
// that is, so the bits do not depend on the thread count or timing.
template <class F>
void for_row_blocks(int64_t n, int64_t block, int64_t workers, const F& f) {
  const int64_t nblocks = (n + block - 1) / block;
  if (workers <= 1 || nblocks <= 1) {
    f(0, n);
    return;
  }
  std::atomic<int64_t> next{0};
  parallel_for(workers, 1, [&](int64_t, int64_t) {
    for (int64_t b; (b = next.fetch_add(1, std::memory_order_relaxed)) < nblocks;)
      f(b * block, std::min(n, (b + 1) * block));
  });
}

// Row i of x quantized per weight group: sx = amax / 127 (a non-finite amax makes sx NaN, so the
// row's outputs are NaN, as in the f32 path), xq = round(x · (127 / amax)) in [-127, 127] in split
// order with chunk `chunk` (zero padded to kq), sq = sum of xq over the group.
void quantize_x_row(QmmIn x, int64_t i, int64_t k, int64_t group, int64_t groups, int64_t chunk, int64_t kq,
                    int8_t* xq, float* sx, int32_t* sq) {
  std::fill(xq, xq + kq, int8_t(0));
  const float* row = x.p + i * x.s0;
  const int64_t half = chunk / 2;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t c0 = g * group, c1 = std::min(k, c0 + group);
    // eight independent partial maxima (max is exact in any order); v · 0 is NaN for Inf/NaN
    float part[8] = {0, 0, 0, 0, 0, 0, 0, 0}, probe[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t c = c0;
    for (; c + 8 <= c1; c += 8)
      for (int u = 0; u < 8; ++u) {
        const float v = row[(c + u) * x.s1];
        part[u] = std::max(part[u], std::fabs(v));
        probe[u] += v * 0.0f;
      }
    for (; c < c1; ++c) {
      const float v = row[c * x.s1];
      part[0] = std::max(part[0], std::fabs(v));
      probe[0] += v * 0.0f;
    }
    float amax = 0.0f, probe_sum = 0.0f;
    for (int u = 0; u < 8; ++u) {
      amax = std::max(amax, part[u]);
      probe_sum += probe[u];
    }
    const bool finite = probe_sum == 0.0f;
    sx[g] = finite ? amax / 127.0f : std::numeric_limits<float>::quiet_NaN();
    int32_t sum = 0;
    if (finite && amax > 0.0f) {
      // q = round-half-even(x · 127 / amax): |x · inv| <= 127 (+ rounding), so adding and
      // subtracting 1.5 · 2^23 rounds to an integer exactly as nearbyint does, without a call
      const float inv = 127.0f / amax;
      constexpr float kRound = 12582912.0f;
      // the group's columns chunk by chunk (a group is whole chunks or a part of one starting at
      // an even column), even columns to the chunk's first half, odd ones to its second
      for (int64_t s0 = c0; s0 < c1;) {
        const int64_t base = s0 / chunk * chunk, s1 = std::min(c1, base + chunk);
        for (int parity = 0; parity < 2; ++parity) {
          const float* src = row + (s0 + parity) * x.s1;
          int8_t* dst = xq + base + parity * half + (s0 - base) / 2;
          const int64_t cnt = (s1 - s0 - parity + 1) / 2;
          for (int64_t t = 0; t < cnt; ++t) {
            const float v = src[2 * t * x.s1] * inv + kRound;
            const int q = std::clamp(static_cast<int>(v - kRound), -127, 127);
            dst[t] = static_cast<int8_t>(q);
            sum += q;
          }
        }
        s0 = s1;
      }
    }
    sq[g] = sum;
  }
}

void qmatmul_int8(const QmmKernels& kern, const QWeight& w, QmmIn x, int64_t m, QmmOut y) {
  const int64_t n = w.rows, k = w.cols, groups = w.groups();
  const int64_t group = groups == 1 ? k : w.group_size;
  const int64_t chunk = kern.i8_split, kq = round_up(k, chunk);
  Scratch<int8_t> xq(static_cast<size_t>(m * kq));
  Scratch<float> sx(static_cast<size_t>(m * groups));
  Scratch<int32_t> sq(static_cast<size_t>(m * groups));
  parallel_for(m, std::max<int64_t>(1, 65536 / kq), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      quantize_x_row(x, i, k, group, groups, chunk, kq, xq.get() + i * kq, sx.get() + i * groups,
                     sq.get() + i * groups);
  });
  // Blocks of rows (a multiple of 64, ~256 KiB of codes) claimed in order by the threads
  // (for_row_blocks); inside, blocks of 64 rows (~64-180 KiB of codes at k = 2048-5632, in L2)
  // meet every tile of 4 rows of x, so for the GEMM (m > 4) each weight block is read from
  // memory once and decoded in registers once per 4 x rows.
  constexpr int64_t kUnit = 16, kBlock = 64;
  const int64_t units = (n + kUnit - 1) / kUnit;
  const int64_t grain = std::max<int64_t>(1, 262144 / std::max<int64_t>(1, w.row_bytes() * kUnit * m));
  const int64_t workers = std::min<int64_t>(num_threads(), (units + grain - 1) / grain);
  const int64_t claim = std::max<int64_t>(1, 262144 / std::max<int64_t>(1, w.row_bytes() * kBlock)) * kBlock;
  for_row_blocks(n, claim, workers, [&](int64_t b0, int64_t b1) {
    for (int64_t r0 = b0; r0 < b1; r0 += kBlock) {
      const int64_t r1 = std::min(b1, r0 + kBlock);
      for (int64_t i = 0; i < m; i += kQmmGemvMaxM) {
        const QmmI8X xi{xq.get() + i * kq, kq, sx.get() + i * groups, sq.get() + i * groups, groups};
        kern.gemv4_i8(w, r0, r1, xi, std::min(kQmmGemvMaxM, m - i), {y.p + i * y.s0, y.s0, y.s1});
      }
    }
  });
}

}  // namespace

void qmatmul_with(const QmmKernels& kern, const QWeight& w, QmmIn x, int64_t m, QmmOut y, bool force_panel,
                  bool int8_activations) {
  const int64_t n = w.rows, k = w.cols;
  if (m <= 0 || n <= 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) y.p[i * y.s0 + j * y.s1] = 0.0f;
    return;
  }
  if (int8_activations && qmm_int8_applies(kern, w)) {
    qmatmul_int8(kern, w, x, m, y);
    return;
  }
  NT_CHECK(kern.mr <= kQmmMaxMr && kern.nr >= 1, Internal, "[quant.matmul] bad kernel tile ", kern.mr, "x", kern.nr);
  const bool split_ok = qmm_split_applies(kern, w);
  const int split = split_ok ? kern.split : 0;
  const int64_t kp = round_up(k, kQmmPad);
  Scratch<float> xs(static_cast<size_t>(m * kp));
  const int64_t grain = std::max<int64_t>(1, 65536 / kp);
  parallel_for(m, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) pack_x_row(x, i, k, kp, split, xs.get() + i * kp);
  });
  // the fused GEMVs: blocks of whole units of 16 weight rows (~256 KiB of codes), claimed in
  // order by the threads (for_row_blocks); each block is one sequential stream
  using Gemv = void (*)(const QWeight&, int64_t, int64_t, const float*, int64_t, int64_t, QmmOut);
  Gemv gemv = nullptr;
  if (!force_panel && m <= kQmmGemvMaxM) {
    if (split_ok && kern.gemv4) gemv = kern.gemv4;
    else if (qmm_gemv8_applies(kern, w)) gemv = kern.gemv8;
  }
  if (gemv) {
    constexpr int64_t kUnit = 16;
    const int64_t units = (n + kUnit - 1) / kUnit;
    const int64_t unit_grain = std::max<int64_t>(1, 262144 / std::max<int64_t>(1, w.row_bytes() * kUnit));
    const int64_t workers = std::min<int64_t>(num_threads(), (units + unit_grain - 1) / unit_grain);
    for_row_blocks(n, unit_grain * kUnit, workers, [&](int64_t r0, int64_t r1) { gemv(w, r0, r1, xs.get(), kp, m, y); });
    return;
  }
  if (!force_panel && m >= kSgemmFromM && y.s1 == 1) {
    sgemm_blocks(kern, w, xs.get(), kp, split, m, y);
    return;
  }
  panel_gemm(kern, w, xs.get(), kp, split, m, y);
}

void qmatmul_f32(const QWeight& w, QmmIn x, int64_t m, QmmOut y, bool int8_activations) {
  qmatmul_with(qmm_kernels(), w, x, m, y, false, int8_activations);
}

void qmatmul_reference(const QWeight& w, QmmIn x, int64_t m, QmmOut y) {
  const int64_t rb = w.row_bytes(), groups = w.groups();
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t i = 0; i < m; ++i) {
      double s = 0;
      for (int64_t c = 0; c < w.cols; ++c) {
        const int64_t g = w.g_idx ? w.g_idx[c] : c / w.group_size;
        const float v = dequantize_value(read_code(w.codes + r * rb, c, w.bits), {w.scale(r, g), w.zeros[r * groups + g]});
        s += static_cast<double>(v) * static_cast<double>(x.p[i * x.s0 + c * x.s1]);
      }
      y.p[i * y.s0 + r * y.s1] = static_cast<float>(s);
    }
}

}  // namespace nt::quant
