"""Choose a fast path by measurement on this machine, not by CPU family.

Two choices are made here:

- **the float32 per-step matrix product** of the fused kernels: MKL's (``mkl``),
  our packed-panel AVX2 product (``own``, where the build carries it) or its AVX-512 twin
  (``own512``, in a build for an AVX-512 CPU), per shape class
  of the product (:data:`GEMM_CLASSES`, the C++ ``gemm_class``) and per use: training
  (``gemm``: forward and backward timed together) and inference (``gemm-inference``: a
  forward under no_grad);
- **torch's kernel or ours for "standard" LSTM inference** (``standard``, per dtype and
  shape class): ``torch`` (oneDNN through ``torch._VF.lstm``) or ``fused`` (ours).

At first use each choice is either forced by an environment variable
(``LSTMKIT_OWN_GEMM=0/1/2``, ``LSTMKIT_PREFER_TORCH=0/1``), taken from the old CPU rule
(``LSTMKIT_CALIBRATE=0``: no timing at all, as in the test suite), read from the
calibration cache, or **measured**: a short calibration, announced on stderr, times the
candidates on a representative shape of the class, interleaved (A, B, A, B, ...), and
picks the fastest (by each candidate's fastest repetition: load only adds time). The
result is cached as JSON (atomic writes) in ``<cache dir>/calibration.json``
(:func:`calibration_path`, beside the kernel builds) under a key of the CPU model,
lstmkit's and torch's versions, the kernels' build key and torch's thread count, so it
runs once per machine, version and thread count; ``LSTMKIT_CALIBRATE=again`` measures
again. A choice measured while the load average exceeds the CPU count is kept for the
process only (an oversubscribed machine's multi-threaded BLAS is not the machine's).

A candidate other than the old rule's choice must be faster by :data:`MARGIN` (a relative
margin) to be picked: a tie within noise keeps what the old rule picked, so a measured
choice is never worse than the rule's by more than the noise of a median.

Example:
    >>> pick_fastest({"mkl": 1.0e-3, "own": 0.8e-3}, default="mkl")
    'own'
    >>> pick_fastest({"mkl": 1.0e-3, "own": 0.99e-3}, default="mkl")  # within the margin
    'mkl'
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import torch

from .. import io as _io
from . import _build

__all__ = [
    "Decision",
    "GEMM_CLASSES",
    "MARGIN",
    "pick_fastest",
    "time_interleaved",
    "shape_class",
    "calibration_enabled",
    "calibration_path",
    "machine_key",
    "setup_gemm",
    "gemm_decisions",
    "standard_choice",
    "cached_decisions",
    "cached_by_threads",
    "decisions",
    "reset",
]

#: The shape classes of a per-step product (C++ ``gemm_class``): streaming (M <= 2 rows),
#: small (min(N, K) <= 128, e.g. H <= 128) and large.
GEMM_CLASSES = ("streaming (B <= 2)", "small (H <= 128)", "large (H > 128)")

#: A candidate other than the old rule's must be this much faster (relative) to be chosen.
MARGIN = 0.03

FILE_NAME = "calibration.json"

# The representative shape (B, T, I, H) of each class the calibration times.
# Inference is timed at T = 100 where it is cheap: on Zen 4 our AVX-512 panels led the AVX2
# ones at 64x100x128x256 by 4-12% in two runs (55.3-56.7 vs 57.5-64.7 ms) and within -1..+7%
# at T <= 50, where the (T, B, 4H) input projection may still sit in the cache
# (benchmarks/i14-zen4/calibration-T.txt holds the second run; docs/performance.md both).
_GEMM_SHAPES = {"training": ((1, 48, 32, 128), (32, 48, 32, 64), (64, 25, 128, 256)),
                "inference": ((1, 48, 32, 128), (32, 100, 32, 64), (64, 100, 128, 256))}
_STANDARD_SHAPES = ((2, 48, 32, 128), (32, 48, 32, 64), (64, 20, 128, 256))


@dataclass
class Decision:
    """One choice and why it was made.

    Attributes:
        what: ``gemm`` (the product in training), ``gemm-inference`` or ``standard``.
        cls: the shape class (index into :data:`GEMM_CLASSES`).
        dtype: ``float32`` / ``float64`` (``standard`` only; ``float32`` for ``gemm``).
        choice: the chosen candidate (``mkl``/``own``, ``torch``/``fused``).
        source: ``forced``, ``rule``, ``measured`` or ``cached``.
        reason: one line for ``lstmkit doctor``.
        timings: candidate -> median seconds (measured or cached choices).
        shape: the (B, T, I, H) timed.
    """

    what: str
    cls: int
    dtype: str
    choice: str
    source: str
    reason: str
    timings: dict = field(default_factory=dict)
    shape: tuple = ()


def pick_fastest(timings: Mapping[str, float], default: str, margin: float = MARGIN) -> str:
    """The candidate with the smallest time; ``default`` unless another beats it by ``margin``.

    Args:
        timings: candidate name -> median seconds (positive).
        default: the old rule's candidate (kept on a tie within ``margin``).
        margin: relative margin, >= 0.

    Example:
        >>> pick_fastest({"torch": 2.0, "fused": 1.0}, default="torch")
        'fused'
    """
    if not isinstance(timings, Mapping) or not timings:
        raise ValueError(f"timings must be a non-empty mapping of candidate -> seconds, got {timings!r}")
    for k, v in timings.items():
        if not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"timings[{k!r}] must be a positive number of seconds, got {v!r}")
    if default not in timings:
        raise ValueError(f"default must be one of {sorted(timings)}, got {default!r}")
    if not isinstance(margin, (int, float)) or margin < 0:
        raise ValueError(f"margin must be a number >= 0, got {margin!r}")
    best = min(timings, key=timings.get)
    if best != default and timings[best] * (1.0 + margin) < timings[default]:
        return best
    return default


def time_interleaved(candidates: Mapping[str, Callable[[], object]], reps: int = 7, budget_s: float = 0.4,
                     clock: Callable[[], float] = time.perf_counter, stat: str = "median") -> dict[str, float]:
    """Median (or minimum) seconds per call of each candidate, timed in turn (A, B, A, B, ...)
    after one warm-up each; the warm-up times themselves when one is over 4x another's.

    Args:
        candidates: name -> a callable running the path once.
        reps: at most this many timed calls per candidate (at least 3).
        budget_s: stop after 3 rounds once this many seconds have passed.
        clock: the clock (injectable for tests).
        stat: ``median`` or ``min`` (the calibration's: load from other processes only
            ever adds time, so the minimum is the least disturbed estimate).

    Example:
        >>> sorted(time_interleaved({"a": lambda: None, "b": lambda: None}, reps=3))
        ['a', 'b']
    """
    if not candidates:
        raise ValueError("candidates must name at least one callable")
    if not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be a positive int, got {reps!r}")
    if stat not in ("median", "min"):
        raise ValueError(f"stat must be 'median' or 'min', got {stat!r}")
    warm: dict[str, float] = {}
    for k, run in candidates.items():
        t0 = clock()
        run()
        warm[k] = clock() - t0
    if len(warm) > 1 and min(warm.values()) > 0 and max(warm.values()) > 4 * min(warm.values()):
        # a clear winner already (e.g. a multi-threaded BLAS under oversubscription, 40x
        # slower): no need to spend seconds repeating the slow one
        return warm
    times: dict[str, list[float]] = {k: [] for k in candidates}
    start = clock()
    for r in range(reps):
        for k, run in candidates.items():
            t0 = clock()
            run()
            times[k].append(clock() - t0)
        if r >= 2 and clock() - start > budget_s:
            break
    if stat == "min":
        return {k: min(v) for k, v in times.items()}
    return {k: sorted(v)[len(v) // 2] for k, v in times.items()}


def shape_class(batch: int, hidden: int) -> int:
    """The shape class of a recurrence's per-step product (mirrors the C++ ``gemm_class``).

    Example:
        >>> shape_class(1, 512), shape_class(32, 64), shape_class(64, 256)
        (0, 1, 2)
    """
    if batch <= 2:
        return 0
    return 1 if hidden <= 128 else 2


def calibration_enabled() -> bool:
    """False when ``LSTMKIT_CALIBRATE=0`` (then the old CPU rules decide, nothing is timed).

    ``LSTMKIT_CALIBRATE=again`` measures again at first use, replacing the cached choices.

    Example:
        >>> isinstance(calibration_enabled(), bool)
        True
    """
    return os.environ.get("LSTMKIT_CALIBRATE", "1").strip()[:1] != "0"


def _again() -> bool:
    return os.environ.get("LSTMKIT_CALIBRATE", "").strip().lower() == "again"


def calibration_path() -> Path:
    """The calibration cache: ``calibration.json`` in lstmkit's kernel cache dir.

    Example:
        >>> calibration_path().name
        'calibration.json'
    """
    return _build.cache_dir() / FILE_NAME


def machine_key(ext=None) -> str:
    """What a cached calibration is valid for: CPU model, versions, kernel build, threads.

    Example:
        >>> "threads" in machine_key()
        True
    """
    build = getattr(ext, "__name__", None) or "no-build"
    return (f"{_build.cpu_model()} | lstmkit {_io._version()} | torch {torch.__version__} | {build} | "
            f"threads {torch.get_num_threads()}")


# ---- the cache file -----------------------------------------------------------------------
_lock = threading.RLock()
_decisions: dict[tuple, Decision] = {}  # (what, cls, dtype) -> Decision, this process
_gemm_ext: list = [None]  # the extension whose product choices are set
_announced: list = []  # the calibration's first line was printed in this process


def reset() -> None:
    """Forget this process's decisions (tests; a changed environment variable).

    Example:
        >>> reset()  # the next use of the kernels decides again (cache, rule or measurement)
    """
    with _lock:
        _decisions.clear()
        _gemm_ext[0] = None
        _announced.clear()


def _entry_key(what: str, cls: int, dtype: str) -> str:
    return f"{what}/{dtype}/class{cls}"


def _read_cache() -> dict:
    path = calibration_path()
    try:
        data = _io.read_json(path, "the calibration cache")
    except Exception:  # missing or damaged: calibrate again (and overwrite it)
        return {}
    return data if isinstance(data, dict) else {}


def cached_decisions(ext=None) -> dict[str, dict]:
    """The calibration cache's entries for this machine (``what/dtype/classN`` -> entry), never timing.

    Example:
        >>> isinstance(cached_decisions(), dict)
        True
    """
    return dict(_read_cache().get(machine_key(ext), {}))


def cached_by_threads(ext=None) -> dict[int, dict[str, dict]]:
    """The cache's entries for this CPU, versions and build at every thread count measured.

    Example:
        >>> isinstance(cached_by_threads(), dict)
        True
    """
    head = machine_key(ext).rsplit(" | threads ", 1)[0]
    out: dict[int, dict[str, dict]] = {}
    for key, entries in _read_cache().items():
        base, sep, threads = key.rpartition(" | threads ")
        if sep and base == head and threads.isdigit() and isinstance(entries, dict):
            out[int(threads)] = entries
    return dict(sorted(out.items()))


def _store(ext, d: Decision) -> None:
    path = calibration_path()
    try:
        _io.make_dirs(path.parent)
        data = _read_cache()
        entries = data.setdefault(machine_key(ext), {})
        entries[_entry_key(d.what, d.cls, d.dtype)] = {
            "choice": d.choice, "timings": d.timings, "shape": list(d.shape),
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _io.write_json(path, data)
    except (OSError, ValueError) as e:  # a read-only cache: keep the choice for this process
        _build.warn_once("calibration-write", f"lstmkit: could not write the calibration cache {path}: {e}")


def _load() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _announce(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fmt(timings: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in timings.items())


def _decide(ext, what: str, cls: int, dtype: str, default: str, env: str, env_values: Mapping[str, str],
            measure: Callable[[], tuple[dict, tuple]], label: str) -> Decision:
    key = (what, cls, dtype)
    d = _decisions.get(key)
    if d is not None:
        return d
    with _lock:
        d = _decisions.get(key)
        if d is not None:
            return d
        forced = os.environ.get(env, "").strip()[:1]
        if forced in env_values:
            d = Decision(what, cls, dtype, env_values[forced], "forced", f"forced by {env}={forced}")
        elif not calibration_enabled():
            d = Decision(what, cls, dtype, default, "rule", "the CPU rule (LSTMKIT_CALIBRATE=0: not measured)")
        elif torch.get_num_threads() > 1:
            # Measured on the Intel Xeon at 2 threads (docs/performance.md, issue 14): a
            # process whose calibration picked our single-threaded product beside MKL's and
            # torch's thread pools ran everything 2-500x slower afterwards. Until that is
            # understood, only one-thread choices are measured.
            d = Decision(what, cls, dtype, default, "rule",
                         f"the CPU rule (torch uses {torch.get_num_threads()} threads: only one-thread choices are "
                         f"measured)")
        else:
            entry = None if _again() else cached_decisions(ext).get(_entry_key(what, cls, dtype))
            if entry and entry.get("choice") in entry.get("timings", {}):
                t = entry["timings"]
                d = Decision(what, cls, dtype, entry["choice"], "cached",
                             f"measured {entry.get('when', '?')}: {_fmt(t)} (cached in {calibration_path()})",
                             dict(t), tuple(entry.get("shape", ())))
            else:
                if not _announced:
                    _announced.append(1)
                    _announce(f"lstmkit: measuring which kernels are fastest on this machine (once per CPU, version "
                              f"and thread count, a few seconds; cached in {calibration_path()}; "
                              f"LSTMKIT_CALIBRATE=0 skips it) ...")
                t0 = time.perf_counter()
                try:
                    timings, shape = measure()
                except Exception as e:  # never fail the caller's computation for a measurement
                    _build.warn_once(f"calibration-{what}", f"lstmkit: the calibration of {label} failed "
                                     f"({type(e).__name__}: {e}); the CPU rule decides")
                    d = Decision(what, cls, dtype, default, "rule", f"the CPU rule (the calibration failed: {e})")
                    _decisions[key] = d
                    return d
                choice = pick_fastest(timings, default)
                load = _load()
                busy = load is not None and load > (os.cpu_count() or 1)
                d = Decision(what, cls, dtype, choice, "measured",
                             f"measured (fastest of interleaved reps): {_fmt(timings)} at BxTxIxH="
                             f"{'x'.join(map(str, shape))}" + (f"; not cached: load {load:.1f} on "
                                                               f"{os.cpu_count()} CPUs" if busy else ""),
                             timings, shape)
                _announce(f"lstmkit: {label}, {GEMM_CLASSES[cls]}, {dtype}: {choice} ({_fmt(timings)}; "
                          f"{time.perf_counter() - t0:.2f} s" + ("; oversubscribed machine: kept for this process "
                                                                 "only" if busy else "") + ")")
                if not busy:  # a choice made under oversubscription is not this machine's
                    _store(ext, d)
        _decisions[key] = d
        return d


# ---- the float32 per-step product ----------------------------------------------------------
def _lstm_case(B: int, T: int, I: int, H: int, variant: str, dtype=torch.float32, grad: bool = False):
    from ..cells.lstm import LSTMCellSpec

    g = torch.Generator().manual_seed(0)
    spec = LSTMCellSpec(I, H, variant)
    p = {k: (torch.randn(s, generator=g, dtype=dtype) * 0.1).requires_grad_(grad) for k, s in spec.param_shapes().items()}
    x = torch.randn(T, B, I, generator=g, dtype=dtype)
    state = tuple(torch.zeros(B, n, dtype=dtype) for n in spec.state_sizes())
    return spec, p, x, state


def _measure_gemm(ext, cls: int, inference: bool = False):
    # the first use may sit under no_grad or inference_mode: the training step needs a graph
    with torch.inference_mode(False), torch.enable_grad():
        return _measure_gemm_now(ext, cls, inference)


def _measure_gemm_now(ext, cls: int, inference: bool):
    from . import fused

    name = "inference" if inference else "training"
    B, T, I, H = _GEMM_SHAPES[name][cls]
    spec, p, x, state = _lstm_case(B, T, I, H, "vanilla", grad=True)
    run = fused._RUNNERS[type(spec)]  # not run_checked: it would set the products up (here)
    use = _GEMM_USES.index(name)

    def path(mode: int):
        def run_once():
            ext.set_own_gemm(cls, mode, use)
            if inference:
                with torch.no_grad():
                    run(ext, spec, p, x, state, None, False)
            else:
                out, _ = run(ext, spec, p, x, state, None, False)
                out.sum().backward()
        return run_once

    try:
        paths = {"mkl": path(0), "own": path(1)}
        if getattr(ext, "own_gemm512_built", lambda: False)():
            paths["own512"] = path(2)
        timings = time_interleaved(paths, reps=9, stat="min")
    finally:
        ext.set_own_gemm(cls, -1, use)
    return timings, (B, T, I, H)


def setup_gemm(ext) -> None:
    """Decide and set the float32 product of every shape class for ``ext`` (once per extension).

    Forced by ``LSTMKIT_OWN_GEMM``, else the old rule under ``LSTMKIT_CALIBRATE=0``, else
    cached or measured (announced). A build without our AVX2 product has only MKL's.

    Args:
        ext: the compiled extension (:func:`lstmkit.kernels._build.load_extension`), or None.

    Example:
        >>> setup_gemm(None)  # nothing to set without the extension
    """
    if ext is None or _gemm_ext[0] is ext or getattr(_setting_up, "on", False):
        return
    with _lock:
        if _gemm_ext[0] is ext:
            return
        # the measurement runs the kernels, whose ops come back here: not again (this thread)
        _setting_up.on = True
        try:
            _setup_gemm_locked(ext)
        finally:
            _setting_up.on = False


_setting_up = threading.local()

#: The C++ modes of the product's candidates (``set_own_gemm``): MKL's, ours with AVX2
#: panels, ours with AVX-512 panels (a build with AVX-512 only).
_GEMM_MODES = {"mkl": 0, "own": 1, "own512": 2}

#: The uses of a product, chosen apart (C++ ``set_own_gemm(cls, mode, use)``): training (a
#: forward that saves for its backward, and the backward), inference (a forward that saves
#: nothing). Measured on Zen 4: our AVX-512 panels win inference at H > 128 by 10-17% and
#: tie in training (docs/performance.md, issue 14).
_GEMM_USES = ("training", "inference")

#: The Decision.what of each use's product choice.
_GEMM_WHAT = {"training": "gemm", "inference": "gemm-inference"}


def _setup_gemm_locked(ext) -> None:
    """setup_gemm's work, under its lock."""
    if not hasattr(ext, "set_own_gemm"):
        _gemm_ext[0] = ext
        return
    default = "own" if ext.own_gemm() else "mkl"
    modes = {"0": "mkl", "1": "own"}
    if getattr(ext, "own_gemm512_built", lambda: False)():
        modes["2"] = "own512"
    for cls in range(len(GEMM_CLASSES)):
        for use, name in enumerate(_GEMM_USES):
            what = _GEMM_WHAT[name]
            if not ext.own_gemm_built():
                d = Decision(what, cls, "float32", "mkl", "rule", "this build has no AVX2 product (MKL only)")
                _decisions[(what, cls, "float32")] = d
            else:
                d = _decide(ext, what, cls, "float32", default, "LSTMKIT_OWN_GEMM", modes,
                            lambda c=cls, inf=name == "inference": _measure_gemm(ext, c, inf),
                            f"float32 matrix product in {name} (mkl or own)")
            if d.source == "rule":
                ext.set_own_gemm(cls, -1, use)  # the C++ default: the CPU rule
            else:  # measured, cached or forced (LSTMKIT_OWN_GEMM set after the C++ side read it)
                ext.set_own_gemm(cls, _GEMM_MODES[d.choice], use)
    _gemm_ext[0] = ext


