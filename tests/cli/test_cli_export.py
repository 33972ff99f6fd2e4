"""``lstmkit export``: writes the file and its JSON, one line each; refuses an existing
output (exit 1, one line) unless --overwrite/--force; usage errors exit 2."""

from __future__ import annotations

import json

import pytest
import torch

from lstmkit.cli import main
from lstmkit.models import Forecaster, save_model

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    m = Forecaster(input_size=2, horizon=2, hidden_size=4, variant="vanilla")
    return save_model(m.eval(), tmp_path_factory.mktemp("m") / "fc", extra={"preprocessing": {"window": 6}})


def test_export_writes_file_and_sidecar_then_refuses(model_dir, tmp_path, capsys):
    out = tmp_path / "fc.onnx"
    assert main(["export", "--model", str(model_dir), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"{out}\tonnx") and lines[1].startswith(f"{out}.json\t")
    meta = json.loads((tmp_path / "fc.onnx.json").read_text())
    assert meta["inputs"][0]["name"] == "window" and meta["quantiles"] == [0.1, 0.5, 0.9]
    before = out.read_bytes()
    assert main(["export", "--model", str(model_dir), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lstmkit export: error: --out") and "--overwrite" in err[0]
    assert out.read_bytes() == before
    assert main(["export", "--model", str(model_dir), "--out", str(out), "--force"]) == 0


def test_torchscript_and_default_name(model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--model", str(model_dir), "--format", "torchscript"]) == 0
    assert (tmp_path / "fc.pt").is_file() and (tmp_path / "fc.pt.json").is_file()
    assert torch.jit.load(str(tmp_path / "fc.pt"))(torch.randn(6, 3, 2)).shape == (3, 2, 3)


def test_usage_and_missing_model(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", "--model", "x", "--format", "tflite"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["export"])
    assert e.value.code == 2 and "--model" in capsys.readouterr().err
    assert main(["export", "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a.onnx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such model directory" in err[0]


def test_speed_prints_a_row_per_model_and_shape(tmp_path, capsys):
    js = tmp_path / "speed.json"
    assert main(["export", "--speed", "--models", "standard,gru", "--shape", "2x4x3x5", "--reps", "1",
                 "--json", str(js), "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 3 and out[1].startswith("standard") and out[2].startswith("gru")
    rows = json.loads(js.read_text())["rows"]
    assert all(r["max_abs_diff"] < 1e-5 and r["onnx_ms"] > 0 for r in rows)


# ---- model directories written by the apps themselves (tiny trainings) -----------------------
def _run_onnx(path, feeds):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {k: v.numpy() for k, v in feeds.items()})


def test_time_aware_classifier_trained_by_the_app_exports(tmp_path, capsys):
    """``lstmkit classify train --time-mode tlstm`` (a T-LSTM, elapsed times as the last
    feature) -> ``lstmkit export`` both formats -> the files compute the app's model."""
    from lstmkit.apps.export import load_model_dir
    from lstmkit.data.irregular import timing_classes, write_long_csv

    p = tmp_path / "t.csv"
    write_long_csv(timing_classes(24, steps=8, seed=4), p)
    model = tmp_path / "m"
    assert main(["classify", "train", str(p), "--time-column", "time", "--time-mode", "tlstm", "--max-updates", "3",
                 "--layers", "1", "--hidden", "4", "--compare", "none", "--model", str(model), "--no-progress"]) == 0
    capsys.readouterr()
    m, doc = load_model_dir(model)
    assert doc["class"] == "TimeAwareClassifier"
    g = torch.Generator().manual_seed(0)
    I = doc["config"]["input_size"]
    x = torch.cat([torch.randn(11, 3, I, generator=g), torch.rand(11, 3, 1, generator=g) * 4], -1)
    n = torch.tensor([11, 6, 2])
    with torch.no_grad():
        want = m(x, n)
    assert main(["export", "--model", str(model), "--out", str(tmp_path / "t.onnx")]) == 0
    meta = json.loads((tmp_path / "t.onnx.json").read_text())
    assert meta["app"] == "lstmkit classify (time-aware)" and meta["inputs"][0]["shape"] == ["T", "B", I + 1]
    (got,) = _run_onnx(tmp_path / "t.onnx", {"features": x, "lengths": n})
    torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-5, rtol=1e-5)
    assert main(["export", "--model", str(model), "--format", "torchscript", "--out", str(tmp_path / "t.pt")]) == 0
    assert json.loads((tmp_path / "t.pt.json").read_text())["method"] == "script"
    torch.testing.assert_close(torch.jit.load(str(tmp_path / "t.pt"))(x, n), want, atol=1e-5, rtol=1e-5)


def test_panel_forecaster_trained_by_the_app_exports(tmp_path, capsys):
    """``lstmkit forecast`` on a panel (one global model) -> ``lstmkit export``: the
    sidecar carries every series' window; the graph forecasts as the model does."""
    import numpy as np

    from lstmkit.apps.export import load_model_dir
    from lstmkit.apps.panel import train_panel
    from lstmkit.data.series import TimeSeries

    t = np.arange(48)
    panel = {f"s{i}": TimeSeries(values=10.0 ** (i + 1) * (1 + 0.25 * np.sin(2 * np.pi * t / 12 + i)), name="y",
                                 source=f"s{i}") for i in range(2)}
    model = tmp_path / "panel"
    train_panel(panel, 3, season=12, window=12, epochs=1, members=1, hidden_size=4, baselines=False, progress=False,
                model_dir=model)
    m, doc = load_model_dir(model)
    assert main(["export", "--model", str(model), "--out", str(tmp_path / "p.onnx")]) == 0
    capsys.readouterr()
    meta = json.loads((tmp_path / "p.onnx.json").read_text())
    assert meta["app"] == "lstmkit forecast (panel)" and set(meta["panel"]["preprocessing"]) == {"s0", "s1"}
    window = meta["preprocessing"]["window"]
    x = torch.randn(window, 4, doc["config"]["input_size"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        from lstmkit.apps.export import graph_for

        want = graph_for(m, doc)["module"](x)
    (got,) = _run_onnx(tmp_path / "p.onnx", {"window": x})
    torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-5, rtol=1e-5)
