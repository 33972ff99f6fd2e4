"""Season lengths from pandas frequencies (data/series.py) and the seasonal phase that
data/windows.py derives from them: minute, second and millisecond series must not be
taken for monthly ones (a bug: "30min" once gave a season of 12)."""
import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from lstmkit.data.series import TimeSeries, freq_unit, season_for_freq
from lstmkit.data.windows import _phase


@pytest.mark.parametrize(
    "freq, season",
    [("30min", 48), ("15min", 96), ("5min", 288), ("min", 60), ("h", 24), ("2h", 12), ("7h", 1),
     ("D", 7), ("2D", 1), ("B", 5), ("W-SUN", 52), ("2W", 26), ("MS", 12), ("ME", 12), ("3MS", 4),
     ("QS-OCT", 4), ("QE", 4), ("YS", 1), ("s", 60), ("10s", 6), ("ms", 1), ("us", 1), (None, 1),
     ("not-a-frequency", 1)],
)
def test_season_for_freq(freq, season):
    assert season_for_freq(freq) == season


def test_freq_unit_follows_pandas_case():
    assert freq_unit("MS") == ("month", 1) and freq_unit("ms") == ("sub-second", 1)
    assert freq_unit("30min") == ("minute", 30)


def test_inferred_half_hourly_series_has_a_daily_season_and_phase():
    idx = pd.date_range("2024-01-01", periods=96, freq="30min")
    series = TimeSeries(values=np.arange(96.0), name="load", source="test", index=idx, freq=pd.infer_freq(idx))
    s = season_for_freq(series.freq)
    assert s == 48
    phase = _phase(series, np.arange(96), s)
    # the same time of day has the same phase on both days; consecutive half-hours differ
    assert np.allclose(phase[:48], phase[48:]) and len(np.unique(phase[:48])) == 48
