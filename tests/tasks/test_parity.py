"""Parity with the xLSTM paper's length extrapolation (train 3-40, test 40-256) and its experiment entry."""

import numpy as np
import pytest
import torch

from lstmkit.tasks import get_experiment, get_task
from lstmkit.tasks.parity import Parity


def test_training_and_test_ranges():
    t = get_task("parity", L=40, min_length=3, test_min=40, test_max=256, test_size=64)
    rng = np.random.default_rng(0)
    b = t.sample(2000, rng)
    assert int(b.lengths.min()) == 3 and int(b.lengths.max()) == 40
    bt = t.sample_test(2000, rng)
    assert int(bt.lengths.min()) == 40 and int(bt.lengths.max()) == 256 and bt.x.shape[0] == 256
    # targets: the parity of the +1 bits of each string, nothing past its end
    for k in range(20):
        n = int(bt.lengths[k])
        assert int((bt.x[:n, k, 0] > 0).sum()) % 2 == int(bt.y[k])
        assert bool((bt.x[n:, k] == 0).all())
    assert t.test_size == 64 and t.config()["test_max"] == 256


def test_default_test_is_the_training_range():
    t = Parity(L=12)
    b = t.sample_test(500, np.random.default_rng(1))
    assert int(b.lengths.max()) <= 12 and t.config() == {"name": "parity", "L": 12}


def test_perfect_and_chance_outputs_are_judged():
    t = Parity(L=10, min_length=3, test_min=10, test_max=30)

    class Oracle(torch.nn.Module):
        def forward(self, x, lengths):
            odd = ((x > 0).sum((0, 2)) % 2).long()
            return torch.nn.functional.one_hot(odd, 2).float() * 10, None

    m = t.evaluate(Oracle(), np.random.default_rng(0), n=300, test=True)
    assert m["right"] == 1.0 and m["solved"]
    assert Parity.normalised_accuracy(m["right"]) == 1.0 and Parity.normalised_accuracy(0.5) == 0.0


@pytest.mark.parametrize("kw", [dict(L=10, min_length=11), dict(L=10, test_min=5), dict(L=10, test_min=9, test_max=5),
                                dict(L=10, test_size=0)])
def test_errors(kw):
    with pytest.raises(ValueError):
        Parity(**kw)


def test_xlstm_parity_experiment_runs_every_model():
    from lstmkit.apps.experiment import run_experiment

    e = get_experiment("xlstm-parity")
    assert e.variants == ("xlstm[0:1]", "xlstm[1:1]", "xlstm[1:0]", "vanilla")
    s = run_experiment("xlstm-parity", quick=True, out_dir=None, progress=False, log=None,
                       overrides={"max_sequences": 64, "eval_every": 0})
    rows = {r["variant"]: r for r in s["rows"]}
    assert rows["xlstm[1:1]"]["model"] == "xLSTM[1:1]" and rows["vanilla"]["model"] == "LSTM (vanilla)"
    assert rows["xlstm[1:0]"]["parameters"] > rows["vanilla"]["parameters"]
    assert all(r["test_n"] == 128 for r in rows.values())
