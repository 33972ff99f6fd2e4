// LSTM family forward: the single-pass rows, the time loop, training and inference entry points.

#pragma once

#include "lstm.h"
#include "projection.h"

namespace lstmkit {
namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

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

// ======================================================================================
// LSTM
// ======================================================================================
// The time loop. w_ln_ih, b_x and w_ih are the training input layer norm's (see
// lstm_forward); inference passes none of them (its XSource normalises the input).
template <typename T>
LSTMOutput lstm_forward_impl(XSource<T>& src, const LSTMWeights& W, const Tensor& h0, const Tensor& c0,
                             const OptTensor& a0, const OptTensor& lengths, bool reverse, const LSTMFlags& L,
                             bool save, const OptTensor& w_ln_ih = OptTensor(), const OptTensor& b_x = OptTensor(),
                             const OptTensor& w_ih = OptTensor(), const OptTensor& recurrent_mask = OptTensor(),
                             const LSTMZoneout& zo = LSTMZoneout()) {
  const Tensor& w_hh = W.weight_hh;
  const OptTensor &w_ch = W.weight_ch, &w_gg = W.weight_gg, &w_ln_hh = W.weight_ln_hh, &w_ln_c = W.weight_ln_c,
                  &b_ln_c = W.bias_ln_c, &w_hr = W.weight_hr;
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
  StepGemm<T> mm_hh(w_hh_c.data_ptr<T>(), true, B, GH, Hout, Tn, opt, !save);
  // Variational dropout (Gal & Ghahramani 2016): R (h_{t-1} * mask), one (B, Hout) mask for
  // every step; the state itself (held rows, the output) stays unmasked.
  const bool masked = defined(recurrent_mask);
  if (masked) {
    TORCH_CHECK(recurrent_mask->dim() == 2 && recurrent_mask->size(0) == B && recurrent_mask->size(1) == Hout &&
                    recurrent_mask->is_contiguous() && recurrent_mask->scalar_type() == h0.scalar_type(),
                "recurrent_mask must be a contiguous (B, Hout) = (", B, ", ", Hout, ") tensor of the state's dtype");
  }
  const T* pmask = masked ? recurrent_mask->data_ptr<T>() : nullptr;
  std::vector<T> hmasked(masked ? B * Hout : 0);
  const bool zh = zo.on_h(), zc = zo.on_c();
  auto zmask = [&](const OptTensor& m, int64_t n, const char* name) -> const T* {
    if (!(m.has_value() && m->defined())) return nullptr;
    TORCH_CHECK(m->dim() == 3 && m->size(0) == Tn && m->size(1) == B && m->size(2) == n && m->is_contiguous() &&
                    m->scalar_type() == h0.scalar_type(),
                name, " must be a contiguous (T, B, n) = (", Tn, ", ", B, ", ", n, ") mask of the state's dtype");
    return m->data_ptr<T>();
  };
  const T* pzh = zmask(zo.h, Hout, "zoneout_h");
  const T* pzc = zmask(zo.c, H, "zoneout_c");
  Tensor c_new = (zc && save) ? buffer({Tn, B, H}, opt) : Tensor();
  std::unique_ptr<StepGemm<T>> mm_gg, mm_hr;
  if (L.fgr) mm_gg.reset(new StepGemm<T>(w_gg_c.data_ptr<T>(), true, B, Q * H, Q * H, Tn, opt, !save));
  if (proj) mm_hr.reset(new StepGemm<T>(w_hr_c.data_ptr<T>(), true, B, Hout, H, Tn, opt, !save));

  for (int64_t k = 0; k < Tn; ++k) {
    const int64_t t = reverse ? Tn - 1 - k : k;
    const int64_t s = save ? t : 0;
    const T* php = hs.prev(k);
    T* phn = hs.next(k);
    const T* pcp = cs.prev(k);
    T* pcn = cs.next(k);
    if (masked) {
      for (int64_t i = 0; i < B * Hout; ++i) hmasked[i] = php[i] * pmask[i];
      mm_hh.run(hmasked.data(), prec, T(0));
    } else {
      mm_hh.run(php, prec, T(0));
    }
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
    // Zoneout of the valid rows (held rows keep their state; the output is the new h).
    if (zh || zc) {
      if (zc && save) std::memcpy(c_new.data_ptr<T>() + t * B * H, pcn, sizeof(T) * B * H);
      for (int64_t b = 0; b < B; ++b) {
        if (!V.row(b, t)) continue;
        if (zh) {
          T* hn = phn + b * Hout;
          const T* ho = php + b * Hout;
          if (pzh) {
            const T* w = pzh + (t * B + b) * Hout;
            for (int64_t j = 0; j < Hout; ++j) hn[j] = w[j] != T(0) ? ho[j] : hn[j];
          } else {
            const T r = static_cast<T>(zo.rate_h);
            for (int64_t j = 0; j < Hout; ++j) hn[j] = hn[j] + r * (ho[j] - hn[j]);
          }
          std::memcpy(pout_t + b * Hout, hn, sizeof(T) * Hout);
        }
        if (zc) {
          T* cn = pcn + b * H;
          const T* co = pcp + b * H;
          if (pzc) {
            const T* w = pzc + (t * B + b) * H;
            for (int64_t j = 0; j < H; ++j) cn[j] = w[j] != T(0) ? co[j] : cn[j];
          } else {
            const T r = static_cast<T>(zo.rate_c);
            for (int64_t j = 0; j < H; ++j) cn[j] = cn[j] + r * (co[j] - cn[j]);
          }
        }
      }
    }
  }
  LSTMOutput res;
  res.output = out;
  res.h_n = hs.final_;
  res.c_n = cs.final_;
  if (L.fgr) res.a_n = as.final_;
  if (save) {
    LSTMSaved& sv = res.saved;
    sv.hprev = hs.all;
    sv.cprev = cs.all;
    if (L.fgr) sv.aprev = as.all;
    sv.c_n = cs.final_;
    sv.gates = gates;
    sv.ys = ys;
    if (proj) sv.hh = hh;
    if (L.layer_norm) {
      sv.rec_hat = rec_hat;
      sv.rec_rstd = rec_rstd;
      sv.c_hat = c_hat;
      sv.c_rstd = c_rstd;
    }
    if (zc) sv.c_new = c_new;
    if (xln) {  // (xw, the input itself, is set by lstm_forward)
      sv.x_mean = x_mean;
      sv.x_rstd = x_rstd;
    }
  }
  return res;
}

// Training: the forward over time of a precomputed input, saving what lstm_backward needs.
// input is W x_t + b of every step (T, B, G*H), with these exceptions for layer norm:
// with weights.weight_ln_ih given, input is the raw W x_t and the kernel computes
// LN(W x_t) * weight_ln_ih + bias_ih itself (its mean and rstd saved); with weight_ih
// given too (few inputs), input is x itself (T, B, I) and W x_t is computed per row.
// recurrent_mask: optional (B, Hout) variational-dropout mask on h_{t-1} inside R h_{t-1}.
LSTMOutput lstm_forward_whole(const LSTMConfig& config, const LSTMWeights& weights, const Tensor& input, const Tensor& h0,
                        const Tensor& c0, const OptTensor& a0, const OptTensor& lengths, bool reverse,
                        const OptTensor& recurrent_mask, const LSTMZoneout& zoneout) {
  const Tensor& xp = input;
  TORCH_CHECK(xp.dim() == 3 && xp.is_contiguous(), "input must be a contiguous (T, B, G*H) tensor");
  const LSTMFlags L = parse_flags(config);
  const OptTensor& w_ih = weights.weight_ih;
  const OptTensor& w_ln_ih = L.layer_norm ? weights.weight_ln_ih : OptTensor();
  TORCH_CHECK(defined(w_ih) || xp.size(2) == L.G * L.H, "input has ", xp.size(2), " features, expected G*H = ",
              L.G * L.H);
  TORCH_CHECK(!defined(w_ih) || (L.layer_norm && defined(w_ln_ih)),
              "weight_ih is for the layer-norm input path only");
  TORCH_CHECK(!defined(weights.bias_hh), "lstm_forward takes the whole input bias as bias_ih (layer norm only)");
  TORCH_CHECK(!L.fgr || defined(a0), "full gate recurrence needs a0");
  LSTMOutput res;
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "lstm_forward", [&] {
    auto src = XSource<scalar_t>::precomputed(xp);
    res = lstm_forward_impl<scalar_t>(src, weights, h0, c0, a0, lengths, reverse, L, true, cont(w_ln_ih),
                                      defined(w_ln_ih) ? cont(weights.bias_ih) : OptTensor(), cont(w_ih),
                                      recurrent_mask, zoneout);
  });
  if (defined(w_ln_ih)) res.saved.xw = xp;
  return res;
}

