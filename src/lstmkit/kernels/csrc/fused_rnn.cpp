// Fused CPU time loops for the LSTM family, the GRU and the Elman RNN.
//
// Each *_forward runs the whole time loop: one matrix product per step (h_{t-1} R^T,
// plus a_{t-1} R_gg^T for full gate recurrence and the projection for LSTMP) and one
// element-wise pass that is the only variant-specific code. The input projection
// W x_t + b of every step arrives precomputed (xp, time-major), so its gradient is
// plain ATen autograd in Python; with layer norm, xp is the raw W x_t and the kernel
// applies LN(W x_t) * gain + b per row (and its backward) itself. Each *_backward is the hand-written backpropagation
// through time; the weight gradients are one large matrix product after the loop.
//
// Semantics are those of lstmkit.recurrent.run_recurrence: step t of row b is valid iff
// t < lengths[b]; an invalid step keeps the state and emits zeros. reverse processes
// t = T-1 ... 0, so a row's state starts at its own last valid step.
//
// Saved per-step state ("prev" buffers) is indexed by time t, not by processing order,
// so that dW = dPre^T @ Hprev is one matrix product in either direction.

#include <torch/extension.h>
#include <ATen/EmptyTensor.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include <c10/core/Allocator.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <cstring>
#include <vector>

extern "C" {
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
            const int*, const float*, const int*, const float*, float*, const int*) __attribute__((weak));
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*,
            const int*, const double*, const int*, const double*, double*, const int*) __attribute__((weak));
// MKL's packed GEMM: the recurrent weight is packed once per call and reused every step.
size_t SGEMM_PACK_GET_SIZE(const char*, const int*, const int*, const int*) __attribute__((weak));
void SGEMM_PACK(const char*, const char*, const int*, const int*, const int*, const float*, const float*, const int*,
                float*) __attribute__((weak));
void SGEMM_COMPUTE(const char*, const char*, const int*, const int*, const int*, const float*, const int*,
                   const float*, const int*, const float*, float*, const int*) __attribute__((weak));
}


namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

// ---- element-wise math ----------------------------------------------------------------
// float: a branch-free exp (Cephes' range reduction and polynomial, ~1 ulp) that the
// compiler vectorises inside plain loops; double: libm (only gradcheck uses double).
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
  static inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
  static inline double tanh(double x) { return std::tanh(x); }
};

template <typename T>
inline void sigmoid_inplace(T* __restrict a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) a[j] = M<T>::sigmoid(a[j]);
}

template <typename T>
inline void tanh_inplace(T* __restrict a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) a[j] = M<T>::tanh(a[j]);
}

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

// ---- a cache of large buffers --------------------------------------------------------------
// A training step allocates and frees the same (T, B, n) buffers every call (saved
// activations, gradients). Through malloc, blocks of megabytes are returned to the kernel
// and faulted in again page by page each call (perf, 32x100x2x64 layer-norm training: ~20%
// of the time in the kernel's page-fault path). Buffers of >= 256 KiB come from this
// allocator instead: a freed block is kept (at most LSTMKIT_BUFFER_CACHE_MB, default
// 1024; 0 turns the cache off) and handed out again for a request of up to its size.
// The tensors are ordinary CPU tensors (resizable, freed through the allocator).
class BufferCache final : public c10::Allocator {
 public:
  static BufferCache& get() {
    static BufferCache* c = new BufferCache();  // never destroyed: tensors may outlive static destruction
    return *c;
  }
  size_t limit() const { return limit_; }

  c10::DataPtr allocate(size_t n) override {
    const size_t bytes = (std::max<size_t>(n, 1) + 4095) / 4096 * 4096;
    char* base = nullptr;
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= bytes + bytes / 4) {
        base = it->second;
        cached_ -= it->first;
        free_.erase(it);
      }
    }
    if (base == nullptr) {
      base = static_cast<char*>(std::aligned_alloc(kHeader, bytes + kHeader));
      TORCH_CHECK(base != nullptr, "lstmkit: out of memory allocating ", bytes, " bytes");
      *reinterpret_cast<size_t*>(base) = bytes;
    }
    void* data = base + kHeader;
    return {data, data, &BufferCache::release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &BufferCache::release; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
  void clear() {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& kv : free_) std::free(kv.second);
    free_.clear();
    cached_ = 0;
  }

 private:
  static constexpr size_t kHeader = 64;
  BufferCache() {
    int64_t mb = 1024;
    if (const char* e = std::getenv("LSTMKIT_BUFFER_CACHE_MB")) mb = std::max<int64_t>(0, std::atoll(e));
    limit_ = static_cast<size_t>(mb) << 20;
  }
  static void release(void* data) {
    char* base = static_cast<char*>(data) - kHeader;
    const size_t bytes = *reinterpret_cast<size_t*>(base);
    BufferCache& c = get();
    {
      std::lock_guard<std::mutex> g(c.mu_);
      if (c.cached_ + bytes <= c.limit_) {
        c.free_.emplace(bytes, base);
        c.cached_ += bytes;
        return;
      }
    }
    std::free(base);
  }
  std::mutex mu_;
  std::multimap<size_t, char*> free_;
  size_t cached_ = 0, limit_ = 0;
};

// at::empty for the per-call (T, B, n) buffers: large ones from the cache.
inline Tensor buffer(at::IntArrayRef sizes, const at::TensorOptions& opt) {
  int64_t n = 1;
  for (auto v : sizes) n *= v;
  const size_t bytes = static_cast<size_t>(n) * opt.dtype().itemsize();
  BufferCache& c = BufferCache::get();
  if (bytes < (256u << 10) || c.limit() == 0) return at::empty(sizes, opt);
  return Tensor(at::detail::empty_generic(sizes, &c, c10::DispatchKeySet(c10::DispatchKey::CPU),
                                          c10::typeMetaToScalarType(opt.dtype()), c10::nullopt));
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

inline void states_3d(std::vector<Tensor>& res, int64_t first, int64_t last) {
  for (int64_t k = first; k < last; ++k)
    if (res[k].numel() > 0 && res[k].dim() == 2) res[k] = res[k].unsqueeze(0);
}

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

// ---- matrix product -------------------------------------------------------------------
// The BLAS torch itself links (MKL's Fortran interface) is called directly when present:
// the dispatcher and tensor views of at::mm_out cost more than the product at small sizes.
inline bool have_blas() { return sgemm_ != nullptr && dgemm_ != nullptr; }

template <typename T>
inline void blas(const char* ta, int m, int n, int k, const T* a, int lda, const T* b, int ldb, T beta, T* c,
                 int ldc);

template <>
inline void blas<float>(const char* ta, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
                        float beta, float* c, int ldc) {
  const float one = 1.0f;
  sgemm_(ta, "N", &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc);
}

template <>
inline void blas<double>(const char* ta, int m, int n, int k, const double* a, int lda, const double* b, int ldb,
                         double beta, double* c, int ldc) {
  const double one = 1.0;
  dgemm_(ta, "N", &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc);
}


// One or two rows times a fixed weight, C (M x N) (+)= A (M x K) @ W^T with W (N x K)
// row-major: the forward's per-step product when B <= 2 (streaming). MKL routes M = 1 to
// its gemv, which on AMD CPUs runs the generic "def" code path (perf, streaming at H=128:
// ~28% of the call in mkl_blas_def_xsgemv); these dot products, 8 rows of W at a time
// (8 independent accumulators hide the FMA latency) reduced with one hadd tree, measured
// 1x512x128: 6.1 -> 2.8 us, 1x512x32: 2.25 -> 0.68 us, 1x2048x512: 160 -> 85 us (AMD
// EPYC, one thread). Used where packed_gemm is (own_gemm_enabled, below).
#if defined(__AVX2__) && defined(__FMA__)
#define LSTMKIT_AVX2_GEMM 1
__attribute__((noinline)) void small_gemm_nt(const float* __restrict A, const float* __restrict W,
                                             float* __restrict C, int64_t M, int64_t N, int64_t K, float beta) {
  const int64_t K8 = K & ~int64_t(7);
  for (int64_t m = 0; m < M; ++m) {
    const float* __restrict a = A + m * K;
    float* __restrict c = C + m * N;
    int64_t n = 0;
    for (; n + 8 <= N; n += 8) {
      const float* w = W + n * K;
      __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
      for (int64_t k = 0; k < K8; k += 8) {
        const __m256 av = _mm256_loadu_ps(a + k);
        s0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + k), s0);
        s1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + K + k), s1);
        s2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + 2 * K + k), s2);
        s3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + 3 * K + k), s3);
        s4 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + 4 * K + k), s4);
        s5 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + 5 * K + k), s5);
        s6 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + 6 * K + k), s6);
        s7 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w + 7 * K + k), s7);
      }
      // lane j of u0 / u1 (j < 4) holds row j's / row 4 + j's low-half sum, lane 4 + j the high half
      const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(s0, s1), _mm256_hadd_ps(s2, s3));
      const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(s4, s5), _mm256_hadd_ps(s6, s7));
      __m256 r = _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
      if (K8 < K) {
        alignas(32) float t[8];
        _mm256_store_ps(t, r);
        for (int j = 0; j < 8; ++j)
          for (int64_t k = K8; k < K; ++k) t[j] += a[k] * w[j * K + k];
        r = _mm256_load_ps(t);
      }
      if (beta != 0.f) r = _mm256_add_ps(r, _mm256_loadu_ps(c + n));
      _mm256_storeu_ps(c + n, r);
    }
    for (; n < N; ++n) {
      const float* w0 = W + n * K;
      float acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += a[k] * w0[k];
      c[n] = beta == 0.f ? acc : c[n] + acc;
    }
  }
}
#endif

inline bool packing_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("LSTMKIT_PACKED_GEMM");
    return !(e && e[0] == '0');
  }();
  return on;
}


// The per-step product of a long loop, C (M x N) (+)= A (M x K) @ op(W), with op(W)
// (K x N) packed once per call into panels of 16 columns (k-major inside a panel) and a
// 6 x 16 register-blocked AVX2 kernel (12 accumulators). Used on AVX2 CPUs without
// AVX-512, where MKL runs its generic code path on AMD and copies the weight on every call
// (perf, 16x500x64x512 inference: 23% of the time in mkl_blas_def_sgemm_scopy_down16,
// even with MKL's packed-weight API). Measured on a 2-core AMD EPYC (AVX2), one thread,
// MKL / this, us per product: 16x512 @ 512x2048 545-600 / 390 (86 GFLOP/s; a 1024^3
// matmul reaches 89), the backward's 16x2048 @ 2048x512 520 / 388, 64x256 @ 256x1024
// 408 / 353, 32x64 @ 64x256 13.3 / 11.5. With AVX-512 MKL's own kernels stay in use
// (measured faster there in earlier sessions); LSTMKIT_OWN_GEMM=0/1 forces the choice.
#ifdef LSTMKIT_AVX2_GEMM
constexpr int64_t kNR = 16;
inline int64_t packed_size(int64_t N, int64_t K) { return ((N + kNR - 1) / kNR) * K * kNR; }
// transposed: W stored (N x K) (op = ^T); else W stored (K x N).
inline void pack_panels(const float* w, bool transposed, int64_t N, int64_t K, float* out) {
  const int64_t P = (N + kNR - 1) / kNR;
  for (int64_t p = 0; p < P; ++p) {
    float* o = out + p * K * kNR;
    const int64_t n0 = p * kNR, nn = std::min<int64_t>(kNR, N - n0);
    if (transposed) {
      for (int64_t j = 0; j < kNR; ++j) {
        if (j < nn) {
          const float* wr = w + (n0 + j) * K;
          for (int64_t k = 0; k < K; ++k) o[k * kNR + j] = wr[k];
        } else {
          for (int64_t k = 0; k < K; ++k) o[k * kNR + j] = 0.f;
        }
      }
    } else {
      for (int64_t k = 0; k < K; ++k) {
        const float* wr = w + k * N + n0;
        for (int64_t j = 0; j < kNR; ++j) o[k * kNR + j] = j < nn ? wr[j] : 0.f;
      }
    }
  }
}
template <int MR>
__attribute__((always_inline)) inline void panel_kernel(const float* __restrict A, int64_t K, const float* __restrict pw,
                                                        float* __restrict C, int64_t ldc, int64_t nn, bool accumulate) {
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) { c0[r] = _mm256_setzero_ps(); c1[r] = _mm256_setzero_ps(); }
  for (int64_t k = 0; k < K; ++k) {
    const __m256 w0 = _mm256_loadu_ps(pw + k * kNR), w1 = _mm256_loadu_ps(pw + k * kNR + 8);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(A + r * K + k);
      c0[r] = _mm256_fmadd_ps(a, w0, c0[r]);
      c1[r] = _mm256_fmadd_ps(a, w1, c1[r]);
    }
  }
  if (nn == kNR) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      float* c = C + r * ldc;
      if (accumulate) {
        c0[r] = _mm256_add_ps(c0[r], _mm256_loadu_ps(c));
        c1[r] = _mm256_add_ps(c1[r], _mm256_loadu_ps(c + 8));
      }
      _mm256_storeu_ps(c, c0[r]);
      _mm256_storeu_ps(c + 8, c1[r]);
    }
  } else {
    alignas(32) float t[kNR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      _mm256_store_ps(t, c0[r]);
      _mm256_store_ps(t + 8, c1[r]);
      float* c = C + r * ldc;
      for (int64_t j = 0; j < nn; ++j) c[j] = accumulate ? c[j] + t[j] : t[j];
    }
  }
}
__attribute__((noinline)) void packed_gemm(const float* __restrict A, const float* __restrict packed, float* __restrict C,
                                           int64_t M, int64_t N, int64_t K, bool accumulate) {
  const int64_t P = (N + kNR - 1) / kNR;
  for (int64_t p = 0; p < P; ++p) {
    const float* pw = packed + p * K * kNR;
    const int64_t n0 = p * kNR, nn = std::min<int64_t>(kNR, N - n0);
    int64_t m = 0;
    for (; m + 6 <= M; m += 6) panel_kernel<6>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate);
    switch (M - m) {
      case 5: panel_kernel<5>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 4: panel_kernel<4>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 3: panel_kernel<3>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 2: panel_kernel<2>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 1: panel_kernel<1>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      default: break;
    }
  }
}
#endif

