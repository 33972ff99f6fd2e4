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
// BLAS call per head, h_{t-1} read in place (head k's d columns, leading dimension H),
// written to a head-major buffer G (B, N, 4d). Measured against at::bmm, which copies its
// strided operands and pays the dispatcher on every step, see docs/performance.md.
//
// Training saves, indexed by time t: the full pre-activations (T, B, N, 4d) (head-major)
// and the state entering each step (h, c, n, m), each (T, B, H). The backward recomputes
// the gates from them (a few exps per unit: cheaper than saving four more (T, B, H)
// buffers and reading them back).
//
// The max of eq. 15 is differentiated as torch.maximum is: the whole gradient to the larger
// argument, half to each on a tie (torch's derivative formula), so that the gradients are
// those of the reference loop under autograd.

#pragma once

#include "gemm.h"

#include <limits>

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

// C (col-major m x n, ldc) = op(A) (m x k) @ B (k x n) + beta C, with op = A^T when ta == 'T';
// BLAS when torch links one, else ATen on strided views.
template <typename T>
inline void slstm_gemm(char ta, int m, int n, int k, const T* a, int lda, const T* b, int ldb, T beta, T* c,
                       int ldc, const at::TensorOptions& opt) {
  if (have_blas()) {
    const char t[2] = {ta, 0};
    blas<T>(t, m, n, k, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // column-major (r x s) with leading dimension ld is the row-major (s x r) view with stride (ld, 1), transposed
  Tensor A = ta == 'T' ? at::from_blob(const_cast<T*>(a), {m, k}, {lda, 1}, opt)
                       : at::from_blob(const_cast<T*>(a), {k, m}, {lda, 1}, opt).t();
  Tensor Bm = at::from_blob(const_cast<T*>(b), {n, k}, {ldb, 1}, opt).t();
  Tensor C = at::from_blob(c, {n, m}, {ldc, 1}, opt).t();
  if (beta == T(0)) {
    C.copy_(at::mm(A, Bm));
  } else {
    C.add_(at::mm(A, Bm));
  }
}

template <typename T>
inline T slstm_logsigmoid(T x) {
  // torch's formula: min(x, 0) - log1p(exp(-|x|))
  return (x < T(0) ? x : T(0)) - std::log1p(std::exp(-std::abs(x)));
}

// G (B, N, 4d) = per head h_{t-1,k} (B x d, leading dim H) @ R_k^T (d x 4d).
template <typename T>
inline void slstm_recurrent(const T* R, const T* h, T* G, int64_t B, int64_t N, int64_t d,
                            const at::TensorOptions& opt) {
  const int64_t H = N * d;
  for (int64_t k = 0; k < N; ++k) {
    // column-major: G_k^T (4d x B) = R_k^T-as-col-major... R_k row-major (4d x d) is col-major (d x 4d): op = T
    slstm_gemm<T>('T', int(4 * d), int(B), int(d), R + k * 4 * d * d, int(d), h + k * d, int(H), T(0),
                  G + k * 4 * d, int(4 * H), opt);
  }
}

template <typename T>
SLSTMOutput slstm_forward_impl(const Tensor& xp_in, const Tensor& w_hh, const Tensor& h0_in, const Tensor& c0_in,
                               const Tensor& n0_in, const Tensor& m0_in, const OptTensor& lengths, bool reverse,
                               bool sigmoid_forget, bool save) {
  const Tensor xp = xp_in.contiguous();
  const int64_t Tn = xp.size(0), B = xp.size(1), H4 = xp.size(2), H = H4 / 4;
  const int64_t N = w_hh.size(0), d = w_hh.size(2);
  TORCH_CHECK(N * d == H && w_hh.size(1) == 4 && w_hh.size(3) == d, "weight_hh must be (N, 4, d, d) with N*d = H");
  const auto opt = xp.options();
  const Tensor R = w_hh.contiguous();
  const T* pR = R.data_ptr<T>();
  const Validity V = make_validity(lengths, Tn);
  auto hs = StateSeq<T>::make(h0_in.contiguous(), Tn, save, reverse);
  auto cs = StateSeq<T>::make(c0_in.contiguous(), Tn, save, reverse);
  auto ns = StateSeq<T>::make(n0_in.contiguous(), Tn, save, reverse);
  auto ms = StateSeq<T>::make(m0_in.contiguous(), Tn, save, reverse);
  Tensor out = at::empty({Tn, B, H}, opt);
  Tensor pre_all;
  Tensor G1;
  if (save) {
    pre_all = buffer({Tn, B, 4 * H}, opt);
  } else {
    G1 = at::empty({B, 4 * H}, opt);
  }
  const T* pxp = xp.data_ptr<T>();
  T* pout = out.data_ptr<T>();
  for (int64_t s = 0; s < Tn; ++s) {
    const int64_t t = reverse ? Tn - 1 - s : s;
    const T* hp = hs.prev(s);
    const T* cp = cs.prev(s);
    const T* np = ns.prev(s);
    const T* mp = ms.prev(s);
    T* hn = hs.next(s);
    T* cn = cs.next(s);
    T* nn = ns.next(s);
    T* mn = ms.next(s);
    T* G = save ? pre_all.data_ptr<T>() + t * B * 4 * H : G1.data_ptr<T>();
    slstm_recurrent<T>(pR, hp, G, B, N, d, opt);
    const T* x_t = pxp + t * B * 4 * H;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t o = b * H;
      T* y = pout + (t * B + b) * H;
      if (!V.row(b, t)) {
        std::memcpy(hn + o, hp + o, sizeof(T) * H);
        std::memcpy(cn + o, cp + o, sizeof(T) * H);
        std::memcpy(nn + o, np + o, sizeof(T) * H);
        std::memcpy(mn + o, mp + o, sizeof(T) * H);
        std::memset(y, 0, sizeof(T) * H);
        continue;
      }
      const T* xb = x_t + b * 4 * H;
      T* gb = G + b * 4 * H;
      for (int64_t k = 0; k < N; ++k) {
        T* gk = gb + k * 4 * d;  // (i, f, z, o) of head k, d each
        for (int64_t j = 0; j < d; ++j) {
          const int64_t u = k * d + j;
          const T ip = xb[u] + gk[j];
          const T fp = xb[H + u] + gk[d + j];
          const T zp = xb[2 * H + u] + gk[2 * d + j];
          const T op = xb[3 * H + u] + gk[3 * d + j];
          gk[j] = ip;
          gk[d + j] = fp;
          gk[2 * d + j] = zp;
          gk[3 * d + j] = op;
          const T z = M<T>::tanh(zp);
          const T og = M<T>::sigmoid(op);
          T m, is, fs;
          if (np[o + u] == T(0)) {
            m = ip;
            is = T(1);
            fs = T(0);
          } else {
            const T a = (sigmoid_forget ? slstm_logsigmoid<T>(fp) : fp) + mp[o + u];
            m = a > ip ? a : ip;
            is = exp_fast(ip - m);
            fs = exp_fast(a - m);
          }
          const T c = fs * cp[o + u] + is * z;
          const T n = fs * np[o + u] + is;
          const T h = og * (c / n);
          cn[o + u] = c;
          nn[o + u] = n;
          mn[o + u] = m;
          hn[o + u] = h;
          y[u] = h;
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

template <typename T>
SLSTMGrads slstm_backward_impl(const Tensor& w_hh, const Tensor& pre_all, const Tensor& hprev, const Tensor& cprev,
                               const Tensor& nprev, const Tensor& mprev, const Tensor& grad_out_in,
                               const Tensor& g_h, const Tensor& g_c, const Tensor& g_n, const Tensor& g_m,
                               const OptTensor& lengths, bool reverse, bool sigmoid_forget) {
  const int64_t Tn = pre_all.size(0), B = pre_all.size(1), H = pre_all.size(2) / 4;
  const int64_t N = w_hh.size(0), d = w_hh.size(2);
  const auto opt = pre_all.options();
  const Tensor R = w_hh.contiguous();
  const T* pR = R.data_ptr<T>();
  const Validity V = make_validity(lengths, Tn);
  const Tensor grad_out = grad_out_in.contiguous();
  Tensor dh = g_h.contiguous().clone(), dc = g_c.contiguous().clone(), dn = g_n.contiguous().clone(),
         dm = g_m.contiguous().clone();
  // dpre, head-major like pre (T, B, N, 4d): the per-step product and dR read it per head
  Tensor dpre = buffer({Tn, B, 4 * H}, opt);
  T* pdh = dh.data_ptr<T>();
  T* pdc = dc.data_ptr<T>();
  T* pdn = dn.data_ptr<T>();
  T* pdm = dm.data_ptr<T>();
  const T* pgo = grad_out.data_ptr<T>();
  const T* ppre = pre_all.data_ptr<T>();
  const T* php = hprev.data_ptr<T>();
  const T* pcp = cprev.data_ptr<T>();
  const T* pnp = nprev.data_ptr<T>();
  const T* pmp = mprev.data_ptr<T>();
  T* pdpre = dpre.data_ptr<T>();
  for (int64_t s = Tn - 1; s >= 0; --s) {
    const int64_t t = reverse ? Tn - 1 - s : s;
    T* dpt = pdpre + t * B * 4 * H;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t o = b * H;
      T* dpb = dpt + b * 4 * H;
      if (!V.row(b, t)) {
        std::memset(dpb, 0, sizeof(T) * 4 * H);
        continue;  // the state is held: its gradient passes through unchanged
      }
      const int64_t ts = (t * B + b) * H;
      const T* pb = ppre + (t * B + b) * 4 * H;
      const T* go = pgo + ts;
      for (int64_t k = 0; k < N; ++k) {
        const T* pk = pb + k * 4 * d;
        T* dk = dpb + k * 4 * d;
        for (int64_t j = 0; j < d; ++j) {
          const int64_t u = k * d + j;
          const T ip = pk[j], fp = pk[d + j], zp = pk[2 * d + j], op = pk[3 * d + j];
          const T c_prev = pcp[ts + u], n_prev = pnp[ts + u], m_prev = pmp[ts + u];
          const T z = M<T>::tanh(zp);
          const T og = M<T>::sigmoid(op);
          const bool empty = n_prev == T(0);
          T a = T(0), m, is, fs;
          if (empty) {
            m = ip;
            is = T(1);
            fs = T(0);
          } else {
            a = (sigmoid_forget ? slstm_logsigmoid<T>(fp) : fp) + m_prev;
            m = a > ip ? a : ip;
            is = exp_fast(ip - m);
            fs = exp_fast(a - m);
          }
          const T c = fs * c_prev + is * z;
          const T n = fs * n_prev + is;
          const T hh = c / n;
          // h = o * c / n
          const T gh = pdh[o + u] + go[u];
          const T d_o = gh * hh;
          T gc = pdc[o + u] + gh * og / n;
          T gn = pdn[o + u] - gh * og * hh / n;
          // c = f' c_prev + i' z, n = f' n_prev + i'
          const T dfs = gc * c_prev + gn * n_prev;
          const T dis = gc * z + gn;
          const T dz = gc * is;
          // i' = exp(i~ - m), f' = exp(a - m)
          const T ei = dis * is, ef = dfs * fs;
          T di = ei, da = ef;
          const T gm = pdm[o + u] - ei - ef;
          // m = max(a, i~): torch.maximum's derivative (a tie halves it)
          if (empty || a < ip) {
            di += gm;
          } else if (a > ip) {
            da += gm;
          } else {
            di += gm / T(2);
            da += gm / T(2);
          }
          T df;
          if (empty) {
            df = T(0);  // f' = 0 whatever f~ is: exp(-inf)'s derivative is 0
            da = T(0);
          } else {
            df = sigmoid_forget ? da * M<T>::sigmoid(-fp) : da;
          }
          dk[j] = di;
          dk[d + j] = df;
          dk[2 * d + j] = dz * (T(1) - z * z);
          dk[3 * d + j] = d_o * og * (T(1) - og);
          pdc[o + u] = gc * fs;
          pdn[o + u] = gn * fs;
          pdm[o + u] = empty ? T(0) : da;
          pdh[o + u] = T(0);  // filled below by R^T dpre
        }
      }
    }
    // dh_{t-1} += per head dpre_k (B x 4d) @ R_k (4d x d); invalid rows add zeros
    for (int64_t k = 0; k < N; ++k) {
      slstm_gemm<T>('N', int(d), int(B), int(4 * d), pR + k * 4 * d * d, int(d), dpt + k * 4 * d, int(4 * H), T(1),
                    pdh + k * d, int(H), opt);
    }
  }
  // dR_k = sum over (t, b) of dpre_k^T (4d) h_k (d): one batched product over heads
  const int64_t TB = Tn * B;
  Tensor dp3 = dpre.view({TB, N, 4 * d}).permute({1, 2, 0});  // (N, 4d, TB)
  Tensor h3 = hprev.view({TB, N, d}).permute({1, 0, 2});      // (N, TB, d)
  Tensor g_w = at::bmm(dp3, h3).view({N, 4, d, d});
  // dxp in xp's layout (T, B, 4H) gate-major: (T, B, N, 4, d) -> (T, B, 4, N, d)
  Tensor g_x = dpre.view({Tn, B, N, 4, d}).permute({0, 1, 3, 2, 4}).contiguous().view({Tn, B, 4 * H});
  SLSTMGrads r;
  r.input = g_x;
  r.weight_hh = g_w;
  r.h0 = dh;
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
  SLSTMOutput res;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "slstm_forward", [&] {
    res = slstm_forward_impl<scalar_t>(input, weight_hh, h0, c0, n0, m0, lengths, reverse, sigmoid_forget, save);
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
    res = slstm_backward_impl<scalar_t>(weight_hh, pre, hprev, cprev, nprev, mprev, grad_output, grad_h_n, grad_c_n,
                                        grad_n_n, grad_m_n, lengths, reverse, sigmoid_forget);
  });
  return res;
}

}  // namespace
}  // namespace lstmkit
