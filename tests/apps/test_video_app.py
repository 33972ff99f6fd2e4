"""``lstmkit video``: train, evaluate, predict and compare with tiny budgets; files are new or
refused; one-line errors. The learning itself is asserted in tests/models/test_video.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstmkit.cli import main

pytestmark = [pytest.mark.usefixtures("one_thread")]
pytest.importorskip("mlxtend")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from lstmkit.apps.video import train_video

    d = tmp_path_factory.mktemp("video") / "m"
    r = train_video(d, hidden=[3], frame_size=32, n_train=8, n_val=4, n_test=4, epochs=2, batch_size=4,
                    input_frames=4, horizon=3, progress=False)
    assert r["test_ce"] > 0 and len(r["history"]) == 2
    return d


def test_train_writes_a_model_directory_and_leaves_no_checkpoints(model_dir):
    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "lstmkit.json", "report.json"} <= names
    assert not model_dir.with_name(model_dir.name + ".checkpoints").exists()
    report = json.loads((model_dir / "report.json").read_text())
    assert report["config"]["horizon"] == 3 and report["baselines"]["last-frame"] > 0


def test_evaluate_and_predict_from_the_command_line(model_dir, tmp_path, capsys):
    from lstmkit.apps.video import evaluate_video, load_video

    assert main(["video", "evaluate", "--model", str(model_dir), "--n-test", "4", "--json", str(tmp_path / "e.json")]) == 0
    assert "per-sequence cross-entropy" in capsys.readouterr().out
    e = json.loads((tmp_path / "e.json").read_text())
    assert e["test_ce"] == pytest.approx(evaluate_video(model_dir, n_test=4)["test_ce"])
    video = (np.random.default_rng(0).random((5, 32, 32)) > 0.9).astype(np.uint8) * 255
    np.save(tmp_path / "v.npy", video)
    args = ["video", "predict", "--model", str(model_dir), "--input", str(tmp_path / "v.npy"),
            "--png", str(tmp_path / "s.png"), "--gif", str(tmp_path / "g.gif"), "--npy", str(tmp_path / "p.npy")]
    assert main(args) == 0
    pred = np.load(tmp_path / "p.npy")
    assert pred.shape == (3, 32, 32) and 0 <= pred.min() and pred.max() <= 1
    assert len(load_video(tmp_path / "g.gif")) == 5 + 3
    assert (tmp_path / "s.png").stat().st_size > 1000
    before = (tmp_path / "s.png").read_bytes()
    assert main(args) == 1  # every output exists: refused, nothing overwritten
    assert "exists" in capsys.readouterr().err and (tmp_path / "s.png").read_bytes() == before


def test_user_errors_are_one_line(model_dir, tmp_path, capsys):
    (tmp_path / "v.txt").write_text("not a video")
    assert main(["video", "predict", "--model", str(model_dir), "--input", str(tmp_path / "v.txt")]) == 1
    err = capsys.readouterr().err
    assert "expected a .npy array" in err and "Traceback" not in err and err.count("\n") == 1
    np.save(tmp_path / "w.npy", np.zeros((4, 16, 16), np.uint8))
    assert main(["video", "predict", "--model", str(model_dir), "--input", str(tmp_path / "w.npy")]) == 1
    assert "32x32" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["video", "train", "--model", str(mine), "--hidden", "2", "--n-train", "2", "--epochs", "1",
                 "--no-progress"]) == 1
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(SystemExit) as e:
        main(["video", "train", "--model", str(tmp_path / "x"), "--kernel", "4"])
    assert e.value.code == 2


def test_compare_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main(["video", "compare", "--hidden", "2", "--fc-hidden", "2", "--n-train", "4", "--n-test", "2",
                 "--epochs", "1", "--batch-size", "4", "--no-progress", "--json", str(out),
                 "--png", str(tmp_path / "c.png")]) == 0
    text = capsys.readouterr().out
    assert "convlstm-5x5" in text and "fc-lstm" in text and "ordering" in text
    r = json.loads(out.read_text())
    assert [row["name"] for row in r["rows"]] == ["convlstm-5x5", "convlstm-1x1", "fc-lstm"]
    assert all(row["test_ce"] > 0 for row in r["rows"]) and (tmp_path / "c.png").exists()
