"""What every classic task provides: a batch type, a generator, a loss, the paper's criterion.

A :class:`Task` draws batches (:meth:`Task.sample`), scores a model's output
(:meth:`Task.loss`, :meth:`Task.judge`), says whether the paper's success criterion holds
(:meth:`Task.solved`) and carries the paper's published figures (:attr:`Task.published`).
Tasks know nothing about models or training: the trainer (:mod:`lstmkit.train`) calls them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Batch", "Task", "Published", "legal_set_right", "masked_sequence_mean"]


@dataclass
class Batch:
    """A padded, time-major batch of sequences.

    Attributes:
        x: (T, B, I) inputs, zero past each length.
        y: targets; (B, ...) when ``per_step`` is False (one target per sequence, read at
            its last step), (T, B, ...) when True.
        lengths: (B,) int64 valid steps per sequence, or None (all T).
        mask: optional (T, B) bool, the steps that carry a target (per-step targets only;
            None means every valid step).
        per_step: whether ``y`` is per step.
        reset: optional (B,) bool, for streams: the sequence starts a new stream here, so
            the carried state must be zeroed first.

    Example:
        >>> import torch
        >>> b = Batch(torch.zeros(5, 4, 2), torch.zeros(4), torch.tensor([5, 3, 2, 1]))
        >>> b.size, b.slice(1, 3).x.shape  # padding no sequence of the shard uses is trimmed
        (4, torch.Size([3, 2, 2]))
    """

    x: Tensor
    y: Tensor
    lengths: Tensor | None = None
    mask: Tensor | None = None
    per_step: bool = False
    reset: Tensor | None = None
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        """B, the number of sequences."""
        return int(self.x.shape[1])

    def step_mask(self) -> Tensor:
        """(T, B) bool: valid steps that carry a target."""
        T, B = self.x.shape[0], self.x.shape[1]
        m = torch.ones(T, B, dtype=torch.bool)
        if self.lengths is not None:
            m = torch.arange(T)[:, None] < self.lengths[None, :]
        if self.mask is not None:
            m = m & self.mask
        return m

    def slice(self, start: int, stop: int) -> "Batch":
        """Sequences ``start:stop`` (a shard for one data-parallel process)."""
        if not 0 <= start < stop <= self.size:
            raise ValueError(f"slice must satisfy 0 <= start < stop <= {self.size}, got {start}:{stop}")
        changes = {"x": self.x[:, start:stop], "y": self.y[:, start:stop] if self.per_step else self.y[start:stop]}
        if self.lengths is not None:
            changes["lengths"] = self.lengths[start:stop]
            # Trim padding no sequence of this shard uses, so a shard runs like a small batch.
            t_max = int(changes["lengths"].max())
            changes["x"] = changes["x"][:t_max]
            if self.per_step:
                changes["y"] = changes["y"][:t_max]
        if self.mask is not None:
            changes["mask"] = self.mask[: changes["x"].shape[0], start:stop]
        if self.reset is not None:
            changes["reset"] = self.reset[start:stop]
        return replace(self, **changes)


@dataclass(frozen=True)
class Published:
    """One row of a paper's results table, quoted.

    Attributes:
        setting: what was run (``"3x2 blocks, lr 0.5"``).
        success: the paper's success rate as printed (``"100%"``).
        sequences: training sequences to success as printed (``"8,440"``), or ``""``.
        note: anything else the row says (test errors, ranges).
    """

    setting: str
    success: str = ""
    sequences: str = ""
    note: str = ""


def masked_sequence_mean(per_step: Tensor, mask: Tensor) -> Tensor:
    """(T, B) per-step values -> (B,) mean over each sequence's masked steps."""
    m = mask.to(per_step.dtype)
    return (per_step * m).sum(0) / m.sum(0).clamp_min(1.0)


def legal_set_right(logits: Tensor, legal: Tensor) -> Tensor:
    """Whether the legal symbols are the most active outputs (the 1997 Reber criterion).

    Args:
        logits: (..., K) outputs. legal: (..., K) bool, the legal next symbols (>= 1).

    Returns:
        (...) bool: every legal unit is more active than every illegal one.

    Example:
        >>> import torch
        >>> legal_set_right(torch.tensor([[2., 1., -1.]]), torch.tensor([[True, True, False]]))
        tensor([True])
    """
    big = torch.finfo(logits.dtype).max
    lo = torch.where(legal, logits, torch.full_like(logits, big)).amin(-1)
    hi = torch.where(legal, torch.full_like(logits, -big), logits).amax(-1)
    return lo > hi


