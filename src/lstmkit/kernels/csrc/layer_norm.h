// Layer norm of one row: statistics, normalisation and backward (no affine), and the
// training input projection's LN(W x) * gain + bias per row.

#pragma once

#include "common.h"

namespace lstmkit {
namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

// Row reductions in double with 16 independent accumulators: vectorised without
// -ffast-math, and as accurate as torch's layer norm.
template <typename T>
inline double sum_row(const T* __restrict x, int64_t n) {
  double acc[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; ++l) acc[l] += static_cast<double>(x[j + l]);
  double s = 0;
  for (; j < n; ++j) s += x[j];
  for (int l = 0; l < 16; ++l) s += acc[l];
  return s;
}

template <typename T>
inline double dot_row(const T* __restrict x, const T* __restrict y, int64_t n) {
  double acc[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; ++l) acc[l] += static_cast<double>(x[j + l]) * static_cast<double>(y[j + l]);
  double s = 0;
  for (; j < n; ++j) s += static_cast<double>(x[j]) * y[j];
  for (int l = 0; l < 16; ++l) s += acc[l];
  return s;
}

template <typename T>
inline double sqdev_row(const T* __restrict x, double mean, int64_t n) {
  double acc[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; ++l) {
      const double d = static_cast<double>(x[j + l]) - mean;
      acc[l] += d * d;
    }
  double s = 0;
  for (; j < n; ++j) s += (x[j] - mean) * (x[j] - mean);
  for (int l = 0; l < 16; ++l) s += acc[l];
  return s;
}

// Layer norm of one row: xhat = (x - mean) * rstd; returns rstd.
template <typename T>
inline T layer_norm_row(const T* __restrict x, T* __restrict xhat, int64_t n, double eps) {
  const double mean = sum_row(x, n) / static_cast<double>(n);
  const double v = sqdev_row(x, mean, n);
  const T rstd = static_cast<T>(1.0 / std::sqrt(v / static_cast<double>(n) + eps));
  const T m = static_cast<T>(mean);
  for (int64_t j = 0; j < n; ++j) xhat[j] = (x[j] - m) * rstd;
  return rstd;
}

// Backward of xhat = LN(x) (no affine): dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
template <typename T>
inline void layer_norm_backward_row(const T* __restrict dxhat, const T* __restrict xhat, T rstd,
                                    T* __restrict dx, int64_t n) {
  const T m1 = static_cast<T>(sum_row(dxhat, n) / static_cast<double>(n));
  const T m2 = static_cast<T>(dot_row(dxhat, xhat, n) / static_cast<double>(n));
  for (int64_t j = 0; j < n; ++j) dx[j] = rstd * (dxhat[j] - m1 - xhat[j] * m2);
}

// Layer-norm statistics of one row: mean and 1/sqrt(var + eps), from sums taken in double
// and shifted by the row's first value (so that E[d^2] - E[d]^2 does not cancel).
template <typename T>
inline void ln_stats_from_sums(double s1, double s2, double shift, int64_t n, double eps, T* mean, T* rstd) {
  const double dm = s1 / static_cast<double>(n);
  *rstd = static_cast<T>(1.0 / std::sqrt(std::max(0.0, s2 / static_cast<double>(n) - dm * dm) + eps));
  *mean = static_cast<T>(shift + dm);
}

template <typename T>
inline void ln_stats(const T* __restrict x, int64_t n, double eps, T* mean, T* rstd) {
  const double sh = x[0];
  double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < n; ++j) {
    const double d = static_cast<double>(x[j]) - sh;
    s1 += d;
    s2 += d * d;
  }
  ln_stats_from_sums(s1, s2, sh, n, eps, mean, rstd);
}

// The input projection's layer norm in training, xp = LN(xw) * gain + bias, one row of n:
// forward into xp (mean and rstd returned), and backward: dxp (in) -> dxw (out, in place),
// the gain's and bias's gradients accumulated in acc_g / acc_b (T, per step).
template <typename T>
inline void input_ln_forward_row(const T* __restrict xw, const T* __restrict gain, const T* __restrict bias,
                                 T* __restrict xp, T* mean, T* rstd, int64_t n, double eps) {
  T m, rs;
  ln_stats(xw, n, eps, &m, &rs);
  *mean = m;
  *rstd = rs;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) xp[j] = (xw[j] - m) * rs * gain[j] + bias[j];
}

template <typename T>
__attribute__((noinline)) void input_ln_backward_row(T* __restrict d, const T* __restrict xw, T m, T rs,
                                                     const T* __restrict gain, T* __restrict acc_g,
                                                     T* __restrict acc_b, int64_t n) {
  double p1 = 0, p2 = 0;
#pragma omp simd reduction(+ : p1, p2)
  for (int64_t j = 0; j < n; ++j) {
    const T xh = (xw[j] - m) * rs;
    const T dv = d[j];
    acc_g[j] += dv * xh;
    acc_b[j] += dv;
    const T e = dv * gain[j];
    p1 += e;
    p2 += static_cast<double>(e) * xh;
  }
  const T a1 = static_cast<T>(p1 / static_cast<double>(n));
  const T a2 = static_cast<T>(p2 / static_cast<double>(n));
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T xh = (xw[j] - m) * rs;
    d[j] = rs * (d[j] * gain[j] - a1 - xh * a2);
  }
}

}  // namespace
}  // namespace lstmkit
