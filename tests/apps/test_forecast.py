"""Forecasting: the CSV reader and its errors, metrics and baselines, a quick training
that must learn, the model directory and predict."""

import csv

import numpy as np
import pytest
import torch

from lstmkit.apps.forecast import mase, seasonal_naive, smape, train_forecaster
from lstmkit.cli import main
from lstmkit.data.series import TimeSeries, load_example, read_series, season_for_freq
from lstmkit.models import Forecaster


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def _sine_csv(path, n=96, period=12, gap_rows=()):
    t = np.arange(n)
    days = np.datetime64("2000-01-01") + t
    rows = ["day,value"] + [f"{d},{10 + np.sin(2 * np.pi * k / period):.5f}" for k, d in zip(t, days)
                            if k not in gap_rows]
    return _write(path, "\n".join(rows) + "\n")


# ---------------------------------------------------------------- reader
def test_reader_sorts_fills_and_counts(tmp_path):
    p = _write(tmp_path / "s.csv", "when,x,other\n2020-03-01,3,a\n2020-01-01,1,b\n2020-02-01,,c\n"
                                   "2020-05-01,5.5,d\n2020-06-01,NA,e\n2020-07-01,7,f\n")
    s = read_series(p, "x", time_column="when")
    assert s.values.tolist() == [1, 2, 3, 4.25, 5.5, 6.25, 7]
    assert s.freq == "MS" and s.n_gaps == 1 and s.n_missing == 3 and s.n_rows == 6
    assert "rows sorted by time" in s.notes
    assert str(s.index[3])[:10] == "2020-04-01"


def test_reader_without_time_column_and_ends(tmp_path):
    p = _write(tmp_path / "s.csv", "x\n\n2\n3\n\n")  # blank lines are skipped by the CSV reader
    s = read_series(p, "x")
    assert s.values.tolist() == [2, 3] and s.freq is None
    p = _write(tmp_path / "t.csv", "x,y\n,1\n2,1\n3,1\nnan,1\n")
    s = read_series(p, "x")
    assert s.values.tolist() == [2, 2, 3, 3] and s.n_missing == 2


def test_daily_with_gaps(tmp_path):
    p = _write(tmp_path / "d.csv", "t,x\n2020-01-01,1\n2020-01-02,2\n2020-01-05,5\n2020-01-06,3\n")
    s = read_series(p, "x", time_column="t")
    assert s.freq == "D" and s.n_gaps == 2 and s.values.tolist() == [1, 2, 3, 4, 5, 3]
    assert season_for_freq(s.freq) == 7


def test_irregular_timestamps_are_steps(tmp_path):
    from lstmkit.viz.forecast import plot_forecast

    p = _write(tmp_path / "s.csv", "t,x\n2020-01-01,1\n2020-01-02,2\n2020-01-03 07:00,4\n2020-01-04,3\n2020-01-05 13:00,5\n")
    s = read_series(p, "x", time_column="t")
    assert s.freq is None and s.n_missing == 0 and "irregular" in s.notes[-1]
    fut = {"time": ["5", "6"], "point": [5, 6], "lower": [4, 5], "upper": [6, 7]}
    assert plot_forecast(s, {"future": fut}, tmp_path / "f.png").stat().st_size > 1000


def test_examples():
    co2 = load_example("co2")
    assert len(co2) == 2284 and co2.n_missing == 59 and co2.freq == "W-SAT"
    assert not np.isnan(co2.values).any() and season_for_freq(co2.freq) == 52
    air = load_example("airline")
    assert len(air) == 144 and air.values[-1] == 432 and season_for_freq(air.freq) == 12


