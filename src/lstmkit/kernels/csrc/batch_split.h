// All cores: the rows of a batch are independent through every step of a recurrence, so
// with more than one thread the batch is split into chunks and each chunk runs the whole
// time loop on its own thread (at::parallel_for): no synchronisation per step, the
// products inside run single-threaded (a nested parallel region), and the chunks' results
// are joined along the batch (the weight gradients summed). The cost: each chunk's inputs
// and results are copied once (the slices are made contiguous, the results concatenated),
// and each chunk packs the recurrent weight for itself.
//
// When: LSTMKIT_BATCH_SPLIT=0 never, =1 whenever there are two rows per chunk (training
// too; the tests), default (or -1 from set_batch_split) in inference only, when at least
// kMinRowsPerChunk rows per chunk and kMinWorkPerChunk multiply-adds of recurrent work per
// chunk make it pay (docs/performance.md, "All cores").
#pragma once

#include "elman.h"
#include "gru.h"
#include "lstm.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <cstdlib>
#include <utility>
#include <vector>

namespace lstmkit {
namespace {

constexpr int64_t kMinRowsPerChunk = 8;
constexpr int64_t kMinWorkPerChunk = int64_t(1) << 20;  // T * rows * (G*H) * Hout multiply-adds

inline std::atomic<int>& batch_split_mode() {
  static std::atomic<int> mode{[] {
    const char* e = std::getenv("LSTMKIT_BATCH_SPLIT");
    if (e && e[0] == '0') return 0;
    if (e && e[0] == '1') return 1;
    return -1;
  }()};
  return mode;
}

// -1: the default rule above; 0: never split; 1: split whenever possible (>= 2 rows a chunk).
inline void set_batch_split(int mode) {
  TORCH_CHECK(mode >= -1 && mode <= 1, "mode must be -1 (default), 0 (never) or 1 (always), got ", mode);
  batch_split_mode().store(mode, std::memory_order_relaxed);
}

// How many chunks to run a batch of B rows in: 1 (no split) unless more than one thread is
// available outside a parallel region. work_per_row: multiply-adds of one row's recurrence.
// The default rule splits inference only: measured on Zen 4 at 2 threads, inference ran
// 1.2-2.7x faster split, training moved by -30%..+30% between runs (the chunks' saved
// activations are copied into one batch, which eats the gain; docs/performance.md).
inline int64_t batch_chunks(int64_t B, int64_t work_per_row, bool inference = false) {
  const int mode = batch_split_mode().load(std::memory_order_relaxed);
  if (mode == 0 || (mode < 0 && !inference) || at::in_parallel_region()) return 1;
  const int64_t threads = at::get_num_threads();
  if (threads <= 1) return 1;
  int64_t chunks = std::min<int64_t>(threads, B / (mode == 1 ? 2 : kMinRowsPerChunk));
  if (mode != 1 && work_per_row > 0) chunks = std::min<int64_t>(chunks, B * work_per_row / kMinWorkPerChunk);
  return std::max<int64_t>(chunks, 1);
}

// [start, rows) of each of C chunks of B rows, as even as possible.
inline std::vector<std::pair<int64_t, int64_t>> chunk_rows(int64_t B, int64_t C) {
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t b = 0;
  for (int64_t c = 0; c < C; ++c) {
    const int64_t n = B / C + (c < B % C ? 1 : 0);
    out.emplace_back(b, n);
    b += n;
  }
  return out;
}

inline Tensor rows_of(const Tensor& t, int64_t dim, const std::pair<int64_t, int64_t>& r) {
  return t.narrow(dim, r.first, r.second).contiguous();
}

inline OptTensor rows_of(const OptTensor& t, int64_t dim, const std::pair<int64_t, int64_t>& r) {
  if (!defined(t)) return t;
  return rows_of(*t, dim, r);
}

template <typename Part, typename Get>
Tensor join(const std::vector<Part>& parts, int64_t dim, Get get) {
  std::vector<Tensor> ts;
  ts.reserve(parts.size());
  for (const auto& p : parts) ts.push_back(get(p));
  return at::cat(ts, dim);
}

template <typename Part, typename Get>
OptTensor join_opt(const std::vector<Part>& parts, int64_t dim, Get get) {
  const OptTensor& first = get(parts.front());
  if (!defined(first)) return first;
  return join(parts, dim, [&](const Part& p) { return *get(p); });
}

template <typename Part, typename Get>
OptTensor sum_opt(const std::vector<Part>& parts, Get get) {
  const OptTensor& first = get(parts.front());
  if (!defined(first)) return first;
  Tensor s = first->clone();
  for (size_t i = 1; i < parts.size(); ++i) s.add_(*get(parts[i]));
  return s;
}

// fn(rows) of each of C chunks of B rows, one chunk per thread: the chunks' results in order.
template <typename Part, typename Fn>
std::vector<Part> run_chunks(int64_t B, int64_t C, Fn fn) {
  const auto rows = chunk_rows(B, C);
  std::vector<Part> parts(C);
  at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) parts[c] = fn(rows[c]);
  });
  return parts;
}

