"""Every preset's equations, checked against an independent NumPy implementation that
reads the parameters by the documented layout (tests/numpy_reference.py)."""

import dataclasses

import numpy as np
import pytest
import torch

import lstmkit
from conftest import ALL_PRESETS, randomize
from numpy_reference import lstm_stack

EXTRA_VARIANTS = {
    # combinations beyond the presets, one per switch interaction worth checking
    "ln+peepholes+fgr": lstmkit.LSTMVariant(peepholes=True, full_gate_recurrence=True, layer_norm=True),
    "cifg+fgr": lstmkit.LSTMVariant(peepholes=True, coupled_input_forget=True, full_gate_recurrence=True),
    "nig+nog+noaf": lstmkit.LSTMVariant(input_gate=False, output_gate=False, output_activation="identity",
                                        peepholes=True),
    "ln+identity": lstmkit.LSTMVariant(layer_norm=True, input_activation="identity", output_activation="identity"),
}


@pytest.fixture(params=["auto", "reference"], autouse=True)
def backend(request, monkeypatch):
    """Both the dispatched (fused) path and the reference loop answer to the equations."""
    monkeypatch.setenv("LSTMKIT_BACKEND", request.param)
    return request.param


def _check(variant, proj_size, bidirectional, num_layers, bias=True):
    I, H, T, B = 3, 4, 5, 3
    m = lstmkit.LSTM(I, H, num_layers, bias=bias, bidirectional=bidirectional, proj_size=proj_size,
                     variant=variant, dtype=torch.float64)
    randomize(m, scale=0.7)
    x = torch.randn(T, B, I, dtype=torch.float64)
    lengths = torch.tensor([5, 2, 4])
    with torch.no_grad():
        out, state = m(x, lengths=lengths)
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    sw = dataclasses.asdict(m.variant)
    ref_out, ref_h, ref_c = lstm_stack(sw, sd, x.numpy(), lengths.numpy(), num_layers, bidirectional,
                                       H, proj_size or H)
    np.testing.assert_allclose(out.numpy(), ref_out, atol=1e-12, rtol=0)
    np.testing.assert_allclose(state[0].numpy(), ref_h, atol=1e-12, rtol=0)
    np.testing.assert_allclose(state[1].numpy(), ref_c, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ALL_PRESETS)
@pytest.mark.parametrize("proj_size, bidirectional, num_layers", [(0, False, 1), (2, True, 2)])
def test_preset_equations(name, proj_size, bidirectional, num_layers):
    _check(name, proj_size, bidirectional, num_layers)


@pytest.mark.parametrize("name", list(EXTRA_VARIANTS))
def test_switch_combinations(name):
    _check(EXTRA_VARIANTS[name], 0, True, 2)
    _check(EXTRA_VARIANTS[name], 2, False, 1, bias=False)


def test_reference_detects_a_wrong_cell():
    """The NumPy reference is strict enough to catch a cell that differs slightly."""
    with pytest.raises(AssertionError):
        m_check = lstmkit.LSTMVariant.preset("vanilla")
        # check vanilla's module against the equations of "standard" (peepholes ignored)
        I, H = 3, 4
        m = lstmkit.LSTM(I, H, variant=m_check, dtype=torch.float64)
        randomize(m)
        x = torch.randn(5, 2, I, dtype=torch.float64)
        with torch.no_grad():
            out, _ = m(x)
        sd = {k: v.numpy() for k, v in m.state_dict().items() if not k.startswith("weight_ch")}
        sw = dataclasses.asdict(lstmkit.LSTMVariant.preset("standard"))
        ref_out, _, _ = lstm_stack(sw, sd, x.numpy(), np.array([5, 5]), 1, False, H, H)
        np.testing.assert_allclose(out.numpy(), ref_out, atol=1e-6)
