"""Multi-query associative recall: the generator, the loss and verdicts, a model that learns it."""

import numpy as np
import pytest
import torch

from lstmkit.tasks import get_task
from lstmkit.tasks.mqar import MQAR, mqar_batch


def test_every_key_is_asked_once_after_the_pairs():
    x, y = mqar_batch(50, 40, 6, 32, np.random.default_rng(0))
    assert x.shape == y.shape == (40, 50)
    for b in range(50):
        keys, values = x[0:12:2, b].tolist(), x[1:12:2, b].tolist()
        assert len(set(keys)) == 6 and all(1 <= k < 16 for k in keys) and all(16 <= v < 32 for v in values)
        asked = (y[:, b] >= 0).nonzero().flatten().tolist()
        assert len(asked) == 6 and min(asked) >= 12
        assert sorted(x[asked, b].tolist()) == sorted(keys)
        for t in asked:
            assert y[t, b] == values[keys.index(int(x[t, b]))]
        others = [t for t in range(12, 40) if t not in asked]
        assert bool((x[others, b] == 0).all())


def test_oracle_is_right_and_blind_model_at_chance():
    t = get_task("mqar", T=30, pairs=5, vocab=32)

    class Oracle(torch.nn.Module):
        def forward(self, x, lengths=None):
            out = torch.zeros(*x.shape, 32)
            for b in range(x.shape[1]):
                table = {int(x[2 * i, b]): int(x[2 * i + 1, b]) for i in range(5)}
                for s in range(10, x.shape[0]):
                    if int(x[s, b]) in table:
                        out[s, b, table[int(x[s, b])]] = 20.0
            return out, None

    class Blind(torch.nn.Module):
        def forward(self, x, lengths=None):
            out = torch.full((*x.shape, 32), -1e4)
            out[..., 16:] = 0.0  # uniform over the values
            return out, None

    rng = np.random.default_rng(0)
    m = t.evaluate(Oracle(), rng, n=40)
    assert m["query_accuracy"] == 1.0 and m["solved"] and m["loss"] < 1e-3
    m = t.evaluate(Blind(), rng, n=40)
    assert abs(m["loss"] - t.chance_loss()) < 1e-4 and not m["solved"]


def test_the_mlstm_stack_learns_it():
    from lstmkit.models.xlstm import xLSTMSequenceModel

    torch.manual_seed(0)
    t = MQAR(T=12, pairs=2, vocab=16)
    m = xLSTMSequenceModel(16, 32, 16, ratio="1:0", num_blocks=1, num_heads=2, embed=True, mlstm={"round_to": 8})
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    rng = np.random.default_rng(0)
    for _ in range(150):
        b = t.sample(32, rng)
        loss = t.loss(m(b.x)[0], b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert t.evaluate(m, rng, n=256)["loss"] < 0.5 * t.chance_loss()


@pytest.mark.parametrize("kw", [dict(pairs=40, vocab=64), dict(T=10, pairs=4), dict(vocab=2)])
def test_errors(kw):
    with pytest.raises(ValueError):
        MQAR(**kw)
