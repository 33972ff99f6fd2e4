"""The experiment runner with training methods other than gradient descent: each quick
variant runs every method beside the gradient run and asserts that learning happened."""

import pytest

from lstmkit.apps.experiment import format_table, run_experiment
from lstmkit.apps.experiment_methods import run_method
from lstmkit.tasks import get_task


def _runs(summary, method):
    return [r for r in summary["runs"] if r["meta"]["variant"].endswith("/" + method)]


def test_evolino_sines_quick_runs_beside_the_gradient_lstm():
    s = run_experiment("evolino-sines", quick=True, out_dir=None, progress=False, log=None,
                       methods=["evolino", "gradient"], overrides={"max_seconds": 4.0})
    assert [r["variant"] for r in s["rows"]] == ["vanilla/evolino", "vanilla/gradient"]
    evo = _runs(s, "evolino")[0]
    assert evo["units"] == "evaluations" and evo["sequences"] > 0
    # learning happened: the best free-running loss fell below the first generation's
    assert evo["learning"]["last_loss"] < evo["learning"]["first_loss"]
    assert "nrmse" in evo["test"] and "nrmse" in _runs(s, "gradient")[0]["test"]
    table = format_table(s)
    assert "Evolino (ESP + pseudo-inverse)" in table and "test NRMSE" in table


def test_dekf_anbn_quick_learns():
    s = run_experiment("dekf-anbn", quick=True, out_dir=None, progress=False, log=None, methods=["dekf"],
                       overrides={"max_seconds": 6.0})
    r = _runs(s, "dekf")[0]
    assert r["learning"]["last_loss"] < 0.5 * r["learning"]["first_loss"]
    assert r["config"]["method"] == "dekf"


def test_cmaes_whole_network_improves():
    r = run_method("cmaes", get_task("counting", letters=2, train_max=3, test_max=10), cell="gru", preset=None,
                   hidden=2, seed=0, options={"generations": 15, "popsize": 12, "batch": 12},
                   meta={"variant": "gru/cmaes"})
    assert r["history"][-1]["loss"] < r["history"][0]["loss"]


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="methods"):
        run_experiment("evolino-sines", quick=True, out_dir=None, methods=["dekf"], log=None)
    with pytest.raises(ValueError, match="Evolino"):
        run_method("evolino", get_task("parity", L=4), cell="lstm", preset="vanilla", hidden=2, seed=0,
                   options={}, meta={})
