"""torch.compile(fullgraph=True) against eager mode for lstmkit layers: compile time and speed.

For each model and shape: the first compiled call's time (tracing, AOTAutograd, Inductor's
code generation and C++ build: the compile time), then the median of ``--reps`` timed
calls after two warm-up calls, eager and compiled interleaved, in one process on
``--threads`` threads. ``train`` is one forward and backward (gradients of the input and
every weight), ``infer`` one forward under ``torch.no_grad()``.

    python benchmarks/compile_vs_eager.py --models standard,layer_norm,gru --shape 32x50x32x128

Prints a Markdown table (and, with ``--json FILE``, writes the numbers through
lstmkit.io's atomic writer; an existing FILE is not replaced).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

import lstmkit
from lstmkit.families import resolve_model


def _module(name: str, I: int, H: int):
    fam, variant = resolve_model(name)
    if fam.name == "lstm":
        return fam.module(I, H, variant=variant)
    return fam.module(I, H)


def _time(fn, reps: int) -> float:
    fn()
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def measure(name: str, shape: tuple[int, int, int, int], reps: int) -> list[dict]:
    B, T, I, H = shape
    torch.manual_seed(0)
    m = _module(name, I, H)
    x = torch.randn(T, B, I)
    rows = []
    for mode in ("train", "infer"):
        torch._dynamo.reset()
        c = torch.compile(m, fullgraph=True)

        def step(mod):
            if mode == "infer":
                with torch.no_grad():
                    return mod(x)[0]
            xr = x.clone().requires_grad_()
            out = mod(xr)[0]
            out.sum().backward()
            return out

        t0 = time.perf_counter()
        step(c)
        compile_s = time.perf_counter() - t0
        # interleaved: eager, compiled, eager, compiled (load drifts between them equally)
        e1, c1 = _time(lambda: step(m), reps), _time(lambda: step(c), reps)
        e2, c2 = _time(lambda: step(m), reps), _time(lambda: step(c), reps)
        eager, comp = min(e1, e2), min(c1, c2)
        rows.append({"model": name, "shape": "x".join(map(str, shape)), "mode": mode,
                     "compile_s": round(compile_s, 1), "eager_ms": round(eager * 1e3, 2),
                     "compiled_ms": round(comp * 1e3, 2), "eager_over_compiled": round(eager / comp, 2)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="standard,layer_norm,gru")
    ap.add_argument("--shape", action="append", help="BxTxIxH (repeatable); default 32x50x32x128")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the rows to this JSON file (never replaced)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    shapes = [tuple(int(v) for v in s.split("x")) for s in (a.shape or ["32x50x32x128"])]
    rows = []
    load0 = os.getloadavg()[0]
    for name in a.models.split(","):
        for shape in shapes:
            rows += measure(name, shape, a.reps)
    load1 = os.getloadavg()[0]
    print(f"torch {torch.__version__}, lstmkit {lstmkit.__version__}, {a.threads} thread(s), "
          f"load average {load0:.2f} before, {load1:.2f} after")
    print("| model | B x T x I x H | step | compile s | eager ms | compiled ms | eager/compiled |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['shape']} | {r['mode']} | {r['compile_s']} | {r['eager_ms']} | "
              f"{r['compiled_ms']} | {r['eager_over_compiled']} |")
    if a.json:
        from lstmkit import io

        if os.path.exists(a.json):
            print(f"{a.json} exists; not replaced", file=sys.stderr)
            return 1
        io.atomic_write_bytes(a.json, json.dumps({"rows": rows, "load": [load0, load1]}, indent=1).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
