"""Heads on top of the recurrent layers: a sequence model that reads out every step or the last."""

from .sequence import CELLS, SequenceModel

__all__ = ["SequenceModel", "CELLS"]
