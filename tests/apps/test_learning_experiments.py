"""Learning to learn, the cell search and the policy-gradient experiments, run small:
the meta-learner beats chance and an untrained net; the runners write their summaries."""

import json

import numpy as np
import pytest
import torch

from lstmkit.apps.cell_search import Candidate, mutate, run_cell_search
from lstmkit.apps.meta import gd_baseline_errors, meta_errors, meta_train
from lstmkit.cells.cell_graph import CellGraph
from lstmkit.models import SequenceModel
from lstmkit.variants import LSTMVariant


def test_quick_meta_learner_beats_chance_and_its_untrained_self():
    torch.manual_seed(0)
    m = SequenceModel(3, 16, 1, cell="lstm", variant="standard", forget_bias=1.0)
    T = 12
    before = meta_errors("boolean", m, T, functions=256)
    meta_train("boolean", m, sequences=16_000, T=T, lr=0.01)
    after = meta_errors("boolean", m, T, functions=256)
    late = float(np.mean(after[6:]))  # after 6..11 examples of a new function, weights frozen
    assert late < 0.35, after  # chance: 0.5 wrong bits
    assert late < float(np.mean(before[6:])) - 0.1
    assert after[0] > 0.4  # before any example of the function nothing can be known


def test_gradient_descent_baseline_learns_from_more_examples():
    e = gd_baseline_errors("quadratic", [2, 29], functions=64, steps=200)
    assert e[29] < e[2] < 1.5


def test_candidate_keys_and_mutation():
    rng = np.random.default_rng(0)
    for c in (Candidate("lstm", LSTMVariant.preset("cifg")), Candidate("cell_graph", CellGraph.preset("mut2")),
              Candidate("lstm", LSTMVariant(peepholes=True, output_activation="identity"), forget_bias=1.0)):
        back = Candidate.from_key(c.key)
        assert back.genome == c.genome and back.forget_bias == c.forget_bias
        m = mutate(c, rng)
        changed = [k for k, v in c.genome.to_dict().items() if m.genome.to_dict()[k] != v]
        assert len(changed) == 1
    with pytest.raises(ValueError, match="family"):
        Candidate("transformer")


def test_cell_search_runner_writes_its_summary(tmp_path):
    s = run_cell_search(["mut1", "gru"], seeds=1, quick=True, out_dir=tmp_path, budget=64, mutants=1, log=None)
    assert {r["key"] for r in s["scored"]} >= {"cell_graph:mut1", "gru"} and len(s["best"]) == 1
    doc = json.loads((tmp_path / "cell-search-quick" / "summary.json").read_text())
    assert doc["budget"] == 64


def test_cli_runs_a_policy_experiment(tmp_path, capsys):
    pytest.importorskip("gymnasium")
    from lstmkit.cli import main

    assert main(["experiment", "list"]) == 0
    assert "tmaze" in capsys.readouterr().out
    rc = main(["experiment", "tmaze", "--quick", "--variant", "lstm,mlp", "--max-episodes", "16", "--out",
               str(tmp_path), "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| LSTM (standard) | 5 |" in out and "MLP (memoryless)" in out
    doc = json.loads((tmp_path / "tmaze-quick" / "summary.json").read_text())
    assert doc["stage_episodes"] == 16
    assert main(["experiment", "tmaze", "--lr", "0.1", "--out", str(tmp_path / "x")]) == 1  # a trainer option
    assert "--lr not supported" in capsys.readouterr().err and not (tmp_path / "x").exists() and (tmp_path / "tmaze-quick" / "curves.png").exists()
