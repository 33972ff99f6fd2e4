"""The modules the export tests (ONNX, TorchScript, torch.export) build: one case per LSTM
preset and per registered family, each with random weights and random stack settings.

A case is ``(name, family, build)`` with ``build(num_layers, bidirectional, batch_first)`` ->
a module in evaluation mode. :func:`inputs` makes an input (and its ``lengths`` / ``dt``)
for any case at any (T, B). tests/layers/test_onnx.py checks that :data:`CASES` covers every
registered family and every preset, so a new family fails there until it is added here.
"""

from __future__ import annotations

import random

import torch

import lstmkit
from lstmkit import PRESETS
from lstmkit.families import family_names


def randomize(module: torch.nn.Module, seed: int, scale: float = 0.4) -> torch.nn.Module:
    """Every parameter N(0, scale^2) (layer-norm gains around 1): a wrong mapping cannot hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) * scale
            p.copy_(noise + 1.0 if name.startswith("weight_ln") else noise)
    return module


def _lstm(variant, **kw):
    return lambda L, D, bf: lstmkit.LSTM(3, 4, num_layers=L, bidirectional=D, batch_first=bf, variant=variant, **kw)


FRAME = (5, 6)  # ConvLSTM's feature map (its peepholes need a fixed frame)

CASES: list[tuple[str, str, object]] = [(p, "lstm", _lstm(p)) for p in PRESETS] + [
    ("lstm_proj", "lstm", _lstm("standard", proj_size=2)),
    ("lstm_nobias", "lstm", _lstm("vanilla", bias=False)),
    ("gru", "gru", lambda L, D, bf: lstmkit.GRU(3, 4, num_layers=L, bidirectional=D, batch_first=bf)),
    ("rnn_tanh", "rnn", lambda L, D, bf: lstmkit.RNN(3, 4, num_layers=L, bidirectional=D, batch_first=bf)),
    ("rnn_relu", "rnn", lambda L, D, bf: lstmkit.RNN(3, 4, num_layers=L, bidirectional=D, batch_first=bf,
                                                     nonlinearity="relu")),
    ("conv_lstm", "conv_lstm", lambda L, D, bf: lstmkit.ConvLSTM(2, 3, 3, num_layers=L, bidirectional=D,
                                                                 batch_first=bf, frame_size=FRAME)),
    ("slstm", "slstm", lambda L, D, bf: lstmkit.sLSTM(4, 4, num_heads=2, num_layers=L, bidirectional=D,
                                                      batch_first=bf)),
    ("mlstm", "mlstm", lambda L, D, bf: lstmkit.mLSTM(4, 4, num_heads=2, num_layers=L, bidirectional=D,
                                                      batch_first=bf)),
    ("tlstm", "tlstm", lambda L, D, bf: lstmkit.TLSTM(3, 4, num_layers=L, bidirectional=D, batch_first=bf)),
    ("depth_gated_lstm", "depth_gated_lstm",
     lambda L, D, bf: lstmkit.DepthGatedLSTM(3, 4, num_layers=L, bidirectional=D, batch_first=bf)),
    ("cell_graph_mut1", "cell_graph",
     lambda L, D, bf: lstmkit.CellGraphRNN(3, 4, num_layers=L, bidirectional=D, batch_first=bf, variant="mut1")),
]
NAMES = [c[0] for c in CASES]
_BY_NAME = {c[0]: c for c in CASES}
#: the ONNX operator a case exports to (None: an onnx::Loop)
NATIVE = {**{p: "LSTM" for p in PRESETS if p not in ("fgr", "layer_norm")}, "lstm_nobias": "LSTM", "gru": "GRU",
          "rnn_tanh": "RNN", "rnn_relu": "RNN"}


def covered_families() -> set[str]:
    return {c[1] for c in CASES}


def registered_families() -> set[str]:
    return set(family_names())


def build(name: str, num_layers: int = 1, bidirectional: bool = False, batch_first: bool = False, seed: int = 0,
          dtype=torch.float32):
    """The case's module, random weights, evaluation mode."""
    m = _BY_NAME[name][2](num_layers, bidirectional, batch_first).to(dtype)
    return randomize(m, seed).eval()


def settings(name: str, seed: int) -> dict:
    """Random stack settings for a case (what a user might pick), from ``seed``."""
    rng = random.Random(f"{name}-{seed}")
    return {"num_layers": rng.choice([1, 2]), "bidirectional": rng.random() < 0.5, "batch_first": rng.random() < 0.5}


def inputs(m, T: int, B: int, seed: int = 1, lengths: bool = True, full_first: bool = True):
    """(x, kwargs) for module ``m`` at (T, B): kwargs holds ``lengths`` (B,) int64 (one
    sequence of full length T, the rest random in [1, T]) and a T-LSTM's ``dt``."""
    g = torch.Generator().manual_seed(seed)
    dtype = next(m.parameters()).dtype
    feat = (m.input_size, *FRAME) if m.feature_axes == 3 else (m.input_size,)
    shape = (B, T, *feat) if m.batch_first else (T, B, *feat)
    x = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
    kw = {}
    if lengths:
        n = torch.randint(1, T + 1, (B,), generator=g)
        if full_first:
            n[0] = T
        kw["lengths"] = n
    if isinstance(m, lstmkit.TLSTM):
        kw["dt"] = (torch.rand(shape[:2], generator=g, dtype=torch.float64) * 3).to(dtype)
    return x, kw


def assert_all_close(got, want, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """The exported module's tensors match the eager module's, one by one (same count)."""
    assert len(got) == len(want)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol)


def states(out) -> list[torch.Tensor]:
    """A module's (output, state) as a flat list of tensors."""
    y, s = out
    return [y, *(s if isinstance(s, tuple) else (s,))]
