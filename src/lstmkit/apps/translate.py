"""Translation: an encoder–decoder LSTM (:class:`lstmkit.models.Seq2Seq`) trained on the
verse-aligned English–Spanish Bible (:mod:`lstmkit.data.bible`), either direction, scored
with sacrebleu's BLEU and chrF beside two baselines in the same run (nltk's IBM Model 1
with a greedy word decoder, and copying the source).

Pipeline: sentencepiece vocabularies learnt on each side's training verses
(:class:`lstmkit.data.subword.SubwordTokenizer`) -> training pairs up to ``max_len`` pieces
a side -> lengths-aware batches (:func:`lstmkit.models.seq2seq.length_batches`: at most
``batch_tokens`` source pieces each, shuffled per epoch) -> teacher forcing by the one
loop (:class:`lstmkit.train.loop.Loop` with an :class:`~lstmkit.train.feeds.EpochFeed`
over the batches; Adam, clipping, a cosine learning rate, checkpoints a killed run resumes
from) -> after every epoch the per-token validation loss; the best weights are kept ->
beam search with length normalisation on the held-out books.

A model directory holds config.json + model.safetensors (the network), ``source.spm`` and
``target.spm`` (the two sentencepiece models), report.json and attention.png (the attention
of one test verse, with attention); all written at once through :mod:`lstmkit.io`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..data.bible import TEST_BOOKS, VALIDATION_BOOKS, bible_split, load_bible_pairs
from ..data.subword import MODEL_TYPES, SubwordTokenizer
from ..io import LstmkitFileError
from ..metrics import bleu, chrf
from ..models import load_model, save_model
from ..models.seq2seq import Seq2Seq, length_batches, pad_batch
from ..models.translation_baselines import IBMWordBaseline, copy_source
from ..train.feeds import EpochFeed
from ..train.loop import Loop, Progress, cosine_factor
from .runfiles import run_dir_scope, training_outputs

__all__ = ["DIRECTIONS", "PRETRAINED", "Prepared", "prepare", "fit_seq2seq", "score_translations",
           "train_translator", "evaluate_translator", "translate_texts", "attention_heatmap",
           "load_translator", "run_translation_experiment", "LENGTH_BUCKETS"]

DIRECTIONS = ("es-en", "en-es")
LANGUAGE = {"en": "English (World English Bible)", "es": "Spanish (Reina-Valera 1909)"}
PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained" / "translate-es-en"
"""The small model that ships with the package (Spanish -> English); rebuilt by the command
in docs/translation.md with ``--overwrite-shipped``."""
DEFAULT_MODEL_DIR = "runs/translate/model"
#: source-length buckets (words of the source verse) for BLEU by length (Bahdanau 2015, Fig. 2)
LENGTH_BUCKETS = ((1, 10), (11, 20), (21, 30), (31, 40), (41, 50), (51, 10_000))
_SRC_FILE, _TGT_FILE = "source.spm", "target.spm"


def _check_direction(direction: str) -> tuple[str, str]:
    if direction not in DIRECTIONS:
        raise ValueError(f"--direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    src, tgt = direction.split("-")
    return src, tgt


@dataclass
class Prepared:
    """Everything a training and its evaluation share: the texts, the split, the two
    tokenizers and every sentence's piece ids."""

    direction: str
    src_texts: list[str]
    tgt_texts: list[str]
    refs: list[str]
    split: tuple[list[int], list[int], list[int]]
    src_tok: SubwordTokenizer
    tgt_tok: SubwordTokenizer
    src_ids: list[list[int]]
    tgt_ids: list[list[int]]
    source: str
    settings: dict = field(default_factory=dict)

    @property
    def train_pairs(self) -> list[int]:
        """Training pairs within the length limit (``settings['max_len']`` pieces a side)."""
        n = self.settings["max_len"]
        return [i for i in self.split[0] if 1 <= len(self.src_ids[i]) <= n and 1 <= len(self.tgt_ids[i]) <= n]


