// The sLSTM (Beck et al. 2024, xLSTM, eqs. 8-17): forward over time and its hand-written
// backward through time. The one-step math is lstmkit.cells.slstm.sLSTMCellSpec._step;
// this file computes exactly it, step after step, with the time loop in C++.
//
// Per step, for each row b and unit u = k*d + j of head k:
//   pre_g   = xp[t, b, g*H + u] + (R_{k,g} h_{t-1,k})_j          g in (i, f, z, o)
//   log f   = logsigmoid(f~) (sigmoid gate) or f~ (exp gate)
//   m_prev' = -inf where n_prev == 0 (the empty memory), else m_prev
//   a       = log f + m_prev'
//   m       = max(a, i~);  i' = exp(i~ - m);  f' = exp(a - m)  (0 for the empty memory)
//   c       = f' c_prev + i' tanh(z~);  n = f' n_prev + i';  h = sigmoid(o~) c / n
//
// The recurrent weights are block-diagonal: weight_hh (N, 4, d, d), head k's block of all
// four gates is the (4d x d) row-major matrix weight_hh[k]. The per-step product is one
// StepGemm (gemm.h: the house's per-step product, its weight packed once per call) per
// head, on h_{t-1} kept head-major (N, B, d), into head-major pre-activations (N, B, 4d).
//
// Training saves, indexed by time t: the full pre-activations, head-major
// (T, N, B, 4d) and the state entering each step (h, c, n, m), each (T, B, H). The backward recomputes
// the gates from them (a few exps per unit: cheaper than saving four more (T, B, H)
// buffers and reading them back).
//
// The max of eq. 15 is differentiated as torch.maximum is: the whole gradient to the larger
// argument, half to each on a tie (torch's derivative formula), so that the gradients are
// those of the reference loop under autograd.

#pragma once

#include "projection.h"

#include <type_traits>

