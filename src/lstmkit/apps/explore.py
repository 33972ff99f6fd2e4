"""See inside the cell: run a recurrent model on one input sequence and record, per step
and per unit, every gate's activation, the cell state and the output, plus how much of
dLoss/dc_T reaches each earlier step (the gradient-flow view), as JSON for the page of
``lstmkit explore`` (:mod:`lstmkit.viz.explore`).

The values come from the families' own reference step (:mod:`lstmkit.cells`): a cell
spec with a ``gates()`` method (LSTM of every Greff variant, GRU, sLSTM, mLSTM, T-LSTM,
depth-gated LSTM) gives its activations by the papers' names; for any other family the
state entries themselves are shown. The fast
runners are not involved (they compute the same numbers; their tests say so).

Three kinds of subject, each an :class:`Subject`:

- a model directory (``--model DIR``): any lstmkit model with a recurrent layer of a
  registered family; its first recurrent module is shown, at any of its (layer,
  direction) pairs (``--layer N``, ``--direction backward``; the layers below are run
  with the same reference step to give that layer its input);
- a shipped classic-task model (``--experiment reber`` or ``adding``), trained by
  :func:`train_shipped` (``lstmkit explore --train NAME --out DIR``);
- an untrained cell of any variant or family (``--variant NAME``) whose weights the page
  may edit.

Example:
    >>> s = variant_subject("vanilla", input_size=2, hidden_size=3, seed=0)
    >>> run = explore(s, "0.5 1; -0.2 0; 0.9 1")
    >>> run["T"], sorted(run["gates"])
    (3, ['c', 'f', 'g', 'h', 'i', 'o'])
    >>> len(run["gates"]["c"]), len(run["gates"]["c"][0])   # T rows of H units
    (3, 3)
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..families import families, family_of, resolve_model
from ..variants import LSTMVariant

__all__ = ["Subject", "Session", "explore", "variant_subject", "model_subject", "experiment_subject", "gradient_flow",
           "step_values", "model_output", "check_choice", "parse_vectors", "train_shipped", "SHIPPED", "SHIPPED_DIR",
           "switcher_names", "memory_unit", "GATE_NAMES", "UNIT_RANGE", "DIRECTIONS"]

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
"""Where the shipped models live (``pretrained/explore-<name>/``)."""

#: The cells' long names (the specs' ``gates()``: LSTM, GRU, sLSTM, mLSTM, T-LSTM,
#: depth-gated LSTM) -> the page's letters (a letter's meaning is its family's: an sLSTM's
#: z is its cell input, a GRU's its update gate).
GATE_NAMES = {"input_gate": "i", "forget_gate": "f", "block_input": "g", "output_gate": "o",
              "reset_gate": "r", "update_gate": "z", "candidate": "n", "cell_state": "c", "output": "h",
              "cell_input": "z", "normalizer": "n", "stabilizer": "m", "memory_norm": "C",
              "short_term_memory": "cs", "time_decay": "gdt", "adjusted_memory": "cadj",
              "depth_gate": "d", "lower_cell": "cl"}

#: Long names whose values lie in [0, 1] (sigmoid or stabilised exponential gates, the time
#: decay): the page colours them white to green.
UNIT_RANGE = frozenset({"input_gate", "forget_gate", "output_gate", "reset_gate", "update_gate", "depth_gate",
                        "time_decay"})

#: Titles of the long names the page shows (default: the name in words).
_TITLES = {"block_input": "block input", "memory_norm": "memory norm ||C|| (per head, as stored)",
           "normalizer": "normalizer (as stored)", "cell_state": "cell state",
           "short_term_memory": "short-term memory C^S(t-1)", "time_decay": "time decay g(dt) of C^S",
           "adjusted_memory": "adjusted memory C*(t-1)", "lower_cell": "lower layer's cell c^(L-1)"}

FRAME = (8, 8)
"""The frame size of an untrained ConvLSTM's inputs (``--variant conv_lstm``)."""

MAX_EDITABLE = 2000
"""The most weights a cell may have for the page to offer to edit them (one box each)."""


@dataclass(frozen=True)
class ShippedExperiment:
    """A classic task whose small trained model ships with lstmkit (for ``explore``)."""

    name: str
    experiment: str  # the registry's experiment (lstmkit.tasks.registry)
    hidden: int
    task: dict
    train: dict
    samples: Callable[[int], list[str]]  # seed -> example inputs, as the page's text
    kind: str  # "symbols" or "vectors"
    forget_bias: float | None = None
    title: str = ""


def _reber_samples(seed: int, n: int = 6) -> list[str]:
    from ..tasks.reber import embedded_reber_string

    rng = np.random.default_rng(seed)
    out: list[str] = []
    while len(out) < n:  # distinct strings, the longest first (the page opens on it)
        s = embedded_reber_string(rng)[0]
        if s not in out:
            out.append(s)
    return sorted(out, key=len, reverse=True)


def _adding_samples(seed: int, n: int = 4, T: int = 30) -> list[str]:
    from ..tasks.adding import adding_batch

    x, lengths, _ = adding_batch(n, T, np.random.default_rng(seed), dtype=torch.float64)
    return [format_vectors(x[: int(lengths[b]), b]) for b in range(n)]


SHIPPED: dict[str, ShippedExperiment] = {
    # 1997 Exp. 1's nets had 4 to 6 cells (3 blocks x 2, 4 blocks x 1); 8 cells here.
    # Trained past the paper's criterion (60,000 strings, no time limit), so that the run
    # is the same on every machine and the memory unit is clear.
    "reber": ShippedExperiment("reber", "reber", 8, {}, dict(max_sequences=60_000, max_seconds=None,
                                                            stop_on_success=False), _reber_samples, "symbols",
                                title="embedded Reber grammar (1997 Exp. 1)"),
    # 1997 Exp. 4 used 2 blocks of 2 cells (4 cells) at T = 100; here the registry's own
    # adding100 net and training (16 cells, lr 0.003): 4 cells at lr 0.01 had learned
    # nothing after 454,048 sequences (2026-12-04).
    "adding": ShippedExperiment("adding", "adding100", 16, {"T": 100}, {}, lambda seed: _adding_samples(seed, T=100),
                                "vectors", forget_bias=5.0, title="adding problem, T = 100 (1997 Exp. 4)"),
}