class Task:
    """Base class of a classic task. Subclasses set the attributes and override the methods.

    Attributes:
        name: registry name. title: a human title. paper: the citation.
        input_size, output_size: I and O of the model the task needs.
        readout: ``"last"`` (one target per sequence) or ``"every"`` (per step).
        check_size: sequences in a periodic success check during training.
        test_size: fresh sequences in the final test.
        criterion: the paper's success criterion in words.
        published: the paper's figures (a tuple of :class:`Published`).
        stream: True for continual tasks trained by truncated BPTT.

    Example:
        >>> import numpy as np
        >>> from lstmkit.tasks import get_task
        >>> task = get_task("adding", T=100)
        >>> b = task.sample(3, np.random.default_rng(0))
        >>> b.x.shape[1:], task.readout
        (torch.Size([3, 2]), 'last')
    """

    name = "task"
    title = ""
    paper = ""
    input_size = 1
    output_size = 1
    readout = "last"
    check_size = 1000
    test_size = 2560
    eval_batch = 512
    criterion = ""
    published: tuple = ()
    stream = False

    # ---- data -----------------------------------------------------------------------
    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """``batch_size`` fresh training sequences drawn with ``rng``."""
        raise NotImplementedError

    def sample_test(self, n: int, rng: np.random.Generator) -> Batch:
        """``n`` fresh test sequences (the training distribution unless overridden)."""
        return self.sample(n, rng)

    # ---- scoring --------------------------------------------------------------------
    def sequence_loss(self, out: Tensor, batch: Batch) -> Tensor:
        """(B,) the training loss of each sequence."""
        raise NotImplementedError

    def loss(self, out: Tensor, batch: Batch) -> Tensor:
        """Scalar training loss: the mean over sequences of :meth:`sequence_loss`.

        A mean over sequences (not over steps) keeps data-parallel shards of equal size
        exactly equivalent to one process with the whole batch.
        """
        return self.sequence_loss(out, batch).mean()

    def judge(self, out: Tensor, batch: Batch) -> dict[str, Tensor]:
        """Per-sequence verdicts: at least ``{"right": (B,) bool}``, plus any (B,) float
        measurements (``"abs_error"``, ...) that :meth:`evaluate` averages."""
        raise NotImplementedError

    def solved(self, metrics: dict) -> bool:
        """The paper's success criterion on the metrics of :meth:`evaluate`."""
        return metrics["wrong"] == 0

    # ---- evaluation -----------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model, rng: np.random.Generator, n: int | None = None, test: bool = False) -> dict:
        """Run ``model`` on ``n`` fresh sequences and aggregate :meth:`judge`.

        Returns a JSON-ready dict: ``n``, ``wrong`` (sequences not right), ``right``
        (fraction), ``loss``, the mean of every other judged quantity, and ``solved``.
        """
        n = (self.test_size if test else self.check_size) if n is None else n
        was_training = model.training
        model.eval()
        totals: dict[str, float] = {}
        wrong = 0
        loss_sum = 0.0
        done = 0
        try:
            while done < n:
                k = min(self.eval_batch, n - done)
                batch = self.sample_test(k, rng) if test else self.sample(k, rng)
                out, _ = model(batch.x, batch.lengths)
                loss_sum += float(self.sequence_loss(out, batch).sum())
                verdict = self.judge(out, batch)
                wrong += int((~verdict["right"]).sum())
                for key, v in verdict.items():
                    if key != "right":
                        totals[key] = totals.get(key, 0.0) + float(v.double().sum())
                done += k
        finally:
            model.train(was_training)
        metrics = {"n": n, "wrong": wrong, "right": 1.0 - wrong / n, "loss": loss_sum / n}
        metrics.update({k: v / n for k, v in totals.items()})
        metrics["solved"] = bool(self.solved(metrics))
        return metrics

    def chance_loss(self) -> float | None:
        """The loss of the best input-blind predictor, where known (for --quick tests)."""
        return None

    def config(self) -> dict:
        """The task's parameters as a JSON-ready dict."""
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def one_hot_steps(symbols: np.ndarray, k: int) -> np.ndarray:
    """(T, B) int symbols (-1 = padding) -> (T, B, k) float one-hot (zeros for padding)."""
    out = np.zeros(symbols.shape + (k,), dtype=np.float32)
    t, b = np.nonzero(symbols >= 0)
    out[t, b, symbols[t, b]] = 1.0
    return out


def cross_entropy_steps(out: Tensor, target: Tensor) -> Tensor:
    """(T, B, K) logits and (T, B) int targets (-1 ignored) -> (T, B) cross-entropy."""
    T, B, K = out.shape
    ce = F.cross_entropy(out.reshape(T * B, K), target.clamp_min(0).reshape(T * B), reduction="none")
    return ce.view(T, B) * (target >= 0)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, else ValueError/TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