namespace lstmkit {
namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

struct SLSTMOutput {
  Tensor output, h_n, c_n, n_n, m_n;
  OptTensor pre, hprev, cprev, nprev, mprev;  // training only
};

struct SLSTMGrads {
  Tensor input, weight_hh, h0, c0, n0, m0;
};

// C (col-major m x n, ldc) = op(A) (m x k) @ op(B) (k x n) + beta C (op = transpose where
// 'T'): the weight gradient's products on strided slices (BLAS where torch links one, else
// ATen on strided views).
template <typename T>
inline void slstm_gemm(char ta, char tb, int m, int n, int k, const T* a, int lda, const T* b, int ldb, T beta, T* c,
                       int ldc, const at::TensorOptions& opt) {
  if (have_blas()) {
    const char sa[2] = {ta, 0}, sb[2] = {tb, 0};
    const T one = T(1);
    if constexpr (std::is_same<T, float>::value) {
      sgemm_(sa, sb, &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc);
    } else {
      dgemm_(sa, sb, &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc);
    }
    return;
  }
  // a column-major (r x s) matrix with leading dimension ld is the row-major (s x r) view
  // with strides (ld, 1), transposed
  Tensor A = ta == 'T' ? at::from_blob(const_cast<T*>(a), {m, k}, {lda, 1}, opt)
                       : at::from_blob(const_cast<T*>(a), {k, m}, {lda, 1}, opt).t();
  Tensor Bm = tb == 'T' ? at::from_blob(const_cast<T*>(b), {k, n}, {ldb, 1}, opt)
                        : at::from_blob(const_cast<T*>(b), {n, k}, {ldb, 1}, opt).t();
  Tensor C = at::from_blob(c, {n, m}, {ldc, 1}, opt).t();
  if (beta == T(0)) {
    C.copy_(at::mm(A, Bm));
  } else {
    C.add_(at::mm(A, Bm));
  }
}

// log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)) (torch's formula). The float version is
// branch-free (it vectorises inside the step's loop): exp_fast, and log1p(e) for e in
// (0, 1] as log(u) e / (u - 1) with u = 1 + e (exact where u rounds to 1), log(u) by
// Cephes' logf polynomial (~1 ulp on [sqrt(1/2), sqrt(2)), u halved above sqrt(2)).
template <typename T>
inline T slstm_logsigmoid(T x) {
  return (x < T(0) ? x : T(0)) - std::log1p(std::exp(-std::abs(x)));
}

template <>
inline float slstm_logsigmoid<float>(float x) {
  const float e = exp_fast(-std::fabs(x));
  const float u = 1.0f + e;
  const bool big = u > 1.41421356237f;
  const float w = (big ? u * 0.5f : u) - 1.0f;
  const float ex = big ? 1.0f : 0.0f;
  const float z = w * w;
  float y = 7.0376836292e-2f;
  y = y * w - 1.1514610310e-1f;
  y = y * w + 1.1676998740e-1f;
  y = y * w - 1.2420140846e-1f;
  y = y * w + 1.4249322787e-1f;
  y = y * w - 1.6668057665e-1f;
  y = y * w + 2.0000714765e-1f;
  y = y * w - 2.4999993993e-1f;
  y = y * w + 3.3333331174e-1f;
  y = y * w * z;
  y += -2.12194440e-4f * ex;
  y += -0.5f * z;
  const float logu = (w + y) + 0.693359375f * ex;
  const float dn = u - 1.0f;
  const float l1p = dn == 0.0f ? e : logu * (e / dn);
  return (x < 0.0f ? x : 0.0f) - l1p;
}

// One unit's stabilised step (eqs. 8-17), shared by the forward and the backward's
// recomputation so that both see the same numbers. empty: n_prev == 0 (m_prev = -inf).
template <typename T, bool SIG>
struct SUnit {
  T z, og, m, is, fs, a, c, n;
  inline void step(T ip, T fp, T zp, T op, T c_prev, T n_prev, T m_prev) {
    z = M<T>::tanh(zp);
    og = M<T>::sigmoid(op);
    const bool empty = n_prev == T(0);
    const T lf = SIG ? slstm_logsigmoid<T>(fp) : fp;
    a = lf + m_prev;
    const T mm = a > ip ? a : ip;
    m = empty ? ip : mm;
    is = empty ? T(1) : exp_fast(ip - mm);
    fs = empty ? T(0) : exp_fast(a - mm);
    c = fs * c_prev + is * z;
    n = fs * n_prev + is;
  }
};

// The per-head products of a time loop: head k's rows of a head-major (N, B, w_in) buffer
// times its block of weight_hh, into a head-major (N, B, w_out) buffer, one StepGemm
// (the house's per-step product: packed panels / MKL's packed format where chosen) per head.
template <typename T>
struct HeadGemms {
  std::vector<std::unique_ptr<StepGemm<T>>> g;
  int64_t B = 0, in = 0, out = 0;
  // forward (transposed): G_k (B x 4d) = h_k (B x d) @ R_k^T; backward: dh_k (B x d) += dG_k (B x 4d) @ R_k
  HeadGemms(const T* R, int64_t N, int64_t d, int64_t B_, int64_t steps, bool forward, const at::TensorOptions& opt,
            bool inference)
      : B(B_), in(forward ? d : 4 * d), out(forward ? 4 * d : d) {
    for (int64_t k = 0; k < N; ++k)
      g.emplace_back(new StepGemm<T>(R + k * 4 * d * d, forward, B, out, in, steps, opt, inference));
  }
  void run(const T* A, T* C, T beta) const {
    for (size_t k = 0; k < g.size(); ++k) g[k]->run(A + k * B * in, C + k * B * out, beta);
  }
};

// The pre-activations are kept head-major per step, (N, B, 4d): head k's (i, f, z, o) of row b
// at ((k * B + b) * 4 + g) * d + j; h also travels head-major, (N, B, d), for the products.
// src: the projected input of each step (precomputed in training, computed by chunks of
// a few steps in inference, XSource in projection.h).
template <typename T, bool SIG>
SLSTMOutput slstm_forward_impl(XSource<T>& src, const Tensor& w_hh, const Tensor& h0_in, const Tensor& c0_in,
                               const Tensor& n0_in, const Tensor& m0_in, const OptTensor& lengths, bool reverse,
                               bool save) {
  const int64_t Tn = src.Tn, B = src.B, H = src.K / 4;
  const int64_t N = w_hh.size(0), d = w_hh.size(2);
  TORCH_CHECK(N * d == H && w_hh.size(1) == 4 && w_hh.size(3) == d, "weight_hh must be (N, 4, d, d) with N*d = H");
  const auto opt = h0_in.options();
  const Tensor R = w_hh.contiguous();
  const Validity V = make_validity(lengths, Tn);
  const Tensor h0 = h0_in.contiguous();
  auto hs = StateSeq<T>::make(h0, Tn, save, reverse);
  auto cs = StateSeq<T>::make(c0_in.contiguous(), Tn, save, reverse);
  auto ns = StateSeq<T>::make(n0_in.contiguous(), Tn, save, reverse);
  auto ms = StateSeq<T>::make(m0_in.contiguous(), Tn, save, reverse);
  Tensor out = at::empty({Tn, B, H}, opt);
  Tensor pre_all, G1;
  if (save) {
    pre_all = buffer({Tn, 4 * H * B}, opt);
  } else {
    G1 = at::empty({4 * H * B}, opt);
  }
  // h head-major, two buffers (the state entering and leaving a step)
  std::vector<T> hm(2 * B * H);
  {
    const T* p0 = h0.data_ptr<T>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < N; ++k) std::memcpy(&hm[(k * B + b) * d], p0 + b * H + k * d, sizeof(T) * d);
  }
  HeadGemms<T> mm(R.data_ptr<T>(), N, d, B, Tn, true, opt, !save);
  T* pout = out.data_ptr<T>();
  for (int64_t s = 0; s < Tn; ++s) {
    const int64_t t = reverse ? Tn - 1 - s : s;
    const T* __restrict hp = hs.prev(s);
    const T* __restrict cp = cs.prev(s);
    const T* __restrict np = ns.prev(s);
    const T* __restrict mp = ms.prev(s);
    T* __restrict hn = hs.next(s);
    T* __restrict cn = cs.next(s);
    T* __restrict nn = ns.next(s);
    T* __restrict mn = ms.next(s);
    const T* hm_in = hm.data() + (s % 2) * B * H;
    T* hm_out = hm.data() + ((s + 1) % 2) * B * H;
    T* G = save ? pre_all.data_ptr<T>() + t * B * 4 * H : G1.data_ptr<T>();
    mm.run(hm_in, G, T(0));
    const T* x_t = src.at(t);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t o = b * H;
      T* y = pout + (t * B + b) * H;
      if (!V.row(b, t)) {
        std::memcpy(hn + o, hp + o, sizeof(T) * H);
        std::memcpy(cn + o, cp + o, sizeof(T) * H);
        std::memcpy(nn + o, np + o, sizeof(T) * H);
        std::memcpy(mn + o, mp + o, sizeof(T) * H);
        for (int64_t k = 0; k < N; ++k) std::memcpy(hm_out + (k * B + b) * d, hm_in + (k * B + b) * d, sizeof(T) * d);
        std::memset(y, 0, sizeof(T) * H);
        continue;
      }
      const T* xb = x_t + b * 4 * H;
      for (int64_t k = 0; k < N; ++k) {
        const int64_t u0 = k * d;
        T* __restrict gi = G + (k * B + b) * 4 * d;
        T* __restrict gf = gi + d;
        T* __restrict gz = gi + 2 * d;
        T* __restrict go = gi + 3 * d;
        const T* __restrict xi = xb + u0;
        const T* __restrict xf = xb + H + u0;
        const T* __restrict xz = xb + 2 * H + u0;
        const T* __restrict xo = xb + 3 * H + u0;
        T* __restrict hk = hm_out + (k * B + b) * d;
        const int64_t q = o + u0;
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) {
          const T ip = xi[j] + gi[j], fp = xf[j] + gf[j], zp = xz[j] + gz[j], op = xo[j] + go[j];
          gi[j] = ip;
          gf[j] = fp;
          gz[j] = zp;
          go[j] = op;
          SUnit<T, SIG> U;
          U.step(ip, fp, zp, op, cp[q + j], np[q + j], mp[q + j]);
          const T h = U.og * (U.c / U.n);
          cn[q + j] = U.c;
          nn[q + j] = U.n;
          mn[q + j] = U.m;
          hn[q + j] = h;
          y[u0 + j] = h;
          hk[j] = h;
        }
      }
    }
  }
  SLSTMOutput r;
  r.output = out;
  r.h_n = hs.final_;
  r.c_n = cs.final_;
  r.n_n = ns.final_;
  r.m_n = ms.final_;
  if (save) {
    r.pre = pre_all;
    r.hprev = hs.all;
    r.cprev = cs.all;
    r.nprev = ns.all;
    r.mprev = ms.all;
  }
  return r;
}

