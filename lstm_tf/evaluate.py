"""Evaluation of a trained run: its forecasts against the naive baselines, in original units.

`evaluate_model` forecasts one part's windows (`Prepared.forecast`: the run's
forecaster) and scores the model, the naive and the seasonal naive forecasts:

- a single series: MAE, RMSE, sMAPE and MASE over every window and step, MASE scaled by
  the in-sample naive MAE of its training rows;
- a panel: the same per series (MASE scaled by each series' in-sample seasonal naive
  MAE, M4's definition) and their means over the series, as the M4 and Monash tables
  report them;
- a quantile run also: scaled pinball, weighted quantile loss and interval coverage,
  against the seasonal-naive residual intervals (`quantiles`).

It returns an `Evaluation`: metrics.json's block, what forecast.png draws and a
panel's per_series.csv columns (`figures` writes both).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import metrics as metrics_lib
from . import quantiles as quantiles_lib
from . import runs
from .config import RunConfig
from .data.prepare import Prepared, evaluation_data, naive_scales
from .figures import forecast_times


@dataclass
class Evaluation:
    """A run's evaluation on one part.

    metrics: metrics.json's content for the part (JSON-ready).
    plot: what `figures.plot_forecast` (or, with `plot["panel"]`,
        `figures.plot_panel_forecast`) draws.
    per_series: a panel's per_series.csv columns (`figures.per_series_csv`); None for
        a single series.
    """

    metrics: dict
    plot: dict
    per_series: dict | None = None


def keras_predict(model) -> Callable[[np.ndarray], np.ndarray]:
    """`model`'s batched point prediction (a quantile model's median), as
    `forecaster.Forecaster.forecast` takes it (under a strategy, in batches that give every
    replica windows)."""
    return quantiles_lib.point_network(model, keras_network(model))


def keras_network(model) -> Callable[[np.ndarray], np.ndarray]:
    """`model`'s whole batched output (a quantile model's quantiles [..., Q])."""
    from .devices import predict_in_even_shards

    return lambda x: predict_in_even_shards(model, x, batch_size=256)


def evaluate(run: str | Path, data_path: str | None = None) -> dict:
    """Metrics of a saved run on its own test part, or on every window of another CSV file."""
    config = runs.load_config(run)
    model = runs.load_model(run)
    prepared, part = evaluation_data(config, data_path)
    return evaluate_model(model, prepared, config, part).metrics


def evaluate_model(model, prepared: Prepared, config: RunConfig,
                   part: str = "test") -> Evaluation:
    """The model's and the naive baselines' metrics on one part (module docstring)."""
    data, levels = config.data, config.model.quantiles
    starts = prepared.starts[part]
    # One prediction: a quantile model's point forecast is the median of its quantiles.
    whole = prepared.forecast(keras_network(model), starts, data.window, data.horizon)
    quantiles = whole if levels else None
    forecast = whole[..., quantiles_lib.median_index(levels)] if levels else whole
    actual = prepared.actual(starts, data.window, data.horizon)
    summarise = _panel_evaluation if prepared.series_of is not None else _series_evaluation
    return summarise(model, prepared, config, part, forecast, quantiles, actual)


def _series_evaluation(model, prepared: Prepared, config: RunConfig, part: str,
                       forecast: np.ndarray, quantiles: np.ndarray | None,
                       actual: np.ndarray) -> Evaluation:
    """A single series: every window and step pooled, MASE scaled on its training rows."""
    data, series = config.data, prepared.series
    starts = prepared.starts[part]
    raw_targets = series.values[:, :prepared.n_targets]
    scale = metrics_lib.mase_scale(raw_targets[:prepared.split.train_end])
    result = {"part": part, "windows": int(len(starts)), "targets": series.targets,
              "anchor": prepared.anchor.describe(),
              "model": metrics_lib.report(forecast, actual, scale),
              "naive": metrics_lib.report(
                  metrics_lib.naive_forecast(raw_targets, starts, data.horizon), actual, scale)}
    if data.season and starts.min() >= data.season:
        result["seasonal_naive"] = metrics_lib.report(
            metrics_lib.seasonal_naive_forecast(raw_targets, starts, data.horizon, data.season),
            actual, scale)
        result["season"] = data.season
    plot = {"forecast": forecast, "actual": actual, "targets": series.targets,
            **forecast_times(series, starts)}
    if quantiles is not None:
        result["quantiles"], plot["band"] = quantile_metrics(
            model, prepared, config, starts, quantiles, actual, scale)
    return Evaluation(result, plot)


def _panel_evaluation(model, prepared: Prepared, config: RunConfig, part: str,
                      forecast: np.ndarray, quantiles: np.ndarray | None,
                      actual: np.ndarray) -> Evaluation:
    """A panel: per series (MAE, RMSE, sMAPE, MASE for the model, naive and seasonal
    naive; per_series.csv) and their means over the series, MASE scaled by each series'
    in-sample seasonal naive MAE over its training part (the naive one without a season)."""
    data, panel = config.data, prepared.series
    starts, series = prepared.starts[part], prepared.series_of[part]
    raw_targets = panel.values[:, :prepared.n_targets]
    forecasts = {"model": forecast,
                 "naive": metrics_lib.naive_forecast(raw_targets, starts, data.horizon)}
    season = data.season if data.season and data.season > 1 else None
    if season:
        reach = season * ((data.horizon - 1) // season + 1)
        seasonal = metrics_lib.seasonal_naive_forecast(raw_targets, starts, data.horizon, season)
        reaches_back = starts - reach < panel.offsets[series]  # into the previous series
        seasonal[reaches_back] = np.nan
        forecasts["seasonal_naive"] = seasonal
    scales = naive_scales(panel, prepared.split, season or 1)
    table = metrics_lib.per_series(forecasts, actual, series, scales)
    result = {"part": part, "windows": int(len(starts)), "targets": panel.targets,
              "anchor": prepared.anchor.describe(), "series": len(panel.names),
              "scaling": prepared.scaling, "mase_scale": "seasonal naive" if season else "naive",
              **metrics_lib.panel_summary(table, list(forecasts))}
    if season:
        result["season"] = season
    if quantiles is not None:
        result["quantiles"], quantile_table = panel_quantile_metrics(
            model, prepared, config, starts, series, quantiles, actual, scales)
        table = {**table, **quantile_table}
    plot = {"panel": True, "table": table, "names": panel.names, "targets": panel.targets,
            "values": raw_targets, "offsets": panel.offsets, "time": panel.time,
            "time_column": panel.time_column, "starts": starts, "series_of": series,
            "forecast": forecast, "window": data.window}
    return Evaluation(result, plot, {"series": panel.names, **table})


def quantile_metrics(model, prepared: Prepared, config: RunConfig, starts: np.ndarray,
                     raw: np.ndarray, actual: np.ndarray, scale: float) -> tuple[dict, dict]:
    """The quantile block of `metrics.json` (`quantiles.report` of the model and of the
    seasonal-naive residual intervals) and the widest central band for `forecast.png`."""
    levels, n_targets = config.model.quantiles, len(prepared.series.targets)
    reference, name = quantiles_lib.residual_intervals(
        prepared.series.values[:, :n_targets], prepared.split.train_end, starts,
        config.data.horizon, config.data.season, levels)
    block = {"levels": levels, "calibration": quantiles_lib.calibration_of(model),
             "model": quantiles_lib.report(raw, actual, levels, scale)}
    if reference is not None:  # fitted on the training rows (on the file itself for --data)
        block[f"{name}_intervals"] = quantiles_lib.report(reference, actual, levels, scale)
    band = {}
    intervals = quantiles_lib.central_intervals(levels)
    if intervals:
        low, high, nominal = intervals[0]
        band = {"low": raw[..., low], "high": raw[..., high],
                "label": f"{quantiles_lib.interval_name(nominal)} interval"}
    return block, band


def panel_quantile_metrics(model, prepared: Prepared, config: RunConfig, starts: np.ndarray,
                           series: np.ndarray, raw: np.ndarray, actual: np.ndarray,
                           scales: np.ndarray) -> tuple[dict, dict]:
    """A panel quantile run's block in metrics.json and its per-series columns: the
    model's and each series' seasonal-naive residual intervals' scaled pinball and
    coverage. Every series in units of its own MASE scale (pinball is homogeneous, so
    that is its scaled pinball; coverage does not change; widths are in those units)."""
    levels, n_targets, data = config.model.quantiles, prepared.n_targets, config.data
    reference = np.full_like(raw, np.nan)
    panel, split = prepared.series, prepared.split
    for index in range(len(panel.names)):  # each series' residuals on its training rows
        mine = np.flatnonzero(series == index)
        first = int(panel.offsets[index])
        found, name = quantiles_lib.residual_intervals(
            panel.values[first:int(panel.offsets[index + 1]), :n_targets],
            int(split.train_end[index]) - first, starts[mine] - first, data.horizon,
            data.season, levels)
        if found is not None:
            reference[mine] = found
    unit = scales[series][:, None, None]
    block = {"levels": levels, "calibration": quantiles_lib.calibration_of(model),
             "units": "each series' MASE scale",
             "model": quantiles_lib.report(raw / unit[..., None], actual / unit, levels, 1.0)}
    known = np.isfinite(reference).all(axis=(1, 2, 3))
    if known.any():
        block[f"{name}_intervals"] = quantiles_lib.report(
            reference[known] / unit[known][..., None], actual[known] / unit[known], levels, 1.0)
    columns = {}
    intervals = quantiles_lib.central_intervals(levels)
    for label, quantiles in (("model", raw), (f"{name}_intervals", reference)):
        per_window = np.mean([np.maximum(level * (actual - quantiles[..., q]),
                                         (level - 1) * (actual - quantiles[..., q]))
                              for q, level in enumerate(levels)], axis=0)
        per_window = per_window.reshape(len(starts), -1).mean(axis=1)
        count = np.bincount(series, minlength=len(scales))
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[f"{label}_scaled_pinball"] = (np.bincount(series, per_window, len(scales))
                                                  / count / scales)
            if intervals:
                low, high, nominal = intervals[0]
                inside = ((actual >= quantiles[..., low]) & (actual <= quantiles[..., high]))
                columns[f"{label}_coverage_{quantiles_lib.interval_name(nominal)}"] = (
                    np.bincount(series, inside.reshape(len(starts), -1).mean(axis=1),
                                len(scales)) / count)
    return block, columns