# ---- inputs ---------------------------------------------------------------------------
def parse_vectors(text: str, size: int, what: str = "input") -> np.ndarray:
    """``"0.5 1; -0.2 0"`` (steps split by ``;`` or new lines, numbers by spaces or commas)
    -> a (T, size) float array.

    Raises:
        ValueError: not numbers, a step of another width, no steps, or over 1,000 steps.

    Example:
        >>> parse_vectors("0.5 1; -0.2, 0", 2).tolist()
        [[0.5, 1.0], [-0.2, 0.0]]
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    rows = [r for r in text.replace("\n", ";").split(";") if r.strip()]
    if not rows:
        raise ValueError(f"{what}: no steps; expected steps split by ';', each {size} numbers")
    if len(rows) > 1000:
        raise ValueError(f"{what}: {len(rows)} steps; the page shows at most 1000")
    out = []
    for k, r in enumerate(rows):
        try:
            vals = [float(v) for v in r.replace(",", " ").split()]
        except ValueError:
            raise ValueError(f"{what}: step {k + 1} ({r.strip()!r}) is not numbers") from None
        if len(vals) != size or not all(math.isfinite(v) for v in vals):
            raise ValueError(f"{what}: step {k + 1} has {len(vals)} finite numbers, expected {size}")
        out.append(vals)
    return np.asarray(out, dtype=np.float64)


def format_vectors(x) -> str:
    """A (T, I) array -> the page's text form (the inverse of :func:`parse_vectors`).

    Example:
        >>> format_vectors([[0.5, 1.0], [-0.25, 0.0]])
        '0.5 1; -0.25 0'
    """
    return "; ".join(" ".join(f"{float(v):.4g}" for v in row) for row in np.asarray(x, dtype=np.float64))


# ---- subjects -------------------------------------------------------------------------
@dataclass
class Subject:
    """What the page looks at: a recurrent layer, how a user's text becomes its input, and
    how the whole model reads out.

    Attributes:
        title: shown on the page. source: ``"model"``, ``"experiment"`` or ``"variant"``.
        layer: the recurrent layer module (a registered family's module); the page
            shows one (layer, direction) of it, ``show`` unless the page asks for another.
        encode: the user's text -> ``(model input (T, 1, ...), layer input (T, 1, I))``.
        readout: ``(model input, layer output) -> list of per-step strings`` or None.
        kind: ``"symbols"`` (``alphabet`` one-hot) or ``"vectors"`` (``input_size`` numbers).
        samples: example inputs for the page's picker.
        editable: whether the page may send new weights.
        model: the whole model (for a trained subject), else the layer.
        name: the experiment or variant name.
        show: the (layer, direction) shown first (``(0, 0)``: layer 0, forward).
    """

    title: str
    source: str
    layer: nn.Module
    encode: Callable[[str], tuple[Tensor, Tensor]]
    kind: str
    samples: list[str]
    readout: Callable[[Tensor, Tensor], list[str]] | None = None
    alphabet: str = ""
    editable: bool = False
    model: nn.Module | None = None
    name: str = ""
    extra: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict, repr=False)  # what depends on the weights only
    show: tuple[int, int] = (0, 0)

    @property
    def input_size(self) -> int:
        return self.layer.specs[0].input_size

    @property
    def hidden_size(self) -> int:
        return self.layer.specs[0].hidden_size


def _vector_encoder(size: int):
    def encode(text: str):
        x = torch.as_tensor(parse_vectors(text, size), dtype=torch.float64)[:, None, :]
        return x, x

    return encode


FRAME_SAMPLES = ("square 1 1 1 1 8", "square 0 3 1 0 8", "square 4 0 0 1 8")
"""The example inputs of a ConvLSTM: a moving square (``square ROW COL DROW DCOL STEPS``)."""


def parse_square(text: str, frame: tuple[int, int], what: str = "input") -> tuple[int, int, int, int, int]:
    """``"square ROW COL DROW DCOL STEPS"`` -> its five ints, checked against ``frame``.

    Raises:
        ValueError: another form, or a start outside the frame, or 1..100 steps exceeded.

    Example:
        >>> parse_square("square 1 2 1 0 6", (8, 8))
        (1, 2, 1, 0, 6)
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    words = text.split()
    try:
        if len(words) != 6 or words[0] != "square":
            raise ValueError
        r, c, dr, dc, T = (int(w) for w in words[1:])
    except ValueError:
        raise ValueError(f"{what}: expected 'square ROW COL DROW DCOL STEPS' (a 2x2 square moving over "
                         f"{frame[0]}x{frame[1]} frames), got {text!r}") from None
    if not (0 <= r < frame[0] and 0 <= c < frame[1]) or not 1 <= T <= 100:
        raise ValueError(f"{what}: the square starts inside the {frame[0]}x{frame[1]} frame and moves for 1..100 "
                         f"steps, got ROW {r}, COL {c}, STEPS {T}")
    return r, c, dr, dc, T


def square_frames(text: str, channels: int, frame: tuple[int, int]) -> Tensor:
    """The frames of :func:`parse_square`'s moving square, (T, 1, channels, Hgt, Wdt)
    float64: 1 on the square (every channel, wrapping round the edges), 0 elsewhere."""
    r, c, dr, dc, T = parse_square(text, frame)
    x = torch.zeros(T, 1, channels, *frame, dtype=torch.float64)
    for t in range(T):
        for a in range(2):
            for b in range(2):
                x[t, 0, :, (r + t * dr + a) % frame[0], (c + t * dc + b) % frame[1]] = 1.0
    return x


def _frame_encoder(channels: int, frame: tuple[int, int]):
    def encode(text: str):
        x = square_frames(text, channels, frame)
        return x, x

    return encode


def _build_layer(name: str, input_size: int, hidden_size: int):
    """An untrained layer of family or variant ``name`` (float64), or raise ValueError."""
    family, variant = resolve_model(name, what="variant")
    params = inspect.signature(family.module).parameters
    kwargs: dict[str, Any] = {}
    if family.feature_axes == 3:  # ConvLSTM: 3x3 kernels, the paper's peepholes, FRAME-sized frames
        kwargs.update(kernel_size=3, frame_size=FRAME)
    if "variant" in params and variant is not None:
        kwargs["variant"] = variant
    if "num_heads" in params:  # sLSTM, mLSTM: one head, so that any hidden size fits
        kwargs["num_heads"] = 1
    if family.name == "depth_gated_lstm":  # its depth gate exists from layer 1 up: two layers
        kwargs["num_layers"] = 2
    try:
        return family.module(input_size, hidden_size, dtype=torch.float64, **kwargs).eval()
    except (TypeError, ValueError) as e:
        raise ValueError(f"variant {name!r}: {' '.join(str(e).split())}") from None


def _switcher_of(subject: "Subject") -> list[str]:
    """The switcher of a subject: every vector cell (:func:`switcher_names`), or none for a
    ConvLSTM (its inputs are frames, which a vector cell cannot read)."""
    return switcher_names() if subject.layer.specs[0].feature_axes == 1 else []


def switcher_names() -> list[str]:
    """The page's variant switcher: every LSTM preset (Greff et al. 2017), then every
    other registered family with vector inputs.

    Example:
        >>> names = switcher_names()
        >>> names[:2], "gru" in names, "rnn" in names
        (['standard', 'vanilla'], True, True)
    """
    out = []
    for f in families():
        if f.feature_axes != 1:
            continue
        out.extend(f.variants if f.variants else [f.name])
    return out


def variant_subject(name: str, input_size: int = 2, hidden_size: int = 4, seed: int = 0,
                    like: Subject | None = None) -> Subject:
    """An untrained cell of variant or family ``name`` (torch.nn's initialisation from
    ``seed``), float64; its weights are editable on the page. On vectors of
    ``input_size`` numbers, or, with ``like``, on that subject's inputs (its text form,
    samples, input and hidden sizes).

    Example:
        >>> variant_subject("gru", hidden_size=2).layer.specs[0].hidden_size
        2
    """
    if like is not None:
        input_size, hidden_size = like.input_size, like.hidden_size
    else:
        for arg, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 64:
                raise ValueError(f"{arg} must be an int in [1, 64], got {v!r}")
    with torch.random.fork_rng(devices=[]):  # the caller's random stream stays as it was
        torch.manual_seed(seed)
        layer = _build_layer(name, input_size, hidden_size)
    # a stacked cell (depth-gated) is shown at its top layer, where its own gate is
    show = (layer.num_layers - 1, 0)
    # The page's editor holds one box per weight: only for small cells of matrices.
    own = layer.cell_params(*show).values()
    editable = sum(t.numel() for t in own) <= MAX_EDITABLE and all(t.dim() <= 2 for t in own)
    if layer.specs[0].feature_axes == 3:
        return Subject(f"untrained {describe(layer)}", "variant", layer, _frame_encoder(input_size, FRAME), "frames",
                       list(FRAME_SAMPLES), model=layer, name=name, show=show)
    if like is not None:
        return Subject(f"untrained {describe(layer)}", "variant", layer, like.encode, like.kind, like.samples,
                       alphabet=like.alphabet, editable=editable, model=layer, name=name, show=show)
    rng = np.random.default_rng(seed)
    samples = [format_vectors(np.round(rng.uniform(-1, 1, size=(12, input_size)), 2)) for _ in range(3)]
    return Subject(f"untrained {describe(layer)}", "variant", layer, _vector_encoder(input_size), "vectors",
                   samples, editable=editable, model=layer, name=name, show=show)


class Session:
    """The page's server side: one subject and, built when first asked, an untrained cell
    of every name the variant switcher offers (on the subject's inputs); edited weights
    stay with their cell.

    Example:
        >>> s = Session(variant_subject("vanilla", hidden_size=2))
        >>> s.run("gru")["family"], s.run("")["family"]
        ('gru', 'lstm')
    """

    def __init__(self, subject: Subject, seed: int = 0) -> None:
        self.base = subject
        self.seed = seed
        self.subjects: dict[str, Subject] = {"": subject}

    def subject(self, key: str) -> Subject:
        """The subject behind switcher choice ``key`` (``""``: the session's own)."""
        if not isinstance(key, str):
            raise TypeError(f"variant must be a str, got {type(key).__name__}")
        if key not in self.subjects:
            if key not in _switcher_of(self.base):
                raise ValueError(f"variant must be one of {_switcher_of(self.base)} (or '' for this model), got {key!r}")
            self.subjects[key] = variant_subject(key, seed=self.seed, like=self.base)
        return self.subjects[key]

    def run(self, key: str = "", text: str | None = None, weights: dict | None = None, layer: int | None = None,
            direction=None) -> dict:
        """:func:`explore` of choice ``key`` on ``text`` at (``layer``, ``direction``)
        (default: the subject's ``show``), after loading ``weights`` into that
        (layer, direction) (editable cells only)."""
        s = self.subject(key)
        layer, direction = check_choice(s.layer, s.show[0] if layer is None else layer,
                                        s.show[1] if direction is None else direction)
        if weights is not None:
            if not s.editable:
                raise ValueError(f"weights: this model's weights are not editable (only an untrained cell's, "
                                 f"of at most {MAX_EDITABLE} weights)")
            set_weights(s.layer, weights, layer, direction)
            s.cache.clear()
        return explore(s, text, layer, direction)

    def export_runs(self, text: str | None = None) -> dict[str, dict]:
        """Every choice the switcher offers, run on ``text``: what an exported page holds.
        Keys: the switcher's (``""``: this model) at its first (layer, direction), and
        ``"KEY@LAYER:DIRECTION"`` (e.g. ``"@1:1"``) for every other one of a stacked or
        bidirectional model."""
        runs = {}
        for name in [""] + _switcher_of(self.base):
            s = self.subject(name)
            runs[name] = self.run(name, text)
            for index in range(s.layer.num_layers):
                for d in range(s.layer.num_directions):
                    if (index, d) != s.show:
                        runs[f"{name}@{index}:{d}"] = self.run(name, text, None, index, d)
        return runs


def describe(layer: nn.Module) -> str:
    """``"LSTM (vanilla)"``, ``"GRU"``: the layer's family and variant in words."""
    fam = family_of(layer)
    v = getattr(layer, "variant", None)
    return fam.describe((v.name or str(v)) if isinstance(v, LSTMVariant) else None)


def recurrent_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(attribute path, module)`` of every registered family's layer inside ``model``."""
    kinds = tuple(f.module for f in families())
    return [(n, m) for n, m in model.named_modules() if isinstance(m, kinds)]


def _sequence_model_subject(model, title: str, source: str, name: str, kind: str, samples, alphabet: str = ""):
    """A :class:`lstmkit.models.SequenceModel`: symbols (one-hot) or vectors in, its head
    read out at every step (next symbol) or at the end (a value through the sigmoid)."""
    model = model.double().eval()
    layer = model.rnn
    if kind == "symbols":
        idx = {s: k for k, s in enumerate(alphabet)}

        def encode(text: str):
            text = "".join(text.split())
            bad = sorted(set(text) - set(alphabet))
            if not text or bad:
                raise ValueError(f"input: expected a string of the symbols {alphabet!r}"
                                 + (f", got {''.join(bad)!r}" if bad else ", got nothing"))
            x = torch.zeros(len(text), 1, len(alphabet), dtype=torch.float64)
            for t, s in enumerate(text):
                x[t, 0, idx[s]] = 1.0
            return x, (x @ model.embed.weight if model.embed is not None else x)

        def readout(x, out):
            p = torch.softmax(model.head(out[:, 0]), dim=-1)
            return [" ".join(f"{alphabet[k]}:{float(p[t, k]):.2f}" for k in torch.argsort(p[t], descending=True)[:2])
                    for t in range(p.shape[0])]
    else:
        encode = _vector_encoder(model.input_size)

        def readout(x, out):
            if model.readout == "every":
                return [format_vectors(model.head(out[t : t + 1, 0])) for t in range(out.shape[0])]
            y = torch.sigmoid(model.head(out[-1, 0])) if source == "experiment" else model.head(out[-1, 0])
            last = f"output {format_vectors(y[None])}"
            if name == "adding":  # the target, from the input: 0.5 + (sum of the marked values) / 4
                target = 0.5 + float(x[x[:, 0, 1] == 1, 0, 0].sum()) / 4
                last = f"target 0.5 + (X1 + X2)/4 = {target:.4g}, output {format_vectors(y[None])}"
            return [""] * (out.shape[0] - 1) + [last]
    return Subject(title, source, layer, encode, kind, list(samples), readout, alphabet, False, model, name)


def _model_classes() -> dict[str, type]:
    from .. import models
    from ..models import forecaster, highway, language, recognizers, sequence, time_aware, xlstm

    out = {}
    for mod in (models, sequence, recognizers, language, forecaster, time_aware, highway, xlstm):
        for k, v in vars(mod).items():
            if isinstance(v, type) and issubclass(v, nn.Module):
                out.setdefault(k, v)
    return out


def load_any_model(directory: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild the model any lstmkit model directory holds: ``(model, config.json table)``.

    Raises:
        FileNotFoundError: no such directory. ValueError: not a model directory, or a class
            lstmkit does not know.
    """
    from ..models.io import load_model, read_model_config

    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"--model {directory}: no such model directory")
    doc = read_model_config(d)
    cls = _model_classes().get(doc["class"])
    if cls is None:
        raise ValueError(f"--model {d} holds a {doc['class']!r}, which is no lstmkit model class")
    model, _ = load_model(cls, d)
    return model, doc


def model_subject(directory: str | os.PathLike, seed: int = 0) -> Subject:
    """Any lstmkit model directory. A :class:`~lstmkit.models.SequenceModel` (what
    ``explore --train`` writes) is read out whole; for any other model the page shows its
    first recurrent module (any of its layers and directions) on vectors of that
    module's input size.

    Raises:
        ValueError: the model has no layer of a registered family.
    """
    from ..models.sequence import SequenceModel

    model, doc = load_any_model(directory)
    extra = doc.get("extra", {})
    title = f"{doc['class']} from {directory}"
    if isinstance(model, SequenceModel):
        alphabet = extra.get("alphabet", "")
        kind = "symbols" if alphabet else "vectors"
        samples = extra.get("samples") or []
        s = _sequence_model_subject(model, title, "model", str(directory), kind, samples, alphabet)
    else:
        layers = recurrent_layers(model)
        if not layers:
            raise ValueError(f"--model {directory}: its {doc['class']} has no recurrent layer of a registered family")
        path, layer = layers[0]
        layer = layer.double().eval()
        size = layer.specs[0].input_size
        if layer.specs[0].feature_axes == 3:  # ConvLSTM: a moving square on frames of its size
            frame = layer.specs[0].frame_size or FRAME
            s = Subject(f"{title}: layer {path!r} ({describe(layer)})", "model", layer, _frame_encoder(size, frame),
                        "frames", list(FRAME_SAMPLES), None, "", False, model, str(directory))
        else:
            rng = np.random.default_rng(seed)
            samples = [format_vectors(np.round(rng.normal(size=(16, size)), 2))]
            s = Subject(f"{title}: layer {path!r} ({describe(layer)})", "model", layer, _vector_encoder(size),
                        "vectors", samples, None, "", False, model, str(directory))
    s.extra.update({k: extra[k] for k in ("experiment", "trained", "command") if k in extra})
    return s


def shipped_path(name: str) -> Path:
    """The directory of the shipped model ``name`` (``reber``, ``adding``)."""
    if name not in SHIPPED:
        raise ValueError(f"--experiment must be one of {sorted(SHIPPED)}, got {name!r}")
    return SHIPPED_DIR / f"explore-{name}"


def experiment_subject(name: str, directory: str | os.PathLike | None = None) -> Subject:
    """The shipped trained model of classic task ``name`` (``"reber"``, ``"adding"``), or
    the one :func:`train_shipped` wrote to ``directory``.

    Example:
        >>> s = experiment_subject("reber")
        >>> s.kind, s.alphabet, s.samples[0][0]
        ('symbols', 'BTPSXVE', 'B')
    """
    from ..models.io import load_model
    from ..models.sequence import SequenceModel

    d = Path(directory) if directory is not None else shipped_path(name)
    model, extra = load_model(SequenceModel, d)
    exp = SHIPPED[name]
    s = _sequence_model_subject(model, f"{exp.title}: trained {describe(model.rnn)}, {exp.hidden} cells",
                                "experiment", name, exp.kind, extra.get("samples") or exp.samples(0),
                                extra.get("alphabet", ""))
    s.extra.update({k: extra[k] for k in ("experiment", "trained", "command") if k in extra})
    return s


# ---- the numbers ------------------------------------------------------------------------
DIRECTIONS = ("forward", "backward")
"""The page's names of a bidirectional layer's directions (index 0 and 1)."""


def _side(spec, x: Tensor) -> dict:
    """The step's side inputs where the family has them (a T-LSTM's elapsed time): 1 at
    every step, the regular sampling the page assumes."""
    if not spec.side_inputs:
        return {}
    return {"side": {name: torch.ones(x.shape[1], dtype=x.dtype) for name in spec.side_inputs}}


def check_choice(layer: nn.Module, index=0, direction=0) -> tuple[int, int]:
    """``(layer index, direction index)`` of a recurrent layer module, checked: ``index``
    in 0..num_layers-1, ``direction`` ``"forward"``/``"backward"`` or 0/1 (backward only
    for a bidirectional layer).

    Raises:
        ValueError: naming ``layer`` or ``direction``, with the choices this layer has.

    Example:
        >>> import lstmkit
        >>> check_choice(lstmkit.LSTM(2, 3, num_layers=2, bidirectional=True), 1, "backward")
        (1, 1)
    """
    L, D = int(getattr(layer, "num_layers", 1)), int(getattr(layer, "num_directions", 1))
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < L:
        raise ValueError(f"layer must be an int in 0..{L - 1} (this model has {L} recurrent "
                         f"layer{'s' if L > 1 else ''}), got {index!r}")
    if isinstance(direction, str) and direction in DIRECTIONS:
        direction = DIRECTIONS.index(direction)
    if isinstance(direction, bool) or direction not in range(D):
        allowed = "'forward' or 'backward'" if D == 2 else "'forward' (this layer is not bidirectional)"
        raise ValueError(f"direction must be {allowed}, got {direction!r}")
    return index, int(direction)


def _reference_run(spec, p, x: Tensor, reverse: bool = False, gates: bool = False):
    """Run one (layer, direction) with its reference step from the zero state over ``x``
    (T, B, F): ``(outputs (T, B, ...), states [state after step t, by t], named)``, where
    ``named[t]`` is the spec's ``gates()`` at step t (with ``gates`` and where the spec
    has it), by the long names. Steps are indexed by input time; a reverse direction
    processes t = T-1 first."""
    spec.check_input_shape(tuple(x.shape[2:]))
    T = x.shape[0]
    state = spec.initial_state(x.shape[1], tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
    xp = spec.input_projection(x, p)
    side = _side(spec, x)
    outs: list[Tensor] = [x.new_empty(0)] * T
    states: list[tuple[Tensor, ...]] = [()] * T
    named: list[dict[str, Tensor]] = [{}] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        if gates and hasattr(spec, "gates"):
            named[t] = spec.gates(xp[t], state, p, **side)
        state = spec.step(xp[t], state, p, **side)
        outs[t], states[t] = state[0], state
    return torch.stack(outs), states, named


def _layer_inputs(layer: nn.Module, x: Tensor, index: int) -> list[Tensor]:
    """The step input of each direction of layer ``index`` on the model's layer-0 input
    ``x`` (T, B, I): ``x`` itself for layer 0; above it the directions of the layer below
    concatenated (as :class:`lstmkit.layers.Recurrent` stacks them), each computed with
    :func:`_reference_run`, plus that direction's lower cell state for a depth-gated
    layer (which reads [h^{L-1}; c^{L-1}]). ``index == num_layers`` gives the top layer's
    output (every direction) in every entry."""
    D = int(getattr(layer, "num_directions", 1))
    inputs = [x] * D
    with torch.no_grad():
        for lower in range(index):
            outs, cells = [], []
            for d in range(D):
                k = lower * D + d
                out, states, _ = _reference_run(layer.specs[k], layer.cell_params(lower, d), inputs[d], d == 1)
                outs.append(out)
                cells.append(torch.stack([s[1] for s in states]) if len(states[0]) > 1 else None)
            below = outs[0] if D == 1 else torch.cat(outs, dim=2)
            inputs = []
            for d in range(D):
                above = layer.specs[(lower + 1) * D + d] if lower + 1 < len(layer.specs) // D else None
                # the depth gate of Yao et al. 2015 reads the same direction's lower cell
                inputs.append(torch.cat([below, cells[d]], dim=-1) if getattr(above, "depth_gate", False) else below)
    return inputs


def model_output(layer: nn.Module, x: Tensor) -> Tensor:
    """The whole recurrent module's output (top layer, directions concatenated) on
    layer-0 input ``x`` (T, B, I), through the reference step (:func:`_layer_inputs`).

    Example:
        >>> import torch, lstmkit
        >>> m = lstmkit.GRU(2, 3, num_layers=2, bidirectional=True, dtype=torch.float64)
        >>> x = torch.randn(4, 1, 2, dtype=torch.float64)
        >>> bool(torch.allclose(model_output(m, x), m(x)[0]))
        True
    """
    return _layer_inputs(layer, x, int(getattr(layer, "num_layers", 1)))[0]


def _values(layer: nn.Module, x: Tensor, index: int = 0, direction: int = 0, maps: dict | None = None):
    """(short name -> (T, rows), short name -> long name) of one (layer, direction); a
    feature map (ConvLSTM) gives its spatial mean per channel, and, into ``maps`` where
    given, the whole map (T, C, Hgt, Wdt)."""
    index, direction = check_choice(layer, index, direction)
    k = index * int(getattr(layer, "num_directions", 1)) + direction
    spec, p = layer.specs[k], layer.cell_params(index, direction)
    xin = _layer_inputs(layer, x, index)[direction]
    with torch.no_grad():
        _, states, named = _reference_run(spec, p, xin, direction == 1, gates=True)
    rows: dict[str, list[Tensor]] = {}
    longs: dict[str, str] = {}
    for t in range(x.shape[0]):
        if named[t]:
            entries = [(GATE_NAMES.get(n, n), n, v) for n, v in named[t].items()]
        else:
            # only entries with one value per unit (not a matrix memory or a feature map)
            entries = [(n, n, s) for n, s in zip(spec.state_names, states[t])
                       if s.dim() == 2 and s.shape[1] == spec.hidden_size]
        for short, long, v in entries:
            if v.dim() == 4:  # a feature map (B, C, Hgt, Wdt): its rows are the channels' spatial means
                if maps is not None:
                    maps.setdefault(short, []).append(v[0])
                v = v.mean(dim=(2, 3))
            if v.dim() != 2:  # one vector per sequence only
                continue
            rows.setdefault(short, []).append(v[0])
            longs[short] = long
    if maps is not None:
        for k in list(maps):
            maps[k] = torch.stack(maps[k]) if isinstance(maps[k], list) else maps[k]
    return {k: torch.stack(v) for k, v in rows.items()}, longs


def step_values(layer: nn.Module, x: Tensor, index: int = 0, direction=0) -> dict[str, Tensor]:
    """Every step's values of one (layer, direction) of ``layer`` on the model's input
    ``x`` (T, 1, I): short name -> (T, rows), rows = H units (or the heads, for an
    mLSTM's per-head gates; 1 for a T-LSTM's time decay). With a spec's ``gates()``:
    i, f, g, o, c, h (LSTM), r, z, n, h (GRU), sLSTM's i, f, z, o, c, n, m, h, ...;
    otherwise each vector state entry by its name.

    Computed step by step with the family's reference step (:meth:`CellSpec.step`) from
    the zero state, exactly what the layer computes; a layer above the first reads the
    layers below, run the same way (:func:`model_output`); the backward direction runs
    from the last step to the first, its values still indexed by input time.

    Example:
        >>> import torch, lstmkit
        >>> v = step_values(lstmkit.GRU(2, 3), torch.randn(4, 1, 2))
        >>> sorted(v), tuple(v["z"].shape)
        (['h', 'n', 'r', 'z'], (4, 3))
    """
    return _values(layer, x, index, direction)[0]


def _flow(spec, p: dict, x: Tensor, reverse: bool) -> dict[str, Any]:
    """:func:`gradient_flow` of one spec on its own step input."""
    # Fresh leaves for the weights: every state then takes part in the graph (so that
    # autograd can give dL/ds_t for every t, all paths included), and the layer's own
    # .grad stays untouched.
    p = {k: v.detach().requires_grad_(True) for k, v in p.items()}
    k = next((spec.state_names.index(n) for n in ("c", "C") if n in spec.state_names), 0)
    T = x.shape[0]
    state = spec.initial_state(x.shape[1], tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
    side = _side(spec, x)
    kept: list[Tensor] = [x.new_empty(0)] * T
    order = list(range(T - 1, -1, -1)) if reverse else list(range(T))
    with torch.enable_grad():
        xp = spec.input_projection(x.detach(), p)
        for t in order:
            state = spec.step(xp[t], state, p, **side)
            kept[t] = state[k]
        end = order[-1]
        grads = torch.autograd.grad(kept[end].sum(), kept, allow_unused=True)
    norms = [float(g.norm()) if g is not None else 0.0 for g in grads]
    norms[end] = math.sqrt(kept[end].numel() / kept[end].shape[0])  # dL/ds_T is all ones
    return {"state": spec.state_names[k], "norms": norms, "end": end}


def gradient_flow(layer: nn.Module, x: Tensor, index: int = 0, direction=0) -> dict[str, Any]:
    """How much of dL/ds_T reaches each earlier step: ``||dL/ds_t||`` for t = 0..T-1,
    where s is the cell state c (h where the family has no c) of one (layer, direction)
    and L = sum of s_T's units (so ``||dL/ds_T|| = sqrt(H)``); T is the direction's last
    step (t = 0 for the backward one). Through the reference step with autograd, on
    that layer's input (the layers below held fixed).

    Returns ``{"state": "c" or "h", "norms": [T floats], "end": T-1 or 0}``.

    Example:
        >>> import torch, lstmkit
        >>> g = gradient_flow(lstmkit.RNN(2, 3, dtype=torch.float64), torch.randn(5, 1, 2, dtype=torch.float64))
        >>> g["state"], len(g["norms"]), round(g["norms"][-1] ** 2, 6)
        ('h', 5, 3.0)
    """
    index, direction = check_choice(layer, index, direction)
    spec = layer.specs[index * int(getattr(layer, "num_directions", 1)) + direction]
    xin = _layer_inputs(layer, x, index)[direction]
    return _flow(spec, layer.cell_params(index, direction), xin, direction == 1)


def memory_unit(subject: Subject, n: int = 200, seed: int = 7) -> dict[str, Any] | None:
    """Where a classic-task model keeps what it needs later: the unit whose cell state
    holds it, measured over ``n`` fresh sequences (seeded). None for other subjects.

    - Embedded Reber: the second symbol (T or P, the first after B), which the net must
      repeat at the end. For each unit, the steps after that symbol and before its
      repetition are classified by c_t above or below the midpoint m between the two
      branches' mean c; the unit with the best accuracy wins. Returns ``{"task": "reber",
      "unit", "accuracy", "accuracies", "strings", "mean_T", "mean_P", "threshold", "text"}``.
    - Adding problem: the sum of the two marked values. The unit whose c at the last step
      correlates best (|Pearson r|) with X1 + X2 wins; also its r with X1 alone just
      before the second marked pair arrives. Returns ``{"task": "adding", "unit",
      "correlation", "correlations", "correlation_x1", "sequences", "text"}``.
    """
    task = subject.extra.get("experiment") or (subject.name if subject.source == "experiment" else "")
    if subject.source not in ("experiment", "model") or "c" not in subject.layer.specs[0].state_names:
        return None
    if task == "reber" and subject.alphabet == "BTPSXVE":
        return _reber_memory(subject, n, seed)
    if task == "adding" and subject.input_size == 2:
        return _adding_memory(subject, n, seed)
    return None


def _reber_memory(subject: Subject, n: int, seed: int) -> dict[str, Any]:
    from ..tasks.reber import embedded_reber_string

    rng = np.random.default_rng(seed)
    vals = {"T": [], "P": []}
    for _ in range(n):
        s, _ = embedded_reber_string(rng)
        _, xl = subject.encode(s)
        c = step_values(subject.layer, xl)["c"]
        vals[s[1]].append(c[1 : len(s) - 2].numpy())  # after the symbol, until its repetition is due
    a, b = np.concatenate(vals["T"]), np.concatenate(vals["P"])
    ma, mb = a.mean(0), b.mean(0)
    mid = (ma + mb) / 2
    sign = np.sign(ma - mb)
    acc = ((np.sign(a - mid) == sign).sum(0) + (np.sign(b - mid) == -sign).sum(0)) / (len(a) + len(b))
    u = int(np.argmax(acc))
    text = (f"Unit {u} holds the second symbol (T or P, the first after B), which the net must repeat at the "
            f"end: its cell state above or below {mid[u]:.2f} tells T from P at {100 * acc[u]:.1f}% of the steps "
            f"in between, over {n} fresh strings (mean c {ma[u]:.2f} after T, {mb[u]:.2f} after P). "
            f"Its row is marked in orange.")
    return {"task": "reber", "unit": u, "accuracy": float(acc[u]), "accuracies": acc.round(4).tolist(), "strings": n,
            "mean_T": float(ma[u]), "mean_P": float(mb[u]), "threshold": float(mid[u]), "text": text}


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each column of a (N, H) with b (N,)."""
    a = a - a.mean(0)
    b = b - b.mean()
    return (a * b[:, None]).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum() + 1e-300)


