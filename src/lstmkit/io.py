"""Files lstmkit writes, at the bottom of the house: atomic writes, the manifest that makes a
directory lstmkit's, directories written whole or not at all, safe removal, and a lock.

The rules (docs/files.md):

- Every file is written through a temporary file in the same directory and ``os.replace``,
  with the user's umask (not the 0600 of :func:`tempfile.mkstemp`).
- A directory is lstmkit's only if it holds ``lstmkit.json``, the manifest lstmkit wrote:
  ``{"format": "lstmkit-dir", "format_version": 1, "kind": ..., "lstmkit_version": ...,
  "files": {name: {"bytes": n, "sha256": ...}}}``. Only the files the manifest names are
  ever removed or replaced; anything else in the directory (a user's ``NOTES.md``) stays.
  Nothing is ever removed recursively.
- :func:`write_dir` writes a whole directory (a model) into a sibling temporary directory
  and renames it into place: a run killed at any moment leaves the old directory or the new
  one. :func:`claim_dir` makes a directory lstmkit's for files written one by one
  (checkpoints, run results); :func:`remove_owned` removes exactly what it registered.
- :func:`dir_lock` keeps two processes from writing one directory: the second refuses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

__all__ = [
    "MANIFEST", "FORMAT", "FORMAT_VERSION", "LstmkitFileError",
    "atomic_write_bytes", "atomic_write_text", "write_json", "read_json", "make_dirs",
    "read_manifest", "is_lstmkit_dir", "check_dir_target", "claim_dir", "register_files",
    "remove_owned", "write_dir", "verify_dir", "dir_lock", "check_fields",
]

MANIFEST = "lstmkit.json"
FORMAT = "lstmkit-dir"
FORMAT_VERSION = 1


class LstmkitFileError(ValueError):
    """A file or directory is not what lstmkit expected; the message is one line naming it."""


# ----------------------------------------------------------------------------- writing files

def _umask() -> int:
    try:  # thread-safe on Linux
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def make_dirs(path: str | os.PathLike) -> Path:
    """``mkdir -p`` (with the user's umask); returns the path.

    Example:
        >>> import tempfile, os
        >>> make_dirs(os.path.join(tempfile.mkdtemp(), "a", "b")).is_dir()
        True
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise LstmkitFileError(f"{p} is a file; expected a directory there")
    p.mkdir(parents=True, exist_ok=True)
    return p


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and
    ``os.replace``: readers see the old file or the new one, never a partial one. The file
    gets the permissions of a plain ``open(path, "w")`` (0666 less the umask).

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> atomic_write_bytes(os.path.join(d, "a.bin"), b"xyz")
        >>> open(os.path.join(d, "a.bin"), "rb").read()
        b'xyz'
    """
    path = Path(path)
    make_dirs(path.parent)
    if path.is_dir():
        raise LstmkitFileError(f"cannot write {path}: a directory of that name exists")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text (JSON results, tables)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(o):
    if hasattr(o, "item") and callable(o.item):  # numpy / torch scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 1) -> None:
    """Write ``obj`` as JSON, atomically (numpy and torch scalars become numbers)."""
    atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default, sort_keys=False))


def read_json(path: str | os.PathLike, what: str = "a JSON file") -> Any:
    """Parse a JSON file; every failure is one :class:`LstmkitFileError` line naming the file.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "c.json"); _ = open(p, "w").write("{oops")
        >>> try:
        ...     read_json(p, "a model config")
        ... except LstmkitFileError as e:
        ...     print(str(e).split(": ", 1)[1])
        not valid JSON (line 1, column 2: Expecting property name enclosed in double quotes); expected a model config
    """
    p = Path(path)
    if not p.is_file():
        raise LstmkitFileError(f"{p}: no such file; expected {what}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LstmkitFileError(f"{p}: not UTF-8 text; expected {what}") from None
    except OSError as e:
        raise LstmkitFileError(f"{p}: cannot be read ({e.strerror or e}); expected {what}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise LstmkitFileError(f"{p}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                               f"expected {what}") from None
    except RecursionError:
        raise LstmkitFileError(f"{p}: JSON nested too deeply; expected {what}") from None


# ----------------------------------------------------------------------------- the manifest

def _digest(path: Path) -> dict:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            n += len(block)
    return {"bytes": n, "sha256": h.hexdigest()}


def _version() -> str:
    try:
        from . import __version__
        return __version__
    except ImportError:  # pragma: no cover - during a partial import
        return "unknown"


def read_manifest(directory: str | os.PathLike) -> dict | None:
    """The manifest of an lstmkit directory, or ``None`` if ``directory`` holds none.

    Raises:
        LstmkitFileError: the manifest exists but is corrupt or of a newer format.
    """
    p = Path(directory) / MANIFEST
    if not p.is_file():
        return None
    doc = read_json(p, "lstmkit's manifest")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("files"), dict):
        raise LstmkitFileError(f"{p}: not an lstmkit manifest (no format {FORMAT!r} with a files table)")
    v = doc.get("format_version")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise LstmkitFileError(f"{p}: format_version must be a positive integer, not {v!r}")
    if v > FORMAT_VERSION:
        raise LstmkitFileError(f"{p}: written by a newer lstmkit (format {v}; this one reads up to "
                               f"{FORMAT_VERSION}): upgrade lstmkit")
    return doc


def is_lstmkit_dir(directory: str | os.PathLike, kind: str | None = None) -> bool:
    """True if ``directory`` carries lstmkit's manifest (of ``kind``, when given)."""
    try:
        doc = read_manifest(directory)
    except LstmkitFileError:
        return False
    return doc is not None and (kind is None or doc.get("kind") == kind)


