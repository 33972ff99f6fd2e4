"""``lstmkit explore``: the server starts on a free port of 127.0.0.1 and serves the page
and its JSON; ``--export`` writes one self-contained file and refuses an existing one;
``--train`` refuses the package's own models and retrains a shipped one (quick)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from lstmkit.apps import explore as ex
from lstmkit.cli import main
from lstmkit.cli.explore import make_server

SRC = Path(__file__).resolve().parents[2] / "src"


def _get(url, data=None):
    req = urllib.request.Request(url, data=json.dumps(data).encode() if data is not None else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


@pytest.fixture
def server():
    srv = make_server(ex.Session(ex.variant_subject("vanilla", hidden_size=3)), 0)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_server_serves_page_and_json(server):
    status, ctype, body = _get(server + "/")
    assert status == 200 and ctype.startswith("text/html")
    page = body.decode()
    assert 'id="explore-data"' in page and "https://" not in page and "src=" not in page
    status, ctype, body = _get(server + "/api/run?variant=gru&input=0.1%200.2;0.3%200.4")
    run = json.loads(body)
    assert status == 200 and ctype == "application/json" and run["family"] == "gru" and run["T"] == 2
    want = ex.explore(ex.variant_subject("gru", hidden_size=3), "0.1 0.2; 0.3 0.4")
    np.testing.assert_allclose(run["gates"]["z"], want["gates"]["z"], rtol=1e-12)
    status, _, body = _get(server + "/api/run", {"variant": "", "input": "1 2 3"})
    assert status == 400 and "expected 2" in json.loads(body)["error"]
    status, _, body = _get(server + "/api/run", {"variant": "", "input": "0 0",
                                                 "weights": {"bias_ih_l0": [9.0] * 12}})
    assert status == 200 and json.loads(body)["weights"]["bias_ih_l0"]["values"] == [9.0] * 12
    assert _get(server + "/nothing")[0] == 404


def test_a_taken_port_is_one_line(server, capsys):
    port = server.rsplit(":", 1)[1]
    assert main(["explore", "--variant", "gru", "--port", port]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"lstmkit explore: error: --port {port}: cannot listen")


def test_command_prints_address_and_serves(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "lstmkit", "explore", "--variant", "gru", "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = p.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, (line, p.stderr.read() if p.poll() is not None else "")
        status, _, body = _get(m.group(0) + "api/run")
        assert status == 200 and json.loads(body)["family"] == "gru"
    finally:
        p.terminate()
        p.wait(timeout=30)


def test_export_writes_one_file_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "page.html"
    assert main(["explore", "--experiment", "reber", "--input", "BTBPVVETE", "--export", str(out)]) == 0
    assert "written:" in capsys.readouterr().out
    page = out.read_text()
    assert "https://" not in page and "<script src" not in page and "<link" not in page
    data = json.loads(re.search(r'<script type="application/json" id="explore-data">(.*?)</script>', page, re.S).group(1))
    assert not data["live"] and set(data["runs"]) == {""} | set(ex.switcher_names()) | {"depth_gated_lstm@0:0"}
    assert data["runs"][""]["input_text"] == "BTBPVVETE" and data["runs"][""]["memory"] is not None
    before = out.read_bytes()
    assert main(["explore", "--variant", "gru", "--export", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lstmkit explore: error: --export") and "exists" in err[0]
    assert out.read_bytes() == before


@pytest.mark.parametrize("argv, msg", [
    (["--variant", "lstm9"], "unknown variant"),
    (["--model", "nowhere"], "no such model directory"),
    (["--variant", "gru", "--experiment", "reber"], "pass one of"),
    (["--variant", "gru", "--input", "1 2 3", "--export", "x.html"], "expected 2"),
    (["--train", "reber"], "--out"),
])
def test_errors_are_one_line(argv, msg, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["explore", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0], err
    assert not (tmp_path / "x.html").exists()


def test_train_refuses_the_shipped_directory(capsys):
    d = ex.shipped_path("reber")
    before = (d / "model.safetensors").read_bytes()
    assert main(["explore", "--train", "reber", "--out", str(d)]) == 1
    assert "ship with lstmkit" in capsys.readouterr().err
    assert (d / "model.safetensors").read_bytes() == before


def test_train_quick_learns(tmp_path, monkeypatch, one_thread):
    """The --quick form of the shipped Reber model's training: 3,000 strings instead of
    60,000; the loss must fall well below the untrained net's."""
    exp = ex.SHIPPED["reber"]
    monkeypatch.setitem(ex.SHIPPED, "reber", ex.ShippedExperiment(
        exp.name, exp.experiment, exp.hidden, exp.task, {**exp.train, "max_sequences": 3000}, exp.samples, exp.kind))
    summary = ex.train_shipped("reber", tmp_path / "m", log=None)
    s = ex.experiment_subject("reber", tmp_path / "m")
    assert s.extra["trained"]["sequences"] == summary["sequences"] >= 3000
    import torch

    from lstmkit.models import SequenceModel
    from lstmkit.tasks.reber import EmbeddedReber

    task = EmbeddedReber()
    b = task._test_batch
    torch.manual_seed(0)  # the same net before training: the baseline
    untrained = SequenceModel(7, exp.hidden, 7, variant="vanilla").double()
    with torch.no_grad():
        loss, before = (float(task.sequence_loss(m(b.x.double(), b.lengths)[0], b).mean()) for m in (s.model, untrained))
    assert loss < 0.6 * before, (loss, before)


def test_layer_and_direction_options(tmp_path, capsys):
    from lstmkit.models import save_model
    from lstmkit.models.recognizers import CTCRecognizer

    d = save_model(CTCRecognizer(input_size=2, num_labels=3, hidden_size=3, num_layers=2), tmp_path / "ctc")
    out = tmp_path / "stack.html"
    assert main(["explore", "--model", str(d), "--layer", "1", "--direction", "backward", "--input", "1 0; 0 1; 0.5 0.5",
                 "--export", str(out)]) == 0
    data = json.loads(re.search(r'id="explore-data">(.*?)</script>', out.read_text(), re.S).group(1))
    first = data["runs"][""]
    assert (first["layer"], first["direction"]) == (1, "backward") and "@0:0" in data["runs"]
    want = ex.explore(ex.model_subject(d), "1 0; 0 1; 0.5 0.5", 1, "backward")
    np.testing.assert_allclose(first["gates"]["c"], want["gates"]["c"], rtol=1e-12)
    capsys.readouterr()
    for argv, match in ((["--model", str(d), "--layer", "2"], "--layer must be an int in 0..1"),
                        (["--experiment", "reber", "--direction", "backward"], "--direction must be 'forward'")):
        assert main(["explore", *argv, "--export", str(tmp_path / "x.html")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("lstmkit explore: error: ") and match in err[0], err
    # the server answers a layer and direction in its query string
    srv = make_server(ex.Session(ex.model_subject(d)), 0)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/api/run?input=1%200;0%201;0.5%200.5&layer=1&direction=backward"
        status, _, body = _get(url)
        assert status == 200
        np.testing.assert_allclose(json.loads(body)["gates"]["c"], want["gates"]["c"], rtol=1e-12)
        status, _, body = _get(url.replace("layer=1", "layer=x"))
        assert status == 400 and "layer must be an int" in json.loads(body)["error"]
    finally:
        srv.shutdown()
        srv.server_close()
