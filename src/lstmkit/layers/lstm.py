"""The LSTM family's modules (every LSTMVariant): :class:`LSTM` and :class:`LSTMCell`,
drop-in replacements for ``torch.nn.LSTM`` / ``torch.nn.LSTMCell``, and their registration."""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from ..cells import LSTMCellSpec
from ..families import Family, register_family
from ..kernels import plan_fused
from ..recurrent import run_recurrence
from ..variants import PRESETS, LSTMVariant
from ._keras import build_keras_stack, read_keras_stack
from .cell import CellModule
from .recurrent import Recurrent

__all__ = ["LSTM", "LSTMCell"]


def _default_forget_bias(variant: "str | LSTMVariant", forget_bias: float | None) -> float | None:
    """+1 for every variant except "standard", which keeps torch's initialisation.

    "np" is the same cell as "standard" but, named as Greff's variant, gets +1 like the
    rest of Greff's study; an LSTMVariant equal to "standard" counts as "standard".
    """
    if forget_bias is not None:
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real):
            raise TypeError(f"forget_bias must be a float or None, got {type(forget_bias).__name__}")
        if not math.isfinite(float(forget_bias)):
            raise ValueError(f"forget_bias must be a finite number, got {float(forget_bias)}")
        return float(forget_bias)
    if isinstance(variant, str):
        return None if variant == "standard" else 1.0
    return None if variant == LSTMVariant.preset("standard") else 1.0


