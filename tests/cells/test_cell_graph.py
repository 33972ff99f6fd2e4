"""The cell-graph family (Jozefowicz et al. 2015's space): MUT1-MUT3 against their
equations written out by hand, float64 gradcheck, the registry, bad switches."""

import pytest
import torch

from lstmkit.cells.cell_graph import CELL_GRAPH_PRESETS, CellGraph, CellGraphSpec
from lstmkit.families import resolve_model
from lstmkit.layers.cell_graph import CellGraphRNN
from lstmkit.models import SequenceModel

sig, tanh = torch.sigmoid, torch.tanh


def _params(spec, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g, dtype=torch.float64) * 0.5 for k, s in spec.param_shapes().items()}


def _by_hand(name, x, h, p, H):
    """The paper's equations (module docstring), blocks sliced by hand."""
    W, R, b = p["weight_ih"], p["weight_hh"], p["bias"]
    bz, br, bh = b[:H], b[H:2 * H], b[2 * H:]
    xpad = torch.nn.functional.pad(x, (0, H - x.shape[-1]))
    if name == "mut1":  # W blocks z, r; R blocks r, c
        z = sig(x @ W[:H].t() + bz)
        r = sig(x @ W[H:2 * H].t() + h @ R[:H].t() + br)
        c = tanh((r * h) @ R[H:].t() + tanh(xpad) + bh)
    elif name == "mut2":  # W blocks z, c; R blocks z, r, c
        z = sig(x @ W[:H].t() + h @ R[:H].t() + bz)
        r = sig(xpad + h @ R[H:2 * H].t() + br)
        c = tanh((r * h) @ R[2 * H:].t() + x @ W[H:].t() + bh)
    else:  # mut3 / jgru: W blocks z, r, c; R blocks z, r, c
        hz = tanh(h) if name == "mut3" else h
        z = sig(x @ W[:H].t() + hz @ R[:H].t() + bz)
        r = sig(x @ W[H:2 * H].t() + h @ R[H:2 * H].t() + br)
        c = tanh((r * h) @ R[2 * H:].t() + x @ W[2 * H:].t() + bh)
    return z * c + (1 - z) * h


@pytest.mark.parametrize("name", ["mut1", "mut2", "mut3", "jgru"])
def test_presets_compute_the_papers_equations(name):
    H, I = 5, 3
    spec = CellGraphSpec(I, H, name)
    p = _params(spec)
    x = torch.randn(4, I, dtype=torch.float64)
    h = torch.randn(4, H, dtype=torch.float64)
    (out,) = spec.step(spec.input_projection(x, p), (h,), p)
    torch.testing.assert_close(out, _by_hand(name, x, h, p, H))


@pytest.mark.parametrize("name", sorted(CELL_GRAPH_PRESETS))
def test_gradcheck_float64_with_lengths(name):
    torch.manual_seed(0)
    m = CellGraphRNN(2, 3, variant=name).double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2])
    assert torch.autograd.gradcheck(lambda x: m(x, lengths=lengths)[0], (x,))


def test_registry_models_stepper_and_forget_bias():
    fam, variant = resolve_model("mut3")
    assert fam.name == "cell_graph" and variant == "mut3"
    m = SequenceModel(1, 6, 2, cell="cell_graph", variant="mut2", readout="last", forget_bias=1.0)
    assert m(torch.randn(7, 3, 1))[0].shape == (3, 2)
    assert torch.all(m.rnn.bias_l0[:6] == -1.0)  # z bias -1: the state is kept at first
    rnn = CellGraphRNN(2, 4, variant="mut1").eval()
    x = torch.randn(5, 2, 2)
    full, _ = rnn(x)
    step, state = rnn.stepper(), None
    for t in range(5):
        y, state = step(x[t], state)
        torch.testing.assert_close(y, full[t])


def test_bad_switches_name_the_argument():
    with pytest.raises(ValueError, match="candidate_input"):
        CellGraph(candidate_input="relu")
    with pytest.raises(TypeError, match="reset_recurrence"):
        CellGraph(reset_recurrence=1)
    with pytest.raises(ValueError, match="unknown cell graph"):
        CellGraphRNN(2, 3, variant="mut9")
    with pytest.raises(ValueError, match="forget_bias"):
        CellGraphRNN(2, 3, forget_bias=float("nan"))
