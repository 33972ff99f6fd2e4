"""See inside the cell: run a recurrent model on one input sequence and record, per step
and per unit, every gate's activation, the cell state and the output, plus how much of
dLoss/dc_T reaches each earlier step (the gradient-flow view), as JSON for the page of
``lstmkit explore`` (:mod:`lstmkit.viz.explore`).

The values come from the families' own reference step (:mod:`lstmkit.cells`): a cell
spec with a ``gates()`` method (LSTM of every Greff variant, GRU) gives its activations by
the papers' names; for any other family the state entries themselves are shown. The fast
runners are not involved (they compute the same numbers; their tests say so).

Three kinds of subject, each an :class:`Subject`:

- a model directory (``--model DIR``): any lstmkit model with a recurrent layer of a
  registered family; its first recurrent layer (layer 0, forward direction) is shown;
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
           "step_values", "parse_vectors", "train_shipped", "SHIPPED", "SHIPPED_DIR", "switcher_names",
           "memory_unit", "GATE_NAMES"]

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
"""Where the shipped models live (``pretrained/explore-<name>/``)."""

#: The cells' long names (``LSTMCellSpec.gates``, ``GRUCellSpec.gates``) -> the page's letters.
GATE_NAMES = {"input_gate": "i", "forget_gate": "f", "block_input": "g", "output_gate": "o",
              "reset_gate": "r", "update_gate": "z", "candidate": "n", "cell_state": "c", "output": "h"}
_LONG = {v: k for k, v in GATE_NAMES.items()}

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
    # 1997 Exp. 4 used 2 blocks of 2 cells (4 cells) at T = 100; 4 cells at T = 30 here, so
    # that a whole sequence fits on the page.
    "adding": ShippedExperiment("adding", "adding100", 4, {"T": 30},
                                dict(lr=0.01, max_seconds=400, eval_every=50), _adding_samples, "vectors",
                                forget_bias=5.0, title="adding problem, T = 30 (1997 Exp. 4)"),
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
        layer: the recurrent layer module (a registered family's module); layer 0,
            forward direction is shown.
        encode: the user's text -> ``(model input (T, 1, ...), layer input (T, 1, I))``.
        readout: ``(model input, layer output) -> list of per-step strings`` or None.
        kind: ``"symbols"`` (``alphabet`` one-hot) or ``"vectors"`` (``input_size`` numbers).
        samples: example inputs for the page's picker.
        editable: whether the page may send new weights.
        model: the whole model (for a trained subject), else the layer.
        name: the experiment or variant name.
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


def _build_layer(name: str, input_size: int, hidden_size: int):
    """An untrained layer of family or variant ``name`` (float64), or raise ValueError."""
    family, variant = resolve_model(name, feature_axes=1, what="variant")
    params = inspect.signature(family.module).parameters
    kwargs: dict[str, Any] = {}
    if "variant" in params and variant is not None:
        kwargs["variant"] = variant
    if "num_heads" in params:  # sLSTM, mLSTM: one head, so that any hidden size fits
        kwargs["num_heads"] = 1
    try:
        return family.module(input_size, hidden_size, dtype=torch.float64, **kwargs).eval()
    except (TypeError, ValueError) as e:
        raise ValueError(f"variant {name!r}: {' '.join(str(e).split())}") from None


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
    # The page's editor holds one box per weight: only for small cells.
    editable = sum(t.numel() for t in layer.cell_params(0, 0).values()) <= MAX_EDITABLE
    if like is not None:
        return Subject(f"untrained {describe(layer)}", "variant", layer, like.encode, like.kind, like.samples,
                       alphabet=like.alphabet, editable=editable, model=layer, name=name)
    rng = np.random.default_rng(seed)
    samples = [format_vectors(np.round(rng.uniform(-1, 1, size=(12, input_size)), 2)) for _ in range(3)]
    return Subject(f"untrained {describe(layer)}", "variant", layer, _vector_encoder(input_size), "vectors",
                   samples, editable=editable, model=layer, name=name)


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
            if key not in switcher_names():
                raise ValueError(f"variant must be one of {switcher_names()} (or '' for this model), got {key!r}")
            self.subjects[key] = variant_subject(key, seed=self.seed, like=self.base)
        return self.subjects[key]

    def run(self, key: str = "", text: str | None = None, weights: dict | None = None) -> dict:
        """:func:`explore` of choice ``key`` on ``text``, after loading ``weights`` (editable
        cells only)."""
        s = self.subject(key)
        if weights is not None:
            if not s.editable:
                raise ValueError(f"weights: this model's weights are not editable (only an untrained cell's, "
                                 f"of at most {MAX_EDITABLE} weights)")
            set_weights(s.layer, weights)
            s.cache.clear()
        return explore(s, text)

    def export_runs(self, text: str | None = None) -> dict[str, dict]:
        """Every choice the switcher offers, run on ``text``: what an exported page holds."""
        runs = {"": self.run("", text)}
        for name in switcher_names():
            runs[name] = self.run(name, text)
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
    first recurrent layer (layer 0, forward) on vectors of that layer's input size.

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
        if layer.specs[0].feature_axes != 1:
            raise ValueError(f"--model {directory}: its recurrent layer {path!r} takes feature maps; "
                             f"explore shows vector families only")
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
def _side(spec, x: Tensor) -> dict:
    """The step's side inputs where the family has them (a T-LSTM's elapsed time): 1 at
    every step, the regular sampling the page assumes."""
    if not spec.side_inputs:
        return {}
    return {"side": {name: torch.ones(x.shape[1], dtype=x.dtype) for name in spec.side_inputs}}


def step_values(layer: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """Every step's values of ``layer``'s layer 0, forward direction, on ``x`` (T, 1, I):
    short name -> (T, H). With a spec's ``gates()``: i, f, g, o, c, h (LSTM) or r, z, n, h
    (GRU); otherwise each vector state entry by its name (h, c, n, m, ...).

    Computed step by step with the family's reference step (:meth:`CellSpec.step`) from
    the zero state, exactly what the layer computes.

    Example:
        >>> import torch, lstmkit
        >>> v = step_values(lstmkit.GRU(2, 3), torch.randn(4, 1, 2))
        >>> sorted(v), tuple(v["z"].shape)
        (['h', 'n', 'r', 'z'], (4, 3))
    """
    spec, p = layer.specs[0], layer.cell_params(0, 0)
    spec.check_input_shape(tuple(x.shape[2:]))
    state = spec.initial_state(x.shape[1], dtype=x.dtype, device=x.device)
    xp = spec.input_projection(x, p)
    side = _side(spec, x)
    rows: dict[str, list[Tensor]] = {}
    with torch.no_grad():
        for t in range(x.shape[0]):
            if hasattr(spec, "gates"):
                named = {GATE_NAMES.get(k, k): v for k, v in spec.gates(xp[t], state, p).items()}
            else:
                named = {}
            state = spec.step(xp[t], state, p, **side)
            if not named:
                # only entries with one value per unit (not mLSTM's matrix memory or per-head stabiliser)
                named = {n: s for n, s in zip(spec.state_names, state)
                         if s.dim() == 2 and s.shape[1] == spec.hidden_size}
            for k, v in named.items():
                rows.setdefault(k, []).append(v[0])
    return {k: torch.stack(v) for k, v in rows.items()}


def gradient_flow(layer: nn.Module, x: Tensor) -> dict[str, Any]:
    """How much of dL/ds_T reaches each earlier step: ``||dL/ds_t||`` for t = 0..T-1,
    where s is the cell state c (h where the family has no c) and L = sum of s_T's
    units (so ``||dL/ds_T|| = sqrt(H)``). Through the reference step with autograd.

    Returns ``{"state": "c" or "h", "norms": [T floats]}``.

    Example:
        >>> import torch, lstmkit
        >>> g = gradient_flow(lstmkit.RNN(2, 3, dtype=torch.float64), torch.randn(5, 1, 2, dtype=torch.float64))
        >>> g["state"], len(g["norms"]), round(g["norms"][-1] ** 2, 6)
        ('h', 5, 3.0)
    """
    spec = layer.specs[0]
    # Fresh leaves for the weights: every state then takes part in the graph (so that
    # autograd can give dL/ds_t for every t, all paths included), and the layer's own
    # .grad stays untouched.
    p = {k: v.detach().requires_grad_(True) for k, v in layer.cell_params(0, 0).items()}
    k = next((spec.state_names.index(n) for n in ("c", "C") if n in spec.state_names), 0)
    state = spec.initial_state(x.shape[1], dtype=x.dtype, device=x.device)
    side = _side(spec, x)
    kept = []
    with torch.enable_grad():
        xp = spec.input_projection(x.detach(), p)
        for t in range(x.shape[0]):
            state = spec.step(xp[t], state, p, **side)
            kept.append(state[k])
        grads = torch.autograd.grad(kept[-1].sum(), kept, allow_unused=True)
    norms = [float(g.norm()) if g is not None else 0.0 for g in grads]
    norms[-1] = math.sqrt(kept[-1].numel() / kept[-1].shape[0])  # dL/ds_T is all ones
    return {"state": spec.state_names[k], "norms": norms}


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


def diagram(layer: nn.Module) -> dict[str, Any]:
    """Which wires the page's cell diagram draws: ``{"kind": "lstm", ...switches}``,
    ``{"kind": "gru"}``, ``{"kind": "elman"}`` or ``{"kind": "other", "states": [...]}``."""
    fam = family_of(layer)
    spec = layer.specs[0]
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
    return {"kind": "other", "family": fam.name, "states": list(spec.state_names)}


def _reference_curves(subject: Subject, xl: Tensor) -> dict[str, list[float]]:
    """The gradient flow of an untrained Elman net and a 1997 LSTM (no forget gate: the
    constant error carousel) of the same size on the same layer input, seed 0."""
    out = {}
    for label, name in (("Elman RNN (untrained)", "rnn"), ("LSTM 1997, no forget gate (untrained)", "hochreiter1997")):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            layer = _build_layer(name, subject.input_size, subject.hidden_size)
        out[label] = gradient_flow(layer, xl)["norms"]
    return out


def weights_of(layer: nn.Module) -> dict[str, Any]:
    """Layer 0's parameters (forward direction) for the page's editor: state-dict name ->
    nested lists, plus the row labels (the gate block of each row) where known."""
    spec = layer.specs[0]
    out = {}
    for short, t in layer.cell_params(0, 0).items():
        name = f"{short}_l0"
        rows = None
        if t.dim() >= 1 and hasattr(spec, "gate_slice") and short in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            rows = [g for g in spec.variant.gate_blocks for _ in range(spec.hidden_size)]
        elif family_of(layer).name == "gru" and short in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            rows = [g for g in "rzn" for _ in range(spec.hidden_size)]
        out[name] = {"shape": list(t.shape), "values": t.detach().double().tolist(), "rows": rows}
    return out


def set_weights(layer: nn.Module, weights: dict[str, Any]) -> None:
    """Load edited layer-0 weights (name -> nested lists) into ``layer``.

    Raises:
        ValueError: an unknown name, another shape, or a value that is not a finite number.
    """
    if not isinstance(weights, dict):
        raise TypeError(f"weights must be a table of name -> numbers, got {type(weights).__name__}")
    own = {f"{k}_l0": v for k, v in layer.cell_params(0, 0).items()}
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


def explore(subject: Subject, text: str | None = None) -> dict[str, Any]:
    """One run for the page: the input, every step's values, the gradient flow, the
    diagram's wires, the read-out, and (embedded Reber) the memory unit; JSON-ready.

    Args:
        subject: what to run (:func:`variant_subject`, :func:`experiment_subject`,
            :func:`model_subject`).
        text: the input sequence as the page's text (default: the subject's first sample).

    Returns:
        ``{"title", "source", "family", "kind", "alphabet", "input_text", "steps" (per-step
        labels), "x" (T, I), "T", "H", "gates" {name: (T, H) lists}, "gate_order",
        "readout", "gradient_flow" {"state", "curves" {label: T floats}}, "diagram",
        "memory", "samples", "switcher", "editable", "weights"}``.
    """
    text = subject.samples[0] if text is None else text
    xm, xl = subject.encode(text)
    if "memory" not in subject.cache:
        subject.cache["memory"] = memory_unit(subject)
    vals = step_values(subject.layer, xl)
    if hasattr(subject.layer.specs[0], "gates"):  # the papers' names, in the diagram's order
        order = [k for k in ("i", "f", "g", "o", "r", "z", "n", "c", "h") if k in vals]
        titles = {k: _LONG[k].replace("_", " ") + " " + k for k in order}
    else:  # a family's state entries, by their names
        order = list(vals)
        titles = {k: {"h": "output h", "c": "cell state c"}.get(k, f"state {k}") for k in order}
    readout = None
    if subject.readout is not None:
        with torch.no_grad():
            out = vals["h"][:, None, :]
            readout = subject.readout(xm, out)
    gf = gradient_flow(subject.layer, xl)
    curves = {f"this cell ({describe(subject.layer)})": gf["norms"], **_reference_curves(subject, xl)}
    if subject.kind == "symbols":
        steps = list("".join(text.split()))
    else:
        steps = [format_vectors(r[None]) for r in xm[:, 0].numpy()]
    run = {
        "title": subject.title, "source": subject.source, "name": subject.name,
        "family": family_of(subject.layer).name, "describe": describe(subject.layer),
        "kind": subject.kind, "alphabet": subject.alphabet, "input_text": text, "steps": steps,
        "x": xm[:, 0].tolist(), "T": int(xl.shape[0]), "H": subject.hidden_size, "I": subject.input_size,
        "gates": {k: vals[k].tolist() for k in order}, "gate_order": order,
        "gate_titles": titles,
        "readout": readout, "gradient_flow": {"state": gf["state"], "curves": curves},
        "diagram": diagram(subject.layer), "memory": subject.cache["memory"], "samples": subject.samples,
        "switcher": switcher_names(), "editable": subject.editable,
        "weights": weights_of(subject.layer) if subject.editable else None,
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
