"""``lstmkit.apps.explore``: the page's numbers are the model's.

Every gate, cell state and output the page shows is checked against an independent
NumPy implementation written from the papers' equations (LSTM of every Greff preset, GRU,
Elman) with the layer's own weights, and against the layer's forward pass; the gradient
flow against the analytic Elman Jacobians and central differences for the LSTM; the
shipped models against their recorded training and their task.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.apps import explore as ex
from numpy_reference import blocks_of, layer_norm, own_gates, sigmoid


def _params(layer):
    return {k: v.detach().double().numpy() for k, v in layer.cell_params(0, 0).items()}


def numpy_lstm_gates(sw, p, xs, H, bump=None):
    """Per-step (i, f, g, o, c, h) of an LSTM of switches ``sw``, from the equations;
    ``bump=(t, e)`` adds e to c_t as soon as it is computed (for finite differences)."""
    names, gates = blocks_of(sw), own_gates(sw)
    act_in = np.tanh if sw["input_activation"] == "tanh" else (lambda v: v)
    act_out = np.tanh if sw["output_activation"] == "tanh" else (lambda v: v)
    peep = {g: p["weight_ch"][k * H:(k + 1) * H] for k, g in enumerate(gates)} if sw["peepholes"] else {}
    h, c, a = np.zeros(H), np.zeros(H), np.zeros(len(gates) * H)
    out = {k: [] for k in "ifgoch"}
    for t, x in enumerate(xs):
        wx, rh = p["weight_ih"] @ x, p["weight_hh"] @ h
        if sw["layer_norm"]:
            wx, rh = layer_norm(wx, p["weight_ln_ih"]), layer_norm(rh, p["weight_ln_hh"])
        pre = wx + rh + p["bias_ih"] + p["bias_hh"]
        blk = {n: pre[k * H:(k + 1) * H].copy() for k, n in enumerate(names)}
        if sw["full_gate_recurrence"]:
            extra = p["weight_gg"] @ a
            for k, g in enumerate(gates):
                blk[g] += extra[k * H:(k + 1) * H]
        one = np.ones(H)
        i = sigmoid(blk["i"] + (peep["i"] * c if "i" in peep else 0)) if "i" in blk else one
        f = 1 - i if sw["coupled_input_forget"] else (
            sigmoid(blk["f"] + (peep["f"] * c if "f" in peep else 0)) if "f" in blk else one)
        g = act_in(blk["g"])
        c = g * i + c * f
        if bump is not None and bump[0] == t:
            c = c + bump[1]
        o = sigmoid(blk["o"] + (peep["o"] * c if "o" in peep else 0)) if "o" in blk else one
        y = layer_norm(c, p["weight_ln_c"], p.get("bias_ln_c")) if sw["layer_norm"] else c
        h = act_out(y) * o
        vals = {"i": i, "f": f, "o": o}
        a = np.concatenate([vals[k] for k in gates]) if gates else a
        for k, v in (("i", i), ("f", f), ("g", g), ("o", o), ("c", c), ("h", h)):
            out[k].append(v)
    return {k: np.array(v) for k, v in out.items()}


def numpy_gru_gates(p, xs, H):
    """Per-step (r, z, n, h) of torch.nn.GRU's equations."""
    h = np.zeros(H)
    out = {k: [] for k in "rznh"}
    for x in xs:
        gi = p["weight_ih"] @ x + p["bias_ih"]
        gh = p["weight_hh"] @ h + p["bias_hh"]
        r = sigmoid(gi[:H] + gh[:H])
        z = sigmoid(gi[H:2 * H] + gh[H:2 * H])
        n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
        h = (1 - z) * n + z * h
        for k, v in (("r", r), ("z", z), ("n", n), ("h", h)):
            out[k].append(v)
    return {k: np.array(v) for k, v in out.items()}


TEXT = "0.5 -1; 0.3 0.8; -0.9 0.1; 0.2 0.2; 1.0 -0.4; -0.6 0.9"