# ---------------------------------------------------------------- bad input via the CLI
BAD = {
    "missing_column": ("day,value\n2020-01-01,1\n", ["--column", "sales"], ["no column 'sales'", "'day', 'value'"]),
    "non_numeric": ("value\n1\n2\nabc\n4\n", ["--column", "value"], ["row 3 (line 4)", "'abc'", "not a number"]),
    "constant": ("value\n" + "5\n" * 80, ["--column", "value"], ["is constant", "nothing to forecast"]),
    "too_short": ("value\n" + "".join(f"{np.sin(k)}\n" for k in range(30)), ["--column", "value"],
                  ["30 points", "smaller --window/--horizon"]),
    "empty": ("", ["--column", "value"], ["is empty"]),
    "header_only": ("value\n", ["--column", "value"], ["no data rows"]),
    "bad_date": ("day,value\n2020-01-01,1\n2020-01-02,2\nnot-a-date,3\n", ["--column", "value", "--time-column", "day"],
                 ["row 3 (line 4)", "'not-a-date'", "not a date"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_error_and_nothing_written(case, tmp_path, capsys):
    text, args, expect = BAD[case]
    p = _write(tmp_path / f"{case}.csv", text)
    model = tmp_path / "model"
    rc = main(["forecast", "train", str(p), *args, "--horizon", "6", "--model", str(model), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert len(err.splitlines()) == 1 and err.startswith("lstmkit forecast train: error:"), err
    assert str(p) in err, err
    for e in expect:
        assert e in err, (e, err)
    assert not model.exists() and not (tmp_path / "model.checkpoints").exists()


def test_wrong_encoding(tmp_path, capsys):
    p = _write(tmp_path / "latin.csv", "stadt,wert\nMünchen,1\nKöln,2\n", encoding="latin-1")
    assert main(["forecast", "train", str(p), "--column", "wert", "--horizon", "2", "--model",
                 str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "line 2 is not UTF-8" in err and str(p) in err
    assert not (tmp_path / "m").exists()


def test_missing_arguments(tmp_path, capsys):
    p = _sine_csv(tmp_path / "s.csv")
    assert main(["forecast", "train", str(p), "--column", "value"]) == 1
    assert "--horizon" in capsys.readouterr().err
    assert main(["forecast", "train", str(tmp_path / "nope.csv"), "--column", "value", "--horizon", "3"]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["forecast", "predict", "--model", str(tmp_path / "nomodel")]) == 1
    assert "not a forecast model directory" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["forecast", "train", str(p), "--column", "value", "--horizon", "3", "--model",
                 str(tmp_path / "busy")]) == 1
    assert "not a model directory" in capsys.readouterr().err
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------- metrics and baselines
def test_metrics_by_hand():
    insample = [1.0, 3.0, 2.0, 6.0]  # seasonal naive (s=2) errors: |2-1|, |6-3| -> MAE 2
    assert mase([10, 10], [11, 7], insample, season=2) == pytest.approx((1 + 3) / 2 / 2)
    assert mase([4], [5], [1, 2, 4], season=1) == pytest.approx(1 / 1.5)
    # sMAPE: 2|F-A|/(|A|+|F|) -> 2*10/210 and 2*50/250
    assert smape([100, 100], [110, 150]) == pytest.approx(100 * (20 / 210 + 100 / 250) / 2)
    assert smape([0, 1], [0, 1]) == 0.0


def test_seasonal_naive():
    x = np.arange(1, 11, dtype=float)  # season 4: last season is 7, 8, 9, 10
    assert seasonal_naive(x, 6, 4).tolist() == [7, 8, 9, 10, 7, 8]
    assert seasonal_naive(x, 3, 1).tolist() == [10, 10, 10]
    with pytest.raises(ValueError, match="at least one season"):
        seasonal_naive([1, 2], 2, 4)


def test_forecaster_quantiles_ordered_and_config():
    m = Forecaster(input_size=2, horizon=4, hidden_size=5, quantiles=(0.05, 0.25, 0.5, 0.75, 0.95), members=3)
    q = m(torch.randn(9, 6, 2) * 5)
    assert q.shape == (6, 4, 5) and (q.diff(dim=-1) >= 0).all()
    assert m.config["members"] == 3
    with pytest.raises(ValueError, match="including 0.5"):
        Forecaster(quantiles=(0.1, 0.9))


# ---------------------------------------------------------------- learning and the model directory
def test_quick_training_learns_a_sine_better_than_the_mean():
    rng = np.random.default_rng(0)
    t = np.arange(160.0)
    y = 5 + np.sin(2 * np.pi * t / 16) + 0.05 * rng.normal(size=t.size)
    s = TimeSeries(values=y, name="sine", source="test")
    torch.set_num_threads(1)
    r = train_forecaster(s, 8, season=16, window=16, epochs=25, members=1, hidden_size=16, baselines=False,
                         progress=False, seed=0)
    actual = np.array(r["test"]["actual"])
    lstm = mase(actual, r["test"]["forecasts"]["LSTM"], y[:-8], 16)
    mean = mase(actual, np.full(8, y[:-8].mean()), y[:-8], 16)
    assert lstm < 0.5 * mean, (lstm, mean)
    assert r["training"]["best_epoch"] >= 1 and len(r["future"]["point"]) == 8


def test_train_predict_roundtrip_and_csv(tmp_path, capsys):
    p = _sine_csv(tmp_path / "s.csv", n=120, gap_rows=(50, 51))
    model = tmp_path / "m"
    assert main(["forecast", "train", str(p), "--column", "value", "--time-column", "day", "--horizon", "7",
                 "--season", "12", "--epochs", "2", "--members", "1", "--hidden", "4", "--no-baselines",
                 "--quiet", "--model", str(model)]) == 0
    out = capsys.readouterr().out
    assert "missing values filled: 2" in out and "seasonal naive" in out and "MASE" in out
    assert {f.name for f in model.iterdir()} == {"config.json", "model.safetensors", "report.json", "forecast.csv",
                                                  "forecast.png", "lstmkit.json"}
    assert not (tmp_path / "m.checkpoints").exists()
    with open(model / "forecast.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["time", "forecast", "lower", "upper"] and len(rows) == 8
    assert rows[1][0].startswith("2000-04-30") and rows[-1][0].startswith("2000-05-06")  # 120 days from 2000-01-01
    for _, point, lo, hi in rows[1:]:
        assert float(lo) <= float(point) <= float(hi)
    # predict from the stored end of the series reproduces the training run's forecast
    assert main(["forecast", "predict", "--model", str(model), "--out", str(tmp_path / "a.csv")]) == 0
    assert (tmp_path / "a.csv").read_text() == (model / "forecast.csv").read_text()
    assert (tmp_path / "a.png").stat().st_size > 1000
    # and from a CSV: the same file gives the same forecast
    assert main(["forecast", "predict", str(p), "--time-column", "day", "--model", str(model), "--out",
                 str(tmp_path / "b.csv")]) == 0
    assert (tmp_path / "b.csv").read_text() == (model / "forecast.csv").read_text()
    short = _sine_csv(tmp_path / "short.csv", n=10)
    capsys.readouterr()
    assert main(["forecast", "predict", str(short), "--model", str(model), "--out", str(tmp_path / "c.csv")]) == 1
    err = capsys.readouterr().err
    assert "give at least the last 24 points" in err and str(short) in err and not (tmp_path / "c.csv").exists()


# ---------------------------------------------------------------- files: never lose the user's, never fail silently
QUICK = ["--horizon", "7", "--season", "12", "--epochs", "2", "--members", "1", "--hidden-size", "4",
         "--no-baselines", "--no-progress"]


def _train_quick(tmp_path, model, *extra, data=None):
    p = data or _sine_csv(tmp_path / "s.csv", n=120, gap_rows=(50, 51))
    return main(["forecast", "train", str(p), "--column", "value", "--time-column", "day", *QUICK,
                 "--model", str(model), *extra])


def test_run_dir_holding_user_files_is_refused_before_training_and_kept(tmp_path, capsys):
    proj = tmp_path / "proj"
    proj.mkdir()
    data = _sine_csv(proj / "s.csv", n=120, gap_rows=(50, 51))
    (proj / "notes.txt").write_text("mine")
    assert _train_quick(tmp_path, tmp_path / "m", "--run-dir", str(proj), data=data) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--run-dir" in err and str(proj) in err and "refusing" in err, err
    assert sorted(f.name for f in proj.iterdir()) == ["notes.txt", "s.csv"]
    assert not (tmp_path / "m").exists()


def test_run_dir_keeps_user_folder_and_removes_only_checkpoints(tmp_path, capsys):
    empty = tmp_path / "ck"
    empty.mkdir()  # the user's own (empty) folder: used, then left as it was
    assert _train_quick(tmp_path, tmp_path / "m", "--run-dir", str(empty)) == 0
    assert empty.is_dir() and list(empty.iterdir()) == []
    # the default MODEL.checkpoints is lstmkit's: gone after success
    assert _train_quick(tmp_path, tmp_path / "m2") == 0
    assert not (tmp_path / "m2.checkpoints").exists()


def test_retraining_keeps_the_users_files_and_foreign_config_is_refused(tmp_path, capsys):
    model = tmp_path / "m"
    assert _train_quick(tmp_path, model) == 0
    (model / "NOTES.md").write_text("my notes")
    assert _train_quick(tmp_path, model) == 0
    assert (model / "NOTES.md").read_text() == "my notes"
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "config.json").write_text('{"class": "Forecaster"}')
    capsys.readouterr()
    assert _train_quick(tmp_path, fake) == 1
    err = capsys.readouterr().err
    assert "not empty and not a model directory" in err and str(fake) in err
    assert [f.name for f in fake.iterdir()] == ["config.json"]
    assert main(["forecast", "predict", "--model", str(fake), "--out", str(tmp_path / "x.csv")]) == 1
    assert "model.safetensors is missing" in capsys.readouterr().err


def test_predict_never_overwrites_unless_asked(tmp_path, capsys, monkeypatch):
    model = tmp_path / "m"
    assert _train_quick(tmp_path, model) == 0
    trained = (model / "forecast.csv").read_bytes(), (model / "forecast.png").read_bytes()
    monkeypatch.chdir(tmp_path)
    # the default: forecast-<model name>.csv in the current directory, never the model's own files
    assert main(["forecast", "predict", "--model", str(model)]) == 0
    assert (tmp_path / "forecast-m.csv").is_file() and (tmp_path / "forecast-m.png").is_file()
    assert ((model / "forecast.csv").read_bytes(), (model / "forecast.png").read_bytes()) == trained
    capsys.readouterr()
    assert main(["forecast", "predict", "--model", str(model)]) == 1  # exists: refused
    err = capsys.readouterr().err
    assert "--overwrite" in err and "forecast-m.csv" in err and len(err.strip().splitlines()) == 1
    assert main(["forecast", "predict", "--model", str(model), "--overwrite"]) == 0
    mine = tmp_path / "mine.csv"
    mine.write_text("precious")
    assert main(["forecast", "predict", "--model", str(model), "--out", str(mine)]) == 1
    assert mine.read_text() == "precious" and not (tmp_path / "mine.png").exists()
    capsys.readouterr()
    # a model directory's own file is never replaced, even with --overwrite
    assert main(["forecast", "predict", "--model", str(model), "--out", str(model / "forecast.csv"),
                 "--overwrite"]) == 1
    assert "lstmkit.json" in capsys.readouterr().err
    assert ((model / "forecast.csv").read_bytes(), (model / "forecast.png").read_bytes()) == trained



@pytest.mark.parametrize("edit, field", [
    (lambda d: d["extra"]["preprocessing"].update(scale=0), "extra.preprocessing.scale"),
    (lambda d: d["extra"]["preprocessing"].update(transform="exp"), "extra.preprocessing.transform"),
    (lambda d: d["extra"]["preprocessing"].update(window="24"), "extra.preprocessing.window"),
    (lambda d: d["extra"]["preprocessing"].update(horizon=3), "extra.preprocessing.horizon"),
    (lambda d: d["extra"]["preprocessing"].update(calendar=False), "input features"),
    (lambda d: d["extra"]["series"].update(last_values=[1.0, 2.0]), "extra.series.last_values"),
    (lambda d: d["extra"]["series"]["last_values"].__setitem__(3, float("nan")), "extra.series.last_values[3]"),
    (lambda d: d["extra"]["preprocessing"].update(scale=float("inf")), "extra.preprocessing.scale"),
])
def test_edited_app_config_is_one_line_naming_the_field(tmp_path, capsys, edit, field, edit_model_config):
    model = tmp_path / "m"
    assert _train_quick(tmp_path, model) == 0
    edit_model_config(model, edit)
    capsys.readouterr()
    assert main(["forecast", "predict", "--model", str(model), "--out", str(tmp_path / "o.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "config.json" in err and field in err, err
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("args, expect", [
    (["--horizon", "0"], "argument --horizon: expected a whole number >= 1, got 0"),
    (["--horizon", "3", "--threads", "0"], "argument --threads"),
    (["--horizon", "3", "--epochs", "0"], "argument --epochs"),
    (["--horizon", "3", "--members", "-1"], "argument --members"),
    (["--horizon", "3", "--hidden", "0"], "argument --hidden-size/--hidden"),
    (["--horizon", "3", "--window", "1"], "argument --window: expected a whole number >= 2"),
    (["--horizon", "3", "--season", "0"], "argument --season"),
    (["--horizon", "3", "--lr", "nan"], "argument --lr"),
    (["--horizon", "3", "--seed", "-1"], "argument --seed"),
])
def test_arguments_checked_at_parse_time(tmp_path, capsys, args, expect):
    p = _sine_csv(tmp_path / "s.csv")
    with pytest.raises(SystemExit) as e:
        main(["forecast", "train", str(p), "--column", "value", "--model", str(tmp_path / "m"), *args])
    assert e.value.code == 2
    assert expect in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_quiet_is_no_progress_and_hidden_is_hidden_size():
    from lstmkit.cli import build_parser

    a = build_parser().parse_args(["forecast", "train", "x.csv", "--quiet", "--hidden", "7"])
    assert a.no_progress and a.hidden_size == 7 and a.threads == 1


def test_second_training_into_a_held_model_refuses_at_once(tmp_path, capsys):
    from lstmkit.models.io import model_dir_lock

    model = tmp_path / "m"
    with model_dir_lock(model):
        assert _train_quick(tmp_path, model) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "another lstmkit process" in err and str(model) in err, err
    assert not model.exists() and not (tmp_path / "m.checkpoints").exists()


def test_interrupt_keeps_checkpoints_and_resume_finishes(tmp_path, capsys, monkeypatch):
    import lstmkit.apps.forecast as app

    real, calls = app._forecast, []

    def interrupt_at_second_validation(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(app, "_forecast", interrupt_at_second_validation)
    model = tmp_path / "m"
    assert _train_quick(tmp_path, model, "--epochs", "3", "--transform", "none") == 130
    assert "--resume" in capsys.readouterr().err
    ck = tmp_path / "m.checkpoints"
    assert (ck / "select-level" / "checkpoint.json").is_file() and not model.exists()
    monkeypatch.setattr(app, "_forecast", real)
    assert _train_quick(tmp_path, model, "--epochs", "3", "--transform", "none", "--resume") == 0
    assert (model / "model.safetensors").is_file() and not ck.exists()


def test_huge_values_fail_with_one_line_not_a_silent_zero(tmp_path, capsys):
    t = np.arange(120)
    rows = ["value"] + [repr(float(1e308 * (-1) ** k * (0.5 + 0.4 * np.sin(k)))) for k in t]
    p = _write(tmp_path / "big.csv", "\n".join(rows) + "\n")
    rc = main(["forecast", "train", str(p), "--column", "value", "--season", "1", "--horizon", "3", "--epochs", "1",
               "--members", "1", "--hidden-size", "2", "--no-baselines", "--no-progress", "--model",
               str(tmp_path / "m")])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    # the reader may reject the values itself (data/series.py); either way: one error, no MASE table
    assert rc == 1 and err[0].startswith("lstmkit forecast train: error:") and "MASE" not in captured.out, err
    assert not (tmp_path / "m").exists()
    with pytest.raises(ValueError, match="overflows"):
        mase([1, 2], [1, 2], [1e308, -1e308, 1e308], season=1)
    s = TimeSeries(values=np.tile([1e308, -1e308], 60), name="v", source="big")
    with pytest.raises(ValueError, match="overflow"):
        train_forecaster(s, 3, season=1, epochs=1, members=1, hidden_size=2, baselines=False, progress=False)
