"""Forecast with an exported model: onnxruntime and NumPy only, never TensorFlow.

Everything needed (columns, window, horizon, scaling) comes from the model's
lstm-tf metadata, so a model file and a CSV are all a user needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import contract, data, runtime
from .atomic import csv_text
from .data import panel_csv, timeaxis
from .data.covariates import future_covariates, read_columns, split_future, split_known
from .data.csv import column_if_present, read_with_future
from .data.panel import Panel, as_panel
from .errors import UserError


def load(model_path: str | Path):
    """An onnxruntime session and the validated metadata of an exported window model."""
    session = runtime.session(model_path)
    meta = runtime.metadata(session, str(model_path))
    if meta.get("model") != "window":
        raise UserError(f"{model_path} is a {meta.get('model')} model; predict needs the window "
                        "model (the .onnx without .step or .gates)")
    inputs = {value.name: value for value in session.get_inputs()}
    expected = set(meta["inputs"])
    if (set(inputs) != expected or contract.INPUT not in inputs
            or len(inputs[contract.INPUT].shape) != 3):
        also = [name for name in meta["inputs"] if name != contract.INPUT]
        raise UserError(f"{model_path}: expected one input {contract.INPUT!r} of rank 3 "
                        "[batch, time, features]"
                        + "".join(f" and {name!r} {meta['inputs'][name]}" for name in also))
    return session, meta


def forecast(session, meta: dict, history: np.ndarray, steps: int | None = None,
             source: str = "the data", known: np.ndarray | None = None) -> np.ndarray:
    """Forecast `steps` rows (default: the horizon; beyond it a univariate model is rolled
    forward, `run_windows`) after `history` [rows, columns], raw units. `known`: the raw
    future-known covariates over the horizon [horizon, K] of a model that takes them."""
    return forecast_after(session, meta, history, steps, source, known)[0]


def quantiles_after(session, meta: dict, history: np.ndarray) -> np.ndarray | None:
    """A quantile model's quantiles [horizon, targets, Q] (raw units) after `history`,
    or None for a point model."""
    return forecast_after(session, meta, history)[1]


def forecast_after(session, meta: dict, history: np.ndarray, steps: int | None = None,
                   source: str = "the data", known: np.ndarray | None = None):
    """(`forecast`, a quantile model's quantiles or None) after one series' `history`:
    `run_windows` of its last window (a panel of one)."""
    if len(history) < meta["window"]:
        raise UserError(f"{source} has {len(history)} rows; the model needs at least "
                        f"{meta['window']} (its window)")
    feed = {} if known is None else {contract.KNOWN_INPUT: np.asarray(known, np.float32)[None]}
    values, quantiles = run_windows(session, meta, np.asarray(history)[None], feed, steps)
    return values[0], None if quantiles is None else quantiles[0]


def run_windows(session, meta: dict, history: np.ndarray, feed: dict, steps: int | None):
    """(forecasts [n, steps, targets], quantiles [n, horizon, targets, Q] or None) after
    the windows `history` [n, window, columns] of n series (`feed`: the model's other
    inputs), in one onnxruntime call per horizon: more than one only when rolling past
    the horizon, which only a univariate model can."""
    window, horizon = meta["window"], meta["horizon"]
    steps = steps or horizon
    _check_steps_with_covariates(meta, steps)
    if steps > horizon and len(meta["columns"]) != 1:
        raise UserError(f"--steps {steps} exceeds the horizon {horizon}; rolling forward needs a "
                        "univariate model (one target, no extra features)")
    if meta["scaling"] == "none":
        raise UserError("this model was exported with --no-scaling; predict needs a model with "
                        "in-graph scaling")
    history = np.asarray(history, np.float32)
    chunks, quantiles = [], None
    outputs = [contract.OUTPUT] + ([contract.QUANTILES] if meta.get("quantiles") else [])
    while sum(chunk.shape[1] for chunk in chunks) < steps:
        out, *rest = session.run(outputs, {contract.INPUT: history[:, -window:], **feed})
        if quantiles is None and rest:
            quantiles = rest[0]  # within the horizon only
        chunks.append(out)
        if sum(chunk.shape[1] for chunk in chunks) < steps:  # rolling on: univariate
            history = np.concatenate([history, out], axis=1)
    return np.concatenate(chunks, axis=1)[:, :steps], quantiles


def _check_steps_with_covariates(meta: dict, steps: int) -> None:
    if meta.get("covariates") and steps > meta["horizon"]:
        raise UserError(f"--steps {steps} exceeds the horizon {meta['horizon']}; a model with "
                        "future-known covariates forecasts its horizon only")


def predict_csv(model_path: str | Path, data_path: str | Path, steps: int | None = None):
    """(the metadata, the forecast [steps, targets]) of a single-series model after a
    CSV's last row (`predict_series`)."""
    session, meta = load(model_path)
    return meta, predict_series(session, meta, data_path, steps).values[0]


def predict_file(model_path: str | Path, data_path: str | Path, steps: int | None = None,
                 series_column: str | None = None) -> tuple[str, int, dict[str, str]]:
    """`lstm-tf predict`: the forecast CSV of a single-series or a panel model, its
    number of forecast rows, and the series a panel model skipped (name -> reason)."""
    session, meta = load(model_path)
    panel_model = meta.get("panel") is not None
    if series_column and not panel_model:
        raise UserError(f"--series-column: {model_path} was trained on a single series")
    result = (predict_panel(session, meta, data_path, series_column, steps) if panel_model
              else predict_series(session, meta, data_path, steps))
    return (forecast_csv(meta, result, series_column=panel_model),
            int(np.prod(result.values.shape[:2])), result.skipped)


def predict_series(session, meta: dict, data_path: str | Path,
                   steps: int | None = None) -> PanelForecast:
    """`predict_panel` for a single-series model, a panel of one forecast after the
    file's last row (with known covariates: after its last row with a target value);
    what would skip a panel's series is an error, and its time column is continued only
    when the file has one."""
    targets = meta["targets"]
    features = meta["columns"][len(targets):]
    spec = meta.get("covariates")
    time_column = column_if_present(data_path, meta.get("time_column"))
    known = None
    if spec:
        series, future = read_with_future(data_path, targets, features, spec["known"],
                                          time_column)
        _check_steps_with_covariates(meta, steps or meta["horizon"])
        known = future_covariates(spec, series.time, future, meta["horizon"], str(data_path),
                                  meta.get("time_column"))
    else:
        series = data.read_csv(data_path, targets, features, time_column)
    rows, quantiles = forecast_after(session, meta, series.values, steps, str(data_path), known)
    times = None
    if series.time is not None and len(series.time) >= 2:  # continued as a panel's are
        times = [list(timeaxis.format_time(timeaxis.continue_time(as_panel(series).time,
                                                                  len(rows)),
                                           like=series.time_format))]
    return PanelForecast([series.targets[0]], times, rows[None], {},
                         None if quantiles is None else quantiles[None], series.time_column)


# -------------------------------------------------------------------------- panels


@dataclass
class PanelForecast:
    """Forecasts of every series a panel model could serve, and why it skipped others."""

    names: list[str]
    times: list[list[str]] | None  # per series, the future time labels (or step numbers)
    values: np.ndarray  # [series, steps, targets], raw units
    skipped: dict[str, str]  # series name -> the reason
    quantiles: np.ndarray | None = None  # a quantile model's [series, horizon, targets, Q]
    time_column: str | None = None  # the file's time column, named as the file names it


def predict_panel(session, meta: dict, data_path: str | Path,
                  series_column: str | None = None, steps: int | None = None) -> PanelForecast:
    """Forecast every series of a panel CSV (long, or wide when the model was trained on
    columns as series) from its latest rows, all in one batched `run_windows`. A series
    shorter than the window, or (scaled by series) one the model never saw, is skipped
    with its reason; the others are still forecast."""
    panel_meta = meta["panel"]
    targets, window, horizon = meta["targets"], meta["window"], meta["horizon"]
    features = meta["columns"][len(targets):]
    series_column = series_column or panel_meta.get("series_column")
    time_column = meta.get("time_column")
    spec = meta.get("covariates")
    known_columns = list(spec["known"]) if spec else []
    if series_column:
        panel = panel_csv.read_long_csv(data_path, series_column, targets,
                                        read_columns(features, known_columns),
                                        column_if_present(data_path, time_column),
                                        allow_single=True, keep_missing=bool(spec))
        panel = split_known(panel, features, known_columns)
    else:
        if known_columns:
            raise UserError(f"{data_path}: the model takes known columns "
                            f"({', '.join(known_columns)}): give a long CSV with --series-column")
        panel = panel_csv.read_wide_as_panel(data_path, None,
                                             column_if_present(data_path, time_column))
    index = ({name: i for i, name in enumerate(panel_meta["series"])}
             if contract.takes_series(panel_meta) else None)
    # Where each series' history ends: its last row, or with covariates its last row
    # with a target value (the rows after it hold the known columns' future values).
    ends = panel.offsets[1:].copy()
    skipped, future, served = {}, {}, []
    for i, name in enumerate(panel.names):
        why = None
        if spec:
            why, ends[i], future[i] = _series_future(panel, i, spec, horizon, len(targets))
        length = int(ends[i] - panel.offsets[i])
        if why is None and length < window:
            why = f"{length} rows, the model needs {window} (its window)"
        elif why is None and index is not None and name not in index:
            why = ("not among the series the model was trained on (it "
                   + ("selects each series' statistics by name; a window-scaled model serves "
                      "any)" if panel_meta["scaling"] == "series" else
                      "learned a vector for each series it saw)" if panel_meta.get("embedding")
                      else "forecasts each series it saw with that series' own anchor)"))
        if why is None:
            served.append(i)
        else:
            skipped[name] = why
    if not served:
        raise UserError(f"{data_path}: no series the model can forecast ("
                        + "; ".join(f"{name}: {why}" for name, why in list(skipped.items())[:3])
                        + ")")
    served = np.asarray(served)
    history = panel.values[ends[served][:, None] + np.arange(-window, 0)].astype(np.float32)
    feed = {}
    if index is not None:
        feed[contract.SERIES_INPUT] = np.array([index[panel.names[i]] for i in served], np.int64)
    if spec:
        feed[contract.KNOWN_INPUT] = np.stack([future[i] for i in served]).astype(np.float32)
    values, quantiles = run_windows(session, meta, history, feed, steps)
    steps = values.shape[1]
    names = [panel.names[i] for i in served]
    if panel.time is not None:  # every series' future times in one vectorised pass
        times = list(timeaxis.format_time(timeaxis.continue_panel_time(
            _tails(panel, served, window, ends[served]), steps), like=panel.time_format))
    else:
        times = [[str(step) for step in range(1, steps + 1)] for _ in served]
    return PanelForecast(names, times, values, skipped, quantiles, panel.time_column)


def _series_future(panel, i: int, spec: dict, horizon: int, n_targets: int):
    """(why it cannot be forecast or None, the end row of its history, its raw covariates
    over the horizon [horizon, K]) for series i of a panel read with missing values kept."""
    first = int(panel.offsets[i])
    rows = panel.values[panel.rows_of(i)]
    split = split_future(rows, n_targets)
    end = first + split
    if np.isnan(rows[:split]).any():
        row, column = np.argwhere(np.isnan(rows[:split]))[0]
        return (f"a missing value in its history (column {panel.columns[column]!r}, row "
                f"{row + 1} of the series)"), end, None
    time = None if panel.time is None else panel.time[first:end]
    try:
        known = future_covariates(spec, time, panel.known[first + split:panel.offsets[i + 1]]
                                  if panel.known is not None else None, horizon,
                                  panel.source, panel.time_column)
    except UserError as error:
        return str(error).split(": ", 1)[-1], end, None
    return None, end, known


def forecast_csv(meta: dict, result: PanelForecast, series_column: bool = True) -> str:
    """The forecast CSV: `series` (a panel's; not for a single series), the time column
    continued under the file's name for it (a panel's `time`, or the step, when the data
    has none; a single series' only when it has one), `step` (`horizon_step` where that
    name is taken), each target's forecast (a
    quantile model's median), then one column per target and level, `<target>_q<level>`
    (e.g. sst_q0.1).

    Quantiles exist within the horizon only: a forecast rolled beyond it leaves those
    cells empty (the rolled steps are conditional on the median path, so its spread
    would understate theirs)."""
    targets = meta["targets"]
    levels = (meta.get("quantiles") or []) if result.quantiles is not None else []
    labels = ["series"] if series_column else []
    timed = result.times is not None
    time_name = result.time_column or meta.get("time_column") or "time"
    # (`horizon_step` where the time column or a target is itself named `step`: one
    # header, two columns would be ambiguous to every reader)
    taken = set(labels + targets + ([time_name] if timed else []))
    rows = [labels + ([time_name] if timed else []) + ["step" if "step" not in taken
                                                      else "horizon_step"]
            + targets + [f"{target}_q{level:g}" for target in targets for level in levels]]
    steps = result.values.shape[1]
    for index, (name, values) in enumerate(zip(result.names, result.values)):
        for step in range(steps):
            cells = [f"{value:.7g}" for value in values[step]]
            if levels:
                inside = step < result.quantiles.shape[1]
                cells += [f"{result.quantiles[index, step, t, q]:.7g}" if inside else ""
                          for t in range(len(targets)) for q in range(len(levels))]
            rows.append(([name] if series_column else [])
                        + ([result.times[index][step]] if timed else []) + [step + 1] + cells)
    return csv_text(rows)


def _tails(panel, served: np.ndarray, rows: int, ends: np.ndarray):
    """A panel of the `rows` rows before `ends` (the served series' histories' ends) of
    each served series; their times are all that continuing the time column needs: the
    whole panel may hold millions of rows."""
    take = (ends[:, None] + np.arange(-rows, 0)).ravel()
    return Panel(panel.source, [panel.names[i] for i in served],
                 np.arange(len(served) + 1, dtype=np.int64) * rows, panel.targets,
                 panel.features, panel.values[take], panel.time[take], panel.time_column,
                 panel.series_column)


