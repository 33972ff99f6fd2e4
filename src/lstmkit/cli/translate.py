"""``lstmkit translate``: encoder–decoder LSTMs on the English–Spanish Bible.

- ``lstmkit translate train [--direction es-en] [--attention luong|bahdanau|none]
  [--reverse-source] [--minutes M] [--model DIR]``: train, then BLEU/chrF on the test books
  beside the IBM Model 1 and copy baselines (report.json, attention.png in DIR).
- ``lstmkit translate translate [--model DIR] (--text "..." | FILE) [--out FILE]
  [--heatmap PNG]``: translate the user's sentences (one per line of FILE); the shipped
  Spanish -> English model by default.
- ``lstmkit translate evaluate [--model DIR] [--split test|validation] [--source FILE
  --reference FILE]``: scores with sacrebleu's signatures, baselines beside them.
- ``lstmkit translate experiment --out DIR [--minutes M]``: source reversal and attention
  by source length, every model on the same data and budget, in one run.
"""

from __future__ import annotations

import argparse
import sys

from .options import apply_threads


def _attention(text: str) -> str | None:
    if text not in ("none", "luong", "bahdanau"):
        raise argparse.ArgumentTypeError(f"expected none, luong or bahdanau, got {text!r}")
    return None if text == "none" else text


def _print_scores(r: dict, baselines: dict) -> None:
    m = r["model"]
    print(f"  {'system':58s}{'BLEU':>7s}{'chrF':>7s}")
    print(f"  {'LSTM encoder-decoder, ' + m.get('decoder', ''):58s}{m['bleu']:7.2f}{m['chrf']:7.2f}")
    if "model_greedy" in r:
        print(f"  {'LSTM encoder-decoder, greedy':58s}{r['model_greedy']['bleu']:7.2f}{r['model_greedy']['chrf']:7.2f}")
    for b in baselines.values():
        print(f"  {b['name'][:58]:58s}{b['bleu']:7.2f}{b['chrf']:7.2f}")
    print(f"  BLEU signature: {m['bleu_signature']}\n  chrF signature: {m['chrf_signature']}")
    print("  BLEU by source length (words): " + ", ".join(f"{b['words']}: {b['bleu']:.1f} ({b['sentences']})"
                                                       for b in m["by_source_length"]))
    for e in m.get("examples", [])[:2]:
        print(f"\n  source:      {e['source']}\n  translation: {e['translation']}\n  reference:   {e['reference']}")


def _train(args) -> int:
    from ..apps.translate import train_translator

    apply_threads(args)
    r = train_translator(model_dir=args.model, direction=args.direction, vocab_size=args.vocab_size,
                         tokenizer=args.tokenizer, max_len=args.max_len, limit=args.limit,
                         embedding_dim=args.embedding_dim, hidden_size=args.hidden_size, num_layers=args.layers,
                         encoder=args.encoder, decoder=args.decoder, attention=args.attention,
                         bidirectional_encoder=args.bidirectional, reverse_source=args.reverse_source,
                         dropout=args.dropout, epochs=args.epochs, minutes=args.minutes, updates=args.updates,
                         batch_tokens=args.batch_tokens, lr=args.lr, seed=args.seed, beam=args.beam,
                         alpha=args.alpha, eval_limit=args.eval_limit, ibm_pairs=args.ibm_pairs,
                         resume=args.resume, progress=not args.no_progress, overwrite_shipped=args.overwrite_shipped,
                         weights=args.weights)
    c, f = r["config"], r["fit"]
    print(f"\n{r['source']}")
    print(f"  model: {c['encoder']} encoder -> {c['decoder']} decoder, attention {c['attention'] or 'none'}, "
          f"{c['num_layers']}x{c['hidden_size']}, embedding {c['embedding_dim']}, source reversed "
          f"{'yes' if c['reverse_source'] else 'no'}; {r['parameters']:,} parameters; sentencepiece "
          f"{c['tokenizer']} {c['vocab_size']} pieces a side")
    print(f"  trained {f['updates']} updates ({f['epochs_done']} epochs of {f['batches_per_epoch']} batches, "
          f"{f['train_pairs']} pairs) in {f['seconds'] / 60:.1f} min (stopped by {f['stopped_by']}; kept "
          f"{f['kept']}), validation loss {f['val_loss'] if f['val_loss'] is None else round(f['val_loss'], 3)}")
    print(f"\n{r['split']} books, {r['sentences']} verses:")
    _print_scores(r, r["baselines"])
    print(f"\n{r['seconds'] / 60:.1f} min in all with {r['threads']} thread(s).  Model: "
          f"{r.get('model_dir', '(not saved)')}")
    if r.get("model_dir"):
        print(f"translate: lstmkit translate translate --model {r['model_dir']} --text \"...\"")
    return 0


