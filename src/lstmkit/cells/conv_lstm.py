"""One time step of the convolutional LSTM of Shi et al. (2015), eq. 3, with its peepholes.

Inputs, cell outputs, hidden states and gates are 3-D tensors (channels, rows, columns);
the products of an LSTM become convolutions (``*``, with "same" padding, so every state
keeps the input's frame size) and the peepholes are Hadamard products (``∘``) with weights
of the frame's full shape, one weight per channel and pixel:

.. math::
    i_t &= \\sigma(W_{xi} * X_t + W_{hi} * H_{t-1} + W_{ci} \\circ C_{t-1} + b_i)\\\\
    f_t &= \\sigma(W_{xf} * X_t + W_{hf} * H_{t-1} + W_{cf} \\circ C_{t-1} + b_f)\\\\
    C_t &= f_t \\circ C_{t-1} + i_t \\circ \\tanh(W_{xc} * X_t + W_{hc} * H_{t-1} + b_c)\\\\
    o_t &= \\sigma(W_{xo} * X_t + W_{ho} * H_{t-1} + W_{co} \\circ C_t + b_o)\\\\
    H_t &= o_t \\circ \\tanh(C_t)

Parameter layout (short names; the layer module adds ``_l{k}`` and ``_reverse``):

=================  =========================  ============================================
name               shape                      meaning
=================  =========================  ============================================
``weight_ih``      (4*C_h, C_in, kh, kw)      W_x*, blocks in order (i, f, g, o) as LSTM
``weight_hh``      (4*C_h, C_h, kh, kw)       W_h*, same blocks
``bias_ih``        (4*C_h,)                   bias (two as torch; b = bias_ih + bias_hh)
``bias_hh``        (4*C_h,)
``weight_ch``      (3*C_h, Hgt, Wdt)          Hadamard peepholes W_c*, blocks (i, f, o);
                                              i and f see C_{t-1}, o sees C_t
=================  =========================  ============================================

``g`` is the paper's cell input (the tanh term of C_t). ``weight_ch`` exists only with
``peepholes=True``, which needs the frame size (Hgt, Wdt) up front; without peepholes the
cell runs on frames of any size, and is then exactly Keras 3's ``ConvLSTM2D`` with
``padding="same"`` (see :func:`params_from_keras` / :func:`params_to_keras`).
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import CellSpec

__all__ = ["ConvLSTMCellSpec", "params_from_keras", "params_to_keras"]


def _pair(name: str, value, *, odd: bool = False) -> tuple[int, int]:
    """An int or a pair of ints -> a pair of positive ints (odd ones when asked)."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) for v in pair)
    ):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v <= 0 for v in pair):
        raise ValueError(f"{name} must be positive, got {value!r}")
    if odd and any(v % 2 == 0 for v in pair):
        raise ValueError(
            f"{name} must be odd (\"same\" padding keeps the frame size only with an odd "
            f"kernel: it pads (k - 1) / 2 on each side), got {value!r}"
        )
    return int(pair[0]), int(pair[1])


