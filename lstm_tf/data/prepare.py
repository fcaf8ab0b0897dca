"""A series made ready for a model: load → split → scale → window → anchor.

`load_series` reads the configured data and fills in what it implies (targets, time
column, season, window); `prepare` splits it chronologically, fits the scaler on the
training rows, finds every window and chooses the anchor, for a panel and for a
single series alike (a panel of one). Training, evaluation,
parity, gate inspection, backtests and benchmarks all start here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .. import anchors as anchors_lib
from ..config import DataConfig, RunConfig
from ..errors import UserError
from .. import data as data_lib  # the public data API (data/__init__.py)
from ..forecaster import Forecaster
from ..series_anchors import SeriesAnchor
from .covariates import Covariates, future_cut, read_columns, split_known
from .csv import column_if_present
from .panel import Panel, as_panel
from .scaling import Scaler, check_features_vary
from .split import (NO_VALIDATION, forecast_only, minimum_rows, panel_parts, panel_window,
                    part_rows, too_short_to_validate)


FORECAST_BLOCK = 65_536  # windows materialised at a time by `Prepared.forecast`


@dataclass
class Prepared:
    """A series (or a panel of series) made ready for a model: split, scaled, and cut
    into windows.

    A panel (`panel.Panel`) is one array of stacked series: `starts` are rows of that
    array, and `series_of[part]` says which series each window belongs to. Its
    `scaled` values are per-series z-scores (`scaling` "series", `scaler` a
    `scaling.Scaler`) or the raw values (`scaling` "window": each window is
    standardised by its own statistics on its way into the network).
    """

    series: data_lib.Series | Panel
    split: data_lib.Split | PanelSplit
    scaler: Scaler | None
    scaled: np.ndarray
    starts: dict[str, np.ndarray]  # window start rows per part: train, val, test
    anchor: anchors_lib.Anchor  # what the network corrects (anchor "none": nothing)
    series_of: dict[str, np.ndarray] | None = None  # panels: series index of every window
    scaling: str = "global"  # global (one series) | window | series
    # Future-known covariates per row, in network units [rows, K] (data/covariates.py),
    # and their definition and scaling; None without.
    covariates: np.ndarray | None = None
    covariate_spec: Covariates | None = None
    raw_covariates: np.ndarray | None = None  # the same in raw units
    # Whether the network takes the series index as an input (a learned embedding).
    series_input: bool = False
    skipped: list[str] = dataclasses.field(default_factory=list)  # a panel's too-short series
    # A panel's series too short to train (no training window) but forecast and
    # evaluated from the window before their test part (`split.panel_parts`).
    forecast_only: list[str] = dataclasses.field(default_factory=list)
    # No validation part: the validation windows are the training ones (`prepare`).
    in_sample: bool = False
    # Anchor `network`: the anchor `auto` would have chosen, the floor's fallback
    # (`train.floor`); None otherwise.
    fallback: anchors_lib.Anchor | None = None
    # A panel's anchors per series when the floor took them (`series_anchors`); None otherwise.
    series_anchor: SeriesAnchor | None = None

    @property
    def window_scaled(self) -> bool:
        return self.scaling == "window"

    @property
    def n_targets(self) -> int:
        return len(self.series.targets)

    @property
    def forecaster(self) -> Forecaster:
        """Its scaling, anchor and the network's extra inputs: raw windows in, raw
        forecasts out (`forecaster.Forecaster`)."""
        return Forecaster.from_record(scaler_record(self), self.anchor, self.n_targets,
                                      self.covariate_spec, self.series_input,
                                      series_anchor=self.series_anchor)

    def series_index(self, starts: np.ndarray) -> np.ndarray:
        """The series each window start row belongs to (0 for a single series)."""
        if not isinstance(self.series, Panel):
            return np.zeros(len(starts), np.int64)
        return np.searchsorted(self.series.offsets, starts - 1, side="right") - 1

    def raw_inputs(self, starts: np.ndarray, window: int, horizon: int):
        """(raw windows [n, window, columns], series index [n], raw future-known
        covariates over each forecast [n, horizon, K] or None) of the windows at `starts`:
        what `Forecaster.forecast` takes."""
        raw, _ = data_lib.windows(self.series.values, starts, window, horizon, self.n_targets)
        known = (None if self.raw_covariates is None
                 else future_cut(self.raw_covariates, starts, horizon))
        return raw, self.series_index(starts), known

    def network_units(self, starts: np.ndarray, window: int, horizon: int):
        """(z, actual): the windows at `starts` and their actual values, both in the
        network's units (what quantile calibration fits)."""
        raw, series, _ = self.raw_inputs(starts, window, horizon)
        z, _, to_z = self.forecaster.to_network(raw, series)
        return z, to_z(self.actual(starts, window, horizon))

    def forecast(self, network, starts: np.ndarray, window: int, horizon: int) -> np.ndarray:
        """anchor + network for the windows at `starts`, in original units
        (`Forecaster.forecast`: `network` the network's batched prediction, or None for
        the anchor alone; a quantile network gives quantiles [..., Q]).

        In blocks of `FORECAST_BLOCK` windows: a panel's validation part can hold a
        million windows, which materialised at once would take gigabytes."""
        forecaster = self.forecaster
        return np.concatenate([
            forecaster.forecast(network, *self.raw_inputs(starts[first:first + FORECAST_BLOCK],
                                                          window, horizon))
            for first in range(0, max(len(starts), 1), FORECAST_BLOCK)])

    def error_scale(self, starts: np.ndarray) -> np.ndarray:
        """Per window: 1 for a single series; for a panel, the in-sample MAE of the naive
        forecast over its series' training part (the MASE scale)."""
        if not isinstance(self.series, Panel):
            return np.ones(len(starts))
        return naive_scales(self.series, self.split)[self.series_index(starts)]

    def actual(self, starts: np.ndarray, window: int, horizon: int) -> np.ndarray:
        """The windows' targets in original units [n, horizon, targets]."""
        return data_lib.windows(self.series.values[:, :self.n_targets], starts, window, horizon,
                                self.n_targets)[1]


