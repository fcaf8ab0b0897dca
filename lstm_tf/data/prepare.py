"""A series made ready for a model: load → split → scale → window → anchor.

`load_series` reads the configured data and fills in what it implies (targets, time
column, season, window); `prepare` splits it chronologically, fits the scaler on the
training rows, finds every window and chooses the anchor. Training, evaluation,
parity, gate inspection, backtests and benchmarks all start here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

from .. import anchors as anchors_lib
from ..config import DataConfig, RunConfig
from ..errors import UserError
from . import series as data_lib


@dataclass
class Prepared:
    """A series made ready for a model: split, scaled, and cut into windows."""

    series: data_lib.Series
    split: data_lib.Split
    scaler: data_lib.Scaler
    scaled: np.ndarray
    starts: dict[str, np.ndarray]  # window start rows per part: train, val, test
    anchor: anchors_lib.Anchor  # what the network corrects (anchor "none": nothing)


def load_series(config: DataConfig) -> data_lib.Series:
    """Load the configured data and fill in the defaults it implies (targets, time, season)."""
    if config.path:
        series = data_lib.read_csv(config.path, config.targets, config.features,
                                   config.time_column, config.fill)
    else:
        info = data_lib.BUILTIN_DATASETS.get(config.dataset)
        series = data_lib.load_builtin(config.dataset, config.targets, config.features,
                                       config.fill)
        if info is not None:
            config.season = config.season or info.season
            config.fill = config.fill or info.fill
    if config.season is None:
        config.season = data_lib.infer_season(series.time)
    config.targets, config.features = series.targets, series.features
    config.time_column = series.time_column
    if config.window is None:
        config.window = data_lib.default_window(len(series.values), config.season,
                                                config.horizon, config.val_fraction,
                                                config.test_fraction, config.holdout)
    return series


def prepare(series: data_lib.Series, config: DataConfig,
            scaler: data_lib.Scaler | None = None,
            anchor: anchors_lib.Anchor | None = None) -> Prepared:
    """Split chronologically, fit the scaler on the training rows, find every window,
    and choose the anchor on the training windows (a saved run passes its own scaler
    and anchor)."""
    split = data_lib.split_rows(len(series.values), config.val_fraction, config.test_fraction,
                                config.window, config.horizon, config.holdout)
    if scaler is None:
        scaler = data_lib.Scaler.fit(series.values[:split.train_end], series.columns)
    starts = {part: data_lib.window_starts(*split.bounds(part), config.window, config.horizon,
                                           config.stride)
              for part in ("train", "val", "test")}
    for part, found in starts.items():
        if len(found) == 0:
            raise UserError(f"the {part} part holds no window of {config.window} + "
                            f"{config.horizon} rows; use more data or a smaller window/stride")
    scaled = scaler.transform(series.values)
    if anchor is None:  # fitted on the training windows, chosen on the validation ones
        anchor, _ = anchors_lib.choose(scaled, starts["train"], starts["val"], config.horizon,
                                       len(series.targets), config.season, config.window,
                                       config.anchor)
    return Prepared(series, split, scaler, scaled, starts, anchor)


def evaluation_data(config: RunConfig, data_path: str | None = None) -> tuple[Prepared, str]:
    """A saved run's evaluated windows: its own test part, or every window of a CSV file.

    Returns the prepared series (scaled with the run's scaler) and the part's key in
    `starts`: "test", or "file" for `data_path`.
    """
    scaler = data_lib.Scaler.from_dict(config.scaler)
    anchor = anchors_lib.of_run(config)
    if data_path is None:
        series = load_series(config.data)
        return prepare(series, config.data, scaler, anchor), "test"
    data = config.data
    series = data_lib.read_csv(data_path, data.targets, data.features,
                               data.time_column if _has_column(data_path, data.time_column)
                               else None, data.fill)
    rows = len(series.values)
    starts = data_lib.window_starts(0, rows, data.window, data.horizon, data.stride)
    if len(starts) == 0:
        raise UserError(f"{data_path} has {rows} rows; need at least "
                        f"{data.window + data.horizon} for one window")
    # The whole file is the evaluation part; MASE is scaled on the file itself.
    prepared = Prepared(series, data_lib.Split(rows, rows, rows), scaler,
                        scaler.transform(series.values), {"file": starts}, anchor)
    return prepared, "file"


def _has_column(path: str, column: str | None) -> bool:
    if not column:
        return False
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    return column in [name.strip() for name in header]
