"""``lstmkit classify``: sequence classification on your own files.

- ``lstmkit classify train FILE [--test FILE]``: FILE is a .ts (sktime/aeon), .npz
  (X + lengths + y) or long-format .csv (id, time, channels..., label); or
  ``--example japanese-vowels|watch|peptides``. Writes a model directory (config.json,
  model.safetensors, report.json, confusion.png) and prints a one-screen report.
- ``lstmkit classify predict --model DIR FILE [--out predictions.csv] [--overwrite]``: one
  row per sequence (id, predicted, a probability per class, and label when FILE has
  labels); accuracy too if FILE has labels. An existing --out is replaced only with
  ``--overwrite``.

File formats: docs/classification.md.
"""

from __future__ import annotations

from pathlib import Path


def _downsample(text: str):
    from .options import positive_int

    return "auto" if text == "auto" else positive_int(text)


def _compare_list(text: str) -> list[str]:
    import argparse

    from ..models.baselines import TSC_BASELINES
    from .options import comma_list

    names = comma_list(text)
    bad = [n for n in names if n not in TSC_BASELINES + ("none",)]
    if bad:
        raise argparse.ArgumentTypeError(f"expected some of {', '.join(TSC_BASELINES)} or none, got {', '.join(bad)}")
    return names


def _read_options(args) -> dict:
    channels = args.channels
    return {"id_column": args.id_column, "time_column": args.time_column, "label_column": args.label_column,
            "channels": channels}


def _train(args) -> int:
    from ..apps.classify import format_train_report, train_classifier
    from ..data.sequences import load_example, read_sequences
    from ..models.io import check_model_dir_target
    from .options import apply_threads

    apply_threads(args)
    if args.model:
        check_model_dir_target(args.model)
    if args.example and args.file:
        raise ValueError("give either FILE or --example, not both")
    if args.example:
        if args.test:
            raise ValueError("--test goes with FILE; an --example has its own test split")
        train, test, _ = load_example(args.example)
        read_options = {}
        name = args.example
    elif args.file:
        opts = _read_options(args)
        opts["id_column"] = opts["id_column"] or "id"
        label_col = opts["label_column"] or "label"
        csv_opts = {**opts, "label_column": label_col, "require_labels": True}
        fmt = args.format or Path(args.file).suffix.lower().lstrip(".")
        train = read_sequences(args.file, args.format, **(csv_opts if fmt == "csv" else {}))
        test = None
        if args.test:
            tfmt = args.format or Path(args.test).suffix.lower().lstrip(".")
            test = read_sequences(args.test, args.format, **(csv_opts if tfmt == "csv" else {}))
        read_options = {**opts, "label_column": label_col, "format": args.format}
        if fmt == "csv":
            read_options["time_column"] = train.info.get("time_column")
            read_options["channels"] = train.channels
        name = Path(args.file).stem
    else:
        raise ValueError("give a data FILE (.ts, .npz or .csv) or --example japanese-vowels|watch|peptides")
    model_dir = args.model or f"runs/classify/{name}"
    compare = None if args.compare is None else tuple(c for c in args.compare if c != "none")
    r = train_classifier(train, test, model_dir=model_dir, epochs=args.epochs, max_updates=args.max_updates,
                         patience=args.patience, head=args.head, normalize=args.normalize, compare=compare,
                         hidden_size=args.hidden_size,
                         num_layers=args.layers, variant=args.variant, seed=args.seed,
                         class_weights=args.class_weights, downsample_by=args.downsample, lr=args.lr,
                         val_fraction=args.val_fraction, test_fraction=args.test_fraction, refit=args.refit,
                         example=args.example, time_mode=args.time_mode,
                         read_options=read_options, resume=args.resume, progress=not args.no_progress)
    print()
    print(format_train_report(r))
    return 0


def _predict(args) -> int:
    from ..apps.classify import format_report, predict_file
    from .options import apply_threads

    apply_threads(args)
    opts = _read_options(args)
    r = predict_file(args.model, args.file, out=args.out, format=args.format, overwrite=args.overwrite, **opts)
    print(f"{r['n']} sequences classified; predictions written to {r['out']}")
    if r["accuracy"] is not None:
        if r["report"] is not None:
            print(format_report(r["report"]))
        note = f" ({len(r['unknown_labels'])} label(s) unknown to the model: " \
               f"{', '.join(r['unknown_labels'][:5])})" if r["unknown_labels"] else ""
        print(f"accuracy {r['accuracy']:.2%} on the file's labels{note}")
    return 0


