"""``lstmkit doctor``: the report's sections, its JSON, and that it never builds unasked."""

import json
import types

import pytest

from lstmkit import kernels
from lstmkit.cli import doctor, main
from lstmkit.kernels import _build

SECTIONS = ("versions", "optional extras", "cpu", "torch", "kernels", "fast paths")


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty kernel cache, no extension loaded, torch's load forbidden, imports stubbed."""
    import torch.utils.cpp_extension as cpp

    folder = tmp_path / "kernels"
    monkeypatch.setenv("LSTMKIT_CACHE_DIR", str(folder))
    for var in ("LSTMKIT_BACKEND", "LSTMKIT_NATIVE", "LSTMKIT_OWN_GEMM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(_build, "_ext", None)
    monkeypatch.setattr(_build, "_error", None)
    monkeypatch.setattr(_build, "_warned", set())
    monkeypatch.setattr(kernels, "_own_gemm_cache", {})

    def no_build(*a, **k):
        raise AssertionError("doctor must not build without --build")

    monkeypatch.setattr(cpp, "load", no_build)
    # Importing every extra for real (librosa, aeon, ...) takes seconds; tested apart below.
    monkeypatch.setattr(doctor, "_try_import", lambda name: (name != "aeon", None if name != "aeon" else "ImportError: x"))
    return folder


def _json(capsys, *argv):
    assert main(["doctor", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_doctor_prints_every_section_and_does_not_build(empty_cache, capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for section in SECTIONS:
        assert f"\n{section}" in out, section
    assert "not built yet" in out
    assert _build.build_key() in out and str(empty_cache) in out
    assert "safetensors" in out and "sklearn" in out  # read from pyproject's extras
    assert not empty_cache.exists()  # nothing was built or even created
    assert _build.extension_error() is None


def test_doctor_json_is_the_same_report(empty_cache, capsys):
    r = _json(capsys)
    assert sorted(r) == ["cpu", "extras", "fast_paths", "generated", "kernels", "torch", "versions"]
    assert r["versions"]["lstmkit"] and r["versions"]["torch"] and r["versions"]["numpy"]
    assert r["kernels"]["state"] == "not built yet" and r["kernels"]["key"] == _build.build_key()
    assert r["kernels"]["cache_dir"] == str(empty_cache)
    assert set(r["kernels"]["ingredients"]) == {"cflags", "compiler", "cpu", "include", "ninja", "python", "sources",
                                                     "torch"}
    by_pkg = {e["package"]: e for e in r["extras"]}
    assert by_pkg["scikit-learn"]["import"] == "sklearn" and by_pkg["pillow"]["import"] == "PIL"
    assert by_pkg["safetensors"]["extras"] == ["train"]
    assert by_pkg["aeon"]["imports"] is False and by_pkg["aeon"]["error"]
    assert "lstmkit" not in by_pkg  # lstmkit[train] inside other extras is not a package to import
    assert isinstance(r["torch"]["threads"], int) and isinstance(r["torch"]["mkldnn"], bool)
    assert "avx2" in r["cpu"]["features"] or r["cpu"]["machine"] not in ("x86_64", "AMD64")
    assert r["fast_paths"]["backend"] == "auto"
    assert "predicted" in r["fast_paths"]["own_gemm_source"]
    assert len(r["fast_paths"]["paths"]) >= 5
    assert not empty_cache.exists()


def test_doctor_reports_the_dispatchers_decision(empty_cache, monkeypatch, capsys):
    # own_gemm (AVX2 without AVX-512) sends float32 standard inference to our kernel,
    # otherwise torch's; float64 always goes to torch's.
    case32 = "standard LSTM, float32 inference, full-length batch"
    case64 = "standard LSTM, float64 inference, full-length batch"
    monkeypatch.setattr(doctor, "_cpu_report", lambda: {
        "model": "Test CPU", "machine": "x86_64", "logical_cpus": 2, "flags_known": True,
        "features": {"avx2": True, "fma": True, "avx512f": False}})
    r = _json(capsys)
    assert r["fast_paths"]["own_gemm"] is True
    assert r["fast_paths"]["paths"][case32].startswith("fused kernels")
    assert r["fast_paths"]["paths"][case64].startswith("torch's kernel")
    monkeypatch.setattr(doctor, "_cpu_report", lambda: {
        "model": "Test CPU", "machine": "x86_64", "logical_cpus": 2, "flags_known": True,
        "features": {"avx2": True, "fma": True, "avx512f": True}})
    r = _json(capsys)
    assert r["fast_paths"]["own_gemm"] is False
    assert r["fast_paths"]["paths"][case32].startswith("torch's kernel")
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    r = _json(capsys)
    assert r["fast_paths"]["paths"][case32] == "reference loop"
    assert kernels.own_gemm is not None and not empty_cache.exists()


def test_predicted_own_gemm_follows_the_kernel_rule(monkeypatch):
    monkeypatch.delenv("LSTMKIT_OWN_GEMM", raising=False)
    avx2 = {"avx2": True, "fma": True, "avx512f": False}
    avx512 = {"avx2": True, "fma": True, "avx512f": True}
    assert doctor._predicted_own_gemm(avx2, native=True) is True
    assert doctor._predicted_own_gemm(avx512, native=True) is False
    assert doctor._predicted_own_gemm(avx2, native=False) is False  # portable build: no AVX2 code
    monkeypatch.setenv("LSTMKIT_OWN_GEMM", "1")
    assert doctor._predicted_own_gemm(avx512, native=True) is True
    assert doctor._predicted_own_gemm({"avx2": False, "fma": False}, native=True) is False


def test_doctor_build_builds_and_announces(empty_cache, monkeypatch, capsys):
    import torch.utils.cpp_extension as cpp

    calls = []

    def fake_load(*, name, build_directory, **k):
        calls.append(name)
        (_build.Path(build_directory) / f"{name}.so").write_bytes(b"x")
        return types.SimpleNamespace(__name__=name, own_gemm=lambda: False)

    monkeypatch.setattr(cpp, "load", fake_load)
    r = _json(capsys, "--build")
    assert len(calls) == 1
    assert r["kernels"]["state"] == "built"
    assert r["fast_paths"]["own_gemm"] is False and r["fast_paths"]["own_gemm_source"] == "the loaded kernels"
    assert (empty_cache / f"lstmkit_fused-{r['kernels']['key']}" / "build.json").exists()


def test_doctor_build_announcement_is_on_stderr(empty_cache, monkeypatch, capsys):
    import torch.utils.cpp_extension as cpp

    def fake_load(*, name, build_directory, **k):
        (_build.Path(build_directory) / f"{name}.so").write_bytes(b"x")
        return types.SimpleNamespace(__name__=name)

    monkeypatch.setattr(cpp, "load", fake_load)
    assert main(["doctor", "--json", "--build"]) == 0
    cap = capsys.readouterr()
    assert "lstmkit: building the fused CPU kernels" in cap.err
    json.loads(cap.out)


def test_doctor_reports_a_failed_build_and_exits_0(empty_cache, monkeypatch, capsys):
    import torch.utils.cpp_extension as cpp

    def broken(*a, **k):
        raise RuntimeError("Error building extension: no compiler found")

    monkeypatch.setattr(cpp, "load", broken)
    assert main(["doctor", "--json", "--build"]) == 0
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    # the CLI shows lstmkit's own warning as one line (main captures warnings)
    assert "lstmkit doctor: warning: could not build the fused CPU kernels" in captured.err
    assert r["kernels"]["state"] == "failed" and "no compiler" in r["kernels"]["detail"]
    assert r["fast_paths"]["paths"]["other LSTM variants, GRU, Elman (CPU, float32/float64)"].startswith("reference")
    assert main(["doctor"]) == 0
    assert "failed: RuntimeError: Error building extension: no compiler found" in capsys.readouterr().out


def test_try_import_says_why():
    assert doctor._try_import("json") == (True, None)
    ok, why = doctor._try_import("lstmkit_no_such_module")
    assert ok is False and why.startswith("ModuleNotFoundError")


def test_doctor_says_how_a_batch_is_split_across_threads(monkeypatch):
    from lstmkit.cli.doctor import _batch_split

    monkeypatch.delenv("LSTMKIT_BATCH_SPLIT", raising=False)
    assert _batch_split(1).startswith("not split") and "inference split across 2" in _batch_split(2)
    monkeypatch.setenv("LSTMKIT_BATCH_SPLIT", "1")
    assert "inference and training" in _batch_split(2)
    monkeypatch.setenv("LSTMKIT_BATCH_SPLIT", "0")
    assert _batch_split(2).startswith("never")
