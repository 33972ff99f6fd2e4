"""Training without gradients: Evolino and neuroevolution of whole networks.

Three pieces, each usable alone:

- **A population as one forward pass.** :class:`ParameterSpace` flattens the searched
  parameters of any module to one vector; :class:`Population` runs the module once per
  individual of a (P, D) population as ONE batched call (``torch.func.functional_call``
  under ``torch.func.vmap``; the fused kernels run through their torch ops' vmap rule,
  once per individual, and families without one run the reference loop batched over P).
- **Searches** with one interface, ``ask() -> (n, D)`` and ``tell(losses)``:
  :class:`ESP` (enforced subpopulations, Gomez & Miikkulainen: one subpopulation per
  hidden unit, networks assembled from one member of each, Cauchy mutation, burst
  mutation on stagnation) and :class:`CMAES` (the ``cma`` package's CMA-ES; no
  hand-written covariance adaptation).
- **Evolino** (Schmidhuber, Wierstra, Gagliolo & Gomez 2005, 2007): evolution for the
  weights into the hidden units, the linear output weights fitted for each candidate by
  the Moore-Penrose pseudo-inverse (:func:`fit_readout`, optionally ridge),
  ``W = pinv(Phi) D`` on the hidden states Phi of the training steps; the fitness is
  the error on steps the fit did not see (free-running, for a generator).
  :func:`evolve_network` evolves all weights of a network with CMA-ES against any
  fitness.

Every registered vector family works (LSTM variants, GRU, Elman, sLSTM, mLSTM, ...):
nothing here knows a cell's equations; :func:`unit_groups` assigns each parameter
entry to a hidden unit from the layer's shapes.

Example:
    >>> import torch, lstmkit
    >>> from lstmkit.train.evolution import ParameterSpace, Population
    >>> rnn = lstmkit.LSTM(1, 4)
    >>> space = ParameterSpace(rnn)
    >>> pop = space.vector()[None].repeat(3, 1) + 0.1 * torch.randn(3, space.dim)
    >>> out, state = Population(rnn, space, pop)(torch.randn(7, 2, 1))
    >>> out.shape  # (P, T, B, H): one forward of every individual
    torch.Size([3, 7, 2, 4])
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .config import ConfigDict

__all__ = ["ParameterSpace", "Population", "unit_groups", "fit_readout", "ESP", "CMAES", "EvolinoConfig",
           "Evolino", "ReadoutNetwork", "evolve", "evolve_network", "free_run"]


# ---- the population as one batched call --------------------------------------------------
class ParameterSpace:
    """The searched parameters of ``module``, flattened to one vector of ``dim`` numbers.

    Args:
        module: any ``nn.Module``.
        names: the parameter names searched (``module.named_parameters()`` names);
            default all. The others keep the module's values.

    Example:
        >>> import lstmkit
        >>> s = ParameterSpace(lstmkit.GRU(2, 3))
        >>> s.dim, s.names[0]
        (63, 'weight_ih_l0')
    """

    def __init__(self, module: nn.Module, names: Sequence[str] | None = None) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        params = dict(module.named_parameters())
        if names is None:
            names = list(params)
        names = list(names)
        unknown = [n for n in names if n not in params]
        if unknown or not names:
            raise ValueError(f"names must be a non-empty list of parameters of the module; unknown {unknown}, "
                             f"known {list(params)}")
        self.module = module
        self.names = names
        self.shapes = [tuple(params[n].shape) for n in names]
        self.sizes = [int(np.prod(s)) if s else 1 for s in self.shapes]
        self.dim = int(sum(self.sizes))

    def vector(self) -> Tensor:
        """(D,) the module's current values of the searched parameters (a detached copy)."""
        params = dict(self.module.named_parameters())
        return torch.cat([params[n].detach().reshape(-1) for n in self.names]).clone()

    def assign(self, vector: Tensor) -> None:
        """Write a (D,) vector into the module's parameters."""
        vector = self._check(vector, 1)
        params = dict(self.module.named_parameters())
        with torch.no_grad():
            for n, chunk in zip(self.names, torch.split(vector, self.sizes)):
                params[n].copy_(chunk.reshape(params[n].shape))

    def split(self, population: Tensor) -> dict[str, Tensor]:
        """(P, D) -> ``{name: (P, *shape)}`` (views)."""
        population = self._check(population, 2)
        P = population.shape[0]
        return {n: chunk.reshape(P, *shape)
                for n, shape, chunk in zip(self.names, self.shapes, torch.split(population, self.sizes, dim=1))}

    def _check(self, t, dims: int) -> Tensor:
        if not isinstance(t, Tensor):
            raise TypeError(f"expected a Tensor of {self.dim} parameters per row, got {type(t).__name__}")
        if t.dim() != dims or t.shape[-1] != self.dim:
            want = "(D,)" if dims == 1 else "(P, D)"
            raise ValueError(f"expected a {want} tensor with D={self.dim}, got shape {tuple(t.shape)}")
        return t

    def __repr__(self) -> str:
        return f"ParameterSpace({type(self.module).__name__}, dim={self.dim})"


