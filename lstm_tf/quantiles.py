"""Probabilistic forecasts: quantile levels, the head's calibration, and the interval
metrics (with the seasonal-naive reference). The head whose quantiles never cross and
the pinball loss L_τ(y, q) = max(τ (y - q), (τ - 1)(y - q)) are `layers.QuantileHead` and
`layers.PinballLoss`; adding the anchor and un-scaling (q * std + mean, std > 0) keep
their order, so the raw quantiles never cross either. The point forecast is the median.

Metrics (original units; arrays [windows, horizon, targets, Q]):
    scaled pinball   mean over levels and points of L_τ / s, with s the MASE scale
                     (in-sample one-step naive MAE): the M5 competition's SPL; the
                     median's term is half its MASE
    weighted QL      GluonTS' mean_wQuantileLoss: mean over levels of
                     2 Σ L_τ / Σ |y|
    coverage, width  for each central interval (τ, 1 - τ) among the levels: the
                     share of actual values inside [q_τ, q_{1-τ}] and its mean width

The reference a user would compute by hand: the seasonal-naive forecast plus the
empirical quantiles of its residuals on the training part, per horizon step and
target (`residual_intervals`).
"""

from __future__ import annotations

import math

import numpy as np

from . import metrics as metrics_lib
from .errors import UserError
from .forecaster import Forecaster

MEDIAN = 0.5
LAYER_NAME = "quantiles"  # the Keras layer; also the ONNX output's name (contract.QUANTILES)


# ------------------------------------------------------------------------- levels

def parse_levels(text: str | list | tuple | None, option: str = "--quantiles") -> list[float] | None:
    """Validated quantile levels from "0.1,0.5,0.9" (or a list): numbers strictly between
    0 and 1, strictly increasing; the median 0.5 is added when missing. None stays None."""
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    levels = []
    for item in items:
        word = item.strip() if isinstance(item, str) else item
        if word == "":
            raise UserError(f"{option}: empty entry in {text!r}; give numbers such as 0.1,0.5,0.9")
        try:
            level = float(word)
        except (TypeError, ValueError):
            raise UserError(f"{option}: {word!r} is not a number; give levels such as "
                            "0.1,0.5,0.9") from None
        if isinstance(word, bool) or not math.isfinite(level) or not 0 < level < 1:
            raise UserError(f"{option}: {word} is outside (0, 1); a quantile level is a "
                            "probability strictly between 0 and 1")
        levels.append(level)
    if not levels:
        raise UserError(f"{option}: no levels given; e.g. 0.1,0.5,0.9")
    for before, after in zip(levels, levels[1:]):
        if after == before:
            raise UserError(f"{option}: {after:g} is repeated; each level once, in increasing order")
        if after < before:
            raise UserError(f"{option}: levels must increase ({before:g} then {after:g}); "
                            f"e.g. {','.join(f'{x:g}' for x in sorted(set(levels)))}")
    if MEDIAN not in levels:  # the point forecast is the median
        levels = sorted(levels + [MEDIAN])
    return levels


def median_index(levels: list[float]) -> int:
    return list(levels).index(MEDIAN)


def label(level: float) -> str:
    """The level as written in column names: 0.1 -> "q0.1", 0.05 -> "q0.05"."""
    return f"q{level:g}"


def central_intervals(levels: list[float]) -> list[tuple[int, int, float]]:
    """(lower index, upper index, nominal coverage) of every central interval whose two
    ends are among the levels, widest first: 0.1, 0.5, 0.9 -> [(0, 2, 0.8)]."""
    return [(i, j, round(levels[j] - low, 9)) for i, low in enumerate(levels)
            for j in range(len(levels) - 1, i, -1)
            if low < MEDIAN and abs(levels[j] - (1 - low)) < 1e-9]


def interval_name(coverage: float) -> str:
    return f"{100 * coverage:g}%"


# ------------------------------------------------------------------------- Keras

