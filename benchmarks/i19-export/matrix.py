"""What exports where, measured: every registered family and every LSTM preset through ONNX
(the TorchScript exporter: native operator or onnx::Loop; and torch.onnx.export(dynamo=True)),
torch.jit.script, torch.jit.trace and torch.export, each run against eager PyTorch on shapes
the export never saw. Writes matrix.json and matrix.md beside this file (or --out DIR).

    OMP_NUM_THREADS=1 python benchmarks/i19-export/matrix.py [--dynamo] [--only A,B] [--merge] [--out DIR]

``--only`` runs the rows whose names contain one of the comma-separated strings; ``--merge``
adds (replaces) them in an existing matrix.json, keeping each run's command, date and load,
so a long matrix is measured in parts of under ten minutes on a loaded machine.

Each cell is the largest |exported - eager| over the output and every final state (float32),
or the one-line error the export raised. Settings per row: 2 layers, bidirectional,
batch_first=False, lengths given (one sequence of full length, the others shorter); the export
at (T, B) = (5, 2), the check at (9, 3) (ONNX, trace: dynamic length and batch) or at
(5, 3) (torch.export: dynamic batch, static length; dynamo ONNX: the example's shape).
Gradients (script and trace, float64): the largest difference of d(sum of outputs)/d(input
and every parameter) against eager.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

import lstmkit
from lstmkit import PRESETS
from lstmkit.families import family_names

FRAME = (5, 6)


def modules():
    """(row name, family, builder(dtype) -> module in eval mode)."""
    def lstm(v, **kw):
        return lambda: lstmkit.LSTM(3, 4, num_layers=2, bidirectional=True, variant=v, **kw)

    rows = [(f"lstm {p}", "lstm", lstm(p)) for p in PRESETS]
    rows.append(("lstm standard proj_size=2", "lstm", lstm("standard", proj_size=2)))
    rows += [
        ("gru", "gru", lambda: lstmkit.GRU(3, 4, num_layers=2, bidirectional=True)),
        ("rnn (tanh)", "rnn", lambda: lstmkit.RNN(3, 4, num_layers=2, bidirectional=True)),
        ("rnn (relu)", "rnn", lambda: lstmkit.RNN(3, 4, num_layers=2, bidirectional=True, nonlinearity="relu")),
        ("conv_lstm (peepholes)", "conv_lstm",
         lambda: lstmkit.ConvLSTM(2, 3, 3, num_layers=2, bidirectional=True, frame_size=FRAME)),
        ("slstm", "slstm", lambda: lstmkit.sLSTM(4, 4, num_heads=2, num_layers=2, bidirectional=True)),
        ("mlstm", "mlstm", lambda: lstmkit.mLSTM(4, 4, num_heads=2, num_layers=2, bidirectional=True)),
        ("tlstm", "tlstm", lambda: lstmkit.TLSTM(3, 4, num_layers=2, bidirectional=True)),
        ("depth_gated_lstm", "depth_gated_lstm", lambda: lstmkit.DepthGatedLSTM(3, 4, num_layers=2,
                                                                               bidirectional=True)),
    ]
    missing = set(family_names()) - {r[1] for r in rows}
    if missing:
        raise SystemExit(f"matrix.py: no row for the registered families {sorted(missing)}; add them")
    return rows


def build(maker, dtype=torch.float32, seed=0):
    m = maker().to(dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_((torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.4
                     + (1.0 if name.startswith("weight_ln") else 0.0)).to(dtype))
    return m.eval()


def inputs(m, T, B, seed=1):
    g = torch.Generator().manual_seed(seed)
    dtype = next(m.parameters()).dtype
    feat = (m.input_size, *FRAME) if m.feature_axes == 3 else (m.input_size,)
    x = torch.randn((T, B, *feat), generator=g, dtype=torch.float64).to(dtype)
    n = torch.randint(1, T + 1, (B,), generator=g)
    n[0] = T
    kw = {"lengths": n}
    if isinstance(m, lstmkit.TLSTM):
        kw["dt"] = (torch.rand((T, B), generator=g, dtype=torch.float64) * 3).to(dtype)
    return x, kw


def flat(out):
    y, s = out
    return [y, *(s if isinstance(s, tuple) else (s,))]


def err(got, want) -> float:
    return max(float((torch.as_tensor(a) - b).abs().max()) for a, b in zip(got, want))


def _line(e: Exception) -> str:
    return f"{type(e).__name__}: " + " ".join(str(e).split())[:160]


def check_onnx(m, tmp):
    import onnx
    import onnxruntime as ort

    from lstmkit.layers.onnx import export_onnx

    x, kw = inputs(m, 5, 2)
    path = export_onnx(m, os.path.join(tmp, "m.onnx"), x, lengths=True, overwrite=True)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    op = next((o for o in ("LSTM", "GRU", "RNN") if o in ops), "Loop" if "Loop" in ops else "?")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x, kw = inputs(m, 9, 3, seed=2)
    feeds = {"input": x.numpy(), **{k: v.numpy() for k, v in kw.items()}}
    with torch.no_grad():
        return op, err(sess.run(None, feeds), flat(m(x, **kw)))


def check_dynamo(m, tmp):
    import onnxruntime as ort

    x, kw = inputs(m, 5, 2)
    path = os.path.join(tmp, "d.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), path, kwargs=kw, dynamo=True, input_names=["input", *kw])
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x, kw = inputs(m, 5, 2, seed=3)
    feeds = {"input": x.numpy(), **{k: v.numpy() for k, v in kw.items()}}
    with torch.no_grad():
        return err(sess.run(None, feeds), flat(m(x, **kw)))


def _grads(m, fn, x, kw):
    x = x.clone().requires_grad_(True)
    m.zero_grad()
    sum(t.sum() for t in flat(fn(x, **kw))).backward()
    return [x.grad] + [p.grad.clone() for p in m.parameters()]


def check_script(maker):
    m = build(maker)
    s = torch.jit.script(m)
    x, kw = inputs(m, 9, 3, seed=2)
    with torch.no_grad():
        fwd = err(flat(s(x, **kw)), flat(m(x, **kw)))
    m64 = build(maker, torch.float64)
    x, kw = inputs(m64, 5, 2, seed=4)
    return fwd, err(_grads(m64, torch.jit.script(m64), x, kw), _grads(m64, m64, x, kw))


def check_trace(maker):
    def trace(m):
        x0, kw0 = inputs(m, 5, 2)
        return torch.jit.trace(m, example_kwarg_inputs={"input": x0, **kw0})

    m = build(maker)
    tr = trace(m)
    x, kw = inputs(m, 9, 3, seed=2)
    with torch.no_grad():
        fwd = err(flat(tr(input=x, **kw)), flat(m(x, **kw)))
    m64 = build(maker, torch.float64)
    tr = trace(m64)
    x, kw = inputs(m64, 7, 3, seed=4)
    return fwd, err(_grads(m64, lambda x, **kw: tr(input=x, **kw), x, kw), _grads(m64, m64, x, kw))


def check_export(m):
    from torch.export import Dim

    x, kw = inputs(m, 5, 2)
    b = Dim("batch")
    ds = {"input": {1: b}, **{k: ({0: b} if k == "lengths" else {1: b}) for k in kw}}
    ep = torch.export.export(m, (), {"input": x, **kw}, dynamic_shapes=ds)
    x, kw = inputs(m, 5, 3, seed=2)
    with torch.no_grad():
        return err(flat(ep.module()(input=x, **kw)), flat(m(x, **kw)))


def run(dynamo: bool, only: list[str] | None = None) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fam, maker in modules():
            if only and not any(o in name for o in only):
                continue
            r = {"row": name, "family": fam}
            t0 = time.perf_counter()
            for key, fn in (("onnx", lambda: check_onnx(build(maker), tmp)),
                            ("script", lambda: check_script(maker)),
                            ("trace", lambda: check_trace(maker)),
                            ("torch_export", lambda: check_export(build(maker))),
                            *((("dynamo_onnx", lambda: check_dynamo(build(maker), tmp)),) if dynamo else ())):
                try:
                    r[key] = fn()
                except Exception as e:  # the cell records what a user would see
                    r[key] = {"error": _line(e)}
            r["seconds"] = round(time.perf_counter() - t0, 1)
            print(json.dumps(r), flush=True)
            rows.append(r)
    return rows


def _cell(v, kind: str) -> str:
    if isinstance(v, dict):
        return f"no: {v['error']}"
    if v is None:
        return "not run"
    if kind == "onnx":
        op, e = v
        return f"{'native `' + op + '`' if op != 'Loop' else '`Loop`'} ({e:.1e})"
    if kind in ("script", "trace"):
        return f"yes ({v[0]:.1e}; grad {v[1]:.0e})"
    return f"yes ({v:.1e})"


def markdown(rows, meta) -> str:
    dyn = any("dynamo_onnx" in r for r in rows)
    head = ["family / preset", "ONNX (dynamo=False): op (max err)", "jit.script (err; float64 grad)",
            "jit.trace (err; float64 grad)", "torch.export (err)"] + (["ONNX dynamo=True (err)"] if dyn else [])
    lines = [f"Measured {run['date']}, `{run['command']}`, {run['cpu']}, torch {run['torch']}, "
             f"onnxruntime {run['onnxruntime']}, load average {run['load_before']} before / {run['load_after']} "
             f"after (machine shared, loaded); {run['seconds']:.0f} s." for run in meta["runs"]]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["row"], _cell(r["onnx"], "onnx"), _cell(r["script"], "script"), _cell(r["trace"], "trace"),
                 _cell(r["torch_export"], "export")] + ([_cell(r.get("dynamo_onnx"), "export")] if dyn else [])
        cells = [c.replace("|", "\\|") for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dynamo", action="store_true", help="also torch.onnx.export(dynamo=True) (~10-40 s a row)")
    ap.add_argument("--merge", action="store_true", help="add the rows to an existing matrix.json")
    ap.add_argument("--out", default=str(Path(__file__).parent), help="directory for matrix.json and matrix.md")
    ap.add_argument("--only", help="comma-separated: rows whose name contains one of these")
    args = ap.parse_args(argv)
    import onnxruntime

    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or cpu
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    only = [o for o in args.only.split(",") if o] if args.only else None
    rows = run(args.dynamo, only)
    meta = {"date": datetime.date.today().isoformat(), "cpu": cpu, "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "threads": torch.get_num_threads(),
            "command": "OMP_NUM_THREADS=1 python benchmarks/i19-export/matrix.py"
                       + (" --dynamo" if args.dynamo else "") + (f" --only {shlex.quote(args.only)}" if args.only else "")
                       + (" --merge" if args.merge else ""),
            "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
            "seconds": time.perf_counter() - t0, "python": sys.version.split()[0]}
    from lstmkit.io import atomic_write_text, make_dirs, write_json

    out = make_dirs(args.out)
    doc = {"runs": [], "rows": []}
    if args.merge and (out / "matrix.json").is_file():
        doc = json.loads((out / "matrix.json").read_text())
    new = {r["row"] for r in rows}
    order = [name for name, _, _ in modules()]
    merged = [r for r in doc["rows"] if r["row"] not in new] + rows
    merged.sort(key=lambda r: order.index(r["row"]) if r["row"] in order else len(order))
    doc = {"runs": doc["runs"] + [meta], "rows": merged}
    write_json(out / "matrix.json", doc)
    atomic_write_text(out / "matrix.md", markdown(merged, doc))
    print(f"wrote {out / 'matrix.json'} and {out / 'matrix.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
