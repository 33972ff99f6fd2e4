// The LSTM family's configuration, weights, saved activations, outputs and gradients.

#pragma once

#include "common.h"

#include <utility>
#include <vector>

namespace lstmkit {
namespace {

using at::Tensor;
using OptTensor = c10::optional<Tensor>;

// ---- what Python passes (kernels/fused.py builds these by name) ----------------------

// The variant's switches and sizes: fixed per cell, built once per (variant, hidden size).
// The switches are those of lstmkit.variants.LSTMVariant: forget_gate is a forget gate
// with its own pre-activation block (false for CIFG, whose f = 1 - i: coupled).
struct LSTMConfig {
  bool input_gate = true;
  bool forget_gate = true;
  bool coupled = false;  // CIFG: f = 1 - i
  bool output_gate = true;
  bool peepholes = false;
  bool input_tanh = true;   // the cell input g = tanh(.), else the identity
  bool output_tanh = true;  // h = tanh(c) * o, else c * o
  bool full_gate_recurrence = false;
  bool layer_norm = false;
  int64_t hidden_size = 0;
  double eps = 1e-5;  // the layer norms' epsilon
};

// The cell's parameters by the cell spec's short names (lstmkit.cells.LSTMCellSpec);
// absent ones are empty. weight_ih (and the biases) are read only where the kernel
// projects the input itself: inference, and the layer-norm training path with few inputs.
// In layer-norm training bias_ih carries the whole input bias (b_ih + b_hh), added after
// the input's layer norm.
struct LSTMWeights {
  OptTensor weight_ih, bias_ih, bias_hh, weight_ln_ih;
  Tensor weight_hh;
  OptTensor weight_ch, weight_gg, weight_ln_hh, weight_ln_c, bias_ln_c, weight_hr;
};

// Zoneout (Krueger et al. 2016) of h and c: the new state is n + w (o - n) for the computed
// n and the previous o. Training: w is a per-step 0/1 keep mask (T, B, n), indexed by time
// (the new state is then o where w = 1, else n); evaluation: w = rate (mask absent).
struct LSTMZoneout {
  OptTensor h, c;
  double rate_h = 0, rate_c = 0;
  bool on_h() const { return (h.has_value() && h->defined()) || rate_h > 0; }
  bool on_c() const { return (c.has_value() && c->defined()) || rate_c > 0; }
};

// What the training forward saves for the backward (empty where the variant has none).
// Per-step entries are (T, B, n), indexed by time t (not processing order).
struct LSTMSaved {
  OptTensor hprev, cprev, aprev;  // the state entering each step
  OptTensor c_n;                  // the final cell state
  OptTensor gates;                // the gate activations (T, B, G*H)
  OptTensor ys;                   // the output activation y (h = y * o)
  OptTensor hh;                   // the projection's input (LSTMP)
  OptTensor rec_hat, rec_rstd;    // layer norm of R h_{t-1}: normalised rows and 1/std
  OptTensor c_hat, c_rstd;        // layer norm of c_t
  OptTensor xw, x_mean, x_rstd;   // the input's layer norm: its input (W x_t, or x) and statistics
  OptTensor c_new;                // zoneout of c: the computed c_t of each step (before zoneout)
};

// The names of LSTMSaved's fields, in one place (Python saves and restores them by name).
inline const std::vector<std::pair<const char*, OptTensor LSTMSaved::*>>& lstm_saved_fields() {
  static const std::vector<std::pair<const char*, OptTensor LSTMSaved::*>> f = {
      {"hprev", &LSTMSaved::hprev}, {"cprev", &LSTMSaved::cprev},     {"aprev", &LSTMSaved::aprev},
      {"c_n", &LSTMSaved::c_n},     {"gates", &LSTMSaved::gates},     {"ys", &LSTMSaved::ys},
      {"hh", &LSTMSaved::hh},       {"rec_hat", &LSTMSaved::rec_hat}, {"rec_rstd", &LSTMSaved::rec_rstd},
      {"c_hat", &LSTMSaved::c_hat}, {"c_rstd", &LSTMSaved::c_rstd},   {"xw", &LSTMSaved::xw},
      {"x_mean", &LSTMSaved::x_mean}, {"x_rstd", &LSTMSaved::x_rstd}, {"c_new", &LSTMSaved::c_new},
  };
  return f;
}

// The forward's result: the output (T, B, Hout), the final states (a_n: full gate
// recurrence only) and, in training, what the backward needs.
struct LSTMOutput {
  Tensor output, h_n, c_n;
  OptTensor a_n;
  LSTMSaved saved;
};

// The backward's result, by the name of what each is the gradient of (empty where absent).
// input: of the forward's input (W x_t + b; with the input layer norm W x_t, or x itself
// when weight_ih was given); bias: of the input bias added after the input layer norm.
struct LSTMGrads {
  Tensor input, weight_hh, h0, c0;
  OptTensor weight_ch, weight_gg, weight_ln_hh, weight_ln_c, bias_ln_c, weight_hr, a0, weight_ln_ih, bias,
      weight_ih;
};

// ---- the kernel's view of a config ----------------------------------------------------

// The variant's switches and its gate layout, derived from an LSTMConfig per call.
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

LSTMFlags parse_flags(const LSTMConfig& c) {
  TORCH_CHECK(c.hidden_size > 0, "hidden_size must be positive, got ", c.hidden_size);
  LSTMFlags L;
  L.input_gate = c.input_gate;
  L.own_forget = c.forget_gate;
  L.cifg = c.coupled;
  L.output_gate = c.output_gate;
  L.peepholes = c.peepholes;
  L.tanh_g = c.input_tanh;
  L.tanh_h = c.output_tanh;
  L.fgr = c.full_gate_recurrence;
  L.layer_norm = c.layer_norm;
  L.H = c.hidden_size;
  L.eps = c.eps;
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

}  // namespace
}  // namespace lstmkit
