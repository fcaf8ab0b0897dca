"""Series anchors: each series of a panel its own linear forecast, inside the panel's graph.

A panel's global model holds one anchor for every series (`anchors.Anchor`, in each
window's own units), so what a statistical method fits per series (a seasonal ARIMA's
moving averages, a series' own trend) is out of its reach. A series anchor is the single
series' choice (`anchors.choose` on that series' rows alone: the naive, seasonal and trend
candidates and the history ARIMAs, averaged with the partner as a single series without a
validation part is), a linear map of the window in the series' own z-scores:

    z = (x - mean[s]) / std[s]
    series_anchor[s](x)[k, target] = mean[s, target] + std[s, target] * (bias[s, target, k]
                                     + sum_r weights[s, target, k, r] * z[T - R + r, target])

for the window x of series s (its last R rows), mean and std those of the rows it was
fitted on. (The same map with the statistics folded into the weights and bias would be
one product in raw units, but in float32 a series at a level of 1e5 with a spread of 1e3
would lose digits in every term: 3e-5 of the spread against the parity gate's 1e-5 on
the U.S. employment panel.) The run's forecast becomes

    forecast = (1 - share) * model(x) + share * series_anchor[series](x)

with `share` 1 (the series anchors alone, floor candidate `series`) or 0.5 (their mean with
the model, `mean-series`), chosen by the floor on the validation windows (`train.floor`).
The graph then takes the `series` input (the series' index), as a panel scaled by series
does; it serves only the series it was trained on.

Fitted twice (`fit`): on each series' rows before its validation part, to be scored on the
validation windows with nothing of them seen, and when the floor takes it, on every row
before the test part (the anchors the run keeps).

NumPy (`SeriesAnchor.forecast`) and TensorFlow (`SeriesAnchor.tf_forecast`: a Gather, a
Mul and a ReduceSum, which every ONNX runtime has) side by side, as `anchors.Anchor`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import anchors as anchors_lib
from .data.windowing import window_starts
from .errors import UserError

SHARES = {"series": 1.0, "mean-series": 0.5}  # the floor's two candidates (`train.floor`)
# The panels series anchors are fitted for: each series costs a choice, twice (on this
# 2-core machine about 250 us a row for seasonal monthly series, whose sarima fit is most
# of it, 50 us for yearly and quarterly ones: 150 series x 300 months add 16 s to a run,
# 200,000 monthly rows 100 s), and the graph holds series x targets x horizon x reach weights.
MAX_ROWS = 200_000
MAX_WEIGHTS = 4_000_000


@dataclass
class SeriesAnchor:
    """weights [series, targets, horizon, reach] and bias [series, targets, horizon] in
    each series' z-scores, whose statistics are mean and std [series, targets];
    `parts[s][target]` the candidates averaged for series s; `share` the anchors' weight
    in the run's forecast (module docstring)."""

    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    parts: list[list[list[str]]]
    share: float = 1.0

    @property
    def reach(self) -> int:
        return int(self.weights.shape[-1])

    def with_share(self, share: float) -> "SeriesAnchor":
        return SeriesAnchor(self.weights, self.bias, self.mean, self.std, self.parts, share)

    def summary(self) -> dict:
        """What an exported model's metadata says of them (the weights are in the graph)."""
        kinds = sorted({name for series in self.parts for target in series for name in target})
        return {"share": self.share, "reach": self.reach, "series": len(self.parts),
                "candidates": kinds}

    def to_dict(self) -> dict:
        """Everything, for config.json."""
        return {**self.summary(), "parts": self.parts, "weights": self.weights.tolist(),
                "bias": self.bias.tolist(), "mean": self.mean.tolist(),
                "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, saved: dict | None) -> "SeriesAnchor | None":
        if not saved:
            return None
        weights, bias, mean, std = (np.asarray(saved[key], np.float64)
                                    for key in ("weights", "bias", "mean", "std"))
        if (weights.ndim != 4 or bias.shape != weights.shape[:3]
                or mean.shape != weights.shape[:2] or std.shape != mean.shape):
            raise UserError("config.json: the series anchors' weights, bias and statistics "
                            "have the wrong shapes")
        return cls(weights, bias, mean, std, saved["parts"], float(saved["share"]))

    # ------------------------------------------------------------------- NumPy

    def forecast(self, raw_windows: np.ndarray, series: np.ndarray) -> np.ndarray:
        """Each window's series anchor [n, horizon, targets] in raw units (float64)."""
        n_targets = self.weights.shape[1]
        series = np.asarray(series, np.int64)
        mean, std = self.mean[series, None], self.std[series, None]  # [n, 1, targets]
        z = (np.asarray(raw_windows, np.float64)[:, -self.reach:, :n_targets] - mean) / std
        out = (np.einsum("nthr,nrt->nht", self.weights[series], z)
               + np.transpose(self.bias[series], (0, 2, 1)))
        return out * std + mean

    # -------------------------------------------------------------- TensorFlow

    def tf_forecast(self, windows, series):
        """`forecast` on a float32 tensor [batch, time, columns] and int64 `series` [batch]."""
        import tensorflow as tf

        def table(values):  # a NumPy table as a constant, one row per window's series
            return tf.gather(tf.constant(values.astype(np.float32)), series)

        n_targets = self.weights.shape[1]
        mean, std = table(self.mean)[:, :, None], table(self.std)[:, :, None]  # [b, t, 1]
        recent = tf.transpose(windows[:, -self.reach:, :n_targets], (0, 2, 1))  # [b, t, r]
        z = (recent - mean) / std
        out = tf.reduce_sum(table(self.weights) * z[:, :, None, :], axis=-1) + table(self.bias)
        return tf.transpose(out * std + mean, (0, 2, 1))  # [b, h, t]


def fits(rows: int, series_count: int, n_targets: int, horizon: int, window: int) -> bool:
    """Whether a panel of `rows` rows is small enough for series anchors (`MAX_ROWS`,
    `MAX_WEIGHTS`)."""
    return rows <= MAX_ROWS and series_count * n_targets * horizon * window <= MAX_WEIGHTS


def fit(values: np.ndarray, offsets: np.ndarray, ends: np.ndarray, n_targets: int,
        season: int | None, window: int, horizon: int) -> SeriesAnchor:
    """Each series' anchor (share 1) from its rows `offsets[i]:ends[i]` of the stacked
    `values` [rows, columns]: the single-series choice without a validation part
    (`anchors.choose` scoring the candidates that fit nothing on the training windows,
    with its partner ARIMA fitted on the rows), in the z-scores of those rows. A series
    with no window of window + horizon rows forecasts its last value."""
    series_count = len(offsets) - 1
    weights = np.zeros((series_count, n_targets, horizon, window))
    bias = np.zeros((series_count, n_targets, horizon))
    mean, std = np.zeros((series_count, n_targets)), np.ones((series_count, n_targets))
    parts = []
    for i in range(series_count):
        rows = np.asarray(values[offsets[i]:ends[i], :n_targets], np.float64)
        starts = window_starts(0, len(rows), window, horizon)
        if len(starts) == 0:
            weights[i, :, :, -1] = 1.0
            parts.append([["last"] for _ in range(n_targets)])
            continue
        mean[i] = rows.mean(axis=0)
        std[i] = np.where(rows.std(axis=0) > 0, rows.std(axis=0), 1.0)
        anchor, _ = anchors_lib.choose((rows - mean[i]) / std[i], starts, starts, horizon,
                                       n_targets, season, window, fixed_only=True, history=True)
        weights[i, :, :, window - anchor.reach:] = anchor.weights
        bias[i] = anchor.bias
        parts.append([list(names) for names in anchor.parts])
    used = np.flatnonzero(np.abs(weights).sum(axis=(0, 1, 2)) > 0)
    reach = window - int(used[0]) if len(used) else 1
    return SeriesAnchor(weights[..., window - reach:], bias, mean, std, parts)