def gemm_decisions(use: str = "training") -> dict[int, Decision]:
    """This process's product choices for ``use`` (``training`` or ``inference``) by shape
    class (empty before the kernels' first use).

    Example:
        >>> all(isinstance(d, Decision) for d in gemm_decisions("inference").values())
        True
    """
    if use not in _GEMM_WHAT:
        raise ValueError(f"use must be one of {list(_GEMM_WHAT)}, got {use!r}")
    return {k[1]: d for k, d in _decisions.items() if k[0] == _GEMM_WHAT[use]}


# ---- torch's kernel or ours for standard inference --------------------------------------
def _measure_standard(ext, cls: int, dtype):
    with torch.inference_mode(False), torch.no_grad():
        return _measure_standard_now(ext, cls, dtype)


def _measure_standard_now(ext, cls: int, dtype):
    # The two calls a module's inference makes (kernels.Plan: torch._VF.lstm over the
    # stack, or the lean call of our kernel), on a module-style parameter dict.
    from . import RunConfig, Plan, _FusedRunner

    setup_gemm(ext)
    B, T, I, H = _STANDARD_SHAPES[cls]
    spec, p, x, state = _lstm_case(B, T, I, H, "standard", dtype=dtype)
    names = {k: f"{k}_l0" for k in p}
    P = {names[k]: v for k, v in p.items()}
    plan = Plan([spec], [_FusedRunner(spec, RunConfig())], [names], 1, 1, RunConfig())
    state3 = tuple(s.unsqueeze(0) for s in state)
    if plan._torch_stack is None or plan._lean is None:
        raise RuntimeError("the standard LSTM plan has no whole-stack calls to time")

    def ours():
        plan._run_lean(ext, P, x, state3)

    def theirs():
        plan._torch_infer(P, x, state3)

    return time_interleaved({"torch": theirs, "fused": ours}, reps=9, stat="min"), (B, T, I, H)