inline bool own_gemm_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("LSTMKIT_OWN_GEMM");
    if (e && e[0] == '0') return false;
    if (e && e[0] == '1') return true;
#if defined(__AVX512F__)
    return false;
#else
    return true;
#endif
  }();
#ifdef LSTMKIT_AVX2_GEMM
  return on;
#else
  return false;
#endif
}

// A fixed weight multiplied every step by a changing A (M x K), all row-major and
// contiguous: C (M x N) = A @ op(W) + beta * C, where op(W) = W^T for W stored (N x K)
// (``transposed``, the forward's h R^T) or W itself for W stored (K x N) (the backward's
// dRec R). For a long enough loop the weight is packed once (float: our panels, see
// packed_gemm, or MKL's packed format).
template <typename T>
struct StepGemm {
  const T* w = nullptr;
  bool transposed = false;
  int64_t M = 0, N = 0, K = 0;
  at::TensorOptions opt;
  std::unique_ptr<float[]> packed;  // uninitialised storage: MKL writes all of it
  std::unique_ptr<float[]> panels;  // op(W) for packed_gemm (every entry written by pack_panels)

  StepGemm(const T* w_, bool transposed_, int64_t M_, int64_t N_, int64_t K_, int64_t steps,
           const at::TensorOptions& opt_)
      : w(w_), transposed(transposed_), M(M_), N(N_), K(K_), opt(opt_) {
    if (steps >= 4 && !use_small()) pack_panels_if_own();
    if (steps >= 8 && !use_small() && !panels) maybe_pack();
  }

  void pack_panels_if_own();

  // B <= 2 rows, W^T: small_gemm_nt (float, AVX2) instead of BLAS.
  bool use_small() const;

  bool small() const { return M < (1LL << 30) && N < (1LL << 30) && K < (1LL << 30); }

  void maybe_pack();

  void run(const T* A, T* C, T beta) const { run_rows(A, C, beta, M); }

  // The same product for the first ``rows`` rows of A and C (rows <= M): the inference
  // projection's last chunk of steps.
  void run_rows(const T* A, T* C, T beta, int64_t rows) const {
    // Column-major view: C^T (N x rows) = op(W)^T (N x K) @ A^T (K x rows).
    const int m = static_cast<int>(N), n = static_cast<int>(rows), k = static_cast<int>(K);
    if (use_small()) {
      run_small(A, C, beta, rows);
    } else if (panels && (beta == T(0) || beta == T(1))) {
      run_panels(A, C, beta, rows);
    } else if (packed && rows == M) {
      run_packed(A, C, beta);
    } else if (have_blas() && small()) {
      if (transposed) {
        blas<T>("T", m, n, k, w, k, A, k, beta, C, m);  // W (N x K) row-major = (K x N) col-major
      } else {
        blas<T>("N", m, n, k, w, m, A, k, beta, C, m);  // W (K x N) row-major = (N x K) col-major
      }
    } else {
      Tensor a = at::from_blob(const_cast<T*>(A), {rows, K}, opt);
      Tensor wt = transposed ? at::from_blob(const_cast<T*>(w), {N, K}, opt).t()
                             : at::from_blob(const_cast<T*>(w), {K, N}, opt);
      Tensor c = at::from_blob(C, {rows, N}, opt);
      if (beta == T(0)) {
        at::mm_out(c, a, wt);
      } else {
        c.addmm_(a, wt);
      }
    }
  }

  void run_packed(const T* A, T* C, T beta) const;
  void run_small(const T* A, T* C, T beta, int64_t rows) const;
  void run_panels(const T* A, T* C, T beta, int64_t rows) const;
};

template <>
inline void StepGemm<double>::pack_panels_if_own() {}

template <>
inline void StepGemm<float>::pack_panels_if_own() {
#ifdef LSTMKIT_AVX2_GEMM
  if (!own_gemm_enabled()) return;
  panels.reset(new float[packed_size(N, K)]);
  pack_panels(w, transposed, N, K, panels.get());
#endif
}

template <>
inline void StepGemm<double>::run_panels(const double*, double*, double, int64_t) const {}

template <>
inline void StepGemm<float>::run_panels(const float* A, float* C, float beta, int64_t rows) const {
#ifdef LSTMKIT_AVX2_GEMM
  packed_gemm(A, panels.get(), C, rows, N, K, beta != 0.f);
#endif
}

template <>
inline bool StepGemm<double>::use_small() const { return false; }

template <>
inline bool StepGemm<float>::use_small() const {
#ifdef LSTMKIT_AVX2_GEMM
  return own_gemm_enabled() && transposed && M <= 2;
#else
  return false;
#endif
}

template <>
inline void StepGemm<double>::run_small(const double*, double*, double, int64_t) const {}

template <>
inline void StepGemm<float>::run_small(const float* A, float* C, float beta, int64_t rows) const {
#ifdef LSTMKIT_AVX2_GEMM
  small_gemm_nt(A, w, C, rows, N, K, beta);
#endif
}

template <>
inline void StepGemm<double>::maybe_pack() {}

template <>
inline void StepGemm<float>::maybe_pack() {
  if (!packing_enabled() || SGEMM_PACK_GET_SIZE == nullptr || SGEMM_PACK == nullptr || SGEMM_COMPUTE == nullptr ||
      !small())
    return;
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  const size_t bytes = SGEMM_PACK_GET_SIZE("A", &m, &n, &k);
  if (bytes == 0) return;
  packed.reset(new float[bytes / sizeof(float) + 16]);
  const float one = 1.0f;
  if (transposed) {
    SGEMM_PACK("A", "T", &m, &n, &k, &one, w, &k, packed.get());
  } else {
    SGEMM_PACK("A", "N", &m, &n, &k, &one, w, &m, packed.get());
  }
}

template <>
inline void StepGemm<double>::run_packed(const double*, double*, double) const {}

template <>
inline void StepGemm<float>::run_packed(const float* A, float* C, float beta) const {
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  SGEMM_COMPUTE("P", "N", &m, &n, &k, packed.get(), &m, A, &k, &beta, C, &m);
}

// The projected input W x_t + b of each step: either precomputed for all steps (training,
// where autograd owns the projection), or computed here chunk by chunk (inference): a
// chunk of a few steps stays in cache, and no (T, B, G*H) tensor is ever allocated.
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
      s.mm = std::make_shared<StepGemm<T>>(s.w, true, s.Tc * s.B, s.K, s.I, own_gemm_enabled() ? chunks : 0, s.opt);
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

// Variant switches, in the order Python passes them.
struct LSTMFlags {
  bool input_gate, own_forget, cifg, output_gate, peepholes, tanh_g, tanh_h, fgr, layer_norm;
  int64_t H, G, Q;
  int64_t ki = -1, kf = -1, kg = -1, ko = -1;  // block index in the G*H pre-activation
  int64_t qi = -1, qf = -1, qo = -1;           // index among the recurrent gates (peepholes, FGR)
  double eps;
  // The common cells run a single-pass row kernel (below): tanh/tanh, input and output
  // gates, no layer norm, no FGR; kind 1 = (i, f, g, o), 2 = CIFG (i, g, o), 3 = no
  // forget gate (i, g, o). 0 = the general path.
  int fast = 0;
  // The layer-norm cell of the "layer_norm" preset (i, f, g, o; tanh/tanh; no peepholes,
  // CIFG or FGR): single-pass-per-stage row kernels (lstm_ln_row_*).
  bool ln_fast = false;
  // Inference with 3-D (1, B, n) states: the final states are returned in that shape.
  bool state3d = false;
};

LSTMFlags parse_flags(const std::vector<int64_t>& f, int64_t H, double eps) {
  TORCH_CHECK(f.size() == 9, "flags must have 9 entries, got ", f.size());
  LSTMFlags L;
  L.input_gate = f[0];
  L.own_forget = f[1];
  L.cifg = f[2];
  L.output_gate = f[3];
  L.peepholes = f[4];
  L.tanh_g = f[5];
  L.tanh_h = f[6];
  L.fgr = f[7];
  L.layer_norm = f[8];
  L.H = H;
  L.eps = eps;
  int64_t k = 0, q = 0;
  if (L.input_gate) { L.ki = k++; L.qi = q++; }
  if (L.own_forget) { L.kf = k++; L.qf = q++; }
  L.kg = k++;
  if (L.output_gate) { L.ko = k++; L.qo = q++; }
  L.G = k;
  L.Q = q;
  if (L.tanh_g && L.tanh_h && L.input_gate && L.output_gate && !L.fgr && !L.layer_norm)
    L.fast = L.own_forget ? 1 : (L.cifg ? 2 : 3);
  L.ln_fast = L.layer_norm && L.tanh_g && L.tanh_h && L.input_gate && L.own_forget && L.output_gate &&
              !L.peepholes && !L.fgr;
  return L;
}

// ---- single-pass rows for the common cells ------------------------------------------
// KIND as LSTMFlags::fast. Blocks: 1: (i, f, g, o), peepholes (i, f, o); 2 and 3:
// (i, g, o), peepholes (i, o). One loop over the H units of a row does the whole step.
// noinline: the __restrict promises hold inside the function, which the vectoriser needs.
template <typename T, int KIND, bool PEEP>
__attribute__((noinline)) void lstm_row_forward(const T* __restrict x, const T* __restrict r, const T* __restrict cp,
                             const T* __restrict pch, T* __restrict g, T* __restrict cn, T* __restrict y,
                             T* __restrict h, T* __restrict h2, int64_t H) {
  constexpr int KG = KIND == 1 ? 2 : 1, KO = KIND == 1 ? 3 : 2, PO = KIND == 1 ? 2 : 1;
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    T pi = x[j] + r[j];
    if (PEEP) pi += pch[j] * cp[j];
    const T i = M<T>::sigmoid(pi);
    T f = T(1);
    if (KIND == 1) {
      T pf = x[H + j] + r[H + j];
      if (PEEP) pf += pch[H + j] * cp[j];
      f = M<T>::sigmoid(pf);
    } else if (KIND == 2) {
      f = T(1) - i;
    }
    const T z = M<T>::tanh(x[KG * H + j] + r[KG * H + j]);
    const T c = KIND == 3 ? z * i + cp[j] : z * i + cp[j] * f;
    T po = x[KO * H + j] + r[KO * H + j];
    if (PEEP) po += pch[PO * H + j] * c;
    const T o = M<T>::sigmoid(po);
    const T yv = M<T>::tanh(c);
    const T hv = yv * o;
    g[j] = i;
    if (KIND == 1) g[H + j] = f;
    g[KG * H + j] = z;
    g[KO * H + j] = o;
    cn[j] = c;
    y[j] = yv;
    h[j] = hv;
    h2[j] = hv;  // the state and the output: two stores instead of a copy afterwards
  }
}

