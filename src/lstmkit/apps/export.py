"""Exporting an application's model directory to a file that runs without lstmkit: ONNX
(for ONNX Runtime and the rest of the ONNX world) or TorchScript (for libtorch / C++).

Every model class the apps write is covered: the CTC recognizers (``lstmkit speech``,
``lstmkit handwriting``), the sequence classifiers (``lstmkit classify``, ``lstmkit text
classify``, ``lstmkit speech fsdd``), the time-aware classifiers (``lstmkit classify
--time-mode tlstm``: a T-LSTM whose elapsed times ride in the input's last feature), the
forecasters (``lstmkit forecast``, one series or a panel) and the character language
models (``lstmkit text lm``), with every LSTM variant (native ONNX LSTM operators where
exact, an ``onnx::Loop`` otherwise: lstmkit.layers.onnx). Beside the exported file a JSON file
(``FILE.json``) says what the graph expects: its inputs and outputs (names, shapes,
dtypes), the feature pipeline's parameters (sample rate, MFCC settings, standardisation)
and the label alphabet, so that a user can run it with ONNX Runtime alone; see
``docs/deploying.md`` and :mod:`lstmkit.apps.recognize_wav_onnx`.

Before the file is written the export is checked: the ONNX graph is run with ONNX Runtime
(the TorchScript module with torch) on the example input and must give PyTorch's outputs
(within 1e-4); an export that baked the outputs in as constants fails this check.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import __version__
from ..io import atomic_write_bytes, atomic_write_text
from ..models import CharLM, CTCRecognizer, Forecaster, SequenceClassifier, load_model
from ..models.io import read_model_config
from ..models.time_aware import TimeAwareClassifier
from .runfiles import check_output_file

__all__ = ["ExportError", "export_model", "load_model_dir", "graph_for", "FORMATS", "SHIPPED_MODELS", "resolve_model_dir"]

FORMATS = ("onnx", "torchscript")


class ExportError(ValueError):
    """The exported file does not compute what the PyTorch model computes (nothing was
    written); the message says which output and by how much."""


_SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}
_CLASSES = {c.__name__: c for c in (CTCRecognizer, SequenceClassifier, TimeAwareClassifier, Forecaster, CharLM)}
_PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
SHIPPED_MODELS = ("speech", "handwriting")
"""Names ``--model`` also accepts for the models that ship with lstmkit (when no directory
of that name exists)."""

_DIGITS = [str(d) for d in range(10)]


def resolve_model_dir(model: str | os.PathLike) -> Path:
    """``model`` as a directory; ``"speech"`` or ``"handwriting"`` name the shipped models
    when no directory of that name exists.

    Example:
        >>> resolve_model_dir("speech").name
        'speech'
    """
    p = Path(model)
    if not p.exists() and str(model) in SHIPPED_MODELS:
        return _PRETRAINED / str(model)
    return p


def load_model_dir(model_dir: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild whichever app model ``model_dir`` holds: ``(model in eval mode, config.json
    table {"class", "config", "extra"})``; one line on a missing, corrupt or unknown model.

    Example:
        >>> m, doc = load_model_dir("speech")
        >>> doc["class"], type(m).__name__
        ('CTCRecognizer', 'CTCRecognizer')
    """
    d = resolve_model_dir(model_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"--model {model_dir}: no such model directory (or one of {SHIPPED_MODELS})")
    doc = read_model_config(d)
    cls = _CLASSES.get(doc["class"])
    if cls is None:
        raise ValueError(f"{d} holds a {doc['class']!r}; export knows {sorted(_CLASSES)}")
    model, _ = load_model(cls, d)
    return model, doc


class _CTCGraph(nn.Module):
    """CTCRecognizer.forward, as a graph: log-probabilities (T, B, K+1)."""

    def __init__(self, m: CTCRecognizer) -> None:
        super().__init__()
        self.lstm, self.output = m.lstm, m.output

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        out, _ = self.lstm(features, None, lengths)
        return torch.log_softmax(self.output(out), dim=-1)


