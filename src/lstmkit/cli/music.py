"""``lstmkit music``: polyphonic recurrent networks on Bach chorales and the 12-bar blues.

- ``lstmkit music train [--task chorales|blues] [--model DIR]``: train the model (an LSTM
  by default, ``--cell``/``--variant`` any registered family) and, in the same run, its
  baselines (chorales: per-pitch marginal, chord n-gram, Elman RNN; blues: Elman RNN);
  print the table of held-out scores.
- ``lstmkit music evaluate --model DIR [--split test|val]``: score the model directory's
  models again on its held-out chorales (or held-out blues pieces, free-running).
- ``lstmkit music generate --model DIR --out PIECE``: sample a piece; writes PIECE.mid,
  PIECE.musicxml and PIECE.png (the piano roll); never replaces a file without ``--overwrite``.
"""

from __future__ import annotations

from .options import apply_threads

DEFAULT_OUT = {"chorales": "runs/music/chorales", "blues": "runs/music/blues"}


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _table(models: dict, split: str, blues: bool) -> list[str]:
    head = f"  {'model':<58} {'NLL/step':>9} {'frame acc':>10}"
    if blues:
        head += f" {'bars right':>11} {'choruses kept':>14}"
    lines = [head]
    for row in models.values():
        s = row.get(split)
        if s is None:
            continue
        line = f"  {row['name']:<58} {s['nll_per_step']:>9.3f} {_pct(s['frame_accuracy']):>10}"
        st = row.get("structure")
        if st is not None:
            line += f" {_pct(st['bar_accuracy']):>11} {st['choruses_kept_mean']:>8.1f} / {st['choruses']}"
        lines.append(line)
    return lines


def _print_published(pub: dict) -> None:
    print(f"\npublished ({pub['source']}):")
    print(f"  their data: {pub['data']}")
    for r in pub["rows"]:
        print(f"  {r['model']:<58} {r['nll_per_step']:>9.2f}")
    print("  (not the same split, resolution or corpus: see docs/music.md)")


def _train(args) -> int:
    from ..apps.music import train_blues, train_chorales

    apply_threads(args)
    out = args.model or DEFAULT_OUT[args.task]
    common = dict(cell=args.cell, variant=args.variant, baseline=args.baseline, seed=args.seed, resume=args.resume,
                  output_bias=args.output_bias, progress=not args.no_progress)
    if args.hidden_size is not None:
        common["hidden_size"] = args.hidden_size
    if args.epochs is not None:
        common["epochs"] = args.epochs
    if args.lr is not None:
        common["lr"] = args.lr
    if args.task == "chorales":
        numbers = list(range(1, args.limit + 1)) if args.limit else None
        r = train_chorales(out, step=args.step, numbers=numbers, **common)
        d = r["data"]
        print(f"\n{r['source']}: {d['chorales']} four-part chorales ({len(d['dropped'])} left out: not four parts, "
              f"or a duplicate), {d['frames_per_quarter']:g} frames per quarter note, "
              f"{'transposed to C major/minor' if d['transposed_to_C'] else 'in their own keys'}")
        print(f"  split by chorale (seed {d['split_seed']}): {d['split']['train']} train / {d['split']['val']} "
              f"validation / {d['split']['test']} test ({d['frames']['test']} test frames)")
    else:
        r = train_blues(out, **common)
        d = r["data"]
        print(f"\n12-bar blues (Eck & Schmidhuber 2002 set-up): {d['train_pieces']} training pieces of "
              f"{d['choruses_per_piece']} choruses, {d['frames_per_bar']} frames per bar, {d['keys']} keys")
    print("\nheld-out scores (test):")
    print("\n".join(_table(r["models"], "test", args.task == "blues")))
    if args.task == "chorales":
        _print_published(r["published"])
    c = r["config"]
    print(f"\n{r['seconds'] / 60:.1f} min, {r['threads']} thread(s), {r['cpu']}, seed {c['seed']}.  "
          f"Model: {r.get('model_dir', '(not saved)')}")
    if r.get("model_dir"):
        print(f"generate: lstmkit music generate --model {r['model_dir']} --out piece")
    return 0


def _evaluate(args) -> int:
    from ..apps.music import evaluate_music

    apply_threads(args)
    r = evaluate_music(args.model, split=args.split, progress=not args.no_progress, seed=args.seed)
    what = f"{r['chorales']} held-out chorales" if r["task"] == "chorales" else "held-out blues pieces"
    print(f"{args.model}: {what} ({r['split']})")
    print("\n".join(_table(r["models"], r["split"], r["task"] == "blues")))
    if r["task"] == "chorales":
        _print_published(r["published"])
    return 0


