// The input projection W x_t + b of each step (precomputed, or computed by chunks for
// inference), and the few-inputs per-row projection and its backward.

#pragma once

#include "gemm.h"
#include "layer_norm.h"

namespace lstmkit {
namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

// The projected input W x_t + b of each step: either precomputed for all steps (training,
// where autograd owns the projection), or computed here chunk by chunk (inference): a
// chunk of a few steps stays in cache, and no (T, B, G*H) tensor is ever allocated.
template <typename T>
struct XSource {
  int64_t Tn = 0, B = 0, K = 0;
  const T* full = nullptr;
  const T* x = nullptr;   // (T, B, I) contiguous
  const T* w = nullptr;   // (K, I) contiguous
  const T* ln = nullptr;  // layer-norm gain of W x (K,), or null
  int64_t I = 0;
  std::vector<T> bias;    // (K,) or empty
  bool reverse = false;
  int64_t Tc = 1, c0 = 0, c1 = 0;
  double eps = 1e-5;
  std::unique_ptr<T[]> buf;  // uninitialised: every chunk is written before it is read
  std::vector<T> tmp;
  std::vector<T> wt;         // W^T (I, K) when I is small (see fill), else empty
  at::TensorOptions opt;
  // W x for a chunk of Tc steps: the weight packed once per call for all chunks (when the
  // product runs on packed_gemm), the last chunk through run_rows.
  std::shared_ptr<StepGemm<T>> mm;

  static XSource precomputed(const Tensor& xp) {
    XSource s;
    s.Tn = xp.size(0);
    s.B = xp.size(1);
    s.K = xp.size(2);
    s.full = xp.data_ptr<T>();
    s.opt = xp.options();
    return s;
  }

  static XSource project(const Tensor& x, const Tensor& w, const OptTensor& b1, const OptTensor& b2,
                         const OptTensor& ln, bool reverse, double eps) {
    TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "x must be a contiguous (T, B, I) tensor");
    TORCH_CHECK(w.dim() == 2 && w.is_contiguous() && w.size(1) == x.size(2), "weight_ih must be (K, I), I = ",
                x.size(2));
    XSource s;
    s.Tn = x.size(0);
    s.B = x.size(1);
    s.I = x.size(2);
    s.K = w.size(0);
    s.x = x.data_ptr<T>();
    s.w = w.data_ptr<T>();
    s.ln = ptr_or_null<T>(ln);
    s.reverse = reverse;
    s.eps = eps;
    s.opt = x.options();
    if (defined(b1) || defined(b2)) {
      s.bias.assign(s.K, T(0));
      for (const OptTensor* b : {&b1, &b2}) {
        if (!defined(*b)) continue;
        TORCH_CHECK((*b)->numel() == s.K && (*b)->is_contiguous(), "bias must have ", s.K, " entries");
        const T* pb = (*b)->data_ptr<T>();
        for (int64_t j = 0; j < s.K; ++j) s.bias[j] += pb[j];
      }
    }
    const int64_t per_step = std::max<int64_t>(1, s.B * s.K * static_cast<int64_t>(sizeof(T)));
    int64_t budget = 512 * 1024;  // bytes of projected input per chunk: a few steps, in L2
    if (const char* e = std::getenv("LSTMKIT_PROJ_CHUNK_BYTES")) budget = std::max<int64_t>(1, std::atoll(e));
    s.Tc = std::max<int64_t>(1, std::min<int64_t>(s.Tn, budget / per_step));
    s.buf.reset(new T[s.Tc * s.B * s.K]);
    if (s.ln) s.tmp.resize(s.K);
    if (s.I > 4) {
      const int64_t chunks = (s.Tn + s.Tc - 1) / s.Tc;
      // (no MKL packing here: its packed format is for one row count only)
      s.mm = std::make_shared<StepGemm<T>>(s.w, true, s.Tc * s.B, s.K, s.I,
                                            own_gemm_enabled(gemm_class(s.Tc * s.B, s.K, s.I), true) ? chunks : 0,
                                            s.opt, /*inference=*/true);
    }
    if (s.I <= 4) {
      s.wt.resize(s.I * s.K);
      for (int64_t k = 0; k < s.K; ++k)
        for (int64_t i = 0; i < s.I; ++i) s.wt[i * s.K + k] = s.w[k * s.I + i];
    }
    s.c0 = s.c1 = 0;
    return s;
  }

