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


def mase_scale(train_targets: np.ndarray, season: int = 1) -> float:
    """In-sample MAE of the (seasonal) naive forecast on the training part."""
    return float(np.mean(np.abs(train_targets[season:] - train_targets[:-season])))


def report(forecast: np.ndarray, actual: np.ndarray, scale: float) -> dict[str, float]:
    error = mae(forecast, actual)
    return {"mae": error, "rmse": rmse(forecast, actual), "mase": error / scale}
