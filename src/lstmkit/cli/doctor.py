"""``lstmkit doctor``: what this installation runs on, and which fast paths it takes.

Versions (lstmkit, torch, numpy, Python), the optional extras and whether each imports,
the CPU and its vector features, torch's threads and MKL/oneDNN, the fused kernels' cache
(folder, build key, built / not built yet / failed and why) and the dispatcher's decisions
on this CPU. It never builds the kernels unless ``--build`` is given. ``--json`` prints the
same report as JSON.

Example:
    >>> from lstmkit.cli import main
    >>> main(["doctor", "--json"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

__all__ = ["register", "report", "format_report"]

# Distribution name -> import name, where they differ and the installed metadata cannot say.
_IMPORT_NAMES = {"scikit-learn": "sklearn", "pillow": "PIL", "pyyaml": "yaml", "opencv-python": "cv2"}
_X86_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                 "avx512_bf16", "amx_tile")
_ARM_FEATURES = ("asimd", "asimdhp", "sve", "sve2", "bf16", "i8mm")


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _extras() -> dict[str, list[str]]:
    """lstmkit's extras -> their distributions (pyproject.toml of a source checkout, else metadata)."""
    extras: dict[str, list[str]] = {}
    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    data = None
    if pyproject.is_file():
        import tomllib

        with contextlib.suppress(OSError, ValueError):
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    if data and data.get("project", {}).get("name") == "lstmkit":
        for extra, reqs in data["project"].get("optional-dependencies", {}).items():
            extras[extra] = [r for r in reqs]
    else:
        from importlib import metadata

        with contextlib.suppress(metadata.PackageNotFoundError):
            for req in metadata.requires("lstmkit") or []:
                m = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", req)
                if m:
                    extras.setdefault(m.group(1), []).append(req.split(";")[0])
    out: dict[str, list[str]] = {}
    for extra, reqs in extras.items():
        names = []
        for r in reqs:
            m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r)
            if m and _norm(m.group(1)) != "lstmkit":  # lstmkit[train] etc.: listed under its own extra
                names.append(m.group(1))
        out[extra] = names
    return out


def _import_name(dist: str, installed: dict[str, list[str]]) -> str:
    if _norm(dist) in _IMPORT_NAMES:
        return _IMPORT_NAMES[_norm(dist)]
    guess = _norm(dist).replace("-", "_")
    names = installed.get(_norm(dist), [])
    if guess in names or not names:
        return guess
    public = sorted(n for n in names if not n.startswith("_"))
    return public[0] if public else guess


def _try_import(name: str) -> tuple[bool, str | None]:
    """(imports, why not) for one module."""
    import importlib

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module(name)
        return True, None
    except Exception as e:  # any failure on import is what the user needs to see
        text = str(e).strip()
        return False, f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


def _extras_report() -> list[dict]:
    from importlib import metadata

    installed: dict[str, list[str]] = {}
    with contextlib.suppress(Exception):
        for module, dists in metadata.packages_distributions().items():
            for d in dists:
                installed.setdefault(_norm(d), []).append(module)
    rows: dict[str, dict] = {}
    for extra, dists in _extras().items():
        for dist in dists:
            key = _norm(dist)
            if key in rows:
                rows[key]["extras"].append(extra)
                continue
            try:
                version = metadata.version(dist)
            except metadata.PackageNotFoundError:
                version = None
            module = _import_name(dist, installed)
            ok, why = _try_import(module)
            if not ok and version is None:
                why = "not installed"
            rows[key] = {"package": dist, "import": module, "extras": [extra], "version": version,
                         "imports": ok, "error": why}
    return list(rows.values())


def _cpu_report() -> dict:
    from ..kernels._build import cpu_flags, cpu_model

    flags = set(cpu_flags())
    machine = platform.machine()
    wanted = _ARM_FEATURES if machine.lower() in ("aarch64", "arm64") else _X86_FEATURES
    return {
        "model": cpu_model(),
        "machine": machine,
        "logical_cpus": os.cpu_count(),
        "features": {f: f in flags for f in wanted},
        "flags_known": bool(flags),
    }