@dataclass(frozen=True)
class PanelSplit:
    """Each series' chronological split, as rows of the stacked array: series i's
    training part is rows offsets[i]:train_end[i], validation train_end[i]:val_end[i],
    test val_end[i]:offsets[i + 1]."""

    offsets: np.ndarray
    train_end: np.ndarray
    val_end: np.ndarray

    def to_dict(self) -> dict:
        return {"offsets": self.offsets.tolist(), "train_end": self.train_end.tolist(),
                "val_end": self.val_end.tolist()}


def load_series(config: DataConfig) -> data_lib.Series:
    """Load the configured data and fill in the defaults it implies (targets, time, season)."""
    # Known columns are read as the last features, then moved out of the window inputs.
    columns = read_columns(config.features, config.known)
    if config.path:
        series = data_lib.read_csv(config.path, config.targets, columns,
                                   config.time_column, config.fill)
    else:
        info = data_lib.BUILTIN_DATASETS.get(config.dataset)
        series = data_lib.load_builtin(config.dataset, config.targets, columns, config.fill)
        if info is not None:
            config.season = config.season or info.season
            config.fill = config.fill or info.fill
    series = split_known(series, list(config.features), list(config.known))
    if config.scaling is not None:
        raise UserError(f"--scaling {config.scaling} applies to a panel (--series-column or "
                        "--columns-as-series); a single series is scaled by its training rows' "
                        "z-scores")
    if config.season is None:
        config.season = data_lib.infer_season(series.time)
    config.anchor = anchor_choice(config, single=True)
    config.targets, config.features = series.targets, series.features
    config.time_column = series.time_column
    if config.window is None:
        # Whether the rows before the test part (never the test part) have a season: it
        # shapes the split and the window (`split.default_window`).
        _, test = (int(n[0]) for n in part_rows([len(series.values)], config.horizon,
                                                 config.val_fraction, config.test_fraction,
                                                 config.holdout, config.val_size))
        seasonal = bool(config.season) and anchors_lib.is_seasonal(
            series.values[:max(len(series.values) - test, 0), 0], config.season)
        if config.val_size is None and too_short_to_validate(
                len(series.values), config.season, config.horizon, config.val_fraction,
                config.test_fraction, config.holdout, seasonal):
            config.val_size = NO_VALIDATION
        config.window = data_lib.default_window(
            len(series.values), config.season, config.horizon, config.val_fraction,
            config.test_fraction, config.holdout, config.val_size, seasonal=seasonal)
    return series


