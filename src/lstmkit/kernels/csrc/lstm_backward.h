// LSTM family backward through time: the single-pass rows and the hand-written BPTT.

#pragma once

#include "lstm.h"
#include "projection.h"

namespace lstmkit {
namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

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

// One of the saved tensors the backward cannot do without.
inline const Tensor& required(const OptTensor& t, const char* name) {
  TORCH_CHECK(t.has_value() && t->defined(), "lstm_backward: saved.", name, " is missing");
  return *t;
}

// The backward through time. With weights.weight_ih (the few-inputs layer-norm path)
// saved.xw is x and the input gradient is dL/dx.
template <typename T>
LSTMGrads lstm_backward_impl(const Tensor& grad_out, const Tensor& grad_hT, const Tensor& grad_cT,
                             const OptTensor& grad_aT, const LSTMSaved& S, const LSTMWeights& W,
                             const OptTensor& lengths, bool reverse, const LSTMFlags& L,
                             const OptTensor& recurrent_mask, bool truncate_gradient, const LSTMZoneout& zo) {
  const Tensor &hprev = required(S.hprev, "hprev"), &cprev = required(S.cprev, "cprev"),
               &cT = required(S.c_n, "c_n"), &gates = required(S.gates, "gates"), &ys = required(S.ys, "ys");
  const OptTensor &aprev = S.aprev, &hh = S.hh, &rec_hat = S.rec_hat, &rec_rstd = S.rec_rstd, &c_hat = S.c_hat,
                  &c_rstd = S.c_rstd, &xw = S.xw, &x_mean = S.x_mean, &x_rstd = S.x_rstd;
  const Tensor& w_hh = W.weight_hh;
  const OptTensor &w_ch = W.weight_ch, &w_gg = W.weight_gg, &w_ln_hh = W.weight_ln_hh, &w_ln_c = W.weight_ln_c,
                  &b_ln_c = W.bias_ln_c, &w_hr = W.weight_hr;
  const OptTensor w_ln_ih = cont(W.weight_ln_ih), w_ih = cont(W.weight_ih);
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
  const bool masked = defined(recurrent_mask);
  if (masked) {
    TORCH_CHECK(recurrent_mask->dim() == 2 && recurrent_mask->size(0) == B && recurrent_mask->size(1) == Hout &&
                    recurrent_mask->is_contiguous() && recurrent_mask->scalar_type() == gates.scalar_type(),
                "recurrent_mask must be a contiguous (B, Hout) = (", B, ", ", Hout, ") tensor of the gates' dtype");
  }
  const T* pmask = masked ? recurrent_mask->data_ptr<T>() : nullptr;
  std::vector<T> dh_rec(masked ? B * Hout : 0);
  // Zoneout: the new state is n + w (o - n); its gradient splits into (1 - w) for the
  // computed n and w for the previous state o (passed straight back to step t - 1).
  const bool zh = zo.on_h(), zc = zo.on_c();
  auto zmask = [&](const OptTensor& m, int64_t n, const char* name) -> const T* {
    if (!(m.has_value() && m->defined())) return nullptr;
    TORCH_CHECK(m->dim() == 3 && m->size(0) == Tn && m->size(1) == B && m->size(2) == n && m->is_contiguous() &&
                    m->scalar_type() == gates.scalar_type(),
                name, " must be a contiguous (T, B, n) = (", Tn, ", ", B, ", ", n, ") mask of the gates' dtype");
    return m->data_ptr<T>();
  };
  const T* pzh = zmask(zo.h, Hout, "zoneout_h");
  const T* pzc = zmask(zo.c, H, "zoneout_c");
  const T rzh = static_cast<T>(zo.rate_h), rzc = static_cast<T>(zo.rate_c);
  TORCH_CHECK(!zc || defined(S.c_new), "zoneout of c needs saved.c_new");
  const T* pcnew = zc ? S.c_new->data_ptr<T>() : nullptr;
  std::vector<T> pass_h(zh ? B * Hout : 0), pass_c(zc ? B * H : 0);
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
    const T* c_new_base = zc ? pcnew + t * B * H : (k == Tn - 1) ? pcT : pcprev + tn * B * H;
    const bool all_valid = V.all(t);
    // dh of this step's output: carried gradient plus the output's own gradient.
    const T* go_t = pgo + t * B * Hout;
    for (int64_t b = 0; b < B; ++b) {
      T* dst = pdhr + b * Hout;
      if (V.row(b, t)) {
        const T* a = pdhc + b * Hout;
        const T* o = go_t + b * Hout;
        for (int64_t j = 0; j < Hout; ++j) dst[j] = a[j] + o[j];
        if (zh) {
          T* ph = pass_h.data() + b * Hout;
          const T* w = pzh ? pzh + (t * B + b) * Hout : nullptr;
          for (int64_t j = 0; j < Hout; ++j) {
            const T wj = w ? w[j] : rzh;
            ph[j] = wj * dst[j];
            dst[j] = (T(1) - wj) * dst[j];
          }
        }
        if (zc) {
          T* dcb = pdcc + b * H;
          T* pc = pass_c.data() + b * H;
          const T* w = pzc ? pzc + (t * B + b) * H : nullptr;
          for (int64_t j = 0; j < H; ++j) {
            const T wj = w ? w[j] : rzc;
            pc[j] = wj * dcb[j];
            dcb[j] = (T(1) - wj) * dcb[j];
          }
        }
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
    if (zh || zc) {  // the zoned-out share goes straight to the previous state
      for (int64_t b = 0; b < B; ++b) {
        if (!V.row(b, t)) continue;
        if (zh) {
          T* d = pdhc + b * Hout;
          const T* ph = pass_h.data() + b * Hout;
          for (int64_t j = 0; j < Hout; ++j) d[j] += ph[j];
        }
        if (zc) {
          T* d = pdcc + b * H;
          const T* pc = pass_c.data() + b * H;
          for (int64_t j = 0; j < H; ++j) d[j] += pc[j];
        }
      }
    }
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
    // The truncated gradient (1997) cuts this path: h_{t-1} enters the step detached.
    if (truncate_gradient) {
    } else if (masked) {
      mm_hh.run(pdrec + t * B * GH, dh_rec.data(), T(0));
      for (int64_t i = 0; i < B * Hout; ++i) pdhc[i] += pmask[i] * dh_rec[i];
    } else {
      mm_hh.run(pdrec + t * B * GH, pdhc, T(1));
    }
    if (L.fgr) mm_gg->run(pdA + t * B * QH, pdac, T(1));
  }

  const int64_t TB = Tn * B;
  const auto dtype = gates.scalar_type();
  LSTMGrads res;
  res.input = grad_xp;
  res.weight_hh = masked ? at::mm(dRec.view({TB, GH}).t(), (hprev * recurrent_mask->unsqueeze(0)).view({TB, Hout}))
                         : at::mm(dRec.view({TB, GH}).t(), hprev.view({TB, Hout}));
  if (L.peepholes) res.weight_ch = g_ch.to(dtype);
  if (L.fgr) res.weight_gg = at::mm(dA.view({TB, QH}).t(), aprev->view({TB, QH}));
  if (L.layer_norm) {
    res.weight_ln_hh = g_lnhh.to(dtype);
    res.weight_ln_c = g_lnc.to(dtype);
    if (defined(b_ln_c)) res.bias_ln_c = g_blnc.to(dtype);
  }
  if (proj) res.weight_hr = at::mm(dH.view({TB, Hout}).t(), hh->view({TB, H}));
  res.h0 = dh_carry;
  res.c0 = dc_carry;
  if (L.fgr) res.a0 = da_carry;
  if (xln) {
    res.weight_ln_ih = g_lnih.to(dtype);
    res.bias = g_bx.to(dtype);
  }
  if (xsmall) res.weight_ih = g_wih_t.t().contiguous().to(dtype);
  return res;
}

// Training: backpropagation through time of lstm_forward, from the gradients of its
// output and final states (grad_a_n: full gate recurrence only) and what it saved.
LSTMGrads lstm_backward_whole(const LSTMConfig& config, const LSTMWeights& weights, const LSTMSaved& saved,
                        const Tensor& grad_output, const Tensor& grad_h_n, const Tensor& grad_c_n,
                        const OptTensor& grad_a_n, const OptTensor& lengths, bool reverse,
                        const OptTensor& recurrent_mask, bool truncate_gradient, const LSTMZoneout& zoneout) {
  const LSTMFlags L = parse_flags(config);
  TORCH_CHECK(grad_output.is_contiguous() && grad_h_n.is_contiguous() && grad_c_n.is_contiguous(),
              "gradients must be contiguous");
  TORCH_CHECK(!L.fgr || defined(grad_a_n), "full gate recurrence needs grad_a_n");
  LSTMGrads res;
  AT_DISPATCH_FLOATING_TYPES(required(saved.gates, "gates").scalar_type(), "lstm_backward", [&] {
    res = lstm_backward_impl<scalar_t>(grad_output, grad_h_n, grad_c_n, grad_a_n, saved, weights, lengths, reverse,
                                       L, recurrent_mask, truncate_gradient, zoneout);
  });
  return res;
}

}  // namespace
}  // namespace lstmkit