def _ninja() -> dict:
    path = shutil.which("ninja")
    version = None
    if path:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    return {"path": path, "version": version}


def _predicted_own_gemm(features: dict[str, bool], native: bool) -> bool:
    # Mirrors own_gemm_enabled() in csrc/gemm.h, for a build that does not exist yet:
    # compiled in with AVX2 + FMA (a -march=native build on such a CPU), on by default
    # without AVX-512F, LSTMKIT_OWN_GEMM=0/1 forces it.
    if not (native and features.get("avx2") and features.get("fma")):
        return False
    env = os.environ.get("LSTMKIT_OWN_GEMM", "")
    if env[:1] in ("0", "1"):
        return env[:1] == "1"
    return not features.get("avx512f", False)


def _fast_paths(state: str, cpu: dict, native: bool) -> dict:
    import torch

    from .. import kernels
    from ..cells import LSTMCellSpec
    from ..kernels import _build

    try:
        mode = kernels.backend()
    except ValueError as e:
        return {"backend": "invalid", "error": str(e), "paths": {}}
    ext = _build.load_cached() if state == "built" else None
    if ext is not None:
        own, own_source = bool(kernels.own_gemm()), "the loaded kernels"
    elif state == "not built yet":
        own, own_source = _predicted_own_gemm(cpu["features"], native), "predicted from the CPU flags (not built yet)"
    else:
        own, own_source = False, "the kernels are unavailable"
    fused = "fused kernels" if state != "failed" else "reference loop (the kernels failed to build)"
    if state == "not built yet":
        fused = "fused kernels (built on first use)"
    spec = LSTMCellSpec(8, 8, "standard")

    from ..kernels import choose

    measured = choose.cached_by_threads(ext) if ext is not None else {}
    threads = torch.get_num_threads()
    here = measured.get(threads, {})

    def standard_inference(dtype) -> str:
        if mode == "reference":
            return "reference loop"
        if mode == "fused":
            return fused
        forced = os.environ.get("LSTMKIT_PREFER_TORCH", "").strip()[:1]
        if forced in ("0", "1"):
            return ("torch's kernel (oneDNN)" if forced == "1" else fused) + f" (forced by LSTMKIT_PREFER_TORCH={forced})"
        name = "float64" if dtype == torch.float64 else "float32"
        rule = "torch's kernel (oneDNN)" if (dtype != torch.float32 or not own) else fused
        per_class = []
        for cls, label in enumerate(choose.GEMM_CLASSES):
            e = here.get(f"standard/{name}/class{cls}")
            if e and choose.calibration_enabled():
                per_class.append(f"{label}: {'torch' if e['choice'] == 'torch' else 'fused'} (measured)")
        if not per_class:
            why = "LSTMKIT_CALIBRATE=0" if not choose.calibration_enabled() else "measured at first use"
            return f"{rule} (the CPU rule; {why})"
        return "; ".join(per_class) + f"; other classes measured at first use (the CPU rule: {rule})"

    choices = []
    env = {v: os.environ[v] for v in ("LSTMKIT_CALIBRATE", "LSTMKIT_OWN_GEMM", "LSTMKIT_PREFER_TORCH",
                                      "LSTMKIT_BATCH_SPLIT")
           if os.environ.get(v, "").strip()}
    for n_threads, entries in measured.items():
        for key, e in sorted(entries.items()):
            what, dtype_name, cls = key.split("/")
            timings = e.get("timings", {})
            choices.append({"threads": n_threads, "what": what, "dtype": dtype_name,
                            "class": choose.GEMM_CLASSES[int(cls[5:])] if cls[5:].isdigit() else cls,
                            "choice": e.get("choice"), "timings": timings, "shape": e.get("shape"),
                            "when": e.get("when")})

    ours = "reference loop" if mode == "reference" else fused
    paths = {
        "standard LSTM, float32 inference, full-length batch": standard_inference(torch.float32),
        "standard LSTM, float64 inference, full-length batch": standard_inference(torch.float64),
        "standard LSTM: training, variable lengths, single steps, projections": ours,
        "other LSTM variants, GRU, Elman (CPU, float32/float64)": ours,
        "LSTM variational dropout (recurrent mask), zoneout, truncated gradient": ours,
        "GRU/Elman recurrent dropout, zoneout or truncated gradient": "reference loop",
        "sLSTM (CPU, float32/float64; lengths, reverse, either forget gate)": ours,
        "sLSTM recurrent dropout (training), zoneout, truncated gradient": "reference loop",
        "CUDA: standard LSTM / other cells": "torch's kernel (cuDNN) / reference loop",
        "a batch across threads (LSTM, GRU, Elman kernels)": _batch_split(threads),
    }
    return {"backend": mode, "own_gemm": own, "own_gemm_source": own_source, "paths": paths,
            "calibration": {"file": str(choose.calibration_path()), "enabled": choose.calibration_enabled(),
                            "env": env, "threads_now": threads, "choices": choices}}