template <typename T>
inline void lstm_row_forward_any(int kind, bool peep, const T* x, const T* r, const T* cp, const T* pch, T* g,
                                 T* cn, T* y, T* h, T* h2, int64_t H) {
  if (kind == 1) {
    peep ? lstm_row_forward<T, 1, true>(x, r, cp, pch, g, cn, y, h, h2, H)
         : lstm_row_forward<T, 1, false>(x, r, cp, pch, g, cn, y, h, h2, H);
  } else if (kind == 2) {
    peep ? lstm_row_forward<T, 2, true>(x, r, cp, pch, g, cn, y, h, h2, H)
         : lstm_row_forward<T, 2, false>(x, r, cp, pch, g, cn, y, h, h2, H);
  } else {
    peep ? lstm_row_forward<T, 3, true>(x, r, cp, pch, g, cn, y, h, h2, H)
         : lstm_row_forward<T, 3, false>(x, r, cp, pch, g, cn, y, h, h2, H);
  }
}

// Backward of one row: dh (of h = tanh(c) * o) and dc (in: from later steps; out: dL/dc_{t-1})
// -> dpre (the row's pre-activation gradient); peephole gradients accumulated in acc.
template <typename T, int KIND, bool PEEP>
__attribute__((noinline)) void lstm_row_backward(const T* __restrict g, const T* __restrict y, const T* __restrict cp,
                              const T* __restrict cn, const T* __restrict dh, const T* __restrict pch,
                              T* __restrict dc, T* __restrict dpre, double* __restrict acc, int64_t H) {
  constexpr int KG = KIND == 1 ? 2 : 1, KO = KIND == 1 ? 3 : 2, PO = KIND == 1 ? 2 : 1;
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const T i = g[j];
    const T f = KIND == 1 ? g[H + j] : (KIND == 2 ? T(1) - i : T(1));
    const T z = g[KG * H + j];
    const T o = g[KO * H + j];
    const T yv = y[j];
    const T d = dh[j];
    const T dpo = d * yv * o * (T(1) - o);
    T dcv = dc[j] + d * o * (T(1) - yv * yv);
    if (PEEP) dcv += dpo * pch[PO * H + j];
    const T dpz = dcv * i * (T(1) - z * z);
    const T di = KIND == 2 ? dcv * (z - cp[j]) : dcv * z;
    const T dpi = di * i * (T(1) - i);
    T dcp = KIND == 3 ? dcv : dcv * f;
    dpre[j] = dpi;
    if (KIND == 1) {
      const T dpf = dcv * cp[j] * f * (T(1) - f);
      dpre[H + j] = dpf;
      if (PEEP) {
        dcp += dpf * pch[H + j];
        acc[H + j] += static_cast<double>(dpf) * cp[j];
      }
    }
    if (PEEP) {
      dcp += dpi * pch[j];
      acc[j] += static_cast<double>(dpi) * cp[j];
      acc[PO * H + j] += static_cast<double>(dpo) * cn[j];
    }
    dpre[KG * H + j] = dpz;
    dpre[KO * H + j] = dpo;
    dc[j] = dcp;
  }
}

template <typename T>
inline void lstm_row_backward_any(int kind, bool peep, const T* g, const T* y, const T* cp, const T* cn,
                                  const T* dh, const T* pch, T* dc, T* dpre, double* acc, int64_t H) {
  if (kind == 1) {
    peep ? lstm_row_backward<T, 1, true>(g, y, cp, cn, dh, pch, dc, dpre, acc, H)
         : lstm_row_backward<T, 1, false>(g, y, cp, cn, dh, pch, dc, dpre, acc, H);
  } else if (kind == 2) {
    peep ? lstm_row_backward<T, 2, true>(g, y, cp, cn, dh, pch, dc, dpre, acc, H)
         : lstm_row_backward<T, 2, false>(g, y, cp, cn, dh, pch, dc, dpre, acc, H);
  } else {
    peep ? lstm_row_backward<T, 3, true>(g, y, cp, cn, dh, pch, dc, dpre, acc, H)
         : lstm_row_backward<T, 3, false>(g, y, cp, cn, dh, pch, dc, dpre, acc, H);
  }
}

// ---- the layer-norm cell, one row ---------------------------------------------------------
// Forward of one row of the "layer_norm" preset (blocks i, f, g, o):
//   pre = x + LN(r) * g_hh;  i, f, o = sigmoid, z = tanh;  c = z i + c_prev f;
//   y = tanh(LN(c) * g_c + b_c);  h = y o.
// Four short passes instead of one or more per operation: (1) the statistics of r (one
// pass in double, shifted by r[0] so that E[d^2] - E[d]^2 does not cancel), (2) LN(r),
// the gates and c, (3) the variance of c, (4) LN(c) and the output. c_t is rounded to T
// as the state, but LN(c) is computed from the unrounded z i + c_prev f (in double, cd):
// with few units the normalisation amplifies c's rounding error by rstd_c.
// XLN (training): x is the raw projection W x_t, normalised here as LN(x) * lnih + bih
// (its statistics in pass (1), next to r's; mean and rstd saved for the backward).
template <typename T, bool XLN>
__attribute__((noinline)) void lstm_ln_row_forward(const T* __restrict x, const T* __restrict r,
                                                   const T* __restrict cp, const T* __restrict lnhh,
                                                   const T* __restrict lnc, const T* __restrict blnc,
                                                   const T* __restrict lnih, const T* __restrict bih,
                                                   T* __restrict xmean, T* __restrict xrstd,
                                                   T* __restrict g, T* __restrict rh, T* __restrict rstd_r,
                                                   T* __restrict cn, T* __restrict chat, T* __restrict rstd_c,
                                                   T* __restrict y, T* __restrict h, double* __restrict cd,
                                                   int64_t H, double eps) {
  const int64_t GH = 4 * H;
  // (1) statistics of r (and of x)
  const double sh = r[0];
  const double shx = XLN ? static_cast<double>(x[0]) : 0.0;
  double s1 = 0, s2 = 0, u1 = 0, u2 = 0;
#pragma omp simd reduction(+ : s1, s2, u1, u2)
  for (int64_t j = 0; j < GH; ++j) {
    const double d = static_cast<double>(r[j]) - sh;
    s1 += d;
    s2 += d * d;
    if (XLN) {
      const double e = static_cast<double>(x[j]) - shx;
      u1 += e;
      u2 += e * e;
    }
  }
  T mr, rs;
  ln_stats_from_sums(s1, s2, sh, GH, eps, &mr, &rs);
  *rstd_r = rs;
  T mx = T(0), rx = T(1);
  if (XLN) {
    ln_stats_from_sums(u1, u2, shx, GH, eps, &mx, &rx);
    *xmean = mx;
    *xrstd = rx;
  }
  // (2) LN(r), gates, c: T only, so that the loop vectorises at T's full width
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const T ai = (r[j] - mr) * rs, af = (r[H + j] - mr) * rs;
    const T az = (r[2 * H + j] - mr) * rs, ao = (r[3 * H + j] - mr) * rs;
    rh[j] = ai;
    rh[H + j] = af;
    rh[2 * H + j] = az;
    rh[3 * H + j] = ao;
    T xi = x[j], xf = x[H + j], xz = x[2 * H + j], xo = x[3 * H + j];
    if (XLN) {
      xi = (xi - mx) * rx * lnih[j] + bih[j];
      xf = (xf - mx) * rx * lnih[H + j] + bih[H + j];
      xz = (xz - mx) * rx * lnih[2 * H + j] + bih[2 * H + j];
      xo = (xo - mx) * rx * lnih[3 * H + j] + bih[3 * H + j];
    }
    const T i = M<T>::sigmoid(xi + ai * lnhh[j]);
    const T f = M<T>::sigmoid(xf + af * lnhh[H + j]);
    const T z = M<T>::tanh(xz + az * lnhh[2 * H + j]);
    const T o = M<T>::sigmoid(xo + ao * lnhh[3 * H + j]);
    g[j] = i;
    g[H + j] = f;
    g[2 * H + j] = z;
    g[3 * H + j] = o;
    cn[j] = z * i + cp[j] * f;
  }
  // (3) c in double and its mean, (4) its variance and LN(c)
  double c1 = 0;
#pragma omp simd reduction(+ : c1)
  for (int64_t j = 0; j < H; ++j) {
    const double c = static_cast<double>(g[2 * H + j]) * g[j] + static_cast<double>(cp[j]) * g[H + j];
    cd[j] = c;
    c1 += c;
  }
  const double mean = c1 / static_cast<double>(H);
  double c2 = 0;
#pragma omp simd reduction(+ : c2)
  for (int64_t j = 0; j < H; ++j) {
    const double d = cd[j] - mean;
    c2 += d * d;
  }
  const double rstd = 1.0 / std::sqrt(c2 / static_cast<double>(H) + eps);
  *rstd_c = static_cast<T>(rstd);
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) chat[j] = static_cast<T>((cd[j] - mean) * rstd);
  // (5) output
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const T yv = M<T>::tanh(chat[j] * lnc[j] + (blnc ? blnc[j] : T(0)));
    y[j] = yv;
    h[j] = yv * g[3 * H + j];
  }
}

