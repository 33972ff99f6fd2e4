"""lstmkit forecast train's honest report (issue 13): the LSTM against the baselines on
validation and on test, a verdict naming what beat it, and --save of the hybrid or the
statistical combination instead of the LSTM (predict refits the statistical models)."""

import csv
import json

import numpy as np
import pytest

from lstmkit.cli import main

pytest.importorskip("statsmodels")


def _csv(path, n=96):
    t = np.arange(n)
    rng = np.random.default_rng(1)
    y = 50 + 0.3 * t + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, n)
    path.write_text("value\n" + "".join(f"{v:.4f}\n" for v in y))
    return path


QUICK = ["--column", "value", "--horizon", "6", "--season", "12", "--epochs", "3", "--members", "1",
         "--hidden", "4", "--quiet"]


@pytest.mark.parametrize("save", ["combination", "hybrid"])
def test_train_reports_validation_and_test_and_saves_a_combination(tmp_path, capsys, save):
    p = _csv(tmp_path / "s.csv")
    model = tmp_path / "m"
    assert main(["forecast", "train", str(p), *QUICK, "--save", save, "--model", str(model)]) == 0
    out = capsys.readouterr().out
    assert "validation part (6 points" in out and "held-out tail (6 points" in out
    for name in ("seasonal naive", "ETS", "ARIMA", "Theta", "combination", "hybrid"):
        assert out.count(f"  {name} ") >= 2, (name, out)  # in both tables
    assert out.count("verdict, ") == 2 and "verdict, test: LSTM MASE" in out
    assert f"saved: the {save} forecast" in out
    r = json.loads((model / "report.json").read_text())
    assert r["output"]["chosen"] == save and set(r["validation"]["metrics"]) == set(r["test"]["metrics"])
    lstm = r["test"]["metrics"]["LSTM"]["mase"]
    beaten = [k for k, v in r["test"]["metrics"].items() if k not in ("LSTM", "hybrid") and v["mase"] < lstm]
    assert ("beaten by " + ", ".join(beaten) if beaten else "it beat every baseline") in r["verdict"][1]
    # the saved forecast is the mean of its components, and predict reproduces it
    comp = r["future"]["components"]
    parts = ["ETS", "ARIMA", "Theta"] + (["LSTM"] if save == "hybrid" else [])
    np.testing.assert_allclose(r["future"]["point"], np.mean([comp[k] for k in parts], 0), rtol=1e-9)
    assert main(["forecast", "predict", "--model", str(model), "--out", str(tmp_path / "a.csv")]) == 0
    assert (tmp_path / "a.csv").read_text() == (model / "forecast.csv").read_text()
    with open(tmp_path / "a.csv") as f:
        rows = list(csv.reader(f))[1:]
    assert len(rows) == 6 and all(float(lo) <= float(pt) <= float(hi) for _, pt, lo, hi in rows)


def test_edited_output_choice_is_refused(tmp_path, capsys):
    from lstmkit.io import register_files

    p = _csv(tmp_path / "s.csv")
    model = tmp_path / "m"
    assert main(["forecast", "train", str(p), *QUICK, "--save", "combination", "--model", str(model)]) == 0
    doc = json.loads((model / "config.json").read_text())
    doc["extra"]["output"]["chosen"] = "oracle"
    (model / "config.json").write_text(json.dumps(doc))
    register_files(model, ["config.json"])
    capsys.readouterr()
    assert main(["forecast", "predict", "--model", str(model), "--out", str(tmp_path / "o.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert "extra.output.chosen" in err and len(err.splitlines()) == 1 and not (tmp_path / "o.csv").exists()


def test_save_is_checked():
    from lstmkit.apps.forecast import train_forecaster
    from lstmkit.data.series import TimeSeries

    s = TimeSeries(values=np.arange(60.0) + 1, name="y", source="ramp")
    with pytest.raises(ValueError, match="--save must be one of lstm, hybrid, combination, validation"):
        train_forecaster(s, 3, save="best", progress=False)