template <typename T, bool SIG>
SLSTMGrads slstm_backward_impl(const Tensor& w_hh, const Tensor& pre_all, const Tensor& hprev, const Tensor& cprev,
                               const Tensor& nprev, const Tensor& mprev, const Tensor& grad_out_in,
                               const Tensor& g_h, const Tensor& g_c, const Tensor& g_n, const Tensor& g_m,
                               const OptTensor& lengths, bool reverse, bool sigmoid_forget) {
  const int64_t Tn = hprev.size(0), B = hprev.size(1), H = hprev.size(2);
  const int64_t N = w_hh.size(0), d = w_hh.size(2);
  const auto opt = hprev.options();
  const Tensor R = w_hh.contiguous();
  const Validity V = make_validity(lengths, Tn);
  const Tensor grad_out = grad_out_in.contiguous();
  Tensor dc = g_c.contiguous().clone(), dn = g_n.contiguous().clone(), dm = g_m.contiguous().clone();
  // dh head-major (N, B, d): the per-head products add into it
  Tensor dh = g_h.contiguous().view({B, N, d}).permute({1, 0, 2}).contiguous();
  // the gradient of xp, (T, B, 4H) gate-major, written by the step; and the step's dpre,
  // head-major like pre (N, B, 4d), for the per-head products
  Tensor g_x = at::empty({Tn, B, 4 * H}, opt);
  std::vector<T> dpre(4 * H * B);
  HeadGemms<T> mm(R.data_ptr<T>(), N, d, B, Tn, false, opt, false);
  T* pdh = dh.data_ptr<T>();
  T* pdc = dc.data_ptr<T>();
  T* pdn = dn.data_ptr<T>();
  T* pdm = dm.data_ptr<T>();
  const T* pgo = grad_out.data_ptr<T>();
  const T* ppre = pre_all.data_ptr<T>();
  const T* pcp = cprev.data_ptr<T>();
  const T* pnp = nprev.data_ptr<T>();
  const T* pmp = mprev.data_ptr<T>();
  T* dpt = dpre.data();
  T* pgx = g_x.data_ptr<T>();
  for (int64_t s = Tn - 1; s >= 0; --s) {
    const int64_t t = reverse ? Tn - 1 - s : s;
    T* gxt = pgx + t * B * 4 * H;
    const T* pt = ppre + t * B * 4 * H;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t o = b * H;
      if (!V.row(b, t)) {
        // the state is held: its gradient passes through unchanged, no gate sees one
        for (int64_t k = 0; k < N; ++k) std::memset(dpt + (k * B + b) * 4 * d, 0, sizeof(T) * 4 * d);
        std::memset(gxt + b * 4 * H, 0, sizeof(T) * 4 * H);
        continue;
      }
      const int64_t ts = (t * B + b) * H;
      for (int64_t k = 0; k < N; ++k) {
        const int64_t u0 = k * d, q = o + u0;
        const T* __restrict pk = pt + (k * B + b) * 4 * d;
        T* __restrict dk = dpt + (k * B + b) * 4 * d;
        T* __restrict dxi = gxt + b * 4 * H + u0;
        T* __restrict dxf = dxi + H;
        T* __restrict dxz = dxi + 2 * H;
        T* __restrict dxo = dxi + 3 * H;
        T* __restrict dhk = pdh + (k * B + b) * d;
        const T* __restrict go = pgo + ts + u0;
        const T* __restrict c_p = pcp + ts + u0;
        const T* __restrict n_p = pnp + ts + u0;
        const T* __restrict m_p = pmp + ts + u0;
        T* __restrict dck = pdc + q;
        T* __restrict dnk = pdn + q;
        T* __restrict dmk = pdm + q;
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) {
          const T ip = pk[j], fp = pk[d + j], zp = pk[2 * d + j], op = pk[3 * d + j];
          const T c_prev = c_p[j], n_prev = n_p[j];
          SUnit<T, SIG> U;
          U.step(ip, fp, zp, op, c_prev, n_prev, m_p[j]);
          const bool empty = n_prev == T(0);
          const T inv_n = T(1) / U.n;
          const T hh = U.c * inv_n;
          // h = o c / n
          const T gh = dhk[j] + go[j];
          const T d_o = gh * hh;
          const T gc = dck[j] + gh * U.og * inv_n;
          const T gn = dnk[j] - gh * U.og * hh * inv_n;
          // c = f' c_prev + i' z, n = f' n_prev + i'
          const T dfs = gc * c_prev + gn * n_prev;
          const T dis = gc * U.z + gn;
          const T dz = gc * U.is;
          // i' = exp(i~ - m), f' = exp(a - m); m = max(a, i~) as torch.maximum (a tie halves it)
          const T ei = dis * U.is, ef = dfs * U.fs;
          const T gm = dmk[j] - ei - ef;
          const bool lt = empty || U.a < ip, gt = !empty && U.a > ip;
          const T di = ei + (lt ? gm : (gt ? T(0) : gm * T(0.5)));
          T da = ef + (gt ? gm : (lt ? T(0) : gm * T(0.5)));
          da = empty ? T(0) : da;  // f' = 0 whatever f~ and m_prev are
          const T df = SIG ? da * M<T>::sigmoid(-fp) : da;
          const T dzp = dz * (T(1) - U.z * U.z), dop = d_o * U.og * (T(1) - U.og);
          dk[j] = di;
          dk[d + j] = df;
          dk[2 * d + j] = dzp;
          dk[3 * d + j] = dop;
          dxi[j] = di;
          dxf[j] = df;
          dxz[j] = dzp;
          dxo[j] = dop;
          dck[j] = gc * U.fs;
          dnk[j] = gn * U.fs;
          dmk[j] = da;
          dhk[j] = T(0);  // filled below by R^T dpre
        }
      }
    }
    mm.run(dpt, pdh, T(1));  // dh_{t-1} += dpre_k @ R_k per head; invalid rows add zeros
  }
  // dR[k, g] (d x d) = sum over (t, b) of dxp[t, b, gate g of head k]^T h_{t-1}[t, b, head k]:
  // one product per head and gate on strided slices of dxp and hprev, no copies
  const int64_t TB = Tn * B;
  Tensor g_w = at::empty({N, 4, d, d}, opt);
  const T* ph = hprev.data_ptr<T>();
  T* pgw = g_w.data_ptr<T>();
  for (int64_t k = 0; k < N; ++k) {
    for (int64_t g = 0; g < 4; ++g) {
      // row-major dR[k, g] (j, l) is column-major C (l, j) = sum_tb h[tb, k*d + l] dxp[tb, g*H + k*d + j]
      slstm_gemm<T>('N', 'T', int(d), int(d), int(TB), ph + k * d, int(H), pgx + g * H + k * d, int(4 * H), T(0),
                    pgw + (k * 4 + g) * d * d, int(d), opt);
    }
  }
  SLSTMGrads r;
  r.input = g_x;
  r.weight_hh = g_w;
  r.h0 = dh.permute({1, 0, 2}).contiguous().view({B, H});
  r.c0 = dc;
  r.n0 = dn;
  r.m0 = dm;
  return r;
}