inline LSTMZoneout zoneout_rows(const LSTMZoneout& z, const std::pair<int64_t, int64_t>& r) {
  LSTMZoneout out = z;
  out.h = rows_of(z.h, 1, r);  // masks are (T, B, n)
  out.c = rows_of(z.c, 1, r);
  return out;
}

// LSTMSaved: c_n is (B, H); every other entry is (T or 1, B, n).
inline int64_t saved_batch_dim(const char* name) { return std::string(name) == "c_n" ? 0 : 1; }

inline LSTMSaved saved_rows(const LSTMSaved& s, const std::pair<int64_t, int64_t>& r) {
  LSTMSaved out;
  for (const auto& f : lstm_saved_fields()) out.*(f.second) = rows_of(s.*(f.second), saved_batch_dim(f.first), r);
  return out;
}

inline LSTMOutput join_lstm_outputs(const std::vector<LSTMOutput>& parts, int64_t state_dim) {
  LSTMOutput res;
  res.output = join(parts, 1, [](const LSTMOutput& p) { return p.output; });
  res.h_n = join(parts, state_dim, [](const LSTMOutput& p) { return p.h_n; });
  res.c_n = join(parts, state_dim, [](const LSTMOutput& p) { return p.c_n; });
  res.a_n = join_opt(parts, state_dim, [](const LSTMOutput& p) -> const OptTensor& { return p.a_n; });
  for (const auto& f : lstm_saved_fields()) {
    auto member = f.second;
    res.saved.*member = join_opt(parts, saved_batch_dim(f.first),
                                 [member](const LSTMOutput& p) -> const OptTensor& { return p.saved.*member; });
  }
  return res;
}

// One row's recurrent multiply-adds over the whole sequence: T * (rows of R) * (its columns).
inline int64_t row_work(const Tensor& w_hh, int64_t Tn) { return Tn * w_hh.size(0) * w_hh.size(1); }

// ---- the LSTM entry points, split by batch ------------------------------------------------

LSTMOutput lstm_forward(const LSTMConfig& config, const LSTMWeights& weights, const Tensor& input, const Tensor& h0,
                        const Tensor& c0, const OptTensor& a0, const OptTensor& lengths, bool reverse,
                        const OptTensor& recurrent_mask, const LSTMZoneout& zoneout) {
  const int64_t B = input.dim() == 3 ? input.size(1) : 0;
  const int64_t C = batch_chunks(B, row_work(weights.weight_hh, input.size(0)));
  if (C <= 1)
    return lstm_forward_whole(config, weights, input, h0, c0, a0, lengths, reverse, recurrent_mask, zoneout);
  auto parts = run_chunks<LSTMOutput>(B, C, [&](const std::pair<int64_t, int64_t>& r) {
    return lstm_forward_whole(config, weights, rows_of(input, 1, r), rows_of(h0, 0, r), rows_of(c0, 0, r),
                              rows_of(a0, 0, r), rows_of(lengths, 0, r), reverse, rows_of(recurrent_mask, 0, r),
                              zoneout_rows(zoneout, r));
  });
  // the input layer norm's input is the forward's input itself: the whole of it, not a join
  const bool xw_is_input = defined(parts.front().saved.xw) && defined(weights.weight_ln_ih);
  if (xw_is_input)
    for (auto& p : parts) p.saved.xw = OptTensor();
  LSTMOutput res = join_lstm_outputs(parts, 0);
  if (xw_is_input) res.saved.xw = input;
  return res;
}

