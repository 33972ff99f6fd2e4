"""Fast paths. Each computes exactly what :func:`lstmkit.recurrent.run_recurrence` computes.

:func:`run_direction` is the one place that chooses between the reference loop and a
fused kernel for one (layer, direction). Today every call takes the reference loop; a
fused kernel registers here and is tested against it.
"""

from __future__ import annotations

from ..recurrent import run_recurrence

__all__ = ["run_direction"]


def run_direction(spec, params, x, state, **kwargs):
    """Run one (layer, direction): same arguments and result as ``run_recurrence``."""
    return run_recurrence(spec, params, x, state, **kwargs)
