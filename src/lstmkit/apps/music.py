"""Music: Bach chorales and the 12-bar blues with polyphonic recurrent networks.

Chorales (``lstmkit music train --task chorales``): the four-part chorales of music21's
corpus as piano rolls (:mod:`lstmkit.data.chorales`: eighth notes by default, transposed to
C major / C minor, split by chorale 60/20/20 with seed 0), a :class:`PolyphonicRNN` (per-step
sigmoid output, any registered family) trained by next-frame likelihood, and in the same run
the baselines: the per-pitch marginal, the chord n-gram (order and smoothing chosen on the
validation chorales) and the Elman RNN (the same network with ``cell="elman"``). Every model
is scored on the same held-out chorales: NLL per time step (nats, every frame weighted the
same) and frame-level accuracy (Bay et al. 2009; a key is predicted on when its probability
given the true past is above 1/2; the n-gram predicts its most probable chord).

Blues (``--task blues``): Eck & Schmidhuber's (2002) set-up (:mod:`lstmkit.tasks.blues`):
an LSTM and an Elman net of one size trained on generated choruses; each is then primed
with one held-out chorus and run free on its own samples for many choruses, and the pieces
are scored on whether every bar keeps the 12-bar chord progression.

A model directory holds the main model (``model.safetensors``), the recurrent baseline
(``baseline-rnn.safetensors``), ``report.json`` and what ``evaluate`` and ``generate`` need
(the data settings, the split, the n-gram's settings) in ``config.json``'s ``extra``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..io import LstmkitFileError, atomic_write_bytes, check_fields
from ..metrics import frame_accuracy
from ..models.io import check_model_dir_target, load_model, save_model
from ..models.polyphonic import ChordNGram, PitchMarginal, PolyphonicRNN, frame_nll, pad_rolls
from ..progress import progress_bar
from ..train.supervised import fit_supervised
from .runfiles import check_finite, check_not_shipped, check_output_file, model_dir_scope, run_dir_scope

__all__ = [
    "TASKS", "PUBLISHED_JSB", "rnn_scores", "baseline_scores", "fit_ngram", "train_chorales", "train_blues",
    "blues_structure", "load_music_model", "evaluate_music", "generate_music", "model_name",
]

TASKS = ("chorales", "blues")
BASELINE_FILE = "baseline-rnn.safetensors"

#: Boulanger-Lewandowski, Bengio & Vincent (2012), ICML, Table 1, JSB Chorales column
#: (log-likelihood per time step, negated here to an NLL). Quoted from memory of the
#: paper's table: unverified (the paper could not be read here). Their data: 382 chorales,
#: the Allan & Williams (2005) split (229/76/77), transposed to C major / C minor, one
#: frame per QUARTER note (the authors' dataset page says so).
PUBLISHED_JSB = {
    "source": "Boulanger-Lewandowski, Bengio & Vincent 2012, Modeling temporal dependencies in high-dimensional "
              "sequences (ICML), Table 1, JSB Chorales; unverified (quoted from memory of the table, the paper "
              "was not readable here)",
    "data": "382 chorales, Allan & Williams (2005) split 229/76/77, transposed to C major/minor, quarter-note frames",
    "rows": [
        {"model": "RNN (sigmoid output, SGD)", "nll_per_step": 8.71, "frame_accuracy": None},
        {"model": "RNN (Hessian-free)", "nll_per_step": 8.58, "frame_accuracy": None},
        {"model": "RNN-RBM", "nll_per_step": 7.27, "frame_accuracy": None},
        {"model": "RNN-NADE (Hessian-free)", "nll_per_step": 5.56, "frame_accuracy": None},
    ],
}


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")


# ---------------------------------------------------------------------- scoring

@torch.no_grad()
def rnn_scores(model: PolyphonicRNN, rolls: Sequence[np.ndarray], batch: int = 32) -> dict:
    """NLL per time step (nats) and frame-level accuracy of a :class:`PolyphonicRNN` on
    ``rolls`` (each frame predicted from the true frames before it).

    Example:
        >>> m = PolyphonicRNN(4, 8)
        >>> sorted(rnn_scores(m, [np.eye(4, dtype=np.float32)]))
        ['frame_accuracy', 'frames', 'nll_per_step']
    """
    model.eval()
    total, frames, preds = 0.0, 0, []
    for k in range(0, len(rolls), batch):
        part = list(rolls[k:k + batch])
        x, n = pad_rolls(part)
        logits = model(x, n)
        total += float(frame_nll(logits, x, n).sum())
        frames += int(n.sum())
        preds += [(logits[: len(r), b] > 0).float().numpy() for b, r in enumerate(part)]
    return {"nll_per_step": total / frames, "frame_accuracy": _accuracy(preds, rolls), "frames": frames}


def _accuracy(preds, rolls) -> float | None:
    try:
        return frame_accuracy(list(preds), list(rolls))
    except ValueError:  # nothing sounds anywhere
        return None


def baseline_scores(model, rolls: Sequence[np.ndarray]) -> dict:
    """:func:`rnn_scores` for a :class:`PitchMarginal` or :class:`ChordNGram`."""
    nll = np.concatenate([model.nll(r) for r in rolls])
    return {"nll_per_step": float(nll.mean()), "frame_accuracy": _accuracy([model.predict(r) for r in rolls], rolls),
            "frames": int(len(nll))}


def fit_ngram(train: Sequence[np.ndarray], val: Sequence[np.ndarray], orders=(1, 2, 3, 4),
              betas=(0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0), marginal: PitchMarginal | None = None) -> tuple[ChordNGram, list]:
    """The chord n-gram with the order and smoothing ``beta`` of lowest validation NLL per
    step, and the table of every choice tried.

    Example:
        >>> r = [np.array([[1, 0], [0, 1]] * 4, np.float32)]
        >>> m, table = fit_ngram(r, r, orders=(1, 2), betas=(1.0,))
        >>> m.order, len(table)
        (2, 2)
    """
    marginal = marginal or PitchMarginal.fit(train)
    best, table = None, []
    for order in orders:
        for beta in betas:
            m = ChordNGram.fit(train, order, beta, marginal)
            v = float(np.concatenate([m.nll(r) for r in val]).mean())
            table.append({"order": order, "beta": beta, "val_nll_per_step": v})
            if best is None or v < best[0]:
                best = (v, m)
    return best[1], table


OUTPUT_BIAS = ("zero", "marginal")


def _train_rnn(model: PolyphonicRNN, train, val, *, epochs, batch_size, lr, seed, run_dir, resume, progress, desc,
               output_bias="zero"):
    """Next-frame likelihood training (Adam, clipping 1), the epoch of lowest validation NLL
    kept; with ``output_bias="marginal"`` the output biases start at the training frames'
    per-key log-odds (faster at first; on the chorales it overfits sooner: docs/music.md)."""

    def loss_fn(m, idx):
        x, n = pad_rolls([train[i] for i in idx])
        return m.nll(x, n).sum() / n.sum()

    _check_choice("output_bias", output_bias, OUTPUT_BIAS)
    if output_bias == "marginal":
        model.init_output_bias(PitchMarginal.fit(train).p)
    return fit_supervised(model, loss_fn, len(train), epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                          evaluate=lambda m: -rnn_scores(m, val)["nll_per_step"], run_dir=run_dir, resume=resume,
                          progress=progress, desc=desc)


def _checkpoint_dir(model_dir) -> Path:
    return Path(model_dir).with_name(Path(model_dir).name + ".checkpoints")


def _state_bytes(model) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})


def _rnn_config(cell, variant, hidden_size, num_layers, input_dropout) -> dict:
    return dict(hidden_size=hidden_size, num_layers=num_layers, cell=cell,
                variant=variant if cell == "lstm" else None, input_dropout=input_dropout)


def _guard(model_dir) -> None:
    check_not_shipped(model_dir)
    check_model_dir_target(model_dir)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def _m21_version() -> str:
    try:
        import music21
    except ImportError as e:
        raise ImportError("music needs music21: pip install 'lstmkit[music]'") from e
    return music21.__version__


def model_name(config: dict) -> str:
    """A short name of a PolyphonicRNN config.

    Example:
        >>> model_name({"cell": "elman", "variant": None, "num_layers": 1, "hidden_size": 64})
        'Elman RNN 1x64, sigmoid output'
    """
    from ..models.sequence import describe_model

    return (f"{describe_model(config['cell'], config.get('variant') or 'vanilla')} "
            f"{config['num_layers']}x{config['hidden_size']}, sigmoid output")


# ---------------------------------------------------------------------- chorales

def _chorale_data(step, transpose, numbers, split_seed, progress):
    from ..data.chorales import load_chorales, split_chorales

    ch = load_chorales(step, transpose=transpose, numbers=numbers, progress=progress)
    if len(ch) < 3:
        raise ValueError(f"--limit/numbers: {len(ch)} four-part chorales loaded; the split needs at least 3")
    parts = split_chorales(ch.numbers, seed=split_seed)
    rolls = ch.rolls()
    return ch, [[rolls[i] for i in p] for p in parts], [[ch.numbers[i] for i in p] for p in parts]


def train_chorales(model_dir: str | os.PathLike | None, *, step: float | str = 0.5, transpose: bool = True,
                   cell: str = "lstm", variant: str = "vanilla", hidden_size: int = 128, num_layers: int = 1,
                   epochs: int = 120, batch_size: int = 8, lr: float = 3e-3, input_dropout: float = 0.0,
                   baseline: str = "elman", numbers: Sequence[int] | None = None, split_seed: int = 0, seed: int = 0,
                   output_bias: str = "zero", resume: bool = False, progress: bool = True) -> dict:
    """Train the polyphonic RNN and its baselines on the Bach chorales (module docstring)
    and write the model directory ``model_dir`` (None: nothing written). Checkpoints go to
    ``<model_dir>.checkpoints`` (a killed run continues with ``resume``).

    Returns:
        the report: per model (``model``, ``baseline_rnn``, ``marginal``, ``ngram``) the
        validation and test NLL per step and frame accuracy, the data's description, the
        settings, the training histories, seconds.
    """
    from ..data.chorales import LOW, PITCHES, STEPS

    started = time.perf_counter()
    step = STEPS.get(step, step) if isinstance(step, str) else step
    if model_dir is not None:
        _guard(model_dir)
    ch, (tr, va, te), (ntr, nva, nte) = _chorale_data(step, transpose, numbers, split_seed, progress)
    run_dir = _checkpoint_dir(model_dir) if model_dir is not None else None
    with model_dir_scope(model_dir), run_dir_scope(run_dir, subdirs=["model", "baseline"],
                                                   what="checkpoint folder") as run:
        t0 = time.perf_counter()
        marginal = PitchMarginal.fit(tr)
        ngram, ngram_table = fit_ngram(tr, va, marginal=marginal)
        base_seconds = time.perf_counter() - t0
        torch.manual_seed(seed)
        model = PolyphonicRNN(PITCHES, **_rnn_config(cell, variant, hidden_size, num_layers, input_dropout))
        fit = _train_rnn(model, tr, va, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                         run_dir=run / "model" if run else None, resume=resume, progress=progress,
                         desc=f"chorales {cell}", output_bias=output_bias)
        torch.manual_seed(seed)
        rnn = PolyphonicRNN(PITCHES, **_rnn_config(baseline, None, hidden_size, num_layers, input_dropout))
        fit_b = _train_rnn(rnn, tr, va, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                           run_dir=run / "baseline" if run else None, resume=resume, progress=progress,
                           desc=f"chorales {baseline}", output_bias=output_bias)
        rows = {}
        for name, scorer in (("model", lambda r: rnn_scores(model, r)), ("baseline_rnn", lambda r: rnn_scores(rnn, r)),
                             ("marginal", lambda r: baseline_scores(marginal, r)),
                             ("ngram", lambda r: baseline_scores(ngram, r))):
            rows[name] = {"val": scorer(va), "test": scorer(te)}
        names = {"model": model_name(model.config), "baseline_rnn": model_name(rnn.config),
                 "marginal": "per-pitch marginal (add-1/2)",
                 "ngram": f"chord {ngram.order}-gram (Dirichlet smoothing, beta={ngram.beta:g}, to the marginal)"}
        report = {
            "task": "chorales", "source": f"music21 {_m21_version()} corpus, Riemenschneider numbering",
            "data": {"chorales": len(ch), "dropped": ch.dropped, "step_quarter_notes": ch.step,
                     "frames_per_quarter": 1 / ch.step, "transposed_to_C": transpose, "split_seed": split_seed,
                     "split": {"train": len(tr), "val": len(va), "test": len(te)},
                     "frames": {"train": int(sum(map(len, tr))), "val": int(sum(map(len, va))),
                                "test": int(sum(map(len, te)))}},
            "models": {k: {"name": names[k], **v} for k, v in rows.items()},
            "ngram_choice": ngram_table, "published": PUBLISHED_JSB,
            "config": {**model.config, "baseline": baseline, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                       "seed": seed, "output_bias": output_bias},
            "fit": {"model": fit, "baseline_rnn": fit_b, "baselines_seconds": base_seconds},
            "threads": torch.get_num_threads(), "cpu": _cpu(), "seconds": time.perf_counter() - started,
        }
        if model_dir is not None:
            extra = {"task": "chorales", "step": ch.step, "transpose": transpose,
                     "pitches": list(range(LOW, LOW + PITCHES)),
                     "split": {"train": ntr, "val": nva, "test": nte}, "split_seed": split_seed,
                     "numbers": None if numbers is None else sorted(set(int(n) for n in numbers)),
                     "ngram": {"order": ngram.order, "beta": ngram.beta},
                     "baseline_rnn": {"config": rnn.config, "file": BASELINE_FILE}, "music21": _m21_version()}
            save_model(model, model_dir, extra=extra,
                       files={"report.json": json.dumps(report, indent=2), BASELINE_FILE: _state_bytes(rnn)})
            report["model_dir"] = str(model_dir)
        return report


# ---------------------------------------------------------------------- blues

_BLUES_SEEDS = {"train": 0, "val": 10_000, "test": 20_000}


def _blues_pieces(part: str, n: int, choruses: int) -> list[np.ndarray]:
    from ..tasks.blues import blues_piece

    return [blues_piece(choruses, seed=_BLUES_SEEDS[part] + i) for i in range(n)]


def blues_structure(model: PolyphonicRNN, n_pieces: int = 5, choruses: int = 16, temperature: float = 1.0,
                    seed: int = 0, progress: bool = False, desc: str = "") -> dict:
    """Prime ``model`` with one held-out chorus (test seeds), let it run free for
    ``choruses`` choruses on its own samples, ``n_pieces`` times, and score each piece's
    chord structure (:func:`lstmkit.tasks.blues.score_structure`).

    Example:
        >>> m = PolyphonicRNN(25, 4)
        >>> r = blues_structure(m, n_pieces=1, choruses=1)
        >>> sorted(r)[:3]
        ['all_kept', 'bar_accuracy', 'choruses']
    """
    from ..tasks.blues import CHORUS, score_structure

    g = torch.Generator().manual_seed(seed)
    pieces = []
    bar = progress_bar(n_pieces * choruses * CHORUS, f"{desc} free run".strip(), "frame", enabled=progress)
    try:
        for prime in _blues_pieces("test", n_pieces, 1):
            out = model.sample(choruses * CHORUS, prime=torch.as_tensor(prime), temperature=temperature, generator=g,
                               on_step=bar.update if bar is not None else None)
            pieces.append(score_structure(out.numpy(), start_bar=0).as_dict())
    finally:
        if bar is not None:
            bar.close()
    return {"pieces": pieces, "bar_accuracy": float(np.mean([p["bar_accuracy"] for p in pieces])),
            "choruses_kept_mean": float(np.mean([p["choruses_kept"] for p in pieces])),
            "all_kept": int(sum(p["choruses_kept"] == p["choruses"] for p in pieces)), "choruses": choruses,
            "temperature": temperature}


def train_blues(model_dir: str | os.PathLike | None, *, cell: str = "lstm", variant: str = "vanilla",
                hidden_size: int = 32, num_layers: int = 1, epochs: int = 150, batch_size: int = 8, lr: float = 1e-2,
                pieces: int = 128, choruses: int = 4, baseline: str = "elman", test_pieces: int = 5,
                test_choruses: int = 16, seed: int = 0, output_bias: str = "zero", resume: bool = False,
                progress: bool = True) -> dict:
    """Eck & Schmidhuber's blues: train the model and the baseline RNN (same size) on
    ``pieces`` generated pieces of ``choruses`` choruses each (a fresh melody every chorus),
    keep the epoch of lowest NLL on 16 validation pieces, then score both free-running for
    ``test_choruses`` choruses after one held-out chorus (:func:`blues_structure`), and the
    NLL per step on 16 test pieces. Writes ``model_dir`` as :func:`train_chorales` does.

    32 units: of the sizes measured (16, 32, 64; docs/music.md) the one where the LSTM kept
    the progression best (95.6% and 100% of the bars right with seeds 0 and 1).
    """
    from ..tasks.blues import BARS, PITCHES, PUBLISHED, STEPS_PER_BAR

    started = time.perf_counter()
    if model_dir is not None:
        _guard(model_dir)
    tr = _blues_pieces("train", pieces, choruses)
    va = _blues_pieces("val", 16, choruses)
    te = _blues_pieces("test", 16, choruses)
    run_dir = _checkpoint_dir(model_dir) if model_dir is not None else None
    with model_dir_scope(model_dir), run_dir_scope(run_dir, subdirs=["model", "baseline"],
                                                   what="checkpoint folder") as run:
        models, fits = {}, {}
        for key, c, v in (("model", cell, variant), ("baseline_rnn", baseline, None)):
            torch.manual_seed(seed)
            m = PolyphonicRNN(len(PITCHES), **_rnn_config(c, v, hidden_size, num_layers, 0.0))
            sub = "model" if key == "model" else "baseline"
            fits[key] = _train_rnn(m, tr, va, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                   run_dir=run / sub if run else None, resume=resume, progress=progress,
                                   desc=f"blues {c}", output_bias=output_bias)
            models[key] = m
        marginal = PitchMarginal.fit(tr)
        rows = {}
        for key, m in models.items():
            rows[key] = {"name": model_name(m.config), "test": rnn_scores(m, te),
                         "structure": blues_structure(m, test_pieces, test_choruses, seed=seed, progress=progress,
                                                      desc=f"blues {m.config['cell']}")}
        rows["marginal"] = {"name": "per-pitch marginal (add-1/2)", "test": baseline_scores(marginal, te)}
        report = {
            "task": "blues", "source": "generated (lstmkit.tasks.blues): Eck & Schmidhuber 2002 set-up",
            "data": {"train_pieces": pieces, "choruses_per_piece": choruses, "frames_per_bar": STEPS_PER_BAR,
                     "bars": BARS, "keys": len(PITCHES), "seeds": _BLUES_SEEDS},
            "models": rows, "published": PUBLISHED,
            "config": {**models["model"].config, "baseline": baseline, "epochs": epochs, "batch_size": batch_size,
                       "lr": lr, "seed": seed, "test_pieces": test_pieces, "test_choruses": test_choruses,
                       "output_bias": output_bias},
            "fit": fits, "threads": torch.get_num_threads(), "cpu": _cpu(), "seconds": time.perf_counter() - started,
        }
        if model_dir is not None:
            extra = {"task": "blues", "step": 0.5, "pitches": list(PITCHES), "choruses_per_piece": choruses,
                     "baseline_rnn": {"config": models["baseline_rnn"].config, "file": BASELINE_FILE}}
            save_model(models["model"], model_dir, extra=extra,
                       files={"report.json": json.dumps(report, indent=2),
                              BASELINE_FILE: _state_bytes(models["baseline_rnn"])})
            report["model_dir"] = str(model_dir)
        return report


# ---------------------------------------------------------------------- a model directory

def _check_extra(extra: dict, config: dict, where: str) -> None:
    check_finite(extra, where, "extra")
    P = config.get("num_pitches")
    flat = {f"extra.{k}": v for k, v in extra.items()}
    check_fields(flat, {
        "extra.task": (str, lambda v: v in TASKS, f"one of {', '.join(TASKS)}"),
        "extra.step": ((int, float), lambda v: v > 0, "a positive number of quarter notes"),
        "extra.pitches": (list, lambda v: len(v) == P and all(isinstance(p, int) and 0 <= p <= 127 for p in v),
                          f"{P} MIDI pitches (the model's num_pitches)"),
        "extra.baseline_rnn": (dict, lambda v: isinstance(v.get("config"), dict) and v.get("file") == BASELINE_FILE,
                               f"a table with config and file {BASELINE_FILE!r}"),
    }, where)
    if extra["task"] == "chorales":
        check_fields(flat, {
            "extra.transpose": (bool, None, "true or false"),
            "extra.numbers": ((list, type(None)), lambda v: v is None or (v and all(isinstance(n, int) for n in v)),
                              "null (every chorale) or a list of Riemenschneider numbers"),
            "extra.split": (dict, lambda v: all(isinstance(v.get(k), list) and v[k] for k in ("train", "val", "test")),
                            "a table of train, val and test chorale numbers"),
            "extra.ngram": (dict, lambda v: isinstance(v.get("order"), int) and v["order"] >= 1
                            and isinstance(v.get("beta"), (int, float)) and v["beta"] > 0,
                            "a table with order (>= 1) and beta (> 0)"),
        }, where)


def load_music_model(model_dir: str | os.PathLike) -> tuple[PolyphonicRNN, PolyphonicRNN, dict]:
    """The model, the recurrent baseline and ``extra`` of a directory written by
    :func:`train_chorales` or :func:`train_blues`, every file checked (one line on any
    problem)."""
    from safetensors.torch import load

    model, extra = load_model(PolyphonicRNN, model_dir)  # verifies every file of the manifest
    where = str(Path(model_dir) / "config.json")
    _check_extra(extra, model.config, where)
    cfg = extra["baseline_rnn"]["config"]
    try:
        rnn = PolyphonicRNN(**cfg)
    except (TypeError, ValueError) as e:
        raise LstmkitFileError(f"{where}: extra.baseline_rnn.config does not build a PolyphonicRNN ({e})") from None
    path = Path(model_dir) / BASELINE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the model directory is incomplete")
    try:
        rnn.load_state_dict(load(path.read_bytes()))
    except Exception as e:  # safetensors' own errors, or names/shapes that do not match
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LstmkitFileError(f"{path} does not hold the baseline of {where} ({msg[:200]})") from None
    return model, rnn.eval(), extra


def evaluate_music(model_dir: str | os.PathLike, split: str = "test", progress: bool = True,
                   test_pieces: int = 5, test_choruses: int = 16, seed: int = 0) -> dict:
    """Score a model directory's model and baselines again on held-out data: for chorales
    the ``split`` ("test" or "val") chorales of the model's own split (the marginal and
    the n-gram refitted on its training chorales with its settings); for the blues the NLL on
    the 16 test (or validation) pieces and the free-running structure (:func:`blues_structure`)."""
    _check_choice("--split", split, ("test", "val"))
    model, rnn, extra = load_music_model(model_dir)
    started = time.perf_counter()
    if extra["task"] == "blues":
        held = _blues_pieces(split, 16, int(extra.get("choruses_per_piece", 4)))
        rows = {key: {"name": model_name(m.config), split: rnn_scores(m, held),
                      "structure": blues_structure(m, test_pieces, test_choruses, seed=seed, progress=progress,
                                                   desc=f"blues {m.config['cell']}")}
                for key, m in (("model", model), ("baseline_rnn", rnn))}
        return {"task": "blues", "split": split, "models": rows, "seconds": time.perf_counter() - started}
    from ..data.chorales import load_chorales

    # the chorales the model was trained from (the same cache entry, the same duplicates left out)
    ch = load_chorales(extra["step"], transpose=extra["transpose"], numbers=extra.get("numbers"), progress=progress)
    index = {n: i for i, n in enumerate(ch.numbers)}
    missing = [n for part in ("train", split) for n in extra["split"][part] if n not in index]
    if missing:
        raise ValueError(f"{model_dir}: chorales {missing[:5]} of the model's split are not in this music21's "
                         f"corpus ({_m21_version()}; the model was trained with {extra.get('music21')})")
    tr = [ch.roll(index[n]) for n in extra["split"]["train"]]
    held = [ch.roll(index[n]) for n in extra["split"][split]]
    marginal = PitchMarginal.fit(tr)
    ngram = ChordNGram.fit(tr, extra["ngram"]["order"], float(extra["ngram"]["beta"]), marginal)
    rows = {"model": {"name": model_name(model.config), split: rnn_scores(model, held)},
            "baseline_rnn": {"name": model_name(rnn.config), split: rnn_scores(rnn, held)},
            "marginal": {"name": "per-pitch marginal (add-1/2)", split: baseline_scores(marginal, held)},
            "ngram": {"name": f"chord {ngram.order}-gram (beta={ngram.beta:g})", split: baseline_scores(ngram, held)}}
    return {"task": "chorales", "split": split, "chorales": len(held), "models": rows, "published": PUBLISHED_JSB,
            "seconds": time.perf_counter() - started}


def _output_paths(out: str | os.PathLike, overwrite: bool) -> dict[str, Path]:
    base = Path(out)
    if base.suffix.lower() in (".mid", ".midi", ".musicxml", ".xml", ".png"):
        base = base.with_suffix("")
    paths = {"midi": base.with_name(base.name + ".mid"), "musicxml": base.with_name(base.name + ".musicxml"),
             "png": base.with_name(base.name + ".png")}
    for p in paths.values():
        check_output_file(p, overwrite, "--out")
    return paths


def generate_music(model_dir: str | os.PathLike, out: str | os.PathLike, *, length: int | None = None,
                   temperature: float = 1.0, seed: int = 0, prime: int | None = None, chorale: int | None = None,
                   baseline: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    """Sample a piece from a model directory and write ``OUT.mid``, ``OUT.musicxml`` (through
    music21) and ``OUT.png`` (the piano roll). An existing file is replaced only with
    ``overwrite``; nothing is written if any of the three is refused.

    Args:
        length: frames to generate (default: 128 for chorales, 4 choruses for the blues).
        prime: frames of held-out music given first (default: 16 of a test chorale; one
            chorus of a held-out blues piece); they start the written piece.
        chorale: the Riemenschneider number of the chorale that primes (default: the
            model's first test chorale).
        baseline: sample from the recurrent baseline instead of the model.

    Returns:
        what was written, and for the blues the structure score of the generated part.
    """
    from ..data.chorales import roll_to_stream

    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"--temperature must be a finite number >= 0 (0: greedy), got {temperature!r}")
    for name, v in (("--length", length), ("--prime", prime)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"{name} must be a whole number >= 0, got {v!r}")
    paths = _output_paths(out, overwrite)
    model, rnn, extra = load_music_model(model_dir)
    net = rnn if baseline else model
    step = float(extra["step"])
    if extra["task"] == "blues":
        from ..tasks.blues import CHORUS, score_structure

        if chorale is not None:
            raise ValueError("--chorale is for chorale models; this is a blues model")
        length = 4 * CHORUS if length is None else length
        prime = CHORUS if prime is None else prime
        given = _blues_pieces("test", 1, max(1, math.ceil(prime / CHORUS)))[0][:prime]
    else:
        from ..data.chorales import load_chorales

        length = 128 if length is None else length
        prime = 16 if prime is None else prime
        number = extra["split"]["test"][0] if chorale is None else chorale
        ch = load_chorales(step, transpose=extra["transpose"], numbers=[number], progress=False)
        if not len(ch):
            raise ValueError(f"--chorale {number} is not a four-part chorale ({ch.dropped.get(str(number), '')})")
        given = ch.roll(0)[:prime]
    if len(given) + length == 0:
        raise ValueError("--length and --prime are both 0: nothing to write")
    g = torch.Generator().manual_seed(seed)
    bar = progress_bar(length, "generating", "frame", enabled=progress)
    try:
        new = net.sample(length, prime=torch.as_tensor(given) if len(given) else None, temperature=temperature,
                         generator=g, on_step=bar.update if bar is not None else None).numpy()
    finally:
        if bar is not None:
            bar.close()
    piece = np.concatenate([given, new]) if len(given) else new
    info = {"task": extra["task"], "frames": int(len(piece)), "prime_frames": int(len(given)),
            "generated_frames": int(length), "temperature": temperature, "seed": seed,
            "model": model_name(net.config), "files": {k: str(v) for k, v in paths.items()}}
    if extra["task"] == "blues" and length >= 8:
        info["structure"] = score_structure(new, start_bar=(len(given) // 8) % 12).as_dict()
    score = roll_to_stream(piece, step, pitches=extra["pitches"])
    from ..viz.pianoroll import piano_roll_png

    title = f"{info['model']}: {len(given)} frames given, {length} generated (temperature {temperature:g}, seed {seed})"
    blobs = {"png": piano_roll_png(piece, extra["pitches"], step, title=title, prime=len(given))}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, ext in (("midi", "mid"), ("musicxml", "musicxml")):
            p = Path(tmp) / f"piece.{ext}"
            score.write(fmt, fp=str(p))
            blobs[fmt] = p.read_bytes()
    for k, p in paths.items():
        atomic_write_bytes(p, blobs[k])
    return info