def load_prepared(config: DataConfig) -> tuple[Prepared, dict | None]:
    """Load and prepare the configured data, a series or a panel (filling in the defaults
    it implies). Returns the prepared data and, for a panel, what the run records of it
    (`RunConfig.panel`: the series names in index order, the skipped ones)."""
    return prepare_any(load_data(config), config)


def load_data(config: DataConfig) -> data_lib.Series | Panel:
    """The configured series or panel, with the defaults it implies filled into `config`
    (targets, time column, season, window; a panel's scaling)."""
    from .sources import BUILTIN_PANELS, is_panel, load_panel
    from .timeaxis import panel_season

    if not is_panel(config):
        return load_series(config)
    panel = load_panel(config)
    if config.season is None:
        builtin = BUILTIN_PANELS.get(config.dataset) if config.path is None else None
        config.season = builtin.season if builtin else panel_season(panel)
    if panel.series_column is None:  # a wide panel: its columns are the series
        config.series_columns = list(panel.names)
    config.targets, config.features = panel.targets, panel.features
    config.time_column = panel.time_column
    config.scaling = config.scaling or "window"
    config.anchor = anchor_choice(config, single=False)
    if config.window is None:
        config.window = panel_window(panel.lengths, config.season, config.horizon,
                                     config.val_fraction, config.test_fraction, config.holdout,
                                     config.val_size)
    return panel


def prepare_any(data: data_lib.Series | Panel, config: DataConfig
                ) -> tuple[Prepared, dict | None]:
    """`prepare` a series or a panel; for a panel also what the run records of it (see
    `load_prepared`)."""
    prepared = prepare(data, config)
    return prepared, (None if not isinstance(data, Panel) else {
        "series": prepared.series.names, "skipped": prepared.skipped,
        "forecast_only": prepared.forecast_only, "series_column": data.series_column,
        "scaling": config.scaling})


def with_covariates(prepared: Prepared, config: DataConfig, train_rows: np.ndarray,
                    saved: Covariates | None = None) -> Prepared:
    """`prepared` with its future-known covariates per row (`--calendar`, `--known`), the
    known columns z-scored on the training rows (`train_rows`, a mask) unless `saved`
    gives a run's own scaling."""
    if not config.calendar and not config.known:
        return prepared
    data = prepared.series
    spec = saved if saved is not None else Covariates(list(config.calendar), list(config.known))
    raw = spec.raw(data.time, data.known, data.source, data.time_column)
    if saved is None:
        spec.fit(raw[train_rows])
    prepared.covariates, prepared.raw_covariates = spec.transform(raw), raw
    prepared.covariate_spec = spec
    return prepared


def naive_scales(panel: Panel, split: PanelSplit, season: int = 1) -> np.ndarray:
    """Each series' in-sample MAE of the (seasonal) naive forecast over its training
    part, mean over the target columns (the MASE denominator); 1 where it is 0."""
    targets = panel.values[:, :len(panel.targets)]
    scales = np.ones(len(panel.names))
    for i, start in enumerate(split.offsets[:-1]):
        rows = targets[start:split.train_end[i]]
        if len(rows) > season:
            scale = float(np.mean(np.abs(rows[season:] - rows[:-season])))
            scales[i] = scale if scale > 0 else 1.0
    return scales


def scaler_record(prepared: Prepared) -> dict:
    """What config.json keeps of the scaling: the z-score statistics (per series for a
    panel scaled by series), or for window scaling only the columns."""
    return ({"columns": prepared.series.columns, "per_window": True} if prepared.scaler is None
            else prepared.scaler.to_dict())


def split_panel(panel: Panel, config: DataConfig) -> tuple[PanelSplit, np.ndarray]:
    """Each series' split (the last `test_size` rows, or `test_fraction` of them, are its
    test part; validation before it) and which series are long enough to keep: a
    training part of window + horizon rows, validation and test parts of horizon rows;
    for a series too short for validation of its own, none; for one too short to train,
    a window before its test part (forecast only; `split.panel_parts`)."""
    val, test, keep = panel_parts(panel.lengths, config.window, config.horizon,
                                  config.val_fraction, config.test_fraction, config.holdout,
                                  config.val_size)
    val_end = panel.offsets[1:] - test
    return PanelSplit(panel.offsets, val_end - val, val_end), keep


