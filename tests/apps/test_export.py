"""lstmkit.apps.export: every app's model class to ONNX (run with ONNX Runtime on fresh
shapes, against PyTorch) and TorchScript; the sidecar JSON; outputs never replaced without
overwrite; a constant graph refused; the WAV example recognizing with torch blocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmkit.apps import export as ex
from lstmkit.models import CharLM, CTCRecognizer, Forecaster, SequenceClassifier, save_model
from lstmkit.models.time_aware import TimeAwareClassifier

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def _dirs(root: Path) -> dict[str, Path]:
    """One small model directory per app model, with the extra state the apps write."""
    torch.manual_seed(3)
    made = {
        "ctc": (CTCRecognizer(78, num_labels=10, hidden_size=6, num_layers=2, variant="vanilla"),
                {"normalisation": {"mean": [0.0] * 78, "std": [1.0] * 78}, "sample_rate": 16000}),
        "classify": (SequenceClassifier(3, num_classes=4, hidden_size=5, variant="cifg", pooling="last"),
                     {"classes": list("abcd"), "norm": {"mean": [0.0] * 3, "std": [1.0] * 3}, "downsample": 1}),
        "fcn": (SequenceClassifier(3, num_classes=2, hidden_size=4, pooling="max", conv_filters=[4, 6, 4],
                                   bidirectional=False, variant="standard"),
                {"classes": ["x", "y"], "norm": {"mean": [0.0] * 3, "std": [1.0] * 3}}),
        "text": (SequenceClassifier(6, num_classes=3, hidden_size=4, vocab_size=20),
                 {"tokenizer": {"kind": "word", "words": ["<pad>", "<unk>"]}, "class_names": ["n", "o", "p"]}),
        "forecast": (Forecaster(input_size=2, horizon=3, hidden_size=5, members=2),
                     {"preprocessing": {"window": 9}, "output": {"chosen": "lstm"}}),
        "lm": (CharLM(12, embedding_dim=4, hidden_size=6, num_layers=2, variant="nig"),
               {"vocab": {"kind": "char", "chars": list("abcdefghijk")}}),
        # variants without a native ONNX operator: the layers export as an onnx::Loop
        "ctc_fgr": (CTCRecognizer(5, num_labels=3, hidden_size=4, num_layers=1, variant="fgr"),
                    {"line_height": 5, "pool": 1, "normalisation": {"mean": [0.0] * 5, "std": [1.0] * 5}}),
        "lm_ln": (CharLM(9, embedding_dim=3, hidden_size=5, num_layers=1, variant="layer_norm"),
                  {"vocab": {"kind": "char", "chars": list("abcdefgh")}}),
        "fsdd": (SequenceClassifier(13, num_classes=10, hidden_size=4, num_layers=1, variant="hochreiter1997"),
                 {"mean": [0.0] * 13, "std": [1.0] * 13}),
        "timeaware": (TimeAwareClassifier(2, num_classes=3, hidden_size=4, num_layers=2),
                      {"classes": ["p", "q", "r"], "norm": {"mean": [0.0] * 2, "std": [1.0] * 2}, "downsample": 1,
                       "time": {"mode": "tlstm", "scale": 1.0, "column": "time"}}),
    }
    out = {}
    for name, (m, extra) in made.items():
        with torch.no_grad():  # random biases too, so a wrong mapping cannot hide
            for p in m.parameters():
                p.add_(torch.randn_like(p) * 0.1)
        out[name] = save_model(m.eval(), root / name, extra=extra)
    return out


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    return _dirs(tmp_path_factory.mktemp("models"))


def _fresh_inputs(meta: dict, T: int, B: int) -> dict:
    g = torch.Generator().manual_seed(7)
    feeds = {}
    for io in meta["inputs"]:
        shape = [T if a == "T" else B if a == "B" else a for a in io["shape"]]
        if io["name"] == "lengths":
            feeds["lengths"] = torch.tensor([T] + [max(1, T - 1 - k) for k in range(B - 1)])
        elif io["dtype"] == "int64":
            vocab = meta["config"].get("vocab_size")
            feeds[io["name"]] = torch.randint(1, int(vocab), shape, generator=g)
        else:
            feeds[io["name"]] = torch.randn(shape, generator=g) * (0.3 if io["name"] in ("h0", "c0") else 1)
    if meta.get("elapsed_time"):  # a time-aware model's last feature: elapsed times >= 0
        x = feeds["features"]
        feeds["features"] = torch.cat([x[..., :-1], x[..., -1:].abs()], -1)
    return feeds


KINDS = ["ctc", "classify", "fcn", "text", "forecast", "lm", "ctc_fgr", "lm_ln", "fsdd", "timeaware"]
#: the app each kind's sidecar names
APPS = {"ctc": "speech", "classify": "classify", "fcn": "classify", "text": "text classify", "forecast": "forecast",
        "lm": "text lm", "ctc_fgr": "handwriting", "lm_ln": "text lm", "fsdd": "speech fsdd",
        "timeaware": "classify (time-aware)"}


@pytest.mark.parametrize("name", KINDS)
def test_onnx_export_of_every_app_model_runs_in_onnxruntime(dirs, tmp_path, name):
    out = tmp_path / f"{name}.onnx"
    r = ex.export_model(dirs[name], "onnx", out)
    assert r["path"] == str(out) and out.is_file() and Path(r["sidecar"]).is_file()
    meta = json.loads(Path(r["sidecar"]).read_text())
    assert meta["app"] == f"lstmkit {APPS[name]}"
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == [i["name"] for i in meta["inputs"]]
    assert [o.name for o in sess.get_outputs()] == [o["name"] for o in meta["outputs"]]
    model, _ = ex.load_model_dir(dirs[name])
    g = ex.graph_for(model, json.loads((dirs[name] / "config.json").read_text()))
    for T, B in ((5, 1), (17, 4)):  # shapes the export never saw
        if name == "forecast":
            T = 9
        feeds = _fresh_inputs(meta, T, B)
        got = sess.run(None, {k: v.numpy() for k, v in feeds.items()})
        with torch.no_grad():
            want = g["module"](*feeds.values())
        want = list(want) if isinstance(want, tuple) else [want]
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert float(b.abs().max()) > 1e-3
            np.testing.assert_allclose(a, b.numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.filterwarnings("ignore:lstmkit. torch.jit.script failed")
def test_torchscript_export_loads_and_matches(dirs, tmp_path, name):
    out = tmp_path / f"{name}.pt"
    r = ex.export_model(dirs[name], "torchscript", out)
    # every recurrent layer scripts (its portable twin); the FCN block's masked batch norm does not
    assert r["method"] == ("trace" if name == "fcn" else "script")
    meta = json.loads(Path(r["sidecar"]).read_text())
    loaded = torch.jit.load(str(out))
    model, _ = ex.load_model_dir(dirs[name])
    g = ex.graph_for(model, json.loads((dirs[name] / "config.json").read_text()))
    feeds = _fresh_inputs(meta, 6, 3)
    with torch.no_grad():
        a, b = loaded(*feeds.values()), g["module"](*feeds.values())
    for x, y in zip(a if isinstance(a, tuple) else [a], b if isinstance(b, tuple) else [b]):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)


def test_sidecar_says_what_the_graph_expects(tmp_path):
    r = ex.export_model("speech", "onnx", tmp_path / "speech.onnx")
    meta = json.loads(Path(r["sidecar"]).read_text())
    assert meta["class"] == "CTCRecognizer" and meta["app"] == "lstmkit speech"
    assert meta["inputs"] == [{"name": "features", "shape": ["T", "B", 39], "dtype": "float32"},
                              {"name": "lengths", "shape": ["B"], "dtype": "int64"}]
    assert meta["outputs"][0]["shape"] == ["T", "B", 11]
    assert meta["decoding"]["alphabet"] == list("0123456789") and meta["decoding"]["blank"] == 0
    f = meta["features"]  # the shipped model's pipeline table (lstmkit.apps.speech.FEATURES)
    assert (f["read_rate"], f["sample_rate"], f["n_mfcc"], f["n_fft"], f["hop_length"], f["stack"],
            f["utterance_norm"]) == (8000, 22050, 13, 2048, 512, 1, True)
    assert len(f["normalisation"]["mean"]) == 39


def test_existing_output_is_refused_unless_overwrite(dirs, tmp_path):
    out = tmp_path / "m.onnx"
    out.write_text("mine")
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        ex.export_model(dirs["classify"], "onnx", out)
    assert out.read_text() == "mine"
    side = tmp_path / "n.onnx.json"
    side.write_text("mine too")
    with pytest.raises(ValueError, match="its .json"):
        ex.export_model(dirs["classify"], "onnx", tmp_path / "n.onnx")
    assert side.read_text() == "mine too" and not (tmp_path / "n.onnx").exists()
    ex.export_model(dirs["classify"], "onnx", out, overwrite=True)
    assert out.read_bytes()[:4] != b"mine"
    with pytest.raises(ValueError, match="belongs to the lstmkit model directory"):
        ex.export_model(dirs["classify"], "onnx", dirs["classify"] / "config.json", overwrite=True)


def test_bad_arguments(dirs, tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        ex.export_model(dirs["ctc"], "tflite", tmp_path / "x")
    with pytest.raises(ValueError, match="opset must be"):
        ex.export_model(dirs["ctc"], "onnx", tmp_path / "x", opset=3)
    with pytest.raises(FileNotFoundError, match="no such model directory"):
        ex.export_model(tmp_path / "nowhere", "onnx", tmp_path / "x")
    (tmp_path / "plain").mkdir()
    with pytest.raises((FileNotFoundError, ValueError)):
        ex.export_model(tmp_path / "plain", "onnx", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_graph_that_lost_its_inputs_is_refused(dirs, tmp_path, monkeypatch):
    """The failure issue 19 reports (a graph of constants) is caught before writing."""
    import onnx
    from onnx import TensorProto, helper

    def constant_graph(g, path, opset):
        y = helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, [12, 2, 11])
        c = helper.make_node("Constant", [], ["log_probs"],
                             value=helper.make_tensor("v", TensorProto.FLOAT, [12, 2, 11], [0.0] * 264))
        onnx.save(helper.make_model(helper.make_graph([c], "g", [], [y])), str(path))

    monkeypatch.setattr(ex, "_onnx_export", constant_graph)
    with pytest.raises(ex.ExportError, match="lost its inputs"):
        ex.export_model(dirs["ctc"], "onnx", tmp_path / "c.onnx")
    assert list(tmp_path.iterdir()) == []


# ---- the WAV example: ONNX Runtime alone, torch blocked --------------------------------------
# torch and lstmkit made unimportable (a finder that refuses them: sys.modules[...] = None
# would also break libraries that probe sys.modules for torch, as scipy's array API layer does)
_BLOCKED = ("import sys, runpy\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('torch', 'lstmkit'):\n"
            "            raise ImportError(f'{name} is blocked in this test')\n"
            "sys.meta_path.insert(0, Block())\n"
            "sys.argv = sys.argv[1:]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")


def test_wav_recognized_by_onnxruntime_alone_as_by_lstmkit(tmp_path, need_speech):
    from lstmkit.apps import recognize_wav_onnx as script
    from lstmkit.apps.common import standardize
    from lstmkit.apps.speech import PRETRAINED, audio_features, model_features, recognize_files
    from lstmkit.data.espeak_digits import synthesize

    utts = synthesize(tmp_path / "wav", 3, seed=11, variants=("m7", "f5"))
    wavs = [u.path for u in utts]
    r = ex.export_model("speech", "onnx", tmp_path / "speech.onnx")
    meta = json.loads(Path(r["sidecar"]).read_text())
    # the script's numpy/librosa features are the speech app's, standardised
    extra = json.loads((PRETRAINED / "config.json").read_text())["extra"]
    np.testing.assert_allclose(script.speech_features(wavs[0], meta["features"]),
                               standardize([audio_features(wavs[0], model_features(extra))],
                                           extra["normalisation"])[0], atol=1e-5)
    ours = {p: text for p, text, err in recognize_files(wavs)}
    proc = subprocess.run([sys.executable, "-c", _BLOCKED, script.__file__, r["path"], *wavs],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr
    got = dict(line.split("\t") for line in proc.stdout.strip().splitlines())
    assert got == ours
    assert sum(got[u.path] == "".join(map(str, u.digits)) for u in utts) >= 2, (got, utts)
    # and torch really was out of reach in that process
    probe = subprocess.run([sys.executable, "-c", _BLOCKED.split("sys.argv =")[0]
                            + "try:\n    import torch\nexcept ImportError:\n    print('blocked')\n"],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "blocked"


def test_wav_script_reports_a_bad_file(tmp_path, need_speech):
    from lstmkit.apps import recognize_wav_onnx as script

    r = ex.export_model("speech", "onnx", tmp_path / "speech.onnx")
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    proc = subprocess.run([sys.executable, "-c", _BLOCKED, script.__file__, r["path"], str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "notes.wav" in proc.stderr and proc.stdout == ""