def _adding_memory(subject: Subject, n: int, seed: int) -> dict[str, Any]:
    from ..tasks.adding import adding_batch

    T = int(SHIPPED["adding"].task.get("T", 30))
    x, lengths, _ = adding_batch(n, T, np.random.default_rng(seed), dtype=torch.float64)
    last, before2, x1, total = [], [], [], []
    for b in range(n):
        xb = x[: int(lengths[b]), b]
        marked = [int(t) for t in torch.nonzero(xb[:, 1] == 1).flatten()]
        c = step_values(subject.layer, subject.encode(format_vectors(xb))[1])["c"].numpy()
        last.append(c[-1])
        before2.append(c[marked[1] - 1] if marked[1] > marked[0] else c[marked[0]])
        x1.append(float(xb[marked[0], 0]))
        total.append(float(xb[marked[0], 0] + xb[marked[1], 0]))
    r = _corr(np.array(last), np.array(total))
    u = int(np.argmax(np.abs(r)))
    r1 = float(_corr(np.array(before2), np.array(x1))[u])
    text = (f"Unit {u} holds the sum: at the last step its cell state correlates r = {r[u]:.3f} with X1 + X2 over "
            f"{n} fresh sequences; just before the second marked pair arrives, r = {r1:.3f} with X1 alone. "
            f"Its row is marked in orange.")
    return {"task": "adding", "unit": u, "correlation": float(r[u]), "correlations": r.round(4).tolist(),
            "correlation_x1": r1, "sequences": n, "text": text}