def panel_starts(split: PanelSplit, window: int, horizon: int, stride: int
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Window start rows per part across the panel, and the series of each: windows of
    one series never reach into another's rows."""
    starts = {part: [] for part in ("train", "val", "test")}
    for i in range(len(split.offsets) - 1):
        first, last = int(split.offsets[i]), int(split.offsets[i + 1])
        bounds = {"train": (0, split.train_end[i] - first),
                  "val": (split.train_end[i] - first, split.val_end[i] - first),
                  "test": (split.val_end[i] - first, last - first)}
        for part, (start, end) in bounds.items():
            starts[part].append(first + data_lib.window_starts(int(start), int(end), window,
                                                               horizon, stride))
    found = {part: np.concatenate(rows) for part, rows in starts.items()}
    series = {part: np.repeat(np.arange(len(rows)), [len(r) for r in rows])
              for part, rows in starts.items()}
    return found, series


def keep_series(panel: Panel, keep: np.ndarray) -> Panel:
    """The panel without the series `keep` drops."""
    if keep.all():
        return panel
    rows = np.concatenate([np.arange(panel.offsets[i], panel.offsets[i + 1])
                           for i in np.flatnonzero(keep)])
    lengths = panel.lengths[keep]
    return dataclasses.replace(
        panel, names=[name for name, k in zip(panel.names, keep) if k],
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        values=panel.values[rows], time=None if panel.time is None else panel.time[rows],
        known=None if panel.known is None else panel.known[rows])


def prepare(data: data_lib.Series | Panel, config: DataConfig, scaler: Scaler | None = None,
            anchor: anchors_lib.Anchor | None = None,
            covariates: Covariates | None = None) -> Prepared:
    """Split each series chronologically, drop those too short (a panel's, named in
    `Prepared.skipped`; those too short to train but holding a window before their test
    part are kept, forecast only: `Prepared.forecast_only`), scale, find every window,
    and choose one anchor on the training windows of all series (a saved run passes its
    own scaler, anchor and covariate scaling).

    A single series goes through here as a panel of one (`panel.as_panel`), scaled by
    its training rows' z-scores (a panel's `series` scaling with one series, recorded
    as scaling "global": its statistics are constants of the exported model); it is
    refused, not skipped, when too short, and each of its parts must hold a window.
    The prepared data keeps the `Series` itself (its time column as text) and a `Split`.
    """
    single = not isinstance(data, Panel)
    if single:  # refused with the true minimum of rows (`split_rows`) rather than skipped
        data_lib.split_rows(len(data.values), config.val_fraction, config.test_fraction,
                            config.window, config.horizon, config.holdout, config.val_size)
    # The panel needs no parsed time here: covariates read the kept data's own times.
    panel = as_panel(dataclasses.replace(data, time=None)) if single else data
    split, keep = split_panel(panel, config)
    skipped = [name for name, k in zip(panel.names, keep) if not k]
    if not keep.any():  # (without a validation part: `panel_parts`' NO_VALIDATION)
        need = minimum_rows(config.window, config.horizon, config.val_fraction,
                            config.test_fraction, config.holdout,
                            NO_VALIDATION if config.val_size is None else config.val_size)
        raise UserError(f"every one of the {len(panel.names)} series is too short for window "
                        f"{config.window} + horizon {config.horizon} before its test part (the "
                        f"longest has {int(panel.lengths.max())} rows; one series needs at "
                        f"least {need}); use a smaller --window, --horizon or --test-size")
    panel = keep_series(panel, keep)
    split, _ = split_panel(panel, config)
    untrained = forecast_only(panel.lengths, split.val_end - split.train_end,
                              panel.offsets[1:] - split.val_end, config.window, config.horizon)
    starts, series_of = panel_starts(split, config.window, config.horizon, config.stride)
    # No validation part (a single series', or no series' of a panel): the anchor is
    # chosen on the training windows and the network is not kept (`split.NO_VALIDATION`).
    in_sample = bool((split.val_end == split.train_end).all())
    if in_sample:
        starts["val"], series_of["val"] = starts["train"], series_of["train"]
    empty = [part for part, found in starts.items() if len(found) == 0]
    if single and empty:
        raise UserError(f"the {empty[0]} part holds no window of {config.window} + "
                        f"{config.horizon} rows; use more data or a smaller window/stride")
    training_parts = list(zip(split.offsets[:-1], split.train_end))
    scaling = "global" if single else config.scaling or "window"
    if scaling == "window":
        scaler, scaled = None, panel.values
    else:
        if scaler is None:
            scaler = (Scaler.fit(panel.values[:int(split.train_end[0])], panel.columns)
                      if single else Scaler.fit(panel.values, panel.columns, training_parts))
        scaled = scaler.transform(panel.values, panel.series_index())
    fallback = None
    if anchor is None:  # fitted on the training windows, chosen on the validation ones
        check_features_vary(panel.values, panel.columns, len(panel.targets), training_parts)
        choice = anchor_choice(config, single)
        if in_sample and choice == "network":  # no network kept: its fallback forecasts
            choice = "auto"

        def fitted(choice):
            return anchors_lib.choose(scaled, starts["train"], starts["val"], config.horizon,
                                      len(panel.targets), config.season, config.window,
                                      choice, window_scaled=scaling == "window",
                                      fixed_only=in_sample, history=single)[0]

        anchor = fitted(choice)
        fallback = fitted("auto") if choice == "network" else None
    train_rows = np.arange(len(panel.values)) < np.repeat(split.train_end, panel.lengths)
    if single:
        prepared = Prepared(data, data_lib.Split(int(split.train_end[0]), int(split.val_end[0]),
                                                 len(data.values)),
                            scaler, scaled, starts, anchor)
    else:
        prepared = Prepared(panel, split, scaler, scaled, starts, anchor, series_of, scaling,
                            skipped=skipped,
                            forecast_only=[n for n, u in zip(panel.names, untrained) if u])
    prepared.fallback, prepared.in_sample = fallback, in_sample
    return with_covariates(prepared, config, train_rows, covariates)


def anchor_choice(config: DataConfig, single: bool) -> str:
    """The configured anchor, or the default: `network` for a panel (the network alone,
    the fitted anchor its fallback), `auto` for a single series. Measured on four panels
    (docs/accuracy.md): the network alone beat anchor + network on fertility and
    macrodata, and the fallback chose the anchor where it did not (us-employment)."""
    return config.anchor or ("auto" if single else "network")


def evaluation_data(config: RunConfig, data_path: str | None = None) -> tuple[Prepared, str]:
    """A saved run's evaluated windows: its own test part, or every window of a CSV file.

    Returns the prepared series (scaled with the run's scaler) and the part's key in
    `starts`: "test", or "file" for `data_path`.
    """
    # The scaler the run recorded: (per-series) z-scores, or None (window scaling).
    scaler = None if config.scaler.get("per_window") else Scaler.from_dict(config.scaler)
    anchor = anchors_lib.of_run(config)
    covariates = Covariates.from_dict(config.covariates)
    series_input = bool(config.model.series_embedding)
    if config.panel:
        if data_path is not None:
            raise UserError("evaluate --data is for single-series runs; a panel run is "
                            "evaluated on its own test part")
        from .sources import load_panel

        prepared = prepare(load_panel(config.data), config.data, scaler, anchor, covariates)
        prepared.series_input = series_input
        prepared.series_anchor = SeriesAnchor.from_dict(config.series_anchor)
        return prepared, "test"
    if data_path is None:
        return prepare(load_series(config.data), config.data, scaler, anchor, covariates), "test"
    data = config.data
    series = data_lib.read_csv(data_path, data.targets, read_columns(data.features, data.known),
                               column_if_present(data_path, data.time_column), data.fill)
    series = split_known(series, list(data.features), list(data.known))
    rows = len(series.values)
    starts = data_lib.window_starts(0, rows, data.window, data.horizon, data.stride)
    if len(starts) == 0:
        raise UserError(f"{data_path} has {rows} rows; need at least "
                        f"{data.window + data.horizon} for one window")
    # The whole file is the evaluation part; MASE is scaled on the file itself.
    prepared = Prepared(series, data_lib.Split(rows, rows, rows), scaler,
                        scaler.transform(series.values), {"file": starts}, anchor)
    return with_covariates(prepared, data, np.ones(rows, bool), covariates), "file"

