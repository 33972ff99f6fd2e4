"""One small module of every registered family and LSTM preset, with an input, for the
torch.compile / torch.func / parametrization tests (test_compile.py, test_func.py,
test_parametrize.py)."""

from __future__ import annotations

import torch

from lstmkit import PRESETS
from lstmkit.families import families, get_family
from lstmkit.kernels._build import load_extension

#: family names served by the fused C++ kernels (kernels/fused.py); none where the extension
#: cannot be built here (the reference loop then serves everything, and must still pass)
FUSED = ("lstm", "gru", "rnn") if load_extension() is not None else ()


def case_ids() -> list[str]:
    """``lstm-<preset>`` for every preset, then every other registered family."""
    ids = [f"lstm-{v}" for v in PRESETS]
    ids += [f.name for f in families() if f.name != "lstm"]
    return ids


def build(case: str, *, layers: int = 1, bidirectional: bool = False, dtype=torch.float64, T: int = 4, B: int = 2,
          I: int = 3, H: int = 4, seed: int = 0):
    """``(module, x, kwargs)``: the module of ``case`` (float64, random weights of scale 0.5,
    layer-norm gains around 1), a time-major input needing no gradient, and the extra
    keyword arguments of its call (a T-LSTM's elapsed times)."""
    fam_name, _, variant = case.partition("-")
    fam = get_family(fam_name)
    kw = dict(num_layers=layers, bidirectional=bidirectional, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    if fam_name == "lstm":
        m = fam.module(I, H, variant=variant, **kw)
    elif fam_name == "conv_lstm":
        m = fam.module(2, 3, 3, frame_size=(4, 4), **kw)
    elif fam_name == "mlstm":
        m = fam.module(I, H, num_heads=2, **kw)
    else:
        m = fam.module(I, H, **kw)
    with torch.no_grad():
        for name, p in m.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64).to(dtype) * 0.5
            p.copy_(noise + 1.0 if name.startswith("weight_ln") else noise)
    if fam_name == "conv_lstm":
        x = torch.randn(T, B, 2, 4, 4, generator=g, dtype=torch.float64).to(dtype)
    else:
        x = torch.randn(T, B, I, generator=g, dtype=torch.float64).to(dtype)
    extra = {}
    if fam_name == "tlstm":
        extra["dt"] = torch.rand(T, B, generator=g, dtype=torch.float64).to(dtype) + 0.1
    return m, x, extra


def flat(result) -> list[torch.Tensor]:
    """A module's ``(output, state)`` as a flat list of tensors."""
    out, state = result
    state = state if isinstance(state, (tuple, list)) else (state,)
    return [out, *state]


def loss_of(result, seed: int = 1) -> torch.Tensor:
    """A scalar that weighs every output and final-state entry differently (so that every
    gradient is exercised, not only a sum's)."""
    total = 0
    for k, t in enumerate(flat(result)):
        # fixed weights, no random draw (vmap refuses random operations)
        w = torch.sin(torch.arange(t.numel(), dtype=t.dtype) * 0.7 + seed + k).reshape(t.shape)
        total = total + (t * w).sum()
    return total