#: What the page says under the state list of a family without a drawn diagram.
_EQUATIONS = {
    "slstm": "sLSTM (Beck et al. 2024): c = f' c(t-1) + i' z, n = f' n(t-1) + i', h = o c / n; i' = exp(i~ - m), "
             "f' = exp(log f + m(t-1) - m), m = max(log f + m(t-1), i~): the exponential gates, stabilised "
             "(c, n stored divided by exp(m))",
    "mlstm": "mLSTM (Beck et al. 2024): per head C = f' C(t-1) + i' v k^T, n = f' n(t-1) + i' k, "
             "h = o C q / max(|n^T q|, exp(-m)); i', f' one scalar per head (stabilised); ||C|| is each head's "
             "d x d memory, summarised by its norm",
    "tlstm": "T-LSTM (Baytas et al. 2017): C^S = tanh(W_d c(t-1) + b_d), C* = c(t-1) - C^S + g(dt) C^S, "
             "g(dt) = 1 / log(e + dt) (dt = 1 at every step here); c = f C* + i g, h = o tanh(c)",
    "conv_lstm": "ConvLSTM (Shi et al. 2015): every gate and state a feature map; i, f, o = sigmoid(W * x + U * h(t-1) "
                 "+ w_c o c + b) (convolutions *, Hadamard peepholes o), c = f o c(t-1) + i o g, h = o o tanh(c). "
                 "The heat maps over time and these values are each channel's spatial mean; the feature maps of "
                 "this step are drawn below",
    "depth_gated_lstm": "depth-gated LSTM (Yao et al. 2015): c = d c^(L-1) + f c(t-1) + i g, "
                        "d = sigmoid(W x + w_c c(t-1) + w_l c^(L-1) + b): the lower layer's cell flows in "
                        "through the depth gate (layer 1 and up)",
}