def standard_choice(ext, batch: int, hidden: int, dtype, rule_prefers_torch: bool) -> bool:
    """Whether torch's kernel runs this "standard" LSTM inference call (True) or ours.

    ``LSTMKIT_PREFER_TORCH=0/1`` forces it, ``LSTMKIT_CALIBRATE=0`` keeps the old rule
    (``rule_prefers_torch``), else cached or measured once per (dtype, shape class).

    Args:
        ext: the compiled extension (None: the rule decides, nothing can be timed).
        batch, hidden: the call's batch size and hidden size (its shape class).
        dtype: the call's dtype.
        rule_prefers_torch: the old rule's answer (the default a measurement must beat).

    Example:
        >>> import torch
        >>> standard_choice(None, 32, 64, torch.float32, rule_prefers_torch=True)
        True
    """
    cls = shape_class(batch, hidden)
    name = "float64" if dtype == torch.float64 else "float32"
    d = _decisions.get(("standard", cls, name))
    if d is None:
        forced = os.environ.get("LSTMKIT_PREFER_TORCH", "").strip()[:1]
        if forced in ("0", "1"):
            return forced == "1"
        if ext is None or not calibration_enabled():  # the rule (nothing to time ours with)
            return rule_prefers_torch
        d = _decide(ext, "standard", cls, name, "torch" if rule_prefers_torch else "fused", "LSTMKIT_PREFER_TORCH",
                    {"0": "fused", "1": "torch"}, lambda: _measure_standard(ext, cls, dtype),
                    "standard LSTM inference (torch's kernel or fused)")
    return d.choice == "torch"


def decisions() -> list[dict]:
    """Every choice this process made, as JSON-ready dicts (``lstmkit doctor``, ``bench``).

    Example:
        >>> isinstance(decisions(), list)
        True
    """
    return [asdict(d) for _, d in sorted(_decisions.items())]
