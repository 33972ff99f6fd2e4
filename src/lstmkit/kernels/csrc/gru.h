// GRU (torch.nn.GRU's form): forward, inference and backward through time.

#pragma once

#include "projection.h"

namespace lstmkit {
namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

// The forward's result: the output (T, B, H), the final state and, in training, what the
// backward needs (hprev: the state entering each step; gates: r, u, n; hn: R_n h + b_hn).
struct GRUOutput {
  Tensor output, h_n;
  OptTensor hprev, gates, hn;
};

// The backward's result, by the name of what each is the gradient of (bias_hh: if it exists).
struct GRUGrads {
  Tensor input, weight_hh, h0;
  OptTensor bias_hh;
};

// ======================================================================================
// GRU (torch.nn.GRU's form): r, u = sigma(xp + h R^T + b_hh); n = tanh(xp_n + r * (R_n h + b_hn))
// ======================================================================================
template <typename T>
GRUOutput gru_forward_impl(XSource<T>& src, const Tensor& w_hh, const OptTensor& b_hh,
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
  StepGemm<T> mm_hh(w_hh_c.data_ptr<T>(), true, B, H3, H, Tn, opt, !save);
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
  GRUOutput res;
  res.output = out;
  res.h_n = hs.final_;
  if (save) {
    res.hprev = hs.all;
    res.gates = gates;
    res.hn = hn;
  }
  return res;
}

template <typename T>
GRUGrads gru_backward_impl(const Tensor& grad_out, const Tensor& grad_hT, const Tensor& hprev,
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
  GRUGrads res;
  res.input = grad_xp;
  res.weight_hh = g_whh;
  if (has_bias) res.bias_hh = dHP.view({TB, H3}).sum(0);
  res.h0 = dh_carry;
  return res;
}

// Training: the forward over time of a precomputed input (W x_t + b_ih of every step, (T, B, 3H)).
GRUOutput gru_forward_whole(const Tensor& input, const Tensor& weight_hh, const OptTensor& bias_hh, const Tensor& h0,
                      const OptTensor& lengths, bool reverse) {
  TORCH_CHECK(input.dim() == 3 && input.is_contiguous(), "input must be a contiguous (T, B, 3H) tensor");
  GRUOutput res;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "gru_forward", [&] {
    auto src = XSource<scalar_t>::precomputed(input);
    res = gru_forward_impl<scalar_t>(src, weight_hh, bias_hh, h0, lengths, reverse, true);
  });
  return res;
}

// Inference: the input projection and the time loop; nothing is saved. The state may be
// (1, B, H); the final state then has that shape.
GRUOutput gru_infer_whole(const Tensor& input, const Tensor& weight_ih, const OptTensor& bias_ih, const Tensor& weight_hh,
                    const OptTensor& bias_hh, const Tensor& h0, const OptTensor& lengths, bool reverse) {
  // Contiguous copies held here: XSource keeps raw pointers into them.
  const Tensor xc = input.contiguous(), w_ihc = weight_ih.contiguous(), h0c = state_2d(h0);
  const OptTensor b_ihc = cont(bias_ih), b_hhc = cont(bias_hh);
  GRUOutput res;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "gru_infer", [&] {
    auto src = XSource<scalar_t>::project(xc, w_ihc, b_ihc, OptTensor(), OptTensor(), reverse, 0.0);
    res = gru_forward_impl<scalar_t>(src, weight_hh, b_hhc, h0c, lengths, reverse, false);
  });
  if (h0.dim() == 3) res.h_n = state_3d(res.h_n);
  return res;
}

// Training: backpropagation through time of gru_forward, from the gradients of its output
// and final state and what it saved.
GRUGrads gru_backward_whole(const Tensor& grad_output, const Tensor& grad_h_n, const Tensor& hprev, const Tensor& gates,
                      const Tensor& hn, const Tensor& weight_hh, bool has_bias, const OptTensor& lengths,
                      bool reverse) {
  GRUGrads res;
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_backward", [&] {
    res = gru_backward_impl<scalar_t>(grad_output, grad_h_n, hprev, gates, hn, weight_hh, has_bias, lengths, reverse);
  });
  return res;
}

}  // namespace
}  // namespace lstmkit