LSTMOutput lstm_infer(const LSTMConfig& config, const LSTMWeights& weights, const Tensor& input, const Tensor& h0,
                      const Tensor& c0, const OptTensor& a0, const OptTensor& lengths, bool reverse) {
  const int64_t B = input.dim() == 3 ? input.size(1) : 0;
  const int64_t C = batch_chunks(B, row_work(weights.weight_hh, input.size(0)), true);
  if (C <= 1) return lstm_infer_whole(config, weights, input, h0, c0, a0, lengths, reverse);
  const int64_t sd = h0.dim() == 3 ? 1 : 0;  // states (B, n) or (1, B, n)
  auto parts = run_chunks<LSTMOutput>(B, C, [&](const std::pair<int64_t, int64_t>& r) {
    return lstm_infer_whole(config, weights, rows_of(input, 1, r), rows_of(h0, sd, r), rows_of(c0, sd, r),
                            rows_of(a0, sd, r), rows_of(lengths, 0, r), reverse);
  });
  return join_lstm_outputs(parts, sd);
}

LSTMGrads lstm_backward(const LSTMConfig& config, const LSTMWeights& weights, const LSTMSaved& saved,
                        const Tensor& grad_output, const Tensor& grad_h_n, const Tensor& grad_c_n,
                        const OptTensor& grad_a_n, const OptTensor& lengths, bool reverse,
                        const OptTensor& recurrent_mask, bool truncate_gradient, const LSTMZoneout& zoneout) {
  const int64_t B = grad_output.dim() == 3 ? grad_output.size(1) : 0;
  const int64_t C = batch_chunks(B, row_work(weights.weight_hh, grad_output.size(0)));
  if (C <= 1)
    return lstm_backward_whole(config, weights, saved, grad_output, grad_h_n, grad_c_n, grad_a_n, lengths, reverse,
                               recurrent_mask, truncate_gradient, zoneout);
  auto parts = run_chunks<LSTMGrads>(B, C, [&](const std::pair<int64_t, int64_t>& r) {
    return lstm_backward_whole(config, weights, saved_rows(saved, r), rows_of(grad_output, 1, r),
                               rows_of(grad_h_n, 0, r), rows_of(grad_c_n, 0, r), rows_of(grad_a_n, 0, r),
                               rows_of(lengths, 0, r), reverse, rows_of(recurrent_mask, 0, r), truncate_gradient,
                               zoneout_rows(zoneout, r));
  });
  LSTMGrads g;
  g.input = join(parts, 1, [](const LSTMGrads& p) { return p.input; });
  g.h0 = join(parts, 0, [](const LSTMGrads& p) { return p.h0; });
  g.c0 = join(parts, 0, [](const LSTMGrads& p) { return p.c0; });
  g.a0 = join_opt(parts, 0, [](const LSTMGrads& p) -> const OptTensor& { return p.a0; });
  g.weight_hh = *sum_opt(parts, [](const LSTMGrads& p) -> OptTensor { return p.weight_hh; });
  g.weight_ch = sum_opt(parts, [](const LSTMGrads& p) -> const OptTensor& { return p.weight_ch; });
  g.weight_gg = sum_opt(parts, [](const LSTMGrads& p) -> const OptTensor& { return p.weight_gg; });
  g.weight_ln_hh = sum_opt(parts, [](const LSTMGrads& p) -> const OptTensor& { return p.weight_ln_hh; });
  g.weight_ln_c = sum_opt(parts, [](const LSTMGrads& p) -> const OptTensor& { return p.weight_ln_c; });
  g.bias_ln_c = sum_opt(parts, [](const LSTMGrads& p) -> const OptTensor& { return p.bias_ln_c; });
  g.weight_hr = sum_opt(parts, [](const LSTMGrads& p) -> const OptTensor& { return p.weight_hr; });
  g.weight_ln_ih = sum_opt(parts, [](const LSTMGrads& p) -> const OptTensor& { return p.weight_ln_ih; });
  g.bias = sum_opt(parts, [](const LSTMGrads& p) -> const OptTensor& { return p.bias; });
  g.weight_ih = sum_opt(parts, [](const LSTMGrads& p) -> const OptTensor& { return p.weight_ih; });
  return g;
}

