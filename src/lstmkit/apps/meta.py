"""Learning to learn (Hochreiter, Younger & Conwell 2001): a recurrent net meta-trained
over random functions, frozen, then learning a new function from its input stream alone.

The meta-learner is a :class:`lstmkit.models.SequenceModel` (any registered family; the
LSTM and, as in the paper, the Elman net) whose input at step t is ``(x_t, y_{t-1})``
(:func:`lstmkit.tasks.functions.function_stream`). Meta-training is plain gradient descent
(Adam) over many functions; then its weights are frozen and its error at step t on fresh
functions is measured: the error on a new argument after t - 1 examples. Beside it: a
fresh small MLP fitted by gradient descent on the first k examples of the same test
functions (its error on new arguments), and the best constant guess (chance).

Each run writes ``summary.json`` and ``curves.png`` under ``<out>/<experiment>/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..io import claim_dir
from ..models.sequence import SequenceModel
from ..tasks.functions import chance_error, function_stream
from .experiment import resolve_model_name
from .runfiles import write_report_files

__all__ = ["meta_train", "meta_errors", "gd_baseline_errors", "run_learning_to_learn", "format_meta",
           "PAPER_META"]

PAPER_META = (
    {"who": "Hochreiter, Younger & Conwell 2001 (LSTM, frozen after meta-training)",
     "result": "a new quadratic function learned within about 30 examples; Boolean functions learned; "
               "the Elman net as meta-learner failed", "verified": False},
)

# Per family: steps per sequence, hidden units, meta-training sequences (full / quick), the
# "learned" threshold of the per-example error, the MLP fitted by gradient descent.
_SETTINGS = {
    "boolean": {"T": 16, "hidden": 32, "sequences": 400_000, "quick_sequences": 40_000, "learned": 0.05,
                "lr": 1e-2},
    "quadratic": {"T": 40, "hidden": 64, "sequences": 1_000_000, "quick_sequences": 40_000, "learned": 0.05,
                  "lr": 3e-3},
}


def _loss(family: str, out, y):
    if family == "boolean":
        return F.binary_cross_entropy_with_logits(out, y)
    return F.mse_loss(out, y)


def _error(family: str, out, y):
    """Per element: wrong bit (boolean, logit > 0 means 1) or squared error."""
    if family == "boolean":
        return ((out > 0).float() != y).float()
    return (out - y) ** 2


def meta_train(family: str, model: SequenceModel, sequences: int, T: int, batch: int = 64, lr: float = 3e-3,
               seed: int = 0, max_seconds: float = 600.0, log=None) -> list[dict]:
    """Meta-train ``model`` in place over ``sequences`` random functions (``batch`` per
    update, Adam, gradient norm clipped at 1); returns the history
    ``[{"sequences", "loss", "error"}]`` (error: mean per-example error of the batch).

    Example:
        >>> m = SequenceModel(3, 8, 1, cell="lstm", variant="standard")
        >>> h = meta_train("boolean", m, sequences=64, T=8)
        >>> h[-1]["sequences"]
        64
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history, seen = [], 0
    t0 = time.perf_counter()
    model.train()
    while seen < sequences and time.perf_counter() - t0 < max_seconds:
        x, y = function_stream(family, batch, T, rng)
        out, _ = model(x)
        loss = _loss(family, out, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen += batch
        if not history or seen - history[-1]["sequences"] >= max(sequences // 200, batch):
            with torch.no_grad():
                err = float(_error(family, out, y).mean())
            history.append({"sequences": seen, "loss": float(loss.detach()), "error": err,
                            "seconds": time.perf_counter() - t0})
            if log is not None and len(history) % 40 == 0:
                log(f"    {seen:>9,} sequences: loss {float(loss):.4f}, error {err:.4f}")
    if not history or history[-1]["sequences"] != seen:
        history.append({"sequences": seen, "loss": float(loss.detach()), "error": float(_error(family, out.detach(), y).mean()),
                        "seconds": time.perf_counter() - t0})
    return history


def meta_errors(family: str, model: SequenceModel, T: int, functions: int = 512, seed: int = 12345) -> list[float]:
    """The frozen model's mean error at each step t = 1..T over ``functions`` fresh
    functions (entry t - 1: the error on a new argument after t - 1 examples).

    Example:
        >>> m = SequenceModel(3, 8, 1, cell="lstm", variant="standard")
        >>> len(meta_errors("quadratic", m, T=5, functions=16))
        5
    """
    x, y = function_stream(family, functions, T, np.random.default_rng(seed))
    model.eval()
    with torch.no_grad():
        out, _ = model(x)
    return _error(family, out, y).mean(dim=(1, 2)).tolist()


def gd_baseline_errors(family: str, ks, functions: int = 512, hidden: int = 16, steps: int = 500, lr: float = 0.03,
                       seed: int = 12345, test_points: int = 64) -> dict[int, float]:
    """A fresh MLP (2 -> ``hidden`` tanh -> 1) per function, fitted by gradient descent
    (Adam, ``steps`` full-batch steps) on its first k examples; its mean error on
    ``test_points`` new arguments of the same function, for each k in ``ks``.

    The test functions are the meta-learner's (same seed); all ``functions`` nets train at
    once as one batched product.

    Example:
        >>> e = gd_baseline_errors("quadratic", [5], functions=8, steps=20)
        >>> sorted(e)
        [5]
    """
    T = max(max(ks), 1)
    # the test functions and their first examples are the meta-learner's (same seed, same count)
    x_all, y_all, fn = function_stream(family, functions, T, np.random.default_rng(seed), return_functions=True)
    xs, ys = x_all[..., :2].transpose(0, 1), y_all.transpose(0, 1)  # (F, T, 2), (F, T, 1)
    test_rng = np.random.default_rng(seed + 1)
    if family == "boolean":
        xt = test_rng.integers(2, size=(functions, test_points, 2)).astype(np.float64)
        idx = (2 * xt[..., 0] + xt[..., 1]).astype(np.int64)
        yt = np.take_along_axis(fn[:, None, :].repeat(test_points, 1), idx[..., None], axis=2)
    else:
        from ..tasks.functions import quadratic_features

        xt = test_rng.uniform(-1.0, 1.0, size=(functions, test_points, 2))
        yt = (quadratic_features(xt) * fn[:, None, :]).sum(-1, keepdims=True)
    xt, yt = torch.tensor(xt, dtype=torch.float32), torch.tensor(yt, dtype=torch.float32)
    out = {}
    g = torch.Generator().manual_seed(seed)
    for k in ks:
        if k == 0:
            pred = torch.zeros_like(yt)
            out[k] = float(_error(family, pred, yt).mean()) if family != "boolean" else 0.5
            continue
        W1 = (torch.randn(functions, 2, hidden, generator=g) * (1 / 2 ** 0.5)).requires_grad_()
        b1 = torch.zeros(functions, 1, hidden, requires_grad=True)
        W2 = (torch.randn(functions, hidden, 1, generator=g) * hidden ** -0.5).requires_grad_()
        b2 = torch.zeros(functions, 1, 1, requires_grad=True)
        opt = torch.optim.Adam([W1, b1, W2, b2], lr=lr)
        xk, yk = xs[:, :k], ys[:, :k]

        def net(x):
            return torch.bmm(torch.tanh(torch.bmm(x, W1) + b1), W2) + b2

        for _ in range(steps):
            loss = _loss(family, net(xk), yk) * functions  # a sum over functions: each net its own loss
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            out[k] = float(_error(family, net(xt), yt).mean())
    return out


def run_learning_to_learn(family: str = "quadratic", models=None, seeds: int = 1, first_seed: int = 0,
                          quick: bool = False, out_dir: str | Path | None = "runs", sequences: int | None = None,
                          seconds: float | None = None, progress: bool = False, log=print,
                          experiment: str | None = None) -> dict:
    """Meta-train each model on ``family``, freeze it, and measure its error against the
    number of examples seen, beside an MLP fitted by gradient descent and chance.

    Args:
        family: ``"boolean"`` or ``"quadratic"``.
        models: meta-learners (default ``lstm`` and ``elman``; any registered family or variant).
        sequences: meta-training sequences per model (default: the family's; quick 40,000).
        seconds: a model's meta-training time cap (default 600 s; quick 60 s).

    Returns:
        ``{"experiment", "rows": [{"model", "seed", "errors": {t: error}, "learned_at"}],
        "gd": {k: error}, "chance", "paper"}``; ``learned_at`` is the first number of
        examples after which the error is below the family's threshold (0.05).

    Example:
        >>> s = run_learning_to_learn("boolean", ["lstm"], quick=True, out_dir=None, sequences=64, log=None)
        >>> s["rows"][0]["model"], s["chance"]
        ('lstm', 0.5)
    """
    if family not in _SETTINGS:
        raise ValueError(f"family must be one of {sorted(_SETTINGS)}, got {family!r}")
    st = _SETTINGS[family]
    models = list(models or ("lstm", "elman"))
    for m in models:
        resolve_model_name(m)
    n_seq = sequences or (st["quick_sequences"] if quick else st["sequences"])
    cap = seconds or (60.0 if quick else 600.0)
    T = st["T"]
    name = experiment or f"learn-to-learn-{family}"
    root = None
    if out_dir is not None:
        root = Path(out_dir) / (name + ("-quick" if quick else ""))
        claim_dir(root, "run", "experiment directory")
    report_at = [t for t in (1, 2, 3, 5, 10, 20, 30, 40, 50, 60) if t <= T]
    rows, runs = [], []
    for m in models:
        cell, preset, description = resolve_model_name(m)
        for k in range(seeds):
            seed = first_seed + k
            torch.manual_seed(seed)
            model = SequenceModel(3, st["hidden"], 1, cell=cell, variant=preset or "standard", readout="every",
                                  forget_bias=1.0 if cell == "lstm" else None)
            t0 = time.perf_counter()
            hist = meta_train(family, model, n_seq, T, lr=st["lr"], seed=seed, max_seconds=cap,
                              log=log if progress else None)
            secs = time.perf_counter() - t0
            for p in model.parameters():  # frozen: the new function is learned by the dynamics alone
                p.requires_grad_(False)
            errs = meta_errors(family, model, T)
            learned = next((t for t in range(0, T - 4) if all(e < st["learned"] for e in errs[t:t + 5])), None)
            row = {"model": m, "description": description, "seed": seed, "sequences": hist[-1]["sequences"],
                   "seconds": secs, "errors": {t: errs[t - 1] for t in report_at}, "learned_after": learned,
                   "parameters": sum(p.numel() for p in model.parameters())}
            rows.append(row)
            runs.append({**row, "curve": errs, "history": hist})
            if log is not None:
                at = ", ".join(f"{t}: {errs[t - 1]:.3f}" for t in report_at if t in (1, 5, 10, 20, 30, T))
                log(f"  {m:>8s} seed {seed}: meta-trained on {hist[-1]['sequences']:,} functions ({secs:.0f} s); "
                    f"error after t-1 examples {{{at}}}; learned after "
                    f"{'-' if learned is None else learned} examples")
    ks = [k for k in (1, 2, 4, 9, 19, 29, 49) if k < T]
    gd = gd_baseline_errors(family, ks)
    summary = {"experiment": name, "family": family, "title": f"Learning to learn {family} functions "
               "(Hochreiter, Younger & Conwell 2001)", "quick": quick, "T": T, "hidden": st["hidden"],
               "meta_sequences": n_seq, "threshold": st["learned"], "rows": rows,
               "gd": {k + 1: v for k, v in gd.items()}, "gd_note": "a fresh MLP (2-16-1, tanh) fitted by Adam "
               "(500 full-batch steps) on the first k examples of each test function, error on new arguments; "
               "shown at t = k + 1", "chance": chance_error(family), "paper": list(PAPER_META),
               # the Bayes-optimal learner of a random truth table: wrong half the time on an
               # argument not seen yet, which after t - 1 examples has probability (3/4)^(t-1)
               "optimal": {t: 0.5 * 0.75 ** (t - 1) for t in report_at} if family == "boolean" else None,
               "threads": torch.get_num_threads(), "written": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    if root is not None:
        write_report_files(root, {"summary.json": json.dumps({**summary, "runs": runs}, indent=1, default=str)},
                           {"curves.png": lambda p: _plot(runs, summary, p)})
        summary["dir"] = str(root)
    return summary


def _plot(runs, summary, path):
    from ..viz.figures import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = {}
    for r in runs:
        c = colors.setdefault(r["model"], f"C{len(colors)}")
        ax.plot(range(1, len(r["curve"]) + 1), r["curve"], color=c, lw=1, label=f"{r['description']} seed {r['seed']}")
    ks = sorted(summary["gd"])
    ax.plot(ks, [summary["gd"][k] for k in ks], "k--o", ms=3, lw=1, label="fresh MLP fitted by gradient descent")
    ax.axhline(summary["chance"], color="grey", ls=":", lw=1, label="chance (best constant)")
    ax.set_xlabel("example t (the net has seen t - 1 examples of this function)")
    ax.set_ylabel("wrong bits" if summary["family"] == "boolean" else "squared error")
    if summary["family"] == "quadratic":
        ax.set_yscale("log")
    ax.set_title(summary["title"], fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def format_meta(summary: dict) -> str:
    """The summary as a Markdown table: error after t - 1 examples.

    Example:
        >>> print(format_meta({"title": "T", "rows": [], "gd": {}, "chance": 0.5, "paper": [], "threshold": 0.05}).splitlines()[0])
        ### T
    """
    ts = sorted({t for r in summary["rows"] for t in r["errors"]}, key=int)
    lines = [f"### {summary['title']}", "",
             f"Error at example t (after t - 1 examples); 'learned after': first t - 1 from which the next 5 errors "
             f"are < {summary['threshold']}.", "",
             "| model | meta-trained on | " + " | ".join(f"t={t}" for t in ts) + " | learned after |",
             "|---|---|" + "---|" * len(ts) + "---|"]
    for r in summary["rows"]:
        lines.append(f"| {r['description']} (frozen), seed {r['seed']} | {r['sequences']:,} functions | "
                     + " | ".join(f"{r['errors'][t]:.3f}" for t in ts)
                     + f" | {'-' if r['learned_after'] is None else r['learned_after']} |")
    if summary["gd"]:
        lines.append("| fresh MLP, gradient descent on the t - 1 examples | - | "
                     + " | ".join(f"{summary['gd'][t]:.3f}" if t in summary["gd"] else "" for t in ts) + " | |")
    if summary.get("optimal"):
        lines.append("| optimal learner (Bayes: 0.5 (3/4)^(t-1)) | - | "
                     + " | ".join(f"{summary['optimal'][t]:.3f}" if t in summary["optimal"] else "" for t in ts) + " | |")
    lines.append("| chance (best constant) | - | " + " | ".join(f"{summary['chance']:.3f}" for _ in ts) + " | |")
    for p in summary["paper"]:
        lines.append(f"| paper: {p['who']} | | {p['result']}{'' if p['verified'] else ' (unverified)'} |"
                     + " |" * len(ts))
    return "\n".join(lines)
