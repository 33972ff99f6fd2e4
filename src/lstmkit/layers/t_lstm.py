"""The time-aware LSTM family's modules: :class:`TLSTM` (Baytas et al., KDD 2017), its
stepwise :class:`TLSTMCell`, a streaming :class:`TLSTMStepper`, and its registration.

The elapsed times arrive as ``dt=``, a tensor laid out like the steps ((T, B), or (B, T)
with ``batch_first``, (T,) unbatched), mapped to the cell's per-step side input ``"dt"``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from ..cells.t_lstm import TLSTMCellSpec
from ..families import Family, register_family
from .cell import CellModule
from .recurrent import Recurrent

__all__ = ["TLSTM", "TLSTMCell", "TLSTMStepper", "check_elapsed_times", "next_gaps"]


def check_elapsed_times(dt, shape: tuple[int, ...], like: Tensor, layout: str = "(T, B)") -> Tensor:
    """``dt`` as a tensor of ``shape`` with ``like``'s dtype and device, finite and >= 0;
    otherwise a ValueError/TypeError naming ``dt``.

    Args:
        dt: elapsed times (a tensor, array or nested list of numbers).
        shape: the shape expected.
        like: a tensor whose dtype and device the result takes.
        layout: how the shape is described in the error (``"(B, T)"``).

    Example:
        >>> import torch
        >>> check_elapsed_times([[0.0, 1.5]], (1, 2), torch.zeros(1)).tolist()
        [[0.0, 1.5]]
    """
    if dt is None:
        raise ValueError(f"dt is required: the elapsed time before each step, a {layout} tensor of numbers >= 0 "
                         f"(0 where there is no previous step)")
    if isinstance(dt, PackedSequence):
        raise TypeError("dt must be a padded tensor laid out like the input's steps, not a PackedSequence")
    if not isinstance(dt, Tensor):
        try:
            dt = torch.as_tensor(dt)
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError(f"dt must be a {layout} tensor of numbers, got {type(dt).__name__}") from e
    if dt.dtype == torch.bool or dt.is_complex():
        raise TypeError(f"dt must hold real numbers, got dtype {dt.dtype}")
    if tuple(dt.shape) != tuple(shape):
        raise ValueError(f"dt must have shape {layout} = {tuple(shape)} (one elapsed time per step), "
                         f"got {tuple(dt.shape)}")
    dt = dt.to(device=like.device, dtype=like.dtype)
    if dt.numel() and torch.compiler.is_compiling() and not torch.compiler.is_exporting():
        # a graph traced by torch.compile cannot read values while it is traced: the check is
        # recorded and runs with the graph (a RuntimeError there)
        torch._assert_async((torch.isfinite(dt) & (dt >= 0)).all(), "dt must be finite and >= 0 (elapsed times)")
    elif dt.numel() and not (torch.jit.is_tracing() or torch.compiler.is_exporting()):
        # the value checks read the data: a tracer or torch.export records the graph only
        if not bool(torch.isfinite(dt.detach()).all()):
            raise ValueError("dt must be finite; it holds NaN or infinity")
        low = float(dt.detach().min())
        if low < 0:
            raise ValueError(f"dt must be >= 0 (elapsed times), got a minimum of {low:g}; sort the steps by time")
    return dt


def next_gaps(dt: Tensor, lengths: Tensor | None = None) -> Tensor:
    """The gaps a reverse direction discounts by: ``out[t] = dt[t + 1]`` (the time between
    step t and the step processed before it), 0 at each sequence's last valid step.

    Args:
        dt: (T, B) elapsed times, time-major.
        lengths: (B,) valid steps per sequence, or None (all T).

    Example:
        >>> import torch
        >>> next_gaps(torch.tensor([[0.0], [1.0], [2.0]])).flatten().tolist()
        [1.0, 2.0, 0.0]
        >>> next_gaps(torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([2])).flatten().tolist()
        [1.0, 0.0, 0.0]
    """
    out = torch.cat([dt[1:], torch.zeros_like(dt[:1])])
    if lengths is not None:
        last = (lengths.to(dt.device).long() - 1).clamp(min=0)
        out = out.clone()
        out[last, torch.arange(dt.shape[1], device=dt.device)] = 0.0
    return out


class TLSTM(Recurrent):
    r"""A multi-layer, optionally bidirectional time-aware LSTM (T-LSTM; Baytas et al. 2017).

    Before each step the previous memory's short-term part is discounted by the elapsed
    time (:mod:`lstmkit.cells.t_lstm`):
    C^S = tanh(W_d C_{t-1} + b_d), C* = (C_{t-1} - C^S) + C^S g(Δt), g(Δt) = 1/log(e + Δt);
    then C_t = f ⊙ C* + i ⊙ tanh(W_c x_t + U_c h_{t-1} + b_c), h_t = o ⊙ tanh(C_t).
    With Δt = 0 at every step it computes exactly a standard LSTM.

    Args:
        input_size: I, features of x_t.
        hidden_size: H per direction.
        num_layers: stacked layers; layer k > 0 reads D*H features (and the same Δt).
        bias, batch_first, dropout, bidirectional: as torch.nn.LSTM.
        short_term: ``"tanh"`` (the paper) or ``"sigmoid"`` (the authors' code) for C^S.
        recurrent_dropout: variational dropout on h_{t-1} (training only).
        zoneout: zoneout rate for h and C, or a (cell, hidden) pair.
        device, dtype: factory arguments.

    Inputs: ``input, hx=None, lengths=None, dt=...``: input (T, B, I) ((B, T, I) with
    batch_first, (T, I) unbatched); hx = (h_0, c_0), each (L*D, B, H), zeros if None;
    lengths (B,) ints; **dt** the elapsed time before each step, laid out like the steps:
    (T, B) ((B, T) with batch_first, (T,) unbatched), finite and >= 0 (dt[0] is the time
    since an unobserved previous step: 0 when there is none, which leaves C_0 as given).
    A reverse direction discounts step t by the gap to step t + 1 (dt[t + 1]; 0 at each
    sequence's last valid step). Outputs: ``output`` (T, B, D*H) and ``(h_n, c_n)``.

    Attributes:
        weight_ih_l[k][_reverse]: (4H, I or D*H), blocks (i, f, g, o) as torch.nn.LSTM.
        weight_hh_l[k][_reverse]: (4H, H). bias_ih/bias_hh_l[k][_reverse]: (4H,).
        weight_decomp_l[k][_reverse]: W_d (H, H). bias_decomp_l[k][_reverse]: b_d (H,).

    Initialisation: torch.nn.LSTM's U(-1/sqrt(H), 1/sqrt(H)) for every tensor.

    There is no fused kernel: every call runs the reference loop. Streaming:
    :meth:`stepper` (the generic :class:`~lstmkit.layers.Stepper` has no side inputs).

    Example:
        >>> import torch, lstmkit
        >>> m = lstmkit.TLSTM(3, 8, num_layers=2, bidirectional=True, batch_first=True)
        >>> x, dt = torch.randn(4, 10, 3), torch.rand(4, 10) * 5
        >>> out, (h, c) = m(x, lengths=torch.tensor([10, 7, 3, 1]), dt=dt)
        >>> out.shape, h.shape
        (torch.Size([4, 10, 16]), torch.Size([4, 4, 8]))
    """

    _hx_form = "(h_0, c_0), each (num_layers*num_directions, B, H)"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        short_term: str = "tanh",
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        device=None,
        dtype=None,
    ) -> None:
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be a bool, got {type(bidirectional).__name__}")
        TLSTMCellSpec(input_size, hidden_size, bias, short_term)  # bad arguments fail first
        self.short_term = short_term
        D = 2 if bidirectional else 1
        built = [0]

        def make_spec(n_in: int) -> TLSTMCellSpec:
            # Recurrent builds the specs in (layer, direction) order
            reverse = built[0] % D == 1
            built[0] += 1
            return TLSTMCellSpec(n_in, hidden_size, bias, short_term, reverse=reverse, paired=D == 2)

        super().__init__(
            make_spec, input_size, hidden_size, num_layers=num_layers, bias=bias, batch_first=batch_first,
            dropout=dropout, bidirectional=bidirectional, recurrent_dropout=recurrent_dropout, zoneout=zoneout,
            device=device, dtype=dtype,
        )
        self.reset_parameters()

    def forward(self, input, hx=None, lengths=None, dt=None, side=None):
        if side is not None:
            raise ValueError("TLSTM takes the elapsed times as dt=, not side=")
        if isinstance(input, PackedSequence):
            raise TypeError("TLSTM needs a padded tensor input (its dt is laid out like the steps), "
                            "not a PackedSequence; pass lengths= instead")
        if not isinstance(input, Tensor):
            raise TypeError(f"input must be a Tensor, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"input must be 3-D (batched) or 2-D (unbatched), got a {input.dim()}-D tensor "
                             f"of shape {tuple(input.shape)}")
        batched = input.dim() == 3
        if batched:
            shape, layout = tuple(input.shape[:2]), "(B, T)" if self.batch_first else "(T, B)"
        else:
            shape, layout = (input.shape[0],), "(T,)"
        dt = check_elapsed_times(dt, shape, input, layout)
        side = {"dt": dt}
        if self.bidirectional:
            tm = dt.unsqueeze(1) if not batched else dt.t() if self.batch_first else dt
            n = None
            if lengths is not None:
                recording = torch.jit.is_tracing() or torch.compiler.is_exporting()  # the checks read the data
                n = torch.as_tensor(lengths).long() if recording else self._check_lengths(lengths, tm.shape[0],
                                                                                          tm.shape[1])
            nxt = next_gaps(tm, n)
            side["dt_next"] = nxt.squeeze(1) if not batched else nxt.t() if self.batch_first else nxt
        return super().forward(input, hx, lengths, side)

    def stepper(self) -> "TLSTMStepper":
        """A streaming stepper: ``step(x_t, dt_t, state=None) -> (y_t, state)`` (see :class:`TLSTMStepper`)."""
        return TLSTMStepper(self)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", short_term={self.short_term!r}" if self.short_term != "tanh" else "")


class TLSTMStepper:
    """Streaming a :class:`TLSTM`: one step per call, the same numbers as the whole sequence.

    ``step(x_t, dt_t, state=None) -> (y_t, state)``: ``x_t`` (B, I) or (I,), ``dt_t`` the
    elapsed time since the previous step, (B,) or a number; ``state`` (h, c), each (L, B, H),
    or None for zeros. Inference only (no gradient is recorded); unidirectional modules only.

    Example:
        >>> import torch, lstmkit
        >>> m = lstmkit.TLSTM(3, 5, num_layers=2).eval()
        >>> xs, dts = torch.randn(4, 2, 3), torch.rand(4, 2)
        >>> step, state = m.stepper(), None
        >>> for x, d in zip(xs, dts):
        ...     y, state = step(x, d, state)
        >>> bool(torch.allclose(y, m(xs, dt=dts)[0][-1], atol=1e-6))
        True
    """

    def __init__(self, module: TLSTM) -> None:
        if not isinstance(module, TLSTM):
            raise TypeError(f"TLSTMStepper takes a TLSTM, got {type(module).__name__}")
        if module.bidirectional:
            raise ValueError("a bidirectional module cannot stream: its reverse direction needs the future")
        self.module = module

    def __call__(self, x: Tensor, dt, state=None):
        if not isinstance(x, Tensor) or x.dim() not in (1, 2):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be one step's input, (B, I) or (I,), got {got}")
        batched = x.dim() == 2
        d = torch.as_tensor(dt) if not isinstance(dt, Tensor) else dt
        if batched and d.dim() == 0:
            d = d.expand(x.shape[0])
        m = self.module
        with torch.no_grad():
            if batched:
                xs = x.unsqueeze(1) if m.batch_first else x.unsqueeze(0)
                ds = d.reshape(-1, 1) if m.batch_first and d.dim() == 1 else d.reshape(1, -1) if d.dim() == 1 else d
                y, final = m(xs, state, dt=ds)
                y = y[:, 0] if m.batch_first else y[0]
            else:
                y, final = m(x.unsqueeze(0), state, dt=d.reshape(1))
                y = y[0]
        return y, final


class TLSTMCell(CellModule):
    """One T-LSTM step at a time (Baytas et al. 2017), parameters under the cell names
    (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, ``weight_decomp``, ``bias_decomp``).

    Args: ``input_size, hidden_size, bias=True, short_term="tanh"``, device, dtype.
    Inputs: ``input`` (B, I) or (I,), ``hx = (h, c)`` (zeros where omitted), ``dt`` the
    elapsed time since the previous step, (B,) or a number, >= 0. Output: ``(h', c')``.

    Example:
        >>> import torch, lstmkit
        >>> cell = lstmkit.TLSTMCell(3, 8)
        >>> h, c = cell(torch.randn(5, 3), dt=torch.rand(5))
        >>> h, c = cell(torch.randn(5, 3), (h, c), dt=2.0)
        >>> h.shape
        torch.Size([5, 8])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, short_term: str = "tanh",
                 device=None, dtype=None) -> None:
        super().__init__(TLSTMCellSpec(input_size, hidden_size, bias, short_term), device, dtype)
        self.short_term = short_term
        self.reset_parameters()

    def forward(self, input: Tensor, hx=None, dt=None, side=None):
        if side is not None:
            raise ValueError("TLSTMCell takes the elapsed time as dt=, not side=")
        if not isinstance(input, Tensor):
            raise TypeError(f"input must be a Tensor, got {type(input).__name__}")
        B = input.shape[0] if input.dim() == 2 else 1
        d = dt
        if d is not None and not isinstance(d, Tensor):
            try:
                d = torch.as_tensor(d, dtype=input.dtype)
            except (TypeError, ValueError, RuntimeError) as e:
                raise TypeError(f"dt must be a number or a (B,) tensor, got {type(dt).__name__}") from e
        if d is not None and d.dim() == 0:
            d = d.expand(B)
        d = check_elapsed_times(d, (B,), input, "(B,)")
        return super().forward(input, hx, side={"dt": d})


register_family(
    Family(
        name="tlstm",
        spec=TLSTMCellSpec,
        module=TLSTM,
        cell_module=TLSTMCell,
        title="T-LSTM",
        aliases=("t_lstm",),
        paper="Baytas et al. 2017, Patient Subtyping via Time-Aware LSTM Networks (KDD)",
    )
)
