"""ConvLSTM: the input-to-state convolution of all steps hoisted out of the time loop (one
batched conv, as lstmkit's generic loop runs it: recurrent.py calls spec.input_projection on
the whole sequence) against one input convolution per step inside the loop. Forward +
backward of the video model's encoder layer shape; medians of interleaved repeats.

Run: OMP_NUM_THREADS=1 python benchmarks/i16-video/hoist.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F

import lstmkit


def per_step(m, x):
    """The same layer, its input convolution computed inside the loop, step by step."""
    spec = m.specs[0]
    p = m.cell_params(0)
    T, B = x.shape[:2]
    state = spec.initial_state(B, x.shape[2:])
    outs = []
    b = p["bias_ih"] + p["bias_hh"]
    for t in range(T):
        xp = F.conv2d(x[t], p["weight_ih"], b, padding=spec.padding)
        state = spec.step(xp, state, p)
        outs.append(state[0])
    return torch.stack(outs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    for cin, k in ((16, 5), (64, 5), (16, 9)):
        m = lstmkit.ConvLSTM(cin, a.hidden, k, frame_size=(16, 16))
        x = torch.randn(10, a.batch, cin, 16, 16)
        torch.testing.assert_close(per_step(m, x), m(x)[0], rtol=1e-4, atol=1e-5)
        times = {"hoisted": [], "per_step": []}
        for _ in range(a.repeats + 1):
            for name, f in (("hoisted", lambda: m(x)[0]), ("per_step", lambda: per_step(m, x))):
                t0 = time.perf_counter()
                f().sum().backward()
                times[name].append(time.perf_counter() - t0)
        med = {k_: statistics.median(v[1:]) for k_, v in times.items()}  # first is warm-up
        rows.append({"in_channels": cin, "kernel": k, "hidden": a.hidden, "batch": a.batch, "T": 10,
                     "hoisted_s": med["hoisted"], "per_step_s": med["per_step"],
                     "speedup": med["per_step"] / med["hoisted"]})
        print(f"C_in {cin:3} kernel {k}: hoisted {med['hoisted'] * 1e3:7.1f} ms, per step "
              f"{med['per_step'] * 1e3:7.1f} ms, speed-up {rows[-1]['speedup']:.2f}x", flush=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    doc = {"rows": rows, "cpu": cpu, "threads": torch.get_num_threads(), "torch": torch.__version__}
    print(f"CPU: {cpu}, {torch.get_num_threads()} thread(s)")
    if a.json:
        json.dump(doc, open(a.json, "x"), indent=1)


if __name__ == "__main__":
    main()
