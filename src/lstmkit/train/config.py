"""What every training configuration of train/ shares: JSON round trips that refuse unknown
keys (:class:`ConfigDict`) and the checks of its fields, each a one-line ValueError that
names the field, says what was expected and shows what came (:func:`check_fields`).

The trainer's :class:`~lstmkit.train.trainer.TrainConfig`, the policy gradients'
:class:`~lstmkit.train.reinforce.PGConfig`, Evolino's and the Kalman filter's configs use
these, so a field is checked and a config is read the same way everywhere.
"""

from __future__ import annotations

from dataclasses import asdict, fields

__all__ = ["ConfigDict", "check_fields", "CHECKS"]


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


#: kind -> (test, what the message says is expected).
CHECKS = {
    "positive int": (lambda v: _int(v) and v >= 1, "a positive int"),
    "int >= 0": (lambda v: _int(v) and v >= 0, "an int >= 0"),
    "positive": (lambda v: _number(v) and v > 0, "a positive number"),
    ">= 0": (lambda v: _number(v) and v >= 0, "a number >= 0"),
    "[0, 1]": (lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "positive or None": (lambda v: v is None or (_number(v) and v > 0), "positive or None"),
}


def check_fields(config, kind: str, *names: str) -> None:
    """Check that each field ``names`` of ``config`` is of ``kind`` (a key of :data:`CHECKS`).

    Raises:
        ValueError: the first field that is not, as ``"NAME must be EXPECTED, got VALUE"``.

    Example:
        >>> from types import SimpleNamespace
        >>> check_fields(SimpleNamespace(lr=0.1, gamma=0.9), "positive", "lr")
        >>> check_fields(SimpleNamespace(gamma=1.5), "[0, 1]", "gamma")
        Traceback (most recent call last):
        ...
        ValueError: gamma must be a number in [0, 1], got 1.5
    """
    if kind not in CHECKS:
        raise ValueError(f"kind must be one of {sorted(CHECKS)}, got {kind!r}")
    ok, expected = CHECKS[kind]
    for name in names:
        v = getattr(config, name)
        if not ok(v):
            raise ValueError(f"{name} must be {expected}, got {v!r}")


class ConfigDict:
    """Mixin for a dataclass configuration: :meth:`to_dict` and :meth:`from_dict`.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Demo(ConfigDict):
        ...     lr: float = 0.1
        >>> Demo.from_dict(Demo(lr=0.5).to_dict())
        Demo(lr=0.5)
        >>> Demo.from_dict({"learning_rate": 1})
        Traceback (most recent call last):
        ...
        ValueError: unknown Demo fields ['learning_rate']; expected ['lr']
    """

    def to_dict(self) -> dict:
        """JSON-ready copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError (one line naming them)."""
        if not isinstance(d, dict):
            raise TypeError(f"d must be a dict of {cls.__name__} fields, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}; expected {sorted(known)}")
        return cls(**d)