// Backward of one row of the layer-norm cell: dh (of h) and dc (in: from later steps; out:
// dL/dc_{t-1}) -> dpre (gradient of the pre-activations, = dL/dxp) and dr (of R h_{t-1});
// the gains' gradients are accumulated in acc_* (float, per step; the caller folds them).
template <typename T>
__attribute__((noinline)) void lstm_ln_row_backward(const T* __restrict g, const T* __restrict y,
                                                    const T* __restrict cp, const T* __restrict chat, T rstd_c,
                                                    const T* __restrict rh, T rstd_r, const T* __restrict dh,
                                                    const T* __restrict lnc, const T* __restrict lnhh,
                                                    T* __restrict dc, T* __restrict dpre, T* __restrict dr,
                                                    T* __restrict tmp, T* __restrict acc_lnc,
                                                    T* __restrict acc_blnc, T* __restrict acc_lnhh, int64_t H) {
  const int64_t GH = 4 * H;
  // (A) through h = y o and y = tanh(LN(c) g_c + b_c): the gradient at LN(c)'s output
  double m1 = 0, m2 = 0;
#pragma omp simd reduction(+ : m1, m2)
  for (int64_t j = 0; j < H; ++j) {
    const T o = g[3 * H + j];
    const T yv = y[j];
    const T d = dh[j];
    dpre[3 * H + j] = d * yv * o * (T(1) - o);
    const T dyy = d * o * (T(1) - yv * yv);
    const T ch = chat[j];
    acc_lnc[j] += dyy * ch;
    acc_blnc[j] += dyy;
    const T tj = dyy * lnc[j];
    tmp[j] = tj;
    m1 += tj;
    m2 += static_cast<double>(tj) * ch;
  }
  const T a1 = static_cast<T>(m1 / static_cast<double>(H));
  const T a2 = static_cast<T>(m2 / static_cast<double>(H));
  // (B) through LN(c), c = z i + c_prev f and the gate activations; LN(r)'s input gradient
  double q1 = 0, q2 = 0;
#pragma omp simd reduction(+ : q1, q2)
  for (int64_t j = 0; j < H; ++j) {
    const T i = g[j], f = g[H + j], z = g[2 * H + j];
    const T dcv = dc[j] + rstd_c * (tmp[j] - a1 - chat[j] * a2);
    const T dpi = dcv * z * i * (T(1) - i);
    const T dpf = dcv * cp[j] * f * (T(1) - f);
    const T dpz = dcv * i * (T(1) - z * z);
    const T dpo = dpre[3 * H + j];
    dc[j] = dcv * f;
    dpre[j] = dpi;
    dpre[H + j] = dpf;
    dpre[2 * H + j] = dpz;
    const T ri = rh[j], rf = rh[H + j], rz = rh[2 * H + j], ro = rh[3 * H + j];
    acc_lnhh[j] += dpi * ri;
    acc_lnhh[H + j] += dpf * rf;
    acc_lnhh[2 * H + j] += dpz * rz;
    acc_lnhh[3 * H + j] += dpo * ro;
    const T ei = dpi * lnhh[j], ef = dpf * lnhh[H + j], ez = dpz * lnhh[2 * H + j], eo = dpo * lnhh[3 * H + j];
    dr[j] = ei;
    dr[H + j] = ef;
    dr[2 * H + j] = ez;
    dr[3 * H + j] = eo;
    q1 += static_cast<double>(ei) + static_cast<double>(ef) + static_cast<double>(ez) + static_cast<double>(eo);
    q2 += static_cast<double>(ei) * ri + static_cast<double>(ef) * rf + static_cast<double>(ez) * rz +
          static_cast<double>(eo) * ro;
  }
  const T b1 = static_cast<T>(q1 / static_cast<double>(GH));
  const T b2 = static_cast<T>(q2 / static_cast<double>(GH));
  // (C) LN(r)'s input gradient
#pragma omp simd
  for (int64_t j = 0; j < GH; ++j) dr[j] = rstd_r * (dr[j] - b1 - rh[j] * b2);
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

// ======================================================================================
// LSTM
// ======================================================================================
template <typename T>
std::vector<Tensor> lstm_forward_impl(XSource<T>& src, const Tensor& w_hh, const OptTensor& w_ch,
                                      const OptTensor& w_gg, const OptTensor& w_ln_hh,
                                      const OptTensor& w_ln_c, const OptTensor& b_ln_c,
                                      const OptTensor& w_hr, const Tensor& h0, const Tensor& c0,
                                      const OptTensor& a0, const OptTensor& lengths, bool reverse,
                                      const LSTMFlags& L, bool save, const OptTensor& w_ln_ih = OptTensor(),
                                      const OptTensor& b_x = OptTensor(), const OptTensor& w_ih = OptTensor()) {
  const int64_t Tn = src.Tn, B = src.B, H = L.H, G = L.G, Q = L.Q, GH = G * H;
  const int64_t Hout = h0.size(1);
  const bool proj = defined(w_hr);
  const auto opt = h0.options();
  const Validity V = make_validity(lengths, Tn);

  Tensor out = buffer({Tn, B, Hout}, opt);
  auto hs = StateSeq<T>::make(h0, Tn, save, reverse, L.state3d);
  auto cs = StateSeq<T>::make(c0, Tn, save, reverse, L.state3d);
  StateSeq<T> as;
  if (L.fgr) as = StateSeq<T>::make(*a0, Tn, save, reverse, L.state3d);

  // Per-step buffers: saved for backward, or one reusable step otherwise.
  const int64_t S = save ? Tn : 1;
  // Without save, one step's gates and y are scratch (malloc, not tensors: streaming pays
  // ~0.5 us per tensor allocation).
  Tensor gates = save ? buffer({S, B, GH}, opt) : Tensor();
  Tensor ys = save ? buffer({S, B, H}, opt) : Tensor();
  std::vector<T> step_scratch(save ? B * GH : B * (2 * GH + H));
  T* const pgates = save ? gates.data_ptr<T>() : step_scratch.data() + B * GH;
  T* const pys = save ? ys.data_ptr<T>() : step_scratch.data() + 2 * B * GH;
  T* const prec = step_scratch.data();
  Tensor hh = proj ? (V.len ? buffer({S, B, H}, opt).zero_() : buffer({S, B, H}, opt)) : Tensor();
  Tensor rec_hat = L.layer_norm ? buffer({S, B, GH}, opt) : Tensor();
  Tensor rec_rstd = L.layer_norm ? at::empty({S, B}, opt) : Tensor();
  Tensor c_hat = L.layer_norm ? buffer({S, B, H}, opt) : Tensor();
  Tensor c_rstd = L.layer_norm ? at::empty({S, B}, opt) : Tensor();
  Tensor fg = L.fgr ? at::empty({B, Q * H}, opt) : Tensor();
  Tensor hproj = proj ? at::empty({B, Hout}, opt) : Tensor();
  std::vector<double> ln_cd(L.ln_fast ? H : 0);  // the layer-norm rows' unrounded c
  // Training with layer norm: src holds the raw W x_t; LN(W x_t) * gain + bias is done here.
  const bool xln = L.layer_norm && defined(w_ln_ih);
  Tensor x_mean = xln ? at::empty({S, B}, opt) : Tensor();
  Tensor x_rstd = xln ? at::empty({S, B}, opt) : Tensor();
  const T* plnih = xln ? w_ln_ih->data_ptr<T>() : nullptr;
  std::vector<T> xbias(xln ? GH : 0, T(0));
  if (xln && defined(b_x)) {
    TORCH_CHECK(b_x->numel() == GH && b_x->is_contiguous(), "the input bias must have ", GH, " entries");
    std::memcpy(xbias.data(), b_x->data_ptr<T>(), sizeof(T) * GH);
  }
  std::vector<T> xrow(xln && !L.ln_fast ? GH : 0);  // the general rows' normalised input
  // Few inputs (w_ih given): src holds x itself (T, B, I) and each row's W x_t is computed
  // here (no (T, B, G*H) projection in memory; recomputed in the backward).
  const bool xsmall = xln && defined(w_ih);
  const int64_t In = xsmall ? w_ih->size(1) : 0;
  std::vector<T> wt_ih(xsmall ? In * GH : 0), xraw(xsmall ? GH : 0);
  if (xsmall) {
    TORCH_CHECK(w_ih->size(0) == GH && src.K == In, "weight_ih must be (G*H, I) for x of ", src.K, " features");
    const T* pw = w_ih->data_ptr<T>();
    for (int64_t j = 0; j < GH; ++j)
      for (int64_t i = 0; i < In; ++i) wt_ih[i * GH + j] = pw[j * In + i];
  }
  std::vector<T> hdup(proj && L.fast ? H : 0);     // the fast rows' second h store, with a projection

  const Tensor w_hh_c = w_hh.contiguous();
  const Tensor w_gg_c = L.fgr ? w_gg->contiguous() : Tensor();
  const Tensor w_hr_c = proj ? w_hr->contiguous() : Tensor();
  const T* pch = ptr_or_null<T>(w_ch);
  const T* plnhh = ptr_or_null<T>(w_ln_hh);
  const T* plnc = ptr_or_null<T>(w_ln_c);
  const T* pblnc = ptr_or_null<T>(b_ln_c);
  T* pout = out.data_ptr<T>();
  StepGemm<T> mm_hh(w_hh_c.data_ptr<T>(), true, B, GH, Hout, Tn, opt);
  std::unique_ptr<StepGemm<T>> mm_gg, mm_hr;
  if (L.fgr) mm_gg.reset(new StepGemm<T>(w_gg_c.data_ptr<T>(), true, B, Q * H, Q * H, Tn, opt));
  if (proj) mm_hr.reset(new StepGemm<T>(w_hr_c.data_ptr<T>(), true, B, Hout, H, Tn, opt));

  for (int64_t k = 0; k < Tn; ++k) {
    const int64_t t = reverse ? Tn - 1 - k : k;
    const int64_t s = save ? t : 0;
    const T* php = hs.prev(k);
    T* phn = hs.next(k);
    const T* pcp = cs.prev(k);
    T* pcn = cs.next(k);
    mm_hh.run(php, prec, T(0));
    const T* pap = L.fgr ? as.prev(k) : nullptr;
    T* pan = L.fgr ? as.next(k) : nullptr;
    T* pfg = L.fgr ? fg.data_ptr<T>() : nullptr;
    if (L.fgr) mm_gg->run(pap, pfg, T(0));
    T* pg_all = pgates + s * B * GH;
    T* py_all = pys + s * B * H;
    T* phh_all = proj ? hh.data_ptr<T>() + s * B * H : nullptr;
    T* prh_all = L.layer_norm ? rec_hat.data_ptr<T>() + s * B * GH : nullptr;
    T* prr_all = L.layer_norm ? rec_rstd.data_ptr<T>() + s * B : nullptr;
    T* pch_all = L.layer_norm ? c_hat.data_ptr<T>() + s * B * H : nullptr;
    T* pcr_all = L.layer_norm ? c_rstd.data_ptr<T>() + s * B : nullptr;
    T* pout_t = pout + t * B * Hout;
    const T* pxp_t = src.at(t);
    T* pxm_all = xln ? x_mean.data_ptr<T>() + s * B : nullptr;
    T* pxr_all = xln ? x_rstd.data_ptr<T>() + s * B : nullptr;

    for (int64_t b = 0; b < B; ++b) {
      const T* cp = pcp + b * H;
      T* cn = pcn + b * H;
      if (!V.row(b, t)) {
        std::memcpy(cn, cp, sizeof(T) * H);
        if (!proj) std::memcpy(phn + b * Hout, php + b * Hout, sizeof(T) * Hout);
        std::memset(pout_t + b * Hout, 0, sizeof(T) * Hout);
        if (L.fgr) std::memcpy(pan + b * Q * H, pap + b * Q * H, sizeof(T) * Q * H);
        continue;
      }
      T* g = pg_all + b * GH;
      const T* x;
      if (xsmall) {
        small_projection_row<T>(pxp_t + b * In, wt_ih.data(), xraw.data(), In, GH);
        x = xraw.data();
      } else {
        x = pxp_t + b * GH;
      }
      const T* r = prec + b * GH;
      if (L.fast) {
        T* y = py_all + b * H;
        T* hdst = proj ? phh_all + b * H : phn + b * Hout;
        // h goes to the state and the output (with a projection: the state and a scratch row)
        T* h2 = proj ? hdup.data() : pout_t + b * Hout;
        lstm_row_forward_any<T>(L.fast, L.peepholes, x, r, cp, pch, g, cn, y, hdst, h2, H);
        continue;
      }
      if (L.ln_fast) {
        T* y = py_all + b * H;
        T* hdst = proj ? phh_all + b * H : phn + b * Hout;
        if (xln) {
          lstm_ln_row_forward<T, true>(x, r, cp, plnhh, plnc, pblnc, plnih, xbias.data(), pxm_all + b, pxr_all + b, g,
                                       prh_all + b * GH, prr_all + b, cn, pch_all + b * H, pcr_all + b, y, hdst,
                                       ln_cd.data(), H, L.eps);
        } else {
          lstm_ln_row_forward<T, false>(x, r, cp, plnhh, plnc, pblnc, nullptr, nullptr, nullptr, nullptr, g,
                                        prh_all + b * GH, prr_all + b, cn, pch_all + b * H, pcr_all + b, y, hdst,
                                        ln_cd.data(), H, L.eps);
        }
        if (!proj) std::memcpy(pout_t + b * Hout, hdst, sizeof(T) * Hout);
        continue;
      }
      if (xln) {
        input_ln_forward_row<T>(x, plnih, xbias.data(), xrow.data(), pxm_all + b, pxr_all + b, GH, L.eps);
        x = xrow.data();
      }
      if (L.layer_norm) {
        T* rh = prh_all + b * GH;
        prr_all[b] = layer_norm_row<T>(r, rh, GH, L.eps);
        for (int64_t j = 0; j < GH; ++j) g[j] = x[j] + rh[j] * plnhh[j];
      } else {
        for (int64_t j = 0; j < GH; ++j) g[j] = x[j] + r[j];
      }
      if (L.fgr) {
        const T* f = pfg + b * Q * H;
        const int64_t kq[3] = {L.ki, L.kf, L.ko}, qq[3] = {L.qi, L.qf, L.qo};
        for (int m = 0; m < 3; ++m) {
          if (kq[m] < 0) continue;
          T* gk = g + kq[m] * H;
          const T* fk = f + qq[m] * H;
          for (int64_t j = 0; j < H; ++j) gk[j] += fk[j];
        }
      }
      T* gi = L.ki >= 0 ? g + L.ki * H : nullptr;
      T* gf = L.kf >= 0 ? g + L.kf * H : nullptr;
      T* gz = g + L.kg * H;
      T* go = L.ko >= 0 ? g + L.ko * H : nullptr;
      if (L.peepholes) {
        if (gi) {
          const T* p = pch + L.qi * H;
          for (int64_t j = 0; j < H; ++j) gi[j] += p[j] * cp[j];
        }
        if (gf) {
          const T* p = pch + L.qf * H;
          for (int64_t j = 0; j < H; ++j) gf[j] += p[j] * cp[j];
        }
      }
      if (gi) sigmoid_inplace(gi, H);
      if (gf) sigmoid_inplace(gf, H);
      if (L.tanh_g) tanh_inplace(gz, H);
      // c_t = z * i + c_{t-1} * f; a missing gate is 1, CIFG's f is 1 - i.
      if (gi && gf) {
        for (int64_t j = 0; j < H; ++j) cn[j] = gz[j] * gi[j] + cp[j] * gf[j];
      } else if (gi && L.cifg) {
        for (int64_t j = 0; j < H; ++j) cn[j] = gz[j] * gi[j] + cp[j] * (T(1) - gi[j]);
      } else if (gi) {
        for (int64_t j = 0; j < H; ++j) cn[j] = gz[j] * gi[j] + cp[j];
      } else if (gf) {
        for (int64_t j = 0; j < H; ++j) cn[j] = gz[j] + cp[j] * gf[j];
      } else {
        for (int64_t j = 0; j < H; ++j) cn[j] = gz[j] + cp[j];
      }
      if (go) {
        if (L.peepholes) {
          const T* p = pch + L.qo * H;
          for (int64_t j = 0; j < H; ++j) go[j] += p[j] * cn[j];
        }
        sigmoid_inplace(go, H);
      }
      T* y = py_all + b * H;
      if (L.layer_norm) {
        T* chat = pch_all + b * H;
        pcr_all[b] = layer_norm_row<T>(cn, chat, H, L.eps);
        if (pblnc) {
          for (int64_t j = 0; j < H; ++j) y[j] = chat[j] * plnc[j] + pblnc[j];
        } else {
          for (int64_t j = 0; j < H; ++j) y[j] = chat[j] * plnc[j];
        }
        if (L.tanh_h) tanh_inplace(y, H);
      } else if (L.tanh_h) {
        for (int64_t j = 0; j < H; ++j) y[j] = M<T>::tanh(cn[j]);
      } else {
        std::memcpy(y, cn, sizeof(T) * H);
      }
      // h = y * o, into the projection's input or straight into the state and output.
      if (proj) {
        T* dst = phh_all + b * H;
        if (go) {
          for (int64_t j = 0; j < H; ++j) dst[j] = y[j] * go[j];
        } else {
          std::memcpy(dst, y, sizeof(T) * H);
        }
      } else {
        T* __restrict dst = phn + b * Hout;
        T* __restrict o = pout_t + b * Hout;
        if (go) {
          for (int64_t j = 0; j < H; ++j) {
            const T v = y[j] * go[j];
            dst[j] = v;
            o[j] = v;
          }
        } else {
          std::memcpy(dst, y, sizeof(T) * H);
          std::memcpy(o, y, sizeof(T) * H);
        }
      }
      if (L.fgr) {
        T* an = pan + b * Q * H;
        if (gi) std::memcpy(an + L.qi * H, gi, sizeof(T) * H);
        if (gf) std::memcpy(an + L.qf * H, gf, sizeof(T) * H);
        if (go) std::memcpy(an + L.qo * H, go, sizeof(T) * H);
      }
    }
    if (proj) {
      if (V.all(t)) {
        mm_hr->run(phh_all, phn, T(0));
        std::memcpy(pout_t, phn, sizeof(T) * B * Hout);
      } else {
        T* hp = hproj.data_ptr<T>();
        mm_hr->run(phh_all, hp, T(0));
        for (int64_t b = 0; b < B; ++b) {
          if (V.row(b, t)) {
            std::memcpy(phn + b * Hout, hp + b * Hout, sizeof(T) * Hout);
            std::memcpy(pout_t + b * Hout, hp + b * Hout, sizeof(T) * Hout);
          } else {
            std::memcpy(phn + b * Hout, php + b * Hout, sizeof(T) * Hout);
          }
        }
      }
    }
  }
  Tensor none = at::empty({0}, opt);
  std::vector<Tensor> res = {out, hs.final_, cs.final_, L.fgr ? as.final_ : none};  // NOLINT
  if (save) {
    res.push_back(hs.all);
    res.push_back(cs.all);
    res.push_back(L.fgr ? as.all : none);
    res.push_back(gates);
    res.push_back(ys);
    res.push_back(proj ? hh : none);
    res.push_back(L.layer_norm ? rec_hat : none);
    res.push_back(L.layer_norm ? rec_rstd : none);
    res.push_back(L.layer_norm ? c_hat : none);
    res.push_back(L.layer_norm ? c_rstd : none);
    res.push_back(xln ? x_mean : none);
    res.push_back(xln ? x_rstd : none);
  }
  return res;
}

std::vector<Tensor> lstm_forward(const Tensor& xp, const Tensor& w_hh, const OptTensor& w_ch,
                                 const OptTensor& w_gg, const OptTensor& w_ln_hh,
                                 const OptTensor& w_ln_c, const OptTensor& b_ln_c,
                                 const OptTensor& w_hr, const Tensor& h0, const Tensor& c0,
                                 const OptTensor& a0, const OptTensor& lengths, bool reverse,
                                 std::vector<int64_t> flags, int64_t hidden_size, double eps,
                                 bool save, const OptTensor& w_ln_ih, const OptTensor& b_x,
                                 const OptTensor& w_ih) {
  // With layer norm and w_ln_ih given, xp is the raw W x_t: the kernel computes
  // LN(W x_t) * w_ln_ih + b_x itself and returns its mean and rstd per row (last two).
  TORCH_CHECK(xp.dim() == 3 && xp.is_contiguous(), "xp must be a contiguous (T, B, G*H) tensor");
  const LSTMFlags L = parse_flags(flags, hidden_size, eps);
  // w_ih given too (layer norm, few inputs): xp is x itself, W x_t is computed per row.
  TORCH_CHECK(defined(w_ih) || xp.size(2) == L.G * L.H, "xp has ", xp.size(2), " features, expected G*H = ",
              L.G * L.H);
  TORCH_CHECK(!defined(w_ih) || (L.layer_norm && defined(w_ln_ih)), "w_ih is for the layer-norm input path only");
  TORCH_CHECK(!L.fgr || defined(a0), "full gate recurrence needs a0");
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "lstm_forward", [&] {
    auto src = XSource<scalar_t>::precomputed(xp);
    res = lstm_forward_impl<scalar_t>(src, w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr, h0, c0, a0,
                                      lengths, reverse, L, save, cont(w_ln_ih), cont(b_x), cont(w_ih));
  });
  return res;
}

