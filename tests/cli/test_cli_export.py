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
