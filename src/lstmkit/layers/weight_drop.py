"""Weight drop (DropConnect on the recurrent weights), the AWD-LSTM's regulariser, as a parametrization.

Merity, Keskar & Socher 2018 ("Regularizing and Optimizing LSTM Language Models",
arXiv:1708.02182, Sec. 4.1) drop entries of the hidden-to-hidden matrix R (``weight_hh``)
with DropConnect (Wan et al. 2013): in training, each forward pass uses

    R~ = (M ⊙ R) / (1 - p),    M_ij ~ Bernoulli(1 - p),

one mask M per forward pass for every step of every sequence (the recurrence itself is
untouched, so the fused kernels run it: they see R~ as any weight). In evaluation R~ = R.

:func:`weight_drop` registers :class:`WeightDrop` with
:func:`torch.nn.utils.parametrize.register_parametrization`: the raw weight lives on as
``module.parametrizations.<name>.original`` (the parameter the optimiser updates), and
``module.<name>`` is R~, computed where the layer reads its weights (once per call).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .recurrent import Recurrent, check_rate

__all__ = ["WeightDrop", "weight_drop"]


class WeightDrop(nn.Module):
    """The parametrization ``W -> dropout(W, p)`` in training, ``W`` in evaluation.

    Args:
        p: the probability that an entry of the weight is dropped, in [0, 1).

    Example:
        >>> import torch
        >>> wd = WeightDrop(0.5)
        >>> w = torch.ones(4, 4)
        >>> y = wd(w)                                      # training: entries dropped or scaled by 1/(1-p)
        >>> bool(((y == 0) | (y == 2)).all()), bool(torch.equal(wd.eval()(w), w))
        (True, True)
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_rate("p", p)

    def forward(self, weight: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return weight
        return F.dropout(weight, self.p, training=True)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def weight_drop(module: nn.Module, p: float = 0.5, names=None) -> nn.Module:
    """Weight drop (AWD-LSTM's DropConnect) on ``module``'s recurrent weights; returns ``module``.

    Args:
        module: an lstmkit recurrent layer (any family), or any module with the named weights.
        p: drop probability of each weight entry in training, in [0, 1).
        names: the weights to drop; default every ``weight_hh_l{k}[_reverse]`` of a
            :class:`~lstmkit.layers.Recurrent` (the AWD-LSTM's choice).

    Raises:
        TypeError: ``names`` is not given and ``module`` is no lstmkit recurrent layer.
        ValueError: ``p`` outside [0, 1), or a name that is not a parameter of ``module``.

    Example:
        >>> import torch, lstmkit
        >>> lstm = lstmkit.weight_drop(lstmkit.LSTM(3, 8, num_layers=2), p=0.5)
        >>> out, _ = lstm(torch.randn(5, 2, 3))            # training: R dropped, one mask per call
        >>> raw = lstm.parametrizations.weight_hh_l0.original
        >>> bool(torch.equal(lstm.eval().weight_hh_l0, raw))  # evaluation: the raw weight
        True
    """
    check_rate("p", p)
    if names is None:
        if not isinstance(module, Recurrent):
            raise TypeError(f"names must be given for a {type(module).__name__} (not an lstmkit recurrent layer)")
        names = [full for per in module._names for short, full in per if short == "weight_hh"]
        if not names:
            raise ValueError(f"{type(module).__name__} has no weight_hh to drop; pass names=")
    elif isinstance(names, str):
        names = [names]
    params = dict(module.named_parameters(recurse=False))
    for name in names:
        if name not in params and not parametrize.is_parametrized(module, name):
            raise ValueError(f"names: {name!r} is not a parameter of {type(module).__name__} "
                             f"(has {', '.join(sorted(params)) or 'none'})")
    for name in names:
        parametrize.register_parametrization(module, name, WeightDrop(p))
    return module
