"""``lstmkit study``: small reproductions of a paper's claim that train several models in
one run and print the table.

- ``lstmkit study highway [--depths 10,20,50,100] [--updates 400] [--figure PNG] [--json FILE]``:
  plain vs highway nets of growing depth on MNIST (Srivastava, Greff & Schmidhuber 2015, Fig. 1).
- ``lstmkit study irregular [--seeds 3] [--updates 300] [--json FILE]``: classes that differ
  only in their timing; a T-LSTM fed Δt vs an LSTM with Δt as an input channel vs an LSTM
  ignoring time, through ``lstmkit classify``'s pipeline (Baytas et al. 2017's idea).

- ``lstmkit study parity [--ks 4,6,8,10,12] [--updates 3000]``: k-bit parity, a tied 1-LSTM
  grid network beside a stacked LSTM (Kalchbrenner et al. 2016).

- ``lstmkit study mdlstm [--n-train 1000] [--epochs 5] [--json FILE]``: an MDLSTM hierarchy on raw
  pixels vs the BiLSTM on column features, the same digit lines, CTC (Graves & Schmidhuber 2009).

Docs: docs/highway.md, docs/time-aware.md, docs/video.md (MDLSTM); measured numbers in docs/results.md.
"""

from __future__ import annotations

import json

from .options import refuse_existing_output


def _ints(text: str) -> list[int]:
    from .options import positive_ints

    return positive_ints(text)


def _two_ints(text: str) -> list[int]:
    import argparse

    out = _ints(text)
    if len(out) != 2:
        raise argparse.ArgumentTypeError(f"expected two comma-separated whole numbers (one per layer), got {text!r}")
    return out


