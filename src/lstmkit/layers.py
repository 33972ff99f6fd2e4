"""LSTM, GRU and RNN modules (torch.nn-compatible), and their stepwise cells.

A layer module knows depth and direction: it keeps the parameters under torch.nn's names
(``weight_ih_l{k}{suffix}``, ...), checks its inputs, and hands each (layer, direction) to
the time loop in :mod:`lstmkit.recurrent` with the one-step math of :mod:`lstmkit.cells`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .cells import CellSpec, ElmanCellSpec, GRUCellSpec, LSTMCellSpec
from .kernels import backend as _kernel_backend
from .kernels import prefer_torch as _prefer_torch
from .kernels import fused as _fused
from .kernels import run_direction
from .kernels._build import load_extension as _load_extension
from .kernels.torch_lstm import is_standard_lstm as _is_standard_lstm
from .recurrent import run_recurrence
from .variants import LSTMVariant

__all__ = ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"]


def _check_rate(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


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


class _RecurrentBase(nn.Module):
    """Stacking, direction, dropout, input checking and state handling for any cell."""

    _torch_class: type[nn.Module]

    def __init__(
        self,
        make_spec: Callable[[int], CellSpec],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        for name, value in (("batch_first", batch_first), ("bidirectional", bidirectional), ("bias", bias)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = _check_rate("dropout", dropout)
        self.bidirectional = bidirectional
        self.recurrent_dropout = _check_rate("recurrent_dropout", recurrent_dropout)
        self.num_directions = 2 if bidirectional else 1

        self.specs: list[CellSpec] = []
        self._names: list[list[tuple[str, str]]] = []  # per (layer, direction): (short, full) names
        factory = {"device": device, "dtype": dtype}
        for layer in range(num_layers):
            # Layer k > 0 reads the concatenated directions of layer k-1.
            layer_input = input_size if layer == 0 else self.num_directions * self.specs[0].output_size
            for direction in range(self.num_directions):
                spec = make_spec(layer_input)
                self.specs.append(spec)
                suffix = self._suffix(layer, direction)
                names = [(short, f"{short}_l{layer}{suffix}") for short in spec.param_shapes()]
                self._names.append(names)
                for (short, full), shape in zip(names, spec.param_shapes().values()):
                    self.register_parameter(full, nn.Parameter(torch.empty(shape, **factory)))
        self.zoneout = self._zoneout_rates(zoneout)

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return "_reverse" if direction == 1 else ""

    def _zoneout_rates(self, zoneout) -> tuple[float, ...]:
        """Zoneout rate per state entry; a float applies to h and c alike."""
        names = self.specs[0].state_names
        if isinstance(zoneout, tuple):
            if len(zoneout) != 2 or len(names) < 2:
                raise ValueError(
                    f"zoneout must be a float, or a (cell, hidden) pair for an LSTM, got {zoneout!r}"
                )
            z_c, z_h = (_check_rate("zoneout", z) for z in zoneout)
            return (z_h, z_c) + (0.0,) * (len(names) - 2)
        z = _check_rate("zoneout", zoneout)
        return tuple(z if n in ("h", "c") else 0.0 for n in names)

    # ---- parameters -----------------------------------------------------------------
    def cell_params(self, layer: int, direction: int = 0) -> dict[str, Tensor]:
        """The parameters of one (layer, direction) by their short names (``weight_ih``, ...)."""
        names = self._names[layer * self.num_directions + direction]
        # _parameters directly: this runs on every call, and streaming pays for every µs
        return {short: self._parameters[full] for short, full in names}

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """Parameters grouped per (layer, direction), as torch.nn.RNNBase.all_weights."""
        return [
            list(self.cell_params(layer, d).values())
            for layer in range(self.num_layers)
            for d in range(self.num_directions)
        ]

    def _reset_spec_parameters(self, spec: CellSpec, params: dict[str, Tensor]) -> None:
        spec.reset_parameters(params)

    def reset_parameters(self) -> None:
        """Re-initialise every parameter (torch.nn's scheme, see the cell spec)."""
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                spec = self.specs[layer * self.num_directions + d]
                self._reset_spec_parameters(spec, self.cell_params(layer, d))

    def flatten_parameters(self) -> None:
        """No-op, for torch.nn.LSTM compatibility (there is no cuDNN buffer to compact)."""

    # ---- forward --------------------------------------------------------------------
    def forward(self, input, hx=None, lengths=None):
        if lengths is None and type(input) is Tensor:
            res = self._fast_forward(input, hx)
            if res is not None:
                return res
        return self._general_forward(input, hx, lengths)

    # The per-call fast path: inference (no gradient) on the fused kernels with no lengths.
    # Decisions that depend only on the module's configuration are made once and kept in
    # a plan, rebuilt whenever anything it was made from changes (training mode, dropout
    # rates, zoneout, the specs); everything that can change between calls (parameters,
    # which are looked up by name on every call, input dtype/device/shape, the backend
    # variable, the extension) is checked per call. Any doubt: None, and the general path
    # (which makes every check and raises the errors) runs instead.
    _fast_plan = None
    _fast_enabled = True  # tests switch it off to compare against the general path
    truncated_gradient = False  # LSTM only (see LSTM's docstring)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_fast_plan", None)  # holds closures; rebuilt on the next call
        return state

    def _fast_plan_key(self) -> tuple:
        return (self.training, self.dropout, self.recurrent_dropout, self.zoneout, self.batch_first)

    def _make_fast_plan(self, key: tuple):
        ok = (
            not any(r > 0 for r in self.zoneout)
            and not (self.training and (self.recurrent_dropout > 0 or (self.dropout > 0 and self.num_layers > 1)))
            and all(type(s) in (LSTMCellSpec, GRUCellSpec, ElmanCellSpec) for s in self.specs)
        )
        runners = None
        if ok:
            runners = [_fused.infer_runner(s, dict(names)) for s, names in zip(self.specs, self._names)]
        spec = self.specs[0]
        # The dispatcher prefers torch's own kernel for these (see kernels.prefer_torch):
        # all layers and directions then go to it in one call, with the parameters in
        # torch.nn.LSTM's order (w_ih, w_hh, b_ih, b_hh per layer and direction).
        standard = _is_standard_lstm(spec) and getattr(spec, "proj_size", 0) == 0
        torch_names = None
        if ok and standard:
            order = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if spec.bias else ("weight_ih", "weight_hh")
            torch_names = tuple(dict(names)[k] for names in self._names for k in order)
        plan = (
            key,
            list(self.specs),
            runners,
            standard,
            tuple(spec.state_sizes()),
            self._names[0][0][1],  # weight_ih_l0's full name
            torch_names,
        )
        self._fast_plan = plan
        return plan

    def _fast_forward(self, input: Tensor, hx):
        if not self._fast_enabled or torch.is_grad_enabled() and (
            input.requires_grad or any(p.requires_grad for p in self._parameters.values())
        ):
            return None
        plan = self._fast_plan
        key = self._fast_plan_key()
        if plan is None or plan[0] != key or plan[1] != self.specs:
            plan = self._make_fast_plan(key)
        _, _, runners, standard, sizes, w_name, torch_names = plan
        if runners is None:
            return None
        dim = input.dim()
        if dim == 3:
            x = input.transpose(0, 1) if self.batch_first else input
        elif dim == 2:
            x = input.unsqueeze(1)
        else:
            return None
        T, B, I = x.shape
        w = self._parameters.get(w_name)
        if (
            I != self.input_size
            or T == 0
            or B == 0
            or w is None
            or x.dtype != w.dtype
            or x.dtype not in (torch.float32, torch.float64)
            or not x.is_cpu
            or not w.is_cpu
        ):
            return None
        mode = _kernel_backend()
        if mode == "reference":
            return None
        # The dispatcher's rule (kernels.prefer_torch) decides between torch's kernel and
        # ours; a single step is always ours, checked first so streaming skips the call (~1 us).
        use_torch = standard and mode == "auto" and T != 1 and _prefer_torch(self.specs[0], x, None, False)
        ext = None
        if not use_torch:
            ext = _load_extension()
            if ext is None:
                return None
        LD = len(runners)
        if hx is None:
            given = None
        else:
            given = hx if len(sizes) > 1 else (hx,)
            if type(given) not in (tuple, list) or len(given) != len(sizes):
                return None
            for t, n in zip(given, sizes):
                if (
                    type(t) is not Tensor
                    or t.shape != ((LD, B, n) if dim == 3 else (LD, n))
                    or t.dtype != x.dtype
                    or not t.is_cpu
                    or (torch.is_grad_enabled() and t.requires_grad)
                ):
                    return None
            if dim == 2:
                given = [t.unsqueeze(1) for t in given]
        P = self._parameters
        if use_torch:
            return self._torch_forward(x, given, dim, [P[k] for k in torch_names])
        if LD == 1 and dim == 3:
            # One (layer, direction): the kernel takes and returns (1, B, n) states.
            state = tuple(x.new_zeros(1, B, n) for n in sizes) if given is None else given
            output, final_state = runners[0](ext, P, x, state, False)
            if self.batch_first:
                output = output.transpose(0, 1)
            return output, self._pack_state(final_state)
        D = self.num_directions
        finals = []
        layer_input = x
        idx = 0
        for _ in range(self.num_layers):
            outs = []
            for d in range(D):
                if given is None:
                    state = tuple(x.new_zeros(B, n) for n in sizes)
                else:
                    state = tuple(t[idx] for t in given)
                out, final = runners[idx](ext, P, layer_input, state, d == 1)
                outs.append(out)
                finals.append(final)
                idx += 1
            layer_input = outs[0] if D == 1 else torch.cat(outs, dim=-1)
        if LD == 1:
            final_state = tuple(f.unsqueeze(0) for f in finals[0])
        else:
            final_state = tuple(torch.stack([f[k] for f in finals]) for k in range(len(sizes)))
        output = layer_input
        if dim == 3:
            if self.batch_first:
                output = output.transpose(0, 1)
        else:
            output = output.squeeze(1)
            final_state = tuple(s.squeeze(1) for s in final_state)
        return output, self._pack_state(final_state)

    def _torch_forward(self, x: Tensor, given, dim: int, weights: list[Tensor]):
        # The standard cell in inference on torch's own kernel, every layer and direction
        # in one call, as torch.nn.LSTM.forward makes it (measured at 32x100x2x64: the
        # general path's per-(layer, direction) dispatch cost 3-5% over torch.nn.LSTM).
        # x is time-major (T, B, I); given the states, already (L*D, B, H), or None.
        if given is None:
            zeros = x.new_zeros(self.num_layers * self.num_directions, x.shape[1], self.hidden_size)
            given = (zeros, zeros)
        output, h, c = torch._VF.lstm(
            x, tuple(given), weights, self.bias, self.num_layers, 0.0, False, self.bidirectional, False
        )
        if dim == 3:
            if self.batch_first:
                output = output.transpose(0, 1)
        else:
            output, h, c = output.squeeze(1), h.squeeze(1), c.squeeze(1)
        return output, self._pack_state((h, c))

    def _general_forward(self, input, hx=None, lengths=None):
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("lengths must be None when input is a PackedSequence (it carries its own)")
            x, lengths = pad_packed_sequence(input, batch_first=False)
            batched = True
        else:
            if not isinstance(input, Tensor):
                raise TypeError(f"input must be a Tensor or PackedSequence, got {type(input).__name__}")
            if input.dim() not in (2, 3):
                raise ValueError(
                    f"input must be 3-D (batched) or 2-D (unbatched), got a {input.dim()}-D tensor "
                    f"of shape {tuple(input.shape)}"
                )
            batched = input.dim() == 3
            x = input if batched else input.unsqueeze(1)
            if batched and self.batch_first:
                x = x.transpose(0, 1)
            if lengths is not None and not batched:
                raise ValueError("lengths is only accepted with batched (3-D) input")
        self._check_input(x)
        T, B = x.shape[0], x.shape[1]
        if lengths is not None:
            lengths = self._check_lengths(lengths, T, B)
        state = self._initial_state(hx, B, x, batched)
        output, final_state = self._run_layers(x, state, lengths, self.num_layers)

        if packed:
            output = self._repack(output, lengths, input)
        else:
            if batched and self.batch_first:
                output = output.transpose(0, 1)
            if not batched:
                output = output.squeeze(1)
                final_state = tuple(s.squeeze(1) for s in final_state)
        return output, self._pack_state(final_state)

    def _run_layers(
        self, x: Tensor, state: tuple[Tensor, ...], lengths: Tensor | None, num_layers: int
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The first ``num_layers`` layers on time-major ``x``; state entries (L*D, B, n)."""
        B = x.shape[1]
        finals: list[tuple[Tensor, ...]] = []
        layer_input = x
        for layer in range(num_layers):
            outs = []
            for d in range(self.num_directions):
                idx = layer * self.num_directions + d
                spec = self.specs[idx]
                mask = None
                if self.training and self.recurrent_dropout > 0:
                    keep = 1.0 - self.recurrent_dropout
                    mask = torch.empty(B, spec.output_size, dtype=x.dtype, device=x.device).bernoulli_(keep) / keep
                out, final = run_direction(
                    spec,
                    self.cell_params(layer, d),
                    layer_input,
                    tuple(s[idx] for s in state),
                    lengths=lengths,
                    reverse=d == 1,
                    recurrent_mask=mask,
                    zoneout=self.zoneout,
                    training=self.training,
                    truncate_gradient=self.truncated_gradient,
                )
                outs.append(out)
                finals.append(final)
            layer_input = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
            if self.dropout > 0 and self.training and layer < num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        if len(finals) == 1:
            final_state = tuple(f.unsqueeze(0) for f in finals[0])
        else:
            final_state = tuple(torch.stack([f[k] for f in finals]) for k in range(len(finals[0])))
        return layer_input, final_state

    @staticmethod
    def _repack(output: Tensor, lengths: Tensor, like: PackedSequence) -> PackedSequence:
        """Pack ``output`` (original batch order) with ``like``'s own sorting."""
        if like.sorted_indices is not None:
            output = output.index_select(1, like.sorted_indices)
            lengths = lengths.index_select(0, like.sorted_indices.to(lengths.device))
        data = pack_padded_sequence(output, lengths.cpu(), enforce_sorted=True).data
        return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)

    # ---- checks ---------------------------------------------------------------------
    def _check_input(self, x: Tensor) -> None:
        if not x.is_floating_point():
            raise TypeError(f"input must be a floating-point tensor, got dtype {x.dtype}")
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"input has {x.shape[-1]} features in its last dimension, expected input_size={self.input_size}"
            )
        if x.shape[0] == 0:
            raise ValueError("input has zero time steps; expected at least one")
        w = self.weight_ih_l0
        if x.dtype != w.dtype:
            raise TypeError(f"input dtype {x.dtype} does not match the parameters' dtype {w.dtype}")
        if x.device != w.device:
            raise ValueError(f"input is on {x.device} but the parameters are on {w.device}")

    @staticmethod
    def _check_lengths(lengths, T: int, B: int) -> Tensor:
        if not isinstance(lengths, Tensor):
            try:
                lengths = torch.as_tensor(lengths)
            except (TypeError, ValueError) as e:
                raise TypeError(f"lengths must be a 1-D tensor or sequence of ints, got {type(lengths).__name__}") from e
        if lengths.dim() != 1 or lengths.shape[0] != B:
            raise ValueError(f"lengths must have shape ({B},) (one per sequence), got {tuple(lengths.shape)}")
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
        lengths = lengths.long()
        if B and int(lengths.min()) <= 0:
            raise ValueError(f"every length must be >= 1, got min {int(lengths.min())}")
        if B and int(lengths.max()) > T:
            raise ValueError(f"lengths may not exceed the sequence length T={T}, got max {int(lengths.max())}")
        return lengths

    def _state_tuple(self, hx) -> tuple | None:
        """hx as a tuple of tensors in state_names order (LSTM overrides for (h, c))."""
        if hx is None:
            return None
        if not isinstance(hx, Tensor):
            raise TypeError(f"hx must be a Tensor (h_0), got {type(hx).__name__}")
        return (hx,)

    def _pack_state(self, state: tuple[Tensor, ...]):
        return state[0]

    def _initial_state(self, hx, B: int, x: Tensor, batched: bool) -> tuple[Tensor, ...]:
        spec = self.specs[0]  # every (layer, direction) has the same state sizes
        LD = self.num_layers * self.num_directions
        given = self._state_tuple(hx)
        out = []
        for k, (name, n) in enumerate(zip(spec.state_names, spec.state_sizes())):
            t = None if given is None or k >= len(given) else given[k]
            if t is None:
                out.append(torch.zeros(LD, B, n, dtype=x.dtype, device=x.device))
                continue
            if not isinstance(t, Tensor):
                raise TypeError(f"initial state {name}_0 must be a Tensor, got {type(t).__name__}")
            want = (LD, B, n) if batched else (LD, n)
            if tuple(t.shape) != want:
                raise ValueError(
                    f"initial state {name}_0 must have shape {want} (num_layers*num_directions, "
                    f"{'batch, ' if batched else ''}size), got {tuple(t.shape)}"
                )
            if t.dtype != x.dtype:
                raise TypeError(f"initial state {name}_0 has dtype {t.dtype} but input has {x.dtype}")
            if t.device != x.device:
                raise ValueError(f"initial state {name}_0 is on {t.device} but input is on {x.device}")
            out.append(t if batched else t.unsqueeze(1))
        return tuple(out)

    # ---- torch interop --------------------------------------------------------------
    def _torch_kwargs(self) -> dict[str, Any]:
        return dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bias=self.bias,
            batch_first=self.batch_first,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
        )

    def _check_torch_expressible(self) -> None:
        if self.recurrent_dropout > 0 or any(self.zoneout):
            raise ValueError(
                f"{type(self).__name__} with recurrent_dropout or zoneout has no torch.nn equivalent"
            )

    def to_torch(self) -> nn.Module:
        """The equivalent ``torch.nn`` module, with a copy of these weights.

        Raises:
            ValueError: the configuration has no torch.nn equivalent.
        """
        self._check_torch_expressible()
        w = self.weight_ih_l0
        m = self._torch_class(**self._torch_kwargs(), device=w.device, dtype=w.dtype)
        m.load_state_dict(self.state_dict())
        return m

    @classmethod
    def _from_torch_kwargs(cls, m: nn.Module) -> dict[str, Any]:
        return dict(
            input_size=m.input_size,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            bias=m.bias,
            batch_first=m.batch_first,
            dropout=float(m.dropout),
            bidirectional=m.bidirectional,
        )

    @classmethod
    def from_torch(cls, m: nn.Module):
        """A copy of a ``torch.nn`` module of the matching kind, weights included."""
        if not isinstance(m, cls._torch_class):
            raise TypeError(f"from_torch expects a {cls._torch_class.__name__}, got {type(m).__name__}")
        w = m.weight_ih_l0
        ours = cls(**cls._from_torch_kwargs(m), device=w.device, dtype=w.dtype)
        ours.load_state_dict(m.state_dict())
        return ours

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.recurrent_dropout:
            s += f", recurrent_dropout={self.recurrent_dropout}"
        if any(self.zoneout):
            s += f", zoneout={max(self.zoneout)}"
        return s


