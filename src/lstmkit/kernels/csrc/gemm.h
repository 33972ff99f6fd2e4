// Matrix products: the BLAS shim (MKL through torch), our packed-panel AVX2 GEMM and the
// per-step product of a time loop (StepGemm).

#pragma once

#include "common.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <memory>

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

namespace lstmkit {
namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

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

// The same product with AVX-512: panels of 32 columns (two zmm registers per row of the
// panel, k-major inside it) and an MR x 32 register block (up to 2 x 12 accumulators of
// the 32 zmm registers). Built where the compiler targets AVX-512 (-march=native on such
// a CPU); chosen per shape class by the calibration (kernels/choose.py, "own512") or
// forced (LSTMKIT_OWN_GEMM=2). The AVX2 kernel above stays in the same build, so every
// path is tested on an AVX-512 CI machine.
#if defined(LSTMKIT_AVX2_GEMM) && defined(__AVX512F__)
#define LSTMKIT_AVX512_GEMM 1
constexpr int64_t kNR512 = 32;
inline int64_t packed_size512(int64_t N, int64_t K) { return ((N + kNR512 - 1) / kNR512) * K * kNR512; }
inline void pack_panels512(const float* w, bool transposed, int64_t N, int64_t K, float* out) {
  const int64_t P = (N + kNR512 - 1) / kNR512;
  for (int64_t p = 0; p < P; ++p) {
    float* o = out + p * K * kNR512;
    const int64_t n0 = p * kNR512, nn = std::min<int64_t>(kNR512, N - n0);
    if (transposed) {
      for (int64_t j = 0; j < kNR512; ++j) {
        if (j < nn) {
          const float* wr = w + (n0 + j) * K;
          for (int64_t k = 0; k < K; ++k) o[k * kNR512 + j] = wr[k];
        } else {
          for (int64_t k = 0; k < K; ++k) o[k * kNR512 + j] = 0.f;
        }
      }
    } else {
      for (int64_t k = 0; k < K; ++k) {
        const float* wr = w + k * N + n0;
        for (int64_t j = 0; j < kNR512; ++j) o[k * kNR512 + j] = j < nn ? wr[j] : 0.f;
      }
    }
  }
}
template <int MR>
__attribute__((always_inline)) inline void panel_kernel512(const float* __restrict A, int64_t K,
                                                           const float* __restrict pw, float* __restrict C,
                                                           int64_t ldc, int64_t nn, bool accumulate) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) { c0[r] = _mm512_setzero_ps(); c1[r] = _mm512_setzero_ps(); }
  for (int64_t k = 0; k < K; ++k) {
    const __m512 w0 = _mm512_loadu_ps(pw + k * kNR512), w1 = _mm512_loadu_ps(pw + k * kNR512 + 16);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * K + k]);
      c0[r] = _mm512_fmadd_ps(a, w0, c0[r]);
      c1[r] = _mm512_fmadd_ps(a, w1, c1[r]);
    }
  }
  // columns [0, nn) of the block: masked loads and stores for a partial last panel
  const __mmask16 m0 = nn >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nn) - 1u);
  const __mmask16 m1 = nn >= 32 ? __mmask16(0xFFFF) : nn <= 16 ? __mmask16(0) : __mmask16((1u << (nn - 16)) - 1u);
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    float* c = C + r * ldc;
    if (accumulate) {
      c0[r] = _mm512_add_ps(c0[r], _mm512_maskz_loadu_ps(m0, c));
      c1[r] = _mm512_add_ps(c1[r], _mm512_maskz_loadu_ps(m1, c + 16));
    }
    _mm512_mask_storeu_ps(c, m0, c0[r]);
    _mm512_mask_storeu_ps(c + 16, m1, c1[r]);
  }
}
__attribute__((noinline)) void packed_gemm512(const float* __restrict A, const float* __restrict packed,
                                              float* __restrict C, int64_t M, int64_t N, int64_t K,
                                              bool accumulate) {
  const int64_t P = (N + kNR512 - 1) / kNR512;
  for (int64_t p = 0; p < P; ++p) {
    const float* pw = packed + p * K * kNR512;
    const int64_t n0 = p * kNR512, nn = std::min<int64_t>(kNR512, N - n0);
    int64_t m = 0;
    for (; m + 12 <= M; m += 12) panel_kernel512<12>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate);
    switch (M - m) {
      case 11: panel_kernel512<11>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 10: panel_kernel512<10>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 9: panel_kernel512<9>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 8: panel_kernel512<8>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 7: panel_kernel512<7>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 6: panel_kernel512<6>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 5: panel_kernel512<5>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 4: panel_kernel512<4>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 3: panel_kernel512<3>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 2: panel_kernel512<2>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      case 1: panel_kernel512<1>(A + m * K, K, pw, C + m * N + n0, N, nn, accumulate); break;
      default: break;
    }
  }
}
#endif

// Whether a float32 product runs on our AVX2 GEMM (packed_gemm / small_gemm_nt) or on
// MKL's. The default is the old CPU rule (ours without AVX-512, MKL with it) unless
// LSTMKIT_OWN_GEMM=0/1 forces it; Python's calibration (kernels/choose.py) times both on
// this machine at first use and sets the choice per shape class (set_own_gemm):
//   class 0: M <= 2 rows (streaming); class 1: min(N, K) <= 128; class 2: larger.
constexpr int kGemmClasses = 3;
inline int gemm_class(int64_t M, int64_t N, int64_t K) {
  if (M <= 2) return 0;
  return std::min(N, K) <= 128 ? 1 : 2;
}

inline bool own_gemm_built() {
#ifdef LSTMKIT_AVX2_GEMM
  return true;
#else
  return false;
#endif
}

