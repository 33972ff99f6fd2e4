"""One time step of the mLSTM of xLSTM (Beck et al. 2024, Sec. 2.3): a matrix memory.

Per head (``num_heads`` heads of size d = H / num_heads), with ``⊙`` the element-wise
product, σ the logistic sigmoid and x_t the input at step t:

.. math::
    C_t &= f_t\\, C_{t-1} + i_t\\, v_t k_t^\\top                            &(19)\\\\
    n_t &= f_t\\, n_{t-1} + i_t\\, k_t                                    &(20)\\\\
    h_t &= o_t \\odot \\tilde h_t,\\quad
           \\tilde h_t = C_t q_t / \\max\\{|n_t^\\top q_t|, 1\\}              &(21)\\\\
    q_t &= W_q x_t + b_q                                                  &(22)\\\\
    k_t &= \\tfrac{1}{\\sqrt d}\\,(W_k x_t + b_k)                            &(23)\\\\
    v_t &= W_v x_t + b_v                                                  &(24)\\\\
    i_t &= \\exp(\\tilde i_t),\\quad \\tilde i_t = w_i^\\top x_t + b_i        &(25)\\\\
    f_t &= \\sigma(\\tilde f_t)\\ \\text{or}\\ \\exp(\\tilde f_t),\\quad
           \\tilde f_t = w_f^\\top x_t + b_f                                 &(26)\\\\
    o_t &= \\sigma(\\tilde o_t),\\quad \\tilde o_t = W_o x_t + b_o            &(27)

C_t is d x d, n_t a d-vector, i_t and f_t are scalars per head; o_t and h_t have all H
units (the heads concatenated). Nothing of h_{t-1} enters step t: the mLSTM has no
recurrent weights (no memory mixing), which is what makes its parallel form possible.

Stabilisation (the paper's App. A, as the reference package ``xlstm`` does it): the
state keeps the stabiliser m_t and C, n scaled by exp(-m_t):

.. math::
    m_t &= \\max(\\log f_t + m_{t-1},\\ \\tilde i_t)\\\\
    i'_t &= \\exp(\\tilde i_t - m_t),\\quad f'_t = \\exp(\\log f_t + m_{t-1} - m_t)\\\\
    C_t &= f'_t C_{t-1} + i'_t v_t k_t^\\top,\\quad n_t = f'_t n_{t-1} + i'_t k_t\\\\
    \\tilde h_t &= C_t q_t / (\\max\\{|n_t^\\top q_t|, \\exp(-m_t)\\} + \\varepsilon)

which equals eq. 21 for every m (the exp(-m_t) factors cancel) except for the small
ε (1e-6, as ``xlstm``) that keeps the division safe. The zero state has m_0 = 0.
The scale 1/√d of eq. 23 applies to the bias too, as in ``xlstm`` (the paper writes it
on W_k only; the two differ by a reparametrisation of b_k).

Parameter layout (short names; the layer module adds ``_l{k}`` and ``_reverse``): one
input projection, rows in the equations' order

=================  =======================  =========================================
name               shape                    rows
=================  =======================  =========================================
``weight_ih``      (4*H + 2*NH, I)          W_q (H), W_k (H), W_v (H), w_i (NH),
                                            w_f (NH), W_o (H)
``bias_ih``        (4*H + 2*NH,)            b_q, b_k, b_v, b_i, b_f, b_o
=================  =======================  =========================================

State entries (B = batch): h (B, H), C (B, NH, d, d), n (B, NH, d), m (B, NH).
C is the paper's C (``C_t q_t`` reads it); ``xlstm``'s ``c_state`` is its transpose.
The parallel and chunkwise forms of the same cell are runners
(:mod:`lstmkit.kernels.mlstm`).
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import CellSpec

__all__ = ["mLSTMCellSpec", "FORGET_GATES", "xlstm_inputs", "state_to_xlstm", "state_from_xlstm"]

#: the forget gate's activations (eq. 26)
FORGET_GATES = ("sigmoid", "exp")


class mLSTMCellSpec(CellSpec):
    """The one-step math of the mLSTM cell (Beck et al. 2024, Sec. 2.3, eqs. 19-27).

    See the module docstring for the equations, the stabilisation and the layout.

    Args:
        input_size: I, features of x_t.
        hidden_size: H, units of h (num_heads * d).
        num_heads: NH, heads; each has a d x d memory, d = H / NH.
        bias: whether ``bias_ih`` exists.
        forget_gate: ``"sigmoid"`` (default, as ``xlstm``) or ``"exp"`` (eq. 26).
        eps: added to the normaliser of eq. 21 (1e-6 as ``xlstm``).
        chunk_size: the chunk length of the chunkwise runner (the kernels' choice of
            how to compute, not the math: every chunk size gives the same numbers).

    Example:
        >>> import torch
        >>> from lstmkit.cells.mlstm import mLSTMCellSpec
        >>> spec = mLSTMCellSpec(3, 8, num_heads=2)
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> xp = spec.input_projection(torch.randn(5, 4, 3), p)   # (T, B, 4H + 2NH)
        >>> h, C, n, m = spec.step(xp[0], spec.initial_state(4), p)
        >>> tuple(h.shape), tuple(C.shape), tuple(n.shape), tuple(m.shape)
        ((4, 8), (4, 2, 4, 4), (4, 2, 4), (4, 2))
    """

    state_names = ("h", "C", "n", "m")
    feature_axes = 1
    side_inputs: tuple[str, ...] = ()

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_heads: int = 4,
        bias: bool = True,
        forget_gate: str = "sigmoid",
        eps: float = 1e-6,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(input_size, hidden_size, bias)
        if isinstance(num_heads, bool) or not isinstance(num_heads, int):
            raise TypeError(f"num_heads must be an int, got {type(num_heads).__name__} {num_heads!r}")
        if num_heads < 1:
            raise ValueError(f"num_heads must be a positive int, got {num_heads}")
        if hidden_size % num_heads:
            raise ValueError(
                f"hidden_size must be a multiple of num_heads (each head has d = hidden_size / num_heads "
                f"units), got hidden_size={hidden_size}, num_heads={num_heads}"
            )
        if forget_gate not in FORGET_GATES:
            raise ValueError(f"forget_gate must be one of {FORGET_GATES}, got {forget_gate!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (0.0 <= eps < 1.0):
            raise ValueError(f"eps must be a float in [0, 1), got {eps!r}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.forget_gate = forget_gate
        self.eps = float(eps)
        self.chunk_size = chunk_size

    # ---- layout ---------------------------------------------------------------------
    @property
    def projection_size(self) -> int:
        """Rows of ``weight_ih``: 4*H + 2*NH (q, k, v, i, f, o)."""
        return 4 * self.hidden_size + 2 * self.num_heads

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (self.projection_size, self.input_size)}
        if self.bias:
            shapes["bias_ih"] = (self.projection_size,)
        return shapes

    def state_shapes(self, input_shape=None) -> tuple[tuple[int, ...], ...]:
        """((H,), (NH, d, d), (NH, d), (NH,)) for h, C, n, m."""
        if input_shape is not None:
            self.check_input_shape(tuple(input_shape))
        H, NH, d = self.hidden_size, self.num_heads, self.head_size
        return ((H,), (NH, d, d), (NH, d), (NH,))

    def state_sizes(self) -> tuple[int, ...]:
        raise TypeError(
            "an mLSTM's state holds matrices (C: (num_heads, d, d)), not only vectors: use "
            "state_shapes() instead of state_sizes()"
        )

    @property
    def output_size(self) -> int:
        """Units of the emitted output h (H)."""
        return self.hidden_size

    def reset_parameters(self, p: Mapping[str, Tensor]) -> None:
        """``xlstm``'s initialisation: q, k, v, o weights N(0, 2 / (5 I)) (its small_init),
        input- and forget-gate weights zero, b_i ~ N(0, 0.1²), b_f spread over the heads
        from 3 to 6 (long memory at the start), every other bias zero."""
        H, NH = self.hidden_size, self.num_heads
        w = p["weight_ih"]
        std = math.sqrt(2.0 / (5.0 * self.input_size))
        with torch.no_grad():
            w.normal_(0.0, std)
            w[3 * H:3 * H + 2 * NH].zero_()
            if "bias_ih" in p:
                b = p["bias_ih"]
                b.zero_()
                b[3 * H:3 * H + NH].normal_(0.0, 0.1)
                b[3 * H + NH:3 * H + 2 * NH].copy_(torch.linspace(3.0, 6.0, NH) if NH > 1 else torch.tensor([3.0]))

    # ---- math -----------------------------------------------------------------------
    def input_projection(self, x: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        """The pre-activations of eqs. 22-27 for every step at once: (..., I) -> (..., 4H + 2NH)."""
        return F.linear(x, p["weight_ih"], p.get("bias_ih"))

    def split(self, xp: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Projected inputs (..., 4H + 2NH) -> q, k, v (..., NH, d) (k scaled by 1/√d, eq. 23),
        ĩ, log f (..., NH) (eqs. 25, 26), õ (..., H) (eq. 27, before the sigmoid)."""
        H, NH, d = self.hidden_size, self.num_heads, self.head_size
        lead = xp.shape[:-1]
        q, k, v, i_pre, f_pre, o_pre = xp.split((H, H, H, NH, NH, H), dim=-1)
        q = q.reshape(*lead, NH, d)
        k = k.reshape(*lead, NH, d) / math.sqrt(d)
        v = v.reshape(*lead, NH, d)
        log_f = F.logsigmoid(f_pre) if self.forget_gate == "sigmoid" else f_pre
        return q, k, v, i_pre, log_f, o_pre

    def step(
        self,
        xp: Tensor,
        state: tuple[Tensor, ...],
        p: Mapping[str, Tensor],
        recurrent_mask: Tensor | None = None,
        side=None,
    ) -> tuple[Tensor, ...]:
        """One stabilised step of eqs. 19-27: projected input (B, 4H + 2NH) and
        (h, C, n, m) -> (h, C, n, m).

        Raises:
            ValueError: a ``recurrent_mask`` is given (h_{t-1} enters no weight of the
                mLSTM, so variational recurrent dropout has nothing to act on).
        """
        if recurrent_mask is not None:
            raise ValueError(
                "recurrent_mask: the mLSTM has no recurrent weights (h_{t-1} does not enter the "
                "step), so a recurrent (variational) dropout mask has nothing to act on"
            )
        return self._step(xp, state)[0]

    def gates(self, xp: Tensor, state: tuple[Tensor, ...], p: Mapping[str, Tensor],
              recurrent_mask: Tensor | None = None) -> dict[str, Tensor]:
        """The activations of one step, by name, for inspection and plots (the same
        computation as :meth:`step`):

        per head (B, NH): ``input_gate`` i'_t = exp(i~_t - m_t) and ``forget_gate``
        f'_t = exp(log f_t + m_{t-1} - m_t), the stabilised scalar gates (both in [0, 1]);
        ``memory_norm``, the Frobenius norm ||C_t|| of each head's d x d memory as stored
        (scaled by exp(-m_t)); ``stabilizer`` m_t. Per unit (B, H): ``output_gate`` o_t
        (eq. 27); ``normalizer`` n_t as stored (the heads' d-vectors concatenated);
        ``output`` h_t.

        Example:
            >>> import torch
            >>> spec = mLSTMCellSpec(3, 8, num_heads=2)
            >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
            >>> g = spec.gates(spec.input_projection(torch.randn(5, 3), p), spec.initial_state(5), p)
            >>> tuple(g["input_gate"].shape), tuple(g["output_gate"].shape), tuple(g["memory_norm"].shape)
            ((5, 2), (5, 8), (5, 2))
        """
        if recurrent_mask is not None:
            self.step(xp, state, p, recurrent_mask)  # the step's own error
        (h, C, n, m), acts = self._step(xp, state)
        return {"input_gate": acts["i"], "forget_gate": acts["f"], "output_gate": acts["o"],
                "memory_norm": torch.linalg.matrix_norm(C), "normalizer": n.flatten(-2), "stabilizer": m,
                "output": h}

    def _step(self, xp: Tensor, state: tuple[Tensor, ...]):
        """The step: ``((h, C, n, m), {"i": i'_t, "f": f'_t (B, NH), "o": o_t (B, H)})``."""
        _, C, n, m = state
        q, k, v, i_pre, log_f, o_pre = self.split(xp)
        m_new = torch.maximum(log_f + m, i_pre)  # (B, NH)
        f_act = torch.exp(log_f + m - m_new)
        i_act = torch.exp(i_pre - m_new)
        C_new = f_act[..., None, None] * C + i_act[..., None, None] * (v[..., :, None] * k[..., None, :])
        n_new = f_act[..., None] * n + i_act[..., None] * k
        num = (C_new @ q[..., None]).squeeze(-1)  # C_t q_t, (B, NH, d)
        qn = (n_new * q).sum(-1)  # n_t^T q_t, (B, NH)
        den = torch.maximum(qn.abs(), torch.exp(-m_new)) + self.eps
        h_tilde = (num / den[..., None]).flatten(-2)
        o = torch.sigmoid(o_pre)
        h = o * h_tilde
        return (h, C_new, n_new, m_new), {"i": i_act, "f": f_act, "o": o}

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_heads={self.num_heads}"
        if self.forget_gate != "sigmoid":
            s += f", forget_gate={self.forget_gate!r}"
        if not self.bias:
            s += ", bias=False"
        return s


