"""Eager-mode step times of lstmkit layers, to compare two source trees (a per-call overhead check).

    PYTHONPATH=/path/to/tree/src python benchmarks/eager_step_times.py

Prints, for the LSTM (standard, layer_norm) and the GRU, the median of repeated calls (one
thread, ``LSTMKIT_CALIBRATE=0`` rules): a one-step training call (T = B = 1: the per-call
overhead), a training step at 32x50x32x128 (B x T x I x H) and a one-step inference call
with lengths (the per-direction path), in microseconds.
"""

from __future__ import annotations

import json
import os
import time

os.environ.setdefault("LSTMKIT_CALIBRATE", "0")

import torch  # noqa: E402

import lstmkit  # noqa: E402


def _median_us(fn, n: int) -> float:
    for _ in range(5):
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[n // 2] * 1e6


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = {}
    for name, make in (("standard", lambda I, H: lstmkit.LSTM(I, H)),
                       ("layer_norm", lambda I, H: lstmkit.LSTM(I, H, variant="layer_norm")),
                       ("gru", lambda I, H: lstmkit.GRU(I, H))):
        small, big = make(8, 16), make(32, 128)
        x1 = torch.randn(1, 1, 8)
        x2 = torch.randn(50, 32, 32)
        lens = torch.tensor([1])

        def train(m, x):
            xr = x.clone().requires_grad_()
            m(xr)[0].sum().backward()

        def infer():
            with torch.no_grad():
                small(x1, lengths=lens)

        rows[name] = {
            "train_T1_B1_us": round(min(_median_us(lambda: train(small, x1), 300) for _ in range(3)), 1),
            "train_32x50x32x128_us": round(min(_median_us(lambda: train(big, x2), 20) for _ in range(3)), 1),
            "infer_lengths_T1_us": round(min(_median_us(infer, 300) for _ in range(3)), 1),
        }
    print(json.dumps({"lstmkit": os.path.dirname(lstmkit.__file__), "load": os.getloadavg()[0], "rows": rows}))


if __name__ == "__main__":
    main()
