// What every loop uses: element-wise math, optional-tensor helpers, row validity,
// per-step state storage.

#pragma once

#include "buffer_cache.h"

#include <torch/extension.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace lstmkit {
namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

// ---- element-wise math ----------------------------------------------------------------
// A branch-free exp (Cephes' range reduction and polynomial / Pade approximant, ~1 ulp)
// that the compiler vectorises inside plain loops, for float and for double (libm's exp
// and tanh kept the float64 loops scalar: 3.6x torch's float64 LSTM at 32x48x32x64).
inline float exp_fast(float x) {
  x = x > 88.3762626647949f ? 88.3762626647949f : x;
  x = x < -87.3365447504019f ? -87.3365447504019f : x;
  // Round x / ln2 to the nearest integer by adding 1.5 * 2^23: no rounding instruction,
  // and the integer sits in the low mantissa bits of the sum.
  const float big = 12582912.0f;
  const float t = x * 1.44269504088896341f + big;
  const float fx = t - big;
  float r = x - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  int32_t tb;
  std::memcpy(&tb, &t, sizeof(float));
  const int32_t n = tb - 0x4B400000;
  const int32_t bits = (n + 127) << 23;
  float pow2n;
  std::memcpy(&pow2n, &bits, sizeof(float));
  return y * pow2n;
}

// The double version spells every multiply-add out (fma where the CPU has it), so that
// the compiler cannot contract it differently in different loops: the float64 results of
// two kernels computing the same gate are bit-identical (tests/test_analytic.py).
#ifdef __FMA__
#define LSTMKIT_MADD(a, b, c) std::fma((a), (b), (c))
#else
#define LSTMKIT_MADD(a, b, c) ((a) * (b) + (c))
#endif
inline double exp_fast(double x) {
  x = x > 709.0 ? 709.0 : x;
  x = x < -708.0 ? -708.0 : x;
  // Round x / ln2 to the nearest integer by adding 1.5 * 2^52 (see the float version).
  const double big = 6755399441055744.0;
  const double t = LSTMKIT_MADD(x, 1.4426950408889634074, big);
  const double fx = t - big;
  // r = x - n ln2 in two parts (Cephes' C1 + C2 = ln2), |r| <= ln2 / 2
  double r = LSTMKIT_MADD(-fx, 6.93145751953125e-1, x);
  r = LSTMKIT_MADD(-fx, 1.42860682030941723212e-6, r);
  // exp(r) = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)) (Cephes' exp.c, ~1 ulp)
  const double rr = r * r;
  const double px =
      r * LSTMKIT_MADD(LSTMKIT_MADD(1.26177193074810590878e-4, rr, 3.02994407707441961300e-2), rr,
                       9.99999999999999999910e-1);
  const double qx = LSTMKIT_MADD(
      LSTMKIT_MADD(LSTMKIT_MADD(3.00198505138664455042e-6, rr, 2.52448340349684104192e-3), rr,
                   2.27265548208155028766e-1),
      rr, 2.00000000000000000009e0);
  const double y = LSTMKIT_MADD(2.0, px / (qx - px), 1.0);
  int64_t tb;
  std::memcpy(&tb, &t, sizeof(double));
  const int64_t n = tb - 0x4338000000000000LL;
  const int64_t bits = (n + 1023) << 52;
  double pow2n;
  std::memcpy(&pow2n, &bits, sizeof(double));
  return y * pow2n;  // exact (a power of two), so a later "+ 1" contracts to the same value
}
#undef LSTMKIT_MADD

template <typename T>
struct M;

template <>
struct M<float> {
  static inline float sigmoid(float x) { return 1.0f / (1.0f + exp_fast(-x)); }
  static inline float tanh(float x) {
    // tanh(x) = 1 - 2 / (exp(2x) + 1); absolute error ~1e-7 near 0.
    return 1.0f - 2.0f / (exp_fast(2.0f * x) + 1.0f);
  }
};

template <>
struct M<double> {
  static inline double sigmoid(double x) { return 1.0 / (1.0 + exp_fast(-x)); }
  static inline double tanh(double x) {
    // tanh(x) = 1 - 2 / (exp(2x) + 1); absolute error ~2e-16 near 0.
    return 1.0 - 2.0 / (exp_fast(2.0 * x) + 1.0);
  }
};

template <typename T>
inline void sigmoid_inplace(T* __restrict a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) a[j] = M<T>::sigmoid(a[j]);
}