# ---- the reference package's layout (``xlstm``, NX-AI) -------------------------------------
def xlstm_inputs(spec: mLSTMCellSpec, params: Mapping[str, Tensor], x: Tensor) -> dict[str, Tensor]:
    """This cell's projections of ``x`` in the layout of ``xlstm``'s mLSTM backends
    (``parallel_stabilized_simple``, ``recurrent_step_stabilized_simple``).

    ``xlstm`` scales the keys by 1/√d itself, so ``keys`` are returned unscaled; its
    forget gate is the sigmoid (``spec.forget_gate`` must be ``"sigmoid"``). The output
    gate is not part of those backends: h_t = σ(ogate_preact) ⊙ h̃_t (heads concatenated).

    Args:
        spec: the cell; params: its ``weight_ih`` (``bias_ih``); x: (T, B, I) time-major.

    Returns:
        ``queries``, ``keys``, ``values`` (B, NH, T, d), ``igate_preact``,
        ``fgate_preact`` (B, NH, T, 1), ``ogate_preact`` (T, B, H).

    Example:
        >>> import torch
        >>> spec = mLSTMCellSpec(3, 8, num_heads=2)
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> a = xlstm_inputs(spec, p, torch.randn(5, 4, 3))
        >>> tuple(a["queries"].shape), tuple(a["igate_preact"].shape)
        ((4, 2, 5, 4), (4, 2, 5, 1))
    """
    if spec.forget_gate != "sigmoid":
        raise ValueError(f"xlstm's mLSTM backends use a sigmoid forget gate; spec.forget_gate is {spec.forget_gate!r}")
    H, NH, d = spec.hidden_size, spec.num_heads, spec.head_size
    xp = spec.input_projection(x, params)
    T, B = xp.shape[0], xp.shape[1]
    q, k, v, i_pre, f_pre, o_pre = xp.split((H, H, H, NH, NH, H), dim=-1)

    def heads(t: Tensor) -> Tensor:  # (T, B, NH*d) -> (B, NH, T, d)
        return t.reshape(T, B, NH, -1).permute(1, 2, 0, 3)

    return {"queries": heads(q), "keys": heads(k), "values": heads(v), "igate_preact": heads(i_pre),
            "fgate_preact": heads(f_pre), "ogate_preact": o_pre}