// Inference: the input projection LN(W x_t) * g + b_ih + b_hh is computed inside, by chunks.
std::vector<Tensor> lstm_infer(const Tensor& x_, const Tensor& w_ih_, const OptTensor& b_ih_,
                               const OptTensor& b_hh_, const OptTensor& w_ln_ih_, const Tensor& w_hh,
                               const OptTensor& w_ch_, const OptTensor& w_gg, const OptTensor& w_ln_hh_,
                               const OptTensor& w_ln_c_, const OptTensor& b_ln_c_, const OptTensor& w_hr,
                               const Tensor& h0_, const Tensor& c0_, const OptTensor& a0_, const OptTensor& lengths,
                               bool reverse, std::vector<int64_t> flags, int64_t hidden_size, double eps) {
  LSTMFlags L = parse_flags(flags, hidden_size, eps);
  L.state3d = h0_.dim() == 3;
  TORCH_CHECK(w_ih_.size(0) == L.G * L.H, "weight_ih has ", w_ih_.size(0), " rows, expected G*H = ", L.G * L.H);
  TORCH_CHECK(!L.fgr || defined(a0_), "full gate recurrence needs a0");
  // Any layout in: the element-wise code reads raw pointers (a no-op when contiguous).
  const Tensor x = x_.contiguous(), w_ih = w_ih_.contiguous(), h0 = state_2d(h0_), c0 = state_2d(c0_);
  const OptTensor b_ih = cont(b_ih_), b_hh = cont(b_hh_), w_ln_ih = cont(w_ln_ih_), w_ch = cont(w_ch_),
                  w_ln_hh = cont(w_ln_hh_), w_ln_c = cont(w_ln_c_), b_ln_c = cont(b_ln_c_), a0 = state_2d(a0_);
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_infer", [&] {
    auto src = XSource<scalar_t>::project(x, w_ih, b_ih, b_hh, L.layer_norm ? w_ln_ih : OptTensor(), reverse, eps);
    res = lstm_forward_impl<scalar_t>(src, w_hh, w_ch, w_gg, w_ln_hh, w_ln_c, b_ln_c, w_hr, h0, c0, a0,
                                      lengths, reverse, L, false);
  });
  if (h0_.dim() == 3) states_3d(res, 1, 4);
  return res;
}

