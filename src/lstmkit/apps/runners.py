"""Experiments with their own runner: learning without a teacher's per-step targets
(recurrent policy gradients), learning to learn, and the search over cell structures.

``lstmkit experiment NAME`` looks NAME up here when it is not a supervised experiment of
:data:`lstmkit.tasks.EXPERIMENTS`. Each entry names its runner and table formatter by
module path, so listing them imports nothing heavy.

Example:
    >>> from lstmkit.apps.runners import RUNNERS
    >>> RUNNERS["tmaze"].summary.startswith("T-maze")
    True
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

__all__ = ["Runner", "RUNNERS", "run_named"]


@dataclass(frozen=True)
class Runner:
    """One experiment with its own runner.

    Attributes:
        name: the command's NAME. summary: one line for ``experiment list``.
        run: ``"module:function"`` (relative to ``lstmkit.apps``) returning a summary dict.
        table: ``"module:function"`` turning the summary into Markdown.
        kwargs: fixed keywords of ``run``.
        variants: the default models (shown by ``experiment list``).
        budget_kw, seconds_kw: ``run``'s keywords for ``--max-episodes`` and ``--max-seconds``.
    """

    name: str
    summary: str
    run: str
    table: str
    kwargs: dict = field(default_factory=dict)
    variants: tuple = ()
    budget_kw: str = "episodes"
    seconds_kw: str = "seconds"

    def _load(self, ref: str):
        mod, fn = ref.split(":")
        return getattr(importlib.import_module(f"lstmkit.apps.{mod}"), fn)


_LIST = [
    Runner("tmaze", "T-maze, corridors 10 -> 50 -> 100 -> 200 (Bakker 2001): recurrent policy gradients, "
           "LSTM vs MLP vs Elman", "reinforcement:run_tmaze", "reinforcement:format_tmaze",
           variants=("lstm", "mlp", "elman"), budget_kw="stage_episodes", seconds_kw="stage_seconds"),
    Runner("cartpole-novel", "CartPole-v1 without velocities: recurrent policy gradients, LSTM vs MLP vs Elman",
           "reinforcement:run_control", "reinforcement:format_control",
           {"env_name": "CartPole-v1-novel", "experiment": "cartpole-novel"}, ("lstm", "mlp", "elman")),
    Runner("pendulum-angle", "Pendulum-v1 observing the angle only (continuous torque, Gaussian policy)",
           "reinforcement:run_control", "reinforcement:format_control",
           {"env_name": "Pendulum-v1-angle", "experiment": "pendulum-angle"}, ("lstm", "mlp", "elman")),
    Runner("double-pole-novel", "double pole balancing without velocities (Wieland 1991): recurrent policy "
           "gradients, LSTM vs MLP vs Elman", "reinforcement:run_control", "reinforcement:format_control",
           {"env_name": "DoublePole-novel", "experiment": "double-pole-novel"}, ("lstm", "mlp", "elman")),
    Runner("double-pole-novel-cmaes", "double pole balancing without velocities by neuroevolution: CMA-ES on "
           "every weight of 8-unit LSTM, MLP and Elman policies (Gomez & Schmidhuber 2005)",
           "reinforcement:run_control", "reinforcement:format_control",
           {"env_name": "DoublePole-novel", "experiment": "double-pole-novel-cmaes", "method": "cmaes"},
           ("lstm", "mlp", "elman")),
    Runner("learn-to-learn-boolean", "learning to learn two-input Boolean functions (Hochreiter et al. 2001): "
           "frozen LSTM vs Elman meta-learners, beside gradient descent", "meta:run_learning_to_learn",
           "meta:format_meta", {"family": "boolean", "experiment": "learn-to-learn-boolean"}, ("lstm", "elman"),
           budget_kw="sequences"),
    Runner("learn-to-learn-quadratic", "learning to learn quadratics a x1^2 + b x2^2 + c x1 x2 + d x1 + e x2 + f "
           "(Hochreiter et al. 2001): frozen LSTM vs Elman, beside gradient descent on the same examples",
           "meta:run_learning_to_learn", "meta:format_meta",
           {"family": "quadratic", "experiment": "learn-to-learn-quadratic"}, ("lstm", "elman"),
           budget_kw="sequences"),
    Runner("cell-search", "evolving the cell: LSTM switches and Jozefowicz's cell graphs (MUT1-3) scored on "
           "parity and a^n b^n, best retrained on fresh seeds", "cell_search:run_cell_search",
           "cell_search:format_cell_search", budget_kw="budget"),
    Runner("forget-bias", "forget-gate bias 1 vs 0 in the LSTM, beside the GRU (Jozefowicz et al. 2015)",
           "cell_search:run_forget_bias", "cell_search:format_forget_bias",
           variants=("lstm:standard@fb0", "lstm:standard@fb1", "gru"), budget_kw="budget"),
    Runner("forget-bias-long", "forget-gate bias 1 vs 0 in the LSTM, beside the GRU, on parity of 1-30 bits",
           "cell_search:run_forget_bias", "cell_search:format_forget_bias",
           {"tasks": ("parity30",), "budget": 40_000, "name": "forget-bias-long"},
           variants=("lstm:standard@fb0", "lstm:standard@fb1", "gru"), budget_kw="budget"),
]

RUNNERS: dict[str, Runner] = {r.name: r for r in _LIST}
"""The experiments with their own runner, by name."""


def run_named(name: str, variants=None, seeds: int = 1, first_seed: int = 0, quick: bool = False,
              out_dir="runs", log=print, progress: bool = False, **kw) -> tuple[dict, str]:
    """Run experiment ``name`` of :data:`RUNNERS`; returns ``(summary, Markdown table)``.

    Raises:
        ValueError: unknown name.
    """
    if name not in RUNNERS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {sorted(RUNNERS)}")
    r = RUNNERS[name]
    run = r._load(r.run)
    if "budget" in kw:
        kw[r.budget_kw] = kw.pop("budget")
    if "seconds_cap" in kw:
        kw[r.seconds_kw] = kw.pop("seconds_cap")
    summary = run(models=variants, seeds=seeds, first_seed=first_seed, quick=quick, out_dir=out_dir, log=log,
                  progress=progress, **{**r.kwargs, **kw})
    return summary, r._load(r.table)(summary)