template <typename T>
inline void tanh_inplace(T* __restrict a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) a[j] = M<T>::tanh(a[j]);
}

// ---- helpers ----------------------------------------------------------------------------
inline bool defined(const OptTensor& t) { return t.has_value() && t->defined() && t->numel() > 0; }

template <typename T>
inline const T* ptr_or_null(const OptTensor& t) {
  return defined(t) ? t->data_ptr<T>() : nullptr;
}

inline OptTensor cont(const OptTensor& t) { return defined(t) ? OptTensor(t->contiguous()) : OptTensor(); }

// The inference entry points also take an initial state of shape (1, B, n) (one layer and
// direction of a module's (L*D, B, n) state) and then return the final state in that
// shape, which saves the Python caller two tensor views per entry and call.
inline Tensor state_2d(const Tensor& t) {
  if (t.dim() != 3) return t.contiguous();
  TORCH_CHECK(t.size(0) == 1, "a 3-D initial state must have size 1 in its first dimension, got ", t.sizes());
  return t.contiguous().view({t.size(1), t.size(2)});
}

inline OptTensor state_2d(const OptTensor& t) { return defined(t) ? OptTensor(state_2d(*t)) : OptTensor(); }

// A final (B, n) state as (1, B, n), for a caller that passed a 3-D initial state.
inline Tensor state_3d(const Tensor& t) { return t.numel() > 0 && t.dim() == 2 ? t.unsqueeze(0) : t; }


// Rows valid at time t, and whether all of them are.
struct Validity {
  const int64_t* len = nullptr;
  int64_t min_len = 0;
  bool row(int64_t b, int64_t t) const { return len == nullptr || t < len[b]; }
  bool all(int64_t t) const { return len == nullptr || t < min_len; }
};

Validity make_validity(const OptTensor& lengths, int64_t T) {
  Validity v;
  v.min_len = T;
  if (defined(lengths)) {
    TORCH_CHECK(lengths->scalar_type() == at::kLong && lengths->is_contiguous(),
                "lengths must be a contiguous int64 tensor");
    v.len = lengths->data_ptr<int64_t>();
    const int64_t n = lengths->numel();
    int64_t m = T;
    for (int64_t b = 0; b < n; ++b) m = std::min(m, v.len[b]);
    v.min_len = m;
    if (m >= T) v.len = nullptr;
  }
  return v;
}

// State storage: with save, a (T, B, n) buffer of the state entering each step (indexed
// by t) plus the final state; without, two ping-pong buffers. Pointers, not tensors, in
// the loop: a tensor view per step costs about a microsecond.
template <typename T>
struct StateSeq {
  Tensor all;  // (T, B, n) when saving, else undefined (the two buffers live in ping)
  Tensor final_;
  std::vector<T> ping;  // without save: (2, B, n), a malloc instead of a tensor (streaming)
  T* base = nullptr;
  T* fin = nullptr;
  bool save = false, reverse = false;
  int64_t Tn = 0, step = 0;
  T* prev(int64_t k) const {  // state entering processing step k
    const int64_t t = reverse ? Tn - 1 - k : k;
    return base + (save ? t : k % 2) * step;
  }
  T* next(int64_t k) const {  // state leaving processing step k
    if (k == Tn - 1) return fin;
    const int64_t t = reverse ? Tn - 2 - k : k + 1;
    return base + (save ? t : (k + 1) % 2) * step;
  }
  // final3d: the final state as (1, B, n) (the inference entry points' 3-D states; an
  // unsqueeze afterwards costs a dispatcher call per state).
  static StateSeq make(const Tensor& init, int64_t Tn, bool save, bool reverse, bool final3d = false) {
    StateSeq s;
    s.save = save;
    s.reverse = reverse;
    s.Tn = Tn;
    const auto B = init.size(0), n = init.size(1);
    s.step = B * n;
    s.final_ = final3d ? at::empty({1, B, n}, init.options()) : at::empty({B, n}, init.options());
    if (save) {
      s.all = buffer({Tn, B, n}, init.options());
      s.base = s.all.data_ptr<T>();
    } else {
      s.ping.resize(2 * s.step);
      s.base = s.ping.data();
    }
    s.fin = s.final_.data_ptr<T>();
    std::memcpy(s.prev(0), init.data_ptr<T>(), sizeof(T) * s.step);
    return s;
  }
};

}  // namespace
}  // namespace lstmkit
