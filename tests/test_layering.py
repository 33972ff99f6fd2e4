"""The layer order of DESIGN.md, enforced: an import inside ``src/lstmkit`` may only point
down (or sideways, within one level). Every module is parsed with :mod:`ast` (nothing is
imported), and every import of an lstmkit module counts, at module level or inside a function.

Bottom to top::

    variants, cells, io, metrics, progress  <  recurrent  <  kernels  <  families, layers
    <  train, tasks, data  <  models  <  apps, viz  <  bench  <  cli

The package's own ``__init__.py`` is the public API: it may import anything, and an attribute
of it (``from lstmkit import __version__``) belongs to no layer.
"""

from __future__ import annotations

import ast
import functools
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

#: Levels, bottom (0) to top. A module's room is its first name below ``lstmkit``
#: (``lstmkit.train.ctc`` -> ``train``); ``__main__`` is the command line.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("variants", "cells", "io", "metrics", "progress"),
    ("recurrent",),
    ("kernels",),
    ("families", "layers"),
    ("train", "tasks", "data"),
    ("models",),
    ("apps", "viz"),
    ("bench",),
    ("cli", "__main__"),
)
LEVEL = {room: k for k, rooms in enumerate(LAYERS) for room in rooms}

#: Violations that exist today in rooms owned by others (issue 12), each as
#: "importer imports imported". The lead empties this set after merging. A violation not
#: listed here fails the test, and so does a listed one that is gone (the set only shrinks).
KNOWN_VIOLATIONS: frozenset[str] = frozenset()  # none left (issue 12 emptied it)


def module_name(path: Path, src: Path = SRC) -> str:
    """``src/lstmkit/train/ctc.py`` -> ``lstmkit.train.ctc``; a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parse_tree(src: Path = SRC) -> dict[str, tuple[ast.AST, bool]]:
    """Module name -> (parsed tree, is a package ``__init__``) for every file under ``src/lstmkit``."""
    return {module_name(p, src): (ast.parse(p.read_text(encoding="utf-8"), str(p)), p.name == "__init__.py")
            for p in sorted((src / "lstmkit").rglob("*.py"))}


def imported_modules(name: str, tree: ast.AST, is_package: bool, modules) -> set[str]:
    """The lstmkit modules that module ``name`` imports anywhere in ``tree`` (absolute names;
    ``from ..io import write_json`` -> ``lstmkit.io``, ``from . import fused`` ->
    ``lstmkit.kernels.fused``). An attribute of the package itself gives ``lstmkit``."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "lstmkit"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "lstmkit":
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.add(sub if sub in modules else mod)
    return out


def _short(dotted: str) -> str:
    return dotted.split(".", 1)[1] if "." in dotted else dotted


def violations(modules: dict[str, tuple[ast.AST, bool]]) -> dict[str, str]:
    """``{"importer imports imported": "a.b imports c.d (X above Y)"}`` for every import in
    ``modules`` that points up the order, and ``{"a.b (unplaced)": ...}`` for a module
    whose room is in no layer (a new room must be placed before it is used)."""
    found = {}
    for name, (tree, is_package) in sorted(modules.items()):
        if name == "lstmkit":  # the public API
            continue
        room = _short(name).split(".")[0]
        if room not in LEVEL:
            found[f"{_short(name)} (unplaced)"] = f"{_short(name)} is in no layer: add {room!r} to LAYERS"
            continue
        for target in sorted(imported_modules(name, tree, is_package, modules)):
            if target == "lstmkit":  # an attribute of the package (__version__)
                continue
            up = _short(target).split(".")[0]
            if up in LEVEL and LEVEL[up] > LEVEL[room]:
                key = f"{_short(name)} imports {_short(target)}"
                found[key] = f"{key} ({up} above {room})"
    return found


def _fake(files: dict[str, str]) -> dict[str, tuple[ast.AST, bool]]:
    return {name: (ast.parse(textwrap.dedent(text)), is_pkg) for (name, is_pkg), text in
            {(k.removesuffix("/"), k.endswith("/")): v for k, v in files.items()}.items()}


# ------------------------------------------------------------------------------ the tests

@functools.lru_cache(maxsize=1)
def _real_tree() -> dict[str, tuple[ast.AST, bool]]:
    return parse_tree()


def real_tree() -> dict[str, tuple[ast.AST, bool]]:
    """The package parsed once per test session (each test gets its own dict to edit)."""
    return dict(_real_tree())


