"""LSTMVariant: switches, presets, validation, and the parameter layout it implies."""

import dataclasses

import pytest
import torch

import lstmkit
from lstmkit import LSTMVariant, PRESETS

GREFF_EIGHT = ["nig", "nfg", "nog", "niaf", "noaf", "np", "cifg", "fgr"]


def test_presets_are_what_the_papers_say():
    std = LSTMVariant.preset("standard")
    van = LSTMVariant.preset("vanilla")
    assert std == LSTMVariant() and not std.peepholes and std.forget_gate
    assert van == std.replace(peepholes=True)
    h97 = LSTMVariant.preset("hochreiter1997")
    assert (h97.input_gate, h97.forget_gate, h97.output_gate, h97.peepholes) == (True, False, True, False)
    # Greff's eight each differ from vanilla in exactly one switch.
    for name in GREFF_EIGHT:
        v = LSTMVariant.preset(name)
        diff = [f.name for f in dataclasses.fields(v) if getattr(v, f.name) != getattr(van, f.name)]
        assert len(diff) == 1, (name, diff)
    assert LSTMVariant.preset("cifg").coupled_input_forget
    assert LSTMVariant.preset("fgr").full_gate_recurrence
    assert LSTMVariant.preset("niaf").input_activation == "identity"
    assert LSTMVariant.preset("noaf").output_activation == "identity"
    assert LSTMVariant.preset("layer_norm").layer_norm


@pytest.mark.parametrize(
    "name, blocks, peep, rec",
    [
        ("standard", ("i", "f", "g", "o"), (), ("i", "f", "o")),
        ("vanilla", ("i", "f", "g", "o"), ("i", "f", "o"), ("i", "f", "o")),
        ("hochreiter1997", ("i", "g", "o"), (), ("i", "o")),
        ("nig", ("f", "g", "o"), ("f", "o"), ("f", "o")),
        ("nfg", ("i", "g", "o"), ("i", "o"), ("i", "o")),
        ("nog", ("i", "f", "g"), ("i", "f"), ("i", "f")),
        ("cifg", ("i", "g", "o"), ("i", "o"), ("i", "o")),
    ],
)
def test_layout(name, blocks, peep, rec):
    v = LSTMVariant.preset(name)
    assert v.gate_blocks == blocks and v.peephole_gates == peep and v.recurrent_gates == rec


@pytest.mark.parametrize("name", list(PRESETS))
def test_parameter_shapes_follow_layout(name):
    v = LSTMVariant.preset(name)
    H, I, P = 5, 3, 2
    m = lstmkit.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=P, variant=v)
    G = len(v.gate_blocks)
    for k in range(2):
        for s in ("", "_reverse"):
            sd = {n: t.shape for n, t in m.named_parameters()}
            n_in = I if k == 0 else 2 * P
            assert sd[f"weight_ih_l{k}{s}"] == (G * H, n_in)
            assert sd[f"weight_hh_l{k}{s}"] == (G * H, P)
            assert sd[f"bias_ih_l{k}{s}"] == (G * H,) and sd[f"bias_hh_l{k}{s}"] == (G * H,)
            assert sd[f"weight_hr_l{k}{s}"] == (P, H)
            if v.peepholes:
                assert sd[f"weight_ch_l{k}{s}"] == (len(v.peephole_gates) * H,)
            else:
                assert f"weight_ch_l{k}{s}" not in sd
            if v.full_gate_recurrence:
                Q = len(v.recurrent_gates)
                assert sd[f"weight_gg_l{k}{s}"] == (Q * H, Q * H)
            else:
                assert f"weight_gg_l{k}{s}" not in sd


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(input_gate=False, coupled_input_forget=True), "needs input_gate"),
        (dict(forget_gate=False, coupled_input_forget=True), "needs forget_gate"),
        (dict(input_activation="relu"), "input_activation"),
        (dict(output_activation="sigmoid"), "output_activation"),
        (dict(input_gate=False, forget_gate=False, output_gate=False, peepholes=True), "peephole"),
        (dict(input_gate=False, forget_gate=False, output_gate=False, full_gate_recurrence=True), "no gates"),
    ],
)
def test_nonsense_combinations_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTMVariant(**kwargs)


def test_switch_types_checked():
    with pytest.raises(TypeError, match="peepholes"):
        LSTMVariant(peepholes=1)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="unknown variant 'vanila'.*standard"):
        LSTMVariant.preset("vanila")
    with pytest.raises(ValueError, match="unknown variant"):
        lstmkit.LSTM(2, 3, variant="vanila")
    with pytest.raises(TypeError, match="variant must be"):
        lstmkit.LSTM(2, 3, variant=3)


def test_frozen_hashable_and_serialisable():
    v = LSTMVariant.preset("fgr")
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.peepholes = False
    assert {v: 1}[LSTMVariant.preset("fgr")] == 1
    assert LSTMVariant.from_dict(v.to_dict()) == v
    with pytest.raises(ValueError, match="unknown LSTMVariant switches"):
        LSTMVariant.from_dict({"bogus": True})
    assert v.name == "fgr" and LSTMVariant(peepholes=True, input_gate=False, forget_gate=False).name is None


def test_forget_bias_initialisation():
    for name in PRESETS:
        m = lstmkit.LSTM(3, 4, variant=name)
        v = m.variant
        if "f" not in v.gate_blocks:
            continue
        f = slice(v.gate_blocks.index("f") * 4, (v.gate_blocks.index("f") + 1) * 4)
        total = m.bias_ih_l0[f] + m.bias_hh_l0[f]
        if name == "standard":  # torch's initialisation, for parity
            assert not torch.allclose(total, torch.ones(4))
        else:
            assert torch.equal(total, torch.ones(4)), name
    m = lstmkit.LSTM(3, 4, variant="standard", forget_bias=2.5)
    assert torch.equal(m.bias_ih_l0[4:8] + m.bias_hh_l0[4:8], torch.full((4,), 2.5))
    cell = lstmkit.LSTMCell(3, 4, variant="vanilla")
    assert torch.equal(cell.bias_ih[4:8], torch.ones(4))
