"""Evolution without gradients (lstmkit.train.evolution): the batched population forward,
the pseudo-inverse readout, ESP, CMA-ES, Evolino, evolve_network, for several families."""

import math

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.models import SequenceModel
from lstmkit.train.evolution import (CMAES, ESP, Evolino, EvolinoConfig, ParameterSpace, Population, ReadoutNetwork,
                                     evolve, evolve_network, fit_readout, free_run, unit_groups)

# every registered vector family a SequenceModel holds, by (cell, variant); tlstm needs elapsed times
FAMILIES = [("lstm", "vanilla"), ("lstm", "standard"), ("lstm", "cifg"), ("gru", None), ("elman", None),
            ("slstm", None), ("mlstm", None), ("dglstm", None)]


def _layer(cell, variant, i=2, h=4):
    family = lstmkit.families.get_family(cell)
    return family.module(i, h, **({"variant": variant} if variant else {}))


@pytest.mark.parametrize("cell,variant", FAMILIES)
def test_population_forward_equals_each_individual(cell, variant):
    """One vmapped call == P separate forwards of modules holding each individual's weights."""
    torch.manual_seed(0)
    model = SequenceModel(2, 4, 3, cell=cell, variant=variant or "vanilla")
    space = ParameterSpace(model)
    pop = space.vector()[None] + 0.2 * torch.randn(5, space.dim)
    x = torch.randn(6, 3, 2)
    lengths = torch.tensor([6, 4, 1])
    y, _ = Population(model, space, pop)(x, lengths)
    for p in range(5):
        space.assign(pop[p])
        ref, _ = model(x, lengths)
        torch.testing.assert_close(y[p], ref, atol=1e-5, rtol=1e-5)


def test_population_batched_inputs_and_state_carry():
    """Per-individual inputs and a carried state: two calls of 3 steps == one call of 6."""
    torch.manual_seed(1)
    rnn = lstmkit.LSTM(2, 3)
    space = ParameterSpace(rnn)
    pop = torch.randn(4, space.dim) * 0.5
    x = torch.randn(4, 6, 1, 2)  # one input sequence per individual
    run = Population(rnn, space, pop)
    full, _ = run(x, batched=True)
    a, state = run(x[:, :3], batched=True)
    b, _ = run(x[:, 3:], state, batched=True)
    torch.testing.assert_close(torch.cat([a, b], 1), full, atol=1e-6, rtol=1e-6)
    # a policy's loop: a SequenceModel stepped with None lengths and a carried state
    m = SequenceModel(2, 3, 2)
    ms = ParameterSpace(m)
    run = Population(m, ms, torch.randn(4, ms.dim) * 0.5)
    y1, st = run(x[:, :3], batched=True)
    y2, _ = run(x[:, 3:], None, st, batched=True)
    y3, _ = run(x[:, 3:], state=st, batched=True)
    torch.testing.assert_close(y2, y3)
    torch.testing.assert_close(torch.cat([y1, y2], 1), run(x, batched=True)[0], atol=1e-6, rtol=1e-6)


def test_parameter_space_round_trip_and_errors():
    m = lstmkit.GRU(2, 3)
    s = ParameterSpace(m, ["weight_hh_l0"])
    v = torch.arange(s.dim, dtype=torch.float32)
    s.assign(v)
    assert torch.equal(s.vector(), v)
    assert torch.equal(m.weight_hh_l0.detach().reshape(-1), v)
    with pytest.raises(ValueError, match="names"):
        ParameterSpace(m, ["nope"])
    with pytest.raises(ValueError, match="D=27"):
        s.assign(torch.zeros(5))


def test_unit_groups_follow_gate_rows():
    rnn = lstmkit.LSTM(1, 3, variant="vanilla")
    g = unit_groups(rnn)
    space = ParameterSpace(rnn)
    parts = dict(zip(space.names, torch.split(g, space.sizes)))
    w = parts["weight_hh_l0"].reshape(12, 3)
    assert w[:, 0].tolist() == [0, 1, 2] * 4  # row r of the (4H, H) matrix -> unit r % H
    assert sorted(torch.unique(g).tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="hidden_size"):
        unit_groups(torch.nn.Linear(2, 2))


def test_fit_readout_is_the_least_squares_solution():
    torch.manual_seed(0)
    phi = torch.randn(3, 40, 5, dtype=torch.float64)
    d = torch.randn(40, 2, dtype=torch.float64)
    w = fit_readout(phi, d)
    for p in range(3):
        ref = torch.linalg.lstsq(phi[p], d).solution
        torch.testing.assert_close(w[p], ref)
    # rank-deficient features: the pseudo-inverse gives the minimum-norm solution, as numpy's lstsq
    phi2 = torch.cat([phi[:1], phi[:1, :, :1]], -1)  # a repeated column
    ref = np.linalg.lstsq(phi2[0].numpy(), d.numpy(), rcond=None)[0]
    np.testing.assert_allclose(fit_readout(phi2, d)[0].numpy(), ref, atol=1e-8)
    # ridge: the normal equations with the penalty
    lam = 0.5
    ref = torch.linalg.solve(phi[0].T @ phi[0] + lam * torch.eye(5, dtype=torch.float64), phi[0].T @ d)
    torch.testing.assert_close(fit_readout(phi, d, ridge=lam)[0], ref)
    with pytest.raises(ValueError, match="ridge"):
        fit_readout(phi, d, ridge=-1.0)


