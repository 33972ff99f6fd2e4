"""The registry of cell families: name -> cell spec, module classes, fast runner, torch.nn twin.

Everything above the layers (models, the experiment runner, ``bench``, the CLI's
``--variant``/``--cell`` options) finds a family here by name, so a new family is a new
file in ``cells/`` (its one-step math), a module file in ``layers/`` that calls
:func:`register_family`, docs and tests; nothing else changes. A family may also have
named variants (the LSTM's Greff presets): :func:`resolve_model` turns a user's name (a
family, an alias, or a variant) into ``(family, variant)``.

Example:
    >>> import lstmkit
    >>> from lstmkit.families import get_family, resolve_model
    >>> get_family("gru").module is lstmkit.GRU
    True
    >>> fam, variant = resolve_model("cifg")
    >>> fam.name, variant
    ('lstm', 'cifg')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .cells.base import CellSpec

__all__ = ["Family", "register_family", "get_family", "family_names", "families", "resolve_model", "family_of"]


@dataclass(frozen=True)
class Family:
    """One registered family of recurrent cells.

    Attributes:
        name: the registry name (``"lstm"``, ``"gru"``, ``"rnn"``, ``"conv_lstm"``).
        spec: the :class:`~lstmkit.cells.CellSpec` subclass holding the one-step math.
        module: the layer module class (sequence in, sequence out; stacks and directions).
        cell_module: the stepwise cell module class, if the family has one.
        torch_twin: the ``torch.nn`` class with the same equations and state_dict, if any.
        title: a short human name (``"LSTM"``, ``"Elman RNN"``).
        aliases: other names that mean this family (``"elman"`` for ``"rnn"``).
        variants: named variants chosen with the module's ``variant=`` argument.
        default_variant: the variant used when only the family is named.
        feature_axes: 1 for vector inputs (B, I); 3 for feature maps (B, C, H, W).
        paper: where the equations come from.
        runner: the kernels' planner for ``spec`` (``(spec, RunConfig) -> Runner | None``),
            or None (the reference loop serves every call).
    """

    name: str
    spec: type
    module: type
    cell_module: type | None = None
    torch_twin: type | None = None
    title: str = ""
    aliases: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    default_variant: str | None = None
    feature_axes: int = 1
    paper: str = ""
    runner: Callable[..., Any] | None = field(default=None, compare=False)

    def describe(self, variant: str | None = None) -> str:
        """A short human name: ``"LSTM (vanilla)"``, ``"GRU"``."""
        title = self.title or self.name
        return f"{title} ({variant})" if variant else title


_FAMILIES: dict[str, Family] = {}
_NAMES: dict[str, str] = {}  # every registered name and alias -> family name


def register_family(family: Family) -> Family:
    """Add ``family`` to the registry (at import of its module file); returns it.

    Raises:
        TypeError: ``family`` is not a :class:`Family`, or its spec is not a CellSpec.
        ValueError: its name or an alias is taken by another family.
    """
    if not isinstance(family, Family):
        raise TypeError(f"register_family takes a Family, got {type(family).__name__}")
    if not (isinstance(family.spec, type) and issubclass(family.spec, CellSpec)):
        raise TypeError(f"Family {family.name!r}: spec must be a CellSpec subclass, got {family.spec!r}")
    for n in (family.name, *family.aliases):
        if not isinstance(n, str) or not n:
            raise ValueError(f"family names must be non-empty strings, got {n!r}")
        owner = _NAMES.get(n)
        if owner is not None and owner != family.name:
            raise ValueError(f"family name {n!r} is already registered for family {owner!r}")
    if family.runner is not None:
        from .kernels import register_runner

        register_runner(family.spec, family.runner)
    _FAMILIES[family.name] = family
    for n in (family.name, *family.aliases):
        _NAMES[n] = family.name
    return family


def family_names() -> tuple[str, ...]:
    """The registered family names, in registration order."""
    return tuple(_FAMILIES)


def families() -> tuple[Family, ...]:
    """The registered families, in registration order."""
    return tuple(_FAMILIES.values())


def _known() -> str:
    parts = []
    for f in _FAMILIES.values():
        s = f.name + (f" (alias {', '.join(f.aliases)})" if f.aliases else "")
        parts.append(s)
    return ", ".join(parts)


def get_family(name: str) -> Family:
    """The family registered as ``name`` (or an alias of it).

    Raises:
        ValueError: no family has that name; the message lists the registered ones.
    """
    if not isinstance(name, str):
        raise TypeError(f"family name must be a str, got {type(name).__name__}")
    key = _NAMES.get(name)
    if key is None:
        raise ValueError(f"unknown cell family {name!r}; registered families: {_known()}")
    return _FAMILIES[key]


def resolve_model(name: str, *, feature_axes: int | None = None, what: str = "model") -> tuple[Family, str | None]:
    """A user's model name -> ``(family, variant)``: a family name or alias gives its
    default variant; a variant name (``"cifg"``) gives the family that has it.

    Args:
        name: e.g. ``"gru"``, ``"elman"``, ``"lstm"``, ``"vanilla"``.
        feature_axes: if given, only families whose inputs have this many feature axes
            (1: vectors) qualify.
        what: the word the error uses for ``name`` (``"variant"`` for a ``--variant`` option).

    Raises:
        ValueError: unknown name; the message lists every registered family and variant.

    Example:
        >>> resolve_model("elman")[0].name, resolve_model("gru")[1]
        ('rnn', None)
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {type(name).__name__}")
    pool = [f for f in _FAMILIES.values() if feature_axes is None or f.feature_axes == feature_axes]
    for f in pool:
        if name == f.name or name in f.aliases:
            return f, f.default_variant
    for f in pool:
        if name in f.variants:
            return f, name
    names = ", ".join(f.name + "".join(f"/{a}" for a in f.aliases) for f in pool)
    variants = "; ".join(f"{f.title or f.name} variants: {', '.join(f.variants)}" for f in pool if f.variants)
    raise ValueError(
        f"unknown {what} {name!r}; expected a family ({names})" + (f" or a variant ({variants})" if variants else "")
    )


def family_of(obj) -> Family:
    """The family of a cell spec, layer module or cell module (by exact type).

    Raises:
        ValueError: ``obj``'s type belongs to no registered family.
    """
    t = type(obj)
    for f in _FAMILIES.values():
        if t in (f.spec, f.module, f.cell_module):
            return f
    raise ValueError(f"{t.__name__} belongs to no registered family; registered: {_known()}")
