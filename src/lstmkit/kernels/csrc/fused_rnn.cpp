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
//
// The sources, one job each (all under namespace lstmkit, internal linkage):
//   buffer_cache.h   the cache of large per-call buffers (an allocator)
//   common.h         element-wise math, optional-tensor helpers, row validity, state storage
//   gemm.h           matrix products: the BLAS shim, our packed AVX2 GEMM, StepGemm
//   layer_norm.h     layer norm of one row, forward and backward
//   projection.h     the input projection of each step (XSource)
//   lstm.h           the LSTM's named structs: LSTMConfig, LSTMWeights, LSTMSaved, LSTMOutput, LSTMGrads
//   lstm_forward.h   LSTM forward and inference; lstm_backward.h: LSTM backward through time
//   gru.h, elman.h   the GRU and the Elman RNN
//   slstm.h          the sLSTM (xLSTM): forward and backward through time
//   fused_rnn.cpp    this file: the Python bindings
// They form ONE translation unit (this file includes them; kernels/_build.py compiles only
// this file, and its build key hashes every file in csrc/): the compiler sees the whole
// program as before the split, so inlining across the files and the generated code stay as
// they were, and torch's headers are parsed once (a build takes ~40-140 s on 2 cores; each
// further translation unit would parse them again).

#include "lstm_forward.h"
#include "lstm_backward.h"
#include "gru.h"
#include "elman.h"
#include "slstm.h"
#include "batch_split.h"

#include <sstream>
#include <string>
#include <vector>

namespace py = pybind11;

namespace lstmkit {
namespace {

// a @ b into a cached buffer: the training input projection W x_t of all steps.
Tensor buffer_mm(const Tensor& a, const Tensor& b) {
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0), "buffer_mm needs (m, k) @ (k, n)");
  Tensor c = buffer({a.size(0), b.size(1)}, a.options());
  at::mm_out(c, a, b);
  return c;
}

// ---- prepared inference calls ------------------------------------------------------------
// A module's parameter names for each weight of a cell (by the cell spec's short names),
// looked up in its parameter dict on every call: the modules' per-call inference path pays
// a few dictionary look-ups here instead of building an LSTMWeights from keywords in Python
// (measured ~1.2 us of a ~18 us streaming step).
struct ParamNames {
  std::vector<py::object> keys;  // per field: the module's parameter name, or None (absent)

  ParamNames(const std::vector<const char*>& fields, const py::dict& names) {
    for (const auto& item : names) {
      const std::string k = py::cast<std::string>(item.first);
      bool known = false;
      for (const char* f : fields) known = known || k == f;
      if (!known) throw py::type_error("names: unknown parameter " + k);
    }
    for (const char* f : fields) {
      py::object v = names.contains(f) ? py::reinterpret_borrow<py::object>(names[f]) : py::none();
      if (!v.is_none() && !py::isinstance<py::str>(v)) throw py::type_error(std::string("names[") + f + "] must be a str");
      keys.push_back(v);
    }
  }

  // The tensor params[keys[i]]: absent when the name is None, not in the dict, or None there.
  OptTensor get(const py::dict& params, size_t i) const {
    PyObject* k = keys[i].ptr();
    if (k == Py_None) return OptTensor();
    PyObject* v = PyDict_GetItemWithError(params.ptr(), k);
    if (v == nullptr) {
      if (PyErr_Occurred()) throw py::error_already_set();
      return OptTensor();
    }
    if (v == Py_None) return OptTensor();
    return py::cast<Tensor>(py::handle(v));
  }
};

const std::vector<const char*> kLSTMParams = {"weight_ih", "bias_ih",     "bias_hh",     "weight_ln_ih",
                                              "weight_hh", "weight_ch",   "weight_gg",   "weight_ln_hh",
                                              "weight_ln_c", "bias_ln_c", "weight_hr"};
const std::vector<const char*> kGRUParams = {"weight_ih", "bias_ih", "weight_hh", "bias_hh"};
const std::vector<const char*> kElmanParams = {"weight_ih", "bias_ih", "bias_hh", "weight_hh"};