class LSTM(_RecurrentBase):
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
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            recurrent_dropout,
            zoneout,
            device,
            dtype,
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


class GRU(_RecurrentBase):
    r"""A multi-layer GRU; a drop-in replacement for ``torch.nn.GRU`` (same equations,
    names and shapes; see :mod:`lstmkit.cells.gru`).

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional:
            as torch.nn.GRU.
        recurrent_dropout: variational dropout on h_{t-1} in the recurrent weights.
        zoneout: zoneout rate on h.

    Inputs: ``input, hx=None, lengths=None`` with h_0 (L*D, B, H). Outputs:
    ``output`` (T, B, D*H) and ``h_n`` (L*D, B, H).

    Attributes:
        weight_ih_l[k][_reverse]: (3H, I) or (3H, D*H), blocks (r, z, n).
        weight_hh_l[k][_reverse]: (3H, H). bias_ih_l[k], bias_hh_l[k]: (3H,).

    Example:
        >>> import torch, lstmkit
        >>> out, h = lstmkit.GRU(4, 6, batch_first=True)(torch.randn(2, 9, 4))
        >>> out.shape, h.shape
        (torch.Size([2, 9, 6]), torch.Size([1, 2, 6]))
    """

    _torch_class = nn.GRU

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            lambda n_in: GRUCellSpec(n_in, hidden_size, bias),
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            recurrent_dropout,
            zoneout,
            device,
            dtype,
        )
        self.reset_parameters()


