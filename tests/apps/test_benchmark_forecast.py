"""lstmkit benchmark forecast: the shipped series, the CLI's quick run (files, tables,
resume, a user's folder refused) and the summary's arithmetic by hand."""

import json

import numpy as np
import pytest

from lstmkit.apps.benchmark_forecast import BASELINES, _finalize, markdown_tables, summarize
from lstmkit.cli import main
from lstmkit.data.forecast_benchmark import QUICK, benchmark_series

pytest.importorskip("statsmodels")
pytest.importorskip("aeon")


def test_every_shipped_series_with_its_standard_horizon():
    items = benchmark_series()
    keys = [b.key for b in items]
    assert len(keys) == len(set(keys))
    m1 = [b for b in items if b.dataset == "M1 yearly"]
    assert len(m1) == 181 and all(b.horizon == 6 and b.season == 1 for b in m1)
    by = {b.key: b for b in items}
    assert (by["aeon Airline"].horizon, by["aeon Airline"].season, len(by["aeon Airline"].series)) == (18, 12, 144)
    assert by["statsmodels macrodata/realgdp"].horizon == 8 and by["statsmodels co2"].horizon == 13
    assert by["aeon ShampooSales"].horizon == 6 and "instead of 18" in by["aeon ShampooSales"].note
    for b in items:
        assert np.all(np.isfinite(b.series.values)) and len(b.series) >= 2.5 * b.horizon, b.key
    assert sorted(b.key for b in benchmark_series(quick=True)) == sorted(QUICK)
    with pytest.raises(ValueError, match="--only 'nothing-like-this' matches no benchmark series"):
        benchmark_series(only=["nothing-like-this"])


def _entry(key, ds, **mase):
    return {"key": key, "dataset": ds, "points": 30, "horizon": 2, "chosen": "hybrid", "note": "",
            "fallback": None, "forecasts": {k: [0.0, 0.0] for k in mase},
            "validation": {"mase": {"LSTM": 1.0, "hybrid": 0.5, "combination": 2.0}},
            "metrics": {k: {"mase": v, "smape": 10 * v} for k, v in mase.items()}}


def test_summary_by_hand():
    base = {"seasonal naive": 2.0, "ETS": 1.0, "ARIMA": 1.2, "Theta": 3.0, "combination": 1.1}
    a = _finalize(_entry("A", "M1 yearly", LSTM=0.9, hybrid=0.8, **base), "hybrid")
    b = _finalize(_entry("B", "other", LSTM=5.0, hybrid=1.0, **{**base, "ETS": 1.002}), "hybrid")
    assert a["metrics"]["lstmkit"]["mase"] == 0.8 and a["chosen"] == "hybrid"
    assert _finalize(a, "validation")["chosen"] == "hybrid"  # hybrid had the lowest validation MASE
    s = summarize([a, b])
    g = s["all"]
    # lstmkit 0.8 and 1.0; ETS 1.0 and 1.002: a win, and a tie (within 0.5%)
    assert g["lstmkit_vs"]["ETS"] == {"win": 1, "tie": 1, "loss": 0}
    assert g["lstmkit_vs"]["seasonal naive"] == {"win": 2, "tie": 0, "loss": 0}
    assert g["lstm_vs"]["ETS"] == {"win": 1, "tie": 0, "loss": 1}
    assert g["models"]["lstmkit"]["mean_mase"] == pytest.approx(0.9)
    assert g["models"]["lstmkit"]["mean_rank"] == pytest.approx(1.0)  # best on both (1.0 < 1.002 by rank)
    assert g["targets"]["best_single_statsmodels"] == "ETS" and g["targets"]["better_than_seasonal_naive"] == 1.0
    assert set(s) == {"all", "M1 yearly", "other series"} and set(g["lstmkit_vs"]) == set(BASELINES)
    md = markdown_tables([a, b])
    assert set(md) == {"M1-yearly.md", "other.md"} and "| A | 30 | 2 | **0.800** |" in md["M1-yearly.md"]


def test_quick_benchmark_cli_writes_tables_resumes_and_refuses_a_users_folder(tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["benchmark", "forecast", "--quick", "--members", "1", "--epochs", "20", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "M1 yearly:" in text and "better than seasonal naive on" in text and "win/tie/loss" in text
    names = {p.name for p in out.iterdir()}
    assert {"summary.md", "results.json", "ranks.png", "M1-yearly.md", "lstmkit.json"} <= names
    assert sum(n.startswith("series-") for n in names) == len(QUICK)
    doc = json.loads((out / "results.json").read_text())
    assert len(doc["series"]) == len(QUICK) and doc["meta"]["cpu"]
    for e in doc["series"]:
        assert set(BASELINES) <= set(e["metrics"]) and "lstmkit" in e["metrics"]
        assert all(np.isfinite(v["mase"]) for v in e["metrics"].values())
    ran = [e for e in doc["series"] if not e["fallback"]]
    assert ran and all("LSTM" in e["metrics"] and "hybrid" in e["metrics"] for e in ran)
    assert "| model | series | mean MASE |" in (out / "summary.md").read_text()
    # a rerun reuses every series (nothing recomputed: the per-series files are unchanged)
    before = {p.name: p.read_bytes() for p in out.glob("series-*.json")}
    assert main(args) == 0
    assert {p.name: p.read_bytes() for p in out.glob("series-*.json")} == before
    # a folder of the user's is refused before any work, and kept as it was
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["benchmark", "forecast", "--quick", "--no-progress", "--out", str(mine)]) == 1
    err = capsys.readouterr().err
    assert "refusing" in err and str(mine) in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