// Returns: grad_xp, grad_w_hh, grad_w_ch, grad_w_gg, grad_w_ln_hh, grad_w_ln_c, grad_b_ln_c,
// grad_w_hr, grad_h0, grad_c0, grad_a0, grad_w_ln_ih, grad_b_x, grad_w_ih (empty tensors where
// absent). With w_ih (the few-inputs layer-norm path) xw is x and grad_xp is dL/dx.
template <typename T>
std::vector<Tensor> lstm_backward_impl(const Tensor& grad_out, const Tensor& grad_hT, const Tensor& grad_cT,
                                       const OptTensor& grad_aT, const Tensor& hprev, const Tensor& cprev,
                                       const OptTensor& aprev, const Tensor& cT, const Tensor& gates,
                                       const Tensor& ys, const OptTensor& hh, const OptTensor& rec_hat,
                                       const OptTensor& rec_rstd, const OptTensor& c_hat,
                                       const OptTensor& c_rstd, const Tensor& w_hh, const OptTensor& w_ch,
                                       const OptTensor& w_gg, const OptTensor& w_ln_hh,
                                       const OptTensor& w_ln_c, const OptTensor& b_ln_c,
                                       const OptTensor& w_hr, const OptTensor& lengths, bool reverse,
                                       const LSTMFlags& L, const OptTensor& xw, const OptTensor& x_mean,
                                       const OptTensor& x_rstd, const OptTensor& w_ln_ih,
                                       const OptTensor& w_ih) {
  const int64_t Tn = gates.size(0), B = gates.size(1), H = L.H, G = L.G, Q = L.Q, GH = G * H;
  const int64_t QH = Q * H;
  const int64_t Hout = hprev.size(2);
  const bool proj = defined(w_hr);
  const auto opt = gates.options();
  const Validity V = make_validity(lengths, Tn);

  // Few inputs (w_ih given, xw is then x (T, B, I)): dL/dx and dL/dW_ih come out
  // directly; the pre-activation gradient of a row lives in a scratch row only.
  const bool xsmall = L.layer_norm && defined(xw) && defined(w_ih);
  const int64_t In = xsmall ? w_ih->size(1) : 0;
  Tensor grad_xp = xsmall ? at::empty({Tn, B, In}, opt) : buffer({Tn, B, GH}, opt);
  Tensor dRec = L.layer_norm ? buffer({Tn, B, GH}, opt) : grad_xp;
  Tensor dA = L.fgr ? buffer({Tn, B, QH}, opt) : Tensor();
  Tensor dH = proj ? buffer({Tn, B, Hout}, opt) : Tensor();
  Tensor dhh = proj ? at::empty({B, H}, opt) : Tensor();
  Tensor dh_carry = grad_hT.clone();
  Tensor dc_carry = grad_cT.clone();
  Tensor da_carry = L.fgr ? grad_aT->clone() : Tensor();
  Tensor dh_row = at::empty({B, Hout}, opt);  // dh of the step, before the projection
  std::vector<T> scratch(4 * std::max(GH, H) + 8);
  // Per-step accumulators of the diagonal parameters (peepholes, layer-norm gains).
  Tensor g_ch = L.peepholes ? at::zeros({QH}, opt.dtype(at::kDouble)) : Tensor();
  Tensor g_lnhh = L.layer_norm ? at::zeros({GH}, opt.dtype(at::kDouble)) : Tensor();
  Tensor g_lnc = L.layer_norm ? at::zeros({H}, opt.dtype(at::kDouble)) : Tensor();
  Tensor g_blnc = L.layer_norm ? at::zeros({H}, opt.dtype(at::kDouble)) : Tensor();
  double* acc_ch = L.peepholes ? g_ch.data_ptr<double>() : nullptr;
  double* acc_lnhh = L.layer_norm ? g_lnhh.data_ptr<double>() : nullptr;
  double* acc_lnc = L.layer_norm ? g_lnc.data_ptr<double>() : nullptr;
  double* acc_blnc = L.layer_norm ? g_blnc.data_ptr<double>() : nullptr;

  const T* pch = ptr_or_null<T>(w_ch);
  const T* plnhh = ptr_or_null<T>(w_ln_hh);
  const T* plnc = ptr_or_null<T>(w_ln_c);
  const T* pgo = grad_out.data_ptr<T>();
  const T* pcprev = cprev.data_ptr<T>();
  const T* pcT = cT.data_ptr<T>();
  const T* pgates = gates.data_ptr<T>();
  const T* pys = ys.data_ptr<T>();
  const T* prh = L.layer_norm ? rec_hat->data_ptr<T>() : nullptr;
  const T* prr = L.layer_norm ? rec_rstd->data_ptr<T>() : nullptr;
  const T* pchat = L.layer_norm ? c_hat->data_ptr<T>() : nullptr;
  const T* pcr = L.layer_norm ? c_rstd->data_ptr<T>() : nullptr;
  T* pgxp = grad_xp.data_ptr<T>();
  T* pdrec = dRec.data_ptr<T>();
  T* pdA = L.fgr ? dA.data_ptr<T>() : nullptr;
  T* pdH = proj ? dH.data_ptr<T>() : nullptr;
  T* pdhc = dh_carry.data_ptr<T>();
  T* pdcc = dc_carry.data_ptr<T>();
  T* pdac = L.fgr ? da_carry.data_ptr<T>() : nullptr;
  T* pdhr = dh_row.data_ptr<T>();
  const Tensor w_hh_c = w_hh.contiguous();
  const Tensor w_gg_c = L.fgr ? w_gg->contiguous() : Tensor();
  const Tensor w_hr_c = proj ? w_hr->contiguous() : Tensor();
  const T* pwhh = w_hh_c.data_ptr<T>();
  const T* pwgg = L.fgr ? w_gg_c.data_ptr<T>() : nullptr;
  const T* pwhr = proj ? w_hr_c.data_ptr<T>() : nullptr;
  StepGemm<T> mm_hh(pwhh, false, B, Hout, GH, Tn, opt);
  std::unique_ptr<StepGemm<T>> mm_gg, mm_hr;
  if (L.fgr) mm_gg.reset(new StepGemm<T>(pwgg, false, B, QH, QH, Tn, opt));
  if (proj) mm_hr.reset(new StepGemm<T>(pwhr, false, B, H, Hout, Tn, opt));
  // Layer-norm fast rows: the gains' gradients of one step in T, folded into the double
  // accumulators once per step.
  std::vector<T> st_ln(L.ln_fast ? 2 * H + GH : 0, T(0));
  T* st_lnc = L.ln_fast ? st_ln.data() : nullptr;
  T* st_blnc = L.ln_fast ? st_ln.data() + H : nullptr;
  T* st_lnhh = L.ln_fast ? st_ln.data() + 2 * H : nullptr;
  // The input projection's layer norm (training): grad_xp becomes dL/d(W x_t); the gain's
  // and the bias's gradients per step in T, folded into double once per step.
  const bool xln = L.layer_norm && defined(xw);
  if (xln) {
    TORCH_CHECK(xw->is_contiguous() && xw->numel() == Tn * B * (xsmall ? In : GH) && defined(x_mean) &&
                    defined(x_rstd) && defined(w_ln_ih),
                "the input layer norm's saved tensors are missing or malformed");
  }
  std::vector<T> wt_ih(xsmall ? In * GH : 0), xraw(xsmall ? GH : 0), drow(xsmall ? GH : 0);
  std::vector<T> st_w(xsmall ? In * GH : 0, T(0));
  Tensor g_wih_t = xsmall ? at::zeros({In, GH}, opt.dtype(at::kDouble)) : Tensor();
  if (xsmall) {
    const T* pw = w_ih->data_ptr<T>();
    for (int64_t j = 0; j < GH; ++j)
      for (int64_t i = 0; i < In; ++i) wt_ih[i * GH + j] = pw[j * In + i];
  }
  const T* pxw = xln ? xw->data_ptr<T>() : nullptr;
  const T* pxm = xln ? x_mean->data_ptr<T>() : nullptr;
  const T* pxr = xln ? x_rstd->data_ptr<T>() : nullptr;
  const T* plnih = xln ? w_ln_ih->data_ptr<T>() : nullptr;
  Tensor g_lnih = xln ? at::zeros({GH}, opt.dtype(at::kDouble)) : Tensor();
  Tensor g_bx = xln ? at::zeros({GH}, opt.dtype(at::kDouble)) : Tensor();
  std::vector<T> st_x(xln ? 2 * GH : 0, T(0));

  for (int64_t k = Tn - 1; k >= 0; --k) {
    const int64_t t = reverse ? Tn - 1 - k : k;
    const int64_t tn = reverse ? t - 1 : t + 1;  // time of the next processed step
    const T* c_new_base = (k == Tn - 1) ? pcT : pcprev + tn * B * H;
    const bool all_valid = V.all(t);
    // dh of this step's output: carried gradient plus the output's own gradient.
    const T* go_t = pgo + t * B * Hout;
    for (int64_t b = 0; b < B; ++b) {
      T* dst = pdhr + b * Hout;
      if (V.row(b, t)) {
        const T* a = pdhc + b * Hout;
        const T* o = go_t + b * Hout;
        for (int64_t j = 0; j < Hout; ++j) dst[j] = a[j] + o[j];
      } else {
        std::memset(dst, 0, sizeof(T) * Hout);
      }
    }
    const T* dhh_base;
    if (proj) {
      std::memcpy(pdH + t * B * Hout, pdhr, sizeof(T) * B * Hout);
      mm_hr->run(pdhr, dhh.data_ptr<T>(), T(0));
      dhh_base = dhh.data_ptr<T>();
    } else {
      dhh_base = pdhr;
    }
    for (int64_t b = 0; b < B; ++b) {
      T* dpre = xsmall ? drow.data() : pgxp + (t * B + b) * GH;
      if (!V.row(b, t)) {
        if (xsmall) std::memset(pgxp + (t * B + b) * In, 0, sizeof(T) * In);
        std::memset(dpre, 0, sizeof(T) * GH);
        if (L.layer_norm) std::memset(pdrec + (t * B + b) * GH, 0, sizeof(T) * GH);
        if (L.fgr) std::memset(pdA + (t * B + b) * QH, 0, sizeof(T) * QH);
        continue;
      }
      const T* g = pgates + (t * B + b) * GH;
      if (L.ln_fast) {
        const int64_t tb = t * B + b;
        lstm_ln_row_backward<T>(g, pys + tb * H, pcprev + tb * H, pchat + tb * H, pcr[tb], prh + tb * GH, prr[tb],
                                dhh_base + b * (proj ? H : Hout), plnc, plnhh, pdcc + b * H, dpre, pdrec + tb * GH,
                                scratch.data(), st_lnc, st_blnc, st_lnhh, H);
        if (xsmall) {
          small_projection_row<T>(pxw + tb * In, wt_ih.data(), xraw.data(), In, GH);
          input_ln_backward_row<T>(dpre, xraw.data(), pxm[tb], pxr[tb], plnih, st_x.data(), st_x.data() + GH, GH);
          small_projection_backward_row<T>(dpre, pxw + tb * In, wt_ih.data(), pgxp + tb * In, st_w.data(), In, GH);
        } else if (xln) {
          input_ln_backward_row<T>(dpre, pxw + tb * GH, pxm[tb], pxr[tb], plnih, st_x.data(), st_x.data() + GH,
                                   GH);
        }
        std::memset(pdhc + b * Hout, 0, sizeof(T) * Hout);
        continue;
      }
      if (L.fast) {
        lstm_row_backward_any<T>(L.fast, L.peepholes, g, pys + (t * B + b) * H, pcprev + (t * B + b) * H,
                                 c_new_base + b * H, dhh_base + b * (proj ? H : Hout), pch, pdcc + b * H, dpre,
                                 acc_ch, H);
        std::memset(pdhc + b * Hout, 0, sizeof(T) * Hout);
        continue;
      }
      const T* gi = L.ki >= 0 ? g + L.ki * H : nullptr;
      const T* gf = L.kf >= 0 ? g + L.kf * H : nullptr;
      const T* gz = g + L.kg * H;
      const T* go = L.ko >= 0 ? g + L.ko * H : nullptr;
      const T* y = pys + (t * B + b) * H;
      const T* cp = pcprev + (t * B + b) * H;
      const T* cn = c_new_base + b * H;
      const T* dhh_b = dhh_base + b * (proj ? H : Hout);
      T* dc = pdcc + b * H;  // in: dL/dc_t from later steps; out: dL/dc_{t-1}
      T* dcn = scratch.data();  // dL/d(output activation input)
      T* tmp = dcn + H;
      T* dpi = L.ki >= 0 ? dpre + L.ki * H : nullptr;
      T* dpf = L.kf >= 0 ? dpre + L.kf * H : nullptr;
      T* dpz = dpre + L.kg * H;
      T* dpo = L.ko >= 0 ? dpre + L.ko * H : nullptr;
      const T* da = L.fgr ? pdac + b * QH : nullptr;

      // Through h = act_h(cn) * o.
      if (go) {
        for (int64_t j = 0; j < H; ++j) {
          const T d = dhh_b[j];
          dpo[j] = d * y[j];
          dcn[j] = d * go[j];
        }
      } else {
        std::memcpy(dcn, dhh_b, sizeof(T) * H);
      }
      if (L.tanh_h) {
        for (int64_t j = 0; j < H; ++j) dcn[j] *= T(1) - y[j] * y[j];
      }
      if (L.layer_norm) {
        const T* chat = pchat + (t * B + b) * H;
        for (int64_t j = 0; j < H; ++j) {
          acc_lnc[j] += static_cast<double>(dcn[j]) * chat[j];
          acc_blnc[j] += dcn[j];
          tmp[j] = dcn[j] * plnc[j];
        }
        layer_norm_backward_row<T>(tmp, chat, pcr[t * B + b], dcn, H);
      }
      for (int64_t j = 0; j < H; ++j) dc[j] += dcn[j];
      if (go) {
        if (L.fgr) {
          const T* dq = da + L.qo * H;
          for (int64_t j = 0; j < H; ++j) dpo[j] += dq[j];
        }
        for (int64_t j = 0; j < H; ++j) dpo[j] *= go[j] * (T(1) - go[j]);
        if (L.peepholes) {
          const T* p = pch + L.qo * H;
          double* acc = acc_ch + L.qo * H;
          for (int64_t j = 0; j < H; ++j) {
            dc[j] += dpo[j] * p[j];
            acc[j] += static_cast<double>(dpo[j]) * cn[j];
          }
        }
      }
      // Through c_t = z * i + c_{t-1} * f.
      if (gi) {
        for (int64_t j = 0; j < H; ++j) {
          dpz[j] = dc[j] * gi[j];
          dpi[j] = dc[j] * gz[j];
        }
      } else {
        std::memcpy(dpz, dc, sizeof(T) * H);
      }
      if (L.cifg) {
        for (int64_t j = 0; j < H; ++j) {
          const T df = dc[j] * cp[j];
          dpi[j] -= df;
          dc[j] *= T(1) - gi[j];
        }
      } else if (gf) {
        for (int64_t j = 0; j < H; ++j) {
          dpf[j] = dc[j] * cp[j];
          dc[j] *= gf[j];
        }
      }
      if (L.fgr) {
        if (gi) {
          const T* dq = da + L.qi * H;
          for (int64_t j = 0; j < H; ++j) dpi[j] += dq[j];
        }
        if (gf) {
          const T* dq = da + L.qf * H;
          for (int64_t j = 0; j < H; ++j) dpf[j] += dq[j];
        }
      }
      if (gi) {
        for (int64_t j = 0; j < H; ++j) dpi[j] *= gi[j] * (T(1) - gi[j]);
      }
      if (gf) {
        for (int64_t j = 0; j < H; ++j) dpf[j] *= gf[j] * (T(1) - gf[j]);
      }
      if (L.tanh_g) {
        for (int64_t j = 0; j < H; ++j) dpz[j] *= T(1) - gz[j] * gz[j];
      }
      if (L.peepholes) {
        if (gi) {
          const T* p = pch + L.qi * H;
          double* acc = acc_ch + L.qi * H;
          for (int64_t j = 0; j < H; ++j) {
            dc[j] += dpi[j] * p[j];
            acc[j] += static_cast<double>(dpi[j]) * cp[j];
          }
        }
        if (gf) {
          const T* p = pch + L.qf * H;
          double* acc = acc_ch + L.qf * H;
          for (int64_t j = 0; j < H; ++j) {
            dc[j] += dpf[j] * p[j];
            acc[j] += static_cast<double>(dpf[j]) * cp[j];
          }
        }
      }
      if (L.fgr) {
        T* dq = pdA + (t * B + b) * QH;
        if (dpi) std::memcpy(dq + L.qi * H, dpi, sizeof(T) * H);
        if (dpf) std::memcpy(dq + L.qf * H, dpf, sizeof(T) * H);
        if (dpo) std::memcpy(dq + L.qo * H, dpo, sizeof(T) * H);
        std::memset(pdac + b * QH, 0, sizeof(T) * QH);
      }
      if (L.layer_norm) {
        const T* rh = prh + (t * B + b) * GH;
        T* dr = pdrec + (t * B + b) * GH;
        T* drh = scratch.data() + 2 * std::max(GH, H);
        for (int64_t j = 0; j < GH; ++j) {
          acc_lnhh[j] += static_cast<double>(dpre[j]) * rh[j];
          drh[j] = dpre[j] * plnhh[j];
        }
        layer_norm_backward_row<T>(drh, rh, prr[t * B + b], dr, GH);
      }
      if (xln) {
        const int64_t tb = t * B + b;
        if (xsmall) {
          small_projection_row<T>(pxw + tb * In, wt_ih.data(), xraw.data(), In, GH);
          input_ln_backward_row<T>(dpre, xraw.data(), pxm[tb], pxr[tb], plnih, st_x.data(), st_x.data() + GH, GH);
          small_projection_backward_row<T>(dpre, pxw + tb * In, wt_ih.data(), pgxp + tb * In, st_w.data(), In, GH);
        } else {
          input_ln_backward_row<T>(dpre, pxw + tb * GH, pxm[tb], pxr[tb], plnih, st_x.data(), st_x.data() + GH,
                                   GH);
        }
      }
      std::memset(pdhc + b * Hout, 0, sizeof(T) * Hout);
    }
    (void)all_valid;
    if (L.ln_fast) {
      for (int64_t j = 0; j < H; ++j) {
        acc_lnc[j] += st_lnc[j];
        acc_blnc[j] += st_blnc[j];
      }
      for (int64_t j = 0; j < GH; ++j) acc_lnhh[j] += st_lnhh[j];
      std::fill(st_ln.begin(), st_ln.end(), T(0));
    }
    if (xln) {
      double* ag = g_lnih.data_ptr<double>();
      double* ab = g_bx.data_ptr<double>();
      for (int64_t j = 0; j < GH; ++j) {
        ag[j] += st_x[j];
        ab[j] += st_x[GH + j];
      }
      std::fill(st_x.begin(), st_x.end(), T(0));
    }
    if (xsmall) {
      double* aw = g_wih_t.data_ptr<double>();
      for (int64_t j = 0; j < In * GH; ++j) aw[j] += st_w[j];
      std::fill(st_w.begin(), st_w.end(), T(0));
    }
    // dL/dh_{t-1} (valid rows; invalid rows keep their carried gradient, dRec is 0 there).
    mm_hh.run(pdrec + t * B * GH, pdhc, T(1));
    if (L.fgr) mm_gg->run(pdA + t * B * QH, pdac, T(1));
  }

  Tensor none = at::empty({0}, opt);
  const int64_t TB = Tn * B;
  Tensor g_whh = at::mm(dRec.view({TB, GH}).t(), hprev.view({TB, Hout}));
  Tensor g_wgg = L.fgr ? at::mm(dA.view({TB, QH}).t(), aprev->view({TB, QH})) : none;
  Tensor g_whr = proj ? at::mm(dH.view({TB, Hout}).t(), hh->view({TB, H})) : none;
  return {grad_xp,
          g_whh,
          L.peepholes ? g_ch.to(gates.scalar_type()) : none,
          g_wgg,
          L.layer_norm ? g_lnhh.to(gates.scalar_type()) : none,
          L.layer_norm ? g_lnc.to(gates.scalar_type()) : none,
          (L.layer_norm && defined(b_ln_c)) ? g_blnc.to(gates.scalar_type()) : none,
          g_whr,
          dh_carry,
          dc_carry,
          L.fgr ? da_carry : none,
          xln ? g_lnih.to(gates.scalar_type()) : none,
          xln ? g_bx.to(gates.scalar_type()) : none,
          xsmall ? g_wih_t.t().contiguous().to(gates.scalar_type()) : none};
}