// ---- the GRU and Elman entry points, split by batch -------------------------------------

GRUOutput gru_forward(const Tensor& input, const Tensor& weight_hh, const OptTensor& bias_hh, const Tensor& h0,
                      const OptTensor& lengths, bool reverse) {
  const int64_t B = input.dim() == 3 ? input.size(1) : 0;
  const int64_t C = batch_chunks(B, row_work(weight_hh, input.size(0)));
  if (C <= 1) return gru_forward_whole(input, weight_hh, bias_hh, h0, lengths, reverse);
  auto parts = run_chunks<GRUOutput>(B, C, [&](const std::pair<int64_t, int64_t>& r) {
    return gru_forward_whole(rows_of(input, 1, r), weight_hh, bias_hh, rows_of(h0, 0, r), rows_of(lengths, 0, r),
                             reverse);
  });
  GRUOutput res;
  res.output = join(parts, 1, [](const GRUOutput& p) { return p.output; });
  res.h_n = join(parts, 0, [](const GRUOutput& p) { return p.h_n; });
  res.hprev = join_opt(parts, 1, [](const GRUOutput& p) -> const OptTensor& { return p.hprev; });
  res.gates = join_opt(parts, 1, [](const GRUOutput& p) -> const OptTensor& { return p.gates; });
  res.hn = join_opt(parts, 1, [](const GRUOutput& p) -> const OptTensor& { return p.hn; });
  return res;
}

GRUOutput gru_infer(const Tensor& input, const Tensor& weight_ih, const OptTensor& bias_ih, const Tensor& weight_hh,
                    const OptTensor& bias_hh, const Tensor& h0, const OptTensor& lengths, bool reverse) {
  const int64_t B = input.dim() == 3 ? input.size(1) : 0;
  const int64_t C = batch_chunks(B, row_work(weight_hh, input.size(0)), true);
  if (C <= 1) return gru_infer_whole(input, weight_ih, bias_ih, weight_hh, bias_hh, h0, lengths, reverse);
  const int64_t sd = h0.dim() == 3 ? 1 : 0;
  auto parts = run_chunks<GRUOutput>(B, C, [&](const std::pair<int64_t, int64_t>& r) {
    return gru_infer_whole(rows_of(input, 1, r), weight_ih, bias_ih, weight_hh, bias_hh, rows_of(h0, sd, r),
                           rows_of(lengths, 0, r), reverse);
  });
  GRUOutput res;
  res.output = join(parts, 1, [](const GRUOutput& p) { return p.output; });
  res.h_n = join(parts, sd, [](const GRUOutput& p) { return p.h_n; });
  return res;
}

GRUGrads gru_backward(const Tensor& grad_output, const Tensor& grad_h_n, const Tensor& hprev, const Tensor& gates,
                      const Tensor& hn, const Tensor& weight_hh, bool has_bias, const OptTensor& lengths,
                      bool reverse) {
  const int64_t B = grad_output.dim() == 3 ? grad_output.size(1) : 0;
  const int64_t C = batch_chunks(B, row_work(weight_hh, grad_output.size(0)));
  if (C <= 1) return gru_backward_whole(grad_output, grad_h_n, hprev, gates, hn, weight_hh, has_bias, lengths, reverse);
  auto parts = run_chunks<GRUGrads>(B, C, [&](const std::pair<int64_t, int64_t>& r) {
    return gru_backward_whole(rows_of(grad_output, 1, r), rows_of(grad_h_n, 0, r), rows_of(hprev, 1, r),
                              rows_of(gates, 1, r), rows_of(hn, 1, r), weight_hh, has_bias, rows_of(lengths, 0, r),
                              reverse);
  });
  GRUGrads g;
  g.input = join(parts, 1, [](const GRUGrads& p) { return p.input; });
  g.h0 = join(parts, 0, [](const GRUGrads& p) { return p.h0; });
  g.weight_hh = *sum_opt(parts, [](const GRUGrads& p) -> OptTensor { return p.weight_hh; });
  g.bias_hh = sum_opt(parts, [](const GRUGrads& p) -> const OptTensor& { return p.bias_hh; });
  return g;
}

