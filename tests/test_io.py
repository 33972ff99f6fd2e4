"""lstmkit.io and model directories: nothing of the user's is ever deleted or overwritten,
directories are written whole or not at all, and every corrupt or edited model directory
gives one line naming the file (issue 11)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmkit import io
from lstmkit.models import SequenceClassifier
from lstmkit.models.io import load_model, model_dir_lock, save_model


def _tree(root: Path) -> dict:
    """Every file under root with its bytes (a snapshot to compare)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _model():
    torch.manual_seed(0)
    return SequenceClassifier(3, 2, hidden_size=4)


# ----------------------------------------------------------------------------- never delete

def test_retraining_keeps_the_users_files_and_replaces_only_ours(tmp_path):
    d = tmp_path / "m"
    save_model(_model(), d, files={"report.txt": "first"})
    (d / "NOTES.md").write_text("mine")
    (d / "sub").mkdir()
    (d / "sub" / "data.csv").write_text("a,b\n")
    save_model(_model(), d, extra={"k": 2})
    assert (d / "NOTES.md").read_text() == "mine" and (d / "sub" / "data.csv").read_text() == "a,b\n"
    assert not (d / "report.txt").exists()  # ours, not written this time
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporaries left
    assert load_model(SequenceClassifier, d)[1] == {"k": 2}


def test_a_folder_with_a_class_key_is_not_a_model_directory(tmp_path):
    d = tmp_path / "proj"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"class": "Mine"}))
    (d / "model.safetensors").write_bytes(b"not ours")
    (d / "src.py").write_text("print(1)")
    before = _tree(tmp_path)
    with pytest.raises(ValueError, match="not empty and not a model directory lstmkit wrote"):
        save_model(_model(), d)
    assert _tree(tmp_path) == before


def test_a_killed_write_leaves_the_previous_model(tmp_path, monkeypatch):
    d = tmp_path / "m"
    save_model(_model(), d, extra={"v": 1})
    before = _tree(tmp_path)
    real = io.atomic_write_bytes

    def dies(path, data):
        if Path(path).name == "model.safetensors":
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(io, "atomic_write_bytes", dies)
    with pytest.raises(KeyboardInterrupt):
        save_model(_model(), d, extra={"v": 2})
    assert _tree(tmp_path) == before


def test_remove_owned_removes_only_registered_files(tmp_path):
    d, created = io.claim_dir(tmp_path / "run", "run")
    assert created
    io.atomic_write_text(d / "a.json", "{}")
    io.register_files(d, ["a.json"])
    (d / "b.json").write_text("user's")
    assert io.remove_owned(d) is False
    assert sorted(p.name for p in d.iterdir()) == ["b.json"]
    (d / "b.json").unlink()
    d2, _ = io.claim_dir(tmp_path / "run2", "run")
    io.atomic_write_text(d2 / "a.json", "{}")
    io.register_files(d2, ["a.json"])
    assert io.remove_owned(d2) is True and not d2.exists()


def test_claim_refuses_foreign_and_other_kinds(tmp_path):
    (tmp_path / "x.csv").write_text("1\n")
    with pytest.raises(ValueError, match="not empty and not a run directory"):
        io.claim_dir(tmp_path, "run")
    save_model(_model(), tmp_path / "m")
    with pytest.raises(ValueError, match="is an lstmkit model directory, not a run directory"):
        io.claim_dir(tmp_path / "m", "run")
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="a file of that name exists"):
        io.claim_dir(tmp_path / "f", "run")


def test_checkpoints_never_delete_a_users_ckpt_file(tmp_path):
    from lstmkit.train.checkpoint import remove_checkpoints, save_checkpoint

    d = tmp_path / "run"
    save_checkpoint(d, 1, {"w": torch.ones(2)}, {})
    (d / "ckpt-000000000.safetensors").write_bytes(b"the user's own file, same pattern")
    save_checkpoint(d, 2, {"w": torch.ones(2)}, {})
    assert (d / "ckpt-000000000.safetensors").read_bytes().startswith(b"the user's")
    assert not (d / "ckpt-000000001.safetensors").exists()
    remove_checkpoints(d)
    assert sorted(p.name for p in d.iterdir()) == ["ckpt-000000000.safetensors"]


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        save_model(_model(), tmp_path / "m")
        io.atomic_write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "m" / "model.safetensors").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644


# ----------------------------------------------------------------------------- validate on load

@pytest.fixture
def model_dir(tmp_path):
    return save_model(_model(), tmp_path / "m", extra={"classes": ["a", "b"]})


def _one_line_error(fn, match=None):
    with pytest.raises((ValueError, FileNotFoundError)) as e:
        fn()
    text = str(e.value)
    assert "\n" not in text
    if match:
        assert match in text, text
    return text