std::vector<Tensor> lstm_backward(const Tensor& grad_out, const Tensor& grad_hT, const Tensor& grad_cT,
                                  const OptTensor& grad_aT, const Tensor& hprev, const Tensor& cprev,
                                  const OptTensor& aprev, const Tensor& cT, const Tensor& gates,
                                  const Tensor& ys, const OptTensor& hh, const OptTensor& rec_hat,
                                  const OptTensor& rec_rstd, const OptTensor& c_hat, const OptTensor& c_rstd,
                                  const Tensor& w_hh, const OptTensor& w_ch, const OptTensor& w_gg,
                                  const OptTensor& w_ln_hh, const OptTensor& w_ln_c, const OptTensor& b_ln_c,
                                  const OptTensor& w_hr, const OptTensor& lengths, bool reverse,
                                  std::vector<int64_t> flags, int64_t hidden_size, double eps,
                                  const OptTensor& xw, const OptTensor& x_mean, const OptTensor& x_rstd,
                                  const OptTensor& w_ln_ih, const OptTensor& w_ih) {
  // xw (the raw W x_t of lstm_forward's in-kernel input layer norm) given: grad_xp is
  // dL/d(W x_t), and the gain's and bias's gradients come last.
  const LSTMFlags L = parse_flags(flags, hidden_size, eps);
  TORCH_CHECK(grad_out.is_contiguous() && grad_hT.is_contiguous() && grad_cT.is_contiguous(),
              "gradients must be contiguous");
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
    res = lstm_backward_impl<scalar_t>(grad_out, grad_hT, grad_cT, grad_aT, hprev, cprev, aprev, cT, gates,
                                       ys, hh, rec_hat, rec_rstd, c_hat, c_rstd, w_hh, w_ch, w_gg, w_ln_hh,
                                       w_ln_c, b_ln_c, w_hr, lengths, reverse, L, xw, x_mean, x_rstd,
                                       cont(w_ln_ih), cont(w_ih));
  });
  return res;
}

// ======================================================================================
// GRU (torch.nn.GRU's form): r, u = sigma(xp + h R^T + b_hh); n = tanh(xp_n + r * (R_n h + b_hn))
// ======================================================================================
template <typename T>
std::vector<Tensor> gru_forward_impl(XSource<T>& src, const Tensor& w_hh, const OptTensor& b_hh,
                                     const Tensor& h0, const OptTensor& lengths, bool reverse, bool save) {
  const int64_t Tn = src.Tn, B = src.B, H = h0.size(1), H3 = 3 * H;
  const auto opt = h0.options();
  const Validity V = make_validity(lengths, Tn);
  Tensor out = at::empty({Tn, B, H}, opt);
  auto hs = StateSeq<T>::make(h0, Tn, save, reverse);
  const int64_t S = save ? Tn : 1;
  Tensor gates = at::empty({S, B, H3}, opt);  // r, u, n activations
  Tensor hn = at::empty({S, B, H}, opt);      // R_n h + b_hn
  Tensor hp = at::empty({B, H3}, opt);
  const Tensor w_hh_c = w_hh.contiguous();
  StepGemm<T> mm_hh(w_hh_c.data_ptr<T>(), true, B, H3, H, Tn, opt);
  const T* pb = ptr_or_null<T>(b_hh);
  T* pout = out.data_ptr<T>();
  for (int64_t k = 0; k < Tn; ++k) {
    const int64_t t = reverse ? Tn - 1 - k : k;
    const int64_t s = save ? t : 0;
    const T* php = hs.prev(k);
    T* phn = hs.next(k);
    T* pp = hp.data_ptr<T>();
    mm_hh.run(php, pp, T(0));
    const T* pxp_t = src.at(t);
    for (int64_t b = 0; b < B; ++b) {
      const T* h = php + b * H;
      T* hnx = phn + b * H;
      T* o = pout + (t * B + b) * H;
      if (!V.row(b, t)) {
        std::memcpy(hnx, h, sizeof(T) * H);
        std::memset(o, 0, sizeof(T) * H);
        continue;
      }
      const T* x = pxp_t + b * H3;
      const T* p = pp + b * H3;
      T* g = gates.data_ptr<T>() + (s * B + b) * H3;
      T* hnb = hn.data_ptr<T>() + (s * B + b) * H;
      if (pb) {
        for (int64_t j = 0; j < 2 * H; ++j) g[j] = x[j] + p[j] + pb[j];
        for (int64_t j = 0; j < H; ++j) hnb[j] = p[2 * H + j] + pb[2 * H + j];
      } else {
        for (int64_t j = 0; j < 2 * H; ++j) g[j] = x[j] + p[j];
        for (int64_t j = 0; j < H; ++j) hnb[j] = p[2 * H + j];
      }
      sigmoid_inplace(g, 2 * H);
      T* n = g + 2 * H;
      for (int64_t j = 0; j < H; ++j) n[j] = M<T>::tanh(x[2 * H + j] + g[j] * hnb[j]);
      const T* u = g + H;
      for (int64_t j = 0; j < H; ++j) {
        const T v = n[j] + u[j] * (h[j] - n[j]);
        hnx[j] = v;
        o[j] = v;
      }
    }
  }
  Tensor none = at::empty({0}, opt);
  std::vector<Tensor> res = {out, hs.final_};
  if (save) {
    res.push_back(hs.all);
    res.push_back(gates);
    res.push_back(hn);
  }
  return res;
}

