"""Build and load the fused CPU extension (C++ sources in ``csrc/``) on first use.

The build is cached by :func:`torch.utils.cpp_extension.load` (in ``TORCH_EXTENSIONS_DIR``,
by default ``~/.cache/torch_extensions``): the first call compiles (~30-60 s with ninja),
later processes load the cached library in well under a second. When the build fails (no
compiler, no ninja), :func:`load_extension` warns once and returns ``None``; the caller
then uses the reference loop.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from pathlib import Path

__all__ = ["load_extension", "extension_error", "warn_once"]

_CSRC = Path(__file__).parent / "csrc"
_SOURCES = ("fused_rnn.cpp",)
_NAME = "lstmkit_fused"

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


def _cflags() -> list[str]:
    # No errno/trap semantics (as torch itself is built): lets the loops with exp vectorise.
    flags = ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd"]
    # The element-wise pass is written to be vectorised; let the compiler use this CPU's
    # vector width. LSTMKIT_NATIVE=0 builds a portable library instead.
    if os.environ.get("LSTMKIT_NATIVE", "1") != "0":
        flags += ["-march=native", "-mprefer-vector-width=512"]
    return flags


def load_extension():
    """The compiled extension module, building it on first use; ``None`` if it cannot be built.

    A failure is remembered for the rest of the process (no second attempt) and reported
    by one RuntimeWarning; :func:`extension_error` returns its text.

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
            from torch.utils.cpp_extension import _get_build_directory, load

            try:
                cached = (Path(_get_build_directory(_NAME, verbose=False)) / f"{_NAME}.so").exists()
            except Exception:  # a private helper: never let it stop the build
                cached = True
            if not cached:
                print("lstmkit: building the fused CPU kernels (first use only, about a minute)...",
                      file=sys.stderr, flush=True)
            _ext = load(
                name=_NAME,
                sources=[str(_CSRC / s) for s in _SOURCES],
                extra_cflags=_cflags(),
                verbose=os.environ.get("LSTMKIT_BUILD_VERBOSE", "0") == "1",
            )
        except Exception as e:  # any build or load failure: fall back, say why once
            _error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
            warn_once(
                "build",
                "lstmkit: could not build the fused CPU kernels "
                f"({_error}); using the reference loop (slower, same results). "
                "Install a C++ compiler and ninja (pip install 'lstmkit[fast]') to enable them.",
            )
            return None
    return _ext


def extension_error() -> str | None:
    """Why the extension could not be built in this process, or ``None``."""
    return _error


def _reset_for_tests(error: str | None = None) -> None:
    """Forget the loaded extension and the warnings issued (tests only)."""
    global _ext, _error
    _ext = None
    _error = error
    _warned.clear()
