"""Panels: a long CSV of many series read by data/series.read_panel, one LSTM trained
across them by apps/panel.train_panel, through `lstmkit forecast train --id-column` and
`forecast predict` on a panel model directory."""
import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from lstmkit.apps.panel import forecast_panel_future, panel_summary, train_panel
from lstmkit.cli import main
from lstmkit.data.series import TimeSeries, read_panel


def _panel(k=4, n=72, seed=0):
    """Seasonal series of levels 10, 100, 1000, ...: one network must serve every scale."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    out = {}
    for i in range(k):
        y = 10.0 ** (i % 3 + 1) * (1 + 0.25 * np.sin(2 * np.pi * t / 12 + i)) * np.exp(rng.normal(0, 0.02, n))
        out[f"s{i}"] = TimeSeries(values=y, name="y", source=f"s{i}")
    return out


def _write_long(path, panel, shuffle=True):
    rows = [(k, d.strftime("%Y-%m-%d"), v) for k, s in panel.items()
            for d, v in zip(pd.date_range("2010-01-01", periods=len(s), freq="MS"), s.values)]
    df = pd.DataFrame(rows, columns=["store", "month", "sales"])
    if shuffle:
        df = df.sample(frac=1, random_state=0)
    df.to_csv(path, index=False)


def test_read_panel_groups_sorts_and_names_lines(tmp_path):
    p = tmp_path / "panel.csv"
    _write_long(p, _panel(3, 30))
    panel = read_panel(p, "sales", "store", time_column="month")
    assert set(panel) == {"s0", "s1", "s2"}
    s0 = _panel(3, 30)["s0"].values
    assert np.allclose(panel["s0"].values, s0) and panel["s0"].freq == "MS"  # sorted back by time
    assert "[store=s1]" in panel["s1"].source
    bad = tmp_path / "bad.csv"
    bad.write_text("id,v\na,1\nb,2\na,x\nb,3\n")
    with pytest.raises(ValueError, match=r"\[id=a\].*row 3 \(line 4\).*'x'"):  # the file's own line number
        read_panel(bad, "v", "id")
    one = tmp_path / "one.csv"
    one.write_text("id,v\na,1\na,2\n")
    with pytest.raises(ValueError, match="only one series"):
        read_panel(one, "v", "id")
    empty = tmp_path / "empty.csv"
    empty.write_text("id,v\na,1\n,2\n")
    with pytest.raises(ValueError, match=r"row 2 \(line 3\) is empty"):
        read_panel(empty, "v", "id")
    with pytest.raises(ValueError, match="no column 'shop'"):
        read_panel(one, "v", "shop")


def test_global_model_beats_seasonal_naive_on_every_scale_and_forecasts_again():
    panel = _panel(4, 72)
    r = train_panel(panel, 6, season=12, epochs=30, members=1, hidden_size=16, baselines=False, progress=False,
                    seed=0)
    assert sorted(r["series"]) == sorted(panel) and r["left_out"] == {}
    lstm = r["summary"]["mean_mase"]["LSTM"]
    naive = r["summary"]["mean_mase"]["seasonal naive"]
    assert lstm < naive, (lstm, naive)
    # every series is forecast on its own scale
    for k, s in panel.items():
        f = np.asarray(r["series"][k]["future"]["point"])
        assert 0.5 * s.values.min() < f.mean() < 2 * s.values.max()


def test_short_series_left_out_and_model_dir_round_trip(tmp_path):
    panel = _panel(3, 60)
    panel["tiny"] = TimeSeries(values=np.arange(1.0, 13.0), name="y", source="tiny")
    # room for a window and both tails but no training window of its own: still forecast
    panel["short"] = TimeSeries(values=np.linspace(5.0, 9.0, 21) + np.arange(21) % 3, name="y", source="short")
    model_dir = tmp_path / "m"
    r = train_panel(panel, 4, season=12, window=12, epochs=2, members=1, hidden_size=4, baselines=False,
                    progress=False, model_dir=model_dir)
    assert "tiny" in r["left_out"] and "tiny" not in r["series"] and "short" in r["series"]
    again = forecast_panel_future(model_dir)
    for k in r["series"]:
        assert np.allclose(again[k]["point"], r["series"][k]["future"]["point"], rtol=1e-5)
    # a series the model never saw is forecast from its own window
    new = {"fresh": _panel(1, 40, seed=5)["s0"]}
    f = forecast_panel_future(model_dir, new)["fresh"]
    assert len(f["point"]) == 4 and np.all(np.isfinite(f["point"]))


def test_panel_summary_counts_ties():
    s = {k: {"test": {"metrics": {"LSTM": {"mase": v}, "ETS": {"mase": e}}}, "output": {"name": "LSTM"}}
         for k, v, e in (("a", 1.0, 2.0), ("b", 1.0, 1.001), ("c", 3.0, 1.0))}
    out = panel_summary(s)
    assert out["against"]["ETS"] == {"win": 1, "tie": 1, "loss": 1}
    assert out["mean_mase"]["lstmkit (saved)"] == pytest.approx(5 / 3)


def test_cli_panel_train_and_predict(tmp_path, capsys):
    p = tmp_path / "panel.csv"
    _write_long(p, _panel(3, 60))
    model = tmp_path / "model"
    assert main(["forecast", "train", str(p), "--id-column", "store", "--time-column", "month", "--column", "sales",
                 "--horizon", "4", "--epochs", "2", "--members", "1", "--hidden", "4", "--no-baselines",
                 "--model", str(model), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 series modelled by one LSTM" in out
    f1, f2 = tmp_path / "f1.csv", tmp_path / "f2.csv"
    assert main(["forecast", "predict", "--model", str(model), "--out", str(f1)]) == 0
    assert main(["forecast", "predict", "--model", str(model), str(p), "--out", str(f2)]) == 0  # time column remembered
    a, b = pd.read_csv(f1).sort_values(["store", "time"]), pd.read_csv(f2).sort_values(["store", "time"])
    assert list(a.columns) == ["store", "time", "forecast", "lower", "upper"] and len(a) == 12
    assert np.allclose(a["forecast"].to_numpy(), b["forecast"].to_numpy(), rtol=1e-5)
    assert (a["time"].to_numpy() == b["time"].to_numpy()).all()
    capsys.readouterr()
    assert main(["forecast", "predict", "--model", str(model), "--out", str(f1)]) == 1  # never overwritten
    assert "exists" in capsys.readouterr().err
    assert main(["forecast", "train", "--example", "airline", "--id-column", "store", "--model",
                 str(tmp_path / "x")]) == 1
    assert "single series" in capsys.readouterr().err