def test_truncated_weights_name_the_file(model_dir):
    w = model_dir / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    _one_line_error(lambda: load_model(SequenceClassifier, model_dir), "it has 100 bytes")


def test_truncated_weights_without_manifest_still_one_line(model_dir):
    (model_dir / "lstmkit.json").unlink()
    w = model_dir / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    _one_line_error(lambda: load_model(SequenceClassifier, model_dir), "model.safetensors is not a readable safetensors")


def test_edited_config_is_named(model_dir):
    (model_dir / "lstmkit.json").unlink()  # an edit the manifest would otherwise catch first
    cfg = model_dir / "config.json"
    cfg.write_text("{broken")
    _one_line_error(lambda: load_model(SequenceClassifier, model_dir), "config.json: not valid JSON")
    doc = {"class": "SequenceClassifier", "config": {"input_size": 3, "num_classes": 3, "hidden_size": 4}}
    cfg.write_text(json.dumps(doc))
    _one_line_error(lambda: load_model(SequenceClassifier, model_dir), "does not match")
    doc["config"]["nonsense"] = 1
    cfg.write_text(json.dumps(doc))
    _one_line_error(lambda: load_model(SequenceClassifier, model_dir), "does not build a SequenceClassifier")


def test_an_edit_after_saving_is_detected(model_dir):
    cfg = model_dir / "config.json"
    cfg.write_text(cfg.read_text().replace('"a"', '"z"'))
    _one_line_error(lambda: load_model(SequenceClassifier, model_dir), "was changed since lstmkit wrote it")


def test_a_newer_format_asks_for_an_upgrade(model_dir):
    m = model_dir / "lstmkit.json"
    doc = json.loads(m.read_text())
    doc["format_version"] = 99
    m.write_text(json.dumps(doc))
    _one_line_error(lambda: load_model(SequenceClassifier, model_dir), "upgrade lstmkit")


def test_nonfinite_weights_are_refused(tmp_path):
    m = _model()
    with torch.no_grad():
        next(m.parameters()).fill_(float("nan"))
    d = save_model(m, tmp_path / "m")
    _one_line_error(lambda: load_model(SequenceClassifier, d), "non-finite")


def test_check_fields_names_field_and_value():
    spec = {"transform": (str, lambda v: v in ("log", "none"), "'log' or 'none'"),
            "scale": ((int, float), lambda v: v > 0, "a positive number"),
            "classes": (list, lambda v: len(v) == 2, "a list of 2 class names")}
    io.check_fields({"transform": "log", "scale": 1.5, "classes": ["a", "b"]}, spec, "c.json")
    for bad, field in (({"transform": "exp"}, "transform"), ({"scale": 0}, "scale"),
                       ({"scale": float("nan")}, "scale"), ({"scale": True}, "scale"),
                       ({"classes": ["a", "b", "c"]}, "classes")):
        doc = {"transform": "log", "scale": 1.5, "classes": ["a", "b"], **bad}
        with pytest.raises(ValueError, match=f"c.json: {field} must be"):
            io.check_fields(doc, spec, "c.json")
    with pytest.raises(ValueError, match="scale is missing"):
        io.check_fields({"transform": "log", "classes": []}, spec, "c.json")


# ----------------------------------------------------------------------------- fuzzing the reader

