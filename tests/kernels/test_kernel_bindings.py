"""The fused extension's sources and its named Python interface (issue 12).

csrc/ is split by job into headers that fused_rnn.cpp, the one translation unit, includes;
the extension is called by keyword with named structs and answers with named fields.
"""

from __future__ import annotations

import re

import pytest
import torch

from lstmkit.cells import LSTMCellSpec
from lstmkit.kernels import _build, fused


def _includes(path) -> set[str]:
    return set(re.findall(r'^#include "([^"]+)"', path.read_text(), flags=re.M))


def test_every_source_file_is_compiled():
    # _build compiles fused_rnn.cpp only: every other file in csrc/ must be reached from it
    # through #include, or its code would silently not be part of the extension.
    csrc = _build._CSRC
    assert _build._SOURCES == ("fused_rnn.cpp",)
    seen, todo = set(), ["fused_rnn.cpp"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_includes(csrc / name) - seen)
    files = {p.name for p in csrc.iterdir() if p.is_file()}
    assert files - seen == set()
    assert {"gemm.h", "buffer_cache.h", "layer_norm.h", "lstm_forward.h", "lstm_backward.h", "gru.h",
            "elman.h"} <= files


@pytest.fixture(scope="module")
def ext():
    e = _build.load_extension()
    if e is None:
        pytest.skip(f"fused extension unavailable here: {_build.extension_error()}")
    return e


def test_lstm_config_is_built_from_named_flags(ext):
    flags = fused.lstm_flags(LSTMCellSpec(2, 3, "cifg"))
    cfg = ext.LSTMConfig(**flags, hidden_size=3, eps=1e-5)
    assert (cfg.coupled, cfg.forget_gate, cfg.peepholes, cfg.hidden_size) == (True, False, True, 3)
    assert "coupled=True" in repr(cfg)
    with pytest.raises(ValueError, match="hidden_size must be positive"):
        ext.LSTMConfig(**flags, hidden_size=0, eps=1e-5)
    with pytest.raises(ValueError, match="coupled"):
        ext.LSTMConfig(**{**flags, "forget_gate": True}, hidden_size=3, eps=1e-5)
    with pytest.raises(TypeError):  # keywords only: no positional flag lists
        ext.LSTMConfig(*flags.values(), 3, 1e-5)


def test_entry_points_take_keywords_only(ext):
    x = torch.randn(2, 1, 4)
    with pytest.raises(TypeError):
        ext.elman_infer(x, torch.randn(4, 4), None, None, torch.randn(4, 4), torch.zeros(1, 4))
    r = ext.elman_infer(input=x, weight_ih=torch.randn(4, 4), weight_hh=torch.randn(4, 4), h0=torch.zeros(1, 4))
    assert r.output.shape == (2, 1, 4) and r.h_n.shape == (1, 4) and r.hprev is None


def test_saved_and_prepared_calls_reject_unknown_names(ext):
    assert "gates" in ext.LSTMSaved.fields and "c_n" in ext.LSTMSaved.fields
    assert ext.LSTMSaved(gates=torch.zeros(1)).gates.shape == (1,)
    with pytest.raises(TypeError, match="no field gatez"):
        ext.LSTMSaved(gatez=torch.zeros(1))
    with pytest.raises(TypeError, match="unknown parameter weight_xx"):
        ext.GRUInfer(names={"weight_xx": "w"})


def test_prepared_call_reads_the_parameters_by_name(ext):
    spec = LSTMCellSpec(3, 4, "vanilla")
    torch.manual_seed(0)
    p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
    x, state = torch.randn(5, 2, 3), tuple(torch.randn(2, 4) for _ in range(2))
    with torch.no_grad():
        want = fused.run_fused(spec, p, x, state, ext=ext)
        run = fused.infer_runner(spec, {k: f"{k}_l0" for k in p})
        got = run(ext, {f"{k}_l0": v for k, v in p.items()}, x, state, False)
    assert torch.equal(got[0], want[0]) and all(torch.equal(a, b) for a, b in zip(got[1], want[1]))
    with pytest.raises(ValueError, match="params has no weight_hh"):
        run(ext, {f"{k}_l0": v for k, v in p.items() if k != "weight_hh"}, x, state, False)