inline void slstm_check(const Tensor& xp, const Tensor& w_hh, const Tensor& h0) {
  TORCH_CHECK(xp.dim() == 3 && xp.size(2) % 4 == 0, "input must be a (T, B, 4H) tensor, got ", xp.sizes());
  TORCH_CHECK(w_hh.dim() == 4 && w_hh.size(1) == 4 && w_hh.size(2) == w_hh.size(3),
              "weight_hh must be (N, 4, d, d), got ", w_hh.sizes());
  TORCH_CHECK(w_hh.size(0) * w_hh.size(2) * 4 == xp.size(2), "weight_hh ", w_hh.sizes(), " does not match input ",
              xp.sizes());
  TORCH_CHECK(h0.dim() == 2 && h0.size(0) == xp.size(1) && h0.size(1) * 4 == xp.size(2),
              "state entries must be (B, H), got ", h0.sizes());
  TORCH_CHECK(w_hh.scalar_type() == xp.scalar_type() && h0.scalar_type() == xp.scalar_type(),
              "input, weight_hh and state must share a dtype");
}

// The forward over time of the precomputed input projection xp = W x_t + b (T, B, 4H).
// save: keep what slstm_backward needs (training).
SLSTMOutput slstm_forward(const Tensor& input, const Tensor& weight_hh, const Tensor& h0, const Tensor& c0,
                          const Tensor& n0, const Tensor& m0, const OptTensor& lengths, bool reverse,
                          bool sigmoid_forget, bool save) {
  slstm_check(input, weight_hh, h0);
  const Tensor xp = input.contiguous();
  SLSTMOutput res;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "slstm_forward", [&] {
    auto src = XSource<scalar_t>::precomputed(xp);
    res = sigmoid_forget ? slstm_forward_impl<scalar_t, true>(src, weight_hh, h0, c0, n0, m0, lengths, reverse, save)
                         : slstm_forward_impl<scalar_t, false>(src, weight_hh, h0, c0, n0, m0, lengths, reverse, save);
  });
  return res;
}

