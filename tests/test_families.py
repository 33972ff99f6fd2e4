"""The family registry and the cell contract: a family added from outside the house (a
spec + a thin module + a registration, here in the test) runs through the one loop, the
generic layers (stacking, directions, lengths, streaming), the models and the kernels'
planning call without any of them naming it; any-shaped state and side inputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import lstmkit
from lstmkit import families
from lstmkit.cells import CellSpec, GRUCellSpec, LSTMCellSpec
from lstmkit.families import Family, family_names, family_of, get_family, register_family, resolve_model
from lstmkit.kernels import RunConfig, plan
from lstmkit.layers import Recurrent
from lstmkit.models import SequenceModel
from lstmkit.recurrent import run_recurrence


# ---- a toy family: IndRNN-like, h_t = tanh(W x_t + u * h_{t-1} + b) ---------------------
class ToySpec(CellSpec):
    def param_shapes(self):
        H, I = self.hidden_size, self.input_size
        return {"weight_ih": (H, I), "weight_hh": (H,), "bias_ih": (H,)}

    def state_sizes(self):
        return (self.hidden_size,)

    def input_projection(self, x, p):
        return x @ p["weight_ih"].t() + p["bias_ih"]

    def step(self, xp, state, p, recurrent_mask=None):
        h = state[0] if recurrent_mask is None else state[0] * recurrent_mask
        return (torch.tanh(xp + p["weight_hh"] * h),)


class Toy(Recurrent):
    def __init__(self, input_size, hidden_size, num_layers=1, **kw):
        super().__init__(lambda n: ToySpec(n, hidden_size), input_size, hidden_size, num_layers=num_layers, **kw)
        self.reset_parameters()


# ---- a time-aware toy: the state decays with the elapsed time before each step ----------
class DecaySpec(ToySpec):
    side_inputs = ("elapsed",)

    def step(self, xp, state, p, recurrent_mask=None, side=None):
        decay = torch.exp(-side["elapsed"]).unsqueeze(-1)  # (B, 1)
        return (torch.tanh(xp + p["weight_hh"] * state[0] * decay),)


class Decay(Recurrent):
    def __init__(self, input_size, hidden_size, **kw):
        super().__init__(lambda n: DecaySpec(n, hidden_size), input_size, hidden_size, **kw)
        self.reset_parameters()


# ---- a map-state toy: state (B, C, H, W), per-pixel recurrence --------------------------
class MapSpec(CellSpec):
    feature_axes = 3

    def param_shapes(self):
        return {"weight_ih": (self.hidden_size, self.input_size), "weight_hh": (self.hidden_size,)}

    @property
    def output_size(self):  # the state shape needs the frame size; the channels do not
        return self.hidden_size

    def state_shapes(self, input_shape=None):
        if input_shape is None:
            raise ValueError("MapSpec's state shape needs the input's frame size")
        return ((self.hidden_size, *input_shape[1:]),)

    def check_input_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[0] != self.input_size:
            raise ValueError(f"input must be (C={self.input_size}, H, W) per step, got {tuple(input_shape)}")

    def input_projection(self, x, p):
        return torch.einsum("...chw,kc->...khw", x, p["weight_ih"])

    def step(self, xp, state, p, recurrent_mask=None):
        h = state[0] if recurrent_mask is None else state[0] * recurrent_mask
        return (torch.tanh(xp + p["weight_hh"].view(-1, 1, 1) * h),)


class MapToy(Recurrent):
    def __init__(self, input_size, hidden_size, **kw):
        super().__init__(lambda n: MapSpec(n, hidden_size), input_size, hidden_size, **kw)
        self.reset_parameters()


@pytest.fixture
def toy_family():
    fams = [
        register_family(Family(name="toy", spec=ToySpec, module=Toy, title="Toy RNN", aliases=("indtoy",))),
        register_family(Family(name="decay", spec=DecaySpec, module=Decay, title="Decay RNN")),
        register_family(Family(name="maptoy", spec=MapSpec, module=MapToy, feature_axes=3)),
    ]
    yield fams[0]
    for f in fams:
        families._FAMILIES.pop(f.name)
        for n in (f.name, *f.aliases):
            families._NAMES.pop(n)


def test_builtin_families_are_registered():
    assert family_names()[:3] == ("lstm", "gru", "rnn")
    lstm = get_family("lstm")
    assert lstm.module is lstmkit.LSTM and lstm.cell_module is lstmkit.LSTMCell and lstm.torch_twin is nn.LSTM
    assert lstm.spec is LSTMCellSpec and "cifg" in lstm.variants and lstm.runner is not None
    assert get_family("elman") is get_family("rnn") and get_family("gru").spec is GRUCellSpec
    assert family_of(lstmkit.GRU(2, 3)).name == "gru" and family_of(LSTMCellSpec(2, 3)).name == "lstm"
    assert resolve_model("nig") == (lstm, "nig") and resolve_model("lstm") == (lstm, "standard")


def test_unknown_names_list_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown cell family 'lstmm'; registered families: lstm, gru, rnn \(alias elman\)"):
        get_family("lstmm")
    with pytest.raises(ValueError, match=r"unknown model 'cifgg'.*lstm, gru, rnn/elman.*cifg"):
        resolve_model("cifgg")
    with pytest.raises(ValueError, match="already registered for family 'rnn'"):
        register_family(Family(name="elman", spec=ToySpec, module=Toy))
    with pytest.raises(TypeError, match="CellSpec subclass"):
        register_family(Family(name="x", spec=int, module=Toy))
    with pytest.raises(ValueError, match="belongs to no registered family"):
        family_of(nn.Linear(2, 2))


def test_a_new_family_runs_everywhere_without_being_named(toy_family):
    torch.manual_seed(0)
    assert resolve_model("indtoy") == (toy_family, None)
    assert "toy" in family_names() and "unknown model" not in repr(resolve_model("toy"))
    # the generic layers: stacking, both directions, lengths; compared with the loop itself
    m = Toy(3, 4, num_layers=2, bidirectional=True)
    x = torch.randn(6, 2, 3)
    lengths = torch.tensor([6, 3])
    out, h = m(x, lengths=lengths)
    assert out.shape == (6, 2, 8) and h.shape == (4, 2, 4)
    assert bool((out[3:, 1] == 0).all())
    f0, hf0 = run_recurrence(m.specs[0], m.cell_params(0, 0), x, m.specs[0].zero_state(2), lengths=lengths)
    b0, hb0 = run_recurrence(m.specs[1], m.cell_params(0, 1), x, m.specs[1].zero_state(2), lengths=lengths,
                             reverse=True)
    f1, _ = run_recurrence(m.specs[2], m.cell_params(1, 0), torch.cat([f0, b0], dim=-1), m.specs[2].zero_state(2),
                           lengths=lengths)
    assert torch.allclose(out[..., :4], f1, atol=1e-6) and torch.allclose(h[0], hf0[0], atol=1e-6)
    # no runner registered: the plan says so, the reference loop serves
    assert plan(m.specs[0]).runners == [None]
    # streaming through the stepper = the whole sequence
    uni = Toy(3, 4, num_layers=2).eval()
    step, state, ys = uni.stepper(), None, []
    for t in range(6):
        y, state = step(x[t], state)
        ys.append(y)
    whole, hn = uni(x)
    assert torch.allclose(torch.stack(ys), whole, atol=1e-6) and torch.allclose(state, hn, atol=1e-6)
    # a model resolves it through the registry
    seq = SequenceModel(3, 4, 2, cell="toy", readout="last")
    assert isinstance(seq.rnn, Toy) and seq(x)[0].shape == (2, 2)
    with pytest.raises(ValueError, match="truncated_gradient"):
        SequenceModel(3, 4, 2, cell="toy", truncated_gradient=True)
    # gradients through the reference loop
    seq(x)[0].sum().backward()
    assert all(p.grad is not None for p in seq.rnn.parameters())


def test_side_inputs_reach_each_step(toy_family):
    torch.manual_seed(1)
    m = Decay(2, 3, num_layers=1)
    x = torch.randn(5, 2, 2)
    elapsed = torch.rand(5, 2) * 3
    out, h = m(x, side={"elapsed": elapsed})
    # by hand, step by step
    p = m.cell_params(0)
    hh = torch.zeros(2, 3)
    for t in range(5):
        hh = torch.tanh(x[t] @ p["weight_ih"].t() + p["bias_ih"] + p["weight_hh"] * hh * torch.exp(-elapsed[t])[:, None])
        assert torch.allclose(out[t], hh, atol=1e-6)
    # batch_first takes (B, T); a large elapsed time forgets the past
    bf = Decay(2, 3, batch_first=True)
    bf.load_state_dict(m.state_dict())
    out_bf, _ = bf(x.transpose(0, 1), side={"elapsed": elapsed.t()})
    assert torch.allclose(out_bf.transpose(0, 1), out, atol=1e-6)
    forget = torch.full((5, 2), 50.0)
    o2, _ = m(x, side={"elapsed": forget})
    assert torch.allclose(o2[1], torch.tanh(x[1] @ p["weight_ih"].t() + p["bias_ih"]), atol=1e-6)
    with pytest.raises(ValueError, match="needs side="):
        m(x)
    with pytest.raises(ValueError, match=r"must have shape \(T, B\) = \(5, 2\)"):
        m(x, side={"elapsed": torch.rand(4, 2)})
    with pytest.raises(ValueError, match="unknown side input"):
        m(x, side={"elapsed": elapsed, "dt": elapsed})
    with pytest.raises(ValueError, match="takes none"):
        lstmkit.GRU(2, 3)(x, side={"elapsed": elapsed})


def test_feature_map_state_through_loop_and_layers(toy_family):
    torch.manual_seed(2)
    m = MapToy(2, 3, bidirectional=True, num_layers=2)
    x = torch.randn(4, 2, 2, 5, 6)  # (T, B, C, H, W)
    lengths = torch.tensor([4, 2])
    out, h = m(x, lengths=lengths)
    assert out.shape == (4, 2, 6, 5, 6) and h.shape == (4, 2, 3, 5, 6)
    assert bool((out[2:, 1] == 0).all())
    # the final state of the short sequence is the state after its own last step
    s0 = m.specs[0]
    ref, (hf,) = run_recurrence(s0, m.cell_params(0), x[:2, 1:], s0.initial_state(1, (2, 5, 6)))
    assert torch.allclose(h[0, 1], hf[0], atol=1e-6)
    # zoneout and recurrent dropout broadcast over the map; unbatched input
    zm = MapToy(2, 3, zoneout=0.5, recurrent_dropout=0.3).train()
    o, _ = zm(x)
    assert o.shape == (4, 2, 3, 5, 6)
    assert MapToy(2, 3)(x[:, 0])[0].shape == (4, 3, 5, 6)
    with pytest.raises(ValueError, match=r"5-D \(batched\) or 4-D \(unbatched\)"):
        m(torch.randn(4, 2, 5))
    with pytest.raises(ValueError, match=r"input must be \(C=2, H, W\) per step"):
        m(torch.randn(4, 2, 3, 5, 6))
    with pytest.raises(ValueError, match=r"initial state h_0 must have shape \(4, 2, 3, 5, 6\)"):
        m(x, torch.zeros(4, 2, 3, 5, 5))


def test_cell_contract_defaults():
    spec = LSTMCellSpec(3, 5, "fgr")
    assert spec.state_shapes() == ((5,), (5,), (15,)) and spec.feature_axes == 1 and spec.side_inputs == ()
    assert [t.shape for t in spec.initial_state(2)] == [(2, 5), (2, 5), (2, 15)]
    assert all(torch.equal(a, b) for a, b in zip(spec.zero_state(2), spec.initial_state(2)))
    with pytest.raises(ValueError, match="expected input_size=3"):
        spec.check_input_shape((4,))
    with pytest.raises(ValueError, match="1 feature axis"):
        spec.check_input_shape((3, 2))
    with pytest.raises(TypeError, match="RunConfig"):
        plan(spec, {"zoneout": True})
    # (an LSTM's recurrent mask and zoneout run on the fused kernel since issue 14; a GRU's do not)
    assert plan(GRUCellSpec(3, 5), RunConfig(recurrent_mask=True)).runners == [None]
    assert math.isclose(spec.output_size, 5)
