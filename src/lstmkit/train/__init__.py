"""Training: the one loop (:mod:`.loop`) and its feeds (generator tasks: :class:`Trainer`;
fixed data sets and token streams: :mod:`.feeds`), checkpoints, data parallelism.

The experiment runner, which joins a task to a model, sits above models
(:mod:`lstmkit.apps.experiment`).

Example:
    >>> import torch
    >>> from lstmkit.models import SequenceModel
    >>> from lstmkit.tasks import get_task
    >>> from lstmkit.train import TrainConfig, train
    >>> torch.manual_seed(0) and None
    >>> result = train(SequenceModel(1, 8, 2, readout="last"), get_task("parity", L=5),
    ...                TrainConfig(max_sequences=320, eval_every=0, progress=False))
    >>> sorted(result)[:3]
    ['checks', 'config', 'history']
"""

from .checkpoint import atomic_write_text, load_checkpoint, save_checkpoint
from .feeds import EpochFeed, TokenStreamFeed
from .loop import Feed, Hook, Loop, Progress, Step, cosine_factor
from .trainer import TrainConfig, Trainer, learning_rate, train

__all__ = ["TrainConfig", "Trainer", "train", "learning_rate", "save_checkpoint", "load_checkpoint",
           "atomic_write_text", "Loop", "Feed", "Hook", "Step", "Progress", "EpochFeed", "TokenStreamFeed",
           "cosine_factor"]
