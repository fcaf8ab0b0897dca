"""Forecast accuracy in original units, and the naive baselines a model must beat.

All arrays are [windows, horizon, targets]. MASE divides a forecast's MAE by the
in-sample MAE of the one-step naive forecast on the training part (Hyndman and
Koehler, 2006), so MASE < 1 means better than persistence was in training.
"""

from __future__ import annotations

import numpy as np


def mae(forecast: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(forecast - actual)))


def rmse(forecast: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((forecast - actual) ** 2)))


def smape(forecast: np.ndarray, actual: np.ndarray) -> float:
    """Symmetric MAPE in percent: mean of 200 |F - A| / (|F| + |A|); a pair of zeros counts 0."""
    forecast, actual = np.asarray(forecast, np.float64), np.asarray(actual, np.float64)
    denominator = np.abs(forecast) + np.abs(actual)
    ratio = np.divide(2.0 * np.abs(forecast - actual), denominator,
                      out=np.zeros_like(denominator), where=denominator > 0)
    return float(100.0 * np.mean(ratio))


def naive_forecast(targets_history: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    """Persistence: every step of the horizon repeats the last observed value."""
    last = targets_history[starts - 1]  # [windows, targets]
    return np.repeat(last[:, None, :], horizon, axis=1)


def seasonal_naive_forecast(targets_history: np.ndarray, starts: np.ndarray, horizon: int,
                            season: int) -> np.ndarray:
    """Step k of the horizon repeats the value one season (or more) before it."""
    steps = np.arange(horizon)
    lag = season * (steps // season + 1)  # always reaches back before the window's start
    rows = starts[:, None] + steps[None, :] - lag[None, :]
    return targets_history[rows]


# ------------------------------------------------------------------------- panels

PANEL_METRICS = ("mae", "rmse", "smape", "mase")


def per_series(forecasts: dict[str, np.ndarray], actual: np.ndarray, series: np.ndarray,
               scales: np.ndarray) -> dict[str, np.ndarray]:
    """Each series' MAE, RMSE, sMAPE and MASE, for every forecast in `forecasts`.

    `forecasts` maps a name (model, naive, ...) to [windows, horizon, targets]; `series`
    [windows] is each window's series index, `scales` [series] each series' MASE
    denominator. Returns {"<name>_<metric>": [series]}, NaN where a series has no
    window (or a baseline has no forecast for it).
    """
    count = len(scales)
    found = np.bincount(series, minlength=count)
    result = {}
    for name, forecast in forecasts.items():
        error = forecast - actual
        # Sums per series over its windows, steps and targets; `per` values per window.
        per = int(np.prod(actual.shape[1:]))
        absolute = np.bincount(series, np.abs(error).reshape(len(error), -1).sum(1), count)
        squared = np.bincount(series, (error ** 2).reshape(len(error), -1).sum(1), count)
        denominator = np.abs(forecast) + np.abs(actual)
        ratio = np.divide(2.0 * np.abs(error), denominator, out=np.zeros_like(denominator),
                          where=denominator > 0)
        symmetric = np.bincount(series, ratio.reshape(len(error), -1).sum(1), count)
        with np.errstate(invalid="ignore", divide="ignore"):
            mae_ = absolute / (found * per)
            result[f"{name}_mae"] = mae_
            result[f"{name}_rmse"] = np.sqrt(squared / (found * per))
            result[f"{name}_smape"] = 100.0 * symmetric / (found * per)
            result[f"{name}_mase"] = mae_ / scales
    return result


def panel_summary(table: dict[str, np.ndarray], names: list[str]) -> dict:
    """The M4 / Monash way of aggregating a panel: the mean over series of MASE and of
    sMAPE (and of MAE and RMSE, which mix units), per forecast, and how many series the
    model beats each baseline on (MASE; a series' scale is the same for every forecast)."""
    summary = {}
    for name in names:
        summary[name] = {metric: float(np.nanmean(table[f"{name}_{metric}"]))
                         for metric in PANEL_METRICS}
        summary[name]["series"] = int(np.sum(np.isfinite(table[f"{name}_mase"])))
    for name in names[1:]:
        both = np.isfinite(table[f"{name}_mase"]) & np.isfinite(table[f"{names[0]}_mase"])
        summary[f"beats_{name}"] = int(np.sum(
            table[f"{names[0]}_mase"][both] < table[f"{name}_mase"][both]))
    return summary


def diebold_mariano(differences: np.ndarray, series: np.ndarray, lag: int) -> float:
    """Diebold and Mariano's (1995) statistic of a mean loss difference: mean(d) over its
    standard error, the variance by Newey and West (Bartlett weights up to `lag`, taken
    within each series: the windows of one series overlap, those of two do not).

    `differences` [n]: per forecast, loss A - loss B in time order within each series
    (`series` [n], the series of each). Below -1.645, A is better at the one-sided 5%
    level; -inf or inf when every difference is the same nonzero value, 0 when all are 0;
    NaN for a single forecast (no standard error: one window shows no clear edge).
    """
    d = np.asarray(differences, np.float64)
    if len(d) < 2:
        return float("nan")
    if np.ptp(d) == 0:  # no spread: a sure sign, or none
        return 0.0 if d[0] == 0 else float(np.sign(d[0]) * np.inf)
    order = np.argsort(series, kind="stable")  # each series' forecasts together, in order
    centred, series = (d - d.mean())[order], np.asarray(series)[order]
    variance = float(centred @ centred)
    for k in range(1, min(lag, len(d) - 1) + 1):  # products of one series' pairs k apart
        same = series[k:] == series[:-k]
        variance += 2 * (1 - k / (lag + 1)) * float(centred[k:][same] @ centred[:-k][same])
    if variance <= 0:  # (Bartlett weights keep it positive but for rounding)
        return float(np.sign(d.mean()) * np.inf)
    return float(d.mean() / np.sqrt(variance / len(d) ** 2))