def test_no_import_points_up_the_layer_order():
    found = violations(real_tree())
    new = sorted(v for k, v in found.items() if k not in KNOWN_VIOLATIONS)
    assert not new, "imports that point up the layer order (DESIGN.md):\n" + "\n".join(new)
    gone = sorted(KNOWN_VIOLATIONS - set(found))
    assert not gone, "fixed, so remove from KNOWN_VIOLATIONS:\n" + "\n".join(gone)


def test_every_room_of_the_package_is_placed():
    rooms = {_short(n).split(".")[0] for n in real_tree() if n != "lstmkit"}
    assert rooms <= set(LEVEL), f"rooms in no layer: {sorted(rooms - set(LEVEL))}"


def test_the_checker_finds_a_new_upward_import():
    # a synthetic tree: relative and absolute imports, at module level and in functions
    mods = _fake({
        "lstmkit/": "from .layers import LSTM\nfrom .cli import main\n",   # the API: exempt
        "lstmkit.io": "from . import __version__\n",                          # a package attribute
        "lstmkit.metrics": "def f():\n    from .models import baselines\n", # up, inside a function
        "lstmkit.models/": "",
        "lstmkit.models.baselines": "import numpy\nfrom ..metrics import mase\n",  # down: fine
        "lstmkit.data/": "",
        "lstmkit.data.series": "import lstmkit.apps.forecast\nfrom . import windows\n",
        "lstmkit.data.windows": "from ..train import checkpoint\n",             # sideways: fine
        "lstmkit.train/": "",
        "lstmkit.train.checkpoint": "from ..io import write_json\n",
        "lstmkit.apps/": "",
        "lstmkit.apps.forecast": "from lstmkit.cli.options import threads\n",
        "lstmkit.cli/": "",
        "lstmkit.cli.options": "from ..apps import forecast\n",
        "lstmkit.newroom": "",
    })
    found = violations(mods)
    assert found == {
        "metrics imports models.baselines": "metrics imports models.baselines (models above metrics)",
        "data.series imports apps.forecast": "data.series imports apps.forecast (apps above data)",
        "apps.forecast imports cli.options": "apps.forecast imports cli.options (cli above apps)",
        "newroom (unplaced)": "newroom is in no layer: add 'newroom' to LAYERS",
    }


def test_one_new_import_in_the_real_tree_fails():
    mods = real_tree()
    assert "data.files imports train.checkpoint" not in violations(mods)
    tree, is_pkg = mods["lstmkit.data.files"]
    extra = ast.parse("def save(p):\n    from ..train.checkpoint import save_checkpoint\n")
    mods["lstmkit.data.files"] = (ast.Module(body=[*tree.body, *extra.body], type_ignores=[]), is_pkg)
    assert "data.files imports train.checkpoint" not in violations(mods)  # sideways (train, data)
    extra = ast.parse("from ..viz.curves import x\n")
    mods["lstmkit.data.files"] = (ast.Module(body=[*tree.body, *extra.body], type_ignores=[]), is_pkg)
    assert violations(mods)["data.files imports viz.curves"] == "data.files imports viz.curves (viz above data)"


#: Modules that still write files atomically by hand instead of through lstmkit.io
#: (kernels/ is the C++ helper's and the lead's room; the build cache sits below io's users).
KNOWN_OWN_ATOMIC_WRITES = frozenset({"lstmkit.kernels._build"})


def _calls_os_replace(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "replace" and isinstance(n.value, ast.Name)
               and n.value.id == "os" for n in ast.walk(tree))


def test_files_are_written_through_io():
    """Atomic writes live in io.py: no other module renames temporary files into place, and
    data/ and viz/ do not reach into the trainer (train.checkpoint) to write a file."""
    mods = real_tree()
    by_hand = {name for name, (tree, _) in mods.items() if name != "lstmkit.io" and _calls_os_replace(tree)}
    assert by_hand == KNOWN_OWN_ATOMIC_WRITES, f"os.replace outside lstmkit.io: {sorted(by_hand - KNOWN_OWN_ATOMIC_WRITES)}"
    for name, (tree, is_pkg) in mods.items():
        if name.startswith(("lstmkit.data", "lstmkit.viz")):
            train = [m for m in imported_modules(name, tree, is_pkg, mods) if m.startswith("lstmkit.train")]
            assert not train, f"{_short(name)} imports {', '.join(map(_short, train))}; write files through lstmkit.io"


def test_tests_mirror_src():
    # tests/ mirrors src/lstmkit: every folder of tests names a room of the package
    tests = Path(__file__).resolve().parent
    rooms = {p.stem for p in (SRC / "lstmkit").iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert folders and folders <= rooms, f"test folders that are no room of src/lstmkit: {sorted(folders - rooms)}"
