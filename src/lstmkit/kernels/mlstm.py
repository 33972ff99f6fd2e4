"""The mLSTM's parallel and chunkwise forms (Beck et al. 2024, Sec. 2.3 and App. A).

The mLSTM's gates depend on x_t only (no h_{t-1} enters a step), so its recurrence
unrolls into closed form. With F_t = Σ_{r≤t} log f_r the cumulative log forget gate
and ĩ_s the input gate's pre-activation, the unnormalised memory read at step t is

    C_t q_t = e^{F_t} C_0 q_t + Σ_{s≤t} e^{ĩ_s + F_t − F_s} (k_s·q_t) v_s

(and n_t·q_t likewise with v_s → 1, C_0 → n_0): the **parallel form** is that sum as
an attention-like (T x T) matrix D_{ts} = exp(ĩ_s + F_t − F_s) (s ≤ t) times q_t·k_s,
stabilised row by row by m_t = max(m_0 + F_t, max_s log D_{ts}) — exactly the
recurrent form's stabiliser m_t, so both forms divide by the same
max{|n_t·q_t|, exp(−m_t)} + ε and agree to rounding (not only up to ε).

The **chunkwise form** cuts time into chunks of L steps (as few chunks of at most
``chunk_size`` steps as cover T, of equal length, so that little padding is computed): the parallel form inside each
chunk (a (L x L) matrix per chunk, all chunks in one batched product) and the
recurrence across them (one d x d memory per chunk boundary). Its memory is linear in T
(B·NH·T·(L + d) numbers plus B·NH·(T/L)·d² for the boundary memories) where the
parallel form's is quadratic. The parallel form is the chunkwise form with one chunk.

Lengths are served by gates: past a sequence's end the input gate is 0 (ĩ = −∞) and
the forget gate 1 (log f = 0), which holds C, n and m exactly (f' = 1, i' = 0), as the
reference loop holds them; outputs there are zero. A reverse direction runs on the
time-flipped input.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..cells.mlstm import mLSTMCellSpec
from . import RunConfig, Runner, backend

__all__ = ["mlstm_parallel", "mlstm_chunkwise", "mLSTMRunner", "plan_mlstm"]


def _check(spec, x: Tensor, state) -> tuple[Tensor, ...]:
    if not isinstance(spec, mLSTMCellSpec):
        raise TypeError(f"spec must be an mLSTMCellSpec, got {type(spec).__name__}")
    if not isinstance(x, Tensor) or x.dim() != 3:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a time-major (T, B, I) tensor, got {got}")
    spec.check_input_shape(tuple(x.shape[2:]))
    B = x.shape[1]
    if state is None:
        return spec.initial_state(B, dtype=x.dtype, device=x.device)
    state = tuple(state)
    shapes = spec.state_shapes()
    if len(state) != len(shapes):
        raise ValueError(f"state must have {len(shapes)} entries {spec.state_names}, got {len(state)}")
    for name, t, shape in zip(spec.state_names, state, shapes):
        if not isinstance(t, Tensor) or tuple(t.shape) != (B, *shape):
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"state entry {name} must have shape {(B, *shape)}, got {got}")
    return state


def _run(spec: mLSTMCellSpec, params, x: Tensor, state, lengths, reverse: bool, chunk: int):
    """Both forms: chunks of ``chunk`` steps (``chunk >= T``: the parallel form)."""
    T, B = x.shape[0], x.shape[1]
    NH, d, eps = spec.num_heads, spec.head_size, spec.eps
    valid = None
    if lengths is not None:
        valid = torch.arange(T, device=x.device)[:, None] < lengths.to(x.device)[None, :]  # (T, B)
    if reverse:
        x = x.flip(0)
        if valid is not None:
            valid = valid.flip(0)
    q, k, v, i_pre, log_f, o_pre = spec.split(spec.input_projection(x, params))
    if valid is not None:
        # past a sequence's end: input gate 0, forget gate 1 -> C, n, m held exactly
        vh = valid[..., None]
        i_pre = torch.where(vh, i_pre, torch.full_like(i_pre, -float("inf")))
        log_f = torch.where(vh, log_f, torch.zeros_like(log_f))
    _, C0, n0, m0 = state

    # as few chunks of at most `chunk` steps as cover T, all of the same length: T = 100
    # with chunk 64 runs 2 chunks of 50 (not 64 + 36 padded to 128: 25% less work)
    NC = -(-T // max(1, min(chunk, T)))
    L = -(-T // NC)
    pad = NC * L - T
    # (T, B, NH, ...) -> (B, NH, NC, L, ...)
    def chunks(t: Tensor, fill: float) -> Tensor:
        if pad:
            t = torch.cat([t, t.new_full((pad, *t.shape[1:]), fill)], 0)
        t = t.reshape(NC, L, *t.shape[1:])
        return t.permute(2, 3, 0, 1, *range(4, t.dim())) if t.dim() > 4 else t.permute(2, 3, 0, 1)

    q, k, v = chunks(q, 0.0), chunks(k, 0.0), chunks(v, 0.0)  # (B, NH, NC, L, d)
    i_pre, log_f = chunks(i_pre, -float("inf")), chunks(log_f, 0.0)  # (B, NH, NC, L)

    Fc = log_f.cumsum(-1)  # F within each chunk, (B, NH, NC, L)
    F_end = Fc[..., -1]  # (B, NH, NC)
    # each step's log weight at its chunk's end, stabilised per chunk
    a = i_pre + F_end[..., None] - Fc
    m_loc = a.amax(-1)  # (B, NH, NC); -inf for a chunk with no valid step
    m_loc_safe = torch.where(torch.isfinite(m_loc), m_loc, torch.zeros_like(m_loc))
    w = torch.exp(a - m_loc_safe[..., None])[..., None]  # (B, NH, NC, L, 1)
    kv = (v * w).transpose(-1, -2) @ k  # Σ_s w_s v_s k_s^T, (B, NH, NC, d, d)
    ksum = (k * w).sum(-2)  # (B, NH, NC, d)

    # the recurrence across chunks: the state entering each chunk
    C_in, n_in, m_in = [], [], []
    C, n, m = C0, n0, m0
    for c in range(NC):
        C_in.append(C)
        n_in.append(n)
        m_in.append(m)
        m_new = torch.maximum(F_end[..., c] + m, m_loc[..., c])
        g_old = torch.exp(F_end[..., c] + m - m_new)
        g_new = torch.exp(m_loc[..., c] - m_new)
        C = g_old[..., None, None] * C + g_new[..., None, None] * kv[:, :, c]
        n = g_old[..., None] * n + g_new[..., None] * ksum[:, :, c]
        m = m_new
    C_in = torch.stack(C_in, 2)  # (B, NH, NC, d, d)
    n_in = torch.stack(n_in, 2)  # (B, NH, NC, d)
    m_in = torch.stack(m_in, 2)  # (B, NH, NC)

    # inside each chunk: the parallel form, with the entering state as step 0
    causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
    log_D = Fc[..., :, None] - Fc[..., None, :] + i_pre[..., None, :]  # (B, NH, NC, L, L)
    log_D = torch.where(causal, log_D, torch.full_like(log_D, -float("inf")))
    g = m_in[..., None] + Fc  # log weight of the entering state, (B, NH, NC, L)
    m_t = torch.maximum(g, log_D.amax(-1))  # = the recurrent form's m_t
    D = torch.exp(log_D - m_t[..., None])
    g = torch.exp(g - m_t)[..., None]  # (B, NH, NC, L, 1)
    S = (q @ k.transpose(-1, -2)) * D  # (B, NH, NC, L, L)
    num = S @ v + g * (q @ C_in.transpose(-1, -2))  # C_t q_t, (B, NH, NC, L, d)
    qn = S.sum(-1, keepdim=True) + g * (q * n_in[..., None, :]).sum(-1, keepdim=True)
    den = torch.maximum(qn.abs(), torch.exp(-m_t)[..., None]) + eps
    h_tilde = num / den  # (B, NH, NC, L, d)
    # -> (T, B, H)
    h_tilde = h_tilde.permute(2, 3, 0, 1, 4).reshape(NC * L, B, NH * d)[:T]
    out = torch.sigmoid(o_pre) * h_tilde

    if valid is not None:
        out = out * valid[..., None].to(out.dtype)
        # h after each sequence's own last step: index len-1 forwards; the last flipped step in reverse
        last = (lengths.to(x.device).long() - 1) if not reverse else torch.full((B,), T - 1, device=x.device)
        h = out.gather(0, last.view(1, B, 1).expand(1, B, out.shape[-1])).squeeze(0)
    else:
        h = out[-1]
    if reverse:
        out = out.flip(0)
    return out, (h, C, n, m)


def mlstm_parallel(spec: mLSTMCellSpec, params, x: Tensor, state: Sequence[Tensor] | None = None, *,
                   lengths: Tensor | None = None, reverse: bool = False):
    """The mLSTM's parallel (attention-like, stabilised) form: one (T x T) decay matrix per
    sequence and head, memory quadratic in T. Same arguments and result as
    :func:`lstmkit.recurrent.run_recurrence` (``(output, (h, C, n, m))``).

    Args:
        spec: the cell (:class:`~lstmkit.cells.mlstm.mLSTMCellSpec`).
        params: ``weight_ih`` (and ``bias_ih``) by short name.
        x: (T, B, I) inputs, time-major.
        state: (h, C, n, m), each (B, ...) as ``spec.state_shapes()``; zeros if None.
        lengths: optional (B,) ints, 1 <= lengths <= T.
        reverse: run from each sequence's last valid step to its first.

    Example:
        >>> import torch
        >>> from lstmkit.cells.mlstm import mLSTMCellSpec
        >>> from lstmkit.recurrent import run_recurrence
        >>> spec = mLSTMCellSpec(3, 8, num_heads=2)
        >>> p = {k: torch.randn(s) * 0.5 for k, s in spec.param_shapes().items()}
        >>> x = torch.randn(6, 2, 3)
        >>> out, state = mlstm_parallel(spec, p, x)
        >>> ref, _ = run_recurrence(spec, p, x, spec.initial_state(2))
        >>> bool(torch.allclose(out, ref, atol=1e-5))
        True
    """
    state = _check(spec, x, state)
    return _run(spec, params, x, state, lengths, reverse, x.shape[0])


def mlstm_chunkwise(spec: mLSTMCellSpec, params, x: Tensor, state: Sequence[Tensor] | None = None, *,
                    chunk_size: int | None = None, lengths: Tensor | None = None, reverse: bool = False):
    """The mLSTM's chunkwise form: parallel inside chunks of ``chunk_size`` steps, recurrent
    across them; memory linear in T. Same result as :func:`mlstm_parallel` and
    :func:`lstmkit.recurrent.run_recurrence`.

    Args:
        spec, params, x, state, lengths, reverse: as :func:`mlstm_parallel`.
        chunk_size: steps per chunk (default: ``spec.chunk_size``); T need not be a
            multiple of it.

    Example:
        >>> import torch
        >>> from lstmkit.cells.mlstm import mLSTMCellSpec
        >>> spec = mLSTMCellSpec(3, 8, num_heads=2)
        >>> p = {k: torch.randn(s) * 0.5 for k, s in spec.param_shapes().items()}
        >>> x = torch.randn(50, 2, 3)
        >>> a, _ = mlstm_chunkwise(spec, p, x, chunk_size=16)
        >>> b, _ = mlstm_parallel(spec, p, x)
        >>> bool(torch.allclose(a, b, atol=1e-5))
        True
    """
    if chunk_size is None:
        chunk_size = spec.chunk_size if isinstance(spec, mLSTMCellSpec) else 64
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    state = _check(spec, x, state)
    return _run(spec, params, x, state, lengths, reverse, chunk_size)


class mLSTMRunner(Runner):
    """The mLSTM's runner: the parallel form for sequences of at most ``spec.chunk_size``
    steps, the chunkwise form beyond. It declines (the reference loop runs) single steps
    (streaming: one step of the loop is the cheapest) and ``LSTMKIT_BACKEND=reference``.

    Example:
        >>> import torch
        >>> from lstmkit.cells.mlstm import mLSTMCellSpec
        >>> spec = mLSTMCellSpec(3, 8, num_heads=2)
        >>> p = {k: torch.randn(s) for k, s in spec.param_shapes().items()}
        >>> out, (h, C, n, m) = mLSTMRunner(spec)(p, torch.randn(9, 2, 3), spec.initial_state(2))
        >>> tuple(out.shape), tuple(C.shape)
        ((9, 2, 8), (2, 2, 4, 4))
    """

    def __call__(self, params, x, state, lengths=None, reverse=False):
        if x.shape[0] <= 1 or backend() == "reference":
            return None
        return _run(self.spec, params, x, tuple(state), lengths, reverse, self.spec.chunk_size)


def plan_mlstm(spec, config: RunConfig) -> Runner | None:
    """The mLSTM family's planner: an :class:`mLSTMRunner` unless zoneout is active or a
    recurrent mask will be given (the reference loop then runs, and refuses the mask).
    The 1997 truncated gradient changes nothing for an mLSTM (h_{t-1} enters no step)."""
    if config.recurrent_mask or config.zoneout:
        return None
    return mLSTMRunner(spec)
