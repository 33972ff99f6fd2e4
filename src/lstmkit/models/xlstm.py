"""xLSTM blocks, stacks and a language model (Beck et al. 2024, "xLSTM", Sec. 2.4, Fig. 10/11).

Two residual blocks wrap the family's cells, each ``x + f(LayerNorm(x))`` (pre-LayerNorm):

- :class:`sLSTMBlock` (Fig. 10, *post up-projection*): a causal depthwise convolution
  (kernel 4) and swish feed the input and forget gates, the cell input z and the output
  gate read the normalised input directly (all four through head-wise, block-diagonal
  projections); an sLSTM with heads (:mod:`lstmkit.cells.slstm`); group norm per head;
  then a second residual branch, a gated MLP (GeLU) with projection factor 4/3.
- :class:`mLSTMBlock` (Fig. 11, *pre up-projection*): the input is projected up by a
  factor 2 into two branches; the left one goes through a causal convolution and swish
  to give q and k (head-wise projections with blocks of 4), v is projected from the
  un-convolved left branch; the mLSTM (:mod:`lstmkit.cells.mlstm`, its chunkwise form)
  reads them, a group norm per head follows, a learnable skip adds the convolved branch
  back, the right branch gates the result through swish (the block's output gate), and
  a linear map projects down.

:class:`xLSTMStack` stacks them with the paper's ``[m:s]`` notation (xLSTM[1:0] is
mLSTM-only, xLSTM[0:1] sLSTM-only, xLSTM[7:1] one sLSTM block in every 8) and a final
LayerNorm; :class:`xLSTMLanguageModel` adds a token embedding and a (tied) output layer;
:class:`xLSTMSequenceModel` reads a stack out per step or at each sequence's end (the
classic tasks' interface). ``from_xlstm`` / ``to_xlstm`` convert every block, stack and
language model from and to the reference package ``xlstm`` (NX-AI), whose CPU paths
(the sLSTM's ``vanilla`` backend, the mLSTM's ``parallel_stabilized_simple``) compute
the same numbers.

Layout: time-major (T, B, D) like every lstmkit module (``batch_first=True`` for
(B, T, D)). Every operation is causal, so the output at step t depends on steps <= t
only: padding after a sequence's end changes none of its outputs.
"""

from __future__ import annotations

import math
import re
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells.mlstm import mLSTMCellSpec
from ..cells.slstm import sLSTMCellSpec
from ..kernels import backend
from ..kernels.mlstm import mlstm_chunkwise
from ..kernels.slstm import sLSTMRunner
from ..layers import portable
from ..layers.portable import traced_recurrence
from ..recurrent import run_recurrence

__all__ = ["sLSTMBlock", "mLSTMBlock", "xLSTMStack", "xLSTMLanguageModel", "xLSTMSequenceModel",
           "parse_ratio", "block_map", "parse_xlstm_name", "proj_up_size", "powerlaw_forget_bias"]

_XLSTM_HINT = "the xlstm package is needed: pip install --no-deps xlstm (its CPU paths need only torch)"


def _xlstm():
    try:
        import xlstm  # noqa: F401
    except ImportError as e:
        raise ImportError(_XLSTM_HINT) from e
    return xlstm