def _new_manifest(kind: str, files: Mapping[str, dict], meta: Mapping | None = None) -> dict:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "lstmkit_version": _version(),
            "files": dict(sorted(files.items())), **({"meta": dict(meta)} if meta else {})}


def check_dir_target(directory: str | os.PathLike, kind: str, what: str = "directory") -> Path:
    """Raise now (before any work) unless lstmkit may write ``directory`` as a ``kind``
    directory: it does not exist, is empty, or is lstmkit's own of that kind.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp(); _ = open(os.path.join(d, "mine.txt"), "w").write("x")
        >>> try:
        ...     check_dir_target(d, "model", "model directory")
        ... except LstmkitFileError as e:
        ...     print("refusing" in str(e))
        True
    """
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise LstmkitFileError(f"cannot write a {what} to {d}: a file of that name exists; "
                               f"name a new or empty directory")
    if not d.is_dir() or not any(d.iterdir()):
        return d
    doc = read_manifest(d)
    if doc is None:
        hint = (" (it looks like a model written by an older lstmkit, without lstmkit.json)"
                if (d / "config.json").is_file() and (d / "model.safetensors").is_file() else "")
        raise LstmkitFileError(f"refusing to write into {d}: it is not empty and not a {kind} directory "
                               f"lstmkit wrote{hint}; name a new or empty directory")
    if doc.get("kind") != kind:
        raise LstmkitFileError(f"refusing to write the {what} into {d}: it is an lstmkit {doc.get('kind')} "
                               f"directory, not a {kind} directory; name a new or empty directory")
    return d


def claim_dir(directory: str | os.PathLike, kind: str, what: str = "directory") -> tuple[Path, bool]:
    """Make ``directory`` an lstmkit ``kind`` directory (creating it, or reusing lstmkit's
    own); refuses a non-empty foreign one. Returns ``(path, created)`` where ``created``
    says this call made the directory (so the caller may remove it when done).
    """
    d = check_dir_target(directory, kind, what)
    created = not d.exists()
    make_dirs(d)
    if read_manifest(d) is None:
        write_json(d / MANIFEST, _new_manifest(kind, {}))
    return d, created


def register_files(directory: str | os.PathLike, names: Iterable[str], forget: Iterable[str] = ()) -> None:
    """Record ``names`` (files lstmkit just wrote in ``directory``) in its manifest, with
    their sizes and digests, and drop ``forget`` from it. The manifest is rewritten
    atomically after the files, so it never names a file that is not whole."""
    d = Path(directory)
    doc = read_manifest(d)
    if doc is None:
        raise LstmkitFileError(f"{d} is not an lstmkit directory (no {MANIFEST}); claim it first")
    files = dict(doc["files"])
    for name in forget:
        files.pop(name, None)
    for name in names:
        _check_name(name)
        files[name] = _digest(d / name)
    doc["files"] = dict(sorted(files.items()))
    write_json(d / MANIFEST, doc)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", "..", MANIFEST):
        raise ValueError(f"file name {name!r} must be a plain file name other than {MANIFEST}")


