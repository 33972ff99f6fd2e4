"""Build and load the fused CPU extension (C++ sources in ``csrc/``) on first use.

The build lives in lstmkit's own cache (:func:`cache_dir`: ``$LSTMKIT_CACHE_DIR``, else
``$XDG_CACHE_HOME/lstmkit/kernels``, else ``~/.cache/lstmkit/kernels``), in one folder per
*build key* (:func:`build_key`): a hash of everything that changes the binary (the C++
sources, the compiler, torch's version and C++ ABI, Python's version, the compiler flags
and, for a ``-march=native`` build, the CPU's feature flags) or makes ninja rebuild it
(ninja's version, the header folders). A home directory shared by
machines with different CPUs or compilers therefore holds one build per kind, and a
process never loads a library built for another CPU.

The build compiles copies of the sources kept in its folder, through
:func:`torch.utils.cpp_extension.load` with ``build_directory=`` that folder (torch's own
ninja files and file baton live there; ``build.lock`` makes concurrent processes wait for
one another, and clears the baton of a build that was killed). A folder's build is
finished when it holds ``build.json`` (the key's ingredients and the finish time, written
atomically after a successful build) next to the library; then it loads silently, unless a
ninja dry run finds something to rebuild. Any build announces itself on stderr first, with
its expected time and folder, and says when it is done.

When the build fails (no compiler, no ninja), :func:`load_extension` warns once and
returns ``None``; the caller then uses the reference loop. The failure's text is kept in
``failed.json`` (for ``lstmkit doctor``); the next process tries again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

__all__ = [
    "load_extension",
    "load_cached",
    "extension_error",
    "warn_once",
    "cache_dir",
    "build_ingredients",
    "build_key",
    "build_dir",
    "build_state",
    "cpu_flags",
]

_CSRC = Path(__file__).parent / "csrc"
# The one translation unit: fused_rnn.cpp (the bindings) includes the other files of csrc/,
# one job each (see its head comment); _source_digest hashes every file there.
_SOURCES = ("fused_rnn.cpp",)
_NAME = "lstmkit_fused"
_LIB_EXT = ".pyd" if sys.platform == "win32" else ".so"
MARKER = "build.json"
FAILED = "failed.json"
# What the announcement promises: 139 and 171 s on the shared 2-core AMD EPYC (2026-12-02,
# ~95 s of CPU time; one translation unit compiles on one core), 45-65 s earlier, quieter.
EXPECTED = "about 1-3 min"

_lock = threading.Lock()
_ext = None
_error: str | None = None
_warned: set[str] = set()


def warn_once(key: str, message: str) -> None:
    """Issue ``message`` as a RuntimeWarning the first time ``key`` is seen in this process."""
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


# --- the build key's ingredients (module-level functions: tests replace them) ---------------


def _cflags() -> list[str]:
    # No errno/trap semantics (as torch itself is built): lets the loops with exp vectorise.
    # -fopenmp: at::parallel_for (the batch split across threads, csrc/batch_split.h) runs on
    # torch's own OpenMP pool (torch's libgomp, already loaded) instead of sequentially.
    flags = ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-fopenmp"]
    # The element-wise pass is written to be vectorised; let the compiler use this CPU's
    # vector width. LSTMKIT_NATIVE=0 builds a portable library instead.
    if _native():
        flags += ["-march=native", "-mprefer-vector-width=512"]
    return flags


def _native() -> bool:
    return os.environ.get("LSTMKIT_NATIVE", "1") != "0"


def _source_digest() -> str:
    """sha256 over every file in ``csrc/`` (relative name and bytes, in name order)."""
    h = hashlib.sha256()
    for p in sorted(q for q in _CSRC.rglob("*") if q.is_file() and "__pycache__" not in q.parts):
        h.update(p.relative_to(_CSRC).as_posix().encode() + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _compiler() -> str:
    # What torch's build uses (torch.utils.cpp_extension reads CXX, default c++).
    return os.environ.get("CXX", "").strip() or "c++"


def _compiler_identity() -> str:
    """``CXX`` and the first line of ``$CXX --version`` (what names the compiler's build)."""
    cxx = _compiler()
    try:
        out = subprocess.run(
            [*shlex.split(cxx), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        first = (out.stdout or out.stderr).strip().splitlines()
        return f"{cxx}: {first[0].strip() if first else 'no version output'}"
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        return f"{cxx}: unavailable ({type(e).__name__})"


def _torch_identity() -> str:
    import torch

    return f"torch {torch.__version__} cxx11_abi={int(bool(torch._C._GLIBCXX_USE_CXX11_ABI))}"


def _ninja_identity() -> str:
    """The ``ninja`` on PATH (the one torch runs) and its version: its build log's format
    differs between versions, and a log written by another version makes ninja rebuild."""
    path = shutil.which("ninja")
    if path is None:
        return "ninja: not found"
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
        return f"ninja {out.stdout.strip() or out.stderr.strip()}"
    except (OSError, subprocess.SubprocessError) as e:
        return f"ninja: unavailable ({type(e).__name__})"


def _include_paths() -> list[str]:
    """The header folders torch's build.ninja names (torch's and Python's): two installs of
    the same versions at other places get their own builds instead of rebuilding each other's."""
    import sysconfig

    from torch.utils.cpp_extension import include_paths

    return [*include_paths(), sysconfig.get_paths()["include"]]


def _python_identity() -> str:
    return f"{sys.implementation.name} {platform.python_version()} {platform.machine()}"


def cpu_flags() -> list[str]:
    """This CPU's feature flags, sorted (``/proc/cpuinfo`` on Linux; empty elsewhere).

    Example:
        >>> flags = cpu_flags()
        >>> isinstance(flags, list)
        True
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                name, sep, value = line.partition(":")
                # x86 says "flags", arm64 says "Features"
                if sep and name.strip().lower() in ("flags", "features"):
                    return sorted(set(value.split()))
    except OSError:
        pass
    return []


def cpu_model() -> str:
    """This CPU's model name (``/proc/cpuinfo``'s ``model name``, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                name, sep, value = line.partition(":")
                if sep and name.strip().lower() in ("model name", "hardware", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _cpu_identity() -> str:
    """What ``-march=native`` depends on: the CPU's flags, hashed (``portable`` without it)."""
    if not _native():
        return f"portable {platform.machine()}"
    flags = cpu_flags()
    if flags:
        digest = hashlib.sha256(" ".join(flags).encode()).hexdigest()[:16]
        return f"{platform.machine()} flags-sha256:{digest}"
    return f"{platform.machine()} {platform.processor() or 'unknown processor'}"


def build_ingredients() -> dict:
    """Everything that changes the compiled library, as a JSON-ready dict.

    Keys: ``sources`` (sha256 of ``csrc/``), ``compiler``, ``ninja``, ``torch``,
    ``include`` (torch's and Python's header folders), ``python``, ``cflags``, ``cpu``.

    Example:
        >>> sorted(build_ingredients())
        ['cflags', 'compiler', 'cpu', 'include', 'ninja', 'python', 'sources', 'torch']
    """
    return {
        "sources": _source_digest(),
        "compiler": _compiler_identity(),
        "ninja": _ninja_identity(),
        "include": _include_paths(),
        "torch": _torch_identity(),
        "python": _python_identity(),
        "cflags": list(_cflags()),
        "cpu": _cpu_identity(),
    }


def build_key(ingredients: dict | None = None) -> str:
    """16 hex digits naming one build: a sha256 of :func:`build_ingredients`.

    Example:
        >>> len(build_key({"sources": "x"}))
        16
    """
    if ingredients is None:
        ingredients = build_ingredients()
    if not isinstance(ingredients, dict):
        raise TypeError(f"ingredients must be a dict, got {type(ingredients).__name__}")
    blob = json.dumps(ingredients, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_dir() -> Path:
    """The folder holding lstmkit's kernel builds, one subfolder per build key.

    ``$LSTMKIT_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/lstmkit/kernels``, else
    ``~/.cache/lstmkit/kernels``. Nothing is created here.

    Example:
        >>> cache_dir().is_absolute()
        True
    """
    env = os.environ.get("LSTMKIT_CACHE_DIR", "").strip()
    if env:
        path = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        path = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "lstmkit" / "kernels"
    path = path.absolute()
    if path.exists() and not path.is_dir():
        raise ValueError(f"LSTMKIT_CACHE_DIR must name a directory, got a file: {path}")
    return path


def build_dir(key: str | None = None) -> Path:
    """The folder of one build: ``cache_dir() / f"lstmkit_fused-{key}"`` (key: :func:`build_key`).

    Example:
        >>> build_dir("0123456789abcdef").name
        'lstmkit_fused-0123456789abcdef'
    """
    return cache_dir() / f"{_NAME}-{key if key is not None else build_key()}"


def _module_name(key: str) -> str:
    # The key is in the module's name, so processes loading different builds never clash.
    return f"{_NAME}_{key}"


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _finished(folder: Path, key: str) -> dict | None:
    """The folder's marker when it records a finished build of ``key`` and the library is there."""
    marker = _read_json(folder / MARKER)
    if marker is None or marker.get("key") != key:
        return None
    if not (folder / f"{_module_name(key)}{_LIB_EXT}").is_file():
        return None
    return marker


def _import_built(name: str, path: Path):
    """Import a finished build's library directly (no ninja, no compiler)."""
    import importlib.util

    import torch  # noqa: F401  (the library links against torch's, which must be loaded first)

    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the kernel library {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _build_lock(folder: Path):
    """Hold ``build.lock`` in ``folder`` (an OS lock: released when a process dies)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: torch's own file baton is the only guard
        yield False
        return
    with open(folder / "build.lock", "a+") as f:
        try:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"lstmkit: waiting for another process building the fused CPU kernels in {folder} ...",
                      file=sys.stderr, flush=True)
                fcntl.flock(f, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: torch's file baton still guards the build
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(f, fcntl.LOCK_UN)


def _copy_sources(folder: Path) -> list[str]:
    """Copy ``csrc/`` into the build folder once; the build compiles the copies.

    The folder's key holds the sources' hash, so the copies never change: a checkout that
    only touches the originals' times (switching branches) cannot make ninja rebuild.
    """
    dest = folder / "csrc"
    for p in sorted(q for q in _CSRC.rglob("*") if q.is_file() and "__pycache__" not in q.parts):
        target = dest / p.relative_to(_CSRC)
        data = p.read_bytes()
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return [str(dest / s) for s in _SOURCES]


def _ninja_up_to_date(folder: Path) -> bool | None:
    """Whether ninja (a dry run in ``folder``) has nothing to rebuild; ``None`` if it cannot say."""
    ninja = shutil.which("ninja")
    if ninja is None or not (folder / "build.ninja").is_file():
        return None
    try:
        out = subprocess.run([ninja, "-n", "-C", str(folder)], capture_output=True, text=True, timeout=30,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return "no work to do" in out.stdout


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _load(build: bool):
    ingredients = build_ingredients()
    key = build_key(ingredients)
    folder = build_dir(key)
    name = _module_name(key)
    library = folder / f"{name}{_LIB_EXT}"
    if not build:
        # Never builds: a finished library is imported directly (no ninja, no compiler).
        return _import_built(name, library) if _finished(folder, key) is not None else None
    folder.mkdir(parents=True, exist_ok=True)
    with _build_lock(folder) as locked:
        if locked:
            # Every builder holds build.lock, so torch's baton left here is a killed build's:
            # without this, torch would wait for it forever.
            with contextlib.suppress(FileNotFoundError):
                (folder / "lock").unlink()
        sources = _copy_sources(folder)
        finished = _finished(folder, key) is not None
        # A finished build loads silently unless ninja would rebuild it (a dry run: e.g. an
        # object file deleted); then the rebuild is announced like a first build.
        fresh = finished and _ninja_up_to_date(folder) is not False
        if not fresh:
            why = "" if not finished else " (ninja found changed inputs)"
            print(f"lstmkit: building the fused CPU kernels for this CPU and compiler (once, {EXPECTED}) "
                  f"in {folder}{why} ...", file=sys.stderr, flush=True)
        before = _mtime(library)
        start = time.perf_counter()
        from torch.utils.cpp_extension import load

        try:
            module = load(
                name=name,
                sources=sources,
                extra_cflags=ingredients["cflags"],
                extra_ldflags=["-fopenmp"],
                build_directory=str(folder),
                verbose=os.environ.get("LSTMKIT_BUILD_VERBOSE", "0") == "1",
            )
        except Exception as e:
            # Kept for `lstmkit doctor`. A finished build's marker outranks it, so a failed
            # load of one is not recorded (nor left behind by tests that fake a failure).
            if not fresh:
                with contextlib.suppress(OSError):
                    _write_json_atomic(folder / FAILED, {
                        "key": key, "ingredients": ingredients, "error": _one_line(e),
                        "failed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    })
            raise
        seconds = time.perf_counter() - start
        rebuilt = not fresh or before is None or _mtime(library) != before
        if rebuilt:
            _write_json_atomic(folder / MARKER, {
                "key": key,
                "module": name,
                "ingredients": ingredients,
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "seconds": round(seconds, 1),
            })
            # Never silent: a rebuild the dry run did not foresee is reported afterwards.
            what = "built" if not fresh else "rebuilt (torch's build found changed inputs)"
            print(f"lstmkit: {what} the fused CPU kernels in {seconds:.0f} s ({folder})",
                  file=sys.stderr, flush=True)
        with contextlib.suppress(OSError):
            (folder / FAILED).unlink()
    return module


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[-1] if text else ''}"


def load_extension():
    """The compiled extension module, building it on first use; ``None`` if it cannot be built.

    A cached build loads silently; a build announces itself on stderr first. A failure is
    remembered for the rest of the process (no second attempt) and reported by one
    RuntimeWarning; :func:`extension_error` returns its text.

    Example:
        >>> ext = load_extension()  # doctest: +SKIP
        >>> hasattr(ext, "lstm_forward")  # doctest: +SKIP
        True
    """
    global _ext, _error
    if _ext is not None:
        return _ext
    if _error is not None:
        return None
    with _lock:
        if _ext is not None:
            return _ext
        if _error is not None:
            return None
        try:
            _ext = _load(build=True)
        except Exception as e:  # any build or load failure: fall back, say why once
            _error = _one_line(e)
            warn_once(
                "build",
                "lstmkit: could not build the fused CPU kernels "
                f"({_error}); using the reference loop (slower, same results). "
                "Install a C++ compiler and ninja (pip install 'lstmkit[fast]') to enable them.",
            )
            return None
    return _ext


def load_cached():
    """The extension if it is loaded or already built for this key, else ``None``; never builds.

    Example:
        >>> ext = load_cached()  # None until a first use has built the kernels
    """
    global _ext
    if _ext is not None:
        return _ext
    with _lock:
        if _ext is None:
            with contextlib.suppress(Exception):
                _ext = _load(build=False)
    return _ext


def build_state() -> dict:
    """Where this process's build stands, without building: a JSON-ready dict.

    Keys: ``state`` (``"built"``, ``"not built yet"`` or ``"failed"``), ``detail``
    (why it failed, when it was built, or that a build may be running), ``cache_dir``,
    ``dir``, ``key``, ``ingredients``, ``other_builds`` (finished builds of other keys in
    the cache: other CPUs, compilers or sources; safe to delete).

    Example:
        >>> build_state()["state"] in ("built", "not built yet", "failed")
        True
    """
    ingredients = build_ingredients()
    key = build_key(ingredients)
    folder = build_dir(key)
    out = {"cache_dir": str(cache_dir()), "dir": str(folder), "key": key, "ingredients": ingredients}
    with contextlib.suppress(OSError):  # builds for other keys (other CPUs, compilers, sources)
        out["other_builds"] = sorted(p.name for p in folder.parent.glob(f"{_NAME}-*")
                                     if p.is_dir() and p != folder and (p / MARKER).is_file())
    marker = _finished(folder, key)
    if _error is not None:
        out.update(state="failed", detail=_error)
    elif marker is not None:
        out.update(state="built", detail=f"finished {marker.get('finished_at', '?')} in {marker.get('seconds', '?')} s")
        if _ninja_up_to_date(folder) is False:
            out["detail"] += "; ninja found changed inputs: the next use rebuilds it (announced)"
    elif (failed := _read_json(folder / FAILED)) is not None and failed.get("key") == key:
        out.update(state="failed", detail=f"{failed.get('error', '?')} (at {failed.get('failed_at', '?')}; "
                                          "the next use tries again)")
    elif (folder / "lock").exists():
        out.update(state="not built yet", detail=f"a build may be running ({folder / 'lock'} exists)")
    else:
        out.update(state="not built yet", detail="the first use of a fused kernel builds it")
    return out


def extension_error() -> str | None:
    """Why the extension could not be built in this process, or ``None``."""
    return _error


def _reset_for_tests(error: str | None = None) -> None:
    """Forget the loaded extension and the warnings issued (tests only)."""
    global _ext, _error
    _ext = None
    _error = error
    _warned.clear()