def _batch_split(threads: int) -> str:
    """What the kernels' batch split (csrc/batch_split.h) does at ``threads`` torch threads."""
    forced = os.environ.get("LSTMKIT_BATCH_SPLIT", "").strip()[:1]
    if forced == "0":
        return "never split (LSTMKIT_BATCH_SPLIT=0)"
    if threads <= 1:
        return "not split (torch uses 1 thread)"
    if forced == "1":
        return f"inference and training split across {threads} threads, >= 2 rows a chunk (LSTMKIT_BATCH_SPLIT=1)"
    return (f"inference split across {threads} threads (>= 8 rows and 2^20 multiply-adds a chunk); "
            f"training not (LSTMKIT_BATCH_SPLIT=1 splits it too)")


def report(build: bool = False) -> dict:
    """The doctor's report as a JSON-ready dict (``build=True`` builds the kernels first).

    Example:
        >>> sorted(report())  # doctest: +SKIP
        ['cpu', 'extras', 'fast_paths', 'generated', 'kernels', 'torch', 'versions']
    """
    import numpy
    import torch

    from .. import __version__
    from ..kernels import _build

    if build:
        _build.load_extension()
    cpu = _cpu_report()
    try:
        kern = _build.build_state()
    except ValueError as e:  # LSTMKIT_CACHE_DIR names a file
        kern = {"state": "failed", "detail": str(e), "cache_dir": os.environ.get("LSTMKIT_CACHE_DIR"),
                "dir": None, "key": None, "ingredients": {}}
    native = _build._native()
    kern.update(ninja=_ninja(), native=native)
    return {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "versions": {
            "lstmkit": __version__,
            "lstmkit_path": str(Path(__file__).resolve().parents[1]),
            "torch": torch.__version__,
            "numpy": numpy.__version__,
            "python": f"{platform.python_version()} ({sys.implementation.name}, {platform.machine()})",
        },
        "extras": _extras_report(),
        "cpu": cpu,
        "torch": {
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "mkl": bool(torch.backends.mkl.is_available()),
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "openmp": bool(torch.backends.openmp.is_available()),
            "cuda": bool(torch.cuda.is_available()),
        },
        "kernels": kern,
        "fast_paths": _fast_paths(kern["state"], cpu, native),
    }


def _yes(b) -> str:
    return "yes" if b else "no"


