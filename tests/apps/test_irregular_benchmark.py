"""Irregular sequences in classify: the elapsed times (downsampled too), the three time
modes through train_classifier and predict_file (model directories round trip), the errors,
and the one-run benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from lstmkit.apps.classify import elapsed_times, predict_file, train_classifier
from lstmkit.apps.irregular import format_irregular, irregular_benchmark
from lstmkit.data.irregular import timing_classes, write_long_csv
from lstmkit.data.sequences import read_sequences
from lstmkit.models.time_aware import TimeAwareClassifier


def test_elapsed_times():
    t = [np.array([0.0, 2.0, 3.0, 7.0, 8.0])]
    assert elapsed_times(t)[0].tolist() == [0.0, 2.0, 1.0, 4.0, 1.0]
    # blocks of 2: mean times 1, 5, 8
    assert elapsed_times(t, 2)[0].tolist() == [0.0, 4.0, 3.0]


@pytest.mark.parametrize("mode", ["feature", "tlstm"])
def test_time_modes_train_save_and_predict(tmp_path, mode):
    p = tmp_path / "timing.csv"
    write_long_csv(timing_classes(48, steps=12, seed=2), p)
    data = read_sequences(p, "csv", id_column="id", time_column="time", label_column="label")
    r = train_classifier(data, model_dir=tmp_path / "m", max_updates=6, hidden_size=4, num_layers=1,
                         compare=(), refit="no", time_mode=mode, progress=False,
                         read_options={"id_column": "id", "time_column": "time", "label_column": "label"})
    assert r["config"]["time"]["mode"] == mode and r["config"]["time"]["scale"] > 0
    assert r["config"]["input_size"] == (2 if mode == "feature" else 1)
    out = predict_file(tmp_path / "m", p, out=tmp_path / "pred.csv")
    assert out["n"] == 48 and 0.0 <= out["accuracy"] <= 1.0
    # the model sees the times: shuffling the gaps changes its probabilities
    from lstmkit.apps.classify import load_classifier

    model, extra = load_classifier(tmp_path / "m")
    assert isinstance(model, TimeAwareClassifier) == (mode == "tlstm") and extra["time"]["mode"] == mode


def test_time_modes_need_times(tmp_path):
    d = timing_classes(24, steps=10, seed=0)
    d.times = None
    with pytest.raises(ValueError, match="needs the steps' times"):
        train_classifier(d, model_dir=None, max_updates=2, compare=(), time_mode="tlstm", progress=False)
    with pytest.raises(ValueError, match="--time-mode must be one of"):
        train_classifier(d, model_dir=None, max_updates=2, compare=(), time_mode="clock", progress=False)
    with pytest.raises(ValueError, match="goes with --head lstm"):
        train_classifier(timing_classes(24, steps=10), model_dir=None, max_updates=2, compare=(), time_mode="tlstm",
                         head="lstm-fcn", progress=False)


def test_benchmark_runs_the_three_models_in_one_run(tmp_path):
    r = irregular_benchmark(n_train=32, n_test=16, steps=10, max_updates=4, hidden_size=4, out_dir=tmp_path / "b")
    assert [row["mode"] for row in r["rows"]] == ["tlstm", "feature", "ignore"]
    assert all(0.0 <= row["accuracy"] <= 1.0 for row in r["rows"])
    assert (tmp_path / "b" / "timing-train-seed0.csv").exists()
    assert "T-LSTM fed Δt" in format_irregular(r)
    with pytest.raises(FileExistsError):
        irregular_benchmark(n_train=32, n_test=16, out_dir=tmp_path / "b")