class ConvLSTMCellSpec(CellSpec):
    """The one-step math of a peephole ConvLSTM cell (Shi et al. 2015, eq. 3).

    States are feature maps: ``(h, c)``, each (B, C_h, Hgt, Wdt) for inputs
    x_t of shape (B, C_in, Hgt, Wdt). See the module docstring for the equations and the
    parameter layout.

    Args:
        input_size: C_in, channels of x_t.
        hidden_size: C_h, channels of h and c.
        kernel_size: kh or (kh, kw), odd, of the input-to-state convolution (and of the
            state-to-state one unless ``recurrent_kernel_size`` is given).
        bias: whether ``bias_ih``/``bias_hh`` exist.
        peepholes: whether the Hadamard peepholes ``weight_ch`` exist.
        frame_size: Hgt or (Hgt, Wdt); required with ``peepholes=True`` (the peephole
            weights have the frame's shape). When given, inputs must have that frame size.
        recurrent_kernel_size: kh or (kh, kw), odd, of the state-to-state convolution
            W_h* (default: ``kernel_size``). Shi et al.'s Table 1 compares 5x5 against 1x1
            state-to-state kernels: a 1x1 kernel sees no neighbouring pixel's state, so
            motion must be carried by the input convolution alone.

    Example:
        >>> import torch
        >>> from lstmkit.cells.conv_lstm import ConvLSTMCellSpec
        >>> spec = ConvLSTMCellSpec(2, 4, 3, frame_size=(5, 6))
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> x = torch.randn(7, 3, 2, 5, 6)          # (T, B, C_in, Hgt, Wdt)
        >>> xp = spec.input_projection(x, p)         # all steps at once
        >>> h, c = spec.step(xp[0], spec.initial_state(3, x.shape[2:]), p)
        >>> h.shape, spec.state_shapes(x.shape[2:])
        (torch.Size([3, 4, 5, 6]), ((4, 5, 6), (4, 5, 6)))
    """

    state_names = ("h", "c")
    feature_axes = 3
    side_inputs: tuple[str, ...] = ()

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        kernel_size: "int | tuple[int, int]",
        bias: bool = True,
        peepholes: bool = True,
        frame_size: "int | tuple[int, int] | None" = None,
        recurrent_kernel_size: "int | tuple[int, int] | None" = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias)
        self.kernel_size = _pair("kernel_size", kernel_size, odd=True)
        self.recurrent_kernel_size = (self.kernel_size if recurrent_kernel_size is None
                                      else _pair("recurrent_kernel_size", recurrent_kernel_size, odd=True))
        if not isinstance(peepholes, bool):
            raise TypeError(f"peepholes must be a bool, got {type(peepholes).__name__}")
        self.peepholes = peepholes
        self.frame_size = None if frame_size is None else _pair("frame_size", frame_size)
        if peepholes and self.frame_size is None:
            raise ValueError(
                "frame_size (Hgt, Wdt) is required when peepholes=True: the Hadamard peephole "
                "weights weight_ch have shape (3*hidden_size, Hgt, Wdt); pass frame_size or "
                "peepholes=False"
            )
        self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        self.recurrent_padding = (self.recurrent_kernel_size[0] // 2, self.recurrent_kernel_size[1] // 2)

    # ---- layout ---------------------------------------------------------------------
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        C_h, C_in, (kh, kw) = self.hidden_size, self.input_size, self.kernel_size
        rh, rw = self.recurrent_kernel_size
        shapes: dict[str, tuple[int, ...]] = {
            "weight_ih": (4 * C_h, C_in, kh, kw),
            "weight_hh": (4 * C_h, C_h, rh, rw),
        }
        if self.bias:
            shapes["bias_ih"] = (4 * C_h,)
            shapes["bias_hh"] = (4 * C_h,)
        if self.peepholes:
            shapes["weight_ch"] = (3 * C_h, *self.frame_size)
        return shapes

    def check_input_shape(self, input_shape) -> None:
        """Raise ValueError unless ``input_shape`` is (C_in, Hgt, Wdt) with this cell's
        channels and, when ``frame_size`` was given, that frame size."""
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ValueError(
                f"ConvLSTM input frames must have shape (C_in, Hgt, Wdt) (x of shape "
                f"(T, B, C_in, Hgt, Wdt)), got frame shape {shape}"
            )
        if shape[0] != self.input_size:
            raise ValueError(
                f"input channels: expected {self.input_size} (input_size), got {shape[0]} in "
                f"frame shape {shape}"
            )
        if self.frame_size is not None and tuple(shape[1:]) != self.frame_size:
            why = " (the peephole weights have the frame's shape)" if self.peepholes else ""
            raise ValueError(
                f"frame size: expected (Hgt, Wdt) = {self.frame_size} (frame_size){why}, got "
                f"{tuple(shape[1:])}"
            )

    def state_shapes(self, input_shape=None) -> tuple[tuple[int, ...], ...]:
        """((C_h, Hgt, Wdt), (C_h, Hgt, Wdt)) for h and c; the frame comes from
        ``input_shape`` (C_in, Hgt, Wdt), else from ``frame_size``."""
        if input_shape is not None:
            self.check_input_shape(input_shape)
            frame = tuple(int(n) for n in tuple(input_shape)[1:])
        elif self.frame_size is not None:
            frame = self.frame_size
        else:
            raise ValueError(
                "a ConvLSTM's state has the frame's shape: pass input_shape (C_in, Hgt, Wdt), "
                "or build the cell with frame_size"
            )
        shape = (self.hidden_size, *frame)
        return (shape, shape)

    def state_sizes(self) -> tuple[int, ...]:
        raise TypeError(
            "a ConvLSTM's state entries are feature maps, not vectors: use "
            "state_shapes(input_shape) instead of state_sizes()"
        )

    @property
    def output_size(self) -> int:
        """Channels of the emitted output h (C_h)."""
        return self.hidden_size

    def reset_parameters(self, p: Mapping[str, Tensor]) -> None:
        """torch.nn's rule for recurrent layers, every tensor U(-1/sqrt(fan), 1/sqrt(fan)),
        with fan = C_h * kh * kw, the fan-in of the recurrent convolution (the counterpart
        of torch.nn.LSTM's 1/sqrt(hidden_size), which is weight_hh's fan-in)."""
        kh, kw = self.kernel_size
        bound = 1.0 / math.sqrt(self.hidden_size * kh * kw)
        with torch.no_grad():
            for t in p.values():
                t.uniform_(-bound, bound)

    # ---- math -----------------------------------------------------------------------
    def input_projection(self, x: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        """W_x * x_t + b for every frame at once: (..., C_in, Hgt, Wdt) -> (..., 4*C_h, Hgt, Wdt).

        The leading axes (time and batch) are folded into one batch of frames, so one
        convolution serves the whole sequence.
        """
        lead, frame = x.shape[:-3], x.shape[-3:]
        b = p["bias_ih"] + p["bias_hh"] if self.bias else None
        xp = F.conv2d(x.reshape(-1, *frame), p["weight_ih"], b, padding=self.padding)
        return xp.reshape(*lead, *xp.shape[1:])

    def step(
        self,
        xp: Tensor,
        state: tuple[Tensor, ...],
        p: Mapping[str, Tensor],
        recurrent_mask: Tensor | None = None,
        side=None,
    ) -> tuple[Tensor, ...]:
        """One step of eq. 3: projected input (B, 4*C_h, Hgt, Wdt) and (h, c) -> (h, c).

        ``recurrent_mask`` (B, C_h, Hgt, Wdt), if given, multiplies h_{t-1} before the
        recurrent convolution (variational dropout, Gal & Ghahramani 2016).
        """
        return self._step(xp, state, p, recurrent_mask)[0]

    def gates(self, xp: Tensor, state: tuple[Tensor, ...], p: Mapping[str, Tensor],
              recurrent_mask: Tensor | None = None) -> dict[str, Tensor]:
        """The activations of one step, by name, for inspection and plots (the same
        computation as :meth:`step`): ``input_gate``, ``forget_gate``, ``block_input``
        (the tanh term of C_t), ``output_gate``, ``cell_state``, ``output``, each a
        feature map (B, C_h, Hgt, Wdt).

        Example:
            >>> import torch
            >>> spec = ConvLSTMCellSpec(1, 2, 3, peepholes=False)
            >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
            >>> x = torch.randn(1, 1, 5, 5)
            >>> g = spec.gates(spec.input_projection(x, p), spec.initial_state(1, input_shape=(1, 5, 5)), p)
            >>> tuple(g["forget_gate"].shape)
            (1, 2, 5, 5)
        """
        (h, c), acts = self._step(xp, state, p, recurrent_mask)
        return {"input_gate": acts["i"], "forget_gate": acts["f"], "block_input": acts["g"],
                "output_gate": acts["o"], "cell_state": c, "output": h}

    def _step(self, xp, state, p, recurrent_mask):
        """The step: ``((h, c), {"i", "f", "g", "o"})``."""
        h_prev, c_prev = state
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        pre = xp + F.conv2d(h_in, p["weight_hh"], padding=self.recurrent_padding)
        i_pre, f_pre, g_pre, o_pre = pre.chunk(4, dim=1)
        if self.peepholes:
            w_ci, w_cf, w_co = p["weight_ch"].chunk(3, dim=0)
            i_pre = i_pre + w_ci * c_prev
            f_pre = f_pre + w_cf * c_prev
        i, f, g = torch.sigmoid(i_pre), torch.sigmoid(f_pre), torch.tanh(g_pre)
        c = f * c_prev + i * g
        if self.peepholes:
            # The output gate's peephole sees the new cell state C_t.
            o_pre = o_pre + w_co * c
        o = torch.sigmoid(o_pre)
        h = o * torch.tanh(c)
        return (h, c), {"i": i, "f": f, "g": g, "o": o}

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, kernel_size={self.kernel_size}"
        if self.recurrent_kernel_size != self.kernel_size:
            s += f", recurrent_kernel_size={self.recurrent_kernel_size}"
        if self.frame_size is not None:
            s += f", frame_size={self.frame_size}"
        if not self.peepholes:
            s += ", peepholes=False"
        if not self.bias:
            s += ", bias=False"
        return s


# ---- Keras 3 ConvLSTM2D weight layout ---------------------------------------------------
# Keras keeps kernel (kh, kw, C_in, 4*C_h), recurrent_kernel (kh, kw, C_h, 4*C_h) and one
# bias (4*C_h,), gate blocks (i, f, c, o) along the last axis (= ours, (i, f, g, o)); its
# convolution is a cross-correlation like torch's, so the kernels only change axis order.


def params_from_keras(kernel, recurrent_kernel, bias=None) -> dict[str, Tensor]:
    """Keras 3 ``ConvLSTM2D`` weights -> this cell's parameters (``peepholes=False``).

    Args:
        kernel: (kh, kw, C_in, 4*C_h) array or tensor.
        recurrent_kernel: (kh, kw, C_h, 4*C_h).
        bias: (4*C_h,) or None (``use_bias=False``); it becomes ``bias_ih``, with
            ``bias_hh`` zero.

    Returns:
        dict of ``weight_ih``, ``weight_hh`` (and ``bias_ih``, ``bias_hh``).

    Example:
        >>> import numpy as np
        >>> p = params_from_keras(np.zeros((3, 3, 2, 16)), np.zeros((3, 3, 4, 16)), np.zeros(16))
        >>> {k: tuple(v.shape) for k, v in p.items()}["weight_ih"]
        (16, 2, 3, 3)
    """
    k, r = torch.as_tensor(kernel), torch.as_tensor(recurrent_kernel)
    if k.dim() != 4 or r.dim() != 4:
        raise ValueError(
            f"kernel and recurrent_kernel must be 4-D (kh, kw, C_in, 4*C_h), got shapes "
            f"{tuple(k.shape)} and {tuple(r.shape)}"
        )
    G = k.shape[3]
    if G % 4 or r.shape[2] * 4 != G or r.shape[3] != G or r.shape[:2] != k.shape[:2]:
        raise ValueError(
            f"recurrent_kernel: expected shape ({k.shape[0]}, {k.shape[1]}, {G // 4}, {G}) to "
            f"match kernel {tuple(k.shape)}, got {tuple(r.shape)}"
        )
    p = {
        "weight_ih": k.permute(3, 2, 0, 1).contiguous(),
        "weight_hh": r.permute(3, 2, 0, 1).contiguous(),
    }
    if bias is not None:
        b = torch.as_tensor(bias)
        if tuple(b.shape) != (G,):
            raise ValueError(f"bias: expected shape ({G},), got {tuple(b.shape)}")
        p["bias_ih"] = b.clone()
        p["bias_hh"] = torch.zeros_like(b)
    return p


def params_to_keras(p: Mapping[str, Tensor]) -> list:
    """This cell's parameters -> Keras 3 ``ConvLSTM2D`` weights, as numpy arrays in
    ``layer.set_weights`` order: ``[kernel, recurrent_kernel]`` (+ ``[bias]``).

    Args:
        p: ``weight_ih``, ``weight_hh`` (and ``bias_ih``, ``bias_hh``); a ``weight_ch``
            (peepholes) has no Keras counterpart and is refused.

    Example:
        >>> import torch
        >>> spec = ConvLSTMCellSpec(2, 4, 3, peepholes=False)
        >>> w = params_to_keras({k: torch.zeros(s) for k, s in spec.param_shapes().items()})
        >>> [a.shape for a in w]
        [(3, 3, 2, 16), (3, 3, 4, 16), (16,)]
    """
    if "weight_ch" in p:
        raise ValueError(
            "p has peepholes (weight_ch): Keras 3's ConvLSTM2D has none; only a ConvLSTM "
            "with peepholes=False converts to Keras"
        )
    out = [
        p["weight_ih"].detach().permute(2, 3, 1, 0).cpu().numpy().copy(),
        p["weight_hh"].detach().permute(2, 3, 1, 0).cpu().numpy().copy(),
    ]
    if "bias_ih" in p:
        out.append((p["bias_ih"] + p["bias_hh"]).detach().cpu().numpy().copy())
    return out