@pytest.mark.parametrize("preset", list(lstmkit.PRESETS))
def test_lstm_gates_equal_the_equations(preset):
    s = ex.variant_subject(preset, input_size=2, hidden_size=3, seed=1)
    with torch.no_grad():  # away from torch's init, so that every gate matters
        for name, t in s.layer.named_parameters():
            t.copy_(torch.randn_like(t) * 0.8 + (1.0 if name.startswith("weight_ln") else 0.0))
    run = ex.explore(s, TEXT)
    ref = numpy_lstm_gates(dataclasses.asdict(s.layer.variant), _params(s.layer), ex.parse_vectors(TEXT, 2), 3)
    assert run["gate_order"] == ["i", "f", "g", "o", "c", "h"]
    for k, v in ref.items():
        np.testing.assert_allclose(np.array(run["gates"][k]), v, rtol=1e-10, atol=1e-12, err_msg=k)
    # and the layer's own forward pass (whatever runner it picks) gives the same h
    out, _ = s.layer(torch.as_tensor(ex.parse_vectors(TEXT, 2))[:, None])
    np.testing.assert_allclose(np.array(run["gates"]["h"]), out[:, 0].detach().numpy(), atol=1e-10)


def test_gru_and_elman_equal_torch():
    s = ex.variant_subject("gru", input_size=2, hidden_size=3, seed=2)
    run = ex.explore(s, TEXT)
    xs = ex.parse_vectors(TEXT, 2)
    ref = numpy_gru_gates(_params(s.layer), xs, 3)
    assert run["gate_order"] == ["r", "z", "n", "h"]
    for k, v in ref.items():
        np.testing.assert_allclose(np.array(run["gates"][k]), v, rtol=1e-10, atol=1e-12, err_msg=k)
    twin = s.layer.to_torch()
    out, _ = twin(torch.as_tensor(xs)[:, None])
    np.testing.assert_allclose(np.array(run["gates"]["h"]), out[:, 0].detach().numpy(), atol=1e-10)
    e = ex.explore(ex.variant_subject("rnn", input_size=2, hidden_size=3), TEXT)
    p = _params(ex.variant_subject("rnn", input_size=2, hidden_size=3).layer)
    h, hs = np.zeros(3), []
    for x in xs:
        h = np.tanh(p["weight_ih"] @ x + p["bias_ih"] + p["weight_hh"] @ h + p["bias_hh"])
        hs.append(h)
    np.testing.assert_allclose(np.array(e["gates"]["h"]), np.array(hs), atol=1e-12)
    assert e["diagram"]["kind"] == "elman" and run["diagram"]["kind"] == "gru"


def test_every_switcher_choice_runs_and_is_json():
    session = ex.Session(ex.variant_subject("vanilla", hidden_size=4))
    runs = session.export_runs("0.1 0.2; 0.3 -0.4; 0.5 0.6")
    # the depth-gated cell (two layers, shown at layer 1) also holds its layer 0
    assert set(runs) == {""} | set(ex.switcher_names()) | {"depth_gated_lstm@0:0"}
    for name, run in runs.items():
        json.dumps(run, allow_nan=False)
        assert run["T"] == 3 and "h" in run["gates"], name
        assert all(len(row) == 4 for row in run["gates"]["h"]), name
        assert len(run["gradient_flow"]["curves"]) == 3
    d = {n: runs[n]["diagram"] for n in ("nig", "nfg", "nog", "cifg", "np", "niaf", "noaf")}
    assert not d["nig"]["input_gate"] and not d["nfg"]["forget_gate"] and not d["nog"]["output_gate"]
    assert d["cifg"]["coupled"] and d["np"]["peepholes"] == [] and runs["vanilla"]["diagram"]["peepholes"]
    assert d["niaf"]["input_activation"] != "tanh" and d["noaf"]["output_activation"] != "tanh"
    # a gate the variant lacks is the constant 1
    assert np.allclose(runs["nfg"]["gates"]["f"], 1.0) and np.allclose(runs["nog"]["gates"]["o"], 1.0)