# ---- small helpers -------------------------------------------------------------------------
def _pos_int(name: str, v, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, got {type(v).__name__} {v!r}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def _rate(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1), got {v!r}")
    return float(v)


def proj_up_size(dim: int, factor: float, multiple_of: int = 64) -> int:
    """The up-projected size: ``factor * dim`` rounded up to a multiple of ``multiple_of``
    (the reference package's rule; ``multiple_of=1`` keeps ``ceil(factor * dim)``).

    Args:
        dim: D, the embedding size. factor: the projection factor (2 for the mLSTM
            block, 4/3 for the sLSTM block's MLP). multiple_of: the rounding.

    Example:
        >>> proj_up_size(32, 2.0), proj_up_size(32, 4 / 3), proj_up_size(48, 4 / 3, multiple_of=8)
        (64, 64, 64)
    """
    _pos_int("dim", dim)
    _pos_int("multiple_of", multiple_of)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
        raise ValueError(f"factor must be a positive number, got {factor!r}")
    return int(math.ceil(factor * dim / multiple_of - 1e-9) * multiple_of)


def powerlaw_forget_bias(head_size: int, block_index: int = 0, num_blocks: int = 1) -> Tensor:
    """The sLSTM block's forget-gate bias of one head: b_j = 5 - 12 (j / (d-1)) ** p with
    p = 0.3 + 1.3 * block_index / (num_blocks - 1) (the reference package's
    ``powerlaw_blockdependent``: deeper blocks start with longer memories).

    Args:
        head_size: d. block_index: this block's position in the stack. num_blocks: blocks.

    Example:
        >>> [round(v, 2) for v in powerlaw_forget_bias(3).tolist()]
        [5.0, -4.75, -7.0]
    """
    _pos_int("head_size", head_size)
    _pos_int("num_blocks", num_blocks)
    _pos_int("block_index", block_index, 0)
    ratio = block_index / (num_blocks - 1) if num_blocks > 1 else 0.0
    j = torch.arange(head_size, dtype=torch.float64)
    r = j / (head_size - 1) if head_size > 1 else torch.zeros_like(j)
    return (5.0 - 12.0 * r ** (0.3 + 1.3 * ratio)).float()


class _Headwise(nn.Module):
    """A block-diagonal linear map: the features split into ``num_heads`` groups, each
    mapped by its own (out/heads x in/heads) matrix. ``weight`` (heads, out_h, in_h)."""

    def __init__(self, features: int, num_heads: int, bias: bool = False, out_features: int | None = None) -> None:
        super().__init__()
        out_features = features if out_features is None else out_features
        if features % num_heads or out_features % num_heads:
            raise ValueError(f"features ({features}) must be a multiple of num_heads ({num_heads})")
        self.num_heads = num_heads
        self.weight = nn.Parameter(torch.empty(num_heads, out_features // num_heads, features // num_heads))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.normal_(self.weight, 0.0, math.sqrt(2.0 / (5.0 * self.weight.shape[-1])))

    def forward(self, x: Tensor) -> Tensor:
        lead = list(x.shape[:-1])
        y = torch.einsum("...hi,hoi->...ho", x.reshape(lead + [self.num_heads, -1]), self.weight).reshape(lead + [-1])
        return y if self.bias is None else y + self.bias


class _CausalConv(nn.Module):
    """Depthwise causal convolution over time, time-major (T, B, F): y_t = b + sum_j
    w_j * x_{t-K+1+j}, zeros (or the carried state: the last K-1 inputs) before the first
    step. ``weight`` (F, 1, K) as torch.nn.Conv1d(F, F, K, groups=F)."""

    def __init__(self, features: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.empty(features, 1, kernel_size))
        self.bias = nn.Parameter(torch.empty(features))
        conv = nn.Conv1d(features, features, kernel_size, groups=features)  # torch's init
        with torch.no_grad():
            self.weight.copy_(conv.weight)
            self.bias.copy_(conv.bias)

    def forward(self, x: Tensor, state: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        B, Fdim = x.size(1), x.size(2)
        K = self.kernel_size
        if state is None:
            state = x.new_zeros([K - 1, B, Fdim])
        full = torch.cat([state, x], 0)  # (K-1+T, B, F)
        y = F.conv1d(full.permute(1, 2, 0), self.weight, self.bias, groups=Fdim)  # (B, F, T)
        # the last K-1 inputs, counted from the end (a traced graph runs any length)
        return y.permute(2, 0, 1), (full[1 - K:] if K > 1 else full[:0])


def _head_norm(x: Tensor, num_heads: int, weight: Tensor, eps: float = 1e-5) -> Tensor:
    """Group norm per head over the last axis (heads contiguous): (..., H) -> (..., H)."""
    lead = list(x.shape[:-1])
    return F.group_norm(x.reshape(-1, x.shape[-1]), num_heads, weight, None, eps).reshape(lead + [-1])


_BlockState = Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]  # (conv, and the cell's four)


def _split_state(state: Optional[_BlockState]) -> Tuple[Optional[Tensor], Optional[List[Tensor]]]:
    """A block's state: the convolution's and the cell's (None, None for a fresh start)."""
    if state is None:
        return None, None
    return state[0], [state[1], state[2], state[3], state[4]]


class _ProjectedsLSTM(sLSTMCellSpec):
    """The sLSTM step fed pre-activations computed by the block (its head-wise gate
    projections): ``input_projection`` only adds the bias."""

    def input_projection(self, x, p):
        return x + p["bias"]


class _ProjectedmLSTM(mLSTMCellSpec):
    """The mLSTM step fed the block's q, k, v and gate pre-activations, (..., 3H + 2NH):
    no projection, and no output gate (the block gates with its other branch)."""

    def input_projection(self, x, p):
        return x

    def split(self, xp):
        H, NH, d = self.hidden_size, self.num_heads, self.head_size
        lead = xp.shape[:-1]
        q, k, v, i_pre, f_pre = xp.split((H, H, H, NH, NH), dim=-1)
        q = q.reshape(*lead, NH, d)
        k = k.reshape(*lead, NH, d) / math.sqrt(d)
        v = v.reshape(*lead, NH, d)
        # sigmoid(+inf) = 1 exactly: the cell's own output gate is the identity here
        return q, k, v, i_pre, F.logsigmoid(f_pre), xp.new_full((), math.inf)


# ---- the blocks ------------------------------------------------------------------------------
class sLSTMBlock(nn.Module):
    r"""The sLSTM block (Beck et al. 2024, Fig. 10): post up-projection, two residual branches.

    .. math::
        u &= \mathrm{LN}(x), \quad c = \mathrm{swish}(\mathrm{conv}_4(u))\\
        \tilde i, \tilde f &= W_i c, W_f c, \quad \tilde z, \tilde o = W_z u, W_o u
            \quad\text{(head-wise, block-diagonal)}\\
        x' &= x + \mathrm{GN}_{\text{heads}}(\mathrm{sLSTM}(\tilde i, \tilde f, \tilde z, \tilde o))\\
        y &= x' + W_{\text{down}}\,(\mathrm{GeLU}(W_g \mathrm{LN}(x')) \odot W_{\text{up}} \mathrm{LN}(x'))

    Args:
        embedding_dim: D, features in and out (the sLSTM's hidden size).
        num_heads: heads of the sLSTM and of the gate projections (divides D).
        conv_kernel: the causal convolution's width (0: no convolution).
        ffn_factor: the gated MLP's projection factor (4/3 in the paper; the reference
            package's default is 1.3), rounded up to ``round_to``; 0: no MLP.
        round_to: rounding of the MLP's width (64 as the reference package).
        dropout: after the sLSTM and after the MLP (training only).
        block_index, num_blocks: position in a stack (for the forget-gate bias, see
            :func:`powerlaw_forget_bias`, and the MLP's output init).
        forget_gate: ``"sigmoid"`` (the paper's and the package's) or ``"exp"``.

    Inputs: ``x`` (T, B, D), ``state`` None or this block's state from a previous call
    (``(conv, h, c, n, m)``: the last K-1 normalised inputs (K-1, B, D) and the sLSTM's
    four (B, D)). Outputs: ``(y (T, B, D), state)``.

    Example:
        >>> import torch
        >>> b = sLSTMBlock(16, num_heads=4)
        >>> y, state = b(torch.randn(7, 2, 16))
        >>> y.shape, len(state)
        (torch.Size([7, 2, 16]), 5)
    """

    kind = "s"

    def __init__(self, embedding_dim: int, num_heads: int = 4, conv_kernel: int = 4, ffn_factor: float = 4 / 3,
                 round_to: int = 64, dropout: float = 0.0, block_index: int = 0, num_blocks: int = 1,
                 forget_gate: str = "sigmoid") -> None:
        super().__init__()
        D = _pos_int("embedding_dim", embedding_dim)
        _pos_int("num_heads", num_heads)
        _pos_int("conv_kernel", conv_kernel, 0)
        if D % num_heads:
            raise ValueError(f"embedding_dim must be a multiple of num_heads, got {D} and {num_heads}")
        self.embedding_dim, self.num_heads = D, num_heads
        self.dropout = _rate("dropout", dropout)
        self.spec = _ProjectedsLSTM(4 * D, D, num_heads, True, forget_gate)
        self._script_config = portable.cell_config(portable.FAMILY_CODES["slstm"], self.spec)  # torch.jit.script's
        self.norm = nn.LayerNorm(D, bias=False)
        self.conv = _CausalConv(D, conv_kernel) if conv_kernel > 0 else None
        self.igate, self.fgate, self.zgate, self.ogate = (_Headwise(D, num_heads) for _ in range(4))
        for m in (self.igate, self.fgate, self.zgate, self.ogate):  # small init on D
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (5.0 * D)))
        d = D // num_heads
        self.weight_hh = nn.Parameter(torch.zeros(num_heads, 4, d, d))
        bias = torch.zeros(4 * D)
        fb = powerlaw_forget_bias(d, block_index, num_blocks).repeat(num_heads)
        bias[D:2 * D] = fb if forget_gate == "sigmoid" else F.logsigmoid(fb)
        self.bias = nn.Parameter(bias)
        self.group_norm_weight = nn.Parameter(torch.ones(D))
        if ffn_factor:
            P = proj_up_size(D, ffn_factor, round_to)
            self.ffn_norm = nn.LayerNorm(D, bias=False)
            self.ffn_up = nn.Linear(D, 2 * P, bias=False)
            self.ffn_down = nn.Linear(P, D, bias=False)
            nn.init.normal_(self.ffn_up.weight, 0.0, math.sqrt(2.0 / (5.0 * D)))
            nn.init.normal_(self.ffn_down.weight, 0.0, 2.0 / num_blocks / math.sqrt(D))
            self.ffn_size = P
        else:
            self.ffn_norm = self.ffn_up = self.ffn_down = None
            self.ffn_size = 0

    def forward(self, x: Tensor, state: Optional[_BlockState] = None) -> Tuple[Tensor, _BlockState]:
        conv_state, cell_state = _split_state(state)
        B = x.size(1)
        u = self.norm(x)
        if self.conv is not None:
            c, conv_state = self.conv(u, conv_state)
            c = F.silu(c)
        else:
            c, conv_state = u, u.new_zeros([0, B, self.embedding_dim])
        xp = torch.cat([self.igate(c), self.fgate(c), self.zgate(u), self.ogate(u)], -1)
        if torch.jit.is_scripting():
            # the portable twins' scripted sLSTM step (layers/portable.py), weight_hh in slot 1
            cfg = self._script_config
            s0 = portable.zero_state(4, xp, cfg) if cell_state is None else cell_state
            h, cell = portable.scan_projected(4, xp + self.bias, s0, [xp.new_zeros([0]), self.weight_hh], cfg, 0.0,
                                              None, False, None, [0.0], False, False, None, False)[:2]
        else:
            h, cell = self._recurrence(xp, cell_state)
        h = F.dropout(h, self.dropout, self.training)
        x = x + _head_norm(h, self.num_heads, self.group_norm_weight)
        if self.ffn_up is not None and self.ffn_norm is not None and self.ffn_down is not None:
            g, up = self.ffn_up(self.ffn_norm(x)).split(self.ffn_size, -1)
            x = x + F.dropout(self.ffn_down(F.gelu(g) * up), self.dropout, self.training)
        return x, (conv_state, cell[0], cell[1], cell[2], cell[3])

    @torch.jit.unused
    def _recurrence(self, xp: Tensor, cell_state: Optional[List[Tensor]]) -> Tuple[Tensor, List[Tensor]]:
        """The sLSTM over the block's pre-activations: the fused sLSTM kernel
        (:class:`lstmkit.kernels.slstm.sLSTMRunner`; the step is the sLSTM's, only the input
        projection differs), the reference loop where it declines, a scripted loop while
        tracing (so that a traced block runs any length)."""
        if cell_state is None:
            cell_state = self.spec.initial_state(xp.shape[1], dtype=xp.dtype, device=xp.device)
        p = {"weight_hh": self.weight_hh, "bias": self.bias}
        if torch.jit.is_tracing():
            h, cell = traced_recurrence(self.spec, p, xp, cell_state)
        else:
            res = sLSTMRunner(self.spec)(p, xp, cell_state)
            h, cell = res if res is not None else run_recurrence(self.spec, p, xp, cell_state)
        return h, list(cell)

    # ---- the reference package ----------------------------------------------------------
    @classmethod
    def from_xlstm(cls, block) -> "sLSTMBlock":
        """The block computing what an ``xlstm`` ``sLSTMBlock`` computes (weights copied).

        The package's sLSTM layer feeds the input gate with its module named ``fgate`` and
        the forget gate with ``igate`` (``i, f = fgate(c), igate(c)``); the conversion
        follows what is computed, not the names. Its LayerNorms hold ``1 + weight``.

        Raises:
            TypeError: ``block`` is not an xlstm sLSTMBlock. ImportError: no xlstm.

        Example:
            >>> b = sLSTMBlock(16, num_heads=4)
            >>> try:
            ...     import xlstm
            ... except ImportError:
            ...     xlstm = None
            >>> if xlstm is not None:
            ...     assert sLSTMBlock.from_xlstm(b.to_xlstm()).num_heads == 4
        """
        _xlstm()
        from xlstm.blocks.slstm.block import sLSTMBlock as XB

        if not isinstance(block, XB):
            raise TypeError(f"block must be an xlstm sLSTMBlock, got {type(block).__name__}")
        layer = block.xlstm
        cfg = layer.config
        ffn = block.ffn
        ours = cls(cfg.embedding_dim, cfg.num_heads, cfg.conv1d_kernel_size, ffn_factor=1.0 if ffn else 0,
                   round_to=1, dropout=cfg.dropout)
        if ffn is not None and ffn.config._proj_up_dim != ours.ffn_size:
            ours._resize_ffn(ffn.config._proj_up_dim)
        from ..cells.slstm import params_from_xlstm

        p = params_from_xlstm(layer.slstm_cell.recurrent_kernel[:], layer.slstm_cell.bias[:])
        with torch.no_grad():
            ours.norm.weight.copy_(block.xlstm_norm.weight_proxy)
            if ours.conv is not None:
                ours.conv.weight.copy_(layer.conv1d.conv.weight)
                ours.conv.bias.copy_(layer.conv1d.conv.bias)
            ours.igate.weight.copy_(layer.fgate.weight)  # sic: the package's "fgate" makes i
            ours.fgate.weight.copy_(layer.igate.weight)
            ours.zgate.weight.copy_(layer.zgate.weight)
            ours.ogate.weight.copy_(layer.ogate.weight)
            ours.weight_hh.copy_(p["weight_hh"])
            ours.bias.copy_(p["bias"])
            ours.group_norm_weight.copy_(layer.group_norm.weight_proxy)
            if ffn is not None:
                ours.ffn_norm.weight.copy_(block.ffn_norm.weight_proxy)
                ours.ffn_up.weight.copy_(ffn.proj_up.weight)
                ours.ffn_down.weight.copy_(ffn.proj_down.weight)
        return ours

    def _resize_ffn(self, P: int) -> None:
        D = self.embedding_dim
        self.ffn_size = P
        self.ffn_up = nn.Linear(D, 2 * P, bias=False)
        self.ffn_down = nn.Linear(P, D, bias=False)

    def to_xlstm(self):
        """An ``xlstm`` ``sLSTMBlock`` (vanilla backend, float32) with this block's weights.

        Raises:
            ValueError: ``forget_gate="exp"`` (the package's sLSTM has a sigmoid forget gate).

        Example: see :meth:`from_xlstm`.
        """
        _xlstm()
        from xlstm.blocks.slstm.block import sLSTMBlock as XB, sLSTMBlockConfig
        from xlstm.blocks.slstm.layer import sLSTMLayerConfig
        from xlstm.components.feedforward import FeedForwardConfig
        from ..cells.slstm import params_to_xlstm

        if self.spec.forget_gate != "sigmoid":
            raise ValueError("to_xlstm needs forget_gate='sigmoid': xlstm's sLSTM has no exponential forget gate")
        D = self.embedding_dim
        ff = None
        if self.ffn_up is not None:
            ff = FeedForwardConfig(proj_factor=self.ffn_size / D, round_proj_up_to_multiple_of=1, act_fn="gelu",
                                   embedding_dim=D, dropout=self.dropout)
        cfg = sLSTMBlockConfig(slstm=sLSTMLayerConfig(embedding_dim=D, num_heads=self.num_heads, backend="vanilla",
                                                      conv1d_kernel_size=self.conv.kernel_size if self.conv else 0,
                                                      dropout=self.dropout),
                               feedforward=ff, _num_blocks=1, _block_idx=0)
        xb = XB(cfg)
        if ff is not None and xb.ffn.config._proj_up_dim != self.ffn_size:
            raise ValueError(f"the package rounds the MLP to {xb.ffn.config._proj_up_dim}, this block has {self.ffn_size}")
        layer = xb.xlstm
        r, b = params_to_xlstm({"weight_hh": self.weight_hh, "bias": self.bias})
        with torch.no_grad():
            xb.xlstm_norm.weight.copy_(self.norm.weight - 1)
            if self.conv is not None:
                layer.conv1d.conv.weight.copy_(self.conv.weight)
                layer.conv1d.conv.bias.copy_(self.conv.bias)
            layer.fgate.weight.copy_(self.igate.weight)
            layer.igate.weight.copy_(self.fgate.weight)
            layer.zgate.weight.copy_(self.zgate.weight)
            layer.ogate.weight.copy_(self.ogate.weight)
            layer.slstm_cell.recurrent_kernel[:] = r
            layer.slstm_cell.bias[:] = b
            layer.group_norm.weight.copy_(self.group_norm_weight - 1)
            if ff is not None:
                xb.ffn_norm.weight.copy_(self.ffn_norm.weight - 1)
                xb.ffn.proj_up.weight.copy_(self.ffn_up.weight)
                xb.ffn.proj_down.weight.copy_(self.ffn_down.weight)
        return xb

    def extra_repr(self) -> str:
        return f"{self.embedding_dim}, num_heads={self.num_heads}, ffn_size={self.ffn_size}"


class mLSTMBlock(nn.Module):
    r"""The mLSTM block (Beck et al. 2024, Fig. 11): pre up-projection, one residual branch.

    .. math::
        [a, r] &= W_{\text{up}} \mathrm{LN}(x) \quad (2 \times \text{inner} = 2 \cdot 2D)\\
        c &= \mathrm{swish}(\mathrm{conv}_4(a)), \quad q, k = W_q c, W_k c, \quad v = W_v a
            \quad\text{(head-wise, blocks of 4)}\\
        \tilde i, \tilde f &= w_{i,f}^\top [q; k; v] + b_{i,f}\\
        \tilde h &= \mathrm{GN}_{\text{heads}}(\mathrm{mLSTM}(q, k, v, \tilde i, \tilde f)) + s \odot c\\
        y &= x + W_{\text{down}} (\tilde h \odot \mathrm{swish}(r))

    Args:
        embedding_dim: D, features in and out.
        num_heads: heads of the mLSTM (divide the inner size).
        proj_factor: the up-projection factor (2 in the paper), rounded up to ``round_to``.
        round_to: rounding of the inner size (64 as the reference package).
        conv_kernel: the causal convolution's width (0: none).
        qkv_blocksize: features per block of the head-wise q, k, v projections.
        bias: biases on the up/down projections and q, k, v.
        dropout: on the block's output (training only).
        num_blocks: blocks in the stack (the down-projection's init).
        chunk_size: the chunkwise form's chunk (speed and memory only).

    Inputs: ``x`` (T, B, D), ``state`` None or ``(conv, h, C, n, m)`` from a previous
    call. Outputs: ``(y (T, B, D), state)``.

    Example:
        >>> import torch
        >>> b = mLSTMBlock(16, num_heads=2, round_to=8)
        >>> y, state = b(torch.randn(9, 3, 16))
        >>> y.shape, b.inner_size, state[2].shape  # C: (B, heads, d, d)
        (torch.Size([9, 3, 16]), 32, torch.Size([3, 2, 16, 16]))
    """

    kind = "m"

    def __init__(self, embedding_dim: int, num_heads: int = 4, proj_factor: float = 2.0, round_to: int = 64,
                 conv_kernel: int = 4, qkv_blocksize: int = 4, bias: bool = False, dropout: float = 0.0,
                 num_blocks: int = 1, chunk_size: int = 64) -> None:
        super().__init__()
        D = _pos_int("embedding_dim", embedding_dim)
        _pos_int("num_heads", num_heads)
        _pos_int("conv_kernel", conv_kernel, 0)
        _pos_int("qkv_blocksize", qkv_blocksize)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
        inner = proj_up_size(D, proj_factor, round_to)
        if inner % num_heads or inner % qkv_blocksize:
            raise ValueError(f"the inner size {inner} (proj_factor * embedding_dim rounded to {round_to}) must be a "
                             f"multiple of num_heads ({num_heads}) and qkv_blocksize ({qkv_blocksize})")
        self.embedding_dim, self.num_heads, self.inner_size = D, num_heads, inner
        self.dropout = _rate("dropout", dropout)
        self.spec = _ProjectedmLSTM(3 * inner + 2 * num_heads, inner, num_heads, False, chunk_size=chunk_size)
        self._script_config = portable.cell_config(portable.FAMILY_CODES["mlstm"], self.spec)  # torch.jit.script's
        self._script_eps = self.spec.eps
        self.norm = nn.LayerNorm(D, bias=False)
        self.proj_up = nn.Linear(D, 2 * inner, bias=bias)
        nb = inner // qkv_blocksize
        self.q_proj, self.k_proj, self.v_proj = (_Headwise(inner, nb, bias) for _ in range(3))
        self.conv = _CausalConv(inner, conv_kernel) if conv_kernel > 0 else None
        self.igate = nn.Linear(3 * inner, num_heads)
        self.fgate = nn.Linear(3 * inner, num_heads)
        self.outnorm_weight = nn.Parameter(torch.ones(inner))
        self.skip = nn.Parameter(torch.ones(inner))
        self.proj_down = nn.Linear(inner, D, bias=bias)
        with torch.no_grad():  # the reference package's initialisation
            small = math.sqrt(2.0 / (5.0 * D))
            for w in (self.proj_up.weight, self.q_proj.weight, self.k_proj.weight, self.v_proj.weight):
                w.normal_(0.0, small)
            self.proj_down.weight.normal_(0.0, 2.0 / num_blocks / math.sqrt(D))
            for m in (self.proj_up, self.proj_down, self.q_proj, self.k_proj, self.v_proj):
                if m.bias is not None:
                    m.bias.zero_()
            self.fgate.weight.zero_()
            self.fgate.bias.copy_(torch.linspace(3.0, 6.0, num_heads))
            self.igate.weight.zero_()
            self.igate.bias.normal_(0.0, 0.1)

    def forward(self, x: Tensor, state: Optional[_BlockState] = None) -> Tuple[Tensor, _BlockState]:
        conv_state, cell_state = _split_state(state)
        B = x.size(1)
        a, r = self.proj_up(self.norm(x)).split(self.inner_size, -1)
        if self.conv is not None:
            c, conv_state = self.conv(a, conv_state)
            c = F.silu(c)
        else:
            c, conv_state = a, a.new_zeros([0, B, self.inner_size])
        q, k, v = self.q_proj(c), self.k_proj(c), self.v_proj(a)
        qkv = torch.cat([q, k, v], -1)
        xp = torch.cat([qkv, self.igate(qkv), self.fgate(qkv)], -1)
        if torch.jit.is_scripting():
            # the portable twins' scripted mLSTM step (the recurrent form); its output gate
            # held open: pre-activation +inf, sigmoid(+inf) = 1 exactly
            cfg = self._script_config
            s0 = portable.zero_state(5, xp, cfg) if cell_state is None else cell_state
            gate = torch.full_like(xp[:, :, :self.inner_size], math.inf)
            h, cell = portable.scan_projected(5, torch.cat([xp, gate], -1), s0, [xp.new_zeros([0])], cfg,
                                              self._script_eps, None, False, None, [0.0], False, False, None,
                                              False)[:2]
        else:
            h, cell = self._recurrence(xp, cell_state)
        h = _head_norm(h, self.num_heads, self.outnorm_weight) + self.skip * c
        y = self.proj_down(h * F.silu(r))
        return x + F.dropout(y, self.dropout, self.training), (conv_state, cell[0], cell[1], cell[2], cell[3])

    @torch.jit.unused
    def _recurrence(self, xp: Tensor, cell_state: Optional[List[Tensor]]) -> Tuple[Tensor, List[Tensor]]:
        """The mLSTM over the block's q, k, v and gates: the chunkwise form (the reference
        loop for one step or ``LSTMKIT_BACKEND=reference``; a scripted loop of the
        recurrent form while tracing, so that a traced block runs any length)."""
        if cell_state is None:
            cell_state = self.spec.initial_state(xp.shape[1], dtype=xp.dtype, device=xp.device)
        if torch.jit.is_tracing():
            h, cell = traced_recurrence(self.spec, {}, xp, cell_state)
        elif backend() == "reference" or xp.shape[0] == 1:
            h, cell = run_recurrence(self.spec, {}, xp, cell_state)
        else:
            h, cell = mlstm_chunkwise(self.spec, {}, xp, cell_state)
        return h, list(cell)

    @classmethod
    def from_xlstm(cls, block, chunk_size: int = 64) -> "mLSTMBlock":
        """The block computing what an ``xlstm`` ``mLSTMBlock`` computes (weights copied).

        Raises:
            TypeError: ``block`` is not an xlstm mLSTMBlock. ImportError: no xlstm.

        Example:
            >>> b = mLSTMBlock(16, num_heads=2)
            >>> try:
            ...     import xlstm
            ... except ImportError:
            ...     xlstm = None
            >>> if xlstm is not None:
            ...     assert mLSTMBlock.from_xlstm(b.to_xlstm()).inner_size == b.inner_size
        """
        _xlstm()
        from xlstm.blocks.mlstm.block import mLSTMBlock as XB

        if not isinstance(block, XB):
            raise TypeError(f"block must be an xlstm mLSTMBlock, got {type(block).__name__}")
        layer = block.xlstm
        cfg = layer.config
        inner = cfg._inner_embedding_dim
        ours = cls(cfg.embedding_dim, cfg.num_heads, proj_factor=inner / cfg.embedding_dim, round_to=1,
                   conv_kernel=cfg.conv1d_kernel_size, qkv_blocksize=cfg.qkv_proj_blocksize, bias=cfg.bias,
                   dropout=cfg.dropout, chunk_size=chunk_size)
        cell = layer.mlstm_cell
        pairs = [(ours.proj_up, layer.proj_up), (ours.proj_down, layer.proj_down), (ours.q_proj, layer.q_proj),
                 (ours.k_proj, layer.k_proj), (ours.v_proj, layer.v_proj), (ours.igate, cell.igate),
                 (ours.fgate, cell.fgate)]
        with torch.no_grad():
            ours.norm.weight.copy_(block.xlstm_norm.weight_proxy)
            for a, b in pairs:
                a.weight.copy_(b.weight)
                if a.bias is not None:
                    a.bias.copy_(b.bias)
            if ours.conv is not None:
                ours.conv.weight.copy_(layer.conv1d.conv.weight)
                ours.conv.bias.copy_(layer.conv1d.conv.bias)
            ours.outnorm_weight.copy_(cell.outnorm.weight_proxy)
            ours.skip.copy_(layer.learnable_skip)
        return ours

    def to_xlstm(self, context_length: int = 256):
        """An ``xlstm`` ``mLSTMBlock`` with this block's weights (its parallel form's causal
        mask is built for ``context_length`` steps; longer inputs build their own).

        Example: see :meth:`from_xlstm`.
        """
        _xlstm()
        from xlstm.blocks.mlstm.block import mLSTMBlock as XB, mLSTMBlockConfig
        from xlstm.blocks.mlstm.layer import mLSTMLayerConfig

        D = self.embedding_dim
        lcfg = mLSTMLayerConfig(conv1d_kernel_size=self.conv.kernel_size if self.conv else 0,
                                qkv_proj_blocksize=self.inner_size // self.q_proj.num_heads,
                                num_heads=self.num_heads, proj_factor=self.inner_size / D,
                                round_proj_up_to_multiple_of=1, embedding_dim=D,
                                bias=self.proj_up.bias is not None, dropout=self.dropout,
                                context_length=context_length)
        xb = XB(mLSTMBlockConfig(mlstm=lcfg, _num_blocks=1, _block_idx=0))
        layer = xb.xlstm
        if layer.config._inner_embedding_dim != self.inner_size:
            raise ValueError(f"the package rounds the inner size to {layer.config._inner_embedding_dim}, "
                             f"this block has {self.inner_size}")
        cell = layer.mlstm_cell
        pairs = [(self.proj_up, layer.proj_up), (self.proj_down, layer.proj_down), (self.q_proj, layer.q_proj),
                 (self.k_proj, layer.k_proj), (self.v_proj, layer.v_proj), (self.igate, cell.igate),
                 (self.fgate, cell.fgate)]
        with torch.no_grad():
            xb.xlstm_norm.weight.copy_(self.norm.weight - 1)
            for a, b in pairs:
                b.weight.copy_(a.weight)
                if a.bias is not None:
                    b.bias.copy_(a.bias)
            if self.conv is not None:
                layer.conv1d.conv.weight.copy_(self.conv.weight)
                layer.conv1d.conv.bias.copy_(self.conv.bias)
            cell.outnorm.weight.copy_(self.outnorm_weight - 1)
            layer.learnable_skip.copy_(self.skip)
        return xb

    def extra_repr(self) -> str:
        return f"{self.embedding_dim}, num_heads={self.num_heads}, inner_size={self.inner_size}"


# ---- the stack --------------------------------------------------------------------------------
_RATIO = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def parse_ratio(ratio: str) -> tuple[int, int]:
    """The paper's ``"m:s"`` (mLSTM : sLSTM blocks) -> ``(m, s)``.

    Example:
        >>> parse_ratio("7:1"), parse_ratio("0:1")
        ((7, 1), (0, 1))
    """
    if not isinstance(ratio, str) or not _RATIO.match(ratio):
        raise ValueError(f"ratio must be 'm:s' with non-negative ints (e.g. '1:1', '7:1'), got {ratio!r}")
    m, s = (int(g) for g in _RATIO.match(ratio).groups())
    if m + s == 0:
        raise ValueError(f"ratio must have at least one block, got {ratio!r}")
    return m, s


def block_map(num_blocks: int, slstm_at=None, ratio: str | None = None) -> list[str]:
    """Which block is which: ``"m"`` or ``"s"`` per position.

    ``slstm_at`` lists the sLSTM positions (``"all"``: every block); ``ratio="m:s"``
    repeats groups of m mLSTM blocks followed by s sLSTM blocks (``num_blocks`` must be
    a multiple of m + s). Neither: mLSTM only.

    Example:
        >>> block_map(4, ratio="1:1"), block_map(3, slstm_at=[1]), block_map(2, ratio="0:1")
        (['m', 's', 'm', 's'], ['m', 's', 'm'], ['s', 's'])
    """
    _pos_int("num_blocks", num_blocks)
    if slstm_at is not None and ratio is not None:
        raise ValueError("give slstm_at or ratio, not both")
    if ratio is not None:
        m, s = parse_ratio(ratio)
        if num_blocks % (m + s):
            raise ValueError(f"num_blocks ({num_blocks}) must be a multiple of m + s = {m + s} for ratio {ratio!r}")
        return (["m"] * m + ["s"] * s) * (num_blocks // (m + s))
    if slstm_at is None:
        return ["m"] * num_blocks
    if slstm_at == "all":
        return ["s"] * num_blocks
    if not isinstance(slstm_at, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in slstm_at):
        raise TypeError(f"slstm_at must be a list of block indices or 'all', got {slstm_at!r}")
    bad = [i for i in slstm_at if not 0 <= i < num_blocks]
    if bad:
        raise ValueError(f"slstm_at: indices {bad} are outside 0..{num_blocks - 1}")
    return ["s" if i in set(slstm_at) else "m" for i in range(num_blocks)]


class xLSTMStack(nn.Module):
    """Residually stacked xLSTM blocks and a final LayerNorm (Beck et al. 2024, Sec. 2.4).

    Args:
        embedding_dim: D, features in and out of every block.
        num_blocks: blocks.
        slstm_at: positions of the sLSTM blocks (or ``"all"``); or
        ratio: the paper's ``"m:s"`` notation (xLSTM[1:1] is ``ratio="1:1"``), see :func:`block_map`.
        num_heads: heads of every block (or give ``mlstm`` / ``slstm`` options).
        dropout: every block's dropout.
        batch_first: (B, T, D) instead of (T, B, D).
        post_norm: the final LayerNorm.
        mlstm: further :class:`mLSTMBlock` keywords (``proj_factor``, ``round_to``, ...).
        slstm: further :class:`sLSTMBlock` keywords (``ffn_factor``, ``conv_kernel``, ...).

    Inputs: ``x`` (T, B, D), ``state`` None or the tuple of per-block states from a
    previous call (streaming). Outputs: ``(y (T, B, D), state)``.

    ``torch.jit.trace`` records each block's recurrence as a scripted loop over time (a
    trace runs any length; the TorchScript ONNX exporter writes an ``onnx::Loop``),
    ``torch.jit.script`` compiles the stack (its state then a list), ``torch.export``
    unrolls over the example's length.

    Example:
        >>> import torch
        >>> s = xLSTMStack(16, num_blocks=2, ratio="1:1", num_heads=2, mlstm={"round_to": 8}, slstm={"round_to": 8})
        >>> s.block_kinds
        ['m', 's']
        >>> x = torch.randn(10, 2, 16)
        >>> y, state = s(x)
        >>> y1, st = s(x[:6]); y2, _ = s(x[6:], st)   # streaming: the same outputs
        >>> bool(torch.allclose(torch.cat([y1, y2]), y, atol=1e-5))
        True
    """

    def __init__(self, embedding_dim: int, num_blocks: int = 2, slstm_at=None, ratio: str | None = None,
                 num_heads: int = 4, dropout: float = 0.0, batch_first: bool = False, post_norm: bool = True,
                 mlstm: dict | None = None, slstm: dict | None = None) -> None:
        super().__init__()
        self.block_kinds = block_map(num_blocks, slstm_at, ratio)
        for name, opts in (("mlstm", mlstm), ("slstm", slstm)):
            if opts is not None and not isinstance(opts, dict):
                raise TypeError(f"{name} must be a dict of block options, got {type(opts).__name__}")
        self.embedding_dim = _pos_int("embedding_dim", embedding_dim)
        self.batch_first = bool(batch_first)
        blocks = []
        for i, kind in enumerate(self.block_kinds):
            if kind == "m":
                kw = {"num_heads": num_heads, "dropout": dropout, "num_blocks": num_blocks, **(mlstm or {})}
                blocks.append(mLSTMBlock(embedding_dim, **kw))
            else:
                kw = {"num_heads": num_heads, "dropout": dropout, "num_blocks": num_blocks, "block_index": i,
                      **(slstm or {})}
                blocks.append(sLSTMBlock(embedding_dim, **kw))
        self.blocks = nn.ModuleList(blocks)
        self.post_norm = nn.LayerNorm(embedding_dim, bias=False) if post_norm else None

    @property
    def ratio(self) -> str:
        """``"m:s"``: the counts of mLSTM and sLSTM blocks (the paper's xLSTM[m:s] up to a common factor)."""
        m, s = self.block_kinds.count("m"), self.block_kinds.count("s")
        g = math.gcd(m, s) or 1
        return f"{m // g}:{s // g}"

    def forward(self, x: Tensor, state: Optional[List[_BlockState]] = None) -> Tuple[Tensor, List[_BlockState]]:
        if not torch.jit.is_scripting():  # (a scripted stack returns the state as a list)
            if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != self.embedding_dim:
                got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(f"x must be (T, B, {self.embedding_dim}) (batch_first: (B, T, ...)), got {got}")
            if state is not None and len(state) != len(self.blocks):
                raise ValueError(f"state must hold one entry per block ({len(self.blocks)}), got {len(state)}")
        if self.batch_first:
            x = x.transpose(0, 1)
        new: List[_BlockState] = []
        for k, block in enumerate(self.blocks):
            given: Optional[_BlockState] = None
            if state is not None:
                given = state[k]
            x, s = block(x, given)
            new.append(s)
        if self.post_norm is not None:
            x = self.post_norm(x)
        if self.batch_first:
            x = x.transpose(0, 1)
        if not torch.jit.is_scripting():
            return x, tuple(new)
        return x, new

    @classmethod
    def from_xlstm(cls, stack, batch_first: bool = False) -> "xLSTMStack":
        """The stack computing what an ``xlstm`` ``xLSTMBlockStack`` computes (weights copied).

        Example:
            >>> try:
            ...     import xlstm
            ... except ImportError:
            ...     xlstm = None
            >>> if xlstm is not None:
            ...     s = xLSTMStack(16, 2, ratio="1:1", num_heads=2)
            ...     assert xLSTMStack.from_xlstm(s.to_xlstm()).block_kinds == ["m", "s"]
        """
        _xlstm()
        from xlstm.blocks.mlstm.block import mLSTMBlock as XM
        from xlstm.xlstm_block_stack import xLSTMBlockStack

        if not isinstance(stack, xLSTMBlockStack):
            raise TypeError(f"stack must be an xlstm xLSTMBlockStack, got {type(stack).__name__}")
        blocks = [mLSTMBlock.from_xlstm(b) if isinstance(b, XM) else sLSTMBlock.from_xlstm(b) for b in stack.blocks]
        post = not isinstance(stack.post_blocks_norm, nn.Identity)
        ours = cls(stack.config.embedding_dim, len(blocks), slstm_at=[i for i, b in enumerate(blocks) if b.kind == "s"],
                   batch_first=batch_first, post_norm=post, num_heads=1, mlstm={"round_to": 1}, slstm={"round_to": 1})
        ours.blocks = nn.ModuleList(blocks)
        if post:
            with torch.no_grad():
                ours.post_norm.weight.copy_(stack.post_blocks_norm.weight_proxy)
        return ours

    def to_xlstm(self, context_length: int = 256):
        """An ``xlstm`` ``xLSTMBlockStack`` with this stack's weights (sLSTM: vanilla backend).

        Example: see :meth:`from_xlstm`.
        """
        _xlstm()
        from xlstm.xlstm_block_stack import xLSTMBlockStack, xLSTMBlockStackConfig

        converted = [b.to_xlstm(context_length) if b.kind == "m" else b.to_xlstm() for b in self.blocks]
        m = next((b for b in converted if self.block_kinds[converted.index(b)] == "m"), None)
        s = next((b for b in converted if self.block_kinds[converted.index(b)] == "s"), None)
        from xlstm.blocks.mlstm.block import mLSTMBlockConfig
        from xlstm.blocks.slstm.block import sLSTMBlockConfig

        cfg = xLSTMBlockStackConfig(
            mlstm_block=mLSTMBlockConfig(mlstm=m.config.mlstm) if m is not None else None,
            slstm_block=sLSTMBlockConfig(slstm=s.config.slstm, feedforward=s.config.feedforward) if s is not None else None,
            context_length=context_length, num_blocks=len(converted), embedding_dim=self.embedding_dim,
            add_post_blocks_norm=self.post_norm is not None,
            slstm_at=[i for i, k in enumerate(self.block_kinds) if k == "s"])
        stack = xLSTMBlockStack(cfg)
        stack.blocks = nn.ModuleList(converted)  # each block as converted (its own sizes)
        if self.post_norm is not None:
            with torch.no_grad():
                stack.post_blocks_norm.weight.copy_(self.post_norm.weight - 1)
        return stack


# ---- heads ------------------------------------------------------------------------------------
class xLSTMLanguageModel(nn.Module):
    """Token embedding -> :class:`xLSTMStack` -> linear over the vocabulary (no bias), the
    reference package's ``xLSTMLMModel``.

    Args:
        vocab_size: V.
        embedding_dim: D.
        num_blocks, slstm_at, ratio, num_heads, dropout, mlstm, slstm: as :class:`xLSTMStack`.
        tie_weights: the output layer shares the embedding's weight (V x D).

    Inputs: ``idx`` (T, B) int64 token ids, ``state`` None or a previous call's.
    Outputs: ``(logits (T, B, V), state)``.

    Example:
        >>> import torch
        >>> lm = xLSTMLanguageModel(30, 16, num_blocks=2, ratio="1:1", num_heads=2)
        >>> logits, state = lm(torch.randint(0, 30, (12, 2)))
        >>> logits.shape, lm.head.weight is lm.embedding.weight
        (torch.Size([12, 2, 30]), True)
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 128, num_blocks: int = 2, slstm_at=None,
                 ratio: str | None = None, num_heads: int = 4, dropout: float = 0.0, tie_weights: bool = True,
                 mlstm: dict | None = None, slstm: dict | None = None) -> None:
        super().__init__()
        _pos_int("vocab_size", vocab_size, 2)
        if not isinstance(tie_weights, bool):
            raise TypeError(f"tie_weights must be a bool, got {type(tie_weights).__name__}")
        self.config = dict(vocab_size=vocab_size, embedding_dim=embedding_dim, num_blocks=num_blocks,
                           slstm_at=slstm_at, ratio=ratio, num_heads=num_heads, dropout=dropout,
                           tie_weights=tie_weights, mlstm=mlstm, slstm=slstm)
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.stack = xLSTMStack(embedding_dim, num_blocks, slstm_at, ratio, num_heads, dropout,
                                mlstm=mlstm, slstm=slstm)
        self.head = nn.Linear(embedding_dim, vocab_size, bias=False)
        with torch.no_grad():
            nn.init.normal_(self.embedding.weight, 0.0, math.sqrt(2.0 / (5.0 * embedding_dim)))
            if tie_weights:
                self.head.weight = self.embedding.weight
            else:
                nn.init.normal_(self.head.weight, 0.0, math.sqrt(2.0 / (5.0 * embedding_dim)))

    def forward(self, idx: Tensor, state: Optional[List[_BlockState]] = None) -> Tuple[Tensor, List[_BlockState]]:
        if not torch.jit.is_scripting():
            if not isinstance(idx, Tensor) or idx.dim() != 2 or idx.is_floating_point():
                raise ValueError(f"idx must be (T, B) int64 token ids, got {getattr(idx, 'shape', type(idx).__name__)}")
        y, state = self.stack(self.embedding(idx), state)
        return self.head(y), state

    @classmethod
    def from_xlstm(cls, model) -> "xLSTMLanguageModel":
        """The model computing what an ``xlstm`` ``xLSTMLMModel`` computes (time-major).

        Example:
            >>> try:
            ...     import xlstm
            ... except ImportError:
            ...     xlstm = None
            >>> if xlstm is not None:
            ...     lm = xLSTMLanguageModel(20, 16, 2, ratio="1:1", num_heads=2, tie_weights=False)
            ...     assert xLSTMLanguageModel.from_xlstm(lm.to_xlstm()).head.weight.shape == (20, 16)
        """
        _xlstm()
        from xlstm.xlstm_lm_model import xLSTMLMModel

        if not isinstance(model, xLSTMLMModel):
            raise TypeError(f"model must be an xlstm xLSTMLMModel, got {type(model).__name__}")
        tied = model.lm_head.weight is model.token_embedding.weight
        V, D = model.token_embedding.weight.shape
        ours = cls(V, D, 1, tie_weights=tied, num_heads=1, mlstm={"round_to": 1})
        ours.stack = xLSTMStack.from_xlstm(model.xlstm_block_stack)
        with torch.no_grad():
            ours.embedding.weight.copy_(model.token_embedding.weight)
            if not tied:
                ours.head.weight.copy_(model.lm_head.weight)
        return ours

    def to_xlstm(self, context_length: int = 256):
        """An ``xlstm`` ``xLSTMLMModel`` with this model's weights (batch-first, as the package).

        Example: see :meth:`from_xlstm`.
        """
        _xlstm()
        from xlstm.xlstm_lm_model import xLSTMLMModel, xLSTMLMModelConfig

        stack = self.stack.to_xlstm(context_length)
        cfg = xLSTMLMModelConfig(**{k: getattr(stack.config, k) for k in (
            "mlstm_block", "slstm_block", "context_length", "num_blocks", "embedding_dim", "add_post_blocks_norm",
            "slstm_at")}, vocab_size=self.embedding.num_embeddings, tie_weights=self.head.weight is self.embedding.weight)
        model = xLSTMLMModel(cfg)
        model.xlstm_block_stack = stack
        with torch.no_grad():
            model.token_embedding.weight.copy_(self.embedding.weight)
            if model.lm_head.weight is not model.token_embedding.weight:
                model.lm_head.weight.copy_(self.head.weight)
        return model


_NAME = re.compile(r"^xlstm\[(\d+):(\d+)\]$")


def parse_xlstm_name(name: str) -> tuple[int, int] | None:
    """``"xlstm[1:1]"`` -> (1, 1); None for any other name (the experiments' model names).

    Example:
        >>> parse_xlstm_name("xlstm[0:1]"), parse_xlstm_name("vanilla")
        ((0, 1), None)
    """
    if not isinstance(name, str):
        return None
    g = _NAME.match(name.strip().lower())
    if not g or int(g.group(1)) + int(g.group(2)) == 0:
        return None
    return int(g.group(1)), int(g.group(2))


class xLSTMSequenceModel(nn.Module):
    """An input map, an :class:`xLSTMStack` and a linear read-out, with the interface of
    :class:`lstmkit.models.SequenceModel` (``model(x, lengths, state) -> (y, state)``).

    Args:
        input_size: I (with ``embed``: the number of symbols).
        embedding_dim: D.
        output_size: O.
        ratio: ``"m:s"``; num_blocks: blocks (default m + s); further keywords go to
            :class:`xLSTMStack`.
        readout: ``"every"`` step or each sequence's ``"last"``.
        embed: the input is (T, B) int symbols, embedded (True) instead of (T, B, I)
            features mapped by a linear layer.

    Every block is causal, so the output at a sequence's last valid step ignores the
    padding after it; ``lengths`` selects that step (``readout="last"``) or zeroes the
    padded outputs (``"every"``). The returned state is the one after all T steps.

    Example:
        >>> import torch
        >>> m = xLSTMSequenceModel(1, 16, 2, ratio="0:1", num_heads=2, readout="last")
        >>> y, _ = m(torch.randn(9, 4, 1), torch.tensor([9, 5, 3, 1]))
        >>> y.shape
        torch.Size([4, 2])
    """

    def __init__(self, input_size: int, embedding_dim: int, output_size: int, ratio: str = "1:1",
                 num_blocks: int | None = None, readout: str = "every", embed: bool = False, **stack) -> None:
        super().__init__()
        _pos_int("input_size", input_size)
        _pos_int("output_size", output_size)
        if readout not in ("every", "last"):
            raise ValueError(f"readout must be 'every' or 'last', got {readout!r}")
        m, s = parse_ratio(ratio)
        self.readout, self.input_size = readout, input_size
        self.inp = nn.Embedding(input_size, embedding_dim) if embed else nn.Linear(input_size, embedding_dim)
        self.stack = xLSTMStack(embedding_dim, num_blocks or (m + s), ratio=ratio, **stack)
        self.head = nn.Linear(embedding_dim, output_size)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state=None):
        if isinstance(self.inp, nn.Embedding) and x.is_floating_point():
            x = x.argmax(-1)  # one-hot inputs
        out, state = self.stack(self.inp(x), state)
        if self.readout == "every":
            y = self.head(out)
            if lengths is not None:
                valid = torch.arange(y.shape[0], device=y.device)[:, None] < lengths.to(y.device)[None, :]
                y = y * valid[..., None]
            return y, state
        if lengths is None:
            return self.head(out[-1]), state
        idx = (lengths.to(out.device).long() - 1).view(1, -1, 1).expand(1, -1, out.shape[-1])
        return self.head(out.gather(0, idx).squeeze(0)), state