class LSTM(Recurrent):
    r"""A multi-layer LSTM of any variant; a drop-in replacement for ``torch.nn.LSTM``.

    Each layer runs the cell of ``variant`` (see :class:`lstmkit.LSTMVariant` for the
    equations) over time. With ``variant="standard"`` (the default) it computes exactly
    what ``torch.nn.LSTM`` computes, with the same parameter names and shapes, so
    ``load_state_dict`` works both ways.

    Args:
        input_size: I, features of x_t.
        hidden_size: H, size of the cell state.
        num_layers: stacked layers; layer k > 0 reads layer k-1's output.
        bias: whether the layers have ``bias_ih``/``bias_hh``.
        batch_first: input and output are (B, T, *) instead of (T, B, *).
        dropout: dropout on the outputs of every layer but the last (training only).
        bidirectional: run a second, reversed direction per layer and concatenate.
        proj_size: if > 0, an LSTM with projections (h has size proj_size).
        variant: a preset name or an :class:`LSTMVariant`.
        forget_bias: initial forget-gate bias; ``None`` means +1 for every variant except
            "standard", which keeps torch's initialisation for parity.
        recurrent_dropout: variational dropout on h_{t-1} inside the recurrent weights,
            one mask per sequence and layer (Gal & Ghahramani 2016), training only.
        zoneout: zoneout rate (Krueger et al. 2016) for h and c, or a (cell, hidden) pair.
        truncated_gradient: train with the truncated gradient of Hochreiter & Schmidhuber
            (1997, Sec. 4), as Gers et al. (2000) did: h_{t-1} enters each step detached,
            so the error flows back in time only through the cell state (the constant
            error carousel) while the weights still get their gradients. Outputs are
            unchanged; with a gradient recorded it runs the reference loop (no fused
            backward for it yet).
        device, dtype: factory arguments, as in torch.nn.

    Inputs: ``input, hx=None, lengths=None``
        - **input**: (T, B, I), (B, T, I) with batch_first, (T, I) unbatched, or a
          PackedSequence.
        - **hx**: ``(h_0, c_0)``, each (L*D, B, H_out) and (L*D, B, H) (L = num_layers,
          D = 2 if bidirectional else 1; H_out = proj_size or H). For a variant with full
          gate recurrence, an optional third entry a_0 (L*D, B, Q*H): the previous gate
          activations. Zeros when omitted.
        - **lengths**: optional (B,) ints for a padded tensor input: sequence b is its
          first lengths[b] steps.

    Outputs: ``output, (h_n, c_n)``
        - **output**: (T, B, D*H_out) (or batch-first / unbatched / packed like input);
          zero past each sequence's length.
        - **h_n**, **c_n**: the state at each sequence's own last step (for the reverse
          direction: after its first step). Variants with full gate recurrence return
          ``(h_n, c_n, a_n)``. Feed the state back in to continue a stream.

    Attributes:
        weight_ih_l[k][_reverse]: (G*H, I) for k = 0, else (G*H, D*H_out); G blocks in
            the order (i, f, g, o), a block absent when the variant lacks that gate.
        weight_hh_l[k][_reverse]: (G*H, H_out).
        bias_ih_l[k][_reverse], bias_hh_l[k][_reverse]: (G*H,).
        weight_ch_l[k][_reverse]: (P*H,) diagonal peepholes (i, f, o present).
        weight_gg_l[k][_reverse]: (Q*H, Q*H), full gate recurrence only.
        weight_ln_ih_l[k], weight_ln_hh_l[k]: (G*H,); weight_ln_c_l[k], bias_ln_c_l[k]:
            (H,): layer-norm gains and bias.
        weight_hr_l[k][_reverse]: (H_out, H), with proj_size > 0.

    Example:
        >>> import torch, lstmkit
        >>> lstm = lstmkit.LSTM(8, 16, num_layers=2, bidirectional=True, variant="vanilla")
        >>> x = torch.randn(12, 3, 8)
        >>> out, (h, c) = lstm(x, lengths=torch.tensor([12, 7, 3]))
        >>> out.shape, h.shape
        (torch.Size([12, 3, 32]), torch.Size([4, 3, 16]))
    """

    _torch_class = nn.LSTM

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        variant: "str | LSTMVariant" = "standard",
        forget_bias: float | None = None,
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        truncated_gradient: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        if not isinstance(truncated_gradient, bool):
            raise TypeError(f"truncated_gradient must be a bool, got {type(truncated_gradient).__name__}")
        self.variant = LSTMVariant.coerce(variant)
        self.proj_size = proj_size
        self.forget_bias = _default_forget_bias(variant, forget_bias)
        super().__init__(
            lambda n_in: LSTMCellSpec(n_in, hidden_size, self.variant, bias, proj_size),
            input_size,
            hidden_size,
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
        self.truncated_gradient = truncated_gradient
        self.reset_parameters()

    def _reset_spec_parameters(self, spec, params):
        spec.reset_parameters(params, forget_bias=self.forget_bias)

    def _state_tuple(self, hx):
        if hx is None:
            return None
        n = len(self.specs[0].state_names)
        if not isinstance(hx, (tuple, list)) or not 2 <= len(hx) <= n:
            expect = "(h_0, c_0) or (h_0, c_0, a_0)" if n == 3 else "(h_0, c_0)"
            got = f"a {len(hx)}-tuple" if isinstance(hx, (tuple, list)) else type(hx).__name__
            raise TypeError(f"hx must be {expect}, got {got}")
        return tuple(hx)

    def _pack_state(self, state):
        return state

    def gates(self, input: Tensor, hx=None, layer: int = 0, direction: int = 0) -> dict[str, Tensor]:
        """Gate activations of one (layer, direction) at every step, for inspection.

        Runs the layers below ``layer`` as usual (no dropout), then ``layer`` itself, and
        returns ``input_gate``, ``forget_gate``, ``block_input``, ``output_gate``,
        ``cell_state`` and ``output``, each (T, B, H) time-major (a gate the variant lacks
        is all ones). Full-length sequences only (no ``lengths``).

        Example:
            >>> import torch, lstmkit
            >>> g = lstmkit.LSTM(2, 4, variant="cifg").gates(torch.randn(5, 3, 2))
            >>> bool(torch.allclose(g["forget_gate"], 1 - g["input_gate"]))
            True
        """
        if not 0 <= layer < self.num_layers or not 0 <= direction < self.num_directions:
            raise ValueError(
                f"(layer, direction) must be within ({self.num_layers}, {self.num_directions}), "
                f"got ({layer}, {direction})"
            )
        if not isinstance(input, Tensor) or input.dim() != 3:
            raise ValueError("gates() takes a batched 3-D input tensor")
        x = input.transpose(0, 1) if self.batch_first else input
        self._check_input(x)
        state = self._initial_state(hx, x.shape[1], x, True)
        training = self.training
        self.train(False)
        try:
            if layer > 0:
                x, _ = self._run_layers(x, state, None, layer)
            idx = layer * self.num_directions + direction
            spec, p = self.specs[idx], self.cell_params(layer, direction)
            state0 = tuple(s[idx] for s in state)
            _, _, states = run_recurrence(spec, p, x, state0, reverse=direction == 1, return_states=True)
        finally:
            self.train(training)
        # The state before step t, for every t at once: the gates are row-wise, so time
        # folds into the batch and one call of the cell's math recomputes them all.
        T, B = x.shape[0], x.shape[1]
        before = []
        for s0, s in zip(state0, states):
            # forward: before step t is after step t-1; reverse: after step t+1
            prev = torch.cat([s[1:], s0[None]]) if direction == 1 else torch.cat([s0[None], s[:-1]])
            before.append(prev.reshape(T * B, -1))
        acts = spec.gates(spec.input_projection(x, p).reshape(T * B, -1), tuple(before), p)
        return {k: v.reshape(T, B, -1) for k, v in acts.items()}

    # ---- Keras 3 --------------------------------------------------------------------
    @classmethod
    def from_keras(cls, layer, *, batch_first: bool = False, device=None, dtype=None) -> "LSTM":
        """A standard LSTM computing what built Keras 3 ``LSTM`` layer(s) compute.

        Keras' gate order (i, f, c, o) is torch's (i, f, g, o); ``kernel`` (I, 4H) becomes
        ``weight_ih`` (4H, I), Keras' one bias becomes ``bias_ih`` (``bias_hh`` is zero).
        A ``Bidirectional`` (merge mode "concat") becomes ``bidirectional=True``; a list of
        layers becomes a stack (``num_layers = len(list)``). Keras' ``dropout`` and
        ``recurrent_dropout`` are training-time only and are not carried over.

        Args:
            layer: a built ``keras.layers.LSTM`` (tanh and sigmoid activations,
                ``go_backwards=False``), a ``keras.layers.Bidirectional`` of one, or a list
                of them, one per stacked layer (all alike in units, bias and directions).
            batch_first: the new module's layout (Keras itself is batch-first).
            device, dtype: of the new module's parameters (default: the weights' dtype).

        Raises:
            TypeError: not a Keras LSTM (or Bidirectional of one).
            ValueError: unbuilt, other activations, a lone ``go_backwards=True`` layer,
                another merge mode, or stacked layers that do not fit together.

        Example:
            >>> import torch, lstmkit
            >>> m = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True)
            >>> try:
            ...     import keras
            ... except ImportError:
            ...     keras = None
            >>> if keras is not None:
            ...     back = lstmkit.LSTM.from_keras(m.to_keras())
            ...     assert torch.equal(back.weight_hh_l1_reverse, m.weight_hh_l1_reverse)
        """
        r = read_keras_stack(layer, "LSTM", lambda cfg: None)
        m = cls(r["input_size"], r["hidden_size"], num_layers=len(r["weights"]), bias=r["bias"],
                batch_first=batch_first, bidirectional=r["bidirectional"], device=device,
                dtype=dtype or r["dtype"])
        state = {}
        for k, dirs in enumerate(r["weights"]):
            for d, w in enumerate(dirs):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                state[f"weight_ih{sfx}"] = w[0].T
                state[f"weight_hh{sfx}"] = w[1].T
                if r["bias"]:
                    state[f"bias_ih{sfx}"] = w[2]
                    state[f"bias_hh{sfx}"] = torch.zeros_like(w[2])
        m.load_state_dict(state)
        return m

    def to_keras(self, *, return_sequences: bool = True, return_state: bool = False):
        """Built Keras 3 ``LSTM`` layer(s) with these weights: one layer, wrapped in
        ``Bidirectional`` when this module is, or a list of them for ``num_layers > 1``
        (each but the last returns sequences, for ``keras.Sequential``); ``bias_ih + bias_hh``
        becomes Keras' one bias.

        Args:
            return_sequences, return_state: passed to the (last) Keras layer.

        Raises:
            ValueError: a variant other than "standard", or ``proj_size > 0`` (Keras' LSTM
                has neither peepholes, other gate sets nor projections).

        Example:
            >>> import lstmkit
            >>> try:
            ...     import keras
            ... except ImportError:
            ...     keras = None
            >>> if keras is not None:
            ...     assert [w.shape for w in lstmkit.LSTM(2, 4).to_keras().get_weights()][0] == (2, 16)
        """
        if self.variant != LSTMVariant.preset("standard"):
            raise ValueError(f"to_keras needs variant 'standard': Keras 3's LSTM has no {self.variant.name or self.variant}"
                             f" cell")
        if self.proj_size:
            raise ValueError(f"to_keras needs proj_size=0: Keras 3's LSTM has no projection (got {self.proj_size})")

        def weights_of(k: int, d: int) -> list:
            sfx = f"_l{k}" + ("_reverse" if d else "")
            w = [getattr(self, f"weight_ih{sfx}").detach().T, getattr(self, f"weight_hh{sfx}").detach().T]
            if self.bias:
                w.append(getattr(self, f"bias_ih{sfx}").detach() + getattr(self, f"bias_hh{sfx}").detach())
            return [a.cpu().numpy().copy() for a in w]

        return build_keras_stack(self, "LSTM", {}, weights_of, return_sequences, return_state)

    def _torch_kwargs(self):
        return {**super()._torch_kwargs(), "proj_size": self.proj_size}

    def _check_torch_expressible(self) -> None:
        if self.variant != LSTMVariant.preset("standard"):
            raise ValueError(f"only variant 'standard' has a torch.nn.LSTM equivalent, this is {self.variant}")
        super()._check_torch_expressible()

    @classmethod
    def _from_torch_kwargs(cls, m):
        return {**super()._from_torch_kwargs(m), "proj_size": m.proj_size, "variant": "standard"}

    def extra_repr(self) -> str:
        s = super().extra_repr()
        name = self.variant.name
        if name != "standard":
            s += f", variant={name!r}" if name else f", variant={self.variant}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.truncated_gradient:
            s += ", truncated_gradient=True"
        return s


class LSTMCell(CellModule):
    r"""One LSTM step of any variant; a drop-in replacement for ``torch.nn.LSTMCell``.

    Args:
        input_size: I. hidden_size: H. bias: as torch.
        variant: a preset name or :class:`LSTMVariant` (equations there).
        forget_bias: as :class:`LSTM`.

    Inputs: ``input`` (B, I) or (I,), ``hx = (h, c)`` each (B, H) (plus ``a`` (B, Q*H)
    for full gate recurrence); zeros when omitted. Output: ``(h', c')`` (``(h', c', a')``).

    Attributes: ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh``
    (G*H,), ``weight_ch``, ``weight_gg``, layer-norm gains: see :mod:`lstmkit.cells.lstm`.

    Example:
        >>> import torch, lstmkit
        >>> cell = lstmkit.LSTMCell(3, 5, variant="vanilla")
        >>> h, c = cell(torch.randn(2, 3))
        >>> h, c = cell(torch.randn(2, 3), (h, c))
        >>> h.shape
        torch.Size([2, 5])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        variant: "str | LSTMVariant" = "standard",
        forget_bias: float | None = None,
        device=None,
        dtype=None,
    ) -> None:
        v = LSTMVariant.coerce(variant)
        super().__init__(LSTMCellSpec(input_size, hidden_size, v, bias), device, dtype)
        self.variant = v
        self.forget_bias = _default_forget_bias(variant, forget_bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.spec.reset_parameters(self.params(), forget_bias=self.forget_bias)

    def gates(self, input: Tensor, hx=None) -> dict[str, Tensor]:
        """This step's activations by name (input_gate, forget_gate, block_input,
        output_gate, cell_state, output), each (B, H); a missing gate is all ones."""
        x, state, _ = self._prepare(input, hx)
        p = self.params()
        return self.spec.gates(self.spec.input_projection(x, p), state, p)



register_family(
    Family(
        name="lstm",
        spec=LSTMCellSpec,
        module=LSTM,
        cell_module=LSTMCell,
        torch_twin=nn.LSTM,
        title="LSTM",
        variants=tuple(PRESETS),
        default_variant="standard",
        runner=plan_fused,
        paper="Hochreiter & Schmidhuber 1997; Gers et al. 2000, 2002; Greff et al. 2017 (the variants)",
    )
)