def remove_owned(directory: str | os.PathLike, names: Iterable[str] | None = None, remove_dir: bool = True) -> bool:
    """Remove the files lstmkit's manifest in ``directory`` names (or just ``names`` of
    them); when none are left, the manifest and (with ``remove_dir``: a folder lstmkit made)
    the directory too, if it is then empty. Nothing else is touched. Returns True if the
    directory is gone.

    Example:
        >>> import tempfile, os
        >>> d, _ = claim_dir(os.path.join(tempfile.mkdtemp(), "ck"), "checkpoints")
        >>> atomic_write_text(d / "a.json", "{}"); register_files(d, ["a.json"])
        >>> _ = open(d / "NOTES.md", "w").write("mine")
        >>> remove_owned(d), sorted(os.listdir(d))
        (False, ['NOTES.md'])
    """
    d = Path(directory)
    doc = read_manifest(d)
    if doc is None:
        return False
    files = dict(doc["files"])
    for name in list(files) if names is None else list(names):
        if name in files:
            with contextlib.suppress(FileNotFoundError):
                (d / name).unlink()
            files.pop(name)
    if files:
        doc["files"] = files
        write_json(d / MANIFEST, doc)
        return False
    (d / MANIFEST).unlink()
    if not remove_dir:
        return False
    try:
        d.rmdir()
    except OSError:  # the user's files are there: the directory stays
        return False
    return True


