"""Evaluation of a trained run: its forecasts against the naive baselines, in original units.

`evaluate_model` forecasts one part's windows (`Prepared.forecast`: the run's
forecaster) and scores the model, the naive and the seasonal naive forecasts:

- a single series, scored as a panel of one: MAE, RMSE and MASE over every window and
  step, MASE scaled by the in-sample (one-step) naive MAE of its training rows;
- a panel: the same per series (MASE scaled by each series' in-sample seasonal naive
  MAE, M4's definition) and their means over the series, as the M4 and Monash tables
  report them;
- a quantile run also: scaled pinball, weighted quantile loss and interval coverage,
  against the seasonal-naive residual intervals (`quantiles`).

It returns an `Evaluation`: metrics.json's block, what forecast.png draws and a
panel's per_series.csv columns (`figures` writes both).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import metrics as metrics_lib
from . import quantiles as quantiles_lib
from . import runs
from .config import RunConfig
from .data.panel import Panel, as_panel
from .data.prepare import PanelSplit, Prepared, evaluation_data, naive_scales
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


def panel_view(prepared: Prepared, recorded: dict | None = None) -> tuple[Panel, PanelSplit]:
    """The prepared data as a panel and its split: a single series as a panel of one,
    split as the run recorded (`recorded`, config.json's split) or as prepared."""
    if isinstance(prepared.series, Panel):
        return prepared.series, prepared.split
    series, split = prepared.series, recorded or dataclasses.asdict(prepared.split)
    return (as_panel(dataclasses.replace(series, time=None)),
            PanelSplit(np.array([0, len(series.values)]), np.array([split["train_end"]]),
                       np.array([split["val_end"]])))


def evaluate_model(model, prepared: Prepared, config: RunConfig,
                   part: str = "test") -> Evaluation:
    """The model's and the naive baselines' metrics on one part (module docstring).

    The seasonal naive forecast is scored where it reads within the window's own
    series (it looks one season back at most); a single series reports it with any
    season, for all windows or none, a panel with a season > 1."""
    data, levels = config.data, config.model.quantiles
    starts = prepared.starts[part]
    # One prediction: a quantile model's point forecast is the median of its quantiles.
    whole = prepared.forecast(keras_network(model), starts, data.window, data.horizon)
    forecast = whole[..., quantiles_lib.median_index(levels)] if levels else whole
    actual = prepared.actual(starts, data.window, data.horizon)
    single = not isinstance(prepared.series, Panel)
    panel, split = panel_view(prepared)
    series = prepared.series_index(starts)
    raw_targets = panel.values[:, :prepared.n_targets]
    forecasts = {"model": forecast,
                 "naive": metrics_lib.naive_forecast(raw_targets, starts, data.horizon)}
    season = data.season if data.season and (single or data.season > 1) else None
    if season:
        seasonal = metrics_lib.seasonal_naive_forecast(raw_targets, starts, data.horizon, season)
        seasonal[starts - season < panel.offsets[series]] = np.nan  # into the previous series
        if not single or np.isfinite(seasonal).all():
            forecasts["seasonal_naive"] = seasonal
    scales = naive_scales(panel, split, 1 if single else season or 1)
    table = metrics_lib.per_series(forecasts, actual, series, scales)
    result = {"part": part, "windows": len(starts), "targets": panel.targets,
              "anchor": prepared.anchor.describe()}
    if single:
        result.update({name: {metric: float(table[f"{name}_{metric}"][0])
                              for metric in ("mae", "rmse", "mase")} for name in forecasts})
    else:
        result.update({"series": len(panel.names), "scaling": prepared.scaling,
                       "mase_scale": "seasonal naive" if season else "naive",
                       **metrics_lib.panel_summary(table, list(forecasts))})
        if prepared.forecast_only:  # in the series above: forecast, never trained on
            result["forecast_only_series"] = len(prepared.forecast_only)
    if "seasonal_naive" in forecasts or (season and not single):
        result["season"] = season
    plot = {"forecast": forecast, "actual": actual, "targets": panel.targets,
            **forecast_times(prepared.series, starts)} if single else {
        "panel": True, "names": panel.names, "targets": panel.targets,
        "values": raw_targets, "offsets": panel.offsets, "time": panel.time,
        "time_column": panel.time_column, "starts": starts, "series_of": series,
        "forecast": forecast, "window": data.window}
    if levels:
        result["quantiles"], quantile_table, plot["band"] = quantile_metrics(
            model, panel, split, config, starts, series, whole, actual, scales, single)
        table = {**table, **quantile_table}
    if single:
        return Evaluation(result, plot)
    plot["table"] = table
    return Evaluation(result, plot, {"series": panel.names, **table})


def quantile_metrics(model, panel: Panel, split: PanelSplit, config: RunConfig,
                     starts: np.ndarray, series: np.ndarray, raw: np.ndarray,
                     actual: np.ndarray, scales: np.ndarray, single: bool
                     ) -> tuple[dict, dict, dict]:
    """A quantile run's block in metrics.json, its per-series columns and the widest
    central band (what forecast.png shades): the model's and each series' seasonal-naive
    residual intervals' (`quantiles.residual_intervals`, fitted on its training rows)
    `quantiles.report`. A single series in original units with its MASE scale; a panel's
    every series in units of its own MASE scale (pinball is homogeneous, so that is its
    scaled pinball; coverage does not change; widths are in those units)."""
    levels, n_targets, data = config.model.quantiles, len(panel.targets), config.data
    reference = np.full_like(raw, np.nan)
    for index in range(len(panel.names)):  # each series' residuals on its training rows
        mine = np.flatnonzero(series == index)
        first = int(panel.offsets[index])
        found, name = quantiles_lib.residual_intervals(
            panel.values[panel.rows_of(index), :n_targets], int(split.train_end[index]) - first,
            starts[mine] - first, data.horizon, data.season, levels)
        if found is not None:
            reference[mine] = found
    unit = np.ones((len(starts), 1, 1)) if single else scales[series][:, None, None]
    scale = float(scales[0]) if single else 1.0
    block = {"levels": levels, "calibration": quantiles_lib.calibration_of(model),
             **({} if single else {"units": "each series' MASE scale"}),
             "model": quantiles_lib.report(raw / unit[..., None], actual / unit, levels, scale)}
    known = np.isfinite(reference).all(axis=(1, 2, 3))
    if known.any():  # fitted on the training rows (on the file itself for --data)
        block[f"{name}_intervals"] = quantiles_lib.report(
            reference[known] / unit[known][..., None], actual[known] / unit[known], levels,
            scale)
    columns, band = {}, {}
    intervals = quantiles_lib.central_intervals(levels)
    if intervals:
        low, high, nominal = intervals[0]
        band = {"low": raw[..., low], "high": raw[..., high],
                "label": f"{quantiles_lib.interval_name(nominal)} interval"}
    count = np.bincount(series, minlength=len(scales))
    for label, quantiles in (("model", raw), (f"{name}_intervals", reference)):
        per_window = np.mean([np.maximum(level * (actual - quantiles[..., q]),
                                         (level - 1) * (actual - quantiles[..., q]))
                              for q, level in enumerate(levels)], axis=0)
        per_window = per_window.reshape(len(starts), -1).mean(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[f"{label}_scaled_pinball"] = (np.bincount(series, per_window, len(scales))
                                                  / count / scales)
            if intervals:
                inside = (actual >= quantiles[..., low]) & (actual <= quantiles[..., high])
                columns[f"{label}_coverage_{quantiles_lib.interval_name(nominal)}"] = (
                    np.bincount(series, inside.reshape(len(starts), -1).mean(axis=1),
                                len(scales)) / count)
    return block, columns, band
