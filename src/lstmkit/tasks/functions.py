"""Streams of examples of random functions, for learning to learn (Hochreiter, Younger &
Conwell 2001, "Learning to learn using gradient descent", ICANN).

Each sequence belongs to one function f drawn at random. At step t the input is
``(x_t, y_{t-1})``: the new argument and the previous argument's true value (0 at the
first step), and the target is ``y_t = f(x_t)``. A recurrent net trained over many such
sequences (meta-training) and then frozen must learn each new function from the stream
alone: its error at step t is its error on a new argument after t - 1 examples.

Families of functions:

* ``"boolean"``: the 16 Boolean functions of two inputs (a truth table drawn uniformly),
  arguments uniform in {0, 1}^2, values 0/1;
* ``"quadratic"``: :math:`f(x) = a x_1^2 + b x_2^2 + c x_1 x_2 + d x_1 + e x_2 + f` with the
  six coefficients uniform in [-1, 1] and arguments uniform in [-1, 1]^2.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["function_stream", "FUNCTION_FAMILIES", "quadratic_features", "chance_error"]

FUNCTION_FAMILIES = ("boolean", "quadratic")


def quadratic_features(x: np.ndarray) -> np.ndarray:
    """``(..., 2) -> (..., 6)``: ``(x1^2, x2^2, x1 x2, x1, x2, 1)``, the quadratics' basis."""
    x1, x2 = x[..., 0], x[..., 1]
    return np.stack([x1 * x1, x2 * x2, x1 * x2, x1, x2, np.ones_like(x1)], axis=-1)


def function_stream(family: str, batch: int, T: int, rng: np.random.Generator, return_functions: bool = False):
    """``(inputs (T, B, 3), targets (T, B, 1))`` float32 tensors: B sequences of T examples,
    one random function each; inputs are ``(x_t (2 entries), y_{t-1})``.

    Args:
        family: ``"boolean"`` or ``"quadratic"``.
        batch: B, functions. T: examples per function.
        rng: the numpy generator.
        return_functions: also return the functions (boolean: (B, 4) truth tables indexed
            by ``2 x1 + x2``; quadratic: (B, 6) coefficients (a, b, c, d, e, f)).

    Example:
        >>> import numpy as np
        >>> x, y = function_stream("quadratic", 4, 10, np.random.default_rng(0))
        >>> x.shape, y.shape
        (torch.Size([10, 4, 3]), torch.Size([10, 4, 1]))
        >>> bool((x[1:, :, 2] == y[:-1, :, 0]).all())  # the previous value comes back as input
        True
    """
    if family not in FUNCTION_FAMILIES:
        raise ValueError(f"family must be one of {FUNCTION_FAMILIES}, got {family!r}")
    for name, v in (("batch", batch), ("T", T)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if family == "boolean":
        fn = rng.integers(2, size=(batch, 4))
        x = rng.integers(2, size=(T, batch, 2)).astype(np.float64)
        idx = (2 * x[..., 0] + x[..., 1]).astype(np.int64)
        y = np.take_along_axis(fn[None].repeat(T, 0), idx[..., None], axis=2)[..., 0].astype(np.float64)
    else:
        fn = rng.uniform(-1.0, 1.0, size=(batch, 6))
        x = rng.uniform(-1.0, 1.0, size=(T, batch, 2))
        y = (quadratic_features(x) * fn[None]).sum(-1)
    prev = np.concatenate([np.zeros((1, batch)), y[:-1]], axis=0)
    inputs = torch.from_numpy(np.concatenate([x, prev[..., None]], axis=-1).astype(np.float32))
    targets = torch.from_numpy(y[..., None].astype(np.float32))
    if return_functions:
        return inputs, targets, fn
    return inputs, targets


def chance_error(family: str) -> float:
    """The error of the best constant guess: 0.5 (wrong bits, boolean) or E[y^2] (MSE of
    predicting 0, quadratic: 2/15 + 1/27 + 2/9 + 1/3 = 0.726).

    Example:
        >>> round(chance_error("quadratic"), 3)
        0.726
    """
    if family == "boolean":
        return 0.5
    if family == "quadratic":
        # E[a^2] E[x^4] twice + E[c^2] E[x1^2] E[x2^2] + E[d^2] E[x^2] twice + E[f^2]
        return 2 * (1 / 3) * (1 / 5) + (1 / 3) * (1 / 9) + 2 * (1 / 3) * (1 / 3) + 1 / 3
    raise ValueError(f"family must be one of {FUNCTION_FAMILIES}, got {family!r}")