def write_dir(directory: str | os.PathLike, files: Mapping[str, bytes | str], kind: str,
              meta: Mapping | None = None, what: str = "directory") -> Path:
    """Write a whole lstmkit directory: ``files`` (name -> bytes or text) and the manifest,
    into a sibling temporary directory renamed into place. A killed run leaves the previous
    directory (or none), never a mix. Replacing lstmkit's own ``kind`` directory keeps every
    file lstmkit did not write there; anything else is refused (:func:`check_dir_target`).

    Example:
        >>> import tempfile, os
        >>> d = os.path.join(tempfile.mkdtemp(), "m")
        >>> _ = write_dir(d, {"a.json": "{}"}, "model")
        >>> _ = open(os.path.join(d, "NOTES.md"), "w").write("mine")
        >>> _ = write_dir(d, {"a.json": "[]"}, "model")
        >>> sorted(os.listdir(d)), open(os.path.join(d, "a.json")).read()
        (['NOTES.md', 'a.json', 'lstmkit.json'], '[]')
    """
    d = check_dir_target(directory, kind, what)
    for name in files:
        _check_name(name)
    make_dirs(d.parent)
    tmp = Path(tempfile.mkdtemp(dir=d.parent, prefix=f".{d.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        for name, content in files.items():
            atomic_write_bytes(tmp / name, content if isinstance(content, bytes) else content.encode("utf-8"))
        write_json(tmp / MANIFEST, _new_manifest(kind, {n: _digest(tmp / n) for n in files}, meta))
        old_doc = read_manifest(d) if d.is_dir() else None
        if not d.exists() or (d.is_dir() and not any(d.iterdir())):
            if d.exists():
                d.rmdir()
            os.replace(tmp, d)
            return d
        # Replacing our own directory: the user's files (anything the old manifest does not
        # name) are hard-linked into the new one first, so they exist in both at every moment.
        owned = set(old_doc["files"]) | {MANIFEST} if old_doc else {MANIFEST}
        theirs = [p for p in d.iterdir() if p.name not in owned and p.name not in files]
        their_dirs = []
        for p in theirs:
            if p.is_dir() and not p.is_symlink():
                their_dirs.append(p.name)
            else:
                try:
                    os.link(p, tmp / p.name, follow_symlinks=False)
                except OSError:
                    import shutil
                    shutil.copy2(p, tmp / p.name, follow_symlinks=False)
        old = Path(tempfile.mkdtemp(dir=d.parent, prefix=f".{d.name}.", suffix=".old"))
        os.replace(d, old / d.name)
        os.replace(tmp, d)
        for name in their_dirs:  # sub-folders move after the swap (they cannot be linked)
            os.replace(old / d.name / name, d / name)
        # The old copy now holds only our old files and links to the user's: remove those
        # by name, then the (empty) folders. Anything unexpected stays where it is.
        for p in (old / d.name).iterdir():
            if p.name in owned or p.name in {q.name for q in theirs}:
                p.unlink()
        with contextlib.suppress(OSError):
            (old / d.name).rmdir()
            old.rmdir()
        return d
    except BaseException:
        if tmp.exists():
            for p in tmp.iterdir():
                with contextlib.suppress(OSError):
                    p.unlink()
            with contextlib.suppress(OSError):
                tmp.rmdir()
        raise


def verify_dir(directory: str | os.PathLike, kind: str | None = None, what: str = "directory",
               required: Iterable[str] = ()) -> dict | None:
    """Check an lstmkit directory before reading it: the manifest's format and version, its
    kind, and that every file it names is there, whole and unchanged (size and sha256).
    Returns the manifest, or ``None`` for a directory without one (written by an older
    lstmkit) whose ``required`` files are all present.

    Raises:
        FileNotFoundError: no such directory, or a required file is missing.
        LstmkitFileError: a corrupt manifest, the wrong kind, a truncated or edited file.
    """
    d = Path(directory)
    if not d.exists():
        raise FileNotFoundError(f"{d}: no such {what}")
    if not d.is_dir():
        raise LstmkitFileError(f"{d} is a file; expected a {what}")
    doc = read_manifest(d)
    if doc is None:
        for name in required:
            if not (d / name).is_file():
                raise FileNotFoundError(f"{d} is not a {what}: {name} is missing")
        return None
    if kind is not None and doc.get("kind") != kind:
        raise LstmkitFileError(f"{d} is an lstmkit {doc.get('kind')} directory, not a {what}")
    for name in required:
        if name not in doc["files"]:
            raise LstmkitFileError(f"{d}/{MANIFEST} does not list {name}: not a complete {what}")
    for name, entry in doc["files"].items():
        p = d / name
        if not p.is_file():
            raise FileNotFoundError(f"{p} is missing (listed in {MANIFEST}); the {what} is incomplete")
        if not isinstance(entry, dict):
            raise LstmkitFileError(f"{d}/{MANIFEST}: the entry of {name} is not a table")
        size = p.stat().st_size
        if size != entry.get("bytes"):
            raise LstmkitFileError(f"{p} was changed since lstmkit wrote it: it has {size} bytes, {MANIFEST} "
                                   f"says {entry.get('bytes')} (truncated or edited); restore it or write the "
                                   f"{what} again")
        if _digest(p)["sha256"] != entry.get("sha256"):
            raise LstmkitFileError(f"{p} was changed since lstmkit wrote it (its sha256 differs from "
                                   f"{MANIFEST}); restore it or write the {what} again")
    return doc


# ----------------------------------------------------------------------------- a lock

@contextlib.contextmanager
def dir_lock(directory: str | os.PathLike, what: str = "directory") -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (a hidden ``.NAME.lstmkit-lock`` file beside
    it, holding the holder's pid) for the duration; a second process asking for it gets a
    one-line :class:`LstmkitFileError` at once instead of waiting (two trainings into one
    model directory: the second refuses). A file of that name that is not such a lock (not
    empty, not a pid) is never truncated or removed: the lock is refused instead.

    Example:
        >>> import tempfile, os
        >>> d = os.path.join(tempfile.mkdtemp(), "m")
        >>> with dir_lock(d):
        ...     pass
    """
    import fcntl

    d = Path(directory)
    make_dirs(d.parent)
    lock = d.parent / f".{d.name}.lstmkit-lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 64).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise LstmkitFileError(f"{d} is being written by another lstmkit process (pid {other}); "
                                   f"wait for it to finish or choose another {what}") from None
        # The holder before us may have removed the lock file after we opened it: retry on
        # the file that is there now, so two processes never both hold "the" lock.
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    held = os.read(fd, 64).decode("ascii", "replace").strip()
    if held and not held.isdigit():  # someone else's file, not a lock we (or a killed run) left
        os.close(fd)
        raise LstmkitFileError(f"{lock} exists and is not lstmkit's lock file; rename it to train into {d}")
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


# ----------------------------------------------------------------------------- validating configs

def check_fields(doc: Any, spec: Mapping[str, tuple], where: str) -> None:
    """Validate a JSON table against ``spec``: ``name -> (types, check, expected)`` where
    ``check(value) -> bool`` may be ``None`` and ``expected`` says what is allowed. A name
    whose types include ``type(None)`` may be absent. One :class:`LstmkitFileError` line
    names ``where`` (the file), the field, what was expected and what came.

    Example:
        >>> spec = {"scale": ((int, float), lambda v: v > 0, "a positive number")}
        >>> try:
        ...     check_fields({"scale": 0}, spec, "m/config.json")
        ... except LstmkitFileError as e:
        ...     print(e)
        m/config.json: scale must be a positive number, not 0
    """
    if not isinstance(doc, dict):
        raise LstmkitFileError(f"{where}: expected a JSON table, not {type(doc).__name__}")
    for name, (types, check, expected) in spec.items():
        types = types if isinstance(types, tuple) else (types,)
        if name not in doc:
            if type(None) in types:
                continue
            raise LstmkitFileError(f"{where}: {name} is missing (expected {expected})")
        v = doc[name]
        ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in types)
        if ok and isinstance(v, float):
            import math
            ok = math.isfinite(v)
        if ok and check is not None and v is not None:
            try:
                ok = bool(check(v))
            except (TypeError, ValueError, KeyError, IndexError):
                ok = False
        if not ok:
            shown = json.dumps(v) if isinstance(v, (int, float, str, bool, type(None))) else type(v).__name__
            if len(shown) > 60:
                shown = shown[:57] + "..."
            raise LstmkitFileError(f"{where}: {name} must be {expected}, not {shown}")
