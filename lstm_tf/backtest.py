"""Rolling-origin backtests of a trained run (`lstm-tf backtest RUN`).

N cutoffs, S rows apart, at the end of the series, as neuralforecast's
`cross_validation`: the backtest block is the last `horizon + S * (N - 1)` rows, the
forecast from cutoff i starts at row

    start_i = rows - horizon - S * (N - 1 - i)        (i = 0 .. N - 1)

and sees only rows [0, start_i); the last cutoff's forecast ends at the last row.
A cutoff is named by the time (or row number) of the last row its forecast saw.

Without refit (the default) the run's own model forecasts from every cutoff, all in
one batched prediction; this is honest only when the model never trained or
validated on the block, so the first forecast row must lie in the run's test part
(start_0 >= split val_end). Train with `lstm-tf train --backtest-windows N
--backtest-step S` to hold out exactly that block. With refit a fresh run (same
configuration and seed) is trained for every cutoff on the rows before it, with its
own train/validation split (slow, and honest for any block).

Every forecast is the run's `forecaster.Forecaster`, as in training and evaluation;
baselines are the naive and seasonal naive forecasts and, with the `stats` extra,
statsforecast's AutoETS and AutoARIMA (`baselines`).
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import baselines as baselines_lib
from . import data as data_lib
from . import metrics as metrics_lib
from .atomic import csv_text
from .data.panel import Panel
from .errors import UserError
from .forecaster import Forecaster

CSV_FILE = "backtest.csv"
METRICS_FILE = "metrics.json"
BY_CUTOFF_FILE = "metrics_by_cutoff.csv"
METRICS = ("mae", "rmse", "mase", "smape")


@dataclass
class Backtest:
    """Forecasts of every method at every cutoff, in original units."""

    targets: list[str]
    horizon: int
    step: int
    starts: np.ndarray  # [cutoffs] first forecast row of each cutoff
    cutoffs: list[str]  # [cutoffs] time (or row number) of the last row each forecast saw
    times: list[list[str]]  # [cutoffs][horizon] time (or row number) of each forecast row
    actual: np.ndarray  # [cutoffs, horizon, targets]
    forecasts: dict[str, np.ndarray]  # method -> [cutoffs, horizon, targets]; "model" first
    # Each row (forecast) is one series at one cutoff: `cutoff_index` says which of the
    # N cutoffs it is (0 = the earliest), `scale` its series' MASE scale (in-sample
    # naive MAE on the training rows) and, for a panel, `series` names it.
    scale: np.ndarray
    cutoff_index: np.ndarray
    refit: bool = False
    notes: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    series: list[str] | None = None
    # A quantile run's quantile forecasts [cutoffs, horizon, targets, Q] and levels.
    quantiles: np.ndarray | None = None
    levels: list[float] | None = None


# ----------------------------------------------------------------------- cutoffs


def plan(ends, val_ends, window: int, horizon: int, windows: int | None, step: int | None,
         refit: bool, trained_step: int | None = None, firsts=0,
         names: list[str] | None = None) -> tuple[np.ndarray, int]:
    """Check the requested cutoffs against every series and the run's split; (starts,
    step): the first forecast row of each cutoff, series by series.

    Series i is rows [firsts[i], ends[i]) and its test part starts at val_ends[i]; a
    single series passes its row count and val_end (`names` None). The default number
    of cutoffs is as many `step` apart as the shortest test part holds: a run trained
    with `--backtest-windows N --backtest-step S` holds exactly N.
    """
    step = step or trained_step or 1
    if step < 1:
        raise UserError(f"--step must be a positive integer, got {step}")
    ends, val_ends = np.atleast_1d(ends), np.atleast_1d(val_ends)
    firsts = np.broadcast_to(firsts, ends.shape)
    fits = (ends - val_ends - horizon) // step + 1  # cutoffs each test part holds

    def which(i: int) -> str:
        return "the data" if names is None else f"series {names[i]!r}"

    if windows is None:
        windows, i = int(fits.min()), int(np.argmin(fits))
        if windows < 1:
            raise UserError(f"{which(i)} has {int(ends[i] - firsts[i])} rows, too few for one "
                            f"forecast of {horizon} rows after the run's validation part (row "
                            f"{int(val_ends[i] - firsts[i])}); pass --windows")
    if windows < 1:
        raise UserError(f"--windows must be a positive integer, got {windows}")
    block = horizon + step * (windows - 1)
    lengths = ends - firsts
    short = np.flatnonzero(lengths - block < window)
    if len(short):
        i = short[0]
        most = max(int(lengths[i] - window - horizon) // step + 1, 0)
        raise UserError(f"--windows {windows} --step {step} need the last {block} rows and a "
                        f"window of {window} rows before them, {block + window} rows; "
                        f"{which(i)} has {int(lengths[i])} (it holds at most {most} windows "
                        f"with step {step})")
    starts = ends[:, None] - block + step * np.arange(windows)[None, :]
    overlapping = np.flatnonzero(starts[:, 0] < val_ends)
    if len(overlapping) and not refit:
        i = overlapping[0]
        raise UserError(
            f"the backtest block (the last {block} rows, from row {int(starts[i, 0] - firsts[i])}"
            f"{'' if names is None else ' of ' + which(i)}) overlaps the rows the run trained or "
            f"validated on (before row {int(val_ends[i] - firsts[i])}); its test part holds "
            f"{max(int(fits[i]), 0)} window(s) with step {step}; retrain it with "
            f"--backtest-windows {windows}" + (f" --backtest-step {step}" if step != 1 else "")
            + " (or a larger --test-fraction)" + (", or pass --refit" if names is None else ""))
    return starts.reshape(-1).astype(np.int64), step


# --------------------------------------------------------------------- forecasts


def _labels(data, rows: np.ndarray, firsts: np.ndarray) -> np.ndarray:
    """The time of each of `rows` [n, k] (a series' own text, a panel's formatted), or
    its row number within its series."""
    if data.time is None or not data.time_column:
        return (rows - firsts[:, None]).astype(str)
    if isinstance(data, Panel):
        from .data.timeaxis import format_time

        return np.asarray(format_time(data.time[rows])).astype(str)
    return np.asarray(data.time, dtype=object)[rows].astype(str)


def _history_csv(series: data_lib.Series, end: int) -> str:
    """Rows [0, end) of a series as a CSV (time column first, when it has one)."""
    timed = bool(series.time and series.time_column)
    return csv_text([([series.time_column] if timed else []) + series.columns] + [
        ([series.time[row]] if timed else []) + [repr(float(value)) for value in series.values[row]]
        for row in range(end)])


def refit_forecast(config, series: data_lib.Series, start: int, scratch: Path,
                   log: Callable[[str], None]) -> np.ndarray:
    """Train a fresh run (the run's configuration and seed) on rows [0, start) and
    forecast rows [start, start + horizon), raw units [horizon, targets].

    The fresh run's data is rows [0, start + horizon) with a held-out block of exactly
    the horizon (`backtest_windows=1`): it fits its scaler, anchor and network on rows
    before `start` only, and its one test window is the cutoff's forecast.
    """
    from . import runs
    from .evaluate import keras_predict
    from .train import train

    data = config.data
    fresh = copy.deepcopy(config)
    path = scratch / f"rows-{start}.csv"
    path.write_text(_history_csv(series, start + data.horizon), encoding="utf-8")
    fresh.data.path, fresh.data.dataset, fresh.data.fill = str(path), None, None
    fresh.data.time_column = series.time_column if series.time else None
    fresh.data.backtest_windows, fresh.data.backtest_step = 1, 1
    fresh.scaler = fresh.split = fresh.anchor = None
    out = scratch / f"run-{start}"
    try:
        train(fresh, out, force=True, verbose=0, log=lambda line: None)
    except UserError as error:
        raise UserError(f"--refit at the cutoff before row {start}: {error}") from None
    trained = runs.load_config(out)
    model = runs.load_model(out)
    history = series.values[None, start - data.window:start]
    log(f"refit at row {start}: trained on rows [0, {start})")
    return Forecaster.of_run(trained).forecast(keras_predict(model), history)[0]


def point_forecasts(predict: Callable[[np.ndarray], np.ndarray], prepared, data,
                    starts: np.ndarray, model: np.ndarray | None = None):
    """({"model", "naive", ["seasonal_naive"]: [cutoffs, horizon, targets]}, actual), raw
    units: the model's forecast from every cutoff in one batched prediction (`model`
    given: refitted forecasts) and the baselines'. The seasonal naive forecast (one
    season back at most) only when every one reads within its own series, and for a
    panel only with a season > 1."""
    if model is None:
        model = prepared.forecast(predict, starts, data.window, data.horizon)
    raw_targets = prepared.series.values[:, :prepared.n_targets]
    actual = prepared.actual(starts, data.window, data.horizon)
    forecasts = {"model": model,
                 "naive": metrics_lib.naive_forecast(raw_targets, starts, data.horizon)}
    season, panel = data.season, isinstance(prepared.series, Panel)
    firsts = prepared.series.offsets[prepared.series_index(starts)] if panel else 0
    if season and (season > 1 or not panel) and np.all(starts - season >= firsts):
        forecasts["seasonal_naive"] = metrics_lib.seasonal_naive_forecast(
            raw_targets, starts, data.horizon, season)
    return forecasts, actual


# -------------------------------------------------------------------------- run


def backtest(run: str | Path, windows: int | None = None, step: int | None = None,
             refit: bool = False, baselines: list[str] | None = None,
             data_path: str | None = None, log: Callable[[str], None] = print,
             predict: Callable | None = None) -> Backtest:
    """Backtest a saved run (see the module docstring); nothing is written.

    A single series is a panel of one: N cutoffs at the end of every series, all forecast
    in one batched prediction; baselines fitted series by series on the rows before its
    block (a single series': before the run's test part, by the split the run recorded,
    which also scales its MASE, by the one-step naive; a panel's by the seasonal one)."""
    from . import runs
    from .data.prepare import evaluation_data, naive_scales
    from .evaluate import keras_network, keras_predict, panel_view

    baselines = list(baselines or [])
    if baselines:
        baselines_lib.require()  # before the slow part
    config = runs.load_config(run)
    if config.covariates or config.model.series_embedding:
        raise UserError(f"{run} takes more inputs than its window (future-known covariates or "
                        "a series embedding), which `lstm-tf backtest` does not feed yet")
    if config.panel and refit:
        raise UserError("--refit retrains at every cutoff: for a panel run that is one "
                        "global model per cutoff; backtest it without --refit (train it with "
                        "--backtest-windows N to hold the block out)")
    prepared, _ = evaluation_data(config, data_path)
    data, single = config.data, not config.panel
    panel, split = panel_view(prepared, config.split if single else None)
    firsts, ends, count = panel.offsets[:-1], panel.offsets[1:], len(panel.names)
    starts, step = plan(ends, split.val_end, data.window, data.horizon, windows, step, refit,
                        data.backtest_step if data.backtest_windows else None, firsts,
                        None if single else panel.names)
    windows = len(starts) // count
    series = np.repeat(np.arange(count), windows)
    if refit:
        with tempfile.TemporaryDirectory(prefix="lstm-tf-refit-") as scratch:
            model = np.stack([refit_forecast(config, prepared.series, int(start), Path(scratch),
                                             log) for start in starts])
        forecasts, actual = point_forecasts(lambda x: None, prepared, data, starts, model)
    else:
        model = runs.load_model(run) if predict is None or config.model.quantiles else None
        forecasts, actual = point_forecasts(predict or keras_predict(model), prepared, data,
                                            starts)
    notes = fit_baselines(baselines, forecasts, panel, split, starts, series, data, refit,
                          single, log)
    season = data.season if data.season and data.season > 1 and not single else None
    labels = _labels(prepared.series, starts[:, None] + np.arange(-1, data.horizon),
                     firsts[series])
    info = {"run": str(run), "data": panel.source, "window": data.window, "season": data.season,
            **({"rows": len(panel.values), "val_end": int(split.val_end[0]),
                "time_column": panel.time_column if prepared.series.time else None} if single
               else {"series_count": count,
                     "mase_scale_kind": "seasonal naive" if season else "naive"})}
    quantiles = None  # a quantile run's, from every cutoff in one batched prediction
    if config.model.quantiles and not refit:
        quantiles = prepared.forecast(keras_network(model), starts, data.window, data.horizon)
    return Backtest(
        targets=panel.targets, horizon=data.horizon, step=step, starts=starts,
        cutoffs=labels[:, 0].tolist(), times=labels[:, 1:].tolist(), actual=actual,
        forecasts=forecasts, scale=naive_scales(panel, split, season or 1)[series],
        refit=refit, notes=notes, info=info,
        series=None if single else [panel.names[i] for i in series],
        cutoff_index=np.tile(np.arange(windows), count), quantiles=quantiles,
        levels=None if quantiles is None else list(config.model.quantiles))


def fit_baselines(names: list[str], forecasts: dict, panel, split, starts: np.ndarray,
                  series: np.ndarray, data, refit: bool, single: bool,
                  log: Callable[[str], None]) -> list[str]:
    """Add statsforecast's `names` (ets, arima) to `forecasts`, fitted series by series
    on the rows before its block (a single series': before the run's test part, as its
    model was) or refitted at every cutoff; returns the notes on the season used."""
    if not names:
        return []
    m, note = baselines_lib.season_length(data.season)
    for name in names:
        log(f"fitting {name} (season length {m}" + (
            ", refit at every cutoff)" if refit else
            f") on rows [0, {min(int(split.val_end[0]), int(starts[0]))})" if single else
            f") on each of {len(panel.names)} series, on its rows before its block"))
        found = np.empty_like(forecasts["naive"])
        for index in range(len(panel.names)):
            mine = series == index
            local = starts[mine] - panel.offsets[index]
            fit_end = min(int(split.val_end[0]), int(local.min())) if single else int(local.min())
            for j in range(len(panel.targets)):
                found[mine, :, j] = baselines_lib.forecasts(
                    name, panel.values[panel.rows_of(index), j], local, data.horizon, fit_end,
                    data.season, refit)
        forecasts[name] = found
    return [note] if note else []


# ---------------------------------------------------------------------- metrics


def scores(forecast: np.ndarray, actual: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, sMAPE and MASE; MASE is the mean of the rows' MAE over their own
    series' scale (`scale`, one per row)."""
    row_mae = np.mean(np.abs(forecast - actual).reshape(len(forecast), -1), axis=1)
    return {"mae": metrics_lib.mae(forecast, actual), "rmse": metrics_lib.rmse(forecast, actual),
            "mase": float(np.mean(row_mae / scale)), "smape": metrics_lib.smape(forecast, actual)}


def summary(result: Backtest) -> dict:
    """Overall and per-cutoff MAE, RMSE, MASE and sMAPE (%) of every method: a panel's
    cutoff k of every series together."""
    overall = {name: scores(forecast, result.actual, result.scale)
               for name, forecast in result.forecasts.items()}
    if result.quantiles is not None:  # pinball and coverage, in each series' scale
        from .quantiles import report

        unit = result.scale[:, None, None]
        overall["model"]["quantiles"] = report(result.quantiles / unit[..., None],
                                               result.actual / unit, result.levels, 1.0)
    naive = overall["naive"]["mae"]
    for values in overall.values():
        values["mae_vs_naive"] = values["mae"] / naive if naive > 0 else float("nan")
    single, windows = result.series is None, int(result.cutoff_index.max()) + 1
    rows = [result.cutoff_index == k for k in range(windows)]
    by_cutoff = [{**({"cutoff": result.cutoffs[k], "first_forecast_row": int(result.starts[k])}
                     if single else {"cutoff": f"{k + 1} of {windows}"}),
                  **{name: scores(forecast[rows[k]], result.actual[rows[k]], result.scale[rows[k]])
                     for name, forecast in result.forecasts.items()}} for k in range(windows)]
    first = {"first_forecast_row": int(result.starts[0]),
             "mase_scale": float(result.scale[0])} if single else {}
    return {**result.info, "targets": result.targets, "horizon": result.horizon,
            "windows": windows, "step": result.step, "refit": result.refit, **first,
            "methods": list(result.forecasts), "notes": result.notes,
            "overall": overall, "by_cutoff": by_cutoff}


# ----------------------------------------------------------------------- output


def _number(value: float) -> str:
    return f"{value:.8g}"


def long_csv(result: Backtest) -> str:
    """series, cutoff, time, step, y, then one column per method; a row per target,
    cutoff and horizon step."""
    methods = list(result.forecasts)
    levels = result.levels if result.quantiles is not None else []
    rows = [["series", "cutoff", "time", "step", "y"] + methods
            + [f"model_q{level:g}" for level in levels]]
    for j, target in enumerate(result.targets):
        for i, cutoff in enumerate(result.cutoffs):
            name = target if result.series is None else (
                result.series[i] if len(result.targets) == 1 else f"{result.series[i]}/{target}")
            rows += [[name, cutoff, result.times[i][k], k + 1, _number(result.actual[i, k, j])]
                     + [_number(result.forecasts[m][i, k, j]) for m in methods]
                     + [_number(result.quantiles[i, k, j, q]) for q in range(len(levels))]
                     for k in range(result.horizon)]
    return csv_text(rows)


def by_cutoff_csv(summary_: dict) -> str:
    return csv_text([["cutoff", "method"] + list(METRICS)] + [
        [entry["cutoff"], name] + [_number(entry[name][key]) for key in METRICS]
        for entry in summary_["by_cutoff"] for name in summary_["methods"]])


def write(result: Backtest, out: str | Path, force: bool = False) -> dict:
    """Write backtest.csv, metrics.json and metrics_by_cutoff.csv into `out`, all at
    once (a staging directory renamed into place); returns the summary."""
    from .atomic import refuse_overwrite, write_json, write_text
    from .runs import new_run_directory

    refuse_overwrite(out, force, "backtest directory")
    summary_ = summary(result)
    with new_run_directory(out, force=True) as staging:
        write_text(staging / CSV_FILE, long_csv(result))
        write_json(staging / METRICS_FILE, summary_)
        write_text(staging / BY_CUTOFF_FILE, by_cutoff_csv(summary_))
    return summary_


def table(summary_: dict) -> str:
    """The overall metrics, one line per method, with each MAE's ratio to naive."""
    lines = [f"{'method':16s} {'MAE':>10s} {'RMSE':>10s} {'MASE':>7s} {'sMAPE%':>7s} "
             f"{'MAE/naive':>9s}"] + [
        f"{name:16s} {values['mae']:10.4g} {values['rmse']:10.4g} {values['mase']:7.3f} "
        f"{values['smape']:7.2f} {values['mae_vs_naive']:9.3f}"
        for name, values in summary_["overall"].items()]
    quantiles = summary_["overall"]["model"].get("quantiles")
    if quantiles:
        lines.append(f"model quantiles: mean scaled pinball {quantiles['mean_scaled_pinball']:.4g}"
                     + "".join(f", {name} interval coverage {values['coverage']:.1%}"
                               for name, values in quantiles["intervals"].items()))
    return "\n".join(lines)
