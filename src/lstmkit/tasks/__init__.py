"""Classic experiments: a generator, a success criterion and the paper's numbers each.

``get_task(kind, **params)`` builds a task; :data:`EXPERIMENTS` (in
:mod:`lstmkit.tasks.registry`) names the configured experiments that
``lstmkit experiment`` runs.

Example:
    >>> from lstmkit.tasks import get_task, TASKS
    >>> task = get_task("order", version="6b")
    >>> task.output_size, "reber" in TASKS
    (8, True)
"""

from .adding import AddingProblem, MultiplicationProblem, adding_batch, multiplication_batch
from .base import Batch, Published, Task
from .copy import CopyTask
from .counting import CountingLanguage
from .longlag import NoiseFreeLongLag, VeryLongLag
from .order import TemporalOrder
from .mqar import MQAR
from .generation import MackeyGlass, SuperimposedSines
from .parity import Parity
from .reber import ContinualReber, EmbeddedReber
from .registry import EXPERIMENTS, Experiment, get_experiment
from .timing import GenerateTimedSpikes, MeasureSpikeDelays
from .twoseq import TwoSequence

TASKS = {
    "reber": EmbeddedReber,
    "cerg": ContinualReber,
    "adding": AddingProblem,
    "multiplication": MultiplicationProblem,
    "order": TemporalOrder,
    "twoseq": TwoSequence,
    "longlag2a": NoiseFreeLongLag,
    "longlag2c": VeryLongLag,
    "counting": CountingLanguage,
    "msd": MeasureSpikeDelays,
    "gts": GenerateTimedSpikes,
    "copy": CopyTask,
    "parity": Parity,
    "mqar": MQAR,
    "sines": SuperimposedSines,
    "mackey_glass": MackeyGlass,
}
"""Task kinds by name: the classes :func:`get_task` builds."""


def get_task(kind: str, **params) -> Task:
    """The task of kind ``kind`` (a key of :data:`TASKS`) with its parameters.

    Raises:
        ValueError: unknown kind.
    """
    if kind not in TASKS:
        raise ValueError(f"unknown task {kind!r}; expected one of {sorted(TASKS)}")
    return TASKS[kind](**params)


__all__ = [
    "Task", "Batch", "Published", "TASKS", "get_task", "EXPERIMENTS", "Experiment", "get_experiment",
    "adding_batch", "multiplication_batch", "EmbeddedReber", "ContinualReber", "AddingProblem",
    "MultiplicationProblem", "TemporalOrder", "TwoSequence", "NoiseFreeLongLag", "VeryLongLag",
    "CountingLanguage", "MeasureSpikeDelays", "GenerateTimedSpikes", "CopyTask", "Parity", "MQAR",
    "SuperimposedSines", "MackeyGlass",
]
