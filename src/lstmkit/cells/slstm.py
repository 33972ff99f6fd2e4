"""One time step of the sLSTM of Beck et al. (2024, "xLSTM", Sec. 2.2, eqs. 8-17).

A scalar memory cell with exponential gating, a normaliser state and heads: the recurrent
matrices are block-diagonal, so units mix only within their head. With the paper's
numbering (pre-activations carry a tilde; ``W`` the input weights, ``R`` the recurrent ones):

.. math::
    c_t &= f_t c_{t-1} + i_t z_t                                       &(8)\\\\
    n_t &= f_t n_{t-1} + i_t                                           &(9)\\\\
    h_t &= o_t \\tilde h_t, \\quad \\tilde h_t = c_t / n_t              &(10)\\\\
    z_t &= \\tanh(\\tilde z_t), \\quad \\tilde z_t = W_z x_t + R_z h_{t-1} + b_z   &(11)\\\\
    i_t &= \\exp(\\tilde i_t), \\quad \\tilde i_t = W_i x_t + R_i h_{t-1} + b_i    &(12)\\\\
    f_t &= \\sigma(\\tilde f_t) \\text{ or } \\exp(\\tilde f_t), \\quad
           \\tilde f_t = W_f x_t + R_f h_{t-1} + b_f                    &(13)\\\\
    o_t &= \\sigma(\\tilde o_t), \\quad \\tilde o_t = W_o x_t + R_o h_{t-1} + b_o &(14)

Exponentials overflow, so the cell keeps a stabiliser state m in log space and carries
c and n scaled by exp(-m_t) (eqs. 15-17); h is unchanged by the scaling (it cancels in
c/n), so the stabilised cell computes exactly eqs. 8-14:

.. math::
    m_t &= \\max(\\log f_t + m_{t-1}, \\log i_t) = \\max(\\log f_t + m_{t-1}, \\tilde i_t)   &(15)\\\\
    i'_t &= \\exp(\\log i_t - m_t) = \\exp(\\tilde i_t - m_t)                               &(16)\\\\
    f'_t &= \\exp(\\log f_t + m_{t-1} - m_t)                                               &(17)

and c_t = f'_t c_{t-1} + i'_t z_t, n_t = f'_t n_{t-1} + i'_t (eqs. 8, 9 with the
stabilised gates). log f_t is ``logsigmoid(f~_t)`` for the sigmoid forget gate and
``f~_t`` itself for the exponential one.

**The empty memory.** The state starts at zeros, (h, c, n, m) = 0. Where n_{t-1} = 0 the
memory holds nothing, and the cell takes m_{t-1} = -inf there, so m_t = i~_t, i'_t = 1,
f'_t = 0 (per element): this is what xlstm's reference does (it tests n = 0 for the whole
batch, we per unit; the outputs agree) and it keeps n_t >= 1 at every later step
(one of i'_t, f'_t is 1 at each step), so c/n never divides by ~0 and exp never
overflows. Any finite m_0 with n_0 = 0 would compute the same h mathematically; -inf
makes it exact in floating point too.

Parameter layout (short names; the layer module adds ``_l{k}`` and ``_reverse``).
H = hidden_size, N = num_heads, d = H / N (the head size); gate blocks in the order
(i, f, z, o) (the house's (i, f, g, o), z being the cell input), each block of H rows in
head order (head k owns units k*d ... (k+1)*d - 1):

=================  =================  ==================================================
name               shape              meaning
=================  =================  ==================================================
``weight_ih``      (4H, I)            W_i, W_f, W_z, W_o stacked (a dense projection)
``weight_hh``      (N, 4, d, d)       ``weight_hh[k, g]`` is the d x d block of head k of
                                      R_g (g = 0..3 for i, f, z, o), rows the gate's
                                      units, columns h_{t-1}'s units of the same head;
                                      R_g is block-diagonal with these N blocks
``bias``           (4H,)              b_i, b_f, b_z, b_o (one bias, as the paper)
=================  =================  ==================================================

``weight_hh.reshape(N, 4 * d, d)`` is the internal layout of xlstm's vanilla backend;
:func:`params_from_xlstm` / :func:`params_to_xlstm` convert from and to the external,
backend-independent one (``recurrent_kernel`` (N, d, 4, d), ``bias`` (N, 4, d)).
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import CellSpec, _check_positive_int

__all__ = ["sLSTMCellSpec", "FORGET_GATES", "forget_bias_init", "params_from_xlstm", "params_to_xlstm"]

#: the forget gate's activations, eq. 13
FORGET_GATES = ("sigmoid", "exp")


def forget_bias_init(head_size: int, *, forget_gate: str = "sigmoid", dtype=None) -> Tensor:
    """The paper's forget-gate bias of one head: a power law spread over its d units.

    b_f[j] = 5 - 12 * (j / (d - 1)) ** 0.3 for j = 0..d-1, from +5 (sigma = 0.993: a long
    memory) down to -7 (0.001: forget at once), so each head holds units of every time
    scale (xlstm's ``bias_init="powerlaw_blockdependent"`` for a single block; d = 1
    gives +5). With ``forget_gate="exp"`` the values are ``logsigmoid`` of these, so that
    both gates start with the same forget factors f_t = sigma(b) = exp(log sigma(b)).

    Args:
        head_size: d, units per head.
        forget_gate: ``"sigmoid"`` or ``"exp"``.
        dtype: of the result.

    Example:
        >>> [round(v, 3) for v in forget_bias_init(4).tolist()]
        [5.0, -3.631, -5.626, -7.0]
    """
    _check_positive_int("head_size", head_size)
    _check_forget_gate(forget_gate)
    j = torch.arange(head_size, dtype=torch.float64)
    ratio = j / (head_size - 1) if head_size > 1 else torch.zeros_like(j)
    b = 5.0 - 12.0 * ratio**0.3
    if forget_gate == "exp":
        b = F.logsigmoid(b)
    return b.to(dtype or torch.get_default_dtype())


def _check_forget_gate(forget_gate) -> None:
    if forget_gate not in FORGET_GATES:
        raise ValueError(f"forget_gate must be one of {FORGET_GATES}, got {forget_gate!r}")


class sLSTMCellSpec(CellSpec):
    """The one-step math of an sLSTM cell with heads (Beck et al. 2024, eqs. 8-17).

    State ``(h, c, n, m)``, each (B, H): the hidden state, the cell, the normaliser and
    the stabiliser (c and n stored divided by exp(m)). See the module docstring for the
    equations and the parameter layout.

    Args:
        input_size: I, features of x_t.
        hidden_size: H, units of h (and of c, n, m); a multiple of ``num_heads``.
        num_heads: N, heads of the block-diagonal recurrent matrices (d = H / N each).
        bias: whether ``bias`` exists.
        forget_gate: ``"sigmoid"`` (sigma(f~), the paper's default for sLSTM and the only
            one xlstm implements) or ``"exp"`` (exp(f~)), eq. 13.

    Initialisation (:meth:`reset_parameters`), as the xlstm reference package: the input
    weights ``weight_ih`` N(0, 2 / (5 I)) (its "small init"); the recurrent weights zero;
    the bias zero except the forget gate's, which is :func:`forget_bias_init` in every
    head (the input gate's bias is 0, so i_t = exp(0) = 1 at the start).

    Example:
        >>> import torch
        >>> from lstmkit.cells.slstm import sLSTMCellSpec
        >>> spec = sLSTMCellSpec(3, 8, num_heads=2)
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> x = torch.randn(5, 4, 3)                 # (T, B, I)
        >>> xp = spec.input_projection(x, p)         # all steps at once: (T, B, 4H)
        >>> h, c, n, m = spec.step(xp[0], spec.initial_state(4), p)
        >>> h.shape, spec.param_shapes()["weight_hh"], bool((n >= 1).all())
        (torch.Size([4, 8]), (2, 4, 4, 4), True)
    """

    state_names = ("h", "c", "n", "m")
    feature_axes = 1
    side_inputs: tuple[str, ...] = ()

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_heads: int = 4,
        bias: bool = True,
        forget_gate: str = "sigmoid",
    ) -> None:
        super().__init__(input_size, hidden_size, bias)
        _check_positive_int("num_heads", num_heads)
        if hidden_size % num_heads:
            raise ValueError(
                f"hidden_size must be a multiple of num_heads (each head owns hidden_size / num_heads "
                f"units), got hidden_size={hidden_size}, num_heads={num_heads}"
            )
        _check_forget_gate(forget_gate)
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.forget_gate = forget_gate

    # ---- layout ---------------------------------------------------------------------
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        H, N, d = self.hidden_size, self.num_heads, self.head_size
        shapes: dict[str, tuple[int, ...]] = {
            "weight_ih": (4 * H, self.input_size),
            "weight_hh": (N, 4, d, d),
        }
        if self.bias:
            shapes["bias"] = (4 * H,)
        return shapes

    def state_sizes(self) -> tuple[int, ...]:
        H = self.hidden_size
        return (H, H, H, H)

    def reset_parameters(self, p: Mapping[str, Tensor]) -> None:
        """The xlstm reference's initialisation (see the class docstring)."""
        with torch.no_grad():
            w = p["weight_ih"]
            w.normal_(0.0, math.sqrt(2.0 / (5.0 * self.input_size)))
            p["weight_hh"].zero_()
            if self.bias:
                b = p["bias"]
                b.zero_()
                H = self.hidden_size
                fb = forget_bias_init(self.head_size, forget_gate=self.forget_gate, dtype=torch.float64)
                b[H : 2 * H].copy_(fb.repeat(self.num_heads).to(b.dtype))

    # ---- math -----------------------------------------------------------------------
    def input_projection(self, x: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        """W x_t + b for every step at once: (..., I) -> (..., 4H), blocks (i, f, z, o)."""
        return F.linear(x, p["weight_ih"], p.get("bias") if self.bias else None)

    def recurrent_projection(self, h: Tensor, weight_hh: Tensor) -> Tensor:
        """R h_{t-1} with the block-diagonal R: (B, H) -> (B, 4H), blocks (i, f, z, o).

        Head k's units only see head k's units: out[b, g, k, j] = sum_l
        weight_hh[k, g, j, l] h[b, k, l].
        """
        B = h.shape[0]
        N, d = self.num_heads, self.head_size
        # one batched product over heads: (N, B, d) @ (N, d, 4d) -> (N, B, 4d)
        r = torch.bmm(h.view(B, N, d).transpose(0, 1), weight_hh.reshape(N, 4 * d, d).transpose(1, 2))
        return r.view(N, B, 4, d).permute(1, 2, 0, 3).reshape(B, 4 * N * d)

    def step(
        self,
        xp: Tensor,
        state: tuple[Tensor, ...],
        p: Mapping[str, Tensor],
        recurrent_mask: Tensor | None = None,
        side=None,
    ) -> tuple[Tensor, ...]:
        """One step of eqs. 8-17: projected input (B, 4H) and (h, c, n, m) -> (h, c, n, m).

        ``recurrent_mask`` (B, H), if given, multiplies h_{t-1} before the recurrent
        weights (variational dropout, Gal & Ghahramani 2016).
        """
        return self._step(xp, state, p, recurrent_mask)[0]

    def gates(
        self,
        xp: Tensor,
        state: tuple[Tensor, ...],
        p: Mapping[str, Tensor],
        recurrent_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """The activations of one step, by name, for inspection and plots (the same
        computation as :meth:`step`), each (B, H):

        ``input_gate`` i'_t = exp(i~_t - m_t) and ``forget_gate`` f'_t = exp(log f_t +
        m_{t-1} - m_t), the stabilised exponential gates of eqs. 16, 17 (what multiplies
        the stored c and n; both in [0, 1], since m_t is the larger of the two logs);
        ``cell_input`` z_t (eq. 11); ``output_gate`` o_t (eq. 14); ``cell_state`` c_t and
        ``normalizer`` n_t as stored (scaled by exp(-m_t)); ``stabilizer`` m_t (eq. 15);
        ``output`` h_t = o_t c_t / n_t.

        Example:
            >>> import torch
            >>> spec = sLSTMCellSpec(3, 4, num_heads=2)
            >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
            >>> g = spec.gates(spec.input_projection(torch.randn(2, 3), p), spec.initial_state(2), p)
            >>> sorted(g)[:4], bool(((g["input_gate"] <= 1) & (g["forget_gate"] <= 1)).all())
            (['cell_input', 'cell_state', 'forget_gate', 'input_gate'], True)
        """
        (h, c, n, m), acts = self._step(xp, state, p, recurrent_mask)
        return {"input_gate": acts["i"], "forget_gate": acts["f"], "cell_input": acts["z"],
                "output_gate": acts["o"], "cell_state": c, "normalizer": n, "stabilizer": m, "output": h}

    def _step(self, xp, state, p, recurrent_mask):
        """The step: ``((h, c, n, m), {"i": i'_t, "f": f'_t, "z": z_t, "o": o_t})``."""
        h_prev, c_prev, n_prev, m_prev = state
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        pre = xp + self.recurrent_projection(h_in, p["weight_hh"])
        i_pre, f_pre, z_pre, o_pre = pre.chunk(4, dim=-1)
        log_f = F.logsigmoid(f_pre) if self.forget_gate == "sigmoid" else f_pre
        # the empty memory (n = 0) has m = -inf: m_t = i~_t, f'_t = 0 (module docstring)
        m_prev = torch.where(n_prev == 0, torch.full_like(m_prev, -math.inf), m_prev)
        log_f_m = log_f + m_prev
        m = torch.maximum(log_f_m, i_pre)  # eq. 15
        i_s = torch.exp(i_pre - m)  # eq. 16
        f_s = torch.exp(log_f_m - m)  # eq. 17
        z = torch.tanh(z_pre)  # eq. 11
        c = f_s * c_prev + i_s * z  # eq. 8
        n = f_s * n_prev + i_s  # eq. 9
        o = torch.sigmoid(o_pre)  # eq. 14
        h = o * (c / n)  # eq. 10
        return (h, c, n, m), {"i": i_s, "f": f_s, "z": z, "o": o}

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_heads={self.num_heads}"
        if self.forget_gate != "sigmoid":
            s += f", forget_gate={self.forget_gate!r}"
        if not self.bias:
            s += ", bias=False"
        return s


# ---- xlstm's layout -----------------------------------------------------------------------
# xlstm's sLSTMCell exposes backend-independent ("external") views of its parameters:
# recurrent_kernel (N, d_in, 4, d_out) -- [k, l, g, j] is the weight from h's unit l of
# head k to gate g's unit j of head k -- and bias (N, 4, d). Its cell input is the
# pre-activation W x_t, (B, T, 4H) gate-major then head-major ("BSGNH"), our xp's layout.


def params_from_xlstm(recurrent_kernel, bias=None) -> dict[str, Tensor]:
    """xlstm sLSTM cell weights (external layout) -> this cell's ``weight_hh`` and ``bias``.

    Args:
        recurrent_kernel: (N, d, 4, d), ``cell.recurrent_kernel[:]`` of an
            ``xlstm.blocks.slstm.cell.sLSTMCell``.
        bias: (N, 4, d), ``cell.bias[:]``, or None.

    Returns:
        dict with ``weight_hh`` (N, 4, d, d) (and ``bias`` (4H,)).

    Example:
        >>> import torch
        >>> p = params_from_xlstm(torch.zeros(2, 3, 4, 3), torch.zeros(2, 4, 3))
        >>> tuple(p["weight_hh"].shape), tuple(p["bias"].shape)
        ((2, 4, 3, 3), (24,))
    """
    r = torch.as_tensor(recurrent_kernel)
    if r.dim() != 4 or r.shape[2] != 4 or r.shape[1] != r.shape[3]:
        raise ValueError(f"recurrent_kernel must have shape (num_heads, d, 4, d), got {tuple(r.shape)}")
    N, d = r.shape[0], r.shape[1]
    out = {"weight_hh": r.detach().permute(0, 2, 3, 1).contiguous()}
    if bias is not None:
        b = torch.as_tensor(bias)
        if tuple(b.shape) != (N, 4, d):
            raise ValueError(f"bias: expected shape ({N}, 4, {d}) to match recurrent_kernel, got {tuple(b.shape)}")
        out["bias"] = b.detach().permute(1, 0, 2).reshape(4 * N * d).contiguous()
    return out


def params_to_xlstm(p: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """This cell's ``weight_hh`` (and ``bias``) -> xlstm's external ``(recurrent_kernel,
    bias)``, shapes (N, d, 4, d) and (N, 4, d); a missing bias becomes zeros.

    Args:
        p: at least ``weight_hh`` (N, 4, d, d); ``bias`` (4H,) if any.

    Example:
        >>> import torch
        >>> spec = sLSTMCellSpec(3, 6, num_heads=2)
        >>> r, b = params_to_xlstm({k: torch.randn(s) for k, s in spec.param_shapes().items()})
        >>> tuple(r.shape), tuple(b.shape)
        ((2, 3, 4, 3), (2, 4, 3))
    """
    w = p["weight_hh"].detach()
    if w.dim() != 4 or w.shape[1] != 4 or w.shape[2] != w.shape[3]:
        raise ValueError(f"weight_hh must have shape (num_heads, 4, d, d), got {tuple(w.shape)}")
    N, d = w.shape[0], w.shape[2]
    r = w.permute(0, 3, 1, 2).contiguous()
    b = p.get("bias")
    if b is None:
        bx = w.new_zeros(N, 4, d)
    else:
        if tuple(b.shape) != (4 * N * d,):
            raise ValueError(f"bias: expected shape ({4 * N * d},) to match weight_hh, got {tuple(b.shape)}")
        bx = b.detach().reshape(4, N, d).permute(1, 0, 2).contiguous()
    return r, bx
