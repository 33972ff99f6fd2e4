"""lstmkit.models.baselines and lstmkit.data.windows (moved out of apps/, issue 12): values
checked by hand, and the forecasting windows' round trip."""

import numpy as np
import pytest
import torch

from lstmkit.data.series import TimeSeries
from lstmkit.data.windows import Windows
from lstmkit.models import baselines as B


def test_seasonal_naive_repeats_the_last_season():
    assert B.seasonal_naive([1, 2, 3, 4, 5, 6], 5, season=3).tolist() == [4, 5, 6, 4, 5]
    assert B.seasonal_naive([1, 2, 3], 2, season=0).tolist() == [3, 3]  # no season: the last value
    with pytest.raises(ValueError, match="at least one season"):
        B.seasonal_naive([1, 2], 1, season=3)


def test_majority_class_and_nearest_neighbour_by_hand():
    assert B.majority_class([1, 1, 0, 2, 2]) == 1  # a tie goes to the lower index
    assert B.majority_class([0], n_classes=3) == 0
    with pytest.raises(ValueError, match="train_y must be a non-empty"):
        B.majority_class([])
    train = [np.zeros((4, 2)), np.full((4, 2), 10.0), np.full((3, 2), 20.0)]
    test = [np.full((2, 2), 9.0), np.full((5, 2), 19.0), np.full((1, 2), -3.0)]
    assert B.nearest_neighbour_baseline(train, np.array([5, 6, 7]), test).tolist() == [6, 7, 5]
    f = B.summary_features([np.array([[1.0, 0.0], [3.0, 4.0]])])
    assert f.tolist() == [[2.0, 2.0, 1.0, 2.0, 1.0, 0.0, 3.0, 4.0, 1.0, 0.0, 3.0, 4.0]]


def test_ets_and_arima_follow_a_trend():
    pytest.importorskip("statsmodels")
    x = 10 + 0.5 * np.arange(60.0) + np.sin(np.arange(60.0))  # a line plus a little noise-free wiggle
    truth = 10 + 0.5 * np.arange(60.0, 64.0)
    assert np.abs(B.fit_ets(x, 4, season=1) - truth).max() < 2
    f, name = B.fit_arima(x, 4, season=1, time_limit=10)
    assert np.abs(f - truth).max() < 2 and name.startswith("ARIMA")


@pytest.mark.parametrize("reference,transform", [("level", "none"), ("level", "log"), ("seasonal", "none")])
def test_windows_decode_inverts_targets(reference, transform):
    t = np.arange(80.0)
    y = 20 + 0.2 * t + 3 * np.sin(2 * np.pi * t / 8)
    prep = {"transform": transform, "season": 8, "window": 16, "horizon": 5, "calendar": True,
            "reference": reference, "diff_inputs": reference == "seasonal", "scale": 1.0}
    win = Windows(prep, TimeSeries(values=y, name="y", source="toy"))
    z = win.z(y)
    origins = np.arange(win.history, 70)
    win.fit_scales(z, origins)
    x, levels = win.inputs(z, origins)
    assert tuple(x.shape) == (16, len(origins), win.n_features) and win.n_features == 3 + (reference == "seasonal")
    target = win.targets(z, origins, levels)  # (B, H)
    back = win.decode(target.double()[:, :, None], z, origins, levels)[:, :, 0]
    want = np.stack([y[o : o + 5] for o in origins])
    np.testing.assert_allclose(back, want, rtol=1e-5)  # float32 targets
    assert torch.isfinite(x).all()