def prepare(direction: str = "es-en", *, pairs: Sequence[dict] | None = None, split=None, vocab_size: int = 2000,
            tokenizer: str = "unigram", max_len: int = 60, limit: int | None = None, source: str | None = None
            ) -> Prepared:
    """Load the Bible pairs (or take ``pairs``: dicts with ``"en"`` and ``"es"``, and a
    ``split`` of index lists), learn the two vocabularies on the training side, encode.

    Args:
        direction: ``"es-en"`` (Spanish source) or ``"en-es"``.
        vocab_size: pieces of each side's sentencepiece model. tokenizer: its model type
            (``"unigram"``, ``"bpe"``, ``"char"``).
        max_len: training pairs longer than this many pieces on either side are left out
            (held-out pairs are all kept).
        limit: keep only the first ``limit`` training pairs and ``limit // 10`` of each
            held-out split (quick runs, tests).
    """
    s, t = _check_direction(direction)
    if tokenizer not in MODEL_TYPES:
        raise ValueError(f"--tokenizer must be one of {', '.join(MODEL_TYPES)}, got {tokenizer!r}")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 2:
        raise ValueError(f"--max-len must be a whole number >= 2, got {max_len!r}")
    if pairs is None:
        pairs = load_bible_pairs()
        split = bible_split(pairs)
        source = source or (f"Bible, {LANGUAGE[s]} -> {LANGUAGE[t]}; held out: validation "
                            f"{', '.join(VALIDATION_BOOKS)}; test {', '.join(TEST_BOOKS)}")
    elif split is None:
        raise ValueError("pairs given without a split (train, validation, test index lists)")
    split = tuple(list(x) for x in split)
    if limit is not None:
        split = (split[0][:limit], split[1][: max(1, limit // 10)], split[2][: max(1, limit // 10)])
    if not split[0]:
        raise ValueError("no training pairs")
    src_texts = [p[s] for p in pairs]
    tgt_texts = [p[t] for p in pairs]
    src_tok = SubwordTokenizer.train([src_texts[i] for i in split[0]], vocab_size, tokenizer)
    tgt_tok = SubwordTokenizer.train([tgt_texts[i] for i in split[0]], vocab_size, tokenizer)
    used = sorted(set().union(*map(set, split)))
    src_ids: list[list[int]] = [[] for _ in pairs]
    tgt_ids: list[list[int]] = [[] for _ in pairs]
    for i in used:
        src_ids[i], tgt_ids[i] = src_tok.encode(src_texts[i]), tgt_tok.encode(tgt_texts[i])
    return Prepared(direction, src_texts, tgt_texts, tgt_texts, split, src_tok, tgt_tok, src_ids, tgt_ids,
                    source or "user pairs",
                    {"vocab_size": vocab_size, "tokenizer": tokenizer, "max_len": max_len, "limit": limit})


def _batch(prep: Prepared, rows: Sequence[int], pad: int = 0):
    src, n = pad_batch([prep.src_ids[i] or [SubwordTokenizer.UNK] for i in rows], pad)
    tgt, _ = pad_batch([prep.tgt_ids[i] for i in rows], pad, eos=SubwordTokenizer.EOS)
    return src, n, tgt


@torch.no_grad()
def validation_loss(model: Seq2Seq, prep: Prepared, rows: Sequence[int], batch_tokens: int = 4000) -> float:
    """Mean cross-entropy per target piece (nats) of teacher-forced ``rows``."""
    total, count = 0.0, 0
    was = model.training
    model.eval()
    for b in length_batches([len(prep.src_ids[i]) for i in rows], batch_tokens, seed=0):
        src, n, tgt = _batch(prep, [rows[k] for k in b])
        k = int((tgt != 0).sum())
        total += float(model.loss(src, n, tgt)) * k
        count += k
    model.train(was)
    return total / max(count, 1)


def fit_seq2seq(model: Seq2Seq, prep: Prepared, *, epochs: int = 10, minutes: float | None = None,
                updates: int | None = None,
                batch_tokens: int = 2000, lr: float = 2e-3, clip: float = 1.0, seed: int = 0,
                run_dir: str | os.PathLike | None = None, resume: bool = False, progress: bool = True,
                desc: str = "translate", checkpoint_every: int = 50) -> dict:
    """Teacher-forced training of ``model`` on ``prep``'s training pairs (see the module
    docstring); stops after ``epochs``, ``updates`` or ``minutes`` of training, whichever
    comes first (the learning rate follows a cosine from ``lr`` to ``lr / 10`` over whichever
    is further along; ``updates`` makes a run the same on any machine, ``minutes`` does not). The model is left with the weights of the best validation loss (the epochs'
    ends and the last update are the candidates)."""
    rows = prep.train_pairs
    if not rows:
        raise ValueError(f"no training pair is within --max-len {prep.settings['max_len']} pieces a side")
    batches = length_batches([len(prep.src_ids[i]) for i in rows], batch_tokens, seed=seed)
    batches = [[rows[k] for k in b] for b in batches]
    val = list(prep.split[1])

    def loss_fn(m, idx):
        src, n, tgt = _batch(prep, batches[idx[0]])
        return m.loss(src, n, tgt)

    evaluate = (lambda m: -validation_loss(m, prep, val)) if val else None
    feed = EpochFeed(loss_fn, len(batches), epochs=epochs, batch_size=1, seed=seed, evaluate=evaluate)
    total = epochs * len(batches) if updates is None else min(updates, epochs * len(batches))
    budget = minutes * 60 if minutes else math.inf
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    cpu0 = time.process_time()
    loop = Loop(model, opt, feed, seed=seed, clip_norm=clip,
                schedule=lambda lp: lr * cosine_factor(max(lp.update / total, lp.elapsed / budget)),
                max_updates=total, max_seconds=budget if minutes else None, run_dir=run_dir, checkpoint_every=checkpoint_every,
                progress=Progress(desc, "batch", total) if progress else None, nonfinite="lower --lr").run(resume=resume)
    last_score = evaluate(model.eval()) if evaluate else None
    chosen = "last update"
    if feed.best_state is not None and last_score is not None and feed.best_score > last_score:
        model.load_state_dict(feed.best_state)
        chosen = f"epoch {feed.best_epoch}"
    model.eval()
    return {"updates": loop.update, "epochs_done": feed.epoch, "batches_per_epoch": len(batches),
            "train_pairs": len(rows), "seconds": loop.elapsed, "cpu_seconds_this_session": time.process_time() - cpu0,
            "stopped_by": {"time budget": "minutes", "update budget": "updates"}.get(loop.stop_reason,
                                                                                     loop.stop_reason),
            "history": feed.history, "kept": chosen,
            "val_loss": None if last_score is None else -max(last_score, feed.best_score), "seed": seed}


@torch.no_grad()
def decode(model: Seq2Seq, src_tok: SubwordTokenizer, tgt_tok: SubwordTokenizer, texts: Sequence[str], *,
           beam: int = 5, alpha: float = 0.6, max_len: int | None = None, batch: int = 64,
           progress: bool = False, desc: str = "decode") -> list[str]:
    """Translate ``texts`` (beam search, or greedy in batches when ``beam == 1``)."""
    from ..progress import progress_bar

    ids = [src_tok.encode(t) or [SubwordTokenizer.UNK] for t in texts]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: list[str] = [""] * len(ids)
    bar = progress_bar(len(ids), desc, "sent", enabled=progress)
    for k in range(0, len(order), batch if beam == 1 else 16):
        rows = order[k : k + (batch if beam == 1 else 16)]
        src, n = pad_batch([ids[i] for i in rows])
        limit = max_len or int(2 * int(n.max()) + 10)
        hyps = model.greedy(src, n, max_len=limit) if beam == 1 else model.beam_search(src, n, beam=beam, alpha=alpha,
                                                                                         max_len=limit)
        for i, h in zip(rows, hyps):
            out[i] = tgt_tok.decode(h)
        if bar:
            bar.update(len(rows))
    if bar:
        bar.close()
    return out


def _words(text: str) -> int:
    return len(text.split())


def score_translations(hyps: Sequence[str], refs: Sequence[str], sources: Sequence[str]) -> dict:
    """BLEU and chrF (sacrebleu, with signatures) over all sentences and BLEU per
    source-length bucket (:data:`LENGTH_BUCKETS`, words of the source)."""
    b, c = bleu(hyps, refs), chrf(hyps, refs)
    buckets = []
    for lo, hi in LENGTH_BUCKETS:
        rows = [i for i, s in enumerate(sources) if lo <= _words(s) <= hi]
        if rows:
            buckets.append({"words": f"{lo}-{hi}" if hi < 10_000 else f"{lo}+", "sentences": len(rows),
                            "bleu": bleu([hyps[i] for i in rows], [refs[i] for i in rows])["score"]})
    return {"bleu": b["score"], "chrf": c["score"], "bleu_signature": b["signature"],
            "chrf_signature": c["signature"], "bleu_detail": b, "by_source_length": buckets}


def _baselines(prep: Prepared, rows: Sequence[int], ibm_pairs: int, ibm_iterations: int, progress: bool) -> dict:
    srcs = [prep.src_texts[i] for i in rows]
    refs = [prep.refs[i] for i in rows]
    out = {"copy the source": {"name": "copy the source", **score_translations(copy_source(srcs), refs, srcs)}}
    if ibm_pairs:
        t0 = time.perf_counter()
        train = [i for i in prep.split[0] if _words(prep.src_texts[i]) <= 40 and _words(prep.tgt_texts[i]) <= 40]
        ibm = IBMWordBaseline.fit([(prep.src_texts[i], prep.tgt_texts[i]) for i in train[:ibm_pairs]],
                                  iterations=ibm_iterations)
        hyps = ibm.translate_all(srcs)
        out["ibm1"] = {"name": ibm.name, **score_translations(hyps, refs, srcs),
                       "seconds": time.perf_counter() - t0, "examples": hyps[:3]}
    return out


def _model_kwargs(**kw) -> dict:
    kw["attention"] = None if kw.get("attention") in (None, "none") else kw["attention"]
    return kw


def _heatmap_example(model: Seq2Seq, prep: Prepared, rows: Sequence[int]) -> tuple[bytes, dict] | None:
    if model.attention is None or not rows:
        return None
    # a test verse of middling length: readable and long enough to show the alignment
    pick = min(rows, key=lambda i: abs(len(prep.src_ids[i]) - 14))
    try:
        png, hyp = attention_heatmap(model, prep.src_tok, prep.tgt_tok, prep.src_texts[pick])
    except ImportError:
        return None
    return png, {"source": prep.src_texts[pick], "translation": hyp, "reference": prep.refs[pick]}


#: How ``train_translator(weights=...)`` stores the weights (None: as trained, float32).
WEIGHT_DTYPES = {"float32": None, "float16": torch.float16}


def train_translator(*, model_dir: str | os.PathLike | None = DEFAULT_MODEL_DIR, direction: str = "es-en",
                     pairs: Sequence[dict] | None = None, split=None, vocab_size: int = 2000,
                     tokenizer: str = "unigram", max_len: int = 60, limit: int | None = None,
                     embedding_dim: int = 128, hidden_size: int = 256, num_layers: int = 1, encoder: str = "lstm",
                     decoder: str = "lstm", attention: str | None = "luong", bidirectional_encoder: bool = False,
                     reverse_source: bool = False, dropout: float = 0.1, epochs: int = 10,
                     minutes: float | None = None, updates: int | None = None, batch_tokens: int = 2000, lr: float = 2e-3, seed: int = 0,
                     beam: int = 5, alpha: float = 0.6, eval_limit: int | None = None, ibm_pairs: int = 10000,
                     ibm_iterations: int = 5, resume: bool = False, progress: bool = True,
                     overwrite_shipped: bool = False, weights: str = "float32") -> dict:
    """Train a translation model and score it on the test books beside the baselines;
    write ``model_dir`` (checkpoints go to ``<model_dir>.checkpoints``, removed once the
    model is written; ``resume`` continues a killed run from them). ``weights="float16"``
    stores the weights in half precision (half the file; they load back as float32).

    Returns:
        the report (JSON-ready): test BLEU/chrF of the model (beam ``beam``, length
        normalisation ``alpha``) and of greedy decoding, BLEU by source length, the
        baselines' scores, the config, the training history.
    """
    if weights not in WEIGHT_DTYPES:
        raise ValueError(f"weights must be one of {sorted(WEIGHT_DTYPES)}, got {weights!r}")
    started = time.perf_counter()
    torch.manual_seed(seed)
    run_dir = None if model_dir is None else Path(model_dir).with_name(Path(model_dir).name + ".checkpoints")
    import contextlib

    guard = training_outputs(model_dir, overwrite_shipped=overwrite_shipped) if model_dir is not None \
        else contextlib.nullcontext()
    with guard, run_dir_scope(run_dir, what="checkpoint folder") as run_dir:
        prep = prepare(direction, pairs=pairs, split=split, vocab_size=vocab_size, tokenizer=tokenizer,
                       max_len=max_len, limit=limit)
        model = Seq2Seq(len(prep.src_tok), len(prep.tgt_tok), **_model_kwargs(
            embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=num_layers, encoder=encoder,
            decoder=decoder, attention=attention, bidirectional_encoder=bidirectional_encoder,
            reverse_source=reverse_source, dropout=dropout))
        fit = fit_seq2seq(model, prep, epochs=epochs, minutes=minutes, updates=updates, batch_tokens=batch_tokens,
                          lr=lr, seed=seed, run_dir=run_dir, resume=resume, progress=progress)
        report = _evaluate(model, prep, beam=beam, alpha=alpha, eval_limit=eval_limit, ibm_pairs=ibm_pairs,
                           ibm_iterations=ibm_iterations, progress=progress)
        report.update({"task": f"translation {direction}", "source": prep.source,
                       "config": {**model.config, **prep.settings, "epochs": epochs, "minutes": minutes,
                                  "updates": updates,
                                  "batch_tokens": batch_tokens, "lr": lr, "seed": seed, "beam": beam, "alpha": alpha,
                                  "weights": weights},
                       "fit": fit, "threads": torch.get_num_threads(), "seconds": time.perf_counter() - started,
                       "parameters": sum(p.numel() for p in model.parameters())})
        if model_dir is not None:
            files = {_SRC_FILE: prep.src_tok.to_bytes(), _TGT_FILE: prep.tgt_tok.to_bytes()}
            example = _heatmap_example(model, prep, prep.split[2])
            if example is not None:
                files["attention.png"] = example[0]
                report["attention_example"] = example[1]
            files["report.json"] = json.dumps(report, indent=2, ensure_ascii=False)
            save_model(model, model_dir, extra={"direction": direction, "source": prep.source,
                                                "tokenizers": {"source": _SRC_FILE, "target": _TGT_FILE},
                                                "settings": prep.settings}, files=files,
                       weights_dtype=WEIGHT_DTYPES[weights])
            report["model_dir"] = str(model_dir)
        return report


def _evaluate(model: Seq2Seq, prep: Prepared, *, beam: int, alpha: float, eval_limit: int | None, ibm_pairs: int,
              ibm_iterations: int, progress: bool, split_index: int = 2) -> dict:
    rows = list(prep.split[split_index])[:eval_limit]
    srcs, refs = [prep.src_texts[i] for i in rows], [prep.refs[i] for i in rows]
    t0 = time.perf_counter()
    greedy = decode(model, prep.src_tok, prep.tgt_tok, srcs, beam=1)
    t1 = time.perf_counter()
    beamed = decode(model, prep.src_tok, prep.tgt_tok, srcs, beam=beam, alpha=alpha, progress=progress,
                    desc=f"beam {beam}") if beam > 1 else greedy
    t2 = time.perf_counter()
    return {"split": ("train", "validation", "test")[split_index], "sentences": len(rows),
            "model": {**score_translations(beamed, refs, srcs), "decoder": f"beam {beam}, alpha {alpha}",
                      "seconds": t2 - t1, "examples": [{"source": s, "translation": h, "reference": r}
                                                       for s, h, r in list(zip(srcs, beamed, refs))[:5]]},
            "model_greedy": {**score_translations(greedy, refs, srcs), "seconds": t1 - t0},
            "baselines": _baselines(prep, rows, ibm_pairs, ibm_iterations, progress)}


# ==== using a model directory =============================================================

def load_translator(model_dir: str | os.PathLike) -> tuple[Seq2Seq, SubwordTokenizer, SubwordTokenizer, dict]:
    """The model, the source and target tokenizers and the ``extra`` of a model directory
    written by :func:`train_translator`, checked (one line naming the file on any problem)."""
    d = Path(model_dir)
    model, extra = load_model(Seq2Seq, d)
    where = d / "config.json"
    if extra.get("direction") not in DIRECTIONS:
        raise LstmkitFileError(f"{where}: extra.direction must be one of {', '.join(DIRECTIONS)}, "
                               f"not {extra.get('direction')!r}")
    toks = []
    for side, name, n in (("source", _SRC_FILE, model.config["source_vocab_size"]),
                          ("target", _TGT_FILE, model.config["target_vocab_size"])):
        try:
            tok = SubwordTokenizer.from_bytes((d / name).read_bytes())
        except FileNotFoundError:
            raise FileNotFoundError(f"{d / name}: missing (the {side} tokenizer of the model)") from None
        except ValueError as e:
            raise LstmkitFileError(f"{d / name}: {e}") from None
        if len(tok) != n:
            raise LstmkitFileError(f"{d / name}: {len(tok)} pieces, but the model's {side}_vocab_size is {n}")
        toks.append(tok)
    return model, toks[0], toks[1], extra


def translate_texts(model_dir: str | os.PathLike, texts: Sequence[str], beam: int = 5, alpha: float = 0.6,
                    max_len: int | None = None, progress: bool = False) -> list[str]:
    """Translate ``texts`` with a model directory (beam search; ``beam=1``: greedy)."""
    model, src_tok, tgt_tok, _ = load_translator(model_dir)
    texts = [str(t) for t in texts]
    out = [""] * len(texts)
    keep = [i for i, t in enumerate(texts) if t.strip()]  # empty lines translate to empty lines
    for i, h in zip(keep, decode(model, src_tok, tgt_tok, [texts[i] for i in keep], beam=beam, alpha=alpha,
                                 max_len=max_len, progress=progress)):
        out[i] = h
    return out


def attention_heatmap(model: Seq2Seq, src_tok: SubwordTokenizer, tgt_tok: SubwordTokenizer, sentence: str,
                      beam: int = 5, alpha: float = 0.6) -> tuple[bytes, str]:
    """The attention weights of one translated sentence as a PNG (rows: output pieces,
    columns: source pieces) and the translation."""
    from ..viz.attention import attention_png

    if model.attention is None:
        raise ValueError("this model has no attention (trained with --attention none): no heat map to draw")
    ids = src_tok.encode(sentence)
    if not ids:
        raise ValueError("--sentence is empty; give a sentence to translate")
    src, n = pad_batch([ids])
    hyps, attns = model.beam_search(src, n, beam=beam, alpha=alpha, return_attention=True)
    hyp = hyps[0]
    weights = attns[0]
    rows = [tgt_tok.id_to_piece(i) for i in hyp] + ["</s>"]
    cols = [src_tok.id_to_piece(i) for i in ids]
    text = tgt_tok.decode(hyp)
    return attention_png(weights.numpy()[: len(rows)], cols, rows[: weights.shape[0]],
                         title=f"{model.attention} attention"), text


# ==== evaluation of a model directory =====================================================

def evaluate_translator(model_dir: str | os.PathLike, *, split: str = "test", beam: int = 5, alpha: float = 0.6,
                        limit: int | None = None, ibm_pairs: int = 10000, ibm_iterations: int = 5,
                        sources: Sequence[str] | None = None, references: Sequence[str] | None = None,
                        progress: bool = True) -> dict:
    """Score a model directory on the Bible's held-out books (``split``: ``"test"`` or
    ``"validation"``) beside the baselines, or on the user's ``sources`` and
    ``references`` (one sentence each; the IBM baseline needs training pairs, so only the
    copy baseline is run on them)."""
    if split not in ("test", "validation"):
        raise ValueError(f"--split must be test or validation, got {split!r}")
    model, src_tok, tgt_tok, extra = load_translator(model_dir)
    direction = extra["direction"]
    started = time.perf_counter()
    if sources is not None:
        if references is None or len(sources) != len(references):
            raise ValueError(f"--source and --reference must have as many lines, got {len(sources)} and "
                             f"{0 if references is None else len(references)}")
        hyps = decode(model, src_tok, tgt_tok, sources, beam=beam, alpha=alpha, progress=progress)
        srcs, refs = list(sources), list(references)
        base = {"copy the source": {"name": "copy the source", **score_translations(copy_source(srcs), refs, srcs)}}
        what = "user files"
    else:
        s, t = _check_direction(direction)
        pairs = load_bible_pairs()
        tr, va, te = bible_split(pairs)
        rows = (te if split == "test" else va)[:limit]
        srcs, refs = [pairs[i][s] for i in rows], [pairs[i][t] for i in rows]
        hyps = decode(model, src_tok, tgt_tok, srcs, beam=beam, alpha=alpha, progress=progress)
        prep = Prepared(direction, [p[s] for p in pairs], [p[t] for p in pairs], [p[t] for p in pairs],
                        (tr, va, te), src_tok, tgt_tok, [], [], extra.get("source", ""))
        base = _baselines(prep, rows, ibm_pairs, ibm_iterations, progress)
        what = f"Bible {split} books ({', '.join(TEST_BOOKS if split == 'test' else VALIDATION_BOOKS)})"
    return {"model_dir": str(model_dir), "direction": direction, "data": what, "sentences": len(srcs),
            "model": {**score_translations(hyps, refs, srcs), "decoder": f"beam {beam}, alpha {alpha}",
                      "examples": [{"source": a, "translation": h, "reference": r}
                                   for a, h, r in list(zip(srcs, hyps, refs))[:5]]},
            "baselines": base, "seconds": time.perf_counter() - started, "threads": torch.get_num_threads()}


# ==== the experiments =====================================================================

#: the models compared by :func:`run_translation_experiment`: name -> Seq2Seq options (plain: the
#: 2014 encoder-decoder; reversed: the same reading each source backwards; luong, bahdanau:
#: attention, the source read forwards)
EXPERIMENT_MODELS = {
    "plain": {"attention": None, "reverse_source": False},
    "reversed": {"attention": None, "reverse_source": True},
    "luong": {"attention": "luong", "reverse_source": False},
    "bahdanau": {"attention": "bahdanau", "reverse_source": False},
}


def run_translation_experiment(out_dir: str | os.PathLike, *, direction: str = "es-en",
                               minutes: float | None = None, updates: int | None = 400, epochs: int = 50, vocab_size: int = 2000, max_len: int = 60,
                               embedding_dim: int = 128, hidden_size: int = 256, batch_tokens: int = 2000,
                               lr: float = 2e-3, dropout: float = 0.1, beam: int = 5, alpha: float = 0.6,
                               seed: int = 0, limit: int | None = None, eval_limit: int | None = None,
                               models: Sequence[str] | None = None, ibm_pairs: int = 10000, progress: bool = True
                               ) -> dict:
    """Source reversal (Sutskever 2014) and attention by source length (Bahdanau 2015) in
    one run: the models of :data:`EXPERIMENT_MODELS` on the same vocabularies, batches and
    training budget (``updates`` each, cut short at ``minutes`` each if given), scored on the same test verses, BLEU by source
    length beside the baselines. Writes ``out_dir/result.json`` (an lstmkit run folder)."""
    from .runfiles import write_run_result

    started = time.perf_counter()
    names = list(models or EXPERIMENT_MODELS)
    for n in names:
        if n not in EXPERIMENT_MODELS:
            raise ValueError(f"unknown experiment model {n!r}; expected one of {', '.join(EXPERIMENT_MODELS)}")
    with run_dir_scope(out_dir, what="--out folder", release=False) as out:
        prep = prepare(direction, vocab_size=vocab_size, max_len=max_len, limit=limit)
        rows = list(prep.split[2])[:eval_limit]
        srcs, refs = [prep.src_texts[i] for i in rows], [prep.refs[i] for i in rows]
        results = {}
        for k, name in enumerate(names):
            torch.manual_seed(seed)
            model = Seq2Seq(len(prep.src_tok), len(prep.tgt_tok), embedding_dim=embedding_dim,
                            hidden_size=hidden_size, dropout=dropout, **EXPERIMENT_MODELS[name])
            fit = fit_seq2seq(model, prep, epochs=epochs, minutes=minutes, updates=updates, batch_tokens=batch_tokens,
                              lr=lr, seed=seed, progress=progress, desc=name)
            t0 = time.perf_counter()
            hyps = decode(model, prep.src_tok, prep.tgt_tok, srcs, beam=beam, alpha=alpha, progress=progress,
                          desc=f"{name}: beam {beam}")
            results[name] = {**score_translations(hyps, refs, srcs), "fit": fit, "config": model.config,
                             "decode_seconds": time.perf_counter() - t0, "examples": hyps[:3]}
        base = _baselines(prep, rows, ibm_pairs, 5, progress)
        result = {"experiment": "translation: source reversal and attention by source length",
                  "direction": direction, "source": prep.source, "test_sentences": len(rows),
                  "settings": {**prep.settings, "minutes_each": minutes, "updates_each": updates, "epochs": epochs,
                               "embedding_dim": embedding_dim, "hidden_size": hidden_size,
                               "batch_tokens": batch_tokens, "lr": lr, "dropout": dropout, "beam": beam,
                               "alpha": alpha, "seed": seed},
                  "models": results, "baselines": base, "seconds": time.perf_counter() - started,
                  "threads": torch.get_num_threads()}
        if out is not None:
            write_run_result(out, result)
        return result
