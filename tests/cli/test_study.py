"""``lstmkit study``: both studies run from the command line with tiny budgets; usage errors
exit 2; an existing output file is refused with one line."""

from __future__ import annotations

import pytest

from lstmkit.cli import main


def test_irregular_and_highway_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["study", "irregular", "--seeds", "1", "--n-train", "32", "--n-test", "16", "--steps", "10",
                 "--updates", "3", "--hidden-size", "4", "--no-progress", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "T-LSTM fed Δt" in text and "LSTM ignoring time" in text and out.exists()
    assert main(["study", "irregular", "--seeds", "1", "--json", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    pytest.importorskip("mlxtend")
    assert main(["study", "highway", "--depths", "2", "--updates", "3", "--lrs", "0.01", "--gate-biases=-2",
                 "--no-progress", "--figure", str(tmp_path / "h.png")]) == 0
    assert (tmp_path / "h.png").exists() and "highway loss" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["study", "highway", "--depths", "0"])
    assert e.value.code == 2


def test_mdlstm_study_from_the_command_line(tmp_path, capsys):
    pytest.importorskip("mlxtend")
    out = tmp_path / "md.json"
    assert main(["study", "mdlstm", "--n-train", "4", "--n-test", "2", "--epochs", "1", "--md-hidden", "2,2",
                 "--bilstm-hidden", "4", "--no-progress", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "MDLSTM (raw pixels)" in text and "BiLSTM (column features)" in text and out.exists()
    with pytest.raises(SystemExit) as e:
        main(["study", "mdlstm", "--md-hidden", "2"])  # one layer's size for a two-layer net: usage error
    assert e.value.code == 2