class Population:
    """A (P, D) population of ``space``'s module, called as one batched forward.

    ``Population(module, space, pop)(*args, **kwargs)`` returns the module's outputs for
    every individual, each output with a leading axis P. Arguments are shared by every
    individual; with ``batched=True`` every tensor argument has a leading axis P (one
    input per individual: a free-running generator's own outputs, a policy's own
    observations, a state carried between calls).

    Args:
        module, space: the network and its searched parameters (:class:`ParameterSpace`).
        population: (P, D) parameter vectors.
        chunk_size: evaluate at most this many individuals at once (memory), or None.

    Example:
        >>> import torch, lstmkit
        >>> rnn = lstmkit.RNN(2, 3)
        >>> space = ParameterSpace(rnn)
        >>> pop = torch.randn(5, space.dim)
        >>> y, h = Population(rnn, space, pop)(torch.randn(4, 1, 2))
        >>> y2, h2 = Population(rnn, space, pop)(torch.randn(5, 1, 1, 2), h, batched=True)
        >>> y.shape, h2.shape
        (torch.Size([5, 4, 1, 3]), torch.Size([5, 1, 1, 3]))
    """

    def __init__(self, module: nn.Module, space: ParameterSpace, population: Tensor,
                 chunk_size: int | None = None) -> None:
        if not isinstance(space, ParameterSpace):
            raise TypeError(f"space must be a ParameterSpace, got {type(space).__name__}")
        self.module = module
        self.space = space
        self.params = space.split(population)
        self.size = int(population.shape[0])
        self.chunk_size = chunk_size

    def __call__(self, *args, batched: bool = False, **kwargs):
        from torch.func import functional_call, vmap

        module = self.module

        def one(p, a, kw):
            return functional_call(module, p, a, kw)

        if batched:  # every tensor leaf has the leading axis P; None and other values are shared
            from torch.utils._pytree import tree_map

            dims_a = tree_map(lambda t: 0 if isinstance(t, Tensor) else None, args)
            dims_k = tree_map(lambda t: 0 if isinstance(t, Tensor) else None, kwargs)
        else:
            dims_a = dims_k = None
        return vmap(one, in_dims=(0, dims_a, dims_k), randomness="different", chunk_size=self.chunk_size)(
            self.params, args, kwargs)