_MUTATIONS = st.sampled_from(["truncate", "flip", "append", "delete", "empty", "garbage_json", "swap"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(["config.json", "model.safetensors", "lstmkit.json"]), how=_MUTATIONS,
       cut=st.integers(0, 10_000), byte=st.integers(0, 255), manifest=st.booleans())
def test_fuzz_model_directory_loader(tmp_path_factory, target, how, cut, byte, manifest):
    """A damaged model directory gives a valid model or one line, never a traceback, and
    reading it touches no file."""
    root = tmp_path_factory.mktemp("fuzz")
    d = save_model(_model(), root / "m", extra={"classes": ["a", "b"]})
    if not manifest:
        (d / "lstmkit.json").unlink()
        if target == "lstmkit.json":
            target = "config.json"
    p = d / target
    data = p.read_bytes()
    k = cut % max(1, len(data))
    if how == "truncate":
        p.write_bytes(data[:k])
    elif how == "flip":
        p.write_bytes(data[:k] + bytes([byte]) + data[k + 1:])
    elif how == "append":
        p.write_bytes(data + bytes([byte]) * (1 + cut % 7))
    elif how == "delete":
        p.unlink()
    elif how == "empty":
        p.write_bytes(b"")
    elif how == "garbage_json":
        p.write_text(json.dumps([cut, {"class": byte}]))
    elif how == "swap":
        other = d / ("model.safetensors" if target != "model.safetensors" else "config.json")
        a, b = p.read_bytes(), other.read_bytes()
        p.write_bytes(b)
        other.write_bytes(a)
    before = _tree(root)
    try:
        model, extra = load_model(SequenceClassifier, d)
    except (ValueError, FileNotFoundError) as e:
        assert "\n" not in str(e) and str(d) in str(e)
    else:
        assert isinstance(model, SequenceClassifier) and isinstance(extra, dict)
        out = model(torch.randn(4, 1, 3))
        assert bool(torch.isfinite(out).all())
    assert _tree(root) == before


# ----------------------------------------------------------------------------- one writer at a time

def test_dir_lock_refuses_a_second_writer_in_another_process(tmp_path):
    d = tmp_path / "m"
    code = ("import sys; from lstmkit.models.io import model_dir_lock\n"
            "try:\n    with model_dir_lock(sys.argv[1]): pass\n"
            "except ValueError as e:\n    print(e); sys.exit(3)\n")
    with model_dir_lock(d):
        r = subprocess.run([sys.executable, "-c", code, str(d)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 3 and "is being written by another lstmkit process" in r.stdout
        assert f"pid {os.getpid()}" in r.stdout
    assert not (tmp_path / ".m.lstmkit-lock").exists()
    with model_dir_lock(d):  # released: the directory can be locked again
        assert (tmp_path / ".m.lstmkit-lock").exists()
    assert not (tmp_path / ".m.lstmkit-lock").exists()


# ----------------------------------------------------------------------------- the CLI's one line

def test_cli_turns_any_failure_into_one_line(capsys, monkeypatch):
    from lstmkit import cli

    def boom(args):
        raise RuntimeError("deep inside\nsecond line")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=boom)
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    sub.choices["demo"].set_defaults(func=boom)
    assert cli.main(["demo"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lstmkit demo: error: internal error (RuntimeError: deep inside")


def test_cli_interrupt_says_how_to_resume(capsys, monkeypatch):
    from lstmkit import cli

    def interrupted(args):
        raise KeyboardInterrupt

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    sub.choices["experiment"].set_defaults(func=interrupted)
    assert cli.main(["experiment", "reber"]) == 130
    err = capsys.readouterr().err
    assert "lstmkit experiment: interrupted; rerun the same command with --resume" in err


def test_cli_shows_dependency_warnings_only_on_failure(capsys, monkeypatch):
    import warnings

    from lstmkit import cli

    calls = {"fail": False}

    def noisy(args):
        warnings.warn("a dependency grumbles", DeprecationWarning)
        if calls["fail"]:
            raise ValueError("it failed")
        return 0

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    sub.choices["demo"].set_defaults(func=noisy)
    assert cli.main(["demo"]) == 0
    assert "grumbles" not in capsys.readouterr().err
    calls["fail"] = True
    assert cli.main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "lstmkit demo: error: it failed" in err and "warning: a dependency grumbles" in err


def test_progress_bar_off_a_terminal_writes_rarely(tmp_path):
    from lstmkit.progress import progress_bar

    with open(tmp_path / "log.txt", "w") as f:
        bar = progress_bar(5000, "work", "it", file=f)
        for _ in range(5000):
            bar.update(1)
        bar.close()
    text = (tmp_path / "log.txt").read_text()
    assert text.count("\r") + text.count("\n") <= 4, text[:500]


def test_dir_lock_never_touches_a_foreign_file_of_its_name(tmp_path):
    mine = tmp_path / ".m.lstmkit-lock"
    mine.write_text("my own notes")
    with pytest.raises(ValueError, match="is not lstmkit's lock file"):
        with io.dir_lock(tmp_path / "m"):
            pass
    assert mine.read_text() == "my own notes"


def test_half_precision_weights_halve_the_file_and_load_back_as_float32(tmp_path):
    torch.manual_seed(0)
    m = SequenceClassifier(3, 2, hidden_size=16)
    full, half = save_model(m, tmp_path / "full"), save_model(m, tmp_path / "half", weights_dtype=torch.float16)
    size = lambda d: (d / "model.safetensors").stat().st_size  # noqa: E731
    assert size(half) < 0.6 * size(full)
    m2, _ = load_model(SequenceClassifier, half)
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert b.dtype == a.dtype, k
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), k  # float16: 11 significant bits
        assert torch.equal(b, a.half().float()), k


def test_half_precision_refuses_weights_beyond_its_range(tmp_path):
    m = SequenceClassifier(3, 2, hidden_size=4)
    with torch.no_grad():
        next(m.parameters()).fill_(1e6)
    with pytest.raises(ValueError, match="beyond its range"):
        save_model(m, tmp_path / "m", weights_dtype=torch.float16)
    with pytest.raises(TypeError, match="weights_dtype"):
        save_model(m, tmp_path / "m", weights_dtype=torch.int8)
    assert not (tmp_path / "m").exists()