template <typename T>
std::vector<Tensor> gru_backward_impl(const Tensor& grad_out, const Tensor& grad_hT, const Tensor& hprev,
                                      const Tensor& gates, const Tensor& hn, const Tensor& w_hh,
                                      bool has_bias, const OptTensor& lengths, bool reverse) {
  const int64_t Tn = gates.size(0), B = gates.size(1), H = hprev.size(2), H3 = 3 * H;
  const auto opt = gates.options();
  const Validity V = make_validity(lengths, Tn);
  Tensor grad_xp = at::empty({Tn, B, H3}, opt);
  Tensor dHP = at::empty({Tn, B, H3}, opt);  // gradient of h R^T + b_hh
  Tensor dh_carry = grad_hT.clone();
  const Tensor w_hh_c = w_hh.contiguous();
  StepGemm<T> mm_hh(w_hh_c.data_ptr<T>(), false, B, H, H3, Tn, opt);
  T* pdh = dh_carry.data_ptr<T>();
  const T* pgo = grad_out.data_ptr<T>();
  for (int64_t k = Tn - 1; k >= 0; --k) {
    const int64_t t = reverse ? Tn - 1 - k : k;
    for (int64_t b = 0; b < B; ++b) {
      T* dx = grad_xp.data_ptr<T>() + (t * B + b) * H3;
      T* dp = dHP.data_ptr<T>() + (t * B + b) * H3;
      if (!V.row(b, t)) {
        std::memset(dx, 0, sizeof(T) * H3);
        std::memset(dp, 0, sizeof(T) * H3);
        continue;
      }
      const T* g = gates.data_ptr<T>() + (t * B + b) * H3;
      const T* r = g;
      const T* u = g + H;
      const T* n = g + 2 * H;
      const T* hnb = hn.data_ptr<T>() + (t * B + b) * H;
      const T* h = hprev.data_ptr<T>() + (t * B + b) * H;
      const T* go = pgo + (t * B + b) * H;
      T* dh = pdh + b * H;
      for (int64_t j = 0; j < H; ++j) {
        const T d = dh[j] + go[j];
        const T dn = d * (T(1) - u[j]) * (T(1) - n[j] * n[j]);
        const T du = d * (h[j] - n[j]) * u[j] * (T(1) - u[j]);
        const T dr = dn * hnb[j] * r[j] * (T(1) - r[j]);
        dx[j] = dr;
        dx[H + j] = du;
        dx[2 * H + j] = dn;
        dp[j] = dr;
        dp[H + j] = du;
        dp[2 * H + j] = dn * r[j];
        dh[j] = d * u[j];  // the direct path; the recurrent one is added by the matmul
      }
    }
    mm_hh.run(dHP.data_ptr<T>() + t * B * H3, pdh, T(1));
  }
  const int64_t TB = Tn * B;
  Tensor g_whh = at::mm(dHP.view({TB, H3}).t(), hprev.view({TB, H}));
  Tensor g_bhh = has_bias ? dHP.view({TB, H3}).sum(0) : at::empty({0}, opt);
  return {grad_xp, g_whh, g_bhh, dh_carry};
}

// ======================================================================================
// Elman: h = phi(xp + h R^T), phi in {tanh, relu}
// ======================================================================================
template <typename T>
std::vector<Tensor> elman_forward_impl(XSource<T>& src, const Tensor& w_hh, const Tensor& h0,
                                       const OptTensor& lengths, bool reverse, bool relu, bool save) {
  const int64_t Tn = src.Tn, B = src.B, H = h0.size(1);
  const auto opt = h0.options();
  const Validity V = make_validity(lengths, Tn);
  Tensor out = at::empty({Tn, B, H}, opt);
  auto hs = StateSeq<T>::make(h0, Tn, save, reverse);
  Tensor rec = at::empty({B, H}, opt);
  const Tensor w_hh_c = w_hh.contiguous();
  StepGemm<T> mm_hh(w_hh_c.data_ptr<T>(), true, B, H, H, Tn, opt);
  T* pout = out.data_ptr<T>();
  for (int64_t k = 0; k < Tn; ++k) {
    const int64_t t = reverse ? Tn - 1 - k : k;
    const T* php = hs.prev(k);
    T* phn = hs.next(k);
    T* pr = rec.data_ptr<T>();
    mm_hh.run(php, pr, T(0));
    const T* pxp_t = src.at(t);
    for (int64_t b = 0; b < B; ++b) {
      T* hnx = phn + b * H;
      T* o = pout + (t * B + b) * H;
      if (!V.row(b, t)) {
        std::memcpy(hnx, php + b * H, sizeof(T) * H);
        std::memset(o, 0, sizeof(T) * H);
        continue;
      }
      const T* x = pxp_t + b * H;
      const T* r = pr + b * H;
      if (relu) {
        for (int64_t j = 0; j < H; ++j) {
          const T v = x[j] + r[j];
          hnx[j] = v > T(0) ? v : T(0);
        }
      } else {
        for (int64_t j = 0; j < H; ++j) hnx[j] = M<T>::tanh(x[j] + r[j]);
      }
      std::memcpy(o, hnx, sizeof(T) * H);
    }
  }
  std::vector<Tensor> res = {out, hs.final_};
  if (save) res.push_back(hs.all);
  return res;
}

template <typename T>
std::vector<Tensor> elman_backward_impl(const Tensor& grad_out, const Tensor& grad_hT, const Tensor& hprev,
                                        const Tensor& out, const Tensor& w_hh, const OptTensor& lengths,
                                        bool reverse, bool relu) {
  // h_t of a valid step is out[t]; the activation's derivative is read from it.
  const int64_t Tn = out.size(0), B = out.size(1), H = out.size(2);
  const auto opt = out.options();
  const Validity V = make_validity(lengths, Tn);
  Tensor grad_xp = at::empty({Tn, B, H}, opt);
  Tensor dh_carry = grad_hT.clone();
  const Tensor w_hh_c = w_hh.contiguous();
  StepGemm<T> mm_hh(w_hh_c.data_ptr<T>(), false, B, H, H, Tn, opt);
  T* pdh = dh_carry.data_ptr<T>();
  const T* pgo = grad_out.data_ptr<T>();
  const T* po = out.data_ptr<T>();
  for (int64_t k = Tn - 1; k >= 0; --k) {
    const int64_t t = reverse ? Tn - 1 - k : k;
    for (int64_t b = 0; b < B; ++b) {
      T* dx = grad_xp.data_ptr<T>() + (t * B + b) * H;
      if (!V.row(b, t)) {
        std::memset(dx, 0, sizeof(T) * H);
        continue;
      }
      const T* h = po + (t * B + b) * H;
      const T* go = pgo + (t * B + b) * H;
      T* dh = pdh + b * H;
      if (relu) {
        for (int64_t j = 0; j < H; ++j) dx[j] = h[j] > T(0) ? dh[j] + go[j] : T(0);
      } else {
        for (int64_t j = 0; j < H; ++j) dx[j] = (dh[j] + go[j]) * (T(1) - h[j] * h[j]);
      }
      std::memset(dh, 0, sizeof(T) * H);
    }
    mm_hh.run(grad_xp.data_ptr<T>() + t * B * H, pdh, T(1));
  }
  const int64_t TB = Tn * B;
  Tensor g_whh = at::mm(grad_xp.view({TB, H}).t(), hprev.view({TB, H}));
  return {grad_xp, g_whh, dh_carry};
}

std::vector<Tensor> gru_forward(const Tensor& xp, const Tensor& w_hh, const OptTensor& b_hh, const Tensor& h0,
                                const OptTensor& lengths, bool reverse, bool save) {
  TORCH_CHECK(xp.dim() == 3 && xp.is_contiguous(), "xp must be a contiguous (T, B, 3H) tensor");
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "gru_forward", [&] {
    auto src = XSource<scalar_t>::precomputed(xp);
    res = gru_forward_impl<scalar_t>(src, w_hh, b_hh, h0, lengths, reverse, save);
  });
  return res;
}

std::vector<Tensor> gru_infer(const Tensor& x, const Tensor& w_ih, const OptTensor& b_ih, const Tensor& w_hh,
                              const OptTensor& b_hh, const Tensor& h0, const OptTensor& lengths, bool reverse) {
  // Contiguous copies held here: XSource keeps raw pointers into them.
  const Tensor xc = x.contiguous(), w_ihc = w_ih.contiguous(), h0c = state_2d(h0);
  const OptTensor b_ihc = cont(b_ih), b_hhc = cont(b_hh);
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_infer", [&] {
    auto src = XSource<scalar_t>::project(xc, w_ihc, b_ihc, OptTensor(), OptTensor(), reverse, 0.0);
    res = gru_forward_impl<scalar_t>(src, w_hh, b_hhc, h0c, lengths, reverse, false);
  });
  if (h0.dim() == 3) states_3d(res, 1, 2);
  return res;
}

std::vector<Tensor> gru_backward(const Tensor& grad_out, const Tensor& grad_hT, const Tensor& hprev,
                                 const Tensor& gates, const Tensor& hn, const Tensor& w_hh, bool has_bias,
                                 const OptTensor& lengths, bool reverse) {
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_backward", [&] {
    res = gru_backward_impl<scalar_t>(grad_out, grad_hT, hprev, gates, hn, w_hh, has_bias, lengths, reverse);
  });
  return res;
}

std::vector<Tensor> elman_forward(const Tensor& xp, const Tensor& w_hh, const Tensor& h0,
                                  const OptTensor& lengths, bool reverse, bool relu, bool save) {
  TORCH_CHECK(xp.dim() == 3 && xp.is_contiguous(), "xp must be a contiguous (T, B, H) tensor");
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "elman_forward", [&] {
    auto src = XSource<scalar_t>::precomputed(xp);
    res = elman_forward_impl<scalar_t>(src, w_hh, h0, lengths, reverse, relu, save);
  });
  return res;
}

std::vector<Tensor> elman_infer(const Tensor& x, const Tensor& w_ih, const OptTensor& b_ih, const OptTensor& b_hh,
                                const Tensor& w_hh, const Tensor& h0, const OptTensor& lengths, bool reverse,
                                bool relu) {
  const Tensor xc = x.contiguous(), w_ihc = w_ih.contiguous(), h0c = state_2d(h0);
  const OptTensor b_ihc = cont(b_ih), b_hhc = cont(b_hh);
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "elman_infer", [&] {
    auto src = XSource<scalar_t>::project(xc, w_ihc, b_ihc, b_hhc, OptTensor(), reverse, 0.0);
    res = elman_forward_impl<scalar_t>(src, w_hh, h0c, lengths, reverse, relu, false);
  });
  if (h0.dim() == 3) states_3d(res, 1, 2);
  return res;
}

std::vector<Tensor> elman_backward(const Tensor& grad_out, const Tensor& grad_hT, const Tensor& hprev,
                                   const Tensor& out, const Tensor& w_hh, const OptTensor& lengths, bool reverse,
                                   bool relu) {
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "elman_backward", [&] {
    res = elman_backward_impl<scalar_t>(grad_out, grad_hT, hprev, out, w_hh, lengths, reverse, relu);
  });
  return res;
}

// a @ b into a cached buffer: the training input projection W x_t of all steps.
Tensor buffer_mm(const Tensor& a, const Tensor& b) {
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0), "buffer_mm needs (m, k) @ (k, n)");
  Tensor c = buffer({a.size(0), b.size(1)}, a.options());
  at::mm_out(c, a, b);
  return c;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "lstmkit fused CPU time loops (forward and hand-written BPTT backward)";
  m.def("lstm_forward", &lstm_forward, "LSTM family forward over time");
  m.def("lstm_backward", &lstm_backward, "LSTM family backward through time");
  m.def("lstm_infer", &lstm_infer, "LSTM family inference: input projection and time loop");
  m.def("gru_infer", &gru_infer, "GRU inference: input projection and time loop");
  m.def("elman_infer", &elman_infer, "Elman RNN inference: input projection and time loop");
  m.def("gru_forward", &gru_forward, "GRU forward over time");
  m.def("gru_backward", &gru_backward, "GRU backward through time");
  m.def("elman_forward", &elman_forward, "Elman RNN forward over time");
  m.def("elman_backward", &elman_backward, "Elman RNN backward through time");
  m.def("clear_buffer_cache", [] { BufferCache::get().clear(); }, "free the cached per-call buffers");
  m.def("buffer_mm", &buffer_mm, "a @ b (2-D), the result in a cached buffer");
  m.def("own_gemm", [] { return own_gemm_enabled(); },
        "whether float32 loops use the packed-panel AVX2 product instead of MKL's (see packed_gemm)");
}