def test_elman_gradient_flow_equals_the_jacobian_product():
    layer = lstmkit.RNN(2, 3, dtype=torch.float64)
    x = torch.randn(8, 1, 2, dtype=torch.float64)
    got = ex.gradient_flow(layer, x)
    p = _params(layer)
    hs, h = [], np.zeros(3)
    for xt in x[:, 0].numpy():
        h = np.tanh(p["weight_ih"] @ xt + p["bias_ih"] + p["weight_hh"] @ h + p["bias_hh"])
        hs.append(h)
    g, want = np.ones(3), [0.0] * 8
    want[7] = np.linalg.norm(g)
    for t in range(6, -1, -1):  # dh_{t+1}/dh_t = diag(1 - h_{t+1}^2) R
        g = p["weight_hh"].T @ ((1 - hs[t + 1] ** 2) * g)
        want[t] = np.linalg.norm(g)
    assert got["state"] == "h"
    np.testing.assert_allclose(got["norms"], want, rtol=1e-10)


@pytest.mark.parametrize("preset", ["hochreiter1997", "vanilla"])
def test_lstm_gradient_flow_equals_finite_differences(preset):
    s = ex.variant_subject(preset, input_size=2, hidden_size=3, seed=3)
    x = torch.as_tensor(ex.parse_vectors(TEXT, 2))[:, None]
    got = ex.gradient_flow(s.layer, x)["norms"]
    sw, p = dataclasses.asdict(s.layer.variant), _params(s.layer)
    xs = x[:, 0].numpy()
    for t0 in (0, 2, 4):  # dL/dc_t, all paths (through c_{t+1} and through h_t), by central differences
        eps, grad = 1e-6, np.zeros(3)
        for j in range(3):
            e = np.zeros(3)
            e[j] = eps
            up = numpy_lstm_gates(sw, p, xs, 3, bump=(t0, e))["c"][-1].sum()
            down = numpy_lstm_gates(sw, p, xs, 3, bump=(t0, -e))["c"][-1].sum()
            grad[j] = (up - down) / (2 * eps)
        np.testing.assert_allclose(got[t0], np.linalg.norm(grad), rtol=1e-6)
    if preset == "hochreiter1997":  # the constant error carousel: nothing vanishes
        assert min(got) > 0.5 * got[-1]


def test_elman_vanishes_where_the_carousel_does_not():
    s = ex.experiment_subject("reber")
    run = ex.explore(s, s.samples[0] + s.samples[1])
    curves = run["gradient_flow"]["curves"]
    elman = next(v for k, v in curves.items() if k.startswith("Elman"))
    cec = next(v for k, v in curves.items() if k.startswith("LSTM 1997"))
    assert elman[0] / elman[-1] < 1e-3 < cec[0] / cec[-1]


def test_shipped_models_load_and_learned_their_task():
    from lstmkit.tasks.reber import accepts_embedded_reber, embedded_reber_string

    reber = ex.experiment_subject("reber")
    assert reber.extra["trained"]["solved"] and reber.extra["command"].startswith("lstmkit explore --train reber")
    rng = np.random.default_rng(123)
    right = 0
    for _ in range(30):
        sym, _ = embedded_reber_string(rng)
        assert accepts_embedded_reber(sym)
        run = ex.explore(reber, sym)
        # the long-lag prediction: after the inner string's E, the repeated second symbol
        right += run["readout"][len(sym) - 3].split(":")[0] == sym[1]
    assert right >= 27
    adding = ex.experiment_subject("adding")
    assert adding.extra["trained"]["solved"]
    from lstmkit.tasks.adding import adding_batch

    x, lengths, y = adding_batch(10, ex.SHIPPED["adding"].task["T"], np.random.default_rng(5), dtype=torch.float64)
    errs = []
    for b in range(10):
        run = ex.explore(adding, ex.format_vectors(x[: int(lengths[b]), b]))
        errs.append(abs(float(run["readout"][-1].split()[-1]) - float(y[b])))
    assert np.mean(errs) < 0.04  # the paper's per-sequence threshold, on average


def test_memory_unit_holds_the_second_symbol():
    s = ex.experiment_subject("reber")
    m = ex.memory_unit(s, n=100)
    assert m["accuracy"] > 0.85 and abs(m["accuracy"] - max(m["accuracies"])) < 1e-4
    # an untrained cell of the same size holds nothing: its best unit is near chance
    untrained = ex.variant_subject("vanilla", seed=0, like=s)
    untrained.source, untrained.extra["experiment"] = "experiment", "reber"
    assert ex.memory_unit(untrained, n=100)["accuracy"] < m["accuracy"] - 0.1
    assert ex.memory_unit(ex.variant_subject("vanilla")) is None


