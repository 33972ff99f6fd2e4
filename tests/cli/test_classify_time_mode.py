"""``lstmkit classify train --time-column time --time-mode tlstm|feature`` and ``predict``
on a long CSV with uneven steps; a bad mode is a usage error."""

from __future__ import annotations

import pytest

from lstmkit.cli import main
from lstmkit.data.irregular import timing_classes, write_long_csv


@pytest.mark.parametrize("mode", ["tlstm", "feature"])
def test_time_mode_train_and_predict(tmp_path, capsys, mode):
    p = tmp_path / "t.csv"
    write_long_csv(timing_classes(40, steps=10, seed=4), p)
    model = tmp_path / "m"
    assert main(["classify", "train", str(p), "--time-column", "time", "--time-mode", mode, "--max-updates", "4",
                 "--layers", "1", "--hidden", "4", "--compare", "none", "--model", str(model), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert ("BiT-LSTM" in text) == (mode == "tlstm") and "elapsed times of column 'time'" in text
    assert main(["classify", "predict", "--model", str(model), str(p), "--out", str(tmp_path / "p.csv")]) == 0
    assert "40 sequences classified" in capsys.readouterr().out


def test_bad_time_mode_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["classify", "train", "x.csv", "--time-mode", "clock"])
    assert e.value.code == 2