def _read_lines(path: str) -> list[str]:
    from ..data.files import read_user_text

    return read_user_text(path, "a UTF-8 text file, one sentence per line").splitlines()


def _translate(args) -> int:
    from ..apps.runfiles import check_output_file
    from ..apps.translate import attention_heatmap, load_translator, translate_texts
    from ..io import atomic_write_bytes, atomic_write_text

    apply_threads(args)
    if (args.file is None) == (args.text is None):
        raise ValueError("give either FILE (one sentence per line) or --text \"...\"")
    if args.out:
        check_output_file(args.out, args.overwrite)
    if args.heatmap:
        check_output_file(args.heatmap, args.overwrite, option="--heatmap")
    texts = list(args.text) if args.text is not None else _read_lines(args.file)
    if args.heatmap:
        model, src_tok, tgt_tok, _ = load_translator(args.model)
        png, _ = attention_heatmap(model, src_tok, tgt_tok, texts[0], beam=args.beam, alpha=args.alpha)
        atomic_write_bytes(args.heatmap, png)
    out = translate_texts(args.model, texts, beam=args.beam, alpha=args.alpha,
                          progress=not args.no_progress and len(texts) > 20)
    if args.out:
        atomic_write_text(args.out, "".join(t + "\n" for t in out))
        print(f"{len(out)} translations written to {args.out}")
    else:
        for t in out:
            print(t)
    if args.heatmap:
        print(f"attention heat map of the first sentence: {args.heatmap}", file=sys.stderr)
    return 0


def _evaluate(args) -> int:
    from ..apps.translate import evaluate_translator

    apply_threads(args)
    if (args.source is None) != (args.reference is None):
        raise ValueError("--source and --reference go together (one sentence per line each)")
    kw = {}
    if args.source is not None:
        kw = {"sources": _read_lines(args.source), "references": _read_lines(args.reference)}
    r = evaluate_translator(args.model, split=args.split, beam=args.beam, alpha=args.alpha, limit=args.limit,
                            ibm_pairs=args.ibm_pairs, progress=not args.no_progress, **kw)
    print(f"\n{r['model_dir']} ({r['direction']}) on {r['data']}: {r['sentences']} sentences")
    _print_scores(r, r["baselines"])
    print(f"\n{r['seconds']:.0f} s with {r['threads']} thread(s)")
    return 0


