"""Training step (forward + backward) of lstmkit.LSTM with recurrent dropout / zoneout / the
truncated gradient: the fused kernel (this branch) against the reference loop (LSTMKIT_BACKEND=reference,
what ran before) and torch.nn.LSTM (no such options: the plain step), interleaved in one
process, medians. Run: PYTHONPATH=src python benchmarks/i14-options.py [--threads N]"""

import argparse
import os
import time

import torch

import lstmkit

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--reps", type=int, default=7)
args = ap.parse_args()
torch.set_num_threads(args.threads)


def step(m, x):
    out, (h, c) = m(x)
    (out.sum() + c.sum()).backward()


for B, T, I, H in ((32, 100, 2, 64), (64, 100, 128, 256)):
    x = torch.randn(T, B, I)
    ref = torch.nn.LSTM(I, H)
    for name, kw in (("recurrent_dropout=0.25", dict(recurrent_dropout=0.25)),
                     ("zoneout=0.1", dict(zoneout=0.1)),
                     ("truncated_gradient", dict(truncated_gradient=True))):
        m = lstmkit.LSTM(I, H, variant="vanilla", **kw).train()
        times = {"fused": [], "reference": [], "torch.nn.LSTM": []}
        for r in range(args.reps + 1):
            for side in times:
                if side == "torch.nn.LSTM":
                    f = lambda: step(ref, x)  # noqa: E731
                else:
                    os.environ["LSTMKIT_BACKEND"] = "fused" if side == "fused" else "reference"
                    f = lambda: step(m, x)  # noqa: E731
                t0 = time.perf_counter()
                f()
                if r:
                    times[side].append(time.perf_counter() - t0)
        med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
        print(f"{B}x{T}x{I}x{H} vanilla {name}: fused {med['fused'] * 1e3:.1f} ms, reference "
              f"{med['reference'] * 1e3:.1f} ms ({med['reference'] / med['fused']:.1f}x slower), "
              f"torch.nn.LSTM plain {med['torch.nn.LSTM'] * 1e3:.1f} ms (fused {med['fused'] / med['torch.nn.LSTM']:.2f}x)")
os.environ.pop("LSTMKIT_BACKEND", None)
