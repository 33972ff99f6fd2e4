"""The speed benchmark: lstmkit's layers against torch.nn.LSTM, measured in one process.

For each model (LSTM presets and the GRU) and shape (B, T, I, H) it measures the
inference forward and the training step (forward + backward), and for streaming use
(B=1, one step per call) the time per step. Every figure is the median of ``reps``
repetitions after warm-up, and each is paired with torch.nn.LSTM measured in the same
process with its repetitions interleaved (so that load from other processes hits both
alike): the ratio ours/torch is the number to read. A large matmul is timed in the same
run; each row also says which fraction of that matmul's GFLOP/s its own matmul work
reaches. When jax and flax are importable, flax's LSTM (``nn.RNN`` over
``OptimizedLSTMCell``, lax.scan under jit) is measured on the same shapes; when Keras 3 and
jax are installed, Keras's ``LSTM`` on its JAX backend too (in a worker process, since a
process has one Keras backend; its repetitions interleaved with ours over a pipe, each
timed inside the worker).

Run ``lstmkit bench`` or ``python -m lstmkit bench`` (``--quick`` for a ~30 s run).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

__all__ = [
    "SHAPES",
    "QUICK_SHAPES",
    "MODELS",
    "STREAM_SHAPE",
    "run_bench",
    "format_table",
    "matmul_gflops",
    "write_json",
]

#: (B, T, I, H) of the issue's four shapes.
SHAPES: tuple[tuple[int, int, int, int], ...] = ((32, 100, 2, 64), (32, 1000, 2, 64), (64, 100, 128, 256), (16, 500, 64, 512))
#: a shorter set for ``--quick``.
QUICK_SHAPES: tuple[tuple[int, int, int, int], ...] = ((32, 100, 2, 64), (64, 25, 128, 256))
#: (I, H) of the streaming rows (B=1, one step per call).
STREAM_SHAPE = (32, 128)
#: models benchmarked by default: LSTM presets, the same preset forced onto the fused
#: kernel ("standard/fused", as a check of the dispatch rule), and the GRU.
MODELS: tuple[str, ...] = ("standard", "standard/fused", "vanilla", "hochreiter1997", "cifg", "fgr", "layer_norm", "gru",
                           "slstm", "mlstm")
#: rows that are also timed on the ``xlstm`` package's CPU paths (when it is importable):
#: the sLSTM on its ``vanilla`` backend, the mLSTM on ``parallel_stabilized_simple``.
XLSTM_PEERS: tuple[str, ...] = ("slstm", "mlstm")
#: rows also timed on flax's and Keras's LSTM (the same equations as torch.nn.LSTM's)
LSTM_PEER_MODELS: tuple[str, ...] = ("standard", "vanilla")


@dataclass
class _Timer:
    """Median seconds of callables measured with interleaved repetitions.

    At least ``reps`` repetitions each; cheap rows get more (up to ``max_reps``, about
    ``budget_s`` seconds per callable), so that a burst of load from another process
    moves the median less.
    """

    reps: int
    warmup: int = 2
    budget_s: float = 0.5
    max_reps: int = 200

    def paired(self, fns: Sequence[Callable[[], object]]) -> list[float]:
        """Median seconds of each callable. A callable with ``self_timed = True`` returns
        its own seconds (a worker process's peer: the pipe's round trip is not its time)."""
        slowest = 0.0
        for f in fns:
            for _ in range(self.warmup):
                t0 = time.perf_counter()
                f()
                slowest = max(slowest, time.perf_counter() - t0)
        n = self.reps
        if slowest > 0:
            n = max(self.reps, min(self.max_reps, int(self.budget_s / slowest)))
        self.last_reps = n
        times: list[list[float]] = [[] for _ in fns]
        for _ in range(n):
            for k, f in enumerate(fns):
                t0 = time.perf_counter()
                own = f()
                elapsed = time.perf_counter() - t0
                times[k].append(float(own) if getattr(f, "self_timed", False) else elapsed)
        return [statistics.median(t) for t in times]


def matmul_gflops(n: int = 1024, reps: int = 10) -> float:
    """GFLOP/s of an (n x n) @ (n x n) float32 matmul on this machine, median of ``reps``."""
    if n <= 0 or reps <= 0:
        raise ValueError(f"n and reps must be positive, got n={n}, reps={reps}")
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    (t,) = _Timer(reps, budget_s=0.0).paired([lambda: torch.mm(a, b, out=out)])
    return 2 * n**3 / t / 1e9


def _make_model(name: str, I: int, H: int):
    """The layer module of a bench model name: a registered family (its default variant)
    or a variant of one (``"cifg"``), resolved through :mod:`lstmkit.families`."""
    from .families import resolve_model

    family, variant = resolve_model(name.split("/")[0], feature_axes=1)
    if family.variants:
        return family.module(I, H, variant=variant)
    return family.module(I, H)


def _matmul_flops(name: str, B: int, T: int, I: int, H: int) -> float:
    """Multiply-add FLOPs of one forward: every weight matrix the cell multiplies per step
    (input, recurrent, FGR's gate-to-gate; from the cell spec's parameter shapes)."""
    spec = _make_model(name, I, H).specs[0]
    shapes = spec.param_shapes()
    per_row = sum(math.prod(shapes[k]) for k in ("weight_ih", "weight_hh", "weight_gg", "weight_hr") if k in shapes)
    return 2.0 * T * B * per_row


class _Env:
    """Set LSTMKIT_BACKEND for the duration of a call (the "/fused" rows)."""

    def __init__(self, backend: str | None):
        self.backend = backend

    def __enter__(self):
        self.old = os.environ.get("LSTMKIT_BACKEND")
        if self.backend is not None:
            os.environ["LSTMKIT_BACKEND"] = self.backend

    def __exit__(self, *exc):
        if self.backend is not None:
            if self.old is None:
                os.environ.pop("LSTMKIT_BACKEND", None)
            else:
                os.environ["LSTMKIT_BACKEND"] = self.old


def _backend_of(name: str) -> str | None:
    return name.split("/")[1] if "/" in name else None


def _xlstm_functions(name: str, ours, x):
    """The ``xlstm`` package's forward computing what ``ours`` (an lstmkit sLSTM or mLSTM
    layer, one layer) computes on ``x`` (T, B, I): its sLSTM cell (vanilla backend) after
    our input projection, or its mLSTM ``parallel_stabilized_simple`` on our projections
    and the output gate. None when the package is not importable."""
    try:
        import xlstm  # noqa: F401
    except ImportError:
        return None
    import torch.nn.functional as F

    if name.split("/")[0] == "slstm":
        cell = ours.to_xlstm(output_shape="SBH", input_shape="SBGNH")
        w, b = ours.weight_ih_l0, None

        def run():
            y, _ = cell(F.linear(x, w, b))
            return y
        params = list(cell.parameters()) + [w]
    else:
        from xlstm.blocks.mlstm.backends import parallel_stabilized_simple

        from .cells.mlstm import xlstm_inputs

        spec = ours.specs[0]
        p = ours.cell_params(0)

        def run():
            a = xlstm_inputs(spec, p, x)
            h = parallel_stabilized_simple(a["queries"], a["keys"], a["values"], a["igate_preact"], a["fgate_preact"])
            T, B = x.shape[0], x.shape[1]
            return torch.sigmoid(a["ogate_preact"]) * h.permute(2, 0, 1, 3).reshape(T, B, -1)
        params = list(p.values())

    def infer():
        with torch.no_grad():
            run()

    def train():
        run().sum().backward()
        for q in params:
            q.grad = None
    return {"inference": infer, "training": train}


def _bench_shape(name: str, shape, timer: _Timer, flax_fns=None, keras_fns=None) -> list[dict]:
    B, T, I, H = shape
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    ours = _make_model(name, I, H)
    ref = torch.nn.LSTM(I, H)
    env = _Env(_backend_of(name))

    def ours_infer():
        with env, torch.no_grad():
            ours(x)

    def ref_infer():
        with torch.no_grad():
            ref(x)

    def ours_train():
        with env:
            out, _ = ours(x)
            out.sum().backward()

    def ref_train():
        out, _ = ref(x)
        out.sum().backward()

    rows = []
    peer = _xlstm_functions(name, ours, x) if name.split("/")[0] in XLSTM_PEERS else None
    flops = _matmul_flops(name, B, T, I, H)
    for mode, fo, fr, mult in (("inference", ours_infer, ref_infer, 1.0), ("training", ours_train, ref_train, 3.0)):
        ours.eval() if mode == "inference" else ours.train()
        fns = [fo, fr]
        lstm_row = name in LSTM_PEER_MODELS
        flax_at = keras_at = None
        if flax_fns is not None and lstm_row and mode in flax_fns:
            flax_at = len(fns)
            fns.append(flax_fns[mode])
        if keras_fns is not None and lstm_row and mode in keras_fns:
            keras_at = len(fns)
            fns.append(keras_fns[mode])
        if peer is not None:
            fns.append(peer[mode])
        times = timer.paired(fns)
        row = {
            "model": name,
            "shape": {"B": B, "T": T, "I": I, "H": H},
            "mode": mode,
            "ms": times[0] * 1e3,
            "torch_ms": times[1] * 1e3,
            "ratio": times[0] / times[1],
            "gflops": mult * flops / times[0] / 1e9,
            "reps": timer.last_reps,
        }
        if peer is not None:  # the xlstm package's time, last of the paired callables
            row["xlstm_ms"] = times[-1] * 1e3
            row["xlstm_ratio"] = times[0] / times[-1]
        if flax_at is not None:
            row["flax_ms"] = times[flax_at] * 1e3
        if keras_at is not None:
            row["keras_jax_ms"] = times[keras_at] * 1e3
        rows.append(row)
        for p in ours.parameters():
            p.grad = None
        for p in ref.parameters():
            p.grad = None
    return rows


def _bench_stream(name: str, timer: _Timer, steps: int) -> dict:
    I, H = STREAM_SHAPE
    torch.manual_seed(0)
    xs = torch.randn(steps, 1, 1, I)
    ours = _make_model(name, I, H).eval()
    ref = torch.nn.LSTM(I, H).eval()
    env = _Env(_backend_of(name))

    def run(model):
        def f():
            state = None
            with torch.no_grad():
                for t in range(steps):
                    _, state = model(xs[t], state)

        return f

    def ours_run():
        # streaming is what the stepper is for: the kernels chosen once, not per call
        with env:
            step = ours.stepper()
            state = None
            for t in range(steps):
                _, state = step(xs[t][0], state)

    # The same steps one level down: the dispatcher the layers call, without the
    # layer module's own Python (argument checks, state stacking).
    from .kernels import run_direction

    spec, params = ours.specs[0], ours.cell_params(0)

    def kernel_run():
        with env, torch.no_grad():
            state = spec.zero_state(1)
            for t in range(steps):
                _, state = run_direction(spec, params, xs[t], state)

    t_ours, t_ref, t_kernel = timer.paired([ours_run, run(ref), kernel_run])
    return {
        "model": name,
        "shape": {"B": 1, "T": 1, "I": I, "H": H},
        "mode": "streaming",
        "us_per_step": t_ours / steps * 1e6,
        "torch_us_per_step": t_ref / steps * 1e6,
        "ratio": t_ours / t_ref,
        "kernel_us_per_step": t_kernel / steps * 1e6,
        "reps": timer.last_reps,
    }


def _flax_functions(shape):
    """jit-compiled flax LSTM forward and training step for ``shape``, or None."""
    try:
        import jax
        import jax.numpy as jnp
        from flax import linen as nn
    except ImportError:
        return None
    B, T, I, H = shape
    model = nn.RNN(nn.OptimizedLSTMCell(H))
    x = jnp.asarray(torch.randn(B, T, I).numpy())
    params = model.init(jax.random.PRNGKey(0), x)
    fwd = jax.jit(lambda p, x: model.apply(p, x))
    grad = jax.jit(jax.grad(lambda p, x: model.apply(p, x).sum()))
    return {
        "inference": lambda: jax.block_until_ready(fwd(params, x)),
        "training": lambda: jax.block_until_ready(grad(params, x)),
    }


#: The Keras peer's worker: a script run as ``python -c`` with KERAS_BACKEND=jax (it imports
#: neither torch nor lstmkit). argv: B T I H. It builds ``keras.layers.LSTM(H,
#: return_sequences=True)``, jit-compiles its forward and its gradient through
#: ``stateless_call``, warms both up, prints ``ready``, then answers each line
#: ``inference`` / ``training`` with the seconds one call took; ``quit`` ends it.
_KERAS_WORKER = r"""
import os, sys, time
try:
    import numpy as np
    import jax
    import keras
    if keras.backend.backend() != "jax":
        raise ImportError("Keras runs on the " + keras.backend.backend() + " backend, not jax")