def _spec_of(layer: nn.Module, index: int = 0, direction: int = 0):
    return layer.specs[index * int(getattr(layer, "num_directions", 1)) + direction]


def diagram(layer: nn.Module, index: int = 0, direction: int = 0) -> dict[str, Any]:
    """Which wires the page's cell diagram draws for one (layer, direction):
    ``{"kind": "lstm", ...switches}``, ``{"kind": "gru"}``, ``{"kind": "elman"}`` or
    ``{"kind": "other", "family", "states", "equations"}``."""
    fam = family_of(layer)
    spec = _spec_of(layer, index, direction)
    if fam.name == "lstm":
        v = spec.variant
        return {"kind": "lstm", "input_gate": v.input_gate, "forget_gate": v.forget_gate or v.coupled_input_forget,
                "coupled": v.coupled_input_forget, "output_gate": v.output_gate,
                "peepholes": list(v.peephole_gates) if v.peepholes else [],
                "input_activation": v.input_activation, "output_activation": v.output_activation,
                "full_gate_recurrence": v.full_gate_recurrence, "layer_norm": v.layer_norm,
                "variant": v.name or str(v)}
    if fam.name == "gru":
        return {"kind": "gru"}
    if fam.name == "rnn":
        return {"kind": "elman", "nonlinearity": spec.nonlinearity}
    return {"kind": "other", "family": fam.name, "states": list(spec.state_names),
            "equations": _EQUATIONS.get(fam.name, "")}


