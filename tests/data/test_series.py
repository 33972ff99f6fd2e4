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
     ("90min", 16), ("12h", 2), ("3MS", 4), ("2QS", 2), ("SMS", 12), ("C", 5), ("bh", 8), ("2bh", 4)],
)
def test_season_for_freq(freq, season):
    assert season_for_freq(freq) == season


# Issue 13: the aliases users pass, one family per row; pandas 3 removed the upper-case
# sub-daily ones ("15T", "H", "2H") and "M"/"Q"/"A"/"Y", which once gave a silent season of 1.
@pytest.mark.parametrize(
    "family, aliases, season",
    [("half-hourly", ["30min", "30T", " 30min"], 48),
     ("quarter-hourly", ["15min", "15T"], 96),
     ("minutely", ["min", "T", "1min"], 60),
     ("hourly", ["h", "H", "1h", "1H"], 24),
     ("two-hourly", ["2h", "2H"], 12),
     ("daily", ["D", "1D"], 7),
     ("business-daily", ["B", "C"], 5),
     ("weekly", ["W", "W-SUN", "W-MON", "1W"], 52),
     ("monthly", ["M", "MS", "ME", "BM", "BMS", "BME"], 12),
     ("quarterly", ["Q", "QS", "QE", "QS-DEC", "Q-DEC", "QE-MAR", "BQ"], 4),
     ("yearly", ["A", "A-DEC", "Y", "YS", "YE", "AS", "BA"], 1),
     ("secondly", ["s", "S", "10S"], None)],
)
def test_season_for_every_alias_of_a_family(family, aliases, season):
    got = {a: season_for_freq(a) for a in aliases}
    if season is None:  # seconds: 60/n
        season = {a: 60 // (int(a[:-1]) if a[:-1] else 1) for a in aliases}
        assert got == season, family
    else:
        assert got == dict.fromkeys(aliases, season), family


def test_removed_aliases_read_as_their_replacements():
    # the legacy alias and today's give the same unit, so a model saved under pandas 2 reads the same
    for old, new in [("15T", "15min"), ("2H", "2h"), ("M", "ME"), ("Q-DEC", "QE-DEC"), ("A", "YE"), ("L", "ms")]:
        assert freq_unit(old) == freq_unit(new) is not None, old
    assert freq_unit("MS") != freq_unit("ms")  # case still follows pandas where pandas reads both


@pytest.mark.parametrize("bad", ["not-a-frequency", "", "W-FOO", "15X", "2 weeks"])
def test_season_for_a_bad_frequency_is_a_one_line_error_naming_freq(bad):
    with pytest.raises(ValueError, match=r"^freq .* is not a pandas frequency") as e:
        season_for_freq(bad)
    assert "\n" not in str(e.value) and repr(bad) in str(e.value)
    assert freq_unit(bad) is None  # the lenient reader (seasonal phase) still says "unknown"


def test_season_for_a_non_string_is_a_type_error():
    with pytest.raises(TypeError, match="^freq must be a pandas frequency string"):
        season_for_freq(7)


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
