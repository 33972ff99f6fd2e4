"""The experiment, gradient-flow and odyssey commands, end to end on tiny budgets."""

from __future__ import annotations

import json

import pytest
import torch

from lstmkit.cli import main
from lstmkit.cli.gradient_flow import gradient_norms
from lstmkit.cli.odyssey import VARIANTS, format_odyssey, run_odyssey
from lstmkit.tasks import EXPERIMENTS
from lstmkit.apps.experiment import format_table, run_experiment


pytestmark = pytest.mark.usefixtures("one_thread")


def test_experiment_list_names_every_experiment(capsys):
    assert main(["experiment", "list"]) == 0
    out = capsys.readouterr().out
    for name in EXPERIMENTS:
        assert name in out


def test_experiment_runs_and_prints_beside_the_paper(tmp_path, capsys):
    code = main(["experiment", "parity", "--quick", "--variant", "vanilla,elman", "--max-seconds", "2",
                 "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "ours (minibatch 32, Adam)" in out and "| paper |" in out
    assert "LSTM (vanilla)" in out and "Elman RNN" in out
    root = tmp_path / "parity-quick"
    summary = json.loads((root / "summary.json").read_text())
    assert [r["variant"] for r in summary["rows"]] == ["vanilla", "elman"]
    assert (root / "summary.png").exists()
    for v in ("vanilla", "elman"):
        r = json.loads((root / v / "seed0" / "result.json").read_text())
        assert r["seed"] == 0 and r["meta"]["variant"] == v and r["test"]["n"] > 0
        assert (root / v / "seed0" / "curve.png").exists()


def test_experiment_resume_continues(tmp_path):
    kw = dict(variants=["vanilla"], quick=True, out_dir=tmp_path, progress=False, log=None)
    a = run_experiment("parity", overrides={"max_sequences": 320, "eval_every": 0}, **kw)
    b = run_experiment("parity", overrides={"max_sequences": 640, "eval_every": 0}, resume=True, **kw)
    assert a["runs"][0]["updates"] == 10 and b["runs"][0]["updates"] == 20


@pytest.mark.parametrize("argv,msg,code", [(["experiment", "nope"], "unknown experiment", 1),
                                           # usage errors: refused by argparse before any work (exit 2)
                                           (["experiment", "reber", "--variant", "bogus", "--quick"],
                                            "unknown variant", 2),
                                           (["experiment", "reber", "--seeds", "0"], "seeds", 2)])
def test_experiment_bad_arguments(argv, msg, code, capsys, tmp_path):
    try:
        status = main(argv + ["--out", str(tmp_path)])
    except SystemExit as e:
        status = e.code
    assert status == code
    assert msg in capsys.readouterr().err


@pytest.mark.parametrize("argv,msg", [(["experiment", "reber", "--seeds", "0"], "--seeds"),
                                      (["experiment", "reber", "--hidden", "0"], "--hidden-size/--hidden"),
                                      (["experiment", "reber", "--threads", "0"], "--threads"),
                                      (["experiment", "reber", "--forget-bias", "nan"], "--forget-bias"),
                                      (["demo", "--steps", "-1"], "--steps"),
                                      (["gradient-flow", "--seeds", "0"], "--seeds"),
                                      (["speech", "fsdd", "--threads", "0"], "--threads"),
                                      (["forecast", "train", "--example", "airline", "--horizon", "0"], "--horizon"),
                                      (["text", "generate", "--model", "m", "--temperature", "nan"], "--temperature"),
                                      (["text", "lm", "train", "--temperature", "-1"], "--temperature")])
def test_bad_arguments_stop_at_parse_time(argv, msg, capsys):
    """Usage errors (issue 11): exit 2 before any work, naming the option; these were
    silently ignored, reported after training, or a traceback."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument {msg}" in err and "Traceback" not in err


def test_format_table_has_both_sides():
    s = run_experiment("longlag2a", variants=["vanilla"], quick=True, out_dir=None, progress=False, log=None,
                       overrides={"max_sequences": 64, "eval_every": 0})
    table = format_table(s)
    assert "5,040" in table and "LSTM (vanilla)" in table


def test_gradient_flow_shows_vanishing_in_elman_not_in_the_1997_cell(tmp_path, capsys):
    elman = gradient_norms("elman", None, T=60, hidden=8, batch=4)
    cec = gradient_norms("lstm", "hochreiter1997", T=60, hidden=8, batch=4)
    # Ratio of the gradient 50 steps back to the gradient at the last step.
    assert cec[-51] / cec[-1] > 100 * (elman[-51] / elman[-1])
    assert main(["gradient-flow", "-T", "30", "--seeds", "1", "--hidden", "4", "--out", str(tmp_path)]) == 0
    assert "1997 LSTM" in capsys.readouterr().out
    data = json.loads((tmp_path / "gradient_flow.json").read_text())
    assert set(data["curves"]) == {"Elman RNN", "standard LSTM", "1997 LSTM"}
    assert (tmp_path / "gradient_flow.png").exists()


def test_odyssey_runs_every_variant(tmp_path):
    res = run_odyssey(("reber",), seeds=1, out_dir=tmp_path, budgets={"reber": 32}, log=None)
    assert set(res["reber"]) == set(VARIANTS)
    assert all(len(v["loss"]) == 1 for v in res["reber"].values())
    table = format_odyssey(res)
    assert "cifg" in table and "1.00x" in table


# ---- the papers' criteria (slow: not in CI; `pytest -m slow`) ------------------------------
@pytest.mark.slow
def test_reber_meets_the_1997_criterion_on_every_seed():
    s = run_experiment("reber", seeds=5, out_dir=None, progress=False, log=None)
    assert s["rows"][0]["success"] == "5/5"


@pytest.mark.slow
def test_adding_t100_meets_the_1997_criterion():
    s = run_experiment("adding100", seeds=1, out_dir=None, progress=False, log=None)
    assert s["rows"][0]["success"] == "1/1"
    assert s["runs"][0]["test"]["wrong"] <= 26  # <= 1% of the 2,560 test sequences


@pytest.mark.slow
def test_continual_reber_forget_gate_is_perfect():
    s = run_experiment("cerg", variants=["vanilla"], seeds=1, out_dir=None, progress=False, log=None)
    assert s["rows"][0]["perfect"] == 1


# ---- the 1997 architectures the experiments need -------------------------------------------
def test_skip_connections_feed_the_input_to_the_output():
    from lstmkit.models import SequenceModel

    torch.manual_seed(0)
    x = torch.randn(5, 3, 4)
    for readout in ("every", "last"):
        m = SequenceModel(4, 2, 3, readout=readout, skip=True)
        with torch.no_grad():
            m.head.weight.zero_()
            m.head.bias.zero_()
        y, _ = m(x, torch.tensor([5, 3, 1]))
        want = m.skip(x) if readout == "every" else m.skip(torch.stack([x[4, 0], x[2, 1], x[0, 2]]))
        torch.testing.assert_close(y, want)
    assert SequenceModel(4, 2, 3).skip is None  # off by default


def test_longlag2a_runs_the_1997_net_and_solves_the_task():
    # The 1997 2a net: output units see the input (10,504 weights for p=100) and the cell
    # output is not squashed (h = identity: our "noaf").
    exp = EXPERIMENTS["longlag2a"]
    assert exp.skip and exp.variants[0] == "noaf" and "elman" in exp.variants
    # The paper's p = 100. Seed 4 met the criterion after 6,080 sequences on an Intel Xeon and
    # after 11,200 on an AMD EPYC (the kernels round differently, so trajectories differ by
    # CPU); seeds 0-4 needed 7,040-11,200 there. Vanilla (tanh on the cell output) stays at
    # 0.5 on the last step for 100,000, so a 20,000 budget still separates the two.
    s = run_experiment("longlag2a", variants=["noaf"], first_seed=4, out_dir=None, progress=False, log=None,
                       overrides={"max_seconds": 30, "max_sequences": 20_000})
    assert s["task"]["p"] == 100 and s["rows"][0]["success"] == "1/1", s["runs"][0]["test"]


def test_input_gate_bias_is_applied_for_the_adding_problem():
    from lstmkit import LSTM
    from lstmkit.apps.experiment import set_input_gate_bias

    exp = EXPERIMENTS["adding500"]
    assert exp.input_bias == -3.0 and exp.forget_bias == 10.0
    m = LSTM(2, 3, variant="vanilla")
    set_input_gate_bias(m, -3.0)
    i, f = m.specs[0].gate_slice("i"), m.specs[0].gate_slice("f")
    assert (m.bias_ih_l0[i] + m.bias_hh_l0[i]).tolist() == [-3.0] * 3
    assert (m.bias_ih_l0[f] + m.bias_hh_l0[f]).tolist() != [-3.0] * 3
    c = LSTM(2, 3, variant="cifg")  # f = 1 - i: left alone
    before = c.bias_ih_l0.detach().clone()
    set_input_gate_bias(c, -3.0)
    assert torch.equal(c.bias_ih_l0, before)
    s = run_experiment("adding500", variants=["vanilla"], quick=True, out_dir=None, progress=False, log=None,
                       overrides={"max_sequences": 32, "eval_every": 0, "final_test": False})
    assert s["runs"][0]["meta"]["input_bias"] == -3.0


# ---- the continual embedded Reber grammar under the paper's protocol ------------------------
def test_set_gate_bias_gives_each_block_its_value():
    from lstmkit import LSTM
    from lstmkit.apps.experiment import set_gate_bias

    m = LSTM(7, 8, variant="standard")
    s = m.specs[0]
    assert set_gate_bias(m, "i", [-0.5, -1.0, -1.5, -2.0])
    assert set_gate_bias(m, "f", 2.0)
    assert (m.bias_ih_l0[s.gate_slice("i")] + m.bias_hh_l0[s.gate_slice("i")]).tolist() == [
        -0.5, -0.5, -1.0, -1.0, -1.5, -1.5, -2.0, -2.0]
    assert (m.bias_ih_l0[s.gate_slice("f")] + m.bias_hh_l0[s.gate_slice("f")]).tolist() == [2.0] * 8
    old = m.bias_ih_l0[s.gate_slice("o")].detach().clone()
    assert torch.equal(m.bias_ih_l0[s.gate_slice("o")], old)  # other gates untouched
    assert not set_gate_bias(LSTM(7, 8, variant="hochreiter1997"), "f", 1.0)  # it has no forget gate
    with pytest.raises(ValueError, match="divide"):
        set_gate_bias(m, "o", [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="gate"):
        set_gate_bias(m, "z", 1.0)
    with pytest.raises(TypeError, match="value"):
        set_gate_bias(m, "o", True)


def test_truncated_gradient_flows_back_only_through_the_cell_state():
    from lstmkit.models import SequenceModel

    torch.manual_seed(0)
    full = SequenceModel(7, 4, 7, variant="hochreiter1997")
    cut = SequenceModel(7, 4, 7, variant="hochreiter1997", truncated_gradient=True)
    cut.load_state_dict(full.state_dict())
    x = torch.randn(6, 3, 7)
    h0, c0 = torch.randn(1, 3, 4, requires_grad=True), torch.randn(1, 3, 4, requires_grad=True)
    y_full, _ = full(x, None, (h0, c0))
    y_cut, (h, c) = cut(x, None, (h0, c0))
    torch.testing.assert_close(y_cut, y_full)  # the same function, only the gradient differs
    assert h.shape == c.shape == (1, 3, 4)
    g_h, g_c = torch.autograd.grad(y_cut[-1].sum(), (h0, c0), allow_unused=True)
    assert g_h is None and float(g_c.abs().max()) > 0  # the error reaches c_0, never h_0
    g_h, _ = torch.autograd.grad(y_full[-1].sum(), (h0, c0))
    assert float(g_h.abs().max()) > 0
    with pytest.raises(ValueError, match="truncated_gradient"):
        SequenceModel(7, 4, 7, cell="gru", truncated_gradient=True)


def test_cerg_truncated_runs_the_paper_protocol_and_learns_beyond_chance():
    from lstmkit.tasks.registry import CERG_GATE_BIASES

    exp = EXPERIMENTS["cerg-truncated"]
    assert exp.variants == ("standard", "hochreiter1997") and exp.truncated_gradient
    assert exp.gate_biases == CERG_GATE_BIASES and exp.gate_biases["f"] == (0.5, 1.0, 1.5, 2.0)
    s = run_experiment("cerg-truncated", quick=True, out_dir=None, progress=False, log=None,
                       overrides={"max_updates": 300, "eval_every": 0, "max_seconds": 60})
    chance = EXPERIMENTS["cerg"].make_task().chance_loss()
    for r in s["runs"]:
        assert r["meta"]["truncated_gradient"] and r["meta"]["gate_biases"] == CERG_GATE_BIASES
        assert r["updates"] == 300 and r["config"]["batch_size"] == 16 and r["config"]["tbptt"] == 40
        assert r["test"]["stream_length"] == 2000  # the quick test
        assert r["test"]["max_abs_cell_state"] >= r["test"]["cell_state_at_1000"] > 0
    fg, old = s["runs"]
    assert fg["test"]["loss"] < 0.8 * chance  # the forget-gate net learnt the grammar's local structure
    # the 1997 cell's state drifts along the 2,000 test symbols; the forget-gate cell's does not
    assert old["test"]["max_abs_cell_state"] > 10 * fg["test"]["max_abs_cell_state"]
    assert old["test"]["max_abs_cell_state"] > 1.5 * old["test"]["cell_state_at_1000"]
    assert [row["variant"] for row in s["rows"]] == ["standard", "hochreiter1997"]
    assert "max abs cell state" in format_table(s) and "truncated gradient" in format_table(s)