class RNN(_RecurrentBase):
    r"""A multi-layer Elman RNN; a drop-in replacement for ``torch.nn.RNN``.

    .. math:: h_t = \phi(W x_t + b_{ih} + R h_{t-1} + b_{hh})

    Args:
        nonlinearity: ``"tanh"`` (default) or ``"relu"``; the rest as :class:`GRU`.

    Example:
        >>> import torch, lstmkit
        >>> out, h = lstmkit.RNN(4, 6, nonlinearity="relu")(torch.randn(9, 2, 4))
        >>> out.shape, bool((out >= 0).all())
        (torch.Size([9, 2, 6]), True)
    """

    _torch_class = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        device=None,
        dtype=None,
    ) -> None:
        self.nonlinearity = nonlinearity
        super().__init__(
            lambda n_in: ElmanCellSpec(n_in, hidden_size, bias, nonlinearity),
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            recurrent_dropout,
            zoneout,
            device,
            dtype,
        )
        self.reset_parameters()

    def _torch_kwargs(self):
        return {**super()._torch_kwargs(), "nonlinearity": self.nonlinearity}

    @classmethod
    def _from_torch_kwargs(cls, m):
        return {**super()._from_torch_kwargs(m), "nonlinearity": m.nonlinearity}

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


# ---- stepwise cells -------------------------------------------------------------------
class _CellBase(nn.Module):
    """One step at a time, parameters under torch.nn's cell names (weight_ih, ...)."""

    def __init__(self, spec: CellSpec, device=None, dtype=None) -> None:
        super().__init__()
        self.spec = spec
        self.input_size = spec.input_size
        self.hidden_size = spec.hidden_size
        self.bias = spec.bias
        for short, shape in spec.param_shapes().items():
            self.register_parameter(short, nn.Parameter(torch.empty(shape, device=device, dtype=dtype)))

    def params(self) -> dict[str, Tensor]:
        return {short: getattr(self, short) for short in self.spec.param_shapes()}

    def reset_parameters(self) -> None:
        """Re-initialise every parameter (torch.nn's scheme)."""
        self.spec.reset_parameters(self.params())

    def _prepare(self, input: Tensor, hx) -> tuple[Tensor, tuple[Tensor, ...], bool]:
        if not isinstance(input, Tensor):
            raise TypeError(f"input must be a Tensor, got {type(input).__name__}")
        if input.dim() not in (1, 2):
            raise ValueError(f"input must be 2-D (batch, input_size) or 1-D, got shape {tuple(input.shape)}")
        if not input.is_floating_point():
            raise TypeError(f"input must be a floating-point tensor, got dtype {input.dtype}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"input has {input.shape[-1]} features, expected input_size={self.input_size}")
        if input.dtype != self.weight_ih.dtype:
            raise TypeError(f"input dtype {input.dtype} does not match the parameters' dtype {self.weight_ih.dtype}")
        if input.device != self.weight_ih.device:
            raise ValueError(f"input is on {input.device} but the parameters are on {self.weight_ih.device}")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        B = x.shape[0]
        sizes, names = self.spec.state_sizes(), self.spec.state_names
        given = () if hx is None else (hx,) if isinstance(hx, Tensor) else tuple(hx)
        if len(given) > len(names):
            raise TypeError(f"hx has {len(given)} entries, expected at most {len(names)} ({', '.join(names)})")
        state = []
        for k, (name, n) in enumerate(zip(names, sizes)):
            if k >= len(given) or given[k] is None:
                state.append(torch.zeros(B, n, dtype=x.dtype, device=x.device))
                continue
            t = given[k]
            want = (B, n) if batched else (n,)
            if not isinstance(t, Tensor) or tuple(t.shape) != want:
                got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                raise ValueError(f"state {name} must have shape {want}, got {got}")
            if t.dtype != x.dtype:
                raise TypeError(f"state {name} has dtype {t.dtype} but input has {x.dtype}")
            if t.device != x.device:
                raise ValueError(f"state {name} is on {t.device} but input is on {x.device}")
            state.append(t if batched else t.unsqueeze(0))
        return x, tuple(state), batched

    def forward(self, input: Tensor, hx=None):
        x, state, batched = self._prepare(input, hx)
        p = self.params()
        new = self.spec.step(self.spec.input_projection(x, p), state, p)
        if not batched:
            new = tuple(s.squeeze(0) for s in new)
        return new if len(new) > 1 else new[0]

    def extra_repr(self) -> str:
        return self.spec.extra_repr()


class LSTMCell(_CellBase):
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


class GRUCell(_CellBase):
    """One GRU step; a drop-in replacement for ``torch.nn.GRUCell``.

    Example:
        >>> import torch, lstmkit
        >>> lstmkit.GRUCell(3, 5)(torch.randn(2, 3)).shape
        torch.Size([2, 5])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(GRUCellSpec(input_size, hidden_size, bias), device, dtype)
        self.reset_parameters()


class RNNCell(_CellBase):
    """One Elman step; a drop-in replacement for ``torch.nn.RNNCell``.

    Example:
        >>> import torch, lstmkit
        >>> lstmkit.RNNCell(3, 5, nonlinearity="relu")(torch.randn(2, 3)).shape
        torch.Size([2, 5])
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", device=None, dtype=None
    ) -> None:
        super().__init__(ElmanCellSpec(input_size, hidden_size, bias, nonlinearity), device, dtype)
        self.reset_parameters()