def calibrate(model, network, inputs_z: np.ndarray, anchor, actual_z: np.ndarray) -> dict:
    """Set the head's offset scales so that on held-out windows (the validation part)
    each level's share of actual values below its quantile is the level itself.

    `network` is `model`'s batched prediction, `inputs_z` [windows, time, columns] the
    windows and `actual_z` [windows, horizon, targets] their actual values, in z-scores;
    `anchor` the run's. The scales restart from 1 (uncalibrated). Per
    target, pooled over windows and horizon steps, outward from the median: with q_j
    the quantile just calibrated and o the next offset, softplus(r),

        above:  s = quantile_τ((y - q_j) / o)         q_{j+1} = q_j + s o
        below:  s = quantile_{1-τ}((q_j - y) / o)     q_{j-1} = q_j - s o

    clipped to [0, 100] (s = 0: two quantiles coincide, never cross). A network
    trained to convergence on a short series is overconfident (its offsets fit the
    training windows); this is a split-conformal-style correction on data it was not
    fitted on (early stopping only chose the epoch there). Returns {"q<level>":
    [scale per target]} (the median's is 1).
    """
    layer = model.get_layer(LAYER_NAME)
    levels, m = layer.levels, layer.median
    layer.scale.assign(np.ones(layer.scale.shape, np.float32))
    q = Forecaster("none", anchor, actual_z.shape[-1]).forecast(network, inputs_z)
    y = np.asarray(actual_z, np.float64)
    scales = np.ones(layer.scale.shape, np.float64)  # [targets, Q]
    for t in range(q.shape[2]):
        qt, yt = q[:, :, t, :].reshape(-1, len(levels)), y[:, :, t].reshape(-1)
        for direction in (1, -1):
            calibrated = qt[:, m]
            j = m + direction
            while 0 <= j < len(levels):
                offset = np.maximum(direction * (qt[:, j] - qt[:, j - direction]), 1e-12)
                ratio = direction * (yt - calibrated) / offset
                tau = levels[j] if direction > 0 else 1 - levels[j]
                scales[t, j] = float(np.clip(np.quantile(ratio, tau), 0.0, 100.0))
                calibrated = calibrated + direction * scales[t, j] * offset
                j += direction
    layer.scale.assign(scales.astype(np.float32))
    return calibration_of(model)


def calibration_of(model) -> dict:
    """The head's offset scales, {"q<level>": [one per target]} (all 1: uncalibrated)."""
    layer = model.get_layer(LAYER_NAME)
    scales = np.asarray(layer.scale.numpy() if hasattr(layer.scale, "numpy") else layer.scale)
    return {label(level): [round(float(x), 6) for x in scales[:, j]]
            for j, level in enumerate(layer.levels)}


def pinball_loss(levels: list[float]):
    """`layers.PinballLoss` (the mean pinball loss over `levels`), a Keras loss saved
    with the model."""
    from .layers import PinballLoss

    return PinballLoss(levels)


def add_head(model, levels: list[float], horizon: int, targets: int, zero_head: bool) -> None:
    """Append the quantile head to a Sequential body: Dense("head", horizon·targets·Q) ->
    Reshape [horizon, targets, Q] -> QuantileHead("quantiles"), all float32.

    With `zero_head` the Dense kernel starts at zero: the median starts at the anchor
    and every offset at softplus(0) = 0.69 z-scores.
    """
    import keras

    from .layers import QuantileHead

    model.add(keras.layers.Dense(horizon * targets * len(levels), name="head", dtype="float32",
                                 kernel_initializer="zeros" if zero_head else "glorot_uniform"))
    model.add(keras.layers.Reshape((horizon, targets, len(levels)), name="quantile_raw",
                                   dtype="float32"))
    model.add(QuantileHead(levels, name=LAYER_NAME, dtype="float32"))


def levels_of(model) -> list[float] | None:
    """The quantile levels of a Keras forecaster, or None for a point forecaster."""
    return next((list(layer.levels) for layer in getattr(model, "layers", [])
                 if layer.name == LAYER_NAME and hasattr(layer, "levels")), None)


