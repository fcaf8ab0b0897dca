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
import csv
import io
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import baselines as baselines_lib
from . import data as data_lib
from . import metrics as metrics_lib
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
    scale: float | np.ndarray  # MASE scale: in-sample naive MAE on the training rows
    refit: bool = False
    notes: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    # A panel: each row (forecast) is one series at one cutoff; `series` names it,
    # `cutoff_index` says which of the N cutoffs it is (0 = the earliest), and `scale`
    # holds each row's series' MASE scale.
    series: list[str] | None = None
    cutoff_index: np.ndarray | None = None
    # A quantile run's quantile forecasts [cutoffs, horizon, targets, Q] and levels.
    quantiles: np.ndarray | None = None
    levels: list[float] | None = None


# ----------------------------------------------------------------------- cutoffs


def cutoff_starts(rows: int, horizon: int, windows: int, step: int) -> np.ndarray:
    """First forecast row of each of `windows` cutoffs `step` rows apart, ending at `rows`."""
    return np.array([rows - horizon - step * (windows - 1 - i) for i in range(windows)],
                    dtype=np.int64)


def default_windows(rows: int, val_end: int, horizon: int, step: int) -> int:
    """As many cutoffs `step` apart as the run's test part (rows [val_end, rows)) holds:
    a run trained with `--backtest-windows N --backtest-step S` holds exactly N."""
    return max(0, (rows - val_end - horizon) // step + 1)


def plan(rows: int, val_end: int, window: int, horizon: int, windows: int | None,
         step: int | None, refit: bool, trained_step: int | None = None) -> tuple[np.ndarray, int]:
    """Check the requested cutoffs against the data and the run's split; (starts, step)."""
    step = step or trained_step or 1
    if step < 1:
        raise UserError(f"--step must be a positive integer, got {step}")
    if windows is None:
        windows = default_windows(rows, val_end, horizon, step)
        if windows < 1:
            raise UserError(f"the data has {rows} rows, too few for one forecast of {horizon} "
                            f"rows after the run's validation part (row {val_end}); pass --windows")
    if windows < 1:
        raise UserError(f"--windows must be a positive integer, got {windows}")
    block = horizon + step * (windows - 1)
    most = (rows - window - horizon) // step + 1
    if rows - block < window:
        raise UserError(f"--windows {windows} --step {step} need the last {block} rows and a "
                        f"window of {window} rows before them, {block + window} rows; the data "
                        f"has {rows} (it holds at most {max(most, 0)} windows with step {step})")
    starts = cutoff_starts(rows, horizon, windows, step)
    if not refit and starts[0] < val_end:
        fits = default_windows(rows, val_end, horizon, step)
        raise UserError(
            f"the backtest block (the last {block} rows, from row {starts[0]}) overlaps the rows "
            f"the run trained or validated on (before row {val_end}); its test part holds "
            f"{fits} window(s) with step {step}; retrain it with --backtest-windows {windows}"
            + (f" --backtest-step {step}" if step != 1 else "") + " (or a larger "
            "--test-fraction), or pass --refit")
    return starts, step


# --------------------------------------------------------------------- forecasts


def _labels(series: data_lib.Series, rows) -> list[str]:
    if series.time and series.time_column:
        return [series.time[int(row)] for row in rows]
    return [str(int(row)) for row in rows]


def _history_csv(series: data_lib.Series, end: int) -> str:
    """Rows [0, end) of a series as a CSV (time column first, when it has one)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    timed = bool(series.time and series.time_column)
    writer.writerow(([series.time_column] if timed else []) + series.columns)
    for row in range(end):
        writer.writerow(([series.time[row]] if timed else [])
                        + [repr(float(value)) for value in series.values[row]])
    return buffer.getvalue()


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
    # A fresh model per cutoff retraces its predict function: expected, not a warning.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    history = series.values[None, start - data.window:start]
    log(f"refit at row {start}: trained on rows [0, {start})")
    return Forecaster.of_run(trained).forecast(keras_predict(model), history)[0]


def point_forecasts(predict: Callable[[np.ndarray], np.ndarray], prepared, data,
                    starts: np.ndarray, model: np.ndarray | None = None,
                    firsts: np.ndarray | None = None):
    """({"model", "naive", ["seasonal_naive"]: [cutoffs, horizon, targets]}, actual), raw
    units: the model's forecast from every cutoff in one batched prediction (`model`
    given: refitted forecasts) and the baselines'. `firsts`: a panel's first row of each
    forecast's series (the seasonal naive forecast then only when every one reaches back
    within its own series)."""
    if model is None:
        model = prepared.forecast(predict, starts, data.window, data.horizon)
    raw_targets = prepared.series.values[:, :prepared.n_targets]
    actual = prepared.actual(starts, data.window, data.horizon)
    forecasts = {"model": model,
                 "naive": metrics_lib.naive_forecast(raw_targets, starts, data.horizon)}
    season = data.season
    if firsts is None:
        seasonal = season and starts.min() >= season
    else:
        seasonal = season and season > 1 and np.all(
            starts - season * ((data.horizon - 1) // season + 1) >= firsts)
    if seasonal:
        forecasts["seasonal_naive"] = metrics_lib.seasonal_naive_forecast(
            raw_targets, starts, data.horizon, season)
    return forecasts, actual


# -------------------------------------------------------------------------- run


def backtest(run: str | Path, windows: int | None = None, step: int | None = None,
             refit: bool = False, baselines: list[str] | None = None,
             data_path: str | None = None, log: Callable[[str], None] = print,
             predict: Callable | None = None) -> Backtest:
    """Backtest a saved run (see the module docstring); nothing is written."""
    from . import runs
    from .data.prepare import evaluation_data
    from .evaluate import keras_predict

    baselines = list(baselines or [])
    if baselines:
        baselines_lib.require()  # before the slow part
    config = runs.load_config(run)
    if config.covariates or config.model.series_embedding:
        raise UserError(f"{run} takes more inputs than its window (future-known covariates or "
                        "a series embedding), which `lstm-tf backtest` does not feed yet")
    if config.panel:
        if refit:
            raise UserError("--refit retrains at every cutoff: for a panel run that is one "
                            "global model per cutoff; backtest it without --refit (train it with "
                            "--backtest-windows N to hold the block out)")
        prepared, _ = evaluation_data(config, data_path)
        model = runs.load_model(run) if predict is None or config.model.quantiles else None
        result = panel_backtest(prepared, config, run, windows, step, baselines,
                                predict or keras_predict(model), log)
        return with_quantiles(result, model, prepared, config)
    prepared, _ = evaluation_data(config, data_path)
    series, data = prepared.series, config.data
    rows, n_targets = len(series.values), len(series.targets)
    val_end = int(config.split["val_end"])
    trained_step = data.backtest_step if data.backtest_windows else None
    starts, step = plan(rows, val_end, data.window, data.horizon, windows, step, refit,
                        trained_step)

    notes = []
    if refit:
        with tempfile.TemporaryDirectory(prefix="lstm-tf-refit-") as scratch:
            model = np.stack([refit_forecast(config, series, int(start), Path(scratch), log)
                              for start in starts])
        forecasts, actual = point_forecasts(lambda x: None, prepared, data, starts, model)
    else:
        if predict is None:
            predict = keras_predict(runs.load_model(run))
        forecasts, actual = point_forecasts(predict, prepared, data, starts)
    raw_targets = series.values[:, :n_targets]
    if baselines:
        m, note = baselines_lib.season_length(data.season)
        if note:
            notes.append(note)
        fit_end = min(val_end, int(starts[0]))
        for name in baselines:
            log(f"fitting {name} (season length {m}" + (", refit at every cutoff)" if refit
                                                          else f") on rows [0, {fit_end})"))
            forecasts[name] = np.stack(
                [baselines_lib.forecasts(name, raw_targets[:, j], starts, data.horizon, fit_end,
                                         data.season, refit) for j in range(n_targets)], axis=-1)
    scale = metrics_lib.mase_scale(raw_targets[:int(config.split["train_end"])])
    result = Backtest(
        targets=series.targets, horizon=data.horizon, step=step, starts=starts,
        cutoffs=_labels(series, starts - 1),
        times=[_labels(series, range(start, start + data.horizon)) for start in starts],
        actual=actual, forecasts=forecasts, scale=scale, refit=refit, notes=notes,
        info={"run": str(run), "data": series.source, "rows": rows, "window": data.window,
              "val_end": val_end, "time_column": series.time_column if series.time else None,
              "season": data.season})
    if refit or not config.model.quantiles:
        return result
    return with_quantiles(result, runs.load_model(run), prepared, config)


def with_quantiles(result: Backtest, model, prepared, config) -> Backtest:
    """A quantile run's backtest with its quantile forecasts from every cutoff (one
    batched prediction, as the point forecasts)."""
    if not config.model.quantiles:
        return result
    from .evaluate import keras_network

    data = config.data
    result.quantiles = prepared.forecast(keras_network(model), result.starts, data.window,
                                         data.horizon)
    result.levels = list(config.model.quantiles)
    return result


def panel_backtest(prepared, config, run, windows: int | None, step: int | None,
                   baselines: list[str], predict, log: Callable[[str], None]) -> Backtest:
    """A panel run's backtest: N cutoffs at the end of EVERY series (each series' block is
    its last horizon + S (N - 1) rows, inside its own test part), all forecast in one
    batched prediction; baselines fitted series by series on the rows before its block."""
    from .data.prepare import naive_scales

    panel, split, data = prepared.series, prepared.split, config.data
    step = step or (data.backtest_step if data.backtest_windows else None) or 1
    if step < 1:
        raise UserError(f"--step must be a positive integer, got {step}")
    ends, firsts = panel.offsets[1:], panel.offsets[:-1]
    held = ends - split.val_end  # each series' test part
    if windows is None:
        windows = int(np.min((held - data.horizon) // step + 1))
        if windows < 1:
            raise UserError(f"a series' test part ({int(held.min())} rows) is too short for "
                            f"one forecast of {data.horizon} rows; pass --windows")
    if windows < 1:
        raise UserError(f"--windows must be a positive integer, got {windows}")
    block = data.horizon + step * (windows - 1)
    short = np.flatnonzero(ends - firsts - block < data.window)
    if len(short):
        raise UserError(f"--windows {windows} --step {step} need the last {block} rows of every "
                        f"series and a window of {data.window} before them; series "
                        f"{panel.names[short[0]]!r} has {int(ends[short[0]] - firsts[short[0]])}")
    inside = np.flatnonzero(held < block)
    if len(inside):
        raise UserError(
            f"the backtest block (the last {block} rows of every series) overlaps the rows the "
            f"run trained or validated on (series {panel.names[inside[0]]!r} holds out "
            f"{int(held[inside[0]])}); retrain it with --backtest-windows {windows}"
            + (f" --backtest-step {step}" if step != 1 else ""))
    offsets = np.arange(windows) * step - block  # first forecast row of each cutoff, from the end
    starts = (ends[:, None] + offsets[None, :]).reshape(-1)  # series-major
    series = np.repeat(np.arange(len(panel.names)), windows)
    cutoff_index = np.tile(np.arange(windows), len(panel.names))
    forecasts, actual = point_forecasts(predict, prepared, data, starts, firsts=firsts[series])
    n_targets = prepared.n_targets
    raw_targets = panel.values[:, :n_targets]
    season = data.season if data.season and data.season > 1 else None
    notes = []
    if baselines:
        m, note = baselines_lib.season_length(data.season)
        if note:
            notes.append(note)
        log(f"fitting {', '.join(baselines)} (season length {m}) on each of "
            f"{len(panel.names)} series, on its rows before its block")
        for name in baselines:
            found = np.empty_like(forecasts["naive"])
            for index in range(len(panel.names)):
                rows = slice(int(firsts[index]), int(ends[index]))
                mine = series == index
                local = starts[mine] - firsts[index]
                for j in range(n_targets):
                    found[mine, :, j] = baselines_lib.forecasts(
                        name, raw_targets[rows, j], local, data.horizon, int(local.min()),
                        data.season, False)
            forecasts[name] = found
    scales = naive_scales(panel, split, season or 1)[series]
    # Labels of each cutoff's last seen row, then of its forecast rows: the time column,
    # or the row's number within its series.
    rows = starts[:, None] + np.arange(-1, data.horizon)
    if panel.time is None:
        labels = (rows - firsts[series][:, None]).astype(str)
    else:
        from .data.timeaxis import format_time

        labels = np.asarray(format_time(panel.time[rows])).astype(str)
    return Backtest(
        targets=panel.targets, horizon=data.horizon, step=step, starts=starts,
        cutoffs=labels[:, 0].tolist(), times=labels[:, 1:].tolist(),
        actual=actual, forecasts=forecasts, scale=scales, notes=notes,
        info={"run": str(run), "data": panel.source, "series_count": len(panel.names),
              "window": data.window, "season": data.season,
              "mase_scale_kind": "seasonal naive" if season else "naive"},
        series=[panel.names[i] for i in series], cutoff_index=cutoff_index)


# ---------------------------------------------------------------------- metrics


def scores(forecast: np.ndarray, actual: np.ndarray, scale) -> dict[str, float]:
    """MAE, RMSE, sMAPE and MASE; with a scale per row (a panel), MASE is the mean of the
    rows' MAE over their own series' scale."""
    error = metrics_lib.mae(forecast, actual)
    if np.ndim(scale):
        row_mae = np.mean(np.abs(forecast - actual).reshape(len(forecast), -1), axis=1)
        mase = float(np.mean(row_mae / scale))
    else:
        mase = error / scale
    return {"mae": error, "rmse": metrics_lib.rmse(forecast, actual), "mase": mase,
            "smape": metrics_lib.smape(forecast, actual)}


def summary(result: Backtest) -> dict:
    """Overall and per-cutoff MAE, RMSE, MASE and sMAPE (%) of every method."""
    overall = {name: scores(forecast, result.actual, result.scale)
               for name, forecast in result.forecasts.items()}
    if result.quantiles is not None:  # pinball and coverage; a panel in its series' scales
        from .quantiles import report

        unit = (np.asarray(result.scale)[:, None, None] if np.ndim(result.scale)
                else np.full((len(result.actual), 1, 1), float(result.scale)))
        overall["model"]["quantiles"] = report(result.quantiles / unit[..., None],
                                               result.actual / unit, result.levels, 1.0)
    naive = overall["naive"]["mae"]
    for values in overall.values():
        values["mae_vs_naive"] = values["mae"] / naive if naive > 0 else float("nan")
    if result.series is not None:  # a panel: cutoff k of every series together
        by_cutoff = []
        for k in range(int(result.cutoff_index.max()) + 1):
            rows = result.cutoff_index == k
            by_cutoff.append({"cutoff": f"{k + 1} of {int(result.cutoff_index.max()) + 1}",
                              **{name: scores(forecast[rows], result.actual[rows],
                                              result.scale[rows])
                                 for name, forecast in result.forecasts.items()}})
        return {**result.info, "targets": result.targets, "horizon": result.horizon,
                "windows": len(by_cutoff), "step": result.step, "refit": False,
                "methods": list(result.forecasts), "notes": result.notes,
                "overall": overall, "by_cutoff": by_cutoff}
    by_cutoff = [{"cutoff": label, "first_forecast_row": int(start),
                  **{name: scores(forecast[i:i + 1], result.actual[i:i + 1], result.scale)
                     for name, forecast in result.forecasts.items()}}
                 for i, (label, start) in enumerate(zip(result.cutoffs, result.starts))]
    return {**result.info, "targets": result.targets, "horizon": result.horizon,
            "windows": len(result.starts), "step": result.step, "refit": result.refit,
            "first_forecast_row": int(result.starts[0]), "mase_scale": result.scale,
            "methods": list(result.forecasts), "notes": result.notes,
            "overall": overall, "by_cutoff": by_cutoff}


# ----------------------------------------------------------------------- output


def _number(value: float) -> str:
    return f"{value:.8g}"


def long_csv(result: Backtest) -> str:
    """series, cutoff, time, step, y, then one column per method; a row per target,
    cutoff and horizon step."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    methods = list(result.forecasts)
    levels = result.levels if result.quantiles is not None else []
    writer.writerow(["series", "cutoff", "time", "step", "y"] + methods
                    + [f"model_q{level:g}" for level in levels])
    for j, target in enumerate(result.targets):
        for i, cutoff in enumerate(result.cutoffs):
            name = target if result.series is None else (
                result.series[i] if len(result.targets) == 1 else f"{result.series[i]}/{target}")
            for k in range(result.horizon):
                writer.writerow([name, cutoff, result.times[i][k], k + 1,
                                 _number(result.actual[i, k, j])]
                                + [_number(result.forecasts[m][i, k, j]) for m in methods]
                                + [_number(result.quantiles[i, k, j, q])
                                   for q in range(len(levels))])
    return buffer.getvalue()


def by_cutoff_csv(summary_: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["cutoff", "method"] + list(METRICS))
    for entry in summary_["by_cutoff"]:
        for name in summary_["methods"]:
            writer.writerow([entry["cutoff"], name] + [_number(entry[name][key])
                                                       for key in METRICS])
    return buffer.getvalue()


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
             f"{'MAE/naive':>9s}"]
    for name, values in summary_["overall"].items():
        lines.append(f"{name:16s} {values['mae']:10.4g} {values['rmse']:10.4g} "
                     f"{values['mase']:7.3f} {values['smape']:7.2f} "
                     f"{values['mae_vs_naive']:9.3f}")
    quantiles = summary_["overall"]["model"].get("quantiles")
    if quantiles:
        lines.append(f"model quantiles: mean scaled pinball {quantiles['mean_scaled_pinball']:.4g}"
                     + "".join(f", {name} interval coverage {values['coverage']:.1%}"
                               for name, values in quantiles["intervals"].items()))
    return "\n".join(lines)
