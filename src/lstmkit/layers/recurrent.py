"""The generic recurrent layer module: stacking, directions, dropout, state, torch interop.

:class:`Recurrent` knows depth and direction and nothing about any cell: it keeps the
parameters under torch.nn's names (``weight_ih_l{k}{suffix}``, ...), checks inputs
against the cell spec's declared shapes, and hands each (layer, direction) to the runner
:func:`lstmkit.kernels.plan` chose for it (or to the reference loop of
:mod:`lstmkit.recurrent`). Family modules (:class:`~lstmkit.LSTM`, :class:`~lstmkit.GRU`,
:class:`~lstmkit.ConvLSTM`, ...) are thin subclasses that build their cell spec.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..cells import CellSpec
from ..kernels import RunConfig, plan, run_planned

__all__ = ["Recurrent", "Stepper", "check_rate"]


def check_rate(name: str, value) -> float:
    """``value`` as a float in [0, 1), else a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


class Recurrent(nn.Module):
    """A multi-layer, optionally bidirectional recurrence of any cell family.

    Args:
        make_spec: ``make_spec(layer_input_size) -> CellSpec``, called once per
            (layer, direction); layer k > 0 gets ``num_directions * output_size``.
        input_size: size of the first feature axis of the input (features or channels).
        hidden_size: the cell's hidden size (features or channels).
        num_layers, bias, batch_first, dropout, bidirectional: as torch.nn.LSTM.
        recurrent_dropout: variational dropout on h_{t-1} inside the recurrent weights
            (Gal & Ghahramani 2016), one mask per sequence and layer, training only.
        zoneout: zoneout rate (Krueger et al. 2016) for h and c, or a (cell, hidden) pair.
        device, dtype: factory arguments.

    Inputs: ``input, hx=None, lengths=None, side=None``: input (T, B, *F) time-major
    ((B, T, *F) with batch_first, (T, *F) unbatched, or a PackedSequence), where F is
    the cell's feature shape ((I,) for vectors, (C, H, W) for feature maps); hx the
    initial state (family-specific packing, entries (L*D, B, *state_shape)); lengths
    (B,) ints; side the per-step side inputs the cell declares (``spec.side_inputs``),
    a dict of (T, B) tensors ((B, T) with batch_first), e.g. a time-aware cell's
    elapsed time.
    Outputs: ``output`` (T, B, D*H_out, ...) and the final state, packed as hx.
    """

    #: the torch.nn class with the same equations and state_dict (None: there is none)
    _torch_class: type[nn.Module] | None = None
    #: LSTM only (see LSTM's docstring)
    truncated_gradient = False
    #: tests switch it off to compare the whole-stack inference call with the per-direction path
    _fast_enabled = True
    #: how hx is written in errors, for a family whose state has several entries (hx and the
    #: final state are then tuples in state_names order); None: one entry, hx is a Tensor
    _hx_form: str | None = None

    def __init__(
        self,
        make_spec: Callable[[int], CellSpec],
        input_size: int,
        hidden_size: int,
        *,
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
        self.dropout = check_rate("dropout", dropout)
        self.bidirectional = bidirectional
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
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
        self._full_names = frozenset(full for names in self._names for _, full in names)
        self.zoneout = self._zoneout_rates(zoneout)

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return "_reverse" if direction == 1 else ""

    @property
    def feature_axes(self) -> int:
        """Trailing axes of each step's input that are features (1 for vectors)."""
        return self.specs[0].feature_axes

    def _zoneout_rates(self, zoneout) -> tuple[float, ...]:
        """Zoneout rate per state entry; a float applies to h and c alike."""
        names = self.specs[0].state_names
        if isinstance(zoneout, tuple):
            if len(zoneout) != 2 or len(names) < 2:
                raise ValueError(
                    f"zoneout must be a float, or a (cell, hidden) pair for an LSTM, got {zoneout!r}"
                )
            z_c, z_h = (check_rate("zoneout", z) for z in zoneout)
            return (z_h, z_c) + (0.0,) * (len(names) - 2)
        z = check_rate("zoneout", zoneout)
        return tuple(z if n in ("h", "c") else 0.0 for n in names)

    # ---- parameters -----------------------------------------------------------------
    def cell_params(self, layer: int, direction: int = 0, P=None) -> dict[str, Tensor]:
        """The parameters of one (layer, direction) by their short names (``weight_ih``, ...);
        from ``P`` (a :meth:`parameter_dict`, read once per call) where given."""
        names = self._names[layer * self.num_directions + direction]
        if P is not None:
            return {short: P[full] for short, full in names}
        # _parameters directly (this runs on every call), attribute access where a weight is
        # not a plain parameter: a parametrization (weight_norm, spectral_norm, weight_drop)
        # or pruning computes it, or torch.func.functional_call swapped it in
        P = self._parameters
        try:
            return {short: P[full] for short, full in names}
        except KeyError:
            return {short: getattr(self, full) for short, full in names}

    def _probe(self) -> Tensor:
        """A parameter whose dtype and device are the module's: weight_ih_l0 where it is a plain
        parameter (no Module.__getattr__ per call), else any parameter (a parametrized
        weight is not computed for this)."""
        w = self._parameters.get(self._names[0][0][1])
        if w is None:
            w = next(iter(self._parameters.values()), None)
        if w is None:
            w = next(self.parameters())
        return w

    def parameter_dict(self) -> dict[str, Tensor]:
        """Every cell parameter by its full name (``weight_hh_l0``, ...), as the recurrences read
        them: the module's ``_parameters`` itself when each is a plain parameter, else a dict
        of attribute reads (parametrized or pruned weights are computed here, once per call).

        Example:
            >>> import lstmkit
            >>> from torch.nn.utils.parametrizations import weight_norm
            >>> m = weight_norm(lstmkit.LSTM(2, 3), "weight_hh_l0")
            >>> sorted(m.parameter_dict()) == sorted(n for n, _ in lstmkit.LSTM(2, 3).named_parameters())
            True
        """
        P = self._parameters
        if P.keys() >= self._full_names:
            return P
        return {full: getattr(self, full) for full in self._full_names}

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
        """Re-initialise every parameter (the cell spec's scheme)."""
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                spec = self.specs[layer * self.num_directions + d]
                self._reset_spec_parameters(spec, self.cell_params(layer, d))

    def flatten_parameters(self) -> None:
        """No-op, for torch.nn.LSTM compatibility (there is no cuDNN buffer to compact)."""

    # ---- the plan -------------------------------------------------------------------
    # Which runner serves each (layer, direction) depends only on the specs and on the
    # configuration below; it is decided once (kernels.plan) and rebuilt when either
    # changes. Everything a call can change (parameters, dtypes, devices, the backend
    # variable) the runners check on every call.
    _plan = None

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_plan", None)  # rebuilt on the next call
        return state

    def _run_config(self) -> RunConfig:
        return RunConfig(
            recurrent_mask=self.training and self.recurrent_dropout > 0,
            zoneout=any(r > 0 for r in self.zoneout),
            truncate_gradient=self.truncated_gradient,
        )

    def kernel_plan(self):
        """The :class:`lstmkit.kernels.Plan` for the current configuration."""
        key = (self.training and self.recurrent_dropout > 0, self.zoneout, self.truncated_gradient)
        cached = self._plan
        if cached is not None and cached[0] == key and cached[1] == self.specs:
            return cached[2]
        p = plan(self.specs, self._run_config(), names=self._names, num_layers=self.num_layers,
                 num_directions=self.num_directions)
        self._plan = (key, list(self.specs), p)
        return p

    # ---- forward --------------------------------------------------------------------
    def forward(self, input, hx=None, lengths=None, side=None):
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting():
            # the fused kernels are invisible to tracers and torch.export: record real ops
            # (layers/portable.py)
            from .portable import export_forward

            return export_forward(self, input, hx, lengths, side)
        return self._general_forward(input, hx, lengths, side)

    def __prepare_scriptable__(self):
        """torch.jit.script compiles the pure-torch twin (layers/portable.py), same Parameters."""
        from .portable import twin

        return twin(self)

    def _general_forward(self, input, hx=None, lengths=None, side=None):
        F_axes = self.feature_axes
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("lengths must be None when input is a PackedSequence (it carries its own)")
            x, lengths = pad_packed_sequence(input, batch_first=False)
            batched = True
        else:
            if not isinstance(input, Tensor):
                raise TypeError(f"input must be a Tensor or PackedSequence, got {type(input).__name__}")
            if input.dim() not in (1 + F_axes, 2 + F_axes):
                raise ValueError(
                    f"input must be {2 + F_axes}-D (batched) or {1 + F_axes}-D (unbatched), got a "
                    f"{input.dim()}-D tensor of shape {tuple(input.shape)}"
                )
            batched = input.dim() == 2 + F_axes
            x = input if batched else input.unsqueeze(1)
            if batched and self.batch_first:
                x = x.transpose(0, 1)
            if lengths is not None and not batched:
                raise ValueError(f"lengths is only accepted with batched ({2 + F_axes}-D) input")
        self._check_input(x)
        T, B = x.shape[0], x.shape[1]
        if lengths is not None:
            lengths = self._check_lengths(lengths, T, B)
        state = self._initial_state(hx, B, x, batched)
        if side is not None or self.specs[0].side_inputs:
            side = self._check_side(side, T, B, batched, packed)
        output, final_state = self._run_layers(x, state, lengths, self.num_layers, side)

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
        self, x: Tensor, state: tuple[Tensor, ...], lengths: Tensor | None, num_layers: int, side=None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The first ``num_layers`` layers on time-major ``x``; state entries (L*D, B, ...)."""
        kplan = self.kernel_plan()
        # every weight read once per call: a parametrized one (weight_drop's mask) is computed once
        P = self.parameter_dict()
        if side:
            return self._per_direction(None, x, state, lengths, num_layers, side, P=P)
        if (
            self._fast_enabled
            and lengths is None
            and num_layers == self.num_layers
            and not (self.training and self.dropout > 0 and num_layers > 1)
        ):
            res = kplan.infer(P, x, state)
            if res is not None:
                return res
        return self._per_direction(kplan, x, state, lengths, num_layers, P=P)

    def _per_direction(self, kplan, x: Tensor, state: tuple[Tensor, ...], lengths: Tensor | None, num_layers: int,
                       side=None, P=None):
        """The layers one (layer, direction) at a time, each on its planned runner or the
        reference loop (always, when ``kplan`` is None); dropout between layers and the
        recurrent mask apply here; ``side`` inputs reach every layer's step."""
        finals: list[tuple[Tensor, ...]] = []
        layer_input = x
        for layer in range(num_layers):
            outs = []
            for d in range(self.num_directions):
                idx = layer * self.num_directions + d
                spec = self.specs[idx]
                s0 = tuple(s[idx] for s in state)
                mask = None
                if self.training and self.recurrent_dropout > 0:
                    keep = 1.0 - self.recurrent_dropout
                    mask = s0[0].new_empty(s0[0].shape).bernoulli_(keep) / keep
                out, final = run_planned(
                    None if kplan is None else kplan.runners[idx],
                    spec,
                    self.cell_params(layer, d, P),
                    layer_input,
                    s0,
                    lengths=lengths,
                    reverse=d == 1,
                    recurrent_mask=mask,
                    zoneout=self.zoneout,
                    training=self.training,
                    truncate_gradient=self.truncated_gradient,
                    side=side,
                )
                outs.append(out)
                finals.append(final)
            # directions concatenate on the first feature axis (dim 2 of (T, B, ...))
            layer_input = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
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

    # ---- streaming ------------------------------------------------------------------
    def stepper(self) -> "Stepper":
        """A streaming stepper for this module, its kernels chosen once (see :class:`Stepper`).

        Example:
            >>> import torch, lstmkit
            >>> lstm = lstmkit.LSTM(3, 5, num_layers=2).eval()
            >>> step = lstm.stepper()
            >>> xs = torch.randn(4, 2, 3)
            >>> state = None
            >>> with torch.no_grad():
            ...     for x in xs:
            ...         y, state = step(x, state)
            ...     whole, _ = lstm(xs)
            >>> bool(torch.allclose(y, whole[-1], atol=1e-5))
            True
        """
        return Stepper(self)

    # ---- checks ---------------------------------------------------------------------
    def _check_input(self, x: Tensor) -> None:
        if not x.is_floating_point():
            raise TypeError(f"input must be a floating-point tensor, got dtype {x.dtype}")
        self.specs[0].check_input_shape(tuple(x.shape[2:]))
        if x.shape[0] == 0:
            raise ValueError("input has zero time steps; expected at least one")
        w = self._probe()
        if x.dtype != w.dtype:
            raise TypeError(f"input dtype {x.dtype} does not match the parameters' dtype {w.dtype}")
        if x.device != w.device:
            raise ValueError(f"input is on {x.device} but the parameters are on {w.device}")

    def _check_side(self, side, T: int, B: int, batched: bool, packed: bool):
        """The side inputs as time-major (T, B) tensors (or None); names checked by the loop."""
        names = self.specs[0].side_inputs
        if not side:
            if names:
                raise ValueError(f"{type(self).__name__} needs side={{{', '.join(repr(n) + ': ...' for n in names)}}} "
                                 f"(each (T, B), or (B, T) with batch_first)")
            return None
        if not isinstance(side, dict):
            raise TypeError(f"side must be a dict of name -> (T, B) tensor, got {type(side).__name__}")
        if packed:
            raise ValueError("side inputs need a padded tensor input, not a PackedSequence")
        out = {}
        for k, v in side.items():
            v = torch.as_tensor(v)
            if not batched:
                v = v.unsqueeze(1)
            elif self.batch_first:
                v = v.transpose(0, 1)
            out[k] = v
        return out

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
        if B and torch.compiler.is_compiling() and not torch.compiler.is_exporting():
            # a graph traced by torch.compile cannot read values while it is traced: the
            # check is recorded and runs with the graph (a RuntimeError there)
            torch._assert_async(((lengths >= 1) & (lengths <= T)).all(),
                                f"every length must be >= 1 and <= the sequence length T={T}")
            return lengths
        if B and int(lengths.min()) <= 0:
            raise ValueError(f"every length must be >= 1, got min {int(lengths.min())}")
        if B and int(lengths.max()) > T:
            raise ValueError(f"lengths may not exceed the sequence length T={T}, got max {int(lengths.max())}")
        return lengths

    def _state_tuple(self, hx) -> tuple | None:
        """hx as a tuple of tensors in state_names order: a Tensor (h_0) for a family of one
        state entry; for one of several (``_hx_form`` set), a tuple of exactly that many
        (LSTM overrides: its optional third entry)."""
        if hx is None:
            return None
        if self._hx_form is None:
            if not isinstance(hx, Tensor):
                raise TypeError(f"hx must be a Tensor (h_0), got {type(hx).__name__}")
            return (hx,)
        if not isinstance(hx, (tuple, list)) or len(hx) != len(self.specs[0].state_names):
            got = f"a {len(hx)}-tuple" if isinstance(hx, (tuple, list)) else type(hx).__name__
            raise TypeError(f"hx must be {self._hx_form}, got {got}")
        return tuple(hx)

    def _pack_state(self, state: tuple[Tensor, ...]):
        return state[0] if self._hx_form is None else tuple(state)

    def _initial_state(self, hx, B: int, x: Tensor, batched: bool) -> tuple[Tensor, ...]:
        spec = self.specs[0]  # every (layer, direction) has the same state shapes
        LD = self.num_layers * self.num_directions
        given = self._state_tuple(hx)
        out = []
        shapes = spec.state_shapes(tuple(x.shape[2:]))
        for k, (name, shape) in enumerate(zip(spec.state_names, shapes)):
            t = None if given is None or k >= len(given) else given[k]
            if t is None:
                out.append(torch.zeros((LD, B, *shape), dtype=x.dtype, device=x.device))
                continue
            if not isinstance(t, Tensor):
                raise TypeError(f"initial state {name}_0 must be a Tensor, got {type(t).__name__}")
            want = (LD, B, *shape) if batched else (LD, *shape)
            if tuple(t.shape) != want:
                raise ValueError(
                    f"initial state {name}_0 must have shape {want} (num_layers*num_directions, "
                    f"{'batch, ' if batched else ''}{'size' if len(shape) == 1 else 'state shape'}), "
                    f"got {tuple(t.shape)}"
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
        if self._torch_class is None:
            raise ValueError(f"{type(self).__name__} has no torch.nn equivalent")
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
        if cls._torch_class is None:
            raise TypeError(f"{cls.__name__} has no torch.nn equivalent")
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


class Stepper:
    """Streaming: one step per call, the kernels chosen once, at construction.

    ``step(x_t, state=None) -> (y_t, state)``: ``x_t`` is one step's input (B, *F) (or
    (*F,) unbatched), ``state`` the module's state packing ((h, c) for an LSTM, h for a
    GRU; entries (L, B, ...)) or None for zeros. ``y_t`` is the top layer's output
    (B, H_out, ...). Computes exactly what the module computes over the same steps. The
    module must be unidirectional (a reverse direction needs the future); inference only
    (no gradient is recorded). The backend variable, the extension and the per-layer
    kernel calls are resolved when the stepper is made: make a new one after changing
    the module's configuration (training mode, dropout, zoneout) or ``LSTMKIT_BACKEND``;
    parameters are looked up on every call, so updated weights are always seen.

    Raises:
        ValueError: the module is bidirectional.
    """

    def __init__(self, module: Recurrent) -> None:
        if not isinstance(module, Recurrent):
            raise TypeError(f"Stepper takes a lstmkit recurrent module, got {type(module).__name__}")
        if module.bidirectional:
            raise ValueError("a bidirectional module cannot stream: its reverse direction needs the future")
        self.module = module
        self._step = module.kernel_plan().stepper()
        self._L = module.num_layers
        self._sizes = module.specs[0].state_sizes() if self._step is not None else ()
        self._F = module.feature_axes

    def __call__(self, x: Tensor, state=None):
        m = self.module
        F_axes = self._F
        if type(x) is not Tensor or x.dim() not in (F_axes, F_axes + 1):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be one step's input, {F_axes + 1}-D (batch, ...) or {F_axes}-D, got {got}")
        batched = x.dim() == F_axes + 1
        xs = x.unsqueeze(0) if batched else x.view(1, 1, *x.shape)
        given = state if batched else _unsqueeze_state(state)
        s = self._lean_state(xs, given) if self._step is not None else None
        if s is not None:
            # the kernels' inference calls record no autograd graph
            out, final = self._step(m.parameter_dict(), xs, s)
            y = out[0]
        else:
            with torch.no_grad():
                seq = xs.transpose(0, 1) if m.batch_first else xs
                y, packed = m(seq, given)
            y = y[:, 0] if m.batch_first else y[0]
            final = packed if isinstance(packed, tuple) else (packed,)
        if not batched:
            y = y.squeeze(0)
            final = tuple(t.squeeze(1) for t in final)
        return y, m._pack_state(final)

    def _lean_state(self, xs: Tensor, given):
        """The state as the lean kernel call takes it, or None when this step must go the
        module's way (which makes every check and raises the errors)."""
        m = self.module
        w = m._probe()
        B = xs.shape[1]
        if (
            w is None
            or B == 0
            or xs.dtype != w.dtype
            or xs.dtype not in (torch.float32, torch.float64)
            or not xs.is_cpu
            or not w.is_cpu
            or xs.shape[2:] != (m.input_size,)
        ):
            return None
        sizes = self._sizes
        if given is None:
            return tuple(xs.new_zeros(self._L, B, n) for n in sizes)
        given = given if isinstance(given, (tuple, list)) else (given,)
        if len(given) != len(sizes):
            return None
        for t, n in zip(given, sizes):
            if type(t) is not Tensor or t.shape != (self._L, B, n) or t.dtype != xs.dtype or not t.is_cpu:
                return None
        return tuple(given)


def _unsqueeze_state(state):
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.unsqueeze(1)
    return tuple(None if t is None else t.unsqueeze(1) for t in state)