def _reference_curves(spec, xin: Tensor, reverse: bool) -> dict[str, list[float]]:
    """The gradient flow of an untrained Elman net and a 1997 LSTM (no forget gate: the
    constant error carousel) of the same size on the same step input (its first
    ``spec.input_size`` features), the same direction, seed 0."""
    out: dict[str, list[float]] = {}
    if spec.feature_axes != 1:  # the Elman net and the 1997 LSTM read vectors, not frames
        return out
    xin = xin[..., : spec.input_size]
    for label, name in (("Elman RNN (untrained)", "rnn"), ("LSTM 1997, no forget gate (untrained)", "hochreiter1997")):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            ref = _build_layer(name, spec.input_size, spec.hidden_size)
        out[label] = _flow(ref.specs[0], ref.cell_params(0, 0), xin, reverse)["norms"]
    return out


def _full_names(layer: nn.Module, index: int, direction: int) -> list[tuple[str, str]]:
    """(short, state-dict name) of one (layer, direction)'s parameters."""
    return layer._names[index * int(getattr(layer, "num_directions", 1)) + direction]


def weights_of(layer: nn.Module, index: int = 0, direction: int = 0) -> dict[str, Any]:
    """One (layer, direction)'s parameters for the page's editor: state-dict name ->
    nested lists, plus the row labels (the gate block of each row) where known."""
    spec = _spec_of(layer, index, direction)
    p = layer.cell_params(index, direction)
    out = {}
    for short, name in _full_names(layer, index, direction):
        t = p[short]
        rows = None
        if t.dim() >= 1 and hasattr(spec, "gate_slice") and short in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            rows = [g for g in spec.variant.gate_blocks for _ in range(spec.hidden_size)]
        elif family_of(layer).name == "gru" and short in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            rows = [g for g in "rzn" for _ in range(spec.hidden_size)]
        out[name] = {"shape": list(t.shape), "values": t.detach().double().tolist(), "rows": rows}
    return out