inline Tensor required_param(const OptTensor& t, const char* name) {
  if (!t.has_value() || !t->defined()) throw py::value_error(std::string("params has no ") + name);
  return *t;
}

// lstm_infer of one (layer, direction): call(params, input, state, reverse, lengths) ->
// (output, (h_n, c_n)) (with a_n as a third state entry for full gate recurrence).
struct LSTMInfer {
  LSTMConfig config;
  ParamNames names;
  py::tuple call(const py::dict& params, const Tensor& input, const py::sequence& state, bool reverse,
                 const OptTensor& lengths) const {
    LSTMWeights w;
    w.weight_ih = names.get(params, 0);
    w.bias_ih = names.get(params, 1);
    w.bias_hh = names.get(params, 2);
    w.weight_ln_ih = names.get(params, 3);
    w.weight_hh = required_param(names.get(params, 4), "weight_hh");
    w.weight_ch = names.get(params, 5);
    w.weight_gg = names.get(params, 6);
    w.weight_ln_hh = names.get(params, 7);
    w.weight_ln_c = names.get(params, 8);
    w.bias_ln_c = names.get(params, 9);
    w.weight_hr = names.get(params, 10);
    const bool fgr = config.full_gate_recurrence;
    const Tensor h0 = py::cast<Tensor>(state[0]), c0 = py::cast<Tensor>(state[1]);
    const OptTensor a0 = fgr ? OptTensor(py::cast<Tensor>(state[2])) : OptTensor();
    LSTMOutput r = lstm_infer(config, w, input, h0, c0, a0, lengths, reverse);
    if (fgr) return py::make_tuple(r.output, py::make_tuple(r.h_n, r.c_n, *r.a_n));
    return py::make_tuple(r.output, py::make_tuple(r.h_n, r.c_n));
  }
};

// gru_infer of one (layer, direction): call(params, input, state, reverse, lengths) -> (output, (h_n,)).
struct GRUInfer {
  ParamNames names;
  py::tuple call(const py::dict& params, const Tensor& input, const py::sequence& state, bool reverse,
                 const OptTensor& lengths) const {
    GRUOutput r = gru_infer(input, required_param(names.get(params, 0), "weight_ih"), names.get(params, 1),
                            required_param(names.get(params, 2), "weight_hh"), names.get(params, 3),
                            py::cast<Tensor>(state[0]), lengths, reverse);
    return py::make_tuple(r.output, py::make_tuple(r.h_n));
  }
};

// elman_infer of one (layer, direction): call(params, input, state, reverse, lengths) -> (output, (h_n,)).
struct ElmanInfer {
  ParamNames names;
  bool relu = false;
  py::tuple call(const py::dict& params, const Tensor& input, const py::sequence& state, bool reverse,
                 const OptTensor& lengths) const {
    ElmanOutput r = elman_infer(input, required_param(names.get(params, 0), "weight_ih"), names.get(params, 1),
                                names.get(params, 2), required_param(names.get(params, 3), "weight_hh"),
                                py::cast<Tensor>(state[0]), lengths, reverse, relu);
    return py::make_tuple(r.output, py::make_tuple(r.h_n));
  }
};

LSTMConfig make_config(bool input_gate, bool forget_gate, bool coupled, bool output_gate, bool peepholes,
                       bool input_tanh, bool output_tanh, bool full_gate_recurrence, bool layer_norm,
                       int64_t hidden_size, double eps) {
  if (hidden_size <= 0) throw py::value_error("hidden_size must be positive, got " + std::to_string(hidden_size));
  if (!(eps > 0)) throw py::value_error("eps must be positive, got " + std::to_string(eps));
  if (coupled && (forget_gate || !input_gate))
    throw py::value_error("coupled (f = 1 - i) needs input_gate=True and forget_gate=False");
  LSTMConfig c;
  c.input_gate = input_gate;
  c.forget_gate = forget_gate;
  c.coupled = coupled;
  c.output_gate = output_gate;
  c.peepholes = peepholes;
  c.input_tanh = input_tanh;
  c.output_tanh = output_tanh;
  c.full_gate_recurrence = full_gate_recurrence;
  c.layer_norm = layer_norm;
  c.hidden_size = hidden_size;
  c.eps = eps;
  return c;
}

