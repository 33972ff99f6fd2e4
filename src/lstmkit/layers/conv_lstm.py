"""The ConvLSTM family's module: :class:`ConvLSTM` (Shi et al. 2015, eq. 3, peepholes
included), its Keras 3 converters and its registration."""

from __future__ import annotations

from torch import Tensor

from ..cells.conv_lstm import ConvLSTMCellSpec, params_from_keras, params_to_keras
from ..families import Family, register_family
from .cell import CellModule
from .recurrent import Recurrent

__all__ = ["ConvLSTM", "ConvLSTMCell"]

_KERAS_HINT = "Keras 3 is needed: pip install 'keras>=3' (and set KERAS_BACKEND, e.g. torch)"


class ConvLSTM(Recurrent):
    r"""A multi-layer, optionally bidirectional convolutional LSTM (Shi et al. 2015, eq. 3).

    Each step convolves ("same" padding, so frames keep their size) the input frame and
    h_{t-1}; the peepholes are Hadamard products with C over channels and pixels (see
    :mod:`lstmkit.cells.conv_lstm` for the equations):
    i_t = σ(W_xi * X_t + W_hi * H_{t-1} + W_ci ∘ C_{t-1} + b_i), f_t likewise,
    C_t = f_t ∘ C_{t-1} + i_t ∘ tanh(W_xc * X_t + W_hc * H_{t-1} + b_c),
    o_t = σ(W_xo * X_t + W_ho * H_{t-1} + W_co ∘ C_t + b_o), H_t = o_t ∘ tanh(C_t).

    Args:
        in_channels: C_in, channels of each input frame.
        hidden_channels: C_h, channels of h and c (per direction).
        kernel_size: kh or (kh, kw), odd (needed for "same" padding).
        num_layers: stacked layers; layer k > 0 reads D*C_h channels.
        bias: whether ``bias_ih``/``bias_hh`` exist.
        batch_first: input and output (B, T, C, Hgt, Wdt) instead of (T, B, C, Hgt, Wdt).
        bidirectional: a second, reverse direction per layer (outputs concatenate on the
            channel axis).
        peepholes: the Hadamard peepholes ``weight_ch`` of eq. 3 (False: Keras'
            ConvLSTM2D).
        frame_size: Hgt or (Hgt, Wdt); required when ``peepholes=True``. When given,
            every input must have that frame size.
        dropout: dropout on the outputs of each layer but the last, as torch.nn.LSTM.
        recurrent_dropout: variational dropout on h_{t-1} before the recurrent
            convolution, one (B, C_h, Hgt, Wdt) mask per sequence and layer, training only.
        zoneout: zoneout rate for h and c, or a (cell, hidden) pair.
        recurrent_kernel_size: kh or (kh, kw), odd, of the state-to-state convolution
            (default: ``kernel_size``; Shi et al.'s Table 1 compares 5x5 with 1x1).
        device, dtype: factory arguments.

    Inputs: ``input, hx=None, lengths=None``: input (T, B, C_in, Hgt, Wdt) (or
    (T, C_in, Hgt, Wdt) unbatched); hx = (h_0, c_0), each (L*D, B, C_h, Hgt, Wdt), zeros
    if None; lengths (B,) ints (outputs past a sequence's end are zero, its state is the
    one after its own last step). Outputs: ``output`` (T, B, D*C_h, Hgt, Wdt) and
    ``(h_n, c_n)``, each (L*D, B, C_h, Hgt, Wdt).

    Attributes:
        weight_ih_l[k][_reverse]: (4*C_h, C_in or D*C_h, kh, kw), blocks (i, f, g, o).
        weight_hh_l[k][_reverse]: (4*C_h, C_h, rh, rw) (the recurrent kernel's size).
        bias_ih_l[k][_reverse], bias_hh_l[k][_reverse]: (4*C_h,).
        weight_ch_l[k][_reverse]: (3*C_h, Hgt, Wdt), blocks (i, f, o) (peepholes only).

    Initialisation: every tensor U(-1/sqrt(C_h*kh*kw), 1/sqrt(C_h*kh*kw)).

    Example:
        >>> import torch, lstmkit
        >>> m = lstmkit.ConvLSTM(3, 8, 3, num_layers=2, frame_size=(16, 16))
        >>> x = torch.randn(10, 2, 3, 16, 16)                  # (T, B, C_in, Hgt, Wdt)
        >>> out, (h, c) = m(x, lengths=torch.tensor([10, 6]))
        >>> out.shape, h.shape
        (torch.Size([10, 2, 8, 16, 16]), torch.Size([2, 2, 8, 16, 16]))
    """

    _hx_form = "(h_0, c_0), each (num_layers*num_directions, B, C_h, Hgt, Wdt)"

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: "int | tuple[int, int]",
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        bidirectional: bool = False,
        peepholes: bool = True,
        frame_size: "int | tuple[int, int] | None" = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        recurrent_kernel_size: "int | tuple[int, int] | None" = None,
        device=None,
        dtype=None,
    ) -> None:
        # Built once here so that a bad kernel_size / frame_size fails before anything else.
        first = ConvLSTMCellSpec(in_channels, hidden_channels, kernel_size, bias, peepholes, frame_size,
                                 recurrent_kernel_size)
        self.kernel_size = first.kernel_size
        self.recurrent_kernel_size = first.recurrent_kernel_size
        self.peepholes = peepholes
        self.frame_size = first.frame_size
        super().__init__(
            lambda n_in: ConvLSTMCellSpec(n_in, hidden_channels, first.kernel_size, bias, peepholes, first.frame_size,
                                          first.recurrent_kernel_size),
            in_channels,
            hidden_channels,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            device=device,
            dtype=dtype,
        )
        self.reset_parameters()

    @property
    def in_channels(self) -> int:
        """C_in (the same as ``input_size``)."""
        return self.input_size

    @property
    def hidden_channels(self) -> int:
        """C_h (the same as ``hidden_size``)."""
        return self.hidden_size

    # ---- Keras 3 --------------------------------------------------------------------
    @classmethod
    def from_keras(cls, layer, *, batch_first: bool = False, device=None, dtype=None) -> "ConvLSTM":
        """A ConvLSTM (``peepholes=False``) computing what a built Keras 3 ``ConvLSTM2D`` does.

        Keras' one bias becomes ``bias_ih`` (``bias_hh`` is zero). Keras' ``dropout`` and
        ``recurrent_dropout`` are training-time only and are not carried over.

        Args:
            layer: a built ``keras.layers.ConvLSTM2D`` with ``padding="same"``, strides
                and dilation 1, tanh and sigmoid activations, ``go_backwards=False``.
            batch_first: the new module's layout (Keras itself is batch-first).
            device, dtype: of the new module's parameters (default: the weights' dtype).

        Raises:
            TypeError: ``layer`` is not a Keras ConvLSTM2D.
            ValueError: its configuration has no ConvLSTM equivalent, or it is not built.

        Example:
            >>> import torch, lstmkit
            >>> m = lstmkit.ConvLSTM(2, 4, 3, peepholes=False)
            >>> try:
            ...     import keras
            ... except ImportError:
            ...     keras = None
            >>> if keras is not None:
            ...     back = lstmkit.ConvLSTM.from_keras(m.to_keras(frame_size=(5, 5)))
            ...     assert torch.equal(back.weight_hh_l0, m.weight_hh_l0)
        """
        try:
            import keras
        except ImportError as e:
            raise ImportError(f"ConvLSTM.from_keras: {_KERAS_HINT}") from e
        if not isinstance(layer, keras.layers.ConvLSTM2D):
            raise TypeError(f"layer must be a keras.layers.ConvLSTM2D, got {type(layer).__name__}")
        if not layer.built:
            raise ValueError("layer must be built (call it once or layer.build(input_shape)) so it has weights")
        cfg = layer.get_config()
        checks = {
            "padding": ("same", cfg["padding"]),
            "strides": ((1, 1), tuple(cfg["strides"])),
            "dilation_rate": ((1, 1), tuple(cfg["dilation_rate"])),
            "activation": ("tanh", cfg["activation"]),
            "recurrent_activation": ("sigmoid", cfg["recurrent_activation"]),
            "go_backwards": (False, cfg["go_backwards"]),
        }
        for name, (want, got) in checks.items():
            if got != want:
                raise ValueError(f"layer {name}: a ConvLSTM needs {want!r}, got {got!r}")
        weights = layer.get_weights()
        p = params_from_keras(*weights)
        C_in, C_h = p["weight_ih"].shape[1], p["weight_ih"].shape[0] // 4
        m = cls(C_in, C_h, tuple(cfg["kernel_size"]), bias=bool(cfg["use_bias"]), batch_first=batch_first,
                peepholes=False, device=device, dtype=dtype or p["weight_ih"].dtype)
        m.load_state_dict({f"{k}_l0": v for k, v in p.items()})
        return m

    def to_keras(self, frame_size: "int | tuple[int, int] | None" = None, *, data_format: str = "channels_first",
                 return_sequences: bool = True, return_state: bool = True):
        """A built Keras 3 ``ConvLSTM2D`` with these weights (one layer, one direction,
        ``peepholes=False``); ``bias_ih + bias_hh`` becomes Keras' one bias.

        Args:
            frame_size: (Hgt, Wdt) to build the Keras layer for (Keras needs static frame
                sizes); default: the module's ``frame_size``.
            data_format: ``"channels_first"`` (inputs (B, T, C, Hgt, Wdt), as here) or
                ``"channels_last"`` (B, T, Hgt, Wdt, C); the weights are the same.
            return_sequences, return_state: passed to Keras.

        Raises:
            ValueError: more than one layer, bidirectional, peepholes, or no frame size.

        Example:
            >>> import lstmkit
            >>> m = lstmkit.ConvLSTM(2, 4, 3, peepholes=False)
            >>> try:
            ...     import keras
            ... except ImportError:
            ...     keras = None
            >>> if keras is not None:
            ...     assert [w.shape for w in m.to_keras((8, 8)).get_weights()][0] == (3, 3, 2, 16)
        """
        if self.num_layers != 1 or self.bidirectional:
            raise ValueError(
                f"to_keras converts one layer, one direction (a ConvLSTM2D); this module has "
                f"num_layers={self.num_layers}, bidirectional={self.bidirectional}"
            )
        if self.peepholes:
            raise ValueError("to_keras needs peepholes=False: Keras 3's ConvLSTM2D has no peepholes")
        if self.recurrent_kernel_size != self.kernel_size:
            raise ValueError(
                f"to_keras needs recurrent_kernel_size == kernel_size: Keras 3's ConvLSTM2D has one "
                f"kernel_size, got {self.kernel_size} and {self.recurrent_kernel_size}"
            )
        if data_format not in ("channels_first", "channels_last"):
            raise ValueError(f"data_format must be 'channels_first' or 'channels_last', got {data_format!r}")
        frame = self.frame_size if frame_size is None else ConvLSTMCellSpec(
            self.input_size, self.hidden_size, self.kernel_size, peepholes=False, frame_size=frame_size
        ).frame_size
        if frame is None:
            raise ValueError("to_keras needs frame_size (Hgt, Wdt): Keras builds ConvLSTM2D for a fixed frame size")
        try:
            import keras
        except ImportError as e:
            raise ImportError(f"ConvLSTM.to_keras: {_KERAS_HINT}") from e
        w: Tensor = self.weight_ih_l0
        layer = keras.layers.ConvLSTM2D(
            self.hidden_size,
            self.kernel_size,
            padding="same",
            data_format=data_format,
            use_bias=self.bias,
            return_sequences=return_sequences,
            return_state=return_state,
            dtype=str(w.dtype).removeprefix("torch."),
        )
        C = self.input_size
        layer.build((None, None, C, *frame) if data_format == "channels_first" else (None, None, *frame, C))
        layer.set_weights(params_to_keras(self.cell_params(0)))
        return layer

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, kernel_size={self.kernel_size}"
        if self.recurrent_kernel_size != self.kernel_size:
            s += f", recurrent_kernel_size={self.recurrent_kernel_size}"
        if self.frame_size is not None:
            s += f", frame_size={self.frame_size}"
        if not self.peepholes:
            s += ", peepholes=False"
        rest = super().extra_repr().split(", ", 2)
        return s + (", " + rest[2] if len(rest) > 2 else "")