def unit_groups(module: nn.Module, space: ParameterSpace | None = None, hidden_size: int | None = None) -> Tensor:
    """(D,) long: the hidden unit each searched parameter entry belongs to (ESP's
    subpopulations: one per unit, holding the weights INTO that unit).

    The rule, from the shapes alone (so it serves every family): a tensor whose first
    axis is a multiple of H stacks blocks of H rows (an LSTM's four gates, a GRU's
    three), and row r belongs to unit ``r % H`` (peepholes and biases of size H or k*H
    likewise); any other tensor (an sLSTM's per-head recurrent blocks, a head's weights)
    is split into H contiguous runs of its entries.

    Args:
        module: the recurrent layer (``hidden_size`` attribute, or pass ``hidden_size``).
        space: its :class:`ParameterSpace` (default: all parameters).

    Example:
        >>> import lstmkit
        >>> g = unit_groups(lstmkit.LSTM(1, 2))
        >>> g[:8].tolist()  # weight_ih (8, 1): gates i, f, g, o of units 0, 1
        [0, 1, 0, 1, 0, 1, 0, 1]
    """
    space = ParameterSpace(module) if space is None else space
    H = hidden_size if hidden_size is not None else getattr(module, "hidden_size", None)
    if isinstance(H, bool) or not isinstance(H, int) or H < 1:
        raise ValueError(f"hidden_size must be a positive int (the module has none), got {H!r}")
    parts = []
    for shape, size in zip(space.shapes, space.sizes):
        if shape and shape[0] % H == 0:
            rows = torch.arange(shape[0]) % H
            parts.append(rows.repeat_interleave(size // shape[0]))
        else:
            parts.append(torch.arange(size) * H // max(size, 1))
    return torch.cat(parts).long()


def fit_readout(features: Tensor, targets: Tensor, ridge: float = 0.0) -> Tensor:
    """The least-squares linear output weights, batched: ``W = pinv(Phi) D``.

    With ``ridge`` > 0: ``W = (Phi^T Phi + ridge I)^-1 Phi^T D`` (Tikhonov).

    Args:
        features: (P, N, F) hidden states (and a constant 1 for a bias) of N steps.
        targets: (N, O) or (P, N, O) the desired outputs.
        ridge: the ridge penalty (0: the Moore-Penrose pseudo-inverse).

    Returns:
        (P, F, O) weights, ``Phi @ W`` the fitted outputs.

    Example:
        >>> import torch
        >>> phi = torch.randn(2, 50, 3, dtype=torch.float64)
        >>> w = torch.randn(2, 3, 1, dtype=torch.float64)
        >>> torch.allclose(fit_readout(phi, phi @ w), w)
        True
    """
    if features.dim() != 3:
        raise ValueError(f"features must be (P, N, F), got shape {tuple(features.shape)}")
    if targets.dim() == 2:
        targets = targets.unsqueeze(0).expand(features.shape[0], -1, -1)
    if targets.dim() != 3 or targets.shape[:2] != features.shape[:2]:
        raise ValueError(f"targets must be (N, O) or (P, N, O) with P, N = {tuple(features.shape[:2])}, "
                         f"got shape {tuple(targets.shape)}")
    if not (isinstance(ridge, (int, float)) and not isinstance(ridge, bool) and ridge >= 0 and math.isfinite(ridge)):
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge!r}")
    phi = features.double()
    d = targets.to(phi.dtype)
    if ridge > 0:
        F = phi.shape[-1]
        gram = phi.transpose(1, 2) @ phi + ridge * torch.eye(F, dtype=phi.dtype)
        w = torch.linalg.solve(gram, phi.transpose(1, 2) @ d)
    else:
        w = torch.linalg.pinv(phi) @ d
    return w.to(features.dtype)


# ---- searches ----------------------------------------------------------------------------
class ESP:
    """Enforced subpopulations (ESP; Gomez & Miikkulainen 1999), as Evolino uses it.

    One subpopulation of ``size`` members per unit; a member is that unit's slice of the
    parameter vector (its entries of :func:`unit_groups`). :meth:`ask` assembles
    ``trials * size`` networks, each member of each subpopulation taking part in
    ``trials`` of them (shuffled); :meth:`tell` credits every member with the BEST loss
    of the networks it took part in (``credit="mean"``: their mean), then each
    subpopulation keeps its best quarter, and the rest are replaced by one-point
    crossovers of two elite members plus Cauchy noise of scale ``mutation``. After
    ``burst_after`` generations without a better network, **burst mutation**: every
    subpopulation is refilled with Cauchy perturbations (scale ``burst``) of the best
    network's slice for that unit.

    Args:
        units: (D,) long, the unit of each parameter entry (:func:`unit_groups`).
        size: members per subpopulation. trials: networks per member per generation.
        init: the initial members (D,) centre (default zeros) and ``init_scale``: members
            start uniform in centre +- init_scale.
        seed: numpy seed.

    Example:
        >>> import torch
        >>> units = torch.tensor([0, 0, 1, 1])
        >>> esp = ESP(units, size=8, seed=0)
        >>> for _ in range(30):
        ...     pop = esp.ask()
        ...     esp.tell(((pop - torch.tensor([1., -1., .5, 2.])) ** 2).sum(1))
        >>> esp.best_loss < 0.3
        True
    """

    def __init__(self, units: Tensor, size: int = 20, trials: int = 4, mutation: float = 0.05,
                 burst: float = 0.3, burst_after: int = 20, elite: float = 0.25, credit: str = "best",
                 init: Tensor | None = None, init_scale: float = 0.5, seed: int = 0) -> None:
        units = torch.as_tensor(units).long()
        if units.dim() != 1 or units.numel() == 0:
            raise ValueError(f"units must be a non-empty (D,) tensor, got shape {tuple(units.shape)}")
        for name, v, lo in (("size", size, 4), ("trials", trials, 1), ("burst_after", burst_after, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        if credit not in ("best", "mean"):
            raise ValueError(f"credit must be 'best' or 'mean', got {credit!r}")
        if not 0 < elite < 1:
            raise ValueError(f"elite must be in (0, 1), got {elite!r}")
        self.units = units
        self.slices = [torch.nonzero(units == u).flatten() for u in torch.unique(units).tolist()]
        self.dim = int(units.numel())
        self.size, self.trials, self.mutation, self.burst = size, trials, float(mutation), float(burst)
        self.burst_after, self.elite, self.credit = burst_after, float(elite), credit
        self.rng = np.random.default_rng(seed)
        centre = torch.zeros(self.dim) if init is None else torch.as_tensor(init, dtype=torch.float32).reshape(-1)
        self.subpops = [centre[idx][None] + init_scale * (2 * self._uniform(size, len(idx)) - 1)
                        for idx in self.slices]
        self.best: Tensor | None = None
        self.best_loss = math.inf
        self.generation = 0
        self.stagnant = 0
        self.bursts = 0
        self._picks: np.ndarray | None = None

    def _uniform(self, *shape) -> Tensor:
        return torch.from_numpy(self.rng.random(shape).astype(np.float32))

    def _cauchy(self, *shape, scale: float) -> Tensor:
        return torch.from_numpy((scale * self.rng.standard_cauchy(shape)).clip(-1e3, 1e3).astype(np.float32))

    def ask(self) -> Tensor:
        """(trials * size, D) networks for this generation."""
        n = self.trials * self.size
        picks = np.stack([np.concatenate([self.rng.permutation(self.size) for _ in range(self.trials)])
                          for _ in self.slices], axis=1)  # (n, U)
        pop = torch.empty(n, self.dim)
        for u, idx in enumerate(self.slices):
            pop[:, idx] = self.subpops[u][torch.from_numpy(picks[:, u])]
        self._picks, self._asked = picks, pop
        return pop

    def tell(self, losses) -> None:
        """The (n,) losses of the networks of the last :meth:`ask` (lower is better; NaN = worst)."""
        if self._picks is None:
            raise ValueError("tell() needs a preceding ask()")
        losses = torch.as_tensor(losses, dtype=torch.float64).reshape(-1).numpy().copy()
        if losses.shape[0] != self._picks.shape[0]:
            raise ValueError(f"losses must have {self._picks.shape[0]} entries, got {losses.shape[0]}")
        losses[~np.isfinite(losses)] = np.inf
        i = int(np.argmin(losses))
        if losses[i] < self.best_loss:
            self.best_loss, self.best = float(losses[i]), self._asked[i].clone()
            self.stagnant = 0
        else:
            self.stagnant += 1
        keep = max(1, int(round(self.elite * self.size)))
        for u, idx in enumerate(self.slices):
            member = self._picks[:, u]
            credit = np.full(self.size, np.inf)
            if self.credit == "best":
                np.minimum.at(credit, member, losses)
            else:
                sums = np.bincount(member, weights=np.where(np.isfinite(losses), losses, 1e300), minlength=self.size)
                credit = sums / np.bincount(member, minlength=self.size)
            order = np.argsort(credit, kind="stable")
            sub = self.subpops[u][torch.from_numpy(order.copy())]
            elites = sub[:keep]
            n_new = self.size - keep
            a = elites[torch.from_numpy(self.rng.integers(0, keep, n_new))]
            b = elites[torch.from_numpy(self.rng.integers(0, keep, n_new))]
            cut = torch.from_numpy(self.rng.integers(0, len(idx) + 1, n_new))
            take_a = torch.arange(len(idx))[None] < cut[:, None]
            child = torch.where(take_a, a, b) + self._cauchy(n_new, len(idx), scale=self.mutation)
            self.subpops[u] = torch.cat([elites, child])
        if self.stagnant >= self.burst_after and self.best is not None:
            self._burst()
        self.generation += 1
        self._picks = None

    def _burst(self) -> None:
        for u, idx in enumerate(self.slices):
            centre = self.best[idx][None]
            noise = self._cauchy(self.size, len(idx), scale=self.burst)
            noise[0] = 0.0  # the best network's own slice stays
            self.subpops[u] = centre + noise
        self.stagnant = 0
        self.bursts += 1


class CMAES:
    """CMA-ES from the ``cma`` package behind the :class:`ESP` interface (``ask``/``tell``).

    Args:
        x0: (D,) the start. sigma0: the initial step size. popsize: offspring per
            generation (None: cma's default 4 + 3 ln D). diagonal: learn only a diagonal
            covariance (sep-CMA; for thousands of weights). seed: cma's seed (> 0 used).

    Example:
        >>> import torch
        >>> es = CMAES(torch.zeros(3), sigma0=0.5, seed=1)
        >>> for _ in range(40):
        ...     pop = es.ask()
        ...     es.tell(((pop - 1) ** 2).sum(1))
        >>> es.best_loss < 1e-3
        True
    """

    def __init__(self, x0: Tensor, sigma0: float = 0.5, popsize: int | None = None, diagonal: bool = False,
                 seed: int = 0) -> None:
        try:
            import cma
        except ImportError as e:  # pragma: no cover - the extra is installed in CI
            raise ImportError("CMA-ES needs the 'cma' package: pip install 'lstmkit[evolve]'") from e
        x0 = torch.as_tensor(x0, dtype=torch.float64).reshape(-1)
        if not (isinstance(sigma0, (int, float)) and sigma0 > 0):
            raise ValueError(f"sigma0 must be a positive number, got {sigma0!r}")
        if popsize is not None and (isinstance(popsize, bool) or not isinstance(popsize, int) or popsize < 2):
            raise ValueError(f"popsize must be an int >= 2 or None, got {popsize!r}")
        opts = {"seed": int(seed) + 1, "verbose": -9, "verb_log": 0, "verb_disp": 0}
        if popsize is not None:
            opts["popsize"] = popsize
        if diagonal:
            opts["CMA_diagonal"] = True
        self.es = cma.CMAEvolutionStrategy(x0.numpy(), float(sigma0), opts)
        self.dim = int(x0.numel())
        self.best: Tensor | None = None
        self.best_loss = math.inf
        self.generation = 0
        self.bursts = 0
        self._asked = None

    def ask(self) -> Tensor:
        """(popsize, D) candidates."""
        self._asked = self.es.ask()
        return torch.from_numpy(np.asarray(self._asked, dtype=np.float32))

    def tell(self, losses) -> None:
        """The (popsize,) losses of the last :meth:`ask` (NaN/inf are told as very large)."""
        if self._asked is None:
            raise ValueError("tell() needs a preceding ask()")
        losses = torch.as_tensor(losses, dtype=torch.float64).reshape(-1).numpy().copy()
        if losses.shape[0] != len(self._asked):
            raise ValueError(f"losses must have {len(self._asked)} entries, got {losses.shape[0]}")
        finite = np.isfinite(losses)
        worst = losses[finite].max() if finite.any() else 0.0
        losses[~finite] = worst * 10 + 1e6
        i = int(np.argmin(losses))
        if losses[i] < self.best_loss:
            self.best_loss = float(losses[i])
            self.best = torch.from_numpy(np.asarray(self._asked[i], dtype=np.float32))
        self.es.tell(self._asked, losses.tolist())
        self.generation += 1
        self._asked = None

    @property
    def sigma(self) -> float:
        return float(self.es.sigma)


def evolve(search, evaluate: Callable[[Tensor], Tensor], generations: int = 100, max_seconds: float | None = None,
           target: float | None = None, log: Callable[[str], None] | None = None, log_every: int = 10) -> dict:
    """Run ``search`` (:class:`ESP`, :class:`CMAES`) against ``evaluate``: (n, D) -> (n,) losses.

    Stops after ``generations``, ``max_seconds`` or once the best loss is <= ``target``.
    Returns ``{"best", "best_loss", "generations", "evaluations", "seconds", "stop_reason",
    "history": [{"generation", "best_loss", "mean_loss", "seconds"}], "bursts"}``.

    Example:
        >>> import torch
        >>> r = evolve(CMAES(torch.zeros(2), seed=0), lambda p: (p ** 2).sum(1), generations=30)
        >>> r["best_loss"] < 1e-2, r["evaluations"]
        (True, 180)
    """
    if isinstance(generations, bool) or not isinstance(generations, int) or generations < 1:
        raise ValueError(f"generations must be a positive int, got {generations!r}")
    t0 = time.perf_counter()
    history, evaluations, reason = [], 0, "generations"
    for g in range(generations):
        pop = search.ask()
        with torch.no_grad():
            losses = torch.as_tensor(evaluate(pop), dtype=torch.float64).reshape(-1)
        search.tell(losses)
        evaluations += int(pop.shape[0])
        now = time.perf_counter() - t0
        finite = losses[torch.isfinite(losses)]
        history.append({"generation": g + 1, "best_loss": search.best_loss,
                        "mean_loss": float(finite.mean()) if finite.numel() else None, "seconds": round(now, 3)})
        if log is not None and (g % log_every == 0 or g == generations - 1):
            log(f"  generation {g + 1}: best loss {search.best_loss:.4g}, {now:.0f} s")
        if target is not None and search.best_loss <= target:
            reason = "target"
            break
        if max_seconds is not None and now >= max_seconds:
            reason = "max_seconds"
            break
    return {"best": search.best, "best_loss": search.best_loss, "generations": len(history),
            "evaluations": evaluations, "seconds": round(time.perf_counter() - t0, 3), "stop_reason": reason,
            "history": history, "bursts": getattr(search, "bursts", 0)}


def evolve_network(model: nn.Module, evaluate: Callable[[Population], Tensor], *, names: Sequence[str] | None = None,
                   sigma0: float = 0.5, popsize: int | None = None, diagonal: bool | None = None,
                   generations: int = 100, max_seconds: float | None = None, target: float | None = None,
                   seed: int = 0, chunk_size: int | None = None, log=None) -> dict:
    """Evolve every weight of ``model`` (or ``names``) with CMA-ES; the best is written back.

    ``evaluate(population) -> (P,) losses`` gets a :class:`Population`: calling it runs
    the whole population as one batched forward (``population(x)`` for shared inputs,
    ``population(obs, state, batched=True)`` for one input per individual, e.g. a
    policy stepping P environments). Any fitness works: a supervised error, minus an
    episode's return.

    Args:
        model: the network (its current weights are CMA-ES's start).
        names: the parameters evolved (default all).
        sigma0, popsize, diagonal: CMA-ES settings (diagonal default: D > 2,000).
        generations, max_seconds, target: the budget and the stopping loss.
        seed: CMA-ES's seed.

    Returns:
        :func:`evolve`'s dict, plus ``"dim"``.

    Example:
        >>> import torch, lstmkit
        >>> torch.manual_seed(0) and None
        >>> rnn = lstmkit.LSTM(1, 2)
        >>> x = torch.randn(5, 8, 1)
        >>> goal = torch.tanh(x.cumsum(0))[..., 0]
        >>> loss = lambda pop: ((pop(x)[0][..., 0] - goal) ** 2).mean((1, 2))
        >>> r = evolve_network(rnn, loss, generations=40, seed=0)
        >>> r["best_loss"] < r["history"][0]["mean_loss"]
        True
    """
    space = ParameterSpace(model, names)
    diagonal = space.dim > 2000 if diagonal is None else diagonal
    search = CMAES(space.vector(), sigma0=sigma0, popsize=popsize, diagonal=diagonal, seed=seed)
    result = evolve(search, lambda pop: evaluate(Population(model, space, pop, chunk_size)),
                    generations=generations, max_seconds=max_seconds, target=target, log=log)
    if result["best"] is not None:
        space.assign(result["best"])
    result["dim"] = space.dim
    return result


# ---- Evolino -----------------------------------------------------------------------------
class ReadoutNetwork(nn.Module):
    """A recurrent layer and a linear output fitted by Evolino: ``y_t = W [h_t; x_t; 1]``.

    ``forward(x, lengths=None, state=None) -> (y, state)`` like
    :class:`lstmkit.models.SequenceModel` with ``readout="every"``, so the tasks'
    evaluations run it unchanged.

    Args:
        rnn: a registered family's layer module (vector inputs).
        output_size: O. with_input: the output also sees the input ``x_t``.

    Example:
        >>> import torch, lstmkit
        >>> net = ReadoutNetwork(lstmkit.LSTM(1, 3), 1, with_input=True)
        >>> net.features, net(torch.randn(6, 2, 1))[0].shape
        (5, torch.Size([6, 2, 1]))
    """

    def __init__(self, rnn: nn.Module, output_size: int, with_input: bool = False) -> None:
        super().__init__()
        self.rnn = rnn
        self.with_input = bool(with_input)
        self.features = rnn.hidden_size + (rnn.input_size if with_input else 0) + 1
        self.register_buffer("readout", torch.zeros(self.features, output_size))

    def phi(self, out: Tensor, x: Tensor) -> Tensor:
        """(..., H) hidden outputs and (..., I) inputs -> (..., F) readout features."""
        parts = [out] + ([x] if self.with_input else []) + [torch.ones_like(out[..., :1])]
        return torch.cat(parts, -1)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state=None):
        out, state = self.rnn(x, state, lengths=lengths)
        y = self.phi(out, x) @ self.readout
        if lengths is not None:
            valid = torch.arange(x.shape[0], device=x.device)[:, None] < lengths.to(x.device)[None]
            y = y * valid[..., None]
        return y, state


@torch.no_grad()
def free_run(model: nn.Module, warmup: Tensor, steps: int, state=None) -> Tensor:
    """A generator's own predictions: teacher-forced over ``warmup`` (T0, B, I), then
    ``steps`` steps each fed the previous output (O == I). Returns (steps, B, O); row 0
    is the prediction made after the last warm-up input.

    Example:
        >>> import torch, lstmkit
        >>> net = ReadoutNetwork(lstmkit.LSTM(1, 3), 1)
        >>> free_run(net, torch.zeros(5, 2, 1), 7).shape
        torch.Size([7, 2, 1])
    """
    y, state = model(warmup, state=state)
    y = y[-1:]
    outs = []
    for _ in range(steps):
        outs.append(y)
        y, state = model(y, state=state)
    return torch.cat(outs)


@dataclass
class EvolinoConfig(ConfigDict):
    """Evolino's settings (defaults: ours; the paper's where stated in docs/evolution.md).

    Attributes:
        search: ``"esp"`` (the paper's) or ``"cmaes"`` (the CMA-ES variant).
        subpopulation: ESP members per unit. trials: networks per member per generation.
        mutation: ESP's Cauchy mutation scale. burst: burst mutation's scale;
        burst_after: generations without improvement before a burst.
        init_scale: initial weights uniform in +- this.
        sigma0, popsize: CMA-ES's settings (popsize None: cma's default).
        ridge: 0 for the pseudo-inverse, > 0 for ridge regression.
        with_input: the linear output also sees the input.
        horizon: the free-running fitness's horizon in steps (None: from the washout to
            the end of the training steps, one run); starts: how many free runs then.
        generations, max_seconds: the budget. seed: the run's seed.
    """

    search: str = "esp"
    subpopulation: int = 20
    trials: int = 3
    mutation: float = 0.05
    burst: float = 0.3
    burst_after: int = 20
    init_scale: float = 0.5
    sigma0: float = 0.3
    popsize: int | None = None
    ridge: float = 0.0
    with_input: bool = False
    horizon: int | None = None
    starts: int = 4
    teacher_noise: float = 0.0
    fitness: str = "free"
    generations: int = 200
    max_seconds: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.fitness not in ("free", "teacher"):
            raise ValueError(f"fitness must be 'free' or 'teacher', got {self.fitness!r}")
        if self.search not in ("esp", "cmaes"):
            raise ValueError(f"search must be 'esp' or 'cmaes', got {self.search!r}")


class Evolino:
    """Evolino (Schmidhuber, Wierstra, Gagliolo & Gomez 2007) for any recurrent layer.

    Evolution searches the weights of ``rnn`` (the weights into the hidden units: one
    ESP subpopulation per unit, or CMA-ES on all of them); for each candidate the linear
    output weights are the least-squares fit on its hidden states (:func:`fit_readout`);
    its fitness is the error on steps that fit did not see.

    :meth:`fit_generator` is the paper's time-series setting: one series, the net fed
    the true previous value (teacher forcing) over ``[0, train_end)``, the readout fitted
    on steps ``[washout, train_end)``, the fitness the mean squared error of the net
    running FREE (its own output as the next input) from ``washout`` to ``train_end``.
    :meth:`fit` takes any ``evaluate(population (P, D)) -> (P,) losses``.

    Args:
        rnn: a registered family's layer (``lstmkit.LSTM(1, 10, variant="vanilla")``,
            ``lstmkit.GRU``, ...); its weights are overwritten by the best found.
        config: :class:`EvolinoConfig`.

    Example:
        >>> import torch, lstmkit
        >>> torch.manual_seed(0) and None
        >>> s = torch.sin(0.2 * torch.arange(160.0))[:, None]
        >>> evo = Evolino(lstmkit.LSTM(1, 4), EvolinoConfig(generations=5, subpopulation=8))
        >>> r = evo.fit_generator(s, train_end=120, washout=20)
        >>> net = r["network"]; y = free_run(net, s[:120, None], 40)
        >>> float(((y[:, 0] - s[120:]) ** 2).mean()) < 0.5
        True
    """

    def __init__(self, rnn: nn.Module, config: EvolinoConfig | None = None) -> None:
        if not hasattr(rnn, "hidden_size") or not hasattr(rnn, "input_size"):
            raise TypeError(f"rnn must be a recurrent layer with input_size and hidden_size, got {type(rnn).__name__}")
        self.rnn = rnn
        self.config = config or EvolinoConfig()
        self.space = ParameterSpace(rnn)

    def make_search(self):
        c = self.config
        if c.search == "esp":
            return ESP(unit_groups(self.rnn, self.space), size=c.subpopulation, trials=c.trials,
                       mutation=c.mutation, burst=c.burst, burst_after=c.burst_after, init_scale=c.init_scale,
                       seed=c.seed)
        g = torch.Generator().manual_seed(c.seed)
        x0 = (2 * torch.rand(self.space.dim, generator=g) - 1) * c.init_scale
        return CMAES(x0, sigma0=c.sigma0, popsize=c.popsize, diagonal=self.space.dim > 2000, seed=c.seed)

    def fit(self, evaluate: Callable[[Tensor], Tensor], log=None, target: float | None = None) -> dict:
        """Search with ``evaluate``; write the best into ``rnn``; :func:`evolve`'s dict."""
        c = self.config
        r = evolve(self.make_search(), evaluate, generations=c.generations, max_seconds=c.max_seconds,
                   target=target, log=log)
        if r["best"] is not None:
            self.space.assign(r["best"])
        return r

    # -- the generator setting ---------------------------------------------------------
    def _features(self, pop: Tensor, x: Tensor) -> Tensor:
        """(P, T, F) readout features of every individual on (T, 1, I) inputs."""
        out, _ = Population(self.rnn, self.space, pop)(x)  # (P, T, 1, H)
        # ReadoutNetwork.phi's features: [h_t; x_t; 1]
        parts = [out[:, :, 0]] + ([x[None, :, 0].expand(pop.shape[0], -1, -1)] if self.config.with_input else [])
        return torch.cat(parts + [torch.ones_like(out[:, :, 0, :1])], -1)

    def generator_losses(self, pop: Tensor, series: Tensor, train_end: int, washout: int) -> tuple[Tensor, Tensor]:
        """(P,) free-running losses and (P, F, O) readouts of the candidates ``pop``.

        The readout is fitted teacher-forced on steps ``[washout, train_end)``; the net
        then runs free from ``config.starts`` points (evenly spaced from ``washout``), each
        start teacher-forced up to it, for ``config.horizon`` steps (None: from
        ``washout`` to ``train_end``, one run); the loss is the mean squared error.
        """
        c = self.config
        x = series[: train_end - 1, None]   # inputs s_0 .. s_{T-2}
        d = series[1:train_end]             # targets s_1 .. s_{T-1}
        x_fit = x
        if c.teacher_noise:
            # the readout is fitted on states driven by noisy teacher inputs: it learns to
            # correct small deviations of its own fed-back outputs (Jaeger's remedy for
            # unstable generators); a fixed draw per seed, the same for every candidate
            g = torch.Generator().manual_seed(c.seed)
            x_fit = x + c.teacher_noise * torch.randn(x.shape, generator=g)
        phi = self._features(pop, x_fit)
        if c.fitness == "teacher":
            # one-step error on the last third of the training steps, the readout fitted on the rest
            cut = washout + 2 * (train_end - 1 - washout) // 3
            w = fit_readout(phi[:, washout:cut], d[washout:cut], c.ridge)
            clean = phi if x_fit is x else self._features(pop, x)
            losses = ((clean[:, cut:] @ w - d[cut:][None]) ** 2).mean((1, 2))
            w = fit_readout(phi[:, washout:], d[washout:], c.ridge)
            return torch.nan_to_num(losses, nan=math.inf), w
        w = fit_readout(phi[:, washout:], d[washout:], c.ridge)
        span = train_end - 1 - washout
        horizon = span if c.horizon is None else min(c.horizon, span)
        k = 1 if c.horizon is None else max(1, c.starts)
        starts = torch.linspace(washout, train_end - 1 - horizon, k).round().long()
        T0 = int(starts.max())
        xs = x[:T0, 0][:, None].expand(T0, k, x.shape[-1]).contiguous()  # (T0, k, I), one column per start
        lengths = starts.clone()
        rnn, space, with_input = self.rnn, self.space, c.with_input

        def readout(out, inp, w):
            feats = [out] + ([inp] if with_input else []) + [torch.ones_like(out[..., :1])]
            return torch.cat(feats, -1) @ w

        def run(p, w):
            from torch.func import functional_call

            out, state = functional_call(rnn, p, (xs,), {"lengths": lengths})
            last = out.gather(0, (lengths - 1).view(1, -1, 1).expand(1, k, out.shape[-1]))  # (1, k, H)
            inp = xs.gather(0, (lengths - 1).view(1, -1, 1).expand(1, k, xs.shape[-1]))
            y = readout(last, inp, w)
            ys = [y]
            for _ in range(horizon - 1):
                out, state = functional_call(rnn, p, (y, state))
                y = readout(out, y, w)
                ys.append(y)
            return torch.cat(ys)  # (horizon, k, O)

        from torch.func import vmap

        ys = vmap(run, randomness="different")(space.split(pop), w)  # predictions of s_start .. s_start+horizon-1
        idx = starts[None, :] + torch.arange(horizon)[:, None]  # (horizon, k)
        goal = series[idx]  # (horizon, k, O)
        losses = ((ys - goal[None]) ** 2).mean((1, 2, 3))
        return torch.nan_to_num(losses, nan=math.inf), w

    def fit_generator(self, series: Tensor, train_end: int, washout: int = 100, log=None,
                      target: float | None = None) -> dict:
        """Evolve a generator of ``series`` (T, O) on its first ``train_end`` steps.

        Returns :func:`evolve`'s dict plus ``"network"``: a :class:`ReadoutNetwork` with
        the best weights and their readout.
        """
        series = torch.as_tensor(series, dtype=torch.float32)
        if series.dim() == 1:
            series = series[:, None]
        if series.dim() != 2 or series.shape[1] != self.rnn.input_size:
            raise ValueError(f"series must be (T, {self.rnn.input_size}) (its values are the inputs), "
                             f"got shape {tuple(series.shape)}")
        if not (isinstance(washout, int) and isinstance(train_end, int) and 1 <= washout < train_end - 2
                and train_end <= series.shape[0]):
            raise ValueError(f"need 1 <= washout < train_end - 2 and train_end <= len(series) = {series.shape[0]}, "
                             f"got washout={washout!r}, train_end={train_end!r}")
        r = self.fit(lambda pop: self.generator_losses(pop, series, train_end, washout)[0], log=log, target=target)
        net = ReadoutNetwork(self.rnn, series.shape[1], with_input=self.config.with_input)
        with torch.no_grad():
            _, w = self.generator_losses(self.space.vector()[None], series, train_end, washout)
            net.readout.copy_(w[0])
        r["network"] = net
        return r
