"""The data-loss cases of issue 11, run as a user runs them: each of these deleted or
overwrote a user's file before (rmtree of --run-dir, retraining wiping NOTES.md, predict
overwriting the training run's forecast, train writing into the shipped models, two
trainings into one --model)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps"))  # for test_forecast

from test_forecast import _sine_csv  # noqa: E402

from lstmkit.cli import main  # noqa: E402

QUICK = ["--column", "value", "--time-column", "day", "--horizon", "7", "--season", "12", "--epochs", "1",
         "--members", "1", "--hidden-size", "4", "--no-baselines", "--no-progress"]


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_run_dir_holding_the_users_files_is_refused_before_training(tmp_path, capsys):
    proj = tmp_path / "proj"
    proj.mkdir()
    data = _sine_csv(proj / "s.csv", n=120, gap_rows=(50, 51))
    (proj / "analysis.py").write_text("print('mine')")
    before = _tree(proj)
    assert main(["forecast", "train", str(data), *QUICK, "--model", str(tmp_path / "m"), "--run-dir", str(proj)]) == 1
    err = capsys.readouterr().err
    assert "lstmkit forecast train: error: --run-dir: refusing to write into" in err and "not a run directory" in err
    assert _tree(proj) == before and not (tmp_path / "m").exists()


def test_run_dir_is_cleaned_of_our_files_only(tmp_path, capsys):
    data = _sine_csv(tmp_path / "s.csv", n=120, gap_rows=(50, 51))
    run = tmp_path / "ck"
    assert main(["forecast", "train", str(data), *QUICK, "--model", str(tmp_path / "m"), "--run-dir", str(run)]) == 0
    assert not run.exists()  # created by this run, emptied of our files, removed
    assert data.exists()


def test_retraining_keeps_notes_and_predict_never_overwrites(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = _sine_csv(tmp_path / "s.csv", n=120, gap_rows=(50, 51))
    m = tmp_path / "m"
    assert main(["forecast", "train", str(data), *QUICK, "--model", str(m)]) == 0
    (m / "NOTES.md").write_text("my notes")
    trained = (m / "forecast.csv").read_bytes()
    assert main(["forecast", "train", str(data), *QUICK, "--model", str(m), "--seed", "1"]) == 0
    assert (m / "NOTES.md").read_text() == "my notes"
    trained = (m / "forecast.csv").read_bytes()
    assert main(["forecast", "predict", "--model", str(m)]) == 0
    assert (m / "forecast.csv").read_bytes() == trained  # the training artefacts stay as they were
    assert (tmp_path / "forecast-m.csv").exists() and (tmp_path / "forecast-m.png").exists()
    capsys.readouterr()
    assert main(["forecast", "predict", "--model", str(m)]) == 1  # a second predict does not overwrite
    assert "forecast-m.csv" in (err := capsys.readouterr().err) and "--overwrite" in err
    assert main(["forecast", "predict", "--model", str(m), "--overwrite"]) == 0
    assert main(["forecast", "predict", "--model", str(m), "--out", str(m / "forecast.csv")]) == 1


def test_a_second_training_into_one_model_refuses(tmp_path, capsys):
    from lstmkit.models.io import model_dir_lock

    data = _sine_csv(tmp_path / "s.csv", n=120, gap_rows=(50, 51))
    m = tmp_path / "m"
    with model_dir_lock(m):  # another training holds it
        assert main(["forecast", "train", str(data), *QUICK, "--model", str(m)]) == 1
    assert "is being written by another lstmkit process" in capsys.readouterr().err
    assert not m.exists()


@pytest.mark.parametrize("app", ["speech", "handwriting"])
def test_train_never_writes_the_shipped_model(app, capsys):
    import importlib

    shipped = importlib.import_module(f"lstmkit.apps.{app}").PRETRAINED
    before = _tree(shipped)
    assert main([app, "train", "--model", str(shipped), "--epochs", "1"]) == 1
    assert "inside the models that ship with lstmkit" in capsys.readouterr().err
    assert _tree(shipped) == before
    from lstmkit.cli import build_parser

    assert build_parser().parse_args([app, "train"]).model == f"runs/{app}/model"


def test_a_folder_with_a_class_key_is_not_retrained_into(tmp_path, capsys):
    import json

    data = _sine_csv(tmp_path / "s.csv", n=120, gap_rows=(50, 51))
    d = tmp_path / "cfg"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"class": "Mine", "x": 1}))
    (d / "keep.txt").write_text("mine")
    before = _tree(d)
    assert main(["forecast", "train", str(data), *QUICK, "--model", str(d)]) == 1
    assert "not a model directory lstmkit wrote" in capsys.readouterr().err
    assert _tree(d) == before


def test_corrupt_shipped_model_copy_is_one_line(tmp_path, capsys):
    import shutil

    from lstmkit.apps.speech import PRETRAINED

    m = tmp_path / "m"
    shutil.copytree(PRETRAINED, m)
    w = m / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    img = tmp_path / "x.wav"
    img.write_bytes(b"RIFF")
    assert main(["speech", "recognize", str(img), "--model", str(m)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.safetensors was changed since lstmkit wrote it: it has 1000 bytes" in err[0]


@pytest.mark.parametrize("edit,field", [(("scale", 0), "preprocessing.scale must be a positive number, not 0"),
                                        (("transform", "exp"), 'preprocessing.transform must be "log" or "none"'),
                                        (("horizon", 3), "preprocessing.horizon must be the model's horizon")])
def test_edited_forecast_configs_are_named(tmp_path, capsys, edit, field):
    """Edited configs loaded without complaint and gave silent wrong forecasts (issue 11).
    With lstmkit.json any edit is caught by its digest; without it (older directories) each
    field is checked."""
    import json

    data = _sine_csv(tmp_path / "s.csv", n=120, gap_rows=(50, 51))
    m = tmp_path / "m"
    assert main(["forecast", "train", str(data), *QUICK, "--model", str(m)]) == 0
    cfg = m / "config.json"
    doc = json.loads(cfg.read_text())
    doc["extra"]["preprocessing"][edit[0]] = edit[1]
    cfg.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["forecast", "predict", "--model", str(m), "--out", str(tmp_path / "f.csv")]) == 1
    assert "config.json was changed since lstmkit wrote it" in capsys.readouterr().err
    (m / "lstmkit.json").unlink()
    assert main(["forecast", "predict", "--model", str(m), "--out", str(tmp_path / "f.csv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0], err


@pytest.mark.parametrize("app,other", [("speech", "handwriting"), ("handwriting", "speech")])
def test_evaluate_with_the_other_apps_model_is_one_line(app, other, capsys):
    """A speech model given to handwriting evaluate (or the reverse) was a numpy broadcast
    error after building the test data."""
    import importlib

    shipped = importlib.import_module(f"lstmkit.apps.{other}").PRETRAINED
    assert main([app, "evaluate", "--model", str(shipped)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "features per frame" in err[0] and "pass the matching --model" in err[0], err
