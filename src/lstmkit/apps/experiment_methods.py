"""The experiment runner's training methods other than gradient descent.

:func:`lstmkit.apps.experiment.run_experiment` trains each (model, method) of an
experiment; ``"gradient"`` is the one trainer (:mod:`lstmkit.train.trainer`), the others
come from here, each returning a result dict shaped like the trainer's (so one summary
and one table hold them all, beside each other):

- ``"evolino"`` / ``"evolino-cmaes"``: Evolino (ESP or CMA-ES for the hidden weights,
  pseudo-inverse output weights; :class:`lstmkit.train.evolution.Evolino`) on a
  free-running generation task (:mod:`lstmkit.tasks.generation`).
- ``"cmaes"``: every weight of the task's usual model evolved by CMA-ES, the fitness the
  task's own training loss on a fixed set of training sequences, the population as one
  batched forward (:func:`lstmkit.train.evolution.evolve_network`).
- ``"dekf"``: the decoupled extended Kalman filter, online, one sequence at a time
  (:class:`lstmkit.train.kalman.DEKF`).

Options of a method come from the experiment (``Experiment.methods[method]``, with
``--quick`` overrides in ``Experiment.quick["methods"][method]``).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..families import get_family
from ..models.sequence import SequenceModel

__all__ = ["METHODS", "run_method", "method_label"]

METHODS = ("gradient", "evolino", "evolino-cmaes", "cmaes", "dekf")
"""The training methods an experiment can name."""

_LABELS = {"gradient": "gradient descent", "evolino": "Evolino (ESP + pseudo-inverse)",
           "evolino-cmaes": "Evolino (CMA-ES + pseudo-inverse)", "cmaes": "CMA-ES, all weights",
           "dekf": "DEKF, online"}


def method_label(method: str) -> str:
    """The method in words: ``"DEKF, online"``.

    Example:
        >>> method_label("evolino")
        'Evolino (ESP + pseudo-inverse)'
    """
    if method not in _LABELS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return _LABELS[method]


def _layer(cell: str, preset, input_size: int, hidden: int):
    family = get_family(cell)
    import inspect

    kwargs = {"variant": preset or "vanilla"} if "variant" in inspect.signature(family.module).parameters else {}
    return family.module(input_size, hidden, **kwargs)


def run_method(method: str, task, *, cell: str, preset, hidden: int, seed: int, options: dict, meta: dict,
               model_kwargs: dict | None = None, log=None) -> dict:
    """Train one model by ``method`` (not ``"gradient"``) on ``task``; a trainer-shaped result.

    Args:
        method: one of :data:`METHODS` but ``"gradient"``.
        task: the task object. cell, preset, hidden: the model (a registered family).
        seed: the run's seed (weights, search, data). options: the method's settings.
        meta: recorded in the result. model_kwargs: more SequenceModel arguments
            (``forget_bias``) for the methods that train the usual model.

    Example:
        >>> from lstmkit.tasks import get_task
        >>> r = run_method("cmaes", get_task("parity", L=4), cell="lstm", preset="vanilla", hidden=2, seed=0,
        ...                options={"generations": 3, "batch": 16}, meta={"variant": "vanilla"})
        >>> r["units"], r["sequences"] > 0
        ('evaluations', True)
    """
    if method not in METHODS or method == "gradient":
        raise ValueError(f"method must be one of {METHODS[1:]}, got {method!r}")
    torch.manual_seed(seed)
    opts = dict(options or {})
    if method in ("evolino", "evolino-cmaes"):
        return _evolino(method, task, cell, preset, hidden, seed, opts, meta, log)
    if method == "dekf":
        return _dekf(task, cell, preset, hidden, seed, opts, meta, model_kwargs or {}, log)
    return _cmaes(task, cell, preset, hidden, seed, opts, meta, model_kwargs or {}, log)


def _finish(task, model, seed: int, t0: float, meta: dict, config: dict, evaluations: int, history: list,
            solved_at_evaluations: int | None, parameters: int, stop_reason: str) -> dict:
    test = task.evaluate(model, np.random.default_rng([seed, 2]), test=True)
    solved = bool(test.get("solved"))
    return {"task": task.config(), "seed": seed, "config": config, "meta": meta, "units": "evaluations",
            "sequences": evaluations, "updates": len(history), "wall_seconds": round(time.perf_counter() - t0, 3),
            "stop_reason": stop_reason, "solved": solved,
            "solved_at": {"sequences": solved_at_evaluations or evaluations, "update": len(history),
                          "seconds": round(time.perf_counter() - t0, 3)} if solved else None,
            "checks": [], "test": test, "history": history, "parameters": parameters,
            "learning": _learning(history)}


def _learning(history: list) -> dict:
    """The first and last recorded training loss (the summary keeps this, not the curve)."""
    return {"first_loss": history[0]["loss"] if history else None,
            "last_loss": history[-1]["loss"] if history else None}


def _evolino(method, task, cell, preset, hidden, seed, opts, meta, log):
    from ..train.evolution import Evolino, EvolinoConfig

    if not hasattr(task, "train_end"):
        raise ValueError(f"Evolino runs here on free-running generation tasks (sines, Mackey-Glass), "
                         f"not on {task.name!r}")
    cfg = EvolinoConfig(**{**opts, "search": "cmaes" if method == "evolino-cmaes" else "esp", "seed": seed})
    t0 = time.perf_counter()
    rnn = _layer(cell, preset, task.input_size, hidden)
    r = Evolino(rnn, cfg).fit_generator(task.tensor(), task.train_end, task.washout, log=log)
    per_gen = r["evaluations"] / max(r["generations"], 1)
    history = [{"sequences": int(round(h["generation"] * per_gen)), "loss": h["best_loss"], "seconds": h["seconds"]}
               for h in r["history"]]
    config = {**cfg.to_dict(), "method": method, "optimizer": method}
    return _finish(task, r["network"], seed, t0, meta, config, r["evaluations"], history, None,
                   sum(p.numel() for p in rnn.parameters()), r["stop_reason"])


def _model(task, cell, preset, hidden, model_kwargs):
    return SequenceModel(task.input_size, hidden, task.output_size, cell=cell, variant=preset or "vanilla",
                         readout=task.readout, **model_kwargs)


def _cmaes(task, cell, preset, hidden, seed, opts, meta, model_kwargs, log):
    from ..train.evolution import evolve_network

    t0 = time.perf_counter()
    model = _model(task, cell, preset, hidden, model_kwargs)
    batch_n = int(opts.pop("batch", 64))
    batch = task.sample(batch_n, np.random.default_rng([seed, 0]))

    def losses(pop):
        out, _ = pop(batch.x, batch.lengths)
        vals = torch.stack([task.loss(out[p], batch) for p in range(pop.size)])
        return torch.nan_to_num(vals, nan=float("inf"))

    r = evolve_network(model, losses, seed=seed, log=log, **opts)
    per_gen = r["evaluations"] / max(r["generations"], 1)
    history = [{"sequences": int(round(h["generation"] * per_gen)), "loss": h["best_loss"], "seconds": h["seconds"]}
               for h in r["history"]]
    config = {**opts, "batch": batch_n, "method": "cmaes", "optimizer": "cmaes"}
    return _finish(task, model, seed, t0, meta, config, r["evaluations"], history, None, r["dim"], r["stop_reason"])


def _dekf(task, cell, preset, hidden, seed, opts, meta, model_kwargs, log):
    from ..train.kalman import DEKF, DEKFConfig

    model = _model(task, cell, preset, hidden, model_kwargs)
    cfg = DEKFConfig(**{**opts, "seed": seed})
    r = DEKF(model, cfg).fit(task, log=log, meta=meta)
    r["config"]["method"] = "dekf"
    r["learning"] = _learning(r["history"])
    return r