std::string config_repr(const LSTMConfig& c) {
  std::ostringstream o;
  auto b = [](bool v) { return v ? "True" : "False"; };
  o << "LSTMConfig(input_gate=" << b(c.input_gate) << ", forget_gate=" << b(c.forget_gate)
    << ", coupled=" << b(c.coupled) << ", output_gate=" << b(c.output_gate) << ", peepholes=" << b(c.peepholes)
    << ", input_tanh=" << b(c.input_tanh) << ", output_tanh=" << b(c.output_tanh)
    << ", full_gate_recurrence=" << b(c.full_gate_recurrence) << ", layer_norm=" << b(c.layer_norm)
    << ", hidden_size=" << c.hidden_size << ", eps=" << c.eps << ")";
  return o.str();
}

}  // namespace
}  // namespace lstmkit

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  using namespace lstmkit;
  m.doc() = "lstmkit fused CPU time loops (forward and hand-written BPTT backward)";
  const auto none = py::none();

  // ---- LSTM ----------------------------------------------------------------------------
  py::class_<LSTMConfig>(m, "LSTMConfig", "An LSTM variant's switches and sizes (kernels/fused.py: lstm_flags)")
      .def(py::init(&make_config), py::kw_only(), py::arg("input_gate"), py::arg("forget_gate"), py::arg("coupled"),
           py::arg("output_gate"), py::arg("peepholes"), py::arg("input_tanh"), py::arg("output_tanh"),
           py::arg("full_gate_recurrence"), py::arg("layer_norm"), py::arg("hidden_size"), py::arg("eps"))
      .def_readonly("input_gate", &LSTMConfig::input_gate)
      .def_readonly("forget_gate", &LSTMConfig::forget_gate)
      .def_readonly("coupled", &LSTMConfig::coupled)
      .def_readonly("output_gate", &LSTMConfig::output_gate)
      .def_readonly("peepholes", &LSTMConfig::peepholes)
      .def_readonly("input_tanh", &LSTMConfig::input_tanh)
      .def_readonly("output_tanh", &LSTMConfig::output_tanh)
      .def_readonly("full_gate_recurrence", &LSTMConfig::full_gate_recurrence)
      .def_readonly("layer_norm", &LSTMConfig::layer_norm)
      .def_readonly("hidden_size", &LSTMConfig::hidden_size)
      .def_readonly("eps", &LSTMConfig::eps)
      .def("__repr__", &config_repr);

  py::class_<LSTMWeights>(m, "LSTMWeights", "An LSTM cell's parameters by the cell spec's short names")
      .def(py::init([](const OptTensor& weight_ih, const OptTensor& bias_ih, const OptTensor& bias_hh,
                       const OptTensor& weight_ln_ih, const Tensor& weight_hh, const OptTensor& weight_ch,
                       const OptTensor& weight_gg, const OptTensor& weight_ln_hh, const OptTensor& weight_ln_c,
                       const OptTensor& bias_ln_c, const OptTensor& weight_hr) {
             return LSTMWeights{weight_ih, bias_ih,      bias_hh,     weight_ln_ih, weight_hh, weight_ch,
                                weight_gg, weight_ln_hh, weight_ln_c, bias_ln_c,    weight_hr};
           }),
           py::kw_only(), py::arg("weight_ih") = none, py::arg("bias_ih") = none, py::arg("bias_hh") = none,
           py::arg("weight_ln_ih") = none, py::arg("weight_hh"), py::arg("weight_ch") = none,
           py::arg("weight_gg") = none, py::arg("weight_ln_hh") = none, py::arg("weight_ln_c") = none,
           py::arg("bias_ln_c") = none, py::arg("weight_hr") = none)
      .def_readonly("weight_ih", &LSTMWeights::weight_ih)
      .def_readonly("bias_ih", &LSTMWeights::bias_ih)
      .def_readonly("bias_hh", &LSTMWeights::bias_hh)
      .def_readonly("weight_ln_ih", &LSTMWeights::weight_ln_ih)
      .def_readonly("weight_hh", &LSTMWeights::weight_hh)
      .def_readonly("weight_ch", &LSTMWeights::weight_ch)
      .def_readonly("weight_gg", &LSTMWeights::weight_gg)
      .def_readonly("weight_ln_hh", &LSTMWeights::weight_ln_hh)
      .def_readonly("weight_ln_c", &LSTMWeights::weight_ln_c)
      .def_readonly("bias_ln_c", &LSTMWeights::bias_ln_c)
      .def_readonly("weight_hr", &LSTMWeights::weight_hr);

  auto saved = py::class_<LSTMSaved>(m, "LSTMSaved", "What the LSTM training forward saves for its backward");
  saved.def(py::init([](const py::kwargs& kw) {
    LSTMSaved s;
    for (const auto& item : kw) {
      const std::string name = py::cast<std::string>(item.first);
      bool found = false;
      for (const auto& f : lstm_saved_fields()) {
        if (name == f.first) {
          s.*(f.second) = py::cast<OptTensor>(item.second);
          found = true;
          break;
        }
      }
      if (!found) throw py::type_error("LSTMSaved has no field " + name);
    }
    return s;
  }));
  py::list saved_names;
  for (const auto& f : lstm_saved_fields()) {
    const auto member = f.second;
    saved.def_property_readonly(f.first, [member](const LSTMSaved& s) { return s.*member; });
    saved_names.append(f.first);
  }
  saved.attr("fields") = py::tuple(saved_names);

  py::class_<LSTMOutput>(m, "LSTMOutput", "The LSTM forward's output, final states and saved activations")
      .def_readonly("output", &LSTMOutput::output)
      .def_readonly("h_n", &LSTMOutput::h_n)
      .def_readonly("c_n", &LSTMOutput::c_n)
      .def_readonly("a_n", &LSTMOutput::a_n)
      .def_readonly("saved", &LSTMOutput::saved);

  py::class_<LSTMGrads>(m, "LSTMGrads", "The LSTM backward's gradients, by the name of what each is the gradient of")
      .def_readonly("input", &LSTMGrads::input)
      .def_readonly("weight_hh", &LSTMGrads::weight_hh)
      .def_readonly("weight_ch", &LSTMGrads::weight_ch)
      .def_readonly("weight_gg", &LSTMGrads::weight_gg)
      .def_readonly("weight_ln_hh", &LSTMGrads::weight_ln_hh)
      .def_readonly("weight_ln_c", &LSTMGrads::weight_ln_c)
      .def_readonly("bias_ln_c", &LSTMGrads::bias_ln_c)
      .def_readonly("weight_hr", &LSTMGrads::weight_hr)
      .def_readonly("h0", &LSTMGrads::h0)
      .def_readonly("c0", &LSTMGrads::c0)
      .def_readonly("a0", &LSTMGrads::a0)
      .def_readonly("weight_ln_ih", &LSTMGrads::weight_ln_ih)
      .def_readonly("bias", &LSTMGrads::bias)
      .def_readonly("weight_ih", &LSTMGrads::weight_ih);

  py::class_<LSTMZoneout>(m, "LSTMZoneout",
                          "Zoneout of h and c: per-step 0/1 keep masks (T, B, n) in training, or rates (evaluation)")
      .def(py::init([](const OptTensor& h, const OptTensor& c, double rate_h, double rate_c) {
             return LSTMZoneout{h, c, rate_h, rate_c};
           }),
           py::kw_only(), py::arg("h") = none, py::arg("c") = none, py::arg("rate_h") = 0.0, py::arg("rate_c") = 0.0)
      .def_readonly("h", &LSTMZoneout::h)
      .def_readonly("c", &LSTMZoneout::c)
      .def_readonly("rate_h", &LSTMZoneout::rate_h)
      .def_readonly("rate_c", &LSTMZoneout::rate_c);
  m.def("lstm_forward", &lstm_forward, "LSTM family forward over time (training: saves for lstm_backward)",
        py::kw_only(), py::arg("config"), py::arg("weights"), py::arg("input"), py::arg("h0"), py::arg("c0"),
        py::arg("a0") = none, py::arg("lengths") = none, py::arg("reverse") = false,
        py::arg("recurrent_mask") = none, py::arg("zoneout") = LSTMZoneout());
  m.def("lstm_infer", &lstm_infer, "LSTM family inference: input projection and time loop", py::kw_only(),
        py::arg("config"), py::arg("weights"), py::arg("input"), py::arg("h0"), py::arg("c0"), py::arg("a0") = none,
        py::arg("lengths") = none, py::arg("reverse") = false);
  m.def("lstm_backward", &lstm_backward, "LSTM family backward through time", py::kw_only(), py::arg("config"),
        py::arg("weights"), py::arg("saved"), py::arg("grad_output"), py::arg("grad_h_n"), py::arg("grad_c_n"),
        py::arg("grad_a_n") = none, py::arg("lengths") = none, py::arg("reverse") = false,
        py::arg("recurrent_mask") = none, py::arg("truncate_gradient") = false,
        py::arg("zoneout") = LSTMZoneout());

  // ---- GRU -----------------------------------------------------------------------------
  py::class_<GRUOutput>(m, "GRUOutput", "The GRU forward's output, final state and saved activations")
      .def_readonly("output", &GRUOutput::output)
      .def_readonly("h_n", &GRUOutput::h_n)
      .def_readonly("hprev", &GRUOutput::hprev)
      .def_readonly("gates", &GRUOutput::gates)
      .def_readonly("hn", &GRUOutput::hn);
  py::class_<GRUGrads>(m, "GRUGrads", "The GRU backward's gradients, by name")
      .def_readonly("input", &GRUGrads::input)
      .def_readonly("weight_hh", &GRUGrads::weight_hh)
      .def_readonly("bias_hh", &GRUGrads::bias_hh)
      .def_readonly("h0", &GRUGrads::h0);
  m.def("gru_forward", &gru_forward, "GRU forward over time (training: saves for gru_backward)", py::kw_only(),
        py::arg("input"), py::arg("weight_hh"), py::arg("bias_hh") = none, py::arg("h0"), py::arg("lengths") = none,
        py::arg("reverse") = false);
  m.def("gru_infer", &gru_infer, "GRU inference: input projection and time loop", py::kw_only(), py::arg("input"),
        py::arg("weight_ih"), py::arg("bias_ih") = none, py::arg("weight_hh"), py::arg("bias_hh") = none,
        py::arg("h0"), py::arg("lengths") = none, py::arg("reverse") = false);
  m.def("gru_backward", &gru_backward, "GRU backward through time", py::kw_only(), py::arg("grad_output"),
        py::arg("grad_h_n"), py::arg("hprev"), py::arg("gates"), py::arg("hn"), py::arg("weight_hh"),
        py::arg("has_bias"), py::arg("lengths") = none, py::arg("reverse") = false);

  // ---- Elman ---------------------------------------------------------------------------
  py::class_<ElmanOutput>(m, "ElmanOutput", "The Elman RNN forward's output, final state and saved states")
      .def_readonly("output", &ElmanOutput::output)
      .def_readonly("h_n", &ElmanOutput::h_n)
      .def_readonly("hprev", &ElmanOutput::hprev);
  py::class_<ElmanGrads>(m, "ElmanGrads", "The Elman RNN backward's gradients, by name")
      .def_readonly("input", &ElmanGrads::input)
      .def_readonly("weight_hh", &ElmanGrads::weight_hh)
      .def_readonly("h0", &ElmanGrads::h0);
  m.def("elman_forward", &elman_forward, "Elman RNN forward over time (training: saves for elman_backward)",
        py::kw_only(), py::arg("input"), py::arg("weight_hh"), py::arg("h0"), py::arg("lengths") = none,
        py::arg("reverse") = false, py::arg("relu") = false);
  m.def("elman_infer", &elman_infer, "Elman RNN inference: input projection and time loop", py::kw_only(),
        py::arg("input"), py::arg("weight_ih"), py::arg("bias_ih") = none, py::arg("bias_hh") = none,
        py::arg("weight_hh"), py::arg("h0"), py::arg("lengths") = none, py::arg("reverse") = false,
        py::arg("relu") = false);
  m.def("elman_backward", &elman_backward, "Elman RNN backward through time", py::kw_only(), py::arg("grad_output"),
        py::arg("grad_h_n"), py::arg("hprev"), py::arg("output"), py::arg("weight_hh"), py::arg("lengths") = none,
        py::arg("reverse") = false, py::arg("relu") = false);

  // ---- sLSTM ---------------------------------------------------------------------------
  py::class_<SLSTMOutput>(m, "SLSTMOutput", "The sLSTM forward's output, final state and (training) saved tensors")
      .def_readonly("output", &SLSTMOutput::output)
      .def_readonly("h_n", &SLSTMOutput::h_n)
      .def_readonly("c_n", &SLSTMOutput::c_n)
      .def_readonly("n_n", &SLSTMOutput::n_n)
      .def_readonly("m_n", &SLSTMOutput::m_n)
      .def_readonly("pre", &SLSTMOutput::pre)
      .def_readonly("hprev", &SLSTMOutput::hprev)
      .def_readonly("cprev", &SLSTMOutput::cprev)
      .def_readonly("nprev", &SLSTMOutput::nprev)
      .def_readonly("mprev", &SLSTMOutput::mprev);
  py::class_<SLSTMGrads>(m, "SLSTMGrads", "The sLSTM backward's gradients, by name")
      .def_readonly("input", &SLSTMGrads::input)
      .def_readonly("weight_hh", &SLSTMGrads::weight_hh)
      .def_readonly("h0", &SLSTMGrads::h0)
      .def_readonly("c0", &SLSTMGrads::c0)
      .def_readonly("n0", &SLSTMGrads::n0)
      .def_readonly("m0", &SLSTMGrads::m0);
  m.def("slstm_forward", &slstm_forward,
        "sLSTM forward over time of the projected input (T, B, 4H) (save: keep what slstm_backward needs)",
        py::kw_only(), py::arg("input"), py::arg("weight_hh"), py::arg("h0"), py::arg("c0"), py::arg("n0"),
        py::arg("m0"), py::arg("lengths") = none, py::arg("reverse") = false, py::arg("sigmoid_forget") = true,
        py::arg("save") = false);
  m.def("slstm_infer", &slstm_infer, "sLSTM inference: input projection (by chunks of steps) and time loop",
        py::kw_only(), py::arg("input"), py::arg("weight_ih"), py::arg("bias") = none, py::arg("weight_hh"),
        py::arg("h0"), py::arg("c0"), py::arg("n0"), py::arg("m0"), py::arg("lengths") = none,
        py::arg("reverse") = false, py::arg("sigmoid_forget") = true);
  m.def("slstm_backward", &slstm_backward, "sLSTM backward through time", py::kw_only(), py::arg("weight_hh"),
        py::arg("pre"), py::arg("hprev"), py::arg("cprev"), py::arg("nprev"), py::arg("mprev"),
        py::arg("grad_output"), py::arg("grad_h_n"), py::arg("grad_c_n"), py::arg("grad_n_n"), py::arg("grad_m_n"),
        py::arg("lengths") = none, py::arg("reverse") = false, py::arg("sigmoid_forget") = true);

  // ---- prepared inference calls (kernels/fused.py: infer_runner and the inference paths) ----
  const char* call_doc =
      "call(params, input, state, reverse=False, lengths=None) -> (output, final_state): params is a dict "
      "holding the parameters under the names given at construction";
  py::class_<LSTMInfer>(m, "LSTMInfer", "lstm_infer of one (layer, direction), its parameters looked up by name")
      .def(py::init([](const LSTMConfig& config, const py::dict& names) {
             return LSTMInfer{config, ParamNames(kLSTMParams, names)};
           }),
           py::kw_only(), py::arg("config"), py::arg("names"))
      .def("__call__", &LSTMInfer::call, call_doc, py::arg("params"), py::arg("input"), py::arg("state"),
           py::arg("reverse") = false, py::arg("lengths") = none);
  py::class_<GRUInfer>(m, "GRUInfer", "gru_infer of one (layer, direction), its parameters looked up by name")
      .def(py::init([](const py::dict& names) { return GRUInfer{ParamNames(kGRUParams, names)}; }), py::kw_only(),
           py::arg("names"))
      .def("__call__", &GRUInfer::call, call_doc, py::arg("params"), py::arg("input"), py::arg("state"),
           py::arg("reverse") = false, py::arg("lengths") = none);
  py::class_<ElmanInfer>(m, "ElmanInfer", "elman_infer of one (layer, direction), its parameters looked up by name")
      .def(py::init([](const py::dict& names, bool relu) { return ElmanInfer{ParamNames(kElmanParams, names), relu}; }),
           py::kw_only(), py::arg("names"), py::arg("relu") = false)
      .def("__call__", &ElmanInfer::call, call_doc, py::arg("params"), py::arg("input"), py::arg("state"),
           py::arg("reverse") = false, py::arg("lengths") = none);

  // ---- the buffer cache and the matrix products ------------------------------------------
  m.def("clear_buffer_cache", [] { BufferCache::get().clear(); }, "free the cached per-call buffers");
  m.def("buffer_mm", &buffer_mm, "a @ b (2-D), the result in a cached buffer", py::arg("a"), py::arg("b"));
  m.def("own_gemm", [] { return own_gemm_enabled(); },
        "the default choice (CPU rule or LSTMKIT_OWN_GEMM): float32 loops on the packed-panel AVX2 product "
        "instead of MKL's (see packed_gemm in gemm.h)");
  m.def("own_gemm_built", &own_gemm_built, "whether this build carries the AVX2 product (packed_gemm)");
  m.def("own_gemm512_built", &own_gemm512_built,
        "whether this build also carries the AVX-512 product (packed_gemm512; built with AVX-512)");
  m.def("own_gemm_wide_for", [](int cls, bool inference) {
          TORCH_CHECK(cls >= 0 && cls < kGemmClasses, "cls must be in [0, ", kGemmClasses, "), got ", cls);
          return own_gemm_wide(cls, inference);
        }, "whether float32 products of shape class cls (in training, or in inference) run on our AVX-512 panels",
        py::arg("cls"), py::arg("inference") = false);
  m.def("gemm_class", &gemm_class, "the shape class (0 streaming, 1 small, 2 large) of a product M x N x K",
        py::arg("M"), py::arg("N"), py::arg("K"));
  m.def("own_gemm_for", [](int cls, bool inference) {
          TORCH_CHECK(cls >= 0 && cls < kGemmClasses, "cls must be in [0, ", kGemmClasses, "), got ", cls);
          return own_gemm_enabled(cls, inference);
        }, "whether float32 products of shape class cls (in training, or in inference) run on our product",
        py::arg("cls"), py::arg("inference") = false);
  m.def("set_batch_split", &set_batch_split,
        "split a batch across threads: mode -1 the default rule (enough rows and work per chunk), 0 never, "
        "1 whenever there are two rows per chunk (tests); LSTMKIT_BATCH_SPLIT=0/1 sets the start value",
        py::arg("mode"));
  m.def("batch_chunks", &batch_chunks,
        "how many chunks a batch of B rows of work_per_row multiply-adds runs in (in inference, or in training)",
        py::arg("B"), py::arg("work_per_row"), py::arg("inference") = false);
  m.def("set_own_gemm", &set_own_gemm,
        "choose the float32 product of shape class cls: mode -1 the default, 0 MKL, 1 ours (AVX2), 2 ours (AVX-512, "
        "where built), for use -1 both, 0 training, 1 inference (the calibration's call)",
        py::arg("cls"), py::arg("mode"), py::arg("use") = -1);
}