def state_to_xlstm(state: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
    """(h, C, n, m) -> ``xlstm``'s ``(c_state, n_state, m_state)``: C transposed
    (B, NH, d, d), n (B, NH, d, 1), m (B, NH, 1, 1).

    Example:
        >>> spec = mLSTMCellSpec(3, 8, num_heads=2)
        >>> [tuple(t.shape) for t in state_to_xlstm(spec.initial_state(5))]
        [(5, 2, 4, 4), (5, 2, 4, 1), (5, 2, 1, 1)]
    """
    _, C, n, m = state
    return C.transpose(-1, -2), n[..., None], m[..., None, None]


def state_from_xlstm(h: Tensor, c_state: Tensor, n_state: Tensor, m_state: Tensor) -> tuple[Tensor, ...]:
    """``xlstm``'s state (and this cell's h (B, H)) -> (h, C, n, m), the inverse of
    :func:`state_to_xlstm`.

    Example:
        >>> spec = mLSTMCellSpec(3, 8, num_heads=2)
        >>> s = spec.initial_state(5)
        >>> [tuple(t.shape) for t in state_from_xlstm(s[0], *state_to_xlstm(s))]
        [(5, 8), (5, 2, 4, 4), (5, 2, 4), (5, 2)]
    """
    return h, c_state.transpose(-1, -2), n_state[..., 0], m_state[..., 0, 0]