def _generate(args) -> int:
    from ..apps.music import generate_music

    apply_threads(args)
    info = generate_music(args.model, args.out, length=args.length, temperature=args.temperature, seed=args.seed,
                          prime=args.prime, chorale=args.chorale, baseline=args.baseline, overwrite=args.overwrite,
                          progress=not args.no_progress)
    print(f"{info['model']}: {info['prime_frames']} frames given + {info['generated_frames']} generated "
          f"(temperature {info['temperature']:g}, seed {info['seed']})")
    for k, p in info["files"].items():
        print(f"  {k:<9} {p}")
    s = info.get("structure")
    if s:
        print(f"  12-bar structure of the generated part: {s['bar_accuracy']:.0%} of {s['bars']} bars right, "
              f"{s['choruses_kept']} of {s['choruses']} choruses kept from the start")
    return 0


def register(sub) -> None:
    from .options import model_parent, nonneg_int, positive_float, positive_int, runtime_parent, temperature

    p = sub.add_parser("music", help="music: polyphonic LSTM on Bach chorales, the 12-bar blues; MIDI out")
    s = p.add_subparsers(dest="music_command", metavar="ACTION", required=True)

    t = s.add_parser("train", help="train a model and its baselines (chorales or blues)", parents=[
        runtime_parent(), model_parent(help="model directory to write (default runs/music/TASK); a file you put "
                                            "there (NOTES.md) is kept when the model is written again")])
    t.add_argument("--task", choices=["chorales", "blues"], default="chorales",
                   help="Bach chorales of music21's corpus (default) or the generated 12-bar blues")
    t.add_argument("--cell", default="lstm", help="the model's recurrent family (default lstm; any registered "
                   "family with vector inputs)")
    t.add_argument("--variant", default="vanilla", help="LSTM variant preset (default vanilla)")
    t.add_argument("--baseline", default="elman", help="the recurrent baseline's family (default elman)")
    t.add_argument("--hidden-size", "--hidden", dest="hidden_size", type=positive_int, default=None,
                   help="units per layer (default 128 for chorales, 32 for the blues)")
    t.add_argument("--epochs", type=positive_int, default=None,
                   help="passes over the training data (default 120 for chorales, 150 for the blues)")
    t.add_argument("--lr", type=positive_float, default=None, help="Adam's learning rate (default 3e-3; blues 1e-2)")
    t.add_argument("--step", choices=["eighth", "sixteenth", "quarter"], default="eighth",
                   help="chorales: one frame per eighth note (default), sixteenth or quarter note")
    t.add_argument("--limit", type=positive_int, default=None,
                   help="chorales: only Riemenschneider numbers 1..N (a quick run)")
    t.add_argument("--output-bias", choices=["zero", "marginal"], default="zero",
                   help="the output biases start at zero (default) or at the training frames' per-key log-odds")
    t.add_argument("--resume", action="store_true", help="continue a killed run from MODEL.checkpoints")
    t.set_defaults(func=_train)

    e = s.add_parser("evaluate", help="score a trained model directory on its held-out data", parents=[
        runtime_parent(), model_parent(required=True, help="model directory written by `music train`")])
    e.add_argument("--split", choices=["test", "val"], default="test", help="held-out part to score (default test)")
    e.set_defaults(func=_evaluate)

    g = s.add_parser("generate", help="sample a piece: MIDI, MusicXML and a piano-roll PNG", parents=[
        runtime_parent(), model_parent(required=True, help="model directory written by `music train`")])
    g.add_argument("--out", required=True, help="file name without extension: writes OUT.mid, OUT.musicxml, OUT.png")
    g.add_argument("--length", type=nonneg_int, default=None,
                   help="frames to generate (default 128 for chorales, 384 = 4 choruses for the blues)")
    g.add_argument("--prime", type=nonneg_int, default=None,
                   help="frames of held-out music to start from (default 16; blues: one chorus, 96)")
    g.add_argument("--chorale", type=positive_int, default=None,
                   help="chorales: the Riemenschneider number of the chorale that primes (default the first test one)")
    g.add_argument("--temperature", type=temperature, default=1.0, help="sampling temperature (default 1; 0: greedy)")
    g.add_argument("--baseline", action="store_true", help="sample from the recurrent baseline instead")
    g.add_argument("--overwrite", action="store_true", help="replace OUT.* files that exist")
    g.set_defaults(func=_generate)
