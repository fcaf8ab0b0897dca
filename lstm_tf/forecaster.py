"""The forecaster: raw window in, raw forecast out, in NumPy and in TensorFlow.

Every forecast of a run, whoever makes it (training's evaluation and calibration,
backtests, gate inspection, the parity check, the exported graph), is

    z        = scale(window)                     the run's scaling, below
    forecast = unscale(anchor(z) + network(anchor.network_inputs(z), extras))

and for a panel whose floor took its series anchors (`series_anchors`: each series' own
linear forecast, from the raw window to original units):

    forecast = (1 - share) * forecast + share * series_anchor[series](window)

with one of three scalings (`config.json`'s `scaler` record):

    global   z = (x - mean) / std, per column, fitted on a single series' training rows
    series   the same with the statistics of the window's series (`series`, an index:
             a panel scaled by series)
    window   each window standardised by its own statistics (`data.window_scaling`,
             a panel's default)
    none     identity: the network's own units in and out (an export with --no-scaling)

and `unscale` the inverse affine map on the target columns (a positive scale, so a
quantile forecast [..., targets, Q] keeps its order). `extras` are the network's
inputs besides the window: the future-known covariates over the horizon (`known`,
z-scored by the run's covariate scaling) and the series index (`series`), when the
network takes them.

The NumPy side (float64) and the TensorFlow side (float32, traced into the exported
graph) sit next to each other, method by method, as in `anchors.Anchor`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import anchors as anchors_lib
from .data import window_scaling
from .series_anchors import SeriesAnchor
from .data.covariates import Covariates

SCALINGS = ("global", "series", "window", "none")


@dataclass
class Forecaster:
    """A run's scaling, anchor and network extras around its network.

    Arguments:
        scaling: one of `SCALINGS` (module docstring).
        anchor: the run's `anchors.Anchor`, in the scaled units.
        n_targets: the window's first `n_targets` columns are forecast.
        mean, std: the z-score statistics, [columns] (global) or [series, columns]
            (series); None otherwise.
        covariates: the scaling of the raw future-known covariates, or None.
        series_input: whether the network takes the series index (an embedding).
        series_anchor: a panel's anchors per series and their share of the forecast
            (`series_anchors`), or None.
    """

    scaling: str
    anchor: anchors_lib.Anchor
    n_targets: int
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    covariates: Covariates | None = None
    series_input: bool = False
    series_anchor: SeriesAnchor | None = None

    @classmethod
    def from_record(cls, scaler: dict, anchor: anchors_lib.Anchor, n_targets: int,
                    covariates: Covariates | None = None, series_input: bool = False,
                    scaled: bool = True, series_anchor: SeriesAnchor | None = None
                    ) -> "Forecaster":
        """From a `scaler` record as config.json keeps it (`scaler_record`); `scaled`
        False keeps the network's units (scaling `none`)."""
        scaling = ("none" if not scaled else "window" if scaler.get("per_window")
                   else "series" if scaler.get("per_series") else "global")
        mean = std = None
        if scaling in ("global", "series", "none") and "mean" in scaler:
            mean = np.asarray(scaler["mean"], np.float64)
            std = np.asarray(scaler["std"], np.float64)
        return cls(scaling, anchor, n_targets, mean, std, covariates, series_input,
                   series_anchor)

    @classmethod
    def of_run(cls, config, scaled: bool = True) -> "Forecaster":
        """The forecaster of a saved run (`config.RunConfig`)."""
        return cls.from_record(config.scaler, anchors_lib.of_run(config),
                               len(config.data.targets), Covariates.from_dict(config.covariates),
                               bool(config.model.series_embedding), scaled,
                               SeriesAnchor.from_dict(config.series_anchor))

    @property
    def reach(self) -> int:
        """The shortest window it forecasts from: the rows its anchors read."""
        return max(self.anchor.reach, self.series_anchor.reach if self.series_anchor else 0)

    # ------------------------------------------------------------------- NumPy

    def to_network(self, raw_windows: np.ndarray, series: np.ndarray | None = None):
        """(z, undo, to_z): windows [n, time, columns] in the network's units (float64);
        undo(forecast) takes a forecast [n, horizon, targets] (or quantiles [..., Q])
        back to original units, to_z(actual) takes actual values [n, horizon, targets]
        into the forecast's units (its inverse, but for an all-zero window, which undo
        forecasts zero: `data.window_scaling`)."""
        raw = np.asarray(raw_windows, np.float64)
        n = self.n_targets
        if self.scaling == "none":
            return raw, (lambda out: out), (lambda actual: actual)
        if self.scaling == "window":
            z, level, scale, spread = window_scaling.standardise(raw)
            level, scale, spread = (a[..., :n] for a in (level, scale, spread))  # [n, 1, targets]
        elif self.scaling == "series":
            level, scale = self.mean[series, None], self.std[series, None]
            z = (raw - level) / scale
            level, scale = level[..., :n], scale[..., :n]
            spread = scale
        else:
            z = (raw - self.mean) / self.std
            level, scale = self.mean[:n], self.std[:n]
            spread = scale

        def undo(out):  # quantiles [..., targets, Q]: the same map at every level
            return (out * spread[..., None] + level[..., None] if np.ndim(out) == 4
                    else out * spread + level)

        return z, undo, lambda actual: (actual - level) / scale

    def network_extras(self, series: np.ndarray | None, known: np.ndarray | None) -> dict:
        """The network's inputs besides the window (keyed by the Keras model's input
        names): `known` z-scored [n, horizon, K] float32, `series` [n] int64."""
        extras = {}
        if self.covariates is not None and known is not None:
            extras["known"] = self.covariates.transform(known).astype(np.float32)
        if self.series_input:
            extras["series"] = np.asarray(series, np.int64)
        return extras

    def forecast(self, network, raw_windows: np.ndarray, series: np.ndarray | None = None,
                 known: np.ndarray | None = None) -> np.ndarray:
        """The forecast for raw windows [n, time, columns] in original units (float64).

        `network` maps float32 network inputs to its output, [n, horizon, targets] or a
        quantile model's [n, horizon, targets, Q] (then so is the forecast); None: the
        anchor alone. `series` [n]: each window's series index; `known` [n, horizon, K]:
        the raw future-known covariates over each forecast.
        """
        z, undo, _ = self.to_network(raw_windows, series)
        anchored = self.anchor.forecast(z, self.n_targets)
        if network is None:
            return self._with_series_anchor(undo(anchored), raw_windows, series)
        extras = self.network_extras(series, known)
        inputs = self.anchor.network_inputs(z, self.n_targets).astype(np.float32)
        output = np.asarray(network({"window": inputs, **extras} if extras else inputs),
                            np.float64)
        return self._with_series_anchor(
            undo((anchored[..., None] if output.ndim == 4 else anchored) + output),
            raw_windows, series)

    def _with_series_anchor(self, forecast: np.ndarray, raw_windows, series) -> np.ndarray:
        """The forecast blended with the series anchors (point forecasts only)."""
        if self.series_anchor is None:
            return forecast
        share = self.series_anchor.share
        return (1 - share) * forecast + share * self.series_anchor.forecast(raw_windows, series)

    # -------------------------------------------------------------- TensorFlow

    def tf_to_network(self, windows, series=None):
        """`to_network` on a float32 tensor [batch, time, columns] (or one row
        [batch, columns], global scaling): (z, undo)."""
        import tensorflow as tf

        n = self.n_targets
        if self.scaling == "none":
            return windows, lambda out: out
        if self.scaling == "window":
            return window_scaling.tf_standardise(windows, n)[:2]
        # NumPy tables, made constants while tracing (an eager tensor would be captured
        # as an extra graph input).
        mean, std = self.mean.astype(np.float32), self.std.astype(np.float32)
        if self.scaling == "series":
            level = tf.gather(tf.constant(mean), series)[:, None, :]
            scale = tf.gather(tf.constant(std), series)[:, None, :]
            level, scale, z = level[..., :n], scale[..., :n], (windows - level) / scale
        else:
            z, level, scale = (windows - mean) / std, mean[:n], std[:n]

        def undo(out):  # [batch, horizon, targets], or quantiles [..., targets, Q]
            return (out * scale[..., None] + level[..., None] if out.shape.rank == 4
                    else out * scale + level)

        return z, undo

    def tf_network(self, model, extras: dict | None = None):
        """network(inputs): the Keras `model` fed the network inputs and, when it takes
        them, the covariates (z-scored here, from the raw `known` in `extras`) and the
        series index (`series`)."""
        from . import contract

        names = [tensor.name for tensor in model.inputs]
        if names == [contract.INPUT]:
            return lambda inputs: model(inputs, training=False)
        extras = extras or {}

        def network(inputs):
            feed = {contract.INPUT: inputs}
            if contract.KNOWN_INPUT in names:
                mean = np.asarray(self.covariates.mean, np.float32)
                std = np.asarray(self.covariates.std, np.float32)
                feed[contract.KNOWN_INPUT] = (extras[contract.KNOWN_INPUT] - mean) / std
            if contract.SERIES_INPUT in names:
                feed[contract.SERIES_INPUT] = extras[contract.SERIES_INPUT]
            return model(feed, training=False)

        return network

    def tf_forecast(self, network, windows, series=None):
        """`forecast` on a float32 tensor [batch, time, columns]; `network(inputs)` is
        the traced network (`tf_network`)."""
        z, undo = self.tf_to_network(windows, series)
        output = network(self.anchor.tf_network_inputs(z, self.n_targets))
        if self.anchor.kind != "none":  # (none: a zero forecast, left out of the graph)
            anchored = self.anchor.tf_forecast(z, self.n_targets)
            output = (anchored[..., None] if output.shape.rank == 4 else anchored) + output
        if self.series_anchor is None:
            return undo(output)
        share = self.series_anchor.share
        return ((1 - share) * undo(output)
                + share * self.series_anchor.tf_forecast(windows, series))