inline bool own_gemm512_built() {
#ifdef LSTMKIT_AVX512_GEMM
  return true;
#else
  return false;
#endif
}

inline bool own_gemm_default() {
  static const bool on = [] {
    const char* e = std::getenv("LSTMKIT_OWN_GEMM");
    if (e && e[0] == '0') return false;
    if (e && (e[0] == '1' || e[0] == '2')) return true;
#if defined(__AVX512F__)
    return false;
#else
    return true;
#endif
  }();
  return own_gemm_built() && on;
}

// -1: the default above; 0: MKL; 1: ours, AVX2 (only where own_gemm_built()); 2: ours,
// AVX-512 (only where own_gemm512_built(); LSTMKIT_OWN_GEMM=2 makes it the default).
// One choice per shape class and use: use 0 is training (the products of a forward that
// saves for the backward, and the backward's), use 1 inference (a forward that saves
// nothing): measured apart, as the AVX-512 panels win inference at H > 128 on Zen 4 and
// tie in training.
constexpr int kGemmUses = 2;
inline std::atomic<int>* own_gemm_modes(bool inference) {
  static std::atomic<int> modes[kGemmUses][kGemmClasses] = {{{-1}, {-1}, {-1}}, {{-1}, {-1}, {-1}}};
  return modes[inference ? 1 : 0];
}

// use: -1 both, 0 training, 1 inference.
inline void set_own_gemm(int cls, int mode, int use = -1) {
  TORCH_CHECK(cls >= 0 && cls < kGemmClasses, "cls must be in [0, ", kGemmClasses, "), got ", cls);
  TORCH_CHECK(mode >= -1 && mode <= 2, "mode must be -1 (default), 0 (MKL), 1 (own, AVX2) or 2 (own, AVX-512), got ",
              mode);
  TORCH_CHECK(mode != 2 || own_gemm512_built(), "mode 2 (own, AVX-512): this build has no AVX-512 product");
  TORCH_CHECK(use >= -1 && use < kGemmUses, "use must be -1 (both), 0 (training) or 1 (inference), got ", use);
  for (int u = 0; u < kGemmUses; ++u)
    if (use < 0 || use == u) own_gemm_modes(u == 1)[cls].store(mode, std::memory_order_relaxed);
}

inline bool own_gemm_enabled(int cls, bool inference = false) {
  if (!own_gemm_built()) return false;
  const int m = own_gemm_modes(inference)[cls].load(std::memory_order_relaxed);
  return m < 0 ? own_gemm_default() : m >= 1;
}

// Whether ours runs its AVX-512 panels for this class and use: mode 2, or the default with
// LSTMKIT_OWN_GEMM=2.
inline bool own_gemm_wide(int cls, bool inference = false) {
  if (!own_gemm512_built() || !own_gemm_enabled(cls, inference)) return false;
  const int m = own_gemm_modes(inference)[cls].load(std::memory_order_relaxed);
  if (m >= 0) return m == 2;
  const char* e = std::getenv("LSTMKIT_OWN_GEMM");
  return e && e[0] == '2';
}

inline bool own_gemm_enabled() { return own_gemm_default(); }

// A fixed weight multiplied every step by a changing A (M x K), all row-major and
// contiguous: C (M x N) = A @ op(W) + beta * C, where op(W) = W^T for W stored (N x K)
// (``transposed``, the forward's h R^T) or W itself for W stored (K x N) (the backward's
// dRec R). For a long enough loop the weight is packed once (float: our panels, see
// packed_gemm, or MKL's packed format). ``inference``: a forward that saves nothing for a
// backward (the product follows the inference choice of set_own_gemm).
template <typename T>
struct StepGemm {
  const T* w = nullptr;
  bool transposed = false;
  int64_t M = 0, N = 0, K = 0;
  at::TensorOptions opt;
  std::unique_ptr<float[]> packed;  // uninitialised storage: MKL writes all of it
  std::unique_ptr<float[]> panels;  // op(W) for packed_gemm (every entry written by pack_panels)
  bool own = false;                 // float: our AVX2 GEMM for this product's shape class
  bool wide = false;                // ... with its AVX-512 panels (packed_gemm512)

  StepGemm(const T* w_, bool transposed_, int64_t M_, int64_t N_, int64_t K_, int64_t steps,
           const at::TensorOptions& opt_, bool inference = false)
      : w(w_), transposed(transposed_), M(M_), N(N_), K(K_), opt(opt_) {
    own = sizeof(T) == sizeof(float) && own_gemm_enabled(gemm_class(M, N, K), inference);
    wide = own && transposed && own_gemm_wide(gemm_class(M, N, K), inference);
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
  if (!own) return;
#ifdef LSTMKIT_AVX512_GEMM
  if (wide) {
    panels.reset(new float[packed_size512(N, K)]);
    pack_panels512(w, transposed, N, K, panels.get());
    return;
  }
#endif
  panels.reset(new float[packed_size(N, K)]);
  pack_panels(w, transposed, N, K, panels.get());
#endif
}

template <>
inline void StepGemm<double>::run_panels(const double*, double*, double, int64_t) const {}

template <>
inline void StepGemm<float>::run_panels(const float* A, float* C, float beta, int64_t rows) const {
#ifdef LSTMKIT_AVX512_GEMM
  if (wide) {
    packed_gemm512(A, panels.get(), C, rows, N, K, beta != 0.f);
    return;
  }
#endif
#ifdef LSTMKIT_AVX2_GEMM
  packed_gemm(A, panels.get(), C, rows, N, K, beta != 0.f);
#endif
}

template <>
inline bool StepGemm<double>::use_small() const { return false; }

template <>
inline bool StepGemm<float>::use_small() const {
#ifdef LSTMKIT_AVX2_GEMM
  return own && transposed && M <= 2;
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

}  // namespace
}  // namespace lstmkit