def zero_median(head, levels: list[float]) -> None:
    """Zero the Dense head's median outputs (kernel columns and bias), keeping the offsets:
    the median becomes the anchor's forecast and the interval keeps its learnt width.
    The head's outputs are laid out [horizon, targets, Q] (C order), so the median is
    every Q-th column from `median_index`."""
    kernel, bias = head.get_weights()
    columns = np.arange(median_index(levels), kernel.shape[1], len(levels))
    kernel[:, columns] = 0
    bias[columns] = 0
    head.set_weights([kernel, bias])


def point_network(model, call=None):
    """`call` (default: `model` itself), a function of the inputs returning `model`'s
    output, made to return the point forecast: the median of a quantile model's output
    [..., Q]; a point model's output unchanged."""
    call, levels = call or model, levels_of(model)
    if levels is None:
        return call
    m = median_index(levels)
    return lambda *args, **kwargs: call(*args, **kwargs)[..., m]


def with_median(quantiles, levels: list[float] | None) -> list:
    """[point forecast, quantiles] of a traced model's quantile output (the forecast is
    the median slice itself, so the two outputs agree exactly); [output] without levels."""
    return [quantiles] if levels is None else [quantiles[..., median_index(levels)], quantiles]


# ------------------------------------------------------------------------- NumPy

def pinball(quantiles: np.ndarray, actual: np.ndarray, levels: list[float]) -> np.ndarray:
    """Pinball loss of each level [Q], averaged over every point."""
    error = actual[..., None] - quantiles
    tau = np.asarray(levels)
    loss = np.maximum(tau * error, (tau - 1) * error)
    return loss.reshape(-1, len(levels)).mean(axis=0)


def report(quantiles: np.ndarray, actual: np.ndarray, levels: list[float], scale: float) -> dict:
    """Scaled pinball, weighted quantile loss, and each central interval's coverage and
    mean width, in original units (module docstring)."""
    quantiles, actual = np.asarray(quantiles, np.float64), np.asarray(actual, np.float64)
    per_level = pinball(quantiles, actual, levels)
    absolute = float(np.sum(np.abs(actual)))
    result = {
        "mean_scaled_pinball": float(np.mean(per_level) / scale),
        "weighted_quantile_loss": float(np.mean(2 * per_level * actual.size / absolute))
        if absolute > 0 else None,
        "pinball": {label(level): float(loss) for level, loss in zip(levels, per_level)},
        "intervals": {},
    }
    for low, high, nominal in central_intervals(levels):
        inside = (actual >= quantiles[..., low]) & (actual <= quantiles[..., high])
        result["intervals"][interval_name(nominal)] = {
            "levels": [levels[low], levels[high]],
            "coverage": float(np.mean(inside)),
            "mean_width": float(np.mean(quantiles[..., high] - quantiles[..., low]))}
    return result


def residual_intervals(history: np.ndarray, train_end: int, starts: np.ndarray, horizon: int,
                       season: int | None, levels: list[float]) -> tuple[np.ndarray | None, str]:
    """The seasonal-naive forecast (persistence without a season) plus the empirical
    quantiles of its residuals on the training rows, per horizon step and target:
    [len(starts), horizon, targets, Q] in original units, and the method's name.

    `history` [rows, targets] raw; the residuals are those of every forecast origin
    whose whole horizon lies in the training part. (None, name) when the training part
    holds no such origin or a start is too early to look a season back.
    """
    lag = season or 1
    reach = lag * ((horizon - 1) // lag + 1)  # rows before a start the forecast reads
    train_starts = np.arange(reach, train_end - horizon + 1)
    name = "seasonal_naive" if season else "naive"
    if len(train_starts) == 0 or np.min(starts) < reach:
        return None, name

    def forecast(at):
        if season:
            return metrics_lib.seasonal_naive_forecast(history, at, horizon, season)
        return metrics_lib.naive_forecast(history, at, horizon)

    rows = train_starts[:, None] + np.arange(horizon)[None, :]
    residuals = history[rows] - forecast(train_starts)  # [origins, horizon, targets]
    offsets = np.quantile(residuals, levels, axis=0)  # [Q, horizon, targets]
    point = forecast(starts)
    return point[..., None] + np.moveaxis(offsets, 0, -1)[None], name
