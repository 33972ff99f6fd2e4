"""A gradient-penalty training step against a first-order one, fused kernels against the
reference loop (``LSTMKIT_BACKEND=reference``), for one lstmkit LSTM layer.

``first-order``: forward, ``loss.backward()``. ``penalty``: forward, the input gradient
of a score with ``create_graph=True``, then the backward of ``(|d score / d x| - 1)^2``
(WGAN-GP's penalty): the second order. Medians of ``--reps`` calls after two warm-ups,
the four cases interleaved in one process, on one thread unless ``OMP_NUM_THREADS`` says
otherwise.

    OMP_NUM_THREADS=1 python benchmarks/i19-double-backward/gradient_penalty.py --variant vanilla --shape 32x50x32x128

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import lstmkit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="vanilla")
    ap.add_argument("--shape", default="32x50x32x128", help="B x T x I x H")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    B, T, I, H = (int(v) for v in args.shape.split("x"))
    torch.manual_seed(0)
    m = lstmkit.LSTM(I, H, variant=args.variant)
    x = torch.randn(T, B, I, requires_grad=True)

    def first():
        m(x)[0].pow(2).mean().backward()

    def penalty():
        out, _ = m(x)
        (g,) = torch.autograd.grad(out[-1].sum(), x, create_graph=True)
        (g.pow(2).sum((0, 2)).sqrt() - 1).pow(2).mean().backward()

    cases = {"first-order, fused": ("auto", first), "first-order, reference": ("reference", first),
             "penalty, fused": ("auto", penalty), "penalty, reference": ("reference", penalty)}
    times: dict[str, list[float]] = {k: [] for k in cases}
    before = os.environ.get("LSTMKIT_BACKEND")
    try:
        for rep in range(args.reps + 1):
            for k, (backend, f) in cases.items():
                os.environ["LSTMKIT_BACKEND"] = backend
                if rep == 0:
                    f()
                    f()
                    continue
                t0 = time.perf_counter()
                f()
                times[k].append((time.perf_counter() - t0) * 1e3)
    finally:
        if before is None:
            os.environ.pop("LSTMKIT_BACKEND", None)
        else:
            os.environ["LSTMKIT_BACKEND"] = before
    print(f"{args.variant} {args.shape}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print("| step | ms (median) |")
    print("|---|---|")
    for k, v in times.items():
        print(f"| {k} | {statistics.median(v):.1f} |")


if __name__ == "__main__":
    main()
