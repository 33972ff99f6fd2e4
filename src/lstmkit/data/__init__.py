"""Loaders for data sets that ship inside installed packages (no downloads, ever)."""

from .packaged import package_dir
from .fsdd import load_fsdd

__all__ = ["package_dir", "load_fsdd"]