// Inference: the input projection W x_t + b (by chunks of a few steps, so that it stays in
// cache and no (T, B, 4H) tensor is allocated) and the time loop; nothing is saved.
SLSTMOutput slstm_infer(const Tensor& input, const Tensor& weight_ih, const OptTensor& bias, const Tensor& weight_hh,
                        const Tensor& h0, const Tensor& c0, const Tensor& n0, const Tensor& m0,
                        const OptTensor& lengths, bool reverse, bool sigmoid_forget) {
  TORCH_CHECK(input.dim() == 3, "input must be a (T, B, I) tensor, got ", input.sizes());
  TORCH_CHECK(weight_ih.dim() == 2 && weight_ih.size(0) % 4 == 0 && weight_ih.size(1) == input.size(2),
              "weight_ih must be (4H, I), got ", weight_ih.sizes());
  TORCH_CHECK(weight_ih.scalar_type() == input.scalar_type(), "input and weight_ih must share a dtype");
  const Tensor xc = input.contiguous(), wc = weight_ih.contiguous();
  const OptTensor bc = cont(bias);
  TORCH_CHECK(!defined(bc) || (bc->numel() == wc.size(0) && bc->scalar_type() == input.scalar_type()),
              "bias must have 4H entries of the input's dtype");
  TORCH_CHECK(h0.dim() == 2 && h0.size(0) == input.size(1) && h0.size(1) * 4 == wc.size(0),
              "state entries must be (B, H), got ", h0.sizes());
  SLSTMOutput res;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "slstm_infer", [&] {
    auto src = XSource<scalar_t>::project(xc, wc, bc, OptTensor(), OptTensor(), reverse, 0.0);
    res = sigmoid_forget ? slstm_forward_impl<scalar_t, true>(src, weight_hh, h0, c0, n0, m0, lengths, reverse, false)
                         : slstm_forward_impl<scalar_t, false>(src, weight_hh, h0, c0, n0, m0, lengths, reverse, false);
  });
  return res;
}