def set_weights(layer: nn.Module, weights: dict[str, Any], index: int = 0, direction: int = 0) -> None:
    """Load edited weights of one (layer, direction) (state-dict name -> nested lists)
    into ``layer``.

    Raises:
        ValueError: an unknown name, another shape, or a value that is not a finite number.
    """
    if not isinstance(weights, dict):
        raise TypeError(f"weights must be a table of name -> numbers, got {type(weights).__name__}")
    p = layer.cell_params(index, direction)
    own = {name: p[short] for short, name in _full_names(layer, index, direction)}
    new = {}
    for name, values in weights.items():
        if name not in own:
            raise ValueError(f"weights: unknown parameter {name!r}; expected one of {sorted(own)}")
        try:
            t = torch.as_tensor(values, dtype=own[name].dtype)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"weights: {name} must be numbers of shape {list(own[name].shape)}") from None
        if tuple(t.shape) != tuple(own[name].shape):
            raise ValueError(f"weights: {name} has shape {list(t.shape)}, expected {list(own[name].shape)}")
        if not bool(t.isfinite().all()):
            raise ValueError(f"weights: {name} holds a value that is not finite")
        new[name] = t
    with torch.no_grad():
        for name, t in new.items():
            own[name].copy_(t)


def explore(subject: Subject, text: str | None = None, layer: int | None = None, direction=None) -> dict[str, Any]:
    """One run for the page: the input, every step's values of one (layer, direction),
    the gradient flow, the diagram's wires, the read-out, and (classic tasks, layer 0
    forward) the memory unit; JSON-ready.

    Args:
        subject: what to run (:func:`variant_subject`, :func:`experiment_subject`,
            :func:`model_subject`).
        text: the input sequence as the page's text (default: the subject's first sample).
        layer, direction: which (layer, direction) of a stacked or bidirectional model
            (``"forward"``/``"backward"`` or 0/1; default: ``subject.show``).

    Returns:
        ``{"title", "source", "family", "kind", "alphabet", "input_text", "steps" (per-step
        labels), "x" (T, I), "T", "H", "gates" {name: (T, rows) lists}, "gate_order",
        "gate_titles", "gate_rows", "unit_range", "layer", "direction", "num_layers",
        "num_directions", "readout", "gradient_flow" {"state", "end", "curves" {label: T
        floats}}, "diagram", "memory", "samples", "switcher", "editable", "weights"}``.
    """
    text = subject.samples[0] if text is None else text
    index, d = check_choice(subject.layer, subject.show[0] if layer is None else layer,
                            subject.show[1] if direction is None else direction)
    xm, xl = subject.encode(text)
    if "memory" not in subject.cache:
        subject.cache["memory"] = memory_unit(subject)
    fmaps: dict = {}
    vals, longs = _values(subject.layer, xl, index, d, fmaps)
    spec = _spec_of(subject.layer, index, d)
    if hasattr(spec, "gates"):  # the papers' names, in the diagram's order
        first = ("r", "i", "f", "g", "z", "o", "d", "cs", "gdt", "cadj", "cl", "C", "c", "n", "m", "h")
        order = [k for k in first if k in vals] + [k for k in vals if k not in first]
        titles = {k: _TITLES.get(longs[k], longs[k].replace("_", " ")) + " " + k for k in order}
        if fmaps:
            titles = {k: v + " (spatial mean)" for k, v in titles.items()}
    else:  # a family's state entries, by their names
        order = list(vals)
        titles = {k: {"h": "output h", "c": "cell state c"}.get(k, f"state {k}") for k in order}
    readout = None
    if subject.readout is not None:
        with torch.no_grad():
            readout = subject.readout(xm, model_output(subject.layer, xl))
    xin = _layer_inputs(subject.layer, xl, index)[d]
    gf = _flow(spec, subject.layer.cell_params(index, d), xin, d == 1)
    where = "" if subject.layer.num_layers * subject.layer.num_directions == 1 else f", layer {index} {DIRECTIONS[d]}"
    curves = {f"this cell ({describe(subject.layer)}{where})": gf["norms"], **_reference_curves(spec, xin, d == 1)}
    if subject.kind == "symbols":
        steps = list("".join(text.split()))
    elif subject.kind == "frames":
        steps = [f"frame {t}" for t in range(xm.shape[0])]
    else:
        steps = [format_vectors(r[None]) for r in xm[:, 0].numpy()]
    # frames: the input's heat map is each channel's spatial mean; the maps themselves apart
    x_rows = xm[:, 0].mean(dim=(2, 3)) if subject.kind == "frames" else xm[:, 0]
    maps = None
    if fmaps:
        maps = {"x": xm[:, 0].tolist(), **{k: fmaps[k].tolist() for k in order if k in fmaps}}
    run = {
        "title": subject.title + ("" if not where else f" [{where[2:]}]"), "source": subject.source,
        "name": subject.name,
        "family": family_of(subject.layer).name, "describe": describe(subject.layer),
        "kind": subject.kind, "alphabet": subject.alphabet, "input_text": text, "steps": steps,
        "x": x_rows.tolist(), "T": int(xl.shape[0]), "H": spec.hidden_size, "I": subject.input_size,
        "maps": maps,
        "gates": {k: vals[k].tolist() for k in order}, "gate_order": order,
        "gate_titles": titles, "gate_rows": {k: int(vals[k].shape[1]) for k in order},
        "unit_range": [k for k in order if longs[k] in UNIT_RANGE],
        "layer": index, "direction": DIRECTIONS[d], "num_layers": int(subject.layer.num_layers),
        "num_directions": int(subject.layer.num_directions), "show": [subject.show[0], subject.show[1]],
        "readout": readout, "gradient_flow": {"state": gf["state"], "end": gf["end"], "curves": curves},
        "diagram": diagram(subject.layer, index, d),
        "memory": subject.cache["memory"] if (index, d) == (0, 0) else None, "samples": subject.samples,
        "switcher": _switcher_of(subject), "editable": subject.editable,
        "weights": weights_of(subject.layer, index, d) if subject.editable else None,
        "extra": subject.extra,
    }
    return run