except Exception as e:
    print("unavailable: " + type(e).__name__ + ": " + str(e).splitlines()[0], flush=True)
    sys.exit(0)
B, T, I, H = map(int, sys.argv[1:5])
layer = keras.layers.LSTM(H, return_sequences=True)
layer.build((B, T, I))
x = jax.numpy.asarray(np.random.default_rng(0).standard_normal((B, T, I)).astype(np.float32))
tv = [v.value for v in layer.trainable_variables]
ntv = [v.value for v in layer.non_trainable_variables]
def forward(tv, x):
    return layer.stateless_call(tv, ntv, x)[0]
fns = {"inference": jax.jit(forward), "training": jax.jit(jax.grad(lambda tv, x: forward(tv, x).sum()))}
for f in fns.values():
    for _ in range(2):
        jax.block_until_ready(f(tv, x))
print("ready " + keras.__version__ + " jax " + jax.__version__, flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd not in fns:
        break
    t0 = time.perf_counter()
    jax.block_until_ready(fns[cmd](tv, x))
    print(repr(time.perf_counter() - t0), flush=True)
"""


class _KerasPeer:
    """Keras 3's LSTM on the JAX backend for one shape, in a worker process.

    ``fns`` maps ``"inference"`` / ``"training"`` to self-timed callables (see
    :meth:`_Timer.paired`), or is None when Keras or jax cannot run (``reason`` says why).
    Close it (or use it as a context manager) to end the worker.
    """

    def __init__(self, shape) -> None:
        import subprocess

        self.proc = None
        self.fns = None
        self.version = None
        self.reason = None
        try:
            import importlib.util

            if importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None:
                self.reason = "keras or jax not installed"
                return
        except (ImportError, ValueError) as e:
            self.reason = f"{type(e).__name__}: {e}"
            return
        env = {**os.environ, "KERAS_BACKEND": "jax"}
        self.proc = subprocess.Popen([sys.executable, "-c", _KERAS_WORKER, *map(str, shape)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        first = self.proc.stdout.readline().strip()
        if not first.startswith("ready"):
            self.reason = first or f"the worker exited with status {self.proc.wait()}"
            self.close()
            return
        self.version = first.split(" ", 1)[1]
        self.fns = {mode: self._call(mode) for mode in ("inference", "training")}

    def _call(self, mode: str):
        def run() -> float:
            self.proc.stdin.write(mode + "\n")
            self.proc.stdin.flush()
            reply = self.proc.stdout.readline()
            if not reply:
                raise RuntimeError("the Keras peer's worker process ended unexpectedly")
            return float(reply)

        run.self_timed = True
        return run

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.stdin.write("quit\n")
                proc.stdin.flush()
            proc.stdin.close()
            proc.wait(timeout=30)
        except Exception:  # noqa: BLE001 - a stuck or broken worker is killed, whatever went wrong
            proc.kill()
            proc.wait()
        finally:
            proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_bench(
    *,
    quick: bool = False,
    models: Sequence[str] | None = None,
    shapes: Sequence[tuple[int, int, int, int]] | None = None,
    reps: int = 10,
    stream_steps: int = 200,
    progress: bool = True,
) -> dict:
    """Measure every (model, shape, mode) row; returns a JSON-serialisable dict.

    Args:
        quick: the short run (QUICK_SHAPES, 50 streaming steps).
        models: names from :data:`MODELS` (default: all).
        shapes: (B, T, I, H) tuples (default: :data:`SHAPES`, or QUICK_SHAPES if quick).
        reps: timed repetitions per row (after 2 warm-up runs); the median is reported.
        stream_steps: steps per streaming repetition.
        progress: show a progress bar (tqdm) on the terminal.

    Returns:
        ``{"meta": {...}, "rows": [...]}``; each row has model, shape, mode, ms (or
        us_per_step), torch_ms, ratio (ours / torch.nn.LSTM), gflops and matmul_fraction.

    Example:
        >>> r = run_bench(models=["vanilla"], shapes=[(4, 5, 2, 8)], reps=1, stream_steps=2, progress=False)  # doctest: +SKIP
        >>> sorted({row["mode"] for row in r["rows"]})  # doctest: +SKIP
        ['inference', 'streaming', 'training']
    """
    models = list(MODELS if models is None else models)
    from .families import resolve_model

    for m in models:
        try:
            resolve_model(m.split("/")[0], feature_axes=1)
        except (TypeError, ValueError) as e:
            raise ValueError(f"models: {e}") from None
        if _backend_of(m) not in (None, "fused", "reference"):
            raise ValueError(f"models: {m!r}: the part after '/' must be 'fused' or 'reference'")
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be a positive int, got {reps!r}")
    shapes = list(shapes if shapes is not None else (QUICK_SHAPES if quick else SHAPES))
    if quick:
        stream_steps = min(stream_steps, 50)
    # --quick keeps the minimum of `reps` but spends less on extra repetitions.
    timer = _Timer(reps, budget_s=0.05 if quick else 0.5)
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    from .kernels._build import extension_error, load_extension

    t0 = time.perf_counter()
    ext_ok = load_extension() is not None  # the first build is not part of any figure
    build_s = time.perf_counter() - t0
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    peak = matmul_gflops()
    tasks = [("shape", m, s) for s in shapes for m in models] + [("stream", m, None) for m in models]
    bar = None
    if progress:
        from .progress import progress_bar

        bar = progress_bar(len(tasks), "lstmkit bench", "row")
    flax_cache: dict = {}
    keras_peers: dict = {}
    rows = []
    for kind, m, s in tasks:
        if bar is not None:
            bar.set_postfix_str(f"{m} {'x'.join(map(str, s)) if s else 'streaming'}")
        if kind == "shape":
            if s not in flax_cache:
                flax_cache[s] = _flax_functions(s)
            if s not in keras_peers and any(x in LSTM_PEER_MODELS for x in models):
                for old_peer in keras_peers.values():  # one worker at a time
                    old_peer.close()
                keras_peers[s] = _KerasPeer(s)
            peer_fns = keras_peers[s].fns if s in keras_peers else None
            rows.extend(_bench_shape(m, s, timer, flax_cache[s], peer_fns))
        else:
            rows.append(_bench_stream(m, timer, stream_steps))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    keras_versions = sorted({p.version for p in keras_peers.values() if p.version})
    keras_reasons = sorted({p.reason for p in keras_peers.values() if p.reason})
    for p in keras_peers.values():
        p.close()
    peak_after = matmul_gflops()
    peak = max(peak, peak_after)
    for r in rows:
        if "gflops" in r:
            r["matmul_fraction"] = r["gflops"] / peak
    meta = {
        "date": started,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": _command_line(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "matmul_gflops": peak,
        "matmul_size": 1024,
        "reps": reps,
        "stream_steps": stream_steps,
        "fused_extension": ext_ok,
        "fused_extension_error": extension_error(),
        "first_build_or_load_s": build_s,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "flax": any(v is not None for v in flax_cache.values()),
        "keras_jax": keras_versions[0] if keras_versions else None,
        "keras_jax_unavailable": keras_reasons[0] if keras_reasons and not keras_versions else None,
        "backend_env": os.environ.get("LSTMKIT_BACKEND", "auto"),
        # the paths chosen on this machine (kernels/choose.py): forced, rule, cached or measured
        "choices": _choices(),
    }
    return {"meta": meta, "rows": rows}


def _choices() -> list[dict]:
    from .kernels import choose

    return [{k: d[k] for k in ("what", "cls", "dtype", "choice", "source", "reason")} for d in choose.decisions()]


def _command_line() -> str:
    argv = list(sys.argv)
    if argv and Path(argv[0]).name == "lstmkit":
        return " ".join(["lstmkit", *argv[1:]])
    return " ".join(["python -m lstmkit bench", *argv[2:]] if argv[1:2] == ["bench"] else ["python -m lstmkit bench", *argv[1:]])


def format_table(result: dict) -> str:
    """The result of :func:`run_bench` as a Markdown table (also readable on a terminal)."""
    rows = result["rows"]
    meta = result["meta"]
    flax = any("flax_ms" in r for r in rows)
    keras = any("keras_jax_ms" in r for r in rows)
    peer = any("xlstm_ms" in r for r in rows)
    lines = [
        f"matmul (1024^3 float32, {meta['threads']} threads): {meta['matmul_gflops']:.0f} GFLOP/s; "
        f"ratio = lstmkit / torch.nn.LSTM, same process, interleaved, median of >= {meta['reps']} reps "
        "(more for cheap rows, ~0.5 s each); "
        "streaming: the layer module's stepper per step (kernel: run_direction per step, no module overhead)",
        "",
        "| model | B | T | I | H | mode | lstmkit | torch.nn.LSTM | ratio | GFLOP/s | of matmul |"
        + (" flax |" if flax else "") + (" Keras (jax) |" if keras else "")
        + (" xlstm package | ours / xlstm |" if peer else ""),
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if flax else "") + ("---|" if keras else "")
        + ("---|---|" if peer else ""),
    ]
    if meta.get("choices"):
        names = ("streaming", "small", "large")
        chosen = "; ".join(f"{c['what']} {c['dtype']} {names[c['cls']] if isinstance(c['cls'], int) else c['cls']}: "
                           f"{c['choice']} ({c['source']})" for c in meta["choices"])
        lines.insert(1, f"paths chosen here (lstmkit doctor says why): {chosen}")
    for r in rows:
        s = r["shape"]
        if r["mode"] == "streaming":
            cells = [r["model"], "1", "1/call", s["I"], s["H"], "streaming",
                     f"{r['us_per_step']:.1f} µs/step (kernel {r['kernel_us_per_step']:.1f})",
                     f"{r['torch_us_per_step']:.1f} µs/step", f"{r['ratio']:.2f}x", "", ""]
        else:
            cells = [r["model"], s["B"], s["T"], s["I"], s["H"], r["mode"], f"{r['ms']:.1f} ms",
                     f"{r['torch_ms']:.1f} ms", f"{r['ratio']:.2f}x", f"{r['gflops']:.1f}",
                     f"{100 * r['matmul_fraction']:.0f}%"]
        if flax:
            cells.append(f"{r['flax_ms']:.1f} ms" if "flax_ms" in r else "")
        if keras:
            cells.append(f"{r['keras_jax_ms']:.1f} ms" if "keras_jax_ms" in r else "")
        if peer:
            cells += ([f"{r['xlstm_ms']:.1f} ms", f"{r['xlstm_ratio']:.2f}x"] if "xlstm_ms" in r else ["", ""])
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def write_json(path: Path, data: dict) -> None:
    """Write a benchmark result as JSON, atomically (io.py)."""
    from .io import atomic_write_text  # the one atomic write (io.py)

    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