// Backpropagation through time of slstm_forward(save=True), from the gradients of its
// output (T, B, H) and final state, each (B, H).
SLSTMGrads slstm_backward(const Tensor& weight_hh, const Tensor& pre, const Tensor& hprev, const Tensor& cprev,
                          const Tensor& nprev, const Tensor& mprev, const Tensor& grad_output, const Tensor& grad_h_n,
                          const Tensor& grad_c_n, const Tensor& grad_n_n, const Tensor& grad_m_n,
                          const OptTensor& lengths, bool reverse, bool sigmoid_forget) {
  SLSTMGrads res;
  AT_DISPATCH_FLOATING_TYPES(pre.scalar_type(), "slstm_backward", [&] {
    res = sigmoid_forget ? slstm_backward_impl<scalar_t, true>(weight_hh, pre, hprev, cprev, nprev, mprev, grad_output,
                                                               grad_h_n, grad_c_n, grad_n_n, grad_m_n, lengths, reverse,
                                                               true)
                         : slstm_backward_impl<scalar_t, false>(weight_hh, pre, hprev, cprev, nprev, mprev, grad_output,
                                                                grad_h_n, grad_c_n, grad_n_n, grad_m_n, lengths, reverse,
                                                                false);
  });
  return res;
}

}  // namespace
}  // namespace lstmkit