def _floats(text: str) -> list[float]:
    import argparse

    from .options import comma_list

    try:
        return [float(v) for v in comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _write_json(path: str | None, result: dict) -> None:
    if path is not None:
        from ..io import atomic_write_text

        atomic_write_text(path, json.dumps(result, indent=2))
        print(f"results in {path}")


def _highway(args) -> int:
    from ..apps.highway import format_highway, highway_depth, plot_highway
    from .options import apply_threads

    apply_threads(args)
    refuse_existing_output(args.figure)
    refuse_existing_output(args.json)
    lrs = args.lrs or [0.01, 0.03, 0.1, 0.3]
    biases = args.gate_biases or [-2.0, -4.0]
    if any(v <= 0 for v in lrs):
        raise ValueError(f"--lrs must be positive, got {lrs}")
    r = highway_depth(depths=args.depths, updates=args.updates, lrs=lrs, gate_biases=biases, seed=args.seed,
                      progress=not args.no_progress)
    print(format_highway(r))
    print(f"paper: {r['paper']}")
    if args.figure:
        print(f"figure: {plot_highway(r, args.figure)}")
    _write_json(args.json, r)
    return 0


def _irregular(args) -> int:
    from ..apps.irregular import format_irregular, irregular_benchmark
    from .options import apply_threads

    apply_threads(args)
    refuse_existing_output(args.json)
    r = irregular_benchmark(n_train=args.n_train, n_test=args.n_test, steps=args.steps, max_updates=args.updates,
                            hidden_size=args.hidden_size, seeds=tuple(range(args.seed, args.seed + args.seeds)),
                            progress=not args.no_progress)
    print(format_irregular(r))
    _write_json(args.json, r)
    return 0


def _parity(args) -> int:
    from ..apps.grid_parity import format_parity, grid_parity
    from .options import apply_threads

    apply_threads(args)
    refuse_existing_output(args.json)
    r = grid_parity(ks=args.ks, hidden_size=args.hidden_size, updates=args.updates, seed=args.seed,
                    models=tuple(args.models), log=None if args.no_progress else print)
    print(format_parity(r))
    print(f"paper: {r['paper']}")
    _write_json(args.json, r)
    return 0


def _mdlstm(args) -> int:
    from ..apps.mdlstm import format_mdlstm, mdlstm_vs_bilstm
    from .options import apply_threads

    apply_threads(args)
    refuse_existing_output(args.json)
    r = mdlstm_vs_bilstm(n_train=args.n_train, n_test=args.n_test, epochs=args.epochs, seed=args.seed,
                         md_hidden=tuple(args.md_hidden), bilstm_hidden=args.bilstm_hidden,
                         progress=not args.no_progress, log=print)
    print(format_mdlstm(r))
    print(f"paper: {r['paper']}")
    _write_json(args.json, r)
    return 0


def register(sub) -> None:
    from .options import comma_list, positive_int, runtime_parent

    p = sub.add_parser("study", help="small reproductions of a paper's claim, several models in one run")
    s = p.add_subparsers(dest="study_command", metavar="STUDY", required=True)
    h = s.add_parser("highway", parents=[runtime_parent()],
                     help="plain vs highway nets of growing depth on MNIST (Srivastava et al. 2015, Fig. 1)")
    h.add_argument("--depths", type=_ints, default=[10, 20, 50, 100], help="layers (default 10,20,50,100)")
    h.add_argument("--updates", type=positive_int, default=400, help="SGD updates per net (default 400)")
    h.add_argument("--lrs", type=_floats, default=None, help="learning-rate grid (default 0.01,0.03,0.1,0.3)")
    h.add_argument("--gate-biases", type=_floats, default=None,
                   help="highway transform-gate biases tried, written --gate-biases=-2,-4 (default -2,-4)")
    h.add_argument("--figure", default=None, help="write the loss-vs-depth figure to this new PNG")
    h.add_argument("--json", default=None, help="write every run's numbers to this new JSON file")
    h.set_defaults(func=_highway)
    r = s.add_parser("irregular", parents=[runtime_parent()],
                     help="classes that differ only in timing: T-LSTM vs LSTM + Δt vs LSTM ignoring time")
    r.add_argument("--seeds", type=positive_int, default=3, help="data and training seeds (default 3)")
    r.add_argument("--n-train", type=positive_int, default=400, help="training sequences (default 400)")
    r.add_argument("--n-test", type=positive_int, default=400, help="test sequences (default 400)")
    r.add_argument("--steps", type=positive_int, default=24, help="steps per sequence (default 24)")
    r.add_argument("--updates", type=positive_int, default=300, help="weight updates per model (default 300)")
    r.add_argument("--hidden-size", type=positive_int, default=32, help="units per direction (default 32)")
    r.add_argument("--json", default=None, help="write the rows to this new JSON file")
    r.set_defaults(func=_irregular)
    q = s.add_parser("parity", parents=[runtime_parent()],
                     help="k-bit parity: a tied 1-LSTM grid network beside a stacked LSTM (Kalchbrenner et al. 2016)")
    q.add_argument("--ks", type=_ints, default=[4, 6, 8, 10, 12], help="string lengths (default 4,6,8,10,12)")
    q.add_argument("--hidden-size", type=positive_int, default=64, help="units (default 64)")
    q.add_argument("--updates", type=positive_int, default=3000, help="Adam updates per net (default 3000)")
    q.add_argument("--models", type=comma_list, default=["grid", "stacked"],
                   help="comma-separated of grid,stacked (default both)")
    q.add_argument("--json", default=None, help="write the rows to this new JSON file")
    q.set_defaults(func=_parity)
    md = s.add_parser("mdlstm", parents=[runtime_parent()],
                      help="MDLSTM on raw pixels vs BiLSTM on column features, digit lines, CTC (Graves 2009)")
    md.add_argument("--n-train", type=positive_int, default=1000, help="training lines (default 1000)")
    md.add_argument("--n-test", type=positive_int, default=200, help="test lines, held-out digits (default 200)")
    md.add_argument("--epochs", type=positive_int, default=5, help="passes over the lines (default 5)")
    md.add_argument("--md-hidden", type=_two_ints, default=[4, 12], help="MDLSTM cells per direction, two layers (default 4,12)")
    md.add_argument("--bilstm-hidden", type=positive_int, default=64, help="BiLSTM units per direction (default 64)")
    md.add_argument("--json", default=None, help="write the rows to this new JSON file")
    md.set_defaults(func=_mdlstm)
