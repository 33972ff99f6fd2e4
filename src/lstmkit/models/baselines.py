"""Baselines from the field's libraries, beside lstmkit's own models: what a forecaster or
classifier has to beat, scored by the same :mod:`lstmkit.metrics` on the same split.

Forecasting: :func:`seasonal_naive` (repeat the last season), :func:`fit_ets` (Holt-Winters
exponential smoothing, statsmodels) and :func:`fit_arima` (a small automatic (S)ARIMA,
statsmodels), all run by :func:`run_baselines`. Sequence classification:
:func:`majority_class` and :func:`nearest_neighbour_baseline` (1-NN on per-channel
:func:`summary_features`). Text classification: :func:`tfidf_baseline` (TF-IDF + logistic
regression, scikit-learn). The optional libraries are imported inside the function that
needs them.

Example:
    >>> seasonal_naive([1, 2, 3, 4, 5], 3, season=2).tolist()
    [4.0, 5.0, 4.0]
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Sequence

import numpy as np

from ..metrics import accuracy

__all__ = ["seasonal_naive", "fit_ets", "fit_arima", "run_baselines", "fit_auto_ets", "fit_auto_arima", "fit_theta",
           "field_baselines", "FIELD_BASELINES", "majority_class", "summary_features", "nearest_neighbour_baseline",
           "tfidf_baseline", "TSC_BASELINES", "resample_to_length", "tsc_baseline"]


# ---------------------------------------------------------------- forecasting
def seasonal_naive(history, horizon: int, season: int) -> np.ndarray:
    """Repeat the last season: ``F_{T+h} = y_{T+h-s*ceil(h/s)}`` (``s = 1``: the last value).

    Example:
        >>> seasonal_naive([1, 2, 3, 4, 5], 3, season=2).tolist()
        [4.0, 5.0, 4.0]
    """
    x = np.asarray(history, float)
    s = max(int(season), 1)
    if len(x) < s:
        raise ValueError(f"seasonal naive needs at least one season ({s} points), got {len(x)}")
    return np.array([x[len(x) - s + (h % s)] for h in range(horizon)])


def fit_ets(history, horizon: int, season: int, log: bool = False) -> np.ndarray:
    """Holt-Winters exponential smoothing with additive trend and additive season
    (statsmodels ``ExponentialSmoothing``, fitted by maximum likelihood), optionally on
    the log of the series; no season when ``season < 2`` or the history has fewer than two
    seasons."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    x = np.log(history) if log else np.asarray(history, float)
    seasonal = "add" if season >= 2 and len(x) >= 2 * season + 2 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(x, trend="add", seasonal=seasonal,
                                   seasonal_periods=season if seasonal else None).fit()
        f = np.asarray(fit.forecast(horizon), float)
    return np.exp(f) if log else f


def _fourier(t: np.ndarray, period: float, k: int) -> np.ndarray:
    return np.column_stack([fn(2 * np.pi * j * t / period) for j in range(1, k + 1) for fn in (np.sin, np.cos)])


def fit_arima(history, horizon: int, season: int, log: bool = False, time_limit: float = 60.0) -> tuple[np.ndarray, str]:
    """A tiny automatic ARIMA: a few orders fitted by maximum likelihood (statsmodels
    SARIMAX), the lowest AIC kept. Seasons up to 24: SARIMA(p,1,q)(0,1,1)_s for
    (p,q) in (0,1), (1,0), (1,1), (2,1) -- (0,1,1)(0,1,1) is Box & Jenkins' airline model.
    Longer seasons (weekly data, s = 52: a seasonal state of 52 lags is slow) use
    ARIMA(p,1,q) with drift and 4 Fourier pairs of the season as regressors (dynamic
    harmonic regression). Stops trying orders after ``time_limit`` seconds.

    Returns:
        (forecast, a description of the chosen model).
    """
    x = np.log(history) if log else np.asarray(history, float)
    f, name, _ = _arima_search(x, horizon, season, time_limit)
    f = np.exp(f) if log else f
    return f, name.replace(" (best AIC", " on log (best AIC") if log else name