// Inference: the input projection LN(W x_t) * g + b_ih + b_hh is computed inside, by chunks;
// nothing is saved. The states may also be (1, B, n); the final states then have that shape.
LSTMOutput lstm_infer_whole(const LSTMConfig& config, const LSTMWeights& weights, const Tensor& input, const Tensor& h0_,
                      const Tensor& c0_, const OptTensor& a0_, const OptTensor& lengths, bool reverse) {
  LSTMFlags L = parse_flags(config);
  const double eps = L.eps;
  L.state3d = h0_.dim() == 3;
  TORCH_CHECK(defined(weights.weight_ih), "lstm_infer needs weight_ih");
  const Tensor& w_ih_ = *weights.weight_ih;
  TORCH_CHECK(w_ih_.size(0) == L.G * L.H, "weight_ih has ", w_ih_.size(0), " rows, expected G*H = ", L.G * L.H);
  TORCH_CHECK(!L.fgr || defined(a0_), "full gate recurrence needs a0");
  // Any layout in: the element-wise code reads raw pointers (a no-op when contiguous).
  const Tensor x = input.contiguous(), w_ih = w_ih_.contiguous(), h0 = state_2d(h0_), c0 = state_2d(c0_);
  const OptTensor b_ih = cont(weights.bias_ih), b_hh = cont(weights.bias_hh), w_ln_ih = cont(weights.weight_ln_ih),
                  a0 = state_2d(a0_);
  LSTMWeights W;
  W.weight_hh = weights.weight_hh;
  W.weight_ch = cont(weights.weight_ch);
  W.weight_gg = weights.weight_gg;
  W.weight_ln_hh = cont(weights.weight_ln_hh);
  W.weight_ln_c = cont(weights.weight_ln_c);
  W.bias_ln_c = cont(weights.bias_ln_c);
  W.weight_hr = weights.weight_hr;
  LSTMOutput res;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_infer", [&] {
    auto src = XSource<scalar_t>::project(x, w_ih, b_ih, b_hh, L.layer_norm ? w_ln_ih : OptTensor(), reverse, eps);
    res = lstm_forward_impl<scalar_t>(src, W, h0, c0, a0, lengths, reverse, L, false);
  });
  return res;
}

}  // namespace
}  // namespace lstmkit