def _add_read_options(p) -> None:
    from .options import comma_list

    p.add_argument("--format", choices=["ts", "npz", "csv"], help="file format (default: from the suffix)")
    p.add_argument("--id-column", default=None, help="CSV: sequence id column (default id)")
    p.add_argument("--time-column", default=None,
                   help="CSV: column to sort the steps by (default: 'time' if present, else file order); uneven "
                        "steps feed their elapsed times to the model with train's --time-mode")
    p.add_argument("--label-column", default=None, help="CSV: label column (default label)")
    p.add_argument("--channels", default=None, type=comma_list,
                   help="CSV: comma-separated channel columns (default: every other numeric column)")


def register(sub) -> None:
    from ..data.sequences import EXAMPLES
    from .options import fraction, model_parent, positive_float, positive_int, runtime_parent, threads_parent

    p = sub.add_parser("classify", help="classify variable-length multichannel sequences (.ts, .npz, .csv)")
    s = p.add_subparsers(dest="classify_command", metavar="SUBCOMMAND", required=True)
    t = s.add_parser("train", help="train a BiLSTM classifier on a file or a shipped example, report on a test set",
                     parents=[runtime_parent(), model_parent(
                         help="model directory (default runs/classify/<name>); a file you put there (NOTES.md) is "
                              "kept when the model is written again")])
    t.add_argument("file", nargs="?", help="training data: .ts, .npz or long-format .csv")
    t.add_argument("--test", help="test file, same format (default: a held-out stratified --test-fraction)")
    t.add_argument("--example", choices=EXAMPLES, help="a shipped example with its own test split")
    _add_read_options(t)
    t.add_argument("--epochs", type=positive_int, default=None,
                   help="train exactly this many passes over the data (default: by weight updates, see --max-updates; "
                        "the examples have their own)")
    t.add_argument("--max-updates", type=positive_int, default=None,
                   help="weight updates at most when --epochs is not given (default 1000)")
    t.add_argument("--patience", type=positive_int, default=None,
                   help="stop after this many updates without a better validation score (default 1000: the whole budget)")
    t.add_argument("--head", choices=["lstm", "lstm-fcn"], default=None,
                   help="lstm: the BiLSTM alone; lstm-fcn: a convolutional block beside it (default lstm-fcn)")
    t.add_argument("--normalize", choices=["global", "series"], default=None,
                   help="global: per-channel statistics of the training set; series: each series z-normalised "
                        "first (default global)")
    t.add_argument("--compare", type=_compare_list, default=None,
                   help="the field's baselines to report beside the LSTM on validation and test: comma-separated "
                        "of 1nn-euclidean,1nn-dtw,minirocket, or none (default: all three when aeon is installed)")
    t.add_argument("--hidden-size", "--hidden", dest="hidden_size", type=positive_int, default=None,
                   help="LSTM units per direction (default 64)")
    t.add_argument("--layers", type=positive_int, default=None, help="stacked BiLSTM layers (default 2)")
    t.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate (default 3e-3)")
    t.add_argument("--variant", default="vanilla", help="LSTM variant preset (default vanilla)")
    t.add_argument("--class-weights", choices=["balanced", "none"], default="balanced",
                   help="weight the cross entropy by inverse class frequency (default balanced)")
    t.add_argument("--downsample", type=_downsample, default=None,
                   help="average this many consecutive steps first, or auto: blocks that leave at most 512 steps "
                        "(default auto; watch example 5)")
    t.add_argument("--val-fraction", type=fraction, default=None,
                   help="stratified share of the training file used to pick the best epoch (default 0.15)")
    t.add_argument("--test-fraction", type=fraction, default=None,
                   help="held-out stratified share when there is no --test (default 0.2)")
    t.add_argument("--refit", choices=["auto", "yes", "no"], default=None,
                   help="after picking the epochs on validation, retrain on the whole training file "
                        "(default auto: when it has < 1000 sequences)")
    t.add_argument("--time-mode", choices=["ignore", "feature", "tlstm"], default="ignore",
                   help="what the CSV's time column does besides ordering the steps: ignore (default), feature "
                        "(the elapsed time before each step as one more channel) or tlstm (a time-aware LSTM, "
                        "Baytas et al. 2017, whose short-term memory decays with the elapsed time)")
    t.add_argument("--resume", action="store_true", help="continue a killed run from <model>.checkpoints")
    t.set_defaults(func=_train)
    r = s.add_parser("predict", help="classify the sequences of a file with a trained model",
                     parents=[threads_parent(), model_parent(required=True,
                                                             help="model directory written by classify train")])
    r.add_argument("file", help="data: .ts, .npz or long-format .csv (labels optional)")
    r.add_argument("--out", default="predictions.csv", help="predictions CSV (default predictions.csv)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists; without it an existing file is never replaced")
    _add_read_options(r)
    r.set_defaults(func=_predict)
