"""The fused kernels' private, keyed build cache (issue 11): key, folder, announcements, lock.

torch's ``load`` is replaced by a fake that writes a stand-in library, so nothing compiles;
the one real test only loads a build that is already in the cache (or skips).
"""

import json
import os
import re
import threading
import time
import types
import warnings

import pytest

from lstmkit.kernels import _build


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty kernel cache in tmp_path, a fresh extension state, a fixed compiler string."""
    folder = tmp_path / "kernels"
    monkeypatch.setenv("LSTMKIT_CACHE_DIR", str(folder))
    monkeypatch.delenv("LSTMKIT_NATIVE", raising=False)
    monkeypatch.setattr(_build, "_ext", None)
    monkeypatch.setattr(_build, "_error", None)
    monkeypatch.setattr(_build, "_warned", set())
    monkeypatch.setattr(_build, "_compiler_identity", lambda: "c++: test compiler 1.0")
    return folder


class FakeLoad:
    """Stands in for torch.utils.cpp_extension.load: records calls, writes the library file."""

    def __init__(self, fail: str | None = None, check=None, rewrite=False):
        self.calls = []
        self.rewrite = rewrite
        self.fail = fail
        self.check = check

    def __call__(self, *, name, sources, extra_cflags, build_directory, verbose=False, extra_ldflags=None):
        self.calls.append(dict(name=name, sources=sources, extra_cflags=extra_cflags, build_directory=build_directory,
                               extra_ldflags=extra_ldflags))
        if self.check is not None:
            self.check(build_directory)
        if self.fail:
            raise RuntimeError(f"Error building extension '{name}': {self.fail}")
        lib = _build.Path(build_directory) / f"{name}.so"
        if self.rewrite or not lib.exists():  # ninja's rule: build what is missing
            lib.write_bytes(b"not a real library")
        return types.SimpleNamespace(__name__=name, own_gemm=lambda: True)


@pytest.fixture
def fake_load(monkeypatch):
    import torch.utils.cpp_extension as cpp

    fake = FakeLoad()
    monkeypatch.setattr(cpp, "load", fake)
    # load_cached imports a finished build directly; the stand-in library is no ELF file.
    monkeypatch.setattr(_build, "_import_built", lambda name, path: types.SimpleNamespace(__name__=name, path=path))
    return fake


# --- the key ---------------------------------------------------------------------------------


def test_key_changes_when_a_source_byte_changes(tmp_path, monkeypatch, cache):
    csrc = tmp_path / "csrc"
    csrc.mkdir()
    src = csrc / "fused_rnn.cpp"
    src.write_bytes(b"int f() { return 1; }\n")
    monkeypatch.setattr(_build, "_CSRC", csrc)
    k1 = _build.build_key()
    assert k1 == _build.build_key()  # deterministic
    src.write_bytes(b"int f() { return 2; }\n")
    k2 = _build.build_key()
    (csrc / "gemm.h").write_bytes(b"#pragma once\n")  # every file in csrc counts, headers too
    k3 = _build.build_key()
    assert len({k1, k2, k3}) == 3
    assert re.fullmatch(r"[0-9a-f]{16}", k1)


def test_key_changes_with_the_compiler(monkeypatch, cache):
    k1 = _build.build_key()
    monkeypatch.setattr(_build, "_compiler_identity", lambda: "c++: test compiler 2.0")
    assert _build.build_key() != k1


def test_compiler_identity_reads_cxx(monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/bin/g++-99")
    assert _build._compiler_identity().startswith("/nonexistent/bin/g++-99: unavailable")
    monkeypatch.setenv("CXX", "python3")  # any program answering --version
    ident = _build._compiler_identity()
    assert ident.startswith("python3: Python 3")


def test_key_changes_with_cpu_flags_only_for_native_builds(monkeypatch, cache):
    monkeypatch.setattr(_build, "cpu_flags", lambda: ["avx", "avx2", "fma"])
    k_avx2 = _build.build_key()
    monkeypatch.setattr(_build, "cpu_flags", lambda: ["avx", "avx2", "avx512f", "fma"])
    k_avx512 = _build.build_key()
    assert k_avx2 != k_avx512
    monkeypatch.setenv("LSTMKIT_NATIVE", "0")  # a portable build runs on both: one key
    assert "-march=native" not in _build.build_ingredients()["cflags"]
    k_portable = _build.build_key()
    monkeypatch.setattr(_build, "cpu_flags", lambda: ["avx", "avx2", "fma"])
    assert _build.build_key() == k_portable
    assert k_portable not in (k_avx2, k_avx512)


def test_key_changes_with_torch_python_and_cflags(monkeypatch, cache):
    base = _build.build_key()
    ing = _build.build_ingredients()
    assert sorted(ing) == ["cflags", "compiler", "cpu", "include", "ninja", "python", "sources", "torch"]
    assert "cxx11_abi=" in ing["torch"]
    for name, value in [("_torch_identity", lambda: "torch 9.9 cxx11_abi=0"),
                        ("_ninja_identity", lambda: "ninja 1.99.0"),
                        ("_include_paths", lambda: ["/elsewhere/torch/include"]),
                        ("_python_identity", lambda: "cpython 3.99.0 x86_64"),
                        ("_cflags", lambda: ["-O2"])]:
        with monkeypatch.context() as m:
            m.setattr(_build, name, value)
            assert _build.build_key() != base, name


def test_build_key_rejects_a_non_dict():
    with pytest.raises(TypeError, match="ingredients must be a dict"):
        _build.build_key(["sources"])


# --- the folder ------------------------------------------------------------------------------


def test_cache_dir_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LSTMKIT_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _build.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("LSTMKIT_CACHE_DIR")
    assert _build.cache_dir() == tmp_path / "xdg" / "lstmkit" / "kernels"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _build.cache_dir() == tmp_path / "home" / ".cache" / "lstmkit" / "kernels"
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("LSTMKIT_CACHE_DIR", str(tmp_path / "afile"))
    with pytest.raises(ValueError, match="LSTMKIT_CACHE_DIR must name a directory"):
        _build.cache_dir()


def test_build_dir_is_named_by_the_key(cache):
    key = _build.build_key()
    assert _build.build_dir() == cache / f"lstmkit_fused-{key}"
    assert not cache.exists()  # naming it creates nothing


# --- building and loading --------------------------------------------------------------------


def test_a_build_announces_itself_and_a_cached_load_is_silent(cache, fake_load, capsys):
    ext = _build.load_extension()
    err = capsys.readouterr().err
    key = _build.build_key()
    folder = cache / f"lstmkit_fused-{key}"
    assert "lstmkit: building the fused CPU kernels for this CPU and compiler (once, about 1-3 min)" in err
    assert str(folder) in err
    assert re.search(r"lstmkit: built the fused CPU kernels in \d+ s", err)
    assert err.index("building") < err.index("built the")
    # torch built inside our keyed folder, under a module name carrying the key
    (call,) = fake_load.calls
    assert call["build_directory"] == str(folder) and call["name"] == f"lstmkit_fused_{key}"
    assert "-march=native" in call["extra_cflags"]
    # ... compiling the copies of the sources kept in the folder (their times never change)
    assert call["sources"] == [str(folder / "csrc" / "fused_rnn.cpp")]
    assert (folder / "csrc" / "fused_rnn.cpp").read_bytes() == (_build._CSRC / "fused_rnn.cpp").read_bytes()
    assert ext.__name__ == f"lstmkit_fused_{key}"
    marker = json.loads((folder / "build.json").read_text())
    assert marker["key"] == key and marker["ingredients"] == _build.build_ingredients()
    assert marker["finished_at"] and marker["seconds"] >= 0
    assert not list(folder.glob(".build.json.*"))  # the atomic write left no temporary
    assert _build.build_state()["state"] == "built"

    _build._reset_for_tests()  # a new process
    assert _build.load_extension() is not None
    assert capsys.readouterr().err == ""  # torch's load ran (ninja: nothing to do), silently
    assert len(fake_load.calls) == 2
    assert json.loads((folder / "build.json").read_text()) == marker  # not rewritten


def test_no_marker_means_a_build(cache, fake_load, capsys):
    key = _build.build_key()
    folder = cache / f"lstmkit_fused-{key}"
    folder.mkdir(parents=True)
    # a library without the marker: an interrupted build (or another tool's), not trusted
    (folder / f"lstmkit_fused_{key}.so").write_bytes(b"half")
    _build.load_extension()
    assert "building the fused CPU kernels" in capsys.readouterr().err
    # a marker for another key: also a build
    _build._reset_for_tests()
    marker = json.loads((folder / "build.json").read_text())
    (folder / "build.json").write_text(json.dumps({**marker, "key": "0" * 16}))
    _build.load_extension()
    assert "building the fused CPU kernels" in capsys.readouterr().err
    assert len(fake_load.calls) == 2


def test_a_rebuild_ninja_foresees_is_announced(cache, fake_load, monkeypatch, capsys):
    _build.load_extension()
    _build._reset_for_tests()
    capsys.readouterr()
    monkeypatch.setattr(_build, "_ninja_up_to_date", lambda folder: False)  # e.g. an object file deleted
    _build.load_extension()
    err = capsys.readouterr().err
    assert "building the fused CPU kernels" in err and "ninja found changed inputs" in err


def test_a_rebuild_nobody_foresaw_is_reported_after(cache, monkeypatch, capsys):
    import torch.utils.cpp_extension as cpp

    monkeypatch.setattr(cpp, "load", FakeLoad())
    _build.load_extension()
    _build._reset_for_tests()
    capsys.readouterr()
    marker = json.loads((_build.build_dir() / "build.json").read_text())
    time.sleep(0.01)
    monkeypatch.setattr(cpp, "load", FakeLoad(rewrite=True))  # torch rebuilt the library anyway
    _build.load_extension()
    err = capsys.readouterr().err
    assert "building" not in err and "rebuilt (torch's build found changed inputs)" in err
    assert json.loads((_build.build_dir() / "build.json").read_text())["finished_at"] >= marker["finished_at"]


def test_ninja_dry_run_reads_ninjas_answer(tmp_path):
    if _build.shutil.which("ninja") is None:
        pytest.skip("no ninja on PATH")
    assert _build._ninja_up_to_date(tmp_path) is None  # no build.ninja: cannot say
    (tmp_path / "in.txt").write_text("a")
    (tmp_path / "build.ninja").write_text("rule cp\n  command = cp $in $out\nbuild out.txt: cp in.txt\n")
    assert _build._ninja_up_to_date(tmp_path) is False
    _build.subprocess.run(["ninja", "-C", str(tmp_path)], capture_output=True, check=True)
    assert _build._ninja_up_to_date(tmp_path) is True
    os.utime(tmp_path / "in.txt", ns=(1 << 62, 1 << 62))  # an input newer than the output
    assert _build._ninja_up_to_date(tmp_path) is False


def test_a_failed_build_warns_once_and_is_recorded(cache, monkeypatch, capsys):
    import torch.utils.cpp_extension as cpp

    monkeypatch.setattr(cpp, "load", FakeLoad(fail="no compiler found"))
    with pytest.warns(RuntimeWarning, match="could not build the fused CPU kernels"):
        assert _build.load_extension() is None
    assert "building the fused CPU kernels" in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _build.load_extension() is None  # remembered: no second attempt, no warning
    assert "no compiler" in _build.extension_error()
    st = _build.build_state()
    assert st["state"] == "failed" and "no compiler" in st["detail"]
    _build._reset_for_tests()  # a new process still sees why, from failed.json
    st = _build.build_state()
    assert st["state"] == "failed" and "no compiler" in st["detail"] and "tries again" in st["detail"]
    # the next process tries again; success clears the record
    monkeypatch.setattr(cpp, "load", FakeLoad())
    monkeypatch.setattr(_build, "_import_built", lambda name, path: types.SimpleNamespace())
    assert _build.load_extension() is not None
    assert not (_build.build_dir() / "failed.json").exists()
    assert _build.build_state()["state"] == "built"


def test_a_killed_builds_torch_baton_is_removed(cache, monkeypatch):
    import torch.utils.cpp_extension as cpp

    folder = _build.build_dir()
    folder.mkdir(parents=True)
    (folder / "lock").write_text("")  # left by a build that was killed
    assert _build.build_state()["state"] == "not built yet"
    assert "may be running" in _build.build_state()["detail"]

    def no_baton(build_directory):
        assert not (_build.Path(build_directory) / "lock").exists()

    fake = FakeLoad(check=no_baton)
    monkeypatch.setattr(cpp, "load", fake)
    monkeypatch.setattr(_build, "_import_built", lambda name, path: types.SimpleNamespace())
    assert _build.load_extension() is not None and len(fake.calls) == 1


def test_a_concurrent_build_is_waited_for_not_repeated(cache, fake_load, capsys):
    fcntl = pytest.importorskip("fcntl")
    folder = _build.build_dir()
    folder.mkdir(parents=True)
    key = _build.build_key()
    result = {}
    with open(folder / "build.lock", "a+") as held:  # "another process" is building
        fcntl.flock(held, fcntl.LOCK_EX)
        t = threading.Thread(target=lambda: result.setdefault("ext", _build.load_extension()))
        t.start()
        seen = ""
        deadline = time.monotonic() + 10
        while "waiting for another process" not in seen and time.monotonic() < deadline:
            time.sleep(0.02)
            seen += capsys.readouterr().err
        assert "waiting for another process" in seen
        # ... which finishes its build
        (folder / f"lstmkit_fused_{key}.so").write_bytes(b"lib")
        _build._write_json_atomic(folder / "build.json", {"key": key})
        fcntl.flock(held, fcntl.LOCK_UN)
    t.join(10)
    assert result["ext"] is not None
    assert (folder / f"lstmkit_fused_{key}.so").read_bytes() == b"lib"  # the other process's build
    assert "building" not in capsys.readouterr().err


def test_load_cached_never_builds(cache, fake_load, capsys):
    assert _build.load_cached() is None
    assert fake_load.calls == [] and capsys.readouterr().err == ""
    assert _build.extension_error() is None and not cache.exists()
    _build.load_extension()
    _build._reset_for_tests()
    assert _build.load_cached() is not None and len(fake_load.calls) == 1


def test_the_real_cached_build_loads_silently(monkeypatch, capsys):
    """Only a build already in the cache that ninja finds up to date: this test never compiles."""
    st = _build.build_state()
    folder = _build.Path(st["dir"])
    if st["state"] != "built" or _build._ninja_up_to_date(folder) is not True:
        pytest.skip(f"no finished, up-to-date build in {folder} ({st['state']})")
    library = folder / f"lstmkit_fused_{st['key']}.so"
    before = (library.stat().st_mtime_ns, (folder / "build.json").read_text())
    monkeypatch.setattr(_build, "_ext", None)
    monkeypatch.setattr(_build, "_error", None)
    ext = _build.load_extension()
    assert capsys.readouterr().err == ""
    assert (library.stat().st_mtime_ns, (folder / "build.json").read_text()) == before
    assert ext.__name__ == f"lstmkit_fused_{st['key']}"
    assert hasattr(ext, "lstm_forward") and isinstance(ext.own_gemm(), bool)


def test_build_state_lists_other_keys_builds(cache):
    other = cache / "lstmkit_fused-0123456789abcdef"
    other.mkdir(parents=True)
    assert _build.build_state()["other_builds"] == []  # unfinished: not a build
    (other / "build.json").write_text("{}")
    st = _build.build_state()
    assert st["other_builds"] == ["lstmkit_fused-0123456789abcdef"] and st["state"] == "not built yet"