def format_report(r: dict) -> str:
    """The report of :func:`report` as the text ``lstmkit doctor`` prints."""
    v, t, c, k, f = r["versions"], r["torch"], r["cpu"], r["kernels"], r["fast_paths"]
    lines = [f"lstmkit doctor ({r['generated']})", "", "versions"]
    lines += [f"  lstmkit  {v['lstmkit']}  ({v['lstmkit_path']})", f"  torch    {v['torch']}",
              f"  numpy    {v['numpy']}", f"  python   {v['python']}", "", "optional extras"]
    w = [max([len(s) for s in col] + [1]) for col in (
        [",".join(e["extras"]) for e in r["extras"]], [e["package"] for e in r["extras"]],
        [e["import"] for e in r["extras"]])]
    for e in r["extras"]:
        status = f"ok {e['version'] or ''}".rstrip() if e["imports"] else (e["error"] or "fails")
        lines.append(f"  {','.join(e['extras']):<{w[0]}}  {e['package']:<{w[1]}}  import {e['import']:<{w[2]}}  {status}")
    have = [n for n, b in c["features"].items() if b]
    lack = [n for n, b in c["features"].items() if not b]
    lines += ["", "cpu", f"  model     {c['model']}", f"  machine   {c['machine']}, {c['logical_cpus']} logical CPUs"]
    if c["flags_known"]:
        lines.append(f"  features  {' '.join(have) or '-'}" + (f"  (not: {' '.join(lack)})" if lack else ""))
    else:
        lines.append("  features  unknown (no /proc/cpuinfo)")
    lines += ["", "torch", f"  threads          {t['threads']} (interop {t['interop_threads']})",
              f"  mkl              {_yes(t['mkl'])}", f"  onednn (mkldnn)  {_yes(t['mkldnn'])}",
              f"  openmp           {_yes(t['openmp'])}", f"  cuda             {_yes(t['cuda'])}"]
    ing = k.get("ingredients") or {}
    ninja = k["ninja"]
    lines += ["", "kernels", f"  cache dir  {k['cache_dir']}", f"  build key  {k['key']}",
              f"  build dir  {k['dir']}", f"  state      {k['state']}: {k['detail']}",
              f"  others     {len(k.get('other_builds', []))} finished build(s) for other keys in the cache dir",
              f"  compiler   {ing.get('compiler', '?')}",
              f"  ninja      {ninja['path'] or 'not on PATH'}" + (f" ({ninja['version']})" if ninja["version"] else ""),
              f"  native     {_yes(k['native'])}" + (" (-march=native; LSTMKIT_NATIVE=0 builds a portable library)"
                                                      if k["native"] else " (portable build, LSTMKIT_NATIVE=0)")]
    lines += ["", f"fast paths (LSTMKIT_BACKEND={f['backend']})"]
    if "error" in f:
        lines.append(f"  {f['error']}")
    else:
        lines.append(f"  own AVX2 matrix products by the CPU rule (own_gemm)  {_yes(f['own_gemm'])}, {f['own_gemm_source']}")
        lines += [f"  {case}: {path}" for case, path in f["paths"].items()]
        cal = f.get("calibration")
        if cal is not None:
            state = "on" if cal["enabled"] else "off (LSTMKIT_CALIBRATE=0: the CPU rules decide)"
            lines += ["", f"measured choices (calibration {state}; {cal['file']})"]
            for var, value in cal["env"].items():
                lines.append(f"  {var}={value} is set")
            if not cal["choices"]:
                lines.append("  none yet for this CPU, version and build: measured at the kernels' first use")
            for c in cal["choices"]:
                t = ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in c["timings"].items())
                shape = "x".join(map(str, c["shape"] or []))
                what = {"gemm": "float32 matrix product in training",
                        "gemm-inference": "float32 matrix product in inference"}.get(
                    c["what"], f"standard inference, {c['dtype']}")
                lines.append(f"  {c['threads']} thread(s), {what}, {c['class']}: {c['choice']}  "
                             f"({t} at BxTxIxH={shape}; {c['when']})")
    return "\n".join(lines)


def _cmd(args) -> int:
    r = report(build=args.build)
    print(json.dumps(r, indent=2) if args.json else format_report(r))
    return 0


def register(sub) -> None:
    """Add the ``doctor`` command to the ``lstmkit`` sub-parsers ``sub``."""
    p = sub.add_parser(
        "doctor",
        help="versions, extras, CPU features, the kernel cache and the fast paths taken here",
        description="Report what this installation runs on: versions, optional extras (and whether "
        "each imports), CPU features, torch's threads and MKL/oneDNN, the fused kernels' cache and "
        "build state, and which fast paths the dispatcher takes on this CPU. Never builds the "
        "kernels unless --build is given.",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--build", action="store_true",
                   help="build the fused kernels first if they are not built (announced on stderr)")
    p.set_defaults(func=_cmd)