ElmanOutput elman_forward(const Tensor& input, const Tensor& weight_hh, const Tensor& h0, const OptTensor& lengths,
                          bool reverse, bool relu) {
  const int64_t B = input.dim() == 3 ? input.size(1) : 0;
  const int64_t C = batch_chunks(B, row_work(weight_hh, input.size(0)));
  if (C <= 1) return elman_forward_whole(input, weight_hh, h0, lengths, reverse, relu);
  auto parts = run_chunks<ElmanOutput>(B, C, [&](const std::pair<int64_t, int64_t>& r) {
    return elman_forward_whole(rows_of(input, 1, r), weight_hh, rows_of(h0, 0, r), rows_of(lengths, 0, r), reverse,
                               relu);
  });
  ElmanOutput res;
  res.output = join(parts, 1, [](const ElmanOutput& p) { return p.output; });
  res.h_n = join(parts, 0, [](const ElmanOutput& p) { return p.h_n; });
  res.hprev = join_opt(parts, 1, [](const ElmanOutput& p) -> const OptTensor& { return p.hprev; });
  return res;
}

ElmanOutput elman_infer(const Tensor& input, const Tensor& weight_ih, const OptTensor& bias_ih,
                        const OptTensor& bias_hh, const Tensor& weight_hh, const Tensor& h0,
                        const OptTensor& lengths, bool reverse, bool relu) {
  const int64_t B = input.dim() == 3 ? input.size(1) : 0;
  const int64_t C = batch_chunks(B, row_work(weight_hh, input.size(0)), true);
  if (C <= 1) return elman_infer_whole(input, weight_ih, bias_ih, bias_hh, weight_hh, h0, lengths, reverse, relu);
  const int64_t sd = h0.dim() == 3 ? 1 : 0;
  auto parts = run_chunks<ElmanOutput>(B, C, [&](const std::pair<int64_t, int64_t>& r) {
    return elman_infer_whole(rows_of(input, 1, r), weight_ih, bias_ih, bias_hh, weight_hh, rows_of(h0, sd, r),
                             rows_of(lengths, 0, r), reverse, relu);
  });
  ElmanOutput res;
  res.output = join(parts, 1, [](const ElmanOutput& p) { return p.output; });
  res.h_n = join(parts, sd, [](const ElmanOutput& p) { return p.h_n; });
  return res;
}

ElmanGrads elman_backward(const Tensor& grad_output, const Tensor& grad_h_n, const Tensor& hprev,
                          const Tensor& output, const Tensor& weight_hh, const OptTensor& lengths, bool reverse,
                          bool relu) {
  const int64_t B = grad_output.dim() == 3 ? grad_output.size(1) : 0;
  const int64_t C = batch_chunks(B, row_work(weight_hh, grad_output.size(0)));
  if (C <= 1) return elman_backward_whole(grad_output, grad_h_n, hprev, output, weight_hh, lengths, reverse, relu);
  auto parts = run_chunks<ElmanGrads>(B, C, [&](const std::pair<int64_t, int64_t>& r) {
    return elman_backward_whole(rows_of(grad_output, 1, r), rows_of(grad_h_n, 0, r), rows_of(hprev, 1, r),
                                rows_of(output, 1, r), weight_hh, rows_of(lengths, 0, r), reverse, relu);
  });
  ElmanGrads g;
  g.input = join(parts, 1, [](const ElmanGrads& p) { return p.input; });
  g.h0 = join(parts, 0, [](const ElmanGrads& p) { return p.h0; });
  g.weight_hh = *sum_opt(parts, [](const ElmanGrads& p) -> OptTensor { return p.weight_hh; });
  return g;
}

}  // namespace
}  // namespace lstmkit