def _sphere(target):
    return lambda pop: ((pop - target) ** 2).sum(1)


def test_cmaes_improves_a_toy_fitness():
    target = torch.tensor([1.0, -2.0, 0.5, 3.0])
    es = CMAES(torch.zeros(4), sigma0=1.0, seed=0)
    first = _sphere(target)(es.ask())
    es._asked = None
    r = evolve(es, _sphere(target), generations=60)
    assert r["best_loss"] < 1e-3 < float(first.min())
    assert r["evaluations"] == 60 * es.es.popsize


def test_esp_improves_a_toy_fitness_and_bursts():
    target = torch.tensor([1.0, -1.0, 0.5, 2.0, -0.5, 0.0])
    units = torch.tensor([0, 0, 1, 1, 2, 2])
    esp = ESP(units, size=10, trials=3, burst_after=5, seed=0)
    first = float(_sphere(target)(esp.ask()).min())
    esp._picks = None
    r = evolve(esp, _sphere(target), generations=150)
    assert r["best_loss"] < 0.05 * first
    # each network takes one member of each subpopulation: a member's slice appears intact
    pop = esp.ask()
    for u, idx in enumerate(esp.slices):
        members = esp.subpops[u]
        assert all(any(torch.equal(row[idx], m) for m in members) for row in pop)


def test_esp_burst_mutation_recentres_on_the_best():
    esp = ESP(torch.tensor([0, 1]), size=6, trials=2, burst_after=2, seed=3)
    for _ in range(3):
        pop = esp.ask()
        esp.tell(torch.full((pop.shape[0],), 1.0))  # never improves after the first generation
    assert esp.bursts == 1
    for u, idx in enumerate(esp.slices):
        assert torch.equal(esp.subpops[u][0], esp.best[idx])


@pytest.mark.parametrize("cell,variant", [("lstm", "vanilla"), ("gru", None),
                                          pytest.param("elman", None, marks=pytest.mark.slow),
                                          pytest.param("slstm", None, marks=pytest.mark.slow)])
def test_evolve_network_beats_its_start(cell, variant):
    torch.manual_seed(0)
    model = SequenceModel(1, 4, 1, cell=cell, variant=variant or "vanilla", readout="last")
    x = torch.randn(6, 16, 1)
    goal = x.sum(0)

    def loss(pop):
        y, _ = pop(x)
        return ((y - goal) ** 2).mean((1, 2))

    start = float(loss(Population(model, ParameterSpace(model), ParameterSpace(model).vector()[None]))[0])
    r = evolve_network(model, loss, generations=40, popsize=16, seed=0)
    with torch.no_grad():
        end = float(((model(x)[0] - goal) ** 2).mean())
    assert end == pytest.approx(r["best_loss"], rel=1e-4)  # the best was written back
    assert end < 0.5 * start


@pytest.mark.parametrize("cell,variant,search", [("lstm", "vanilla", "esp"), ("gru", None, "cmaes"),
                                                  pytest.param("lstm", "cifg", "cmaes", marks=pytest.mark.slow),
                                                  pytest.param("mlstm", None, "esp", marks=pytest.mark.slow)])
def test_evolino_generator_improves_on_random_networks(cell, variant, search):
    """Evolino on one sine: the evolved generator runs free better than its first generation."""
    torch.manual_seed(0)
    s = torch.sin(0.3 * torch.arange(130.0))[:, None]
    rnn = _layer(cell, variant, 1, 4)
    cfg = EvolinoConfig(search=search, generations=12, subpopulation=8, trials=2, ridge=1e-6, seed=0)
    r = Evolino(rnn, cfg).fit_generator(s, train_end=100, washout=20)
    assert r["history"][-1]["best_loss"] < r["history"][0]["best_loss"] or r["history"][0]["best_loss"] < 1e-3
    net = r["network"]
    assert isinstance(net, ReadoutNetwork)
    # the returned network's free run over the training steps is the fitness of the best
    pred = free_run(net, s[:20, None], 79)[:, 0]
    assert float(((pred - s[20:99]) ** 2).mean()) == pytest.approx(r["best_loss"], rel=1e-3, abs=1e-6)


def test_evolino_readout_is_the_pseudo_inverse_of_the_states():
    torch.manual_seed(0)
    s = torch.sin(0.2 * torch.arange(80.0))[:, None]
    rnn = lstmkit.LSTM(1, 3)
    evo = Evolino(rnn, EvolinoConfig(with_input=True))
    pop = evo.space.vector()[None]
    _, w = evo.generator_losses(pop, s, 60, 10)
    out, _ = rnn(s[:59, None])
    phi = torch.cat([out[:, 0], s[:59], torch.ones(59, 1)], -1)[10:].double()
    ref = torch.linalg.lstsq(phi, s[11:60].double()).solution
    torch.testing.assert_close(w[0].double(), ref, atol=1e-4, rtol=1e-4)


def test_evolino_errors():
    with pytest.raises(ValueError, match="search"):
        EvolinoConfig(search="ga")
    evo = Evolino(lstmkit.LSTM(1, 2), EvolinoConfig(generations=1))
    with pytest.raises(ValueError, match="washout"):
        evo.fit_generator(torch.zeros(50), train_end=40, washout=39)
    with pytest.raises(ValueError, match="series"):
        evo.fit_generator(torch.zeros(50, 2), train_end=40, washout=5)
    with pytest.raises(TypeError, match="rnn"):
        Evolino(torch.nn.Linear(2, 2))