class ConvLSTMCell(CellModule):
    """One ConvLSTM step (Shi et al. 2015, eq. 3) at a time, parameters under the cell
    names (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, ``weight_ch``).

    Args: as :class:`ConvLSTM` (one layer, one direction). Inputs: ``input`` (B, C_in,
    Hgt, Wdt) or (C_in, Hgt, Wdt), ``hx = (h, c)`` each (B, C_h, Hgt, Wdt) (zeros when
    omitted). Output: ``(h', c')``. The same step as every time step of :class:`ConvLSTM`.

    Example:
        >>> import torch, lstmkit
        >>> cell = lstmkit.ConvLSTMCell(3, 4, 3, frame_size=(8, 8))
        >>> h, c = cell(torch.randn(2, 3, 8, 8))
        >>> h, c = cell(torch.randn(2, 3, 8, 8), (h, c))
        >>> h.shape
        torch.Size([2, 4, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: "int | tuple[int, int]",
        bias: bool = True,
        peepholes: bool = True,
        frame_size: "int | tuple[int, int] | None" = None,
        recurrent_kernel_size: "int | tuple[int, int] | None" = None,
        device=None,
        dtype=None,
    ) -> None:
        spec = ConvLSTMCellSpec(in_channels, hidden_channels, kernel_size, bias, peepholes, frame_size,
                                recurrent_kernel_size)
        super().__init__(spec, device, dtype)
        self.kernel_size, self.peepholes, self.frame_size = spec.kernel_size, peepholes, spec.frame_size
        self.reset_parameters()


register_family(
    Family(
        name="conv_lstm",
        spec=ConvLSTMCellSpec,
        module=ConvLSTM,
        cell_module=ConvLSTMCell,
        title="ConvLSTM",
        aliases=("convlstm",),
        feature_axes=3,
        paper="Shi et al. 2015 (eq. 3)",
    )
)
