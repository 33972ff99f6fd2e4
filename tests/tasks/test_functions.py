"""Streams of random functions for learning to learn."""

import numpy as np
import pytest

from lstmkit.tasks.functions import chance_error, function_stream, quadratic_features


def test_quadratic_stream_values_and_previous_targets():
    x, y, fn = function_stream("quadratic", 8, 12, np.random.default_rng(0), return_functions=True)
    want = (quadratic_features(x[..., :2].numpy().astype(np.float64)) * fn[None]).sum(-1)
    np.testing.assert_allclose(y[..., 0].numpy(), want, rtol=1e-5, atol=1e-6)
    assert float(x[0, :, 2].abs().max()) == 0.0  # no previous value at the first step
    np.testing.assert_array_equal(x[1:, :, 2].numpy(), y[:-1, :, 0].numpy())
    assert fn.min() >= -1 and fn.max() <= 1


def test_boolean_stream_follows_one_truth_table_per_sequence():
    x, y, fn = function_stream("boolean", 16, 20, np.random.default_rng(1), return_functions=True)
    idx = (2 * x[..., 0] + x[..., 1]).long().numpy()
    np.testing.assert_array_equal(y[..., 0].numpy(), np.take_along_axis(fn.T, idx, axis=0))


def test_chance_error_is_the_mean_square_of_the_targets():
    _, y = function_stream("quadratic", 4000, 20, np.random.default_rng(2))
    assert float((y ** 2).mean()) == pytest.approx(chance_error("quadratic"), rel=0.03)
    with pytest.raises(ValueError, match="family"):
        function_stream("cubic", 2, 2, np.random.default_rng(0))