def test_adding_memory_unit_holds_the_sum():
    s = ex.experiment_subject("adding")
    m = ex.memory_unit(s, n=100)
    # (the 16-cell T = 100 net keeps X1 in more than one unit before X2 comes: r ~ 0.7-0.8 in the best sum unit)
    assert m["task"] == "adding" and abs(m["correlation"]) > 0.9 and abs(m["correlation_x1"]) > 0.6
    untrained = ex.variant_subject("vanilla", seed=0, like=s)
    untrained.source, untrained.extra["experiment"] = "experiment", "adding"
    u = ex.memory_unit(untrained, n=100)
    assert abs(u["correlation"]) < abs(m["correlation"]) - 0.05
    assert abs(u["correlation_x1"]) < abs(m["correlation_x1"]) - 0.3


def test_edited_weights_change_the_run_and_bad_ones_are_refused():
    session = ex.Session(ex.variant_subject("vanilla", hidden_size=2))
    run = session.run("", TEXT)
    zero = {k: np.zeros(v["shape"]).tolist() for k, v in run["weights"].items()}
    run2 = session.run("", TEXT, zero)
    assert np.allclose(run2["gates"]["h"], 0) and np.allclose(run2["gates"]["i"], 0.5)
    assert not np.allclose(run["gates"]["h"], 0)
    assert session.run("", TEXT)["weights"]["weight_ih_l0"]["values"][0] == [0.0, 0.0]  # kept
    with pytest.raises(ValueError, match="unknown parameter"):
        session.run("", TEXT, {"weight_xx_l0": [1.0]})
    with pytest.raises(ValueError, match="shape"):
        session.run("", TEXT, {"bias_ih_l0": [1.0]})
    with pytest.raises(ValueError, match="variant must be one of"):
        session.run("lstm9", TEXT)
    with pytest.raises(ValueError, match="not editable"):
        ex.Session(ex.experiment_subject("reber")).run("", None, {"bias_ih_l0": [0.0]})


@pytest.mark.parametrize("text, match", [("", "no steps"), ("1 2 3", "expected 2"), ("a b", "not numbers"),
                                          ("1 nan", "finite")])
def test_bad_vectors_are_one_line_errors(text, match):
    with pytest.raises(ValueError, match=match):
        ex.parse_vectors(text, 2)


def test_bad_symbols_name_the_alphabet():
    s = ex.experiment_subject("reber")
    with pytest.raises(ValueError, match="BTPSXVE"):
        ex.explore(s, "BTXQ")


def test_any_model_directory(tmp_path):
    from lstmkit.models import Forecaster, save_model

    m = Forecaster(input_size=3, horizon=2, hidden_size=4, variant="cifg")
    d = save_model(m, tmp_path / "fc")
    s = ex.model_subject(d)
    assert s.input_size == 3 and s.hidden_size == 4
    run = ex.explore(s)
    assert run["diagram"]["coupled"] and np.allclose(np.array(run["gates"]["f"]), 1 - np.array(run["gates"]["i"]))
    with pytest.raises(FileNotFoundError):
        ex.model_subject(tmp_path / "nothing")


@pytest.mark.parametrize("name, gates", [("slstm", "i f z o c n m h"), ("mlstm", "i f o C n m h"),
                                         ("tlstm", "i f g o cs gdt cadj c h"), ("depth_gated_lstm", "i f g o d cl c h")])
def test_other_families_show_their_gates(name, gates):
    s = ex.variant_subject(name, input_size=2, hidden_size=4, seed=4)
    run = ex.explore(s, TEXT)
    assert run["gate_order"] == gates.split() and run["diagram"]["kind"] == "other" and run["diagram"]["equations"]
    x = torch.as_tensor(ex.parse_vectors(TEXT, 2))[:, None]
    kw = {"dt": torch.ones(x.shape[0], 1, dtype=x.dtype)} if name == "tlstm" else {}
    with torch.no_grad():  # (the depth-gated cell is shown at its top layer, the module's output)
        out = s.layer(x, **kw)[0]
    np.testing.assert_allclose(np.array(run["gates"]["h"]), out[:, 0].numpy(), atol=1e-10)