def _arima_search(x: np.ndarray, horizon: int, season: int, time_limit: float) -> tuple[np.ndarray, str, float]:
    """The order search of :func:`fit_arima` on ``x`` as given: (forecast, name, AIC)."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    n = len(x)
    orders = [(0, 1, 1), (1, 1, 0), (1, 1, 1), (2, 1, 1)]
    best, t0, tried = None, time.perf_counter(), 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for order in orders:
            if best is not None and time.perf_counter() - t0 > time_limit:
                break
            try:
                if 2 <= season <= 24 and n >= 3 * season:
                    m = SARIMAX(x, order=order, seasonal_order=(0, 1, 1, season)).fit(disp=False)
                    f, name = m.forecast(horizon), f"SARIMA{order}(0,1,1){season}"
                elif season > 24:
                    t = np.arange(n + horizon, dtype=float)
                    period = 365.25 / 7 if season == 52 else season
                    X = np.column_stack([_fourier(t, period, 4), t])
                    m = SARIMAX(x, exog=X[:n], order=order).fit(disp=False)
                    f, name = m.forecast(horizon, exog=X[n:]), f"ARIMA{order}+drift+4 Fourier pairs"
                else:
                    m = SARIMAX(x, order=order, trend="t").fit(disp=False)
                    f, name = m.forecast(horizon), f"ARIMA{order}+drift"
            except (ValueError, np.linalg.LinAlgError):
                continue
            tried += 1
            if np.all(np.isfinite(f)) and np.isfinite(m.aic) and (best is None or m.aic < best[0]):
                best = (m.aic, np.asarray(f, float), name)
    if best is None:
        raise ValueError("no ARIMA order could be fitted to this series")
    return best[1], best[2] + f" (best AIC of {tried} orders tried)", float(best[0])


def run_baselines(history, horizon: int, season: int, log: bool, progress: bool = False) -> dict:
    """Forecasts of ``horizon`` steps after ``history`` by every baseline:
    name -> {"forecast": array, "seconds": float, "model": description}. ETS and ARIMA are
    fitted on the original scale and, for a positive series, on the log scale too (the
    best of them is the one the LSTM is compared with). ``progress``: a bar over the fits
    (ARIMA on a long weekly series takes tens of seconds)."""
    try:  # statsmodels' linear algebra on many BLAS threads thrashes a busy machine
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return _run_baselines(history, horizon, season, log, progress)
    with threadpool_limits(1):
        return _run_baselines(history, horizon, season, log, progress)


def _run_baselines(history, horizon: int, season: int, log: bool, progress: bool = False) -> dict:
    from ..progress import progress_bar

    out = {}
    t = time.perf_counter()
    out["seasonal naive"] = {"forecast": seasonal_naive(history, horizon, season), "model": f"s={season}"}
    out["seasonal naive"]["seconds"] = time.perf_counter() - t
    scales = [False, True] if log else [False]
    bar = progress_bar(2 * len(scales), "baselines (ETS, ARIMA)", "fit", enabled=progress)
    for lg in scales:
        tag = " (log)" if lg else ""
        t = time.perf_counter()
        try:
            out["ETS" + tag] = {"forecast": fit_ets(history, horizon, season, log=lg),
                                "model": "additive trend + additive season" + (" on log" if lg else "")}
        except (ValueError, np.linalg.LinAlgError) as e:  # pragma: no cover - statsmodels failure
            out["ETS" + tag] = {"error": str(e)}
        out["ETS" + tag]["seconds"] = time.perf_counter() - t
        if bar:
            bar.update()
        t = time.perf_counter()
        try:
            f, name = fit_arima(history, horizon, season, log=lg, time_limit=25.0)
            out["ARIMA" + tag] = {"forecast": f, "model": name}
        except ValueError as e:
            out["ARIMA" + tag] = {"error": str(e)}
        out["ARIMA" + tag]["seconds"] = time.perf_counter() - t
        if bar:
            bar.update()
    if bar:
        bar.close()
    return out


#: The forecasting baselines of the field, in the order reports list them: the statsmodels
#: models and their equal-weight combination (the M competitions' "Comb" benchmark idea).
FIELD_BASELINES = ("seasonal naive", "ETS", "ARIMA", "Theta", "combination")


def _aicc(fit, n: int) -> float:
    k = len(getattr(fit, "params", ())) + 1
    aic = float(fit.aic)
    return aic + 2 * k * (k + 1) / max(n - k - 1, 1)


def fit_auto_ets(history, horizon: int, season: int) -> tuple[np.ndarray, str]:
    """An automatic ETS (statsmodels ``ETSModel``, additive errors): trend none / additive /
    additive damped, season none / additive / multiplicative (multiplicative only for a
    positive series, seasons only with two full seasons of history), the lowest AICc kept
    (Hyndman et al. 2002's selection, on a smaller model space).

    Args:
        history: (n,) the series up to the forecast origin, n >= 4.
        horizon: H >= 1 steps to forecast. season: the season's length (< 2: none).

    Returns:
        ``(forecast (H,), description)``.

    Example:
        >>> f, name = fit_auto_ets(10 + 0.5 * np.arange(30.0), 3, season=1)
        >>> bool(np.abs(f - (10 + 0.5 * np.arange(30.0, 33.0))).max() < 0.5), name.startswith("ETS(A,")
        (True, True)
    """
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    x = np.asarray(history, float)
    n = len(x)
    if n < 4:
        raise ValueError(f"history must hold at least 4 points for ETS, got {n}")
    seasons = [None]
    if season >= 2 and n >= 2 * season + 2:
        seasons += ["add"] + (["mul"] if np.all(x > 0) else [])
    trends = [(None, False), ("add", False)] + ([("add", True)] if n >= 10 else [])
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seas in seasons:
            for trend, damped in trends:
                try:
                    m = ETSModel(x, error="add", trend=trend, damped_trend=damped, seasonal=seas,
                                 seasonal_periods=season if seas else None).fit(disp=False, maxiter=200)
                    f = np.asarray(m.forecast(horizon), float)
                except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
                    continue
                score = _aicc(m, n)
                if np.all(np.isfinite(f)) and math.isfinite(score) and (best is None or score < best[0]):
                    code = f"ETS(A,{'N' if trend is None else 'Ad' if damped else 'A'},{ {None: 'N', 'add': 'A', 'mul': 'M'}[seas]})"
                    best = (score, f, code)
    if best is None:
        raise ValueError("no ETS model could be fitted to this series")
    return best[1], best[2] + " by AICc"


def fit_auto_arima(history, horizon: int, season: int, time_limit: float = 25.0) -> tuple[np.ndarray, str]:
    """:func:`fit_arima` on the original scale and, for a positive series, on the log scale,
    the one with the lower AIC kept (the log model's AIC moved to the original scale by the
    Jacobian, ``+ 2 sum log y``, so that the two are comparable).

    Example:
        >>> f, name = fit_auto_arima(10 + 0.5 * np.arange(40.0) + np.sin(np.arange(40.0)), 2, season=1)
        >>> f.shape, name.startswith("ARIMA")
        ((2,), True)
    """
    x = np.asarray(history, float)
    f, name, aic = _arima_search(x, horizon, season, time_limit)
    if np.all(x > 0):
        try:
            fl, namel, aicl = _arima_search(np.log(x), horizon, season, time_limit)
        except ValueError:
            return f, name
        if aicl + 2 * float(np.log(x).sum()) < aic and np.all(np.isfinite(np.exp(fl))):
            return np.exp(fl), namel.replace(" (best AIC", " on log (best AIC")
    return f, name


def fit_theta(history, horizon: int, season: int) -> tuple[np.ndarray, str]:
    """The Theta method (Assimakopoulos & Nikolopoulos 2000, as Hyndman & Billah 2003:
    simple exponential smoothing with drift; statsmodels ``ThetaModel``), deseasonalised
    (multiplicatively for a positive series) when a 90% autocorrelation test finds the
    season, as in the M3/M4 benchmark.

    Example:
        >>> f, name = fit_theta(10 + 0.5 * np.arange(30.0), 3, season=1)
        >>> bool(np.all(np.diff(f) > 0)), name
        (True, 'Theta')
    """
    from statsmodels.tsa.forecasting.theta import ThetaModel

    x = np.asarray(history, float)
    if len(x) < 4:
        raise ValueError(f"history must hold at least 4 points for Theta, got {len(x)}")
    deseason = season >= 2 and len(x) >= 2 * season
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ThetaModel(x, period=season if deseason else 1, deseasonalize=deseason,
                       method="auto" if np.all(x > 0) else "additive").fit()
        f = np.asarray(m.forecast(horizon), float)
    if not np.all(np.isfinite(f)):
        raise ValueError("the Theta forecast is not finite")
    return f, "Theta" + (f" (deseasonalised, s={season})" if deseason and season >= 2 else "")


def field_baselines(history, horizon: int, season: int, progress: bool = False, desc: str = "baselines") -> dict:
    """The field's forecasting baselines (:data:`FIELD_BASELINES`), each fitted on
    ``history`` and forecasting the next ``horizon`` steps: seasonal naive, automatic ETS
    (:func:`fit_auto_ets`), automatic (S)ARIMA (:func:`fit_auto_arima`), Theta
    (:func:`fit_theta`) and the mean of those three that succeeded ("combination").

    Args:
        history: (n,) values before the forecast origin. horizon: H. season: s (1: none).
        progress: a bar over the fits. desc: its label.

    Returns:
        name -> ``{"forecast": (H,) array, "model": description, "seconds": float}``, or
        ``{"error": text, "seconds": float}`` for a model that could not be fitted.

    Example:
        >>> rows = field_baselines(10 + np.arange(40.0) % 4, 4, season=4)
        >>> list(rows) == list(FIELD_BASELINES), rows["seasonal naive"]["forecast"].tolist()
        (True, [10.0, 11.0, 12.0, 13.0])
    """
    try:  # statsmodels' linear algebra on many BLAS threads thrashes a busy machine
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        limit = contextlib.nullcontext()
    else:
        limit = threadpool_limits(1)
    from ..progress import progress_bar

    out = {}
    fits = {"ETS": lambda: fit_auto_ets(history, horizon, season),
            "ARIMA": lambda: fit_auto_arima(history, horizon, season),
            "Theta": lambda: fit_theta(history, horizon, season)}
    bar = progress_bar(len(fits), desc, "fit", enabled=progress)
    with limit:
        t = time.perf_counter()
        out["seasonal naive"] = {"forecast": seasonal_naive(history, horizon, season), "model": f"s={max(season, 1)}",
                                 "seconds": time.perf_counter() - t}
        for name, fn in fits.items():
            t = time.perf_counter()
            try:
                f, desc_ = fn()
                out[name] = {"forecast": np.asarray(f, float), "model": desc_}
            except (ValueError, np.linalg.LinAlgError, ZeroDivisionError, OverflowError) as e:
                out[name] = {"error": " ".join(str(e).split()) or type(e).__name__}
            out[name]["seconds"] = time.perf_counter() - t
            if bar:
                bar.update()
    if bar:
        bar.close()
    ok = [out[k]["forecast"] for k in fits if "forecast" in out[k]]
    if ok:
        out["combination"] = {"forecast": np.mean(ok, 0), "seconds": sum(out[k]["seconds"] for k in fits),
                              "model": "mean of " + ", ".join(k for k in fits if "forecast" in out[k])}
    else:
        out["combination"] = {"error": "no statsmodels model could be fitted", "seconds": 0.0}
    return out


# ---------------------------------------------------------------- classification
def majority_class(train_y, n_classes: int | None = None) -> int:
    """The class most frequent in ``train_y`` (the lowest index on a tie): the prediction of
    the majority-class baseline.

    Args:
        train_y: (N,) integer class indices of the training examples, N >= 1.
        n_classes: K (default: one more than the largest index).

    Example:
        >>> majority_class([2, 0, 2, 1])
        2
    """
    y = np.asarray(train_y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"train_y must be a non-empty 1-D sequence of class indices, got shape {tuple(y.shape)}")
    return int(np.argmax(np.bincount(y, minlength=n_classes or 0)))


def summary_features(seqs: list[np.ndarray]) -> np.ndarray:
    """Per channel: mean, standard deviation, min, max, first and last value; (N, 6 C).

    Example:
        >>> summary_features([np.array([[1.], [3.]])]).tolist()
        [[2.0, 1.0, 1.0, 3.0, 1.0, 3.0]]
    """
    return np.stack([np.concatenate([s.mean(0), s.std(0), s.min(0), s.max(0), s[0], s[-1]]) for s in seqs])


def nearest_neighbour_baseline(train_x, train_y, test_x) -> np.ndarray:
    """1-nearest-neighbour (Euclidean) on :func:`summary_features`, standardised with the
    training set's statistics: the predicted class index of each test sequence.

    Example:
        >>> a = [np.zeros((3, 1)), np.ones((3, 1)) * 5]
        >>> nearest_neighbour_baseline(a, np.array([0, 1]), [np.ones((2, 1)) * 4]).tolist()
        [1]
    """
    ftr, fte = summary_features(train_x), summary_features(test_x)
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-8
    ftr, fte = (ftr - mu) / sd, (fte - mu) / sd
    pred = np.empty(len(fte), dtype=np.int64)
    sq = (ftr ** 2).sum(1)
    for k in range(0, len(fte), 512):
        d = sq[None, :] - 2 * fte[k : k + 512] @ ftr.T
        pred[k : k + 512] = np.asarray(train_y)[d.argmin(1)]
    return pred


def tfidf_baseline(texts: Sequence[str], y: np.ndarray, split, seed: int = 0,
                   Cs: Sequence[float] = (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)) -> dict:
    """TF-IDF (word 1- and 2-grams, sublinear tf) + logistic regression (scikit-learn),
    fitted on the training split, ``C`` chosen by validation accuracy, scored on test.

    Returns:
        ``{"C", "val_accuracy", "test_accuracy", "test_pred", "grid": {C: val acc}}``.
    """
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError as e:  # pragma: no cover
        raise ImportError("the text baseline needs scikit-learn: pip install 'lstmkit[text]'") from e
    tr, va, te = split
    texts = np.asarray(texts, dtype=object)
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True)
    Xtr = vec.fit_transform(texts[tr])
    Xva, Xte = vec.transform(texts[va]), vec.transform(texts[te])
    grid, best = {}, None
    for C in Cs:
        clf = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(Xtr, y[tr])
        acc = accuracy(y[va], clf.predict(Xva)) if len(va) else 0.0
        grid[str(C)] = acc
        if best is None or acc > best[0]:
            best = (acc, C, clf)
    acc, C, clf = best
    pred = clf.predict(Xte)
    return {"C": C, "val_accuracy": acc, "test_accuracy": accuracy(y[te], pred) if len(te) else None,
            "test_pred": pred.tolist(), "grid": grid, "features": int(Xtr.shape[1])}


# ---------------------------------------------------------------- the field's time-series classifiers (aeon)
TSC_BASELINES = ("1nn-euclidean", "1nn-dtw", "minirocket")
"""The field's standard time-series classification baselines, run by :func:`tsc_baseline`:
1-NN with Euclidean distance and with (full-window) DTW on the raw series, and MiniRocket
(Dempster et al. 2021) with its ridge classifier; all from aeon."""


def resample_to_length(seqs: Sequence[np.ndarray], length: int) -> np.ndarray:
    """Linear interpolation of each (n_i, C) sequence onto ``length`` evenly spaced steps:
    an equal-length (N, C, length) array for the classifiers that need one (Euclidean
    1-NN, MiniRocket). Equal-length input of that length comes back unchanged.

    Args:
        seqs: (n_i, C) arrays, n_i >= 1.
        length: the common length L >= 1.

    Example:
        >>> resample_to_length([np.array([[0.], [2.]])], 3)[0].tolist()
        [[0.0, 1.0, 2.0]]
    """
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be a positive int, got {length!r}")
    out = np.empty((len(seqs), seqs[0].shape[1] if len(seqs) else 0, length), dtype=np.float64)
    grid = np.linspace(0.0, 1.0, length)
    for k, s in enumerate(seqs):
        s = np.asarray(s, dtype=np.float64)
        if s.shape[0] == length:
            out[k] = s.T
        elif s.shape[0] == 1:
            out[k] = np.repeat(s.T, length, axis=1)
        else:
            src = np.linspace(0.0, 1.0, s.shape[0])
            out[k] = np.stack([np.interp(grid, src, s[:, c]) for c in range(s.shape[1])])
    return out


def tsc_baseline(name: str, train_x: Sequence[np.ndarray], train_y, test_x: Sequence[np.ndarray], *,
                 seed: int = 0, length: int | None = None) -> np.ndarray:
    """Fit one of :data:`TSC_BASELINES` (aeon) on the raw training series and predict the test series.

    Unequal lengths: DTW compares the series as they are; Euclidean 1-NN and MiniRocket
    see every series linearly resampled to ``length`` (default: the longest training
    series; at least 9 steps, MiniRocket's smallest kernel span).

    Args:
        name: ``"1nn-euclidean"``, ``"1nn-dtw"`` or ``"minirocket"``.
        train_x, test_x: (n_i, C) float arrays (steps, channels).
        train_y: (N,) class indices (or labels) of ``train_x``.
        seed: MiniRocket's random state.
        length: the common length for the equal-length classifiers.

    Returns:
        the predicted class of each test series (same kind as ``train_y``).

    Example:
        >>> a = [np.zeros((12, 1)), np.ones((12, 1))]
        >>> tsc_baseline("1nn-dtw", a, np.array([0, 1]), [np.full((10, 1), 0.9)]).tolist()
        [1]
    """
    if name not in TSC_BASELINES:
        raise ValueError(f"name must be one of {', '.join(TSC_BASELINES)}, got {name!r}")
    if len(train_x) == 0 or len(test_x) == 0:
        raise ValueError("train_x and test_x must hold at least one series each")
    try:
        from aeon.classification.convolution_based import MiniRocketClassifier
        from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier
    except ImportError as e:  # pragma: no cover - aeon is in the classify extra
        raise ImportError("the time-series baselines need aeon: pip install 'lstmkit[classify]'") from e
    import torch

    y = np.asarray(train_y)
    equal = len({len(s) for s in train_x} | {len(s) for s in test_x}) == 1
    threads = torch.get_num_threads()
    try:
        return _tsc_fit_predict(name, train_x, y, test_x, equal, seed, length, threads,
                                KNeighborsTimeSeriesClassifier, MiniRocketClassifier)
    finally:  # numba's OpenMP layer (MiniRocket's parallel loops) resets the thread count torch shares
        torch.set_num_threads(threads)


def _tsc_fit_predict(name, train_x, y, test_x, equal, seed, length, threads, KNeighborsTimeSeriesClassifier,
                     MiniRocketClassifier) -> np.ndarray:
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except (ImportError, ValueError):  # pragma: no cover
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "1nn-dtw":
            if equal:
                tr, te = resample_to_length(train_x, len(train_x[0])), resample_to_length(test_x, len(train_x[0]))
            else:  # aeon's collections of unequal length: a list of (C, n_i) arrays
                tr = [np.ascontiguousarray(np.asarray(s, np.float64).T) for s in train_x]
                te = [np.ascontiguousarray(np.asarray(s, np.float64).T) for s in test_x]
            clf = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw")
        else:
            L = max(int(length or max(len(s) for s in train_x)), 9 if name == "minirocket" else 1)
            tr, te = resample_to_length(train_x, L), resample_to_length(test_x, L)
            clf = (KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="euclidean") if name == "1nn-euclidean"
                   else MiniRocketClassifier(random_state=seed))
        clf.fit(tr, y)
        return np.asarray(clf.predict(te))