# ---- training the shipped models ---------------------------------------------------------
def train_shipped(name: str, out_dir: str | os.PathLike, seed: int = 0, overwrite_shipped: bool = False,
                  progress: bool = False, log=print) -> dict:
    """Train the small classic-task model ``name`` (``"reber"``, ``"adding"``) that ships
    with lstmkit, and save it as a model directory (a :class:`~lstmkit.models.SequenceModel`,
    safetensors + JSON). ``lstmkit explore --train NAME --out DIR`` runs it; the shipped
    ones were written with ``--out src/lstmkit/pretrained/explore-NAME --overwrite-shipped``.

    The experiment registry's task and training configuration (:mod:`lstmkit.tasks.registry`),
    with this module's :data:`SHIPPED` overrides (hidden size, task length, time budget).
    Returns the trainer's result (``solved``, ``test``, ...).
    """
    from ..models.io import check_model_dir_target, save_model
    from ..models.sequence import SequenceModel
    from ..tasks.registry import get_experiment
    from ..train.trainer import TrainConfig, Trainer
    from .runfiles import check_not_shipped

    if name not in SHIPPED:
        raise ValueError(f"--train must be one of {sorted(SHIPPED)}, got {name!r}")
    check_not_shipped(out_dir, overwrite_shipped)
    check_model_dir_target(out_dir)
    exp, cfg = SHIPPED[name], get_experiment(SHIPPED[name].experiment)
    from ..tasks import get_task

    task = get_task(cfg.kind, **{**cfg.task, **exp.task})
    fields = {**cfg.train_fields(), **exp.train, "seed": seed, "progress": progress, "checkpoint_every": 0}
    torch.manual_seed(seed)
    config = dict(input_size=task.input_size, hidden_size=exp.hidden, output_size=task.output_size, cell="lstm",
                  variant="vanilla", readout=task.readout, forget_bias=exp.forget_bias)
    model = SequenceModel(**config)
    model.config = config
    result = Trainer(model, task, TrainConfig.from_dict(fields), run_dir=None,
                     meta={"experiment": name}).fit()
    alphabet = ""
    if name == "reber":
        from ..tasks.reber import SYMBOLS

        alphabet = SYMBOLS
    summary = {"solved": result["solved"], "solved_at": result["solved_at"], "sequences": result["sequences"],
               "wall_seconds": result["wall_seconds"], "test": result["test"], "seed": seed,
               "task": result["task"], "train": {k: v for k, v in result["config"].items() if k != "progress"}}
    extra = {"experiment": name, "alphabet": alphabet, "samples": exp.samples(seed),
             "command": f"lstmkit explore --train {name} --seed {seed} --out DIR", "trained": summary}
    save_model(model.eval(), out_dir, extra=extra)
    if log is not None:
        log(f"{name}: solved={result['solved']} after {result['sequences']} sequences, "
            f"{result['wall_seconds']:.0f} s; test {result['test']}")
    return summary