  const T* at(int64_t t) {
    if (full) return full + t * B * K;
    if (t < c0 || t >= c1) fill(t);
    return buf.get() + (t - c0) * B * K;
  }

  void fill(int64_t t) {
    if (!reverse) {
      c0 = t;
      c1 = std::min(Tn, t + Tc);
    } else {
      c1 = t + 1;
      c0 = std::max<int64_t>(0, t + 1 - Tc);
    }
    const int64_t rows = (c1 - c0) * B;
    T* out = buf.get();
    const bool bias_first = !bias.empty() && ln == nullptr;
    if (bias_first && wt.empty()) {
      for (int64_t r = 0; r < rows; ++r) std::memcpy(out + r * K, bias.data(), sizeof(T) * K);
    }
    if (!wt.empty()) {
      // Few input features: rows of K outputs as I vector updates each (no BLAS call, no
      // bias copy; a GEMM with tiny K is mostly overhead).
      const T* xs = x + c0 * B * I;
      const T* pw = wt.data();
      const T* pb = bias.empty() || ln != nullptr ? nullptr : bias.data();
      for (int64_t rr = 0; rr < rows; ++rr) {
        T* __restrict o = out + rr * K;
        const T* xr = xs + rr * I;
        if (pb) {
          std::memcpy(o, pb, sizeof(T) * K);
        } else {
          std::memset(o, 0, sizeof(T) * K);
        }
        for (int64_t i = 0; i < I; ++i) {
          const T xv = xr[i];
          const T* __restrict wi = pw + i * K;
#pragma omp simd
          for (int64_t j = 0; j < K; ++j) o[j] += xv * wi[j];
        }
      }
    } else {
      mm->run_rows(x + c0 * B * I, out, bias_first ? T(1) : T(0), rows);
    }
    if (ln) {
      // LN(W x) * gain + bias in place, two passes per row: the statistics (ln_stats),
      // then normalise, scale and shift.
      const T* pb = bias.empty() ? nullptr : bias.data();
      for (int64_t r = 0; r < rows; ++r) {
        T* __restrict row = out + r * K;
        T m, rs;
        ln_stats(row, K, eps, &m, &rs);
        if (pb) {
#pragma omp simd
          for (int64_t j = 0; j < K; ++j) row[j] = (row[j] - m) * rs * ln[j] + pb[j];
        } else {
#pragma omp simd
          for (int64_t j = 0; j < K; ++j) row[j] = (row[j] - m) * rs * ln[j];
        }
      }
    }
  }
};

// W x_t of one row for few inputs (I <= 4): I vector updates with W^T (I, n) contiguous.
template <typename T>
inline void small_projection_row(const T* __restrict x, const T* __restrict wt, T* __restrict out, int64_t I,
                                 int64_t n) {
  const T x0 = x[0];
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) out[j] = x0 * wt[j];
  for (int64_t i = 1; i < I; ++i) {
    const T xi = x[i];
    const T* __restrict w = wt + i * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) out[j] += xi * w[j];
  }
}

// Its backward: dx (I) = W^T-rows . d, and the weight's gradient accumulated in acc (I, n).
template <typename T>
inline void small_projection_backward_row(const T* __restrict d, const T* __restrict x, const T* __restrict wt,
                                          T* __restrict dx, T* __restrict acc, int64_t I, int64_t n) {
  for (int64_t i = 0; i < I; ++i) {
    const T xi = x[i];
    const T* __restrict w = wt + i * n;
    T* __restrict a = acc + i * n;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; ++j) {
      s += d[j] * w[j];
      a[j] += xi * d[j];
    }
    dx[i] = s;
  }
}

}  // namespace
}  // namespace lstmkit
