// Elman RNN (tanh or relu): forward, inference and backward through time.

#pragma once

#include "projection.h"

namespace lstmkit {
namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

// The forward's result: the output (T, B, H), the final state and, in training, the state
// entering each step (hprev).
struct ElmanOutput {
  Tensor output, h_n;
  OptTensor hprev;
};

// The backward's result, by the name of what each is the gradient of.
struct ElmanGrads {
  Tensor input, weight_hh, h0;
};

// ======================================================================================
// Elman: h = phi(xp + h R^T), phi in {tanh, relu}
// ======================================================================================
template <typename T>
ElmanOutput elman_forward_impl(XSource<T>& src, const Tensor& w_hh, const Tensor& h0,
                                       const OptTensor& lengths, bool reverse, bool relu, bool save) {
  const int64_t Tn = src.Tn, B = src.B, H = h0.size(1);
  const auto opt = h0.options();
  const Validity V = make_validity(lengths, Tn);
  Tensor out = at::empty({Tn, B, H}, opt);
  auto hs = StateSeq<T>::make(h0, Tn, save, reverse);
  Tensor rec = at::empty({B, H}, opt);
  const Tensor w_hh_c = w_hh.contiguous();
  StepGemm<T> mm_hh(w_hh_c.data_ptr<T>(), true, B, H, H, Tn, opt, !save);
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
  ElmanOutput res;
  res.output = out;
  res.h_n = hs.final_;
  if (save) res.hprev = hs.all;
  return res;
}

template <typename T>
ElmanGrads elman_backward_impl(const Tensor& grad_out, const Tensor& grad_hT, const Tensor& hprev,
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
  ElmanGrads res;
  res.input = grad_xp;
  res.weight_hh = g_whh;
  res.h0 = dh_carry;
  return res;
}

// Training: the forward over time of a precomputed input (W x_t + b_ih + b_hh, (T, B, H)).
ElmanOutput elman_forward_whole(const Tensor& input, const Tensor& weight_hh, const Tensor& h0, const OptTensor& lengths,
                          bool reverse, bool relu) {
  TORCH_CHECK(input.dim() == 3 && input.is_contiguous(), "input must be a contiguous (T, B, H) tensor");
  ElmanOutput res;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "elman_forward", [&] {
    auto src = XSource<scalar_t>::precomputed(input);
    res = elman_forward_impl<scalar_t>(src, weight_hh, h0, lengths, reverse, relu, true);
  });
  return res;
}

// Inference: the input projection and the time loop; nothing is saved. The state may be
// (1, B, H); the final state then has that shape.
ElmanOutput elman_infer_whole(const Tensor& input, const Tensor& weight_ih, const OptTensor& bias_ih,
                        const OptTensor& bias_hh, const Tensor& weight_hh, const Tensor& h0,
                        const OptTensor& lengths, bool reverse, bool relu) {
  const Tensor xc = input.contiguous(), w_ihc = weight_ih.contiguous(), h0c = state_2d(h0);
  const OptTensor b_ihc = cont(bias_ih), b_hhc = cont(bias_hh);
  ElmanOutput res;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "elman_infer", [&] {
    auto src = XSource<scalar_t>::project(xc, w_ihc, b_ihc, b_hhc, OptTensor(), reverse, 0.0);
    res = elman_forward_impl<scalar_t>(src, weight_hh, h0c, lengths, reverse, relu, false);
  });
  if (h0.dim() == 3) res.h_n = state_3d(res.h_n);
  return res;
}

// Training: backpropagation through time of elman_forward, from the gradients of its output
// and final state, its output and the states it saved.
ElmanGrads elman_backward_whole(const Tensor& grad_output, const Tensor& grad_h_n, const Tensor& hprev,
                          const Tensor& output, const Tensor& weight_hh, const OptTensor& lengths, bool reverse,
                          bool relu) {
  ElmanGrads res;
  AT_DISPATCH_FLOATING_TYPES(output.scalar_type(), "elman_backward", [&] {
    res = elman_backward_impl<scalar_t>(grad_output, grad_h_n, hprev, output, weight_hh, lengths, reverse, relu);
  });
  return res;
}

}  // namespace
}  // namespace lstmkit
