"""LSTMVariant: the named switches of the LSTM family and its presets.

The switches follow Greff et al. 2015, "LSTM: A Search Space Odyssey", whose eight
variants each change one thing of the "vanilla" LSTM (Gers & Schmidhuber 2000: forget
gate and peepholes). Two more presets name the historical endpoints: "standard" (Gers et
al. 1999, exactly ``torch.nn.LSTM``) and "hochreiter1997" (the original cell).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

__all__ = ["LSTMVariant", "PRESETS"]

_ACTIVATIONS = ("tanh", "identity")


@dataclass(frozen=True)
class LSTMVariant:
    r"""Which parts an LSTM cell has. A frozen, hashable value object.

    Equations (Greff et al. 2015 form, one time step; :math:`\sigma` the logistic
    sigmoid, :math:`\odot` the element-wise product, :math:`p_*` diagonal peepholes):

    .. math::
        z_t &= g(W_z x_t + R_z h_{t-1} + b_z)                          &\text{block input}\\
        i_t &= \sigma(W_i x_t + R_i h_{t-1} + p_i \odot c_{t-1} + b_i) &\text{input gate}\\
        f_t &= \sigma(W_f x_t + R_f h_{t-1} + p_f \odot c_{t-1} + b_f) &\text{forget gate}\\
        c_t &= z_t \odot i_t + c_{t-1} \odot f_t                        &\text{cell state}\\
        o_t &= \sigma(W_o x_t + R_o h_{t-1} + p_o \odot c_t + b_o)     &\text{output gate}\\
        h_t &= h(c_t) \odot o_t                                       &\text{block output}

    The input and forget peepholes see :math:`c_{t-1}`; the output peephole sees
    :math:`c_t`. A missing gate is the constant 1 (``input_gate=False``: :math:`i_t=1`;
    ``forget_gate=False``: :math:`f_t=1`, the 1997 cell; ``output_gate=False``:
    :math:`o_t=1`). ``coupled_input_forget`` (CIFG) sets :math:`f_t = 1 - i_t`.
    ``input_activation`` is :math:`g`, ``output_activation`` is :math:`h`, each
    ``"tanh"`` or ``"identity"``. ``full_gate_recurrence`` (FGR) adds, to each gate's
    pre-activation, a full matrix times the previous step's activations of all gates
    (:math:`R_{gg}\,[i_{t-1}, f_{t-1}, o_{t-1}]`, zero at the first step).
    ``layer_norm`` (Ba et al. 2016) normalises :math:`W x_t` and :math:`R h_{t-1}` over
    the gate vector, each with its own gain, and :math:`c_t` before :math:`h(\cdot)`
    (with gain and bias; the state itself is not normalised).

    Presets (``LSTMVariant.preset(name)``):

    ==================  ==========================================================
    ``standard``        forget gate, no peepholes (Gers et al. 1999) = torch.nn.LSTM
    ``vanilla``         standard + peepholes: Greff's baseline (Gers & Schmidhuber 2000)
    ``hochreiter1997``  input and output gates only, no forget gate, no peepholes
    ``nig``             vanilla, no input gate
    ``nfg``             vanilla, no forget gate
    ``nog``             vanilla, no output gate
    ``niaf``            vanilla, no input activation (g = identity)
    ``noaf``            vanilla, no output activation (h = identity)
    ``np``              vanilla, no peepholes (the same cell as ``standard``)
    ``cifg``            vanilla, coupled input and forget gate (f = 1 - i)
    ``fgr``             vanilla, full gate recurrence
    ``layer_norm``      standard with layer normalisation (Ba et al. 2016)
    ==================  ==========================================================

    Example:
        >>> from lstmkit import LSTMVariant
        >>> v = LSTMVariant.preset("cifg")
        >>> v.coupled_input_forget, v.peepholes
        (True, True)
        >>> v.gate_blocks
        ('i', 'g', 'o')
        >>> LSTMVariant(input_gate=False, coupled_input_forget=True)
        Traceback (most recent call last):
        ...
        ValueError: coupled_input_forget=True needs input_gate=True (f = 1 - i needs an input gate)
    """

    input_gate: bool = True
    forget_gate: bool = True
    output_gate: bool = True
    peepholes: bool = False
    coupled_input_forget: bool = False
    input_activation: str = "tanh"
    output_activation: str = "tanh"
    full_gate_recurrence: bool = False
    layer_norm: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool) and not isinstance(value, bool):
                raise TypeError(f"{f.name} must be a bool, got {type(value).__name__} {value!r}")
        for name in ("input_activation", "output_activation"):
            value = getattr(self, name)
            if value not in _ACTIVATIONS:
                raise ValueError(f"{name} must be one of {_ACTIVATIONS}, got {value!r}")
        if self.coupled_input_forget and not self.input_gate:
            raise ValueError(
                "coupled_input_forget=True needs input_gate=True (f = 1 - i needs an input gate)"
            )
        if self.coupled_input_forget and not self.forget_gate:
            raise ValueError(
                "coupled_input_forget=True needs forget_gate=True (the coupled gate is the "
                "forget gate); use forget_gate=False alone for a cell without one"
            )
        if self.peepholes and not self.peephole_gates:
            raise ValueError("peepholes=True but the variant has no gate for a peephole to feed")
        if self.full_gate_recurrence and not self.recurrent_gates:
            raise ValueError("full_gate_recurrence=True but the variant has no gates")

    # ---- derived layout -------------------------------------------------------------
    @property
    def gate_blocks(self) -> tuple[str, ...]:
        """Blocks of ``weight_ih``/``weight_hh``/biases, in order, from (i, f, g, o)."""
        blocks = []
        if self.input_gate:
            blocks.append("i")
        if self.forget_gate and not self.coupled_input_forget:
            blocks.append("f")
        blocks.append("g")
        if self.output_gate:
            blocks.append("o")
        return tuple(blocks)

    @property
    def peephole_gates(self) -> tuple[str, ...]:
        """Blocks of ``weight_ch`` (diagonal peepholes), in order, from (i, f, o)."""
        if not self.peepholes:
            return ()
        return self.recurrent_gates

    @property
    def recurrent_gates(self) -> tuple[str, ...]:
        """The gates with their own parameters, from (i, f, o): the FGR blocks."""
        return tuple(b for b in self.gate_blocks if b != "g")

    @property
    def num_gate_blocks(self) -> int:
        """G: the number of (H-sized) blocks in ``weight_ih``."""
        return len(self.gate_blocks)

    # ---- presets --------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> "LSTMVariant":
        """The variant called ``name`` (see the class docstring for the list).

        Raises:
            ValueError: ``name`` is not a known preset.
        """
        if not isinstance(name, str):
            raise TypeError(f"variant name must be a str, got {type(name).__name__}")
        try:
            return PRESETS[name]
        except KeyError:
            raise ValueError(
                f"unknown variant {name!r}; expected one of {sorted(PRESETS)}"
            ) from None

    @classmethod
    def coerce(cls, variant: "str | LSTMVariant") -> "LSTMVariant":
        """Accept a preset name or an LSTMVariant; anything else is a TypeError."""
        if isinstance(variant, LSTMVariant):
            return variant
        if isinstance(variant, str):
            return cls.preset(variant)
        raise TypeError(
            f"variant must be a preset name or an LSTMVariant, got {type(variant).__name__}"
        )

    @property
    def name(self) -> str | None:
        """The preset name of this variant, if it is one (first match in PRESETS order)."""
        for key, value in PRESETS.items():
            if value == self:
                return key
        return None

    def replace(self, **changes) -> "LSTMVariant":
        """A copy with some switches changed (validated like the constructor)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """The switches as a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LSTMVariant":
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown LSTMVariant switches {sorted(unknown)}; expected {sorted(known)}")
        return cls(**d)


_STANDARD = LSTMVariant()
_VANILLA = _STANDARD.replace(peepholes=True)

PRESETS: dict[str, LSTMVariant] = {
    "standard": _STANDARD,
    "vanilla": _VANILLA,
    "hochreiter1997": LSTMVariant(forget_gate=False),
    "nig": _VANILLA.replace(input_gate=False),
    "nfg": _VANILLA.replace(forget_gate=False),
    "nog": _VANILLA.replace(output_gate=False),
    "niaf": _VANILLA.replace(input_activation="identity"),
    "noaf": _VANILLA.replace(output_activation="identity"),
    "np": _VANILLA.replace(peepholes=False),
    "cifg": _VANILLA.replace(coupled_input_forget=True),
    "fgr": _VANILLA.replace(full_gate_recurrence=True),
    "layer_norm": _STANDARD.replace(layer_norm=True),
}
"""Every named preset. Note ``np`` is the same cell as ``standard`` (Greff's NP)."""