def _experiment(args) -> int:
    from ..apps.translate import run_translation_experiment

    apply_threads(args)
    r = run_translation_experiment(args.out, direction=args.direction, minutes=args.minutes, updates=args.updates,
                                   epochs=args.epochs,
                                   vocab_size=args.vocab_size, max_len=args.max_len,
                                   embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
                                   batch_tokens=args.batch_tokens, lr=args.lr, seed=args.seed, beam=args.beam,
                                   limit=args.limit, eval_limit=args.eval_limit, models=args.models,
                                   ibm_pairs=args.ibm_pairs, progress=not args.no_progress)
    buckets = [b["words"] for b in next(iter(r["models"].values()))["by_source_length"]]
    st = r["settings"]
    print(f"\n{r['source']}; {r['test_sentences']} test verses; training budget each: {st['updates_each']} updates"
          + (f", {st['minutes_each']} min" if st["minutes_each"] else ""))
    print(f"  {'model':26s}{'updates':>8s}{'BLEU':>7s}{'chrF':>7s}   BLEU by source words: " + "  ".join(buckets))
    for name, m in {**r["models"], **r["baselines"]}.items():
        upd = m["fit"]["updates"] if "fit" in m else ""
        print(f"  {name[:26]:26s}{upd!s:>8s}{m['bleu']:7.2f}{m['chrf']:7.2f}   "
              + "  ".join(f"{b['bleu']:.1f}" for b in m["by_source_length"]))
    print(f"\n{r['seconds'] / 60:.1f} min.  Result: {args.out}/result.json")
    return 0


def _sizes(p, hidden: int, embedding: int, vocab: int) -> None:
    from .options import positive_int

    p.add_argument("--direction", default="es-en", choices=["es-en", "en-es"],
                   help="es-en: Spanish source, English target (default); en-es: the other way")
    p.add_argument("--vocab-size", type=positive_int, default=vocab,
                   help=f"sentencepiece pieces a side (default {vocab})")
    p.add_argument("--max-len", type=positive_int, default=60,
                   help="training pairs longer than this many pieces a side are left out (default 60)")
    p.add_argument("--hidden-size", "--hidden", dest="hidden_size", type=positive_int, default=hidden,
                   help=f"units of the encoder and of the decoder (default {hidden})")
    p.add_argument("--embedding-dim", type=positive_int, default=embedding,
                   help=f"token embedding size (default {embedding})")
    p.add_argument("--batch-tokens", type=positive_int, default=2000,
                   help="source pieces per batch, batches of similar lengths (default 2000)")
    p.add_argument("--lr", type=_positive_float(), default=2e-3, help="Adam learning rate (default 2e-3)")
    p.add_argument("--epochs", type=positive_int, default=None, help="passes over the training pairs")
    p.add_argument("--updates", type=positive_int, default=None,
                   help="stop after this many updates (the same run on any machine)")
    p.add_argument("--beam", type=positive_int, default=5, help="beam width (default 5; 1: greedy)")
    p.add_argument("--alpha", type=_nonneg_float(), default=0.6,
                   help="length normalisation ((5+|Y|)/6)^alpha, 0: none (default 0.6)")
    p.add_argument("--ibm-pairs", type=_nonneg_int(), default=10000,
                   help="training pairs for the IBM Model 1 baseline (default 10000; 0: no IBM baseline)")
    p.add_argument("--limit", type=positive_int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--eval-limit", type=positive_int, default=None,
                   help="score only the first N test verses (default: all)")


def _positive_float():
    from .options import positive_float

    return positive_float


def _nonneg_float():
    from .options import nonneg_float

    return nonneg_float


def _nonneg_int():
    from .options import nonneg_int

    return nonneg_int