class _ClassifierGraph(nn.Module):
    """SequenceClassifier.forward in eval mode (no dropout), written for torch.jit.script:
    logits (B, K)."""

    def __init__(self, m: SequenceClassifier) -> None:
        super().__init__()
        self.embedding, self.conv, self.lstm, self.output = m.embedding, m.conv, m.lstm, m.output
        self.pooling: str = m.pooling
        self.D: int = 2 if m.lstm.bidirectional else 1

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        if self.embedding is not None:
            x = self.embedding(x)
        out, state = self.lstm(x, None, lengths)
        h = state[0]
        if self.pooling == "last":
            feat = torch.cat([h[h.shape[0] - self.D + d] for d in range(self.D)], dim=-1)
        elif self.pooling == "max":
            pad = torch.arange(out.shape[0], device=out.device).unsqueeze(1) >= lengths.unsqueeze(0)
            feat = out.masked_fill(pad.unsqueeze(-1), float("-inf")).max(0).values
        else:
            feat = out.sum(0) / lengths.to(out.dtype).unsqueeze(-1)  # outputs are zero past each length
        if self.conv is not None:
            feat = torch.cat([feat, self.conv(x, lengths)], dim=-1)
        return self.output(feat)


class _TimeAwareGraph(nn.Module):
    """TimeAwareClassifier.forward with lengths: logits (B, K); ``x`` (T, B, I + 1), the
    elapsed time before each step last."""

    def __init__(self, m: TimeAwareClassifier) -> None:
        super().__init__()
        self.rnn, self.output = m.rnn, m.output

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        out, _ = self.rnn(x[..., :-1], None, lengths, x[..., -1])
        return self.output(out.sum(0) / lengths.to(out.dtype).unsqueeze(-1))  # outputs are zero past each length


class _ForecastGraph(nn.Module):
    """Forecaster.forward in eval mode: quantiles (B, horizon, Q), the mean over members
    (each member's read-out shaped as Forecaster._shape does)."""

    def __init__(self, m: Forecaster) -> None:
        super().__init__()
        self.rnns, self.heads = m.rnns, m.heads
        self.horizon: int = m.horizon
        self.Q: int = len(m.quantiles)
        self.mid: int = m.mid

    def forward(self, x: Tensor) -> Tensor:
        outs = []
        for rnn in self.rnns:
            out, _ = rnn(x)
            outs.append(out[-1])
        qs = []
        for k, head in enumerate(self.heads):
            r = head(outs[k]).view(-1, self.horizon, self.Q)
            mid = r[..., self.mid : self.mid + 1]
            below = mid - torch.flip(torch.cumsum(F.softplus(torch.flip(r[..., : self.mid], [-1])), -1), [-1])
            above = mid + torch.cumsum(F.softplus(r[..., self.mid + 1 :]), -1)
            qs.append(torch.cat([below, mid, above], -1))
        return torch.stack(qs).mean(0)