def register(sub) -> None:
    from .options import comma_list, model_parent, positive_float, positive_int, probability, runtime_parent
    from ..apps.translate import DEFAULT_MODEL_DIR, EXPERIMENT_MODELS, PRETRAINED, WEIGHT_DTYPES

    p = sub.add_parser("translate", help="translation: encoder-decoder LSTMs on the English-Spanish Bible")
    s = p.add_subparsers(dest="translate_command", metavar="ACTION", required=True)

    t = s.add_parser("train", help="train a translation model and score it beside the baselines",
                     parents=[runtime_parent(), model_parent(
                         default=DEFAULT_MODEL_DIR,
                         help=f"model directory to write (default {DEFAULT_MODEL_DIR}); checkpoints go to "
                              f"DIR.checkpoints")])
    _sizes(t, 256, 128, 2000)
    t.add_argument("--tokenizer", default="unigram", choices=["unigram", "bpe", "char"],
                   help="sentencepiece model type (default unigram; char: characters)")
    t.add_argument("--layers", type=positive_int, default=1, help="stacked layers of each side (default 1)")
    t.add_argument("--encoder", default="lstm", help="encoder family or LSTM variant (default lstm)")
    t.add_argument("--decoder", default="lstm", help="decoder family or LSTM variant (default lstm)")
    t.add_argument("--attention", type=_attention, default="luong",
                   help="luong (multiplicative, default), bahdanau (additive) or none (Sutskever 2014)")
    t.add_argument("--bidirectional", action="store_true", help="a bidirectional encoder")
    t.add_argument("--reverse-source", action="store_true", help="reverse each source sentence (Sutskever 2014)")
    t.add_argument("--dropout", type=probability, default=0.1, help="dropout (default 0.1)")
    t.add_argument("--minutes", type=positive_float, default=None,
                   help="stop training after this many minutes (default: run every epoch)")
    t.add_argument("--resume", action="store_true", help="continue a killed run from DIR.checkpoints")
    t.add_argument("--weights", default="float32", choices=list(WEIGHT_DTYPES),
                   help="stored precision of the weights (default float32; float16 halves the file, "
                        "loads back as float32)")
    t.add_argument("--overwrite-shipped", action="store_true", help=argparse.SUPPRESS)
    t.set_defaults(func=_train, epochs=10)

    tr = s.add_parser("translate", help="translate sentences (the shipped es-en model by default)",
                      parents=[runtime_parent(seed=False), model_parent(
                          default=str(PRETRAINED), help="model directory (default: the shipped Spanish->English one)")])
    tr.add_argument("file", nargs="?", help="a UTF-8 text file, one sentence per line")
    tr.add_argument("--text", action="append", help="a sentence to translate (repeatable)")
    tr.add_argument("--out", help="write the translations here, one per line, instead of printing them")
    tr.add_argument("--heatmap", metavar="PNG", help="write the attention heat map of the first sentence")
    tr.add_argument("--overwrite", action="store_true", help="replace --out / --heatmap if they exist")
    tr.add_argument("--beam", type=positive_int, default=5, help="beam width (default 5; 1: greedy)")
    tr.add_argument("--alpha", type=_nonneg_float(), default=0.6, help="length normalisation (default 0.6)")
    tr.set_defaults(func=_translate)

    e = s.add_parser("evaluate", help="BLEU and chrF on held-out books (or your files) beside the baselines",
                     parents=[runtime_parent(seed=False), model_parent(
                         default=str(PRETRAINED), help="model directory (default: the shipped one)")])
    e.add_argument("--split", default="test", choices=["test", "validation"], help="held-out books (default test)")
    e.add_argument("--source", help="your own source sentences, one per line (with --reference)")
    e.add_argument("--reference", help="their reference translations, one per line")
    e.add_argument("--beam", type=positive_int, default=5, help="beam width (default 5; 1: greedy)")
    e.add_argument("--alpha", type=_nonneg_float(), default=0.6, help="length normalisation (default 0.6)")
    e.add_argument("--limit", type=positive_int, default=None, help="only the first N verses")
    e.add_argument("--ibm-pairs", type=_nonneg_int(), default=10000,
                   help="training pairs for the IBM Model 1 baseline (default 10000; 0: none)")
    e.set_defaults(func=_evaluate)

    x = s.add_parser("experiment", help="source reversal and attention by source length, in one run",
                     parents=[runtime_parent()])
    x.add_argument("--out", required=True, help="run folder for result.json (claimed before any work)")
    _sizes(x, 256, 128, 2000)
    x.add_argument("--minutes", type=positive_float, default=None,
                   help="also stop each model after this many minutes of training (default: no time limit)")
    x.add_argument("--models", type=comma_list, default=None,
                   help=f"comma-separated subset of: {', '.join(EXPERIMENT_MODELS)} (default: all)")
    x.set_defaults(func=_experiment, epochs=50, updates=400)