class _LMGraph(nn.Module):
    """CharLM.forward with the state as inputs and outputs: logits, h_n, c_n."""

    def __init__(self, m: CharLM) -> None:
        super().__init__()
        self.embedding, self.lstm, self.output = m.embedding, m.lstm, m.output

    def forward(self, ids: Tensor, h0: Tensor, c0: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        out, state = self.lstm(self.embedding(ids), (h0, c0))
        return self.output(out), state[0], state[1]


def _app_of(doc: dict) -> str:
    extra, cls = doc["extra"], doc["class"]
    if cls == "CTCRecognizer":
        return "speech" if "sample_rate" in extra or doc["config"]["input_size"] == 78 else "handwriting"
    if cls == "SequenceClassifier":
        return "text classify" if "tokenizer" in extra else "speech fsdd" if "classes" not in extra else "classify"
    if cls == "Forecaster" and "panel" in extra:
        return "forecast (panel)"
    return {"Forecaster": "forecast", "CharLM": "text lm", "TimeAwareClassifier": "classify (time-aware)"}[cls]


def graph_for(model: nn.Module, doc: dict, T: int = 12, B: int = 2) -> dict:
    """What an export of ``model`` (rebuilt from config.json table ``doc``) consists of: the
    graph module (plain tensors in and out), an example input, the input and output names
    with their symbolic shapes, and what a user needs around it (``"pipeline"``).

    Args:
        model: from :func:`load_model_dir`. doc: its config.json table.
        T, B: the example input's time steps and batch (every axis named by a letter in
            the shapes stays dynamic in the export).

    Example:
        >>> m, doc = load_model_dir("speech")
        >>> g = graph_for(m, doc)
        >>> g["input_names"], g["inputs"][0]["shape"]
        (['features', 'lengths'], ['T', 'B', 39])
    """
    cfg, extra, cls = doc["config"], doc["extra"], doc["class"]
    gen = torch.Generator().manual_seed(0)
    app = _app_of(doc)
    pipeline: dict = {"app": f"lstmkit {app}", "time_major": True}
    if cls == "CTCRecognizer":
        K = int(cfg["num_labels"])
        graph = _CTCGraph(model)
        example = (torch.randn(T, B, int(cfg["input_size"]), generator=gen), torch.tensor([T] + [max(1, T // 2)] * (B - 1)))
        inputs = [("features", ["T", "B", int(cfg["input_size"])], "float32"), ("lengths", ["B"], "int64")]
        outputs = [("log_probs", ["T", "B", K + 1], "float32")]
        pipeline["decoding"] = {"kind": "ctc", "blank": 0, "alphabet": _DIGITS if K == 10 else None,
                                "note": "output k >= 1 is alphabet[k - 1]; best path: argmax per frame, "
                                        "merge repeats, drop blanks"}
        if app == "speech":
            from .speech import model_features  # the table the model was trained with

            pipeline["features"] = dict(model_features(extra))
        else:
            pipeline["features"] = {"kind": "image line", "line_height": extra.get("line_height"),
                                    "pool": extra.get("pool"),
                                    "note": "see lstmkit.apps.handwriting.image_to_line and line_features"}
        pipeline["features"]["normalisation"] = extra.get("normalisation")
        pipeline["features"]["standardise"] = "(features - mean) / std, per feature"
    elif cls == "SequenceClassifier":
        graph = _ClassifierGraph(model)
        lengths = torch.tensor([T] + [max(1, T // 2)] * (B - 1))
        if "vocab_size" in cfg:
            x = torch.randint(1, int(cfg["vocab_size"]), (T, B), generator=gen)
            inputs = [("tokens", ["T", "B"], "int64"), ("lengths", ["B"], "int64")]
        else:
            x = torch.randn(T, B, int(cfg["input_size"]), generator=gen)
            inputs = [("features", ["T", "B", int(cfg["input_size"])], "float32"), ("lengths", ["B"], "int64")]
        example = (x, lengths)
        outputs = [("logits", ["B", int(cfg["num_classes"])], "float32")]
        pipeline["classes"] = extra.get("classes") or extra.get("class_names") or [str(k) for k in range(int(cfg["num_classes"]))]
        for key in ("norm", "normalize", "downsample", "channels", "tokenizer", "mean", "std", "read_options"):
            if key in extra:
                pipeline[key] = extra[key]
    elif cls == "TimeAwareClassifier":
        graph = _TimeAwareGraph(model)
        I = int(cfg["input_size"])
        x = torch.cat([torch.randn(T, B, I, generator=gen), torch.rand(T, B, 1, generator=gen) * 2], -1)
        example = (x, torch.tensor([T] + [max(1, T // 2)] * (B - 1)))
        inputs = [("features", ["T", "B", I + 1], "float32"), ("lengths", ["B"], "int64")]
        outputs = [("logits", ["B", int(cfg["num_classes"])], "float32")]
        pipeline["classes"] = extra.get("classes") or [str(k) for k in range(int(cfg["num_classes"]))]
        pipeline["elapsed_time"] = ("the last feature of each step is the time elapsed since the previous step "
                                    "(>= 0, 0 at each first step and on padding), scaled as extra.time says")
        for key in ("norm", "normalize", "downsample", "channels", "time", "read_options"):
            if key in extra:
                pipeline[key] = extra[key]
    elif cls == "Forecaster":
        graph = _ForecastGraph(model)
        prep = extra.get("preprocessing")
        if prep is None and "panel" in extra:  # one global model; every series' window is the same length
            series = extra["panel"].get("series") or {}
            prep = next(iter(series.values()), {}).get("preprocessing")
            pipeline["panel"] = {"id_column": extra["panel"].get("id_column"),
                                 "preprocessing": {k: v["preprocessing"] for k, v in series.items()}}
        window = int((prep or {}).get("window", T))
        example = (torch.randn(window, B, int(cfg["input_size"]), generator=gen),)
        inputs = [("window", ["T", "B", int(cfg["input_size"])], "float32")]
        outputs = [("quantiles", ["B", int(cfg["horizon"]), len(cfg["quantiles"])], "float32")]
        pipeline["quantiles"] = cfg["quantiles"]
        pipeline["preprocessing"] = prep
        chosen = (extra.get("output") or {}).get("chosen", "lstm")
        pipeline["output"] = extra.get("output")
        if chosen != "lstm":
            pipeline["note"] = (f"this model directory forecasts with {chosen!r}, not the LSTM alone: the exported "
                                f"graph is its LSTM part")
    elif cls == "CharLM":
        graph = _LMGraph(model)
        L, H = int(cfg["num_layers"]), int(cfg["hidden_size"])
        example = (torch.randint(0, int(cfg["vocab_size"]), (T, B), generator=gen), torch.zeros(L, B, H),
                   torch.zeros(L, B, H))
        inputs = [("ids", ["T", "B"], "int64"), ("h0", [L, "B", H], "float32"), ("c0", [L, "B", H], "float32")]
        outputs = [("logits", ["T", "B", int(cfg["vocab_size"])], "float32"), ("h_n", [L, "B", H], "float32"),
                   ("c_n", [L, "B", H], "float32")]
        pipeline["vocab"] = extra.get("vocab")
        pipeline["note"] = "id 0 is <unk>; start with h0 = c0 = 0 and feed h_n, c_n back to continue"
    else:  # pragma: no cover - load_model_dir refuses other classes
        raise ValueError(f"no export for {cls}")
    return {"module": graph.eval(), "example": example,
            "inputs": [{"name": n, "shape": s, "dtype": t} for n, s, t in inputs],
            "outputs": [{"name": n, "shape": s, "dtype": t} for n, s, t in outputs],
            "input_names": [n for n, _, _ in inputs], "output_names": [n for n, _, _ in outputs],
            "pipeline": pipeline}


def _dynamic_axes(g: dict) -> dict:
    return {io["name"]: {i: a for i, a in enumerate(io["shape"]) if isinstance(a, str)}
            for io in g["inputs"] + g["outputs"]}


def _onnx_export(g: dict, path: Path, opset: int | None) -> None:
    """The graph module to ``path`` with torch.onnx.export (TorchScript exporter): the
    lstmkit layers inside become real recurrent graphs through their export hook
    (lstmkit.layers.onnx); the result is checked by the caller."""
    kw = dict(input_names=g["input_names"], output_names=g["output_names"], dynamic_axes=_dynamic_axes(g))
    if opset is not None:
        kw["opset_version"] = opset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.onnx's TracerWarnings on shapes: the check below decides
        torch.onnx.export(g["module"], g["example"], str(path), dynamo=False, **kw)


def _check_onnx(g: dict, path: Path, want: list[Tensor]) -> None:
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ImportError("checking an ONNX export needs onnxruntime: pip install 'lstmkit[export]'") from e
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    if names != g["input_names"]:
        raise ExportError(f"the ONNX export lost its inputs (graph inputs {names}, expected {g['input_names']}): "
                           f"the recurrent layers were not exported as a computation")
    feeds = {n: t.numpy() for n, t in zip(names, g["example"])}
    got = sess.run(None, feeds)
    _compare(got, want, "ONNX Runtime")
    # a second shape (other T and B): a graph that baked the example's shapes or values in fails here
    other = _other_inputs(g)
    with torch.no_grad():
        want2 = _as_list(g["module"](*other))
    got2 = _run(lambda: sess.run(None, {n: t.numpy() for n, t in zip(names, other)}), "ONNX Runtime (other shapes)")
    _compare(got2, want2, "ONNX Runtime (other shapes)")


def _run(fn, who: str):
    """``fn()``; a failure on inputs of other shapes (a graph with the example's shapes
    baked in) becomes one :class:`ExportError` line."""
    try:
        return fn()
    except Exception as e:  # onnxruntime and TorchScript raise their own kinds
        msg = " ".join(str(e).split())[:300]
        raise ExportError(f"{who} failed ({type(e).__name__}: {msg}); the export is wrong, nothing was written") from None


def _other_inputs(g: dict) -> tuple:
    """The example inputs at other shapes (a time-aware model's elapsed times kept >= 0)."""
    other = [_resize(t, n) for t, n in zip(g["example"], g["input_names"])]
    if g["pipeline"].get("elapsed_time"):
        other[0] = torch.cat([other[0][..., :-1], other[0][..., -1:].abs()], -1)
    return tuple(other)


def _resize(t: Tensor, name: str) -> Tensor:
    """The example input at T+3 steps and batch 3 (lengths and states follow)."""
    gen = torch.Generator().manual_seed(1)
    if name == "lengths":
        return torch.tensor([int(t.max()) + 3, 2, 1])
    if name in ("h0", "c0"):
        return torch.randn(t.shape[0], 3, t.shape[2], generator=gen) * 0.1
    shape = (t.shape[0] + 3, 3) + tuple(t.shape[2:])
    if t.dtype == torch.long:
        return torch.randint(1, int(t.max()) + 1, shape, generator=gen)
    return torch.randn(shape, generator=gen)


def _as_list(out) -> list[Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _compare(got, want: list[Tensor], who: str, tol: float = 1e-4) -> None:
    for k, (a, b) in enumerate(zip(got, want)):
        a = torch.as_tensor(a)
        if a.shape != b.shape or not torch.allclose(a.float(), b.float(), atol=tol, rtol=tol):
            err = (a.float() - b.float()).abs().max().item() if a.shape == b.shape else f"shape {tuple(a.shape)}"
            raise ExportError(f"{who} output {k} differs from PyTorch's ({err} vs tolerance {tol}); the export "
                               f"is wrong, nothing was written")


def _torchscript(g: dict):
    """torch.jit.script of the graph module; torch.jit.trace (with a warning) when it
    cannot be scripted."""
    try:
        # on a copy: torch.jit.script swaps submodules for their scriptable twins in place
        return torch.jit.script(copy.deepcopy(g["module"])), "script"
    except Exception as e:  # TorchScript raises many kinds for unsupported Python
        msg = " ".join(str(e).split())[:200]
        warnings.warn(f"lstmkit: torch.jit.script failed ({type(e).__name__}: {msg}); exported with torch.jit.trace "
                      f"instead (shapes and control flow of the example are fixed in the trace where it branches)",
                      stacklevel=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.trace(g["module"], g["example"], check_trace=False), "trace"


def export_model(model_dir: str | os.PathLike, format: str = "onnx", out: str | os.PathLike | None = None, *,
                 overwrite: bool = False, opset: int | None = None) -> dict:
    """Export an app's model directory to ONNX or TorchScript, checked against PyTorch,
    with a ``FILE.json`` beside it saying what the graph expects.

    Args:
        model_dir: a model directory written by any lstmkit app, or ``"speech"`` /
            ``"handwriting"`` for the shipped models.
        format: ``"onnx"`` or ``"torchscript"``.
        out: the file to write (default: the model directory's name + ``.onnx`` / ``.pt``
            in the current directory); the sidecar is ``out + ".json"``.
        overwrite: replace an existing ``out`` (and its sidecar); otherwise an existing
            file is refused before any work.
        opset: ONNX opset version (default: torch's).

    Returns:
        ``{"path", "sidecar", "format", "method", "class", "app"}``.

    Raises:
        ValueError: a bad ``format``, an existing output without ``overwrite``, a model
            directory lstmkit cannot read.
        ExportError: the exported graph does not compute what PyTorch computes.

    Example:
        >>> import tempfile, os, json
        >>> p = os.path.join(tempfile.mkdtemp(), "speech.pt")
        >>> r = export_model("speech", "torchscript", p)
        >>> json.load(open(r["sidecar"]))["inputs"][0]["name"]
        'features'
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or opset < 7):
        raise ValueError(f"opset must be an int >= 7, got {opset!r}")
    d = resolve_model_dir(model_dir)
    path = Path(out) if out is not None else Path(d.resolve().name + _SUFFIX[format])
    sidecar = Path(str(path) + ".json")
    check_output_file(path, overwrite, "--out")
    check_output_file(sidecar, overwrite, "--out (its .json)")
    model, doc = load_model_dir(d)
    g = graph_for(model, doc)
    with torch.no_grad():
        want = _as_list(g["module"](*g["example"]))
    with tempfile.TemporaryDirectory() as work:
        tmp = Path(work) / ("model" + _SUFFIX[format])
        if format == "onnx":
            _onnx_export(g, tmp, opset)
            _check_onnx(g, tmp, want)
            method = "onnx"
        else:
            scripted, method = _torchscript(g)
            scripted.save(str(tmp))
            loaded = torch.jit.load(str(tmp))
            other = _other_inputs(g)
            with torch.no_grad():
                _compare(_as_list(loaded(*g["example"])), want, f"TorchScript ({method})")
                _compare(_run(lambda: _as_list(loaded(*other)), f"TorchScript ({method}, other shapes)"),
                         _as_list(g["module"](*other)), f"TorchScript ({method}, other shapes)")
        meta = {"format": format, "method": method, "exported_by": f"lstmkit {__version__}", "model_dir": str(d),
                "class": doc["class"], "config": doc["config"], "inputs": g["inputs"], "outputs": g["outputs"],
                **g["pipeline"]}
        atomic_write_bytes(path, tmp.read_bytes())
    atomic_write_text(sidecar, json.dumps(meta, indent=1, allow_nan=False))
    return {"path": str(path), "sidecar": str(sidecar), "format": format, "method": method, "class": doc["class"],
            "app": g["pipeline"]["app"]}



# ---- ONNX Runtime vs PyTorch inference speed ------------------------------------------
SPEED_MODELS = ("standard", "gru", "vanilla")
SPEED_SHAPES = ((32, 100, 2, 64), (64, 100, 128, 256))


class _Outputs(nn.Module):
    """A recurrent module's output sequence alone (the state left out of the graph)."""

    def __init__(self, m: nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, x: Tensor) -> Tensor:
        return self.m(x)[0]


def _speed_module(name: str, I: int, H: int) -> nn.Module:
    from ..layers import GRU, LSTM

    torch.manual_seed(0)
    return (GRU(I, H) if name == "gru" else LSTM(I, H, variant=name)).eval()


def measure_speed(models=SPEED_MODELS, shapes=SPEED_SHAPES, reps: int = 10, threads: int = 1,
                  progress=None) -> list[dict]:
    """Inference time of one forward pass (B sequences of T steps, one layer) in PyTorch
    (lstmkit's module, and torch.nn's twin where there is one) and in ONNX Runtime on the
    module's ONNX export, all on ``threads`` threads in this process; medians of ``reps``
    after two warm-up runs.

    Args:
        models: "gru" or LSTM preset names ("standard", "vanilla", ...).
        shapes: (B, T, I, H) tuples, as ``lstmkit bench --shape BxTxIxH``.
        reps: timed repetitions per row. threads: torch and ONNX Runtime intra-op threads.
        progress: called with a one-line description before each row (or None).

    Returns:
        one dict per (model, shape): ``torch_ms``, ``torch_nn_ms`` (or None), ``onnx_ms``,
        ``ratio`` (torch_ms / onnx_ms: above 1 means ONNX Runtime is faster), ``max_abs_diff``.

    Example:
        >>> rows = measure_speed(["standard"], [(2, 5, 3, 4)], reps=1)  # doctest: +SKIP
    """
    import time

    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ImportError("measuring ONNX Runtime needs onnxruntime: pip install 'lstmkit[export]'") from e
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be a positive int, got {reps!r}")
    torch.set_num_threads(threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1

    def median_ms(fn) -> float:
        for _ in range(2):
            fn()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[len(ts) // 2] * 1e3

    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for name in models:
            for B, T, I, H in shapes:
                if progress is not None:
                    progress(f"{name} {B}x{T}x{I}x{H}")
                m = _speed_module(name, I, H)
                x = torch.randn(T, B, I, generator=torch.Generator().manual_seed(1))
                g = {"module": _Outputs(m).eval(), "example": (x,), "input_names": ["x"], "output_names": ["y"],
                     "inputs": [{"name": "x", "shape": ["T", "B", I]}], "outputs": [{"name": "y", "shape": ["T", "B", H]}]}
                path = Path(tmpdir) / f"{name}-{B}x{T}x{I}x{H}.onnx"
                from ..layers.onnx import export_onnx

                export_onnx(m, str(path), x)
                sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
                xname = sess.get_inputs()[0].name
                xn = x.numpy()
                with torch.no_grad():
                    ref = m(x)[0]
                    got = torch.as_tensor(sess.run(None, {xname: xn})[0])
                    torch_ms = median_ms(lambda: m(x))
                    twin = None
                    try:
                        twin = m.to_torch().eval()
                    except ValueError:
                        pass
                    twin_ms = median_ms(lambda: twin(x)) if twin is not None else None
                onnx_ms = median_ms(lambda: sess.run(None, {xname: xn}))
                rows.append({"model": name, "shape": f"{B}x{T}x{I}x{H}", "torch_ms": torch_ms, "torch_nn_ms": twin_ms,
                             "onnx_ms": onnx_ms, "ratio": torch_ms / onnx_ms,
                             "max_abs_diff": float((got - ref).abs().max()),
                             "onnx_ops": sorted({n.op_type for n in _onnx_nodes(path)})})
    return rows


def _onnx_nodes(path: Path):
    import onnx

    return onnx.load(str(path)).graph.node
