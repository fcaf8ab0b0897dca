"""A series made ready for a model: load → split → scale → window → anchor.

`load_series` reads the configured data and fills in what it implies (targets, time
column, season, window); `prepare` splits it chronologically, fits the scaler on the
training rows, finds every window and chooses the anchor. Training, evaluation,
parity, gate inspection, backtests and benchmarks all start here.
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass

import numpy as np

from .. import anchors as anchors_lib
from ..config import DataConfig, RunConfig
from ..errors import UserError
from . import series as data_lib
from . import window_scaling
from .covariates import Covariates, future_cut, read_columns, split_known
from .panels import Panel


FORECAST_BLOCK = 65_536  # windows materialised at a time by `Prepared.forecast`  # a panel's scaling (a single series: the training rows' z-scores)


@dataclass
class Prepared:
    """A series (or a panel of series) made ready for a model: split, scaled, and cut
    into windows.

    A panel (`panels.Panel`) is one array of stacked series: `starts` are rows of that
    array, and `series_of[part]` says which series each window belongs to. Its
    `scaled` values are per-series z-scores (`scaling` "series", `scaler` a
    `SeriesScaler`) or the raw values (`scaling` "window": each window is
    standardised by its own statistics on its way into the network).
    """

    series: data_lib.Series | Panel
    split: data_lib.Split | PanelSplit
    scaler: data_lib.Scaler | SeriesScaler | None
    scaled: np.ndarray
    starts: dict[str, np.ndarray]  # window start rows per part: train, val, test
    anchor: anchors_lib.Anchor  # what the network corrects (anchor "none": nothing)
    series_of: dict[str, np.ndarray] | None = None  # panels: series index of every window
    scaling: str = "global"  # global (one series) | window | series
    # Future-known covariates per row, in network units [rows, K] (data/covariates.py),
    # and their definition and scaling; None without.
    covariates: np.ndarray | None = None
    covariate_spec: Covariates | None = None
    # Whether the network takes the series index as an input (a learned embedding).
    series_input: bool = False
    # Window scaling's spread measure (window_scaling.MEASURES).
    window_measure: str = "std"

    @property
    def window_scaled(self) -> bool:
        return self.scaling == "window"

    @property
    def n_targets(self) -> int:
        return len(self.series.targets)

    def network_view(self, starts: np.ndarray, window: int, horizon: int):
        """(inputs, undo): the windows at `starts` as the network's anchor sees them
        [n, window, columns], and a function taking a forecast in those units back to
        original units."""
        n_targets = self.n_targets
        inputs, _ = data_lib.windows(self.scaled, starts, window, horizon, n_targets)
        if self.window_scaled:
            inputs, level, scale = window_scaling.standardise(inputs, self.window_measure)
            return inputs, lambda out: out * scale[..., :n_targets] + level[..., :n_targets]
        if isinstance(self.scaler, SeriesScaler):
            series = self.series_index(starts)
            return inputs, lambda out: self.scaler.inverse_targets(out, n_targets, series)
        return inputs, lambda out: self.scaler.inverse_targets(out, n_targets)

    def series_index(self, starts: np.ndarray) -> np.ndarray:
        """The series each window start row belongs to (0 for a single series)."""
        if not isinstance(self.series, Panel):
            return np.zeros(len(starts), np.int64)
        return np.searchsorted(self.series.offsets, starts - 1, side="right") - 1

    def network_extras(self, starts: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
        """The network's inputs besides the window, for the windows at `starts`: the
        covariates over each forecast (`known` [n, horizon, K]) and the series index
        (`series` [n]), when the network takes them."""
        extras = {}
        if self.covariates is not None:
            extras["known"] = future_cut(self.covariates, starts, horizon).astype(np.float32)
        if self.series_input:
            extras["series"] = self.series_index(starts).astype(np.int64)
        return extras

    def forecast(self, predict, starts: np.ndarray, window: int, horizon: int) -> np.ndarray:
        """anchor + network (`predict`: the network's batched prediction, or None for
        the anchor alone) for the windows at `starts`, in original units.

        In blocks of `FORECAST_BLOCK` windows: a panel's validation part can hold a
        million windows, which materialised at once would take gigabytes."""
        blocks = []
        for first in range(0, max(len(starts), 1), FORECAST_BLOCK):
            block = starts[first:first + FORECAST_BLOCK]
            inputs, undo = self.network_view(block, window, horizon)
            if predict is None:
                blocks.append(undo(self.anchor.forecast(inputs, self.n_targets)))
            else:
                network = with_extras(predict, self.network_extras(block, horizon))
                blocks.append(undo(anchors_lib.anchored_forecast(network, inputs, self.anchor,
                                                                 self.n_targets)))
        return np.concatenate(blocks)

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


def with_extras(predict, extras: dict[str, np.ndarray]):
    """`predict` fed the window and the network's other inputs (a dict keyed by the
    Keras model's input names), or `predict` itself when there are none."""
    if not extras:
        return predict
    return lambda window: predict({"window": window, **extras})


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


@dataclass
class SeriesScaler:
    """Per-series z-scores, each fitted on its series' training rows: mean and std
    [series, columns]. A column constant in one series' training part gets std 1 there
    (it carries no scale; the run still learns from the other series)."""

    mean: np.ndarray
    std: np.ndarray
    columns: list[str]

    @classmethod
    def fit(cls, panel: Panel, train_end: np.ndarray) -> "SeriesScaler":
        mean = np.empty((len(panel.names), len(panel.columns)))
        std = np.empty_like(mean)
        for i, start in enumerate(panel.offsets[:-1]):
            rows = panel.values[start:train_end[i]]
            mean[i], std[i] = rows.mean(axis=0), rows.std(axis=0)
        std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
        return cls(mean, std, list(panel.columns))

    def to_dict(self) -> dict:
        return {"columns": self.columns, "per_series": True, "mean": self.mean.tolist(),
                "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, saved: dict) -> "SeriesScaler":
        return cls(np.asarray(saved["mean"], np.float64), np.asarray(saved["std"], np.float64),
                   saved["columns"])

    def transform(self, panel: Panel) -> np.ndarray:
        series = panel.series_index()
        return (panel.values - self.mean[series]) / self.std[series]

    def inverse_targets(self, scaled: np.ndarray, n_targets: int,
                        series: np.ndarray) -> np.ndarray:
        """Un-scale forecasts [n, horizon, targets] of the windows of `series` [n]."""
        return (scaled * self.std[series, None, :n_targets]
                + self.mean[series, None, :n_targets])


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
    if config.season is None:
        config.season = data_lib.infer_season(series.time)
    config.targets, config.features = series.targets, series.features
    config.time_column = series.time_column
    if config.window is None:
        config.window = data_lib.default_window(len(series.values), config.season,
                                                config.horizon, config.val_fraction,
                                                config.test_fraction, config.holdout)
    return series


def load_prepared(config: DataConfig) -> tuple[Prepared, dict | None]:
    """Load and prepare the configured data, a series or a panel (filling in the defaults
    it implies). Returns the prepared data and, for a panel, what the run records of it
    (`RunConfig.panel`: the series names in index order, the skipped ones)."""
    return prepare_any(load_data(config), config)


def load_data(config: DataConfig) -> data_lib.Series | Panel:
    """The configured series or panel, with the defaults it implies filled into `config`
    (targets, time column, season, window; a panel's scaling)."""
    from .panels import BUILTIN_PANELS, is_panel, load_panel, panel_season

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
    if config.window is None:
        config.window = data_lib.default_window(typical_length(panel), config.season,
                                                config.horizon, config.val_fraction,
                                                config.test_fraction, config.holdout)
    return panel


def prepare_any(data: data_lib.Series | Panel, config: DataConfig
                ) -> tuple[Prepared, dict | None]:
    """`prepare` a series or `prepare_panel` a panel; for a panel also what the run
    records of it (see `load_prepared`)."""
    if not isinstance(data, Panel):
        return prepare(data, config), None
    prepared, skipped = prepare_panel(data, config)
    return prepared, {"series": prepared.series.names, "skipped": skipped,
                      "series_column": data.series_column, "scaling": config.scaling}


def typical_length(data: data_lib.Series | Panel) -> int:
    """Rows of a series; a panel's median series length (its defaults are chosen by it)."""
    return int(np.median(data.lengths)) if isinstance(data, Panel) else len(data.values)


def prepare(series: data_lib.Series, config: DataConfig,
            scaler: data_lib.Scaler | None = None,
            anchor: anchors_lib.Anchor | None = None,
            covariates: Covariates | None = None) -> Prepared:
    """Split chronologically, fit the scaler on the training rows, find every window,
    and choose the anchor on the training windows (a saved run passes its own scaler,
    anchor and covariate scaling)."""
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
    prepared = Prepared(series, split, scaler, scaled, starts, anchor)
    train_rows = np.arange(len(series.values)) < split.train_end
    return with_covariates(prepared, config, train_rows, covariates)


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
    prepared.covariates = spec.transform(raw)
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


def run_scaler(config: RunConfig) -> data_lib.Scaler | SeriesScaler | None:
    """The scaler a run recorded: z-scores, per-series z-scores, or None (window scaling)."""
    saved = config.scaler
    if saved.get("per_window"):
        return None
    if saved.get("per_series"):
        return SeriesScaler.from_dict(saved)
    return data_lib.Scaler.from_dict(saved)


def undo_quantiles(undo, quantiles: np.ndarray) -> np.ndarray:
    """`undo` (a forecast [n, horizon, targets] back to original units, as `network_view`
    returns it) applied to quantiles [n, horizon, targets, Q], level by level."""
    return np.stack([undo(quantiles[..., q]) for q in range(quantiles.shape[-1])], axis=-1)


def to_network_units(undo, actual: np.ndarray) -> np.ndarray:
    """The inverse of `undo` (affine, with a positive scale) on actual values."""
    zero = undo(np.zeros_like(actual))
    return (actual - zero) / (undo(np.ones_like(actual)) - zero)


def raw_forecast(predict, raw_windows: np.ndarray, config: RunConfig,
                 series: np.ndarray | None = None, quantiles: bool = False,
                 known: np.ndarray | None = None) -> np.ndarray:
    """A run's forecast for raw windows [n, time, columns], in original units (float64):
    scale as the run does (by the window, by the series in `series`, or by the training
    rows), anchor + network (`predict`; None: the anchor alone), scale back. With
    `quantiles`, `predict` returns a quantile model's whole output and so does this
    ([n, horizon, targets, Q]). `known`: the raw future-known covariates [n, horizon, K]
    of a run that has them (`series` is then also the embedding's input, when the run
    learned one)."""
    scaler, anchor = run_scaler(config), anchors_lib.of_run(config)
    n_targets = len(config.data.targets)
    raw_windows = np.asarray(raw_windows, np.float64)
    if scaler is None:
        z, level, scale = window_scaling.standardise(raw_windows, config.data.window_measure)
        undo = lambda out: out * scale[..., :n_targets] + level[..., :n_targets]  # noqa: E731
    elif isinstance(scaler, SeriesScaler):
        z = (raw_windows - scaler.mean[series, None]) / scaler.std[series, None]
        undo = lambda out: scaler.inverse_targets(out, n_targets, series)  # noqa: E731
    else:
        z = scaler.transform(raw_windows)
        undo = lambda out: scaler.inverse_targets(out, n_targets)  # noqa: E731
    if predict is None:
        return undo(anchor.forecast(z, n_targets))
    extras = {}
    if config.covariates:
        extras["known"] = Covariates.from_dict(config.covariates).transform(known) \
            .astype(np.float32)
    if config.model.series_embedding:
        extras["series"] = np.asarray(series, np.int64)
    predict = with_extras(predict, extras)
    if quantiles:
        from ..quantiles import anchored

        return undo_quantiles(undo, anchored(predict, z, anchor, n_targets))
    return undo(anchors_lib.anchored_forecast(predict, z, anchor, n_targets))


def split_panel(panel: Panel, config: DataConfig) -> tuple[PanelSplit, np.ndarray]:
    """Each series' split (the last `test_size` rows, or `test_fraction` of them, are its
    test part; validation before it) and which series are long enough to keep: a
    training part of window + horizon rows, validation and test parts of horizon rows."""
    lengths, first = panel.lengths, panel.offsets[:-1]
    test = (np.full(len(lengths), config.holdout) if config.holdout is not None
            else np.round(lengths * config.test_fraction).astype(np.int64))
    val = (np.full(len(lengths), config.val_size) if config.val_size is not None
           else np.round((lengths - test) * config.val_fraction
                         if config.holdout is not None else lengths * config.val_fraction
                         ).astype(np.int64))
    val_end = panel.offsets[1:] - test
    train_end = val_end - val
    keep = ((train_end - first >= config.window + config.horizon)
            & (val >= config.horizon) & (test >= config.horizon))
    return PanelSplit(panel.offsets, train_end, val_end), keep


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


def prepare_panel(panel: Panel, config: DataConfig, scaler: SeriesScaler | None = None,
                  anchor: anchors_lib.Anchor | None = None,
                  covariates: Covariates | None = None) -> tuple[Prepared, list[str]]:
    """A panel's `prepare`: split each series, drop those too short (returned by name),
    scale (per series or per window), find every window, choose one anchor on the
    windows of all series."""
    split, keep = split_panel(panel, config)
    skipped = [name for name, k in zip(panel.names, keep) if not k]
    if not keep.any():
        raise UserError(f"every one of the {len(panel.names)} series is too short for window "
                        f"{config.window} + horizon {config.horizon} in its training part and "
                        f"horizon {config.horizon} rows of validation and test; use a smaller "
                        "--window, --horizon or --test-size")
    panel = keep_series(panel, keep)
    split, _ = split_panel(panel, config)
    starts, series_of = panel_starts(split, config.window, config.horizon, config.stride)
    scaling = config.scaling or "window"
    if scaling == "series":
        scaler = scaler or SeriesScaler.fit(panel, split.train_end)
        scaled = scaler.transform(panel)
    else:
        scaler, scaled = None, panel.values
    if anchor is None:
        anchor, _ = anchors_lib.choose(scaled, starts["train"], starts["val"], config.horizon,
                                       len(panel.targets), config.season, config.window,
                                       config.anchor, window_scaled=scaling == "window",
                                       measure=config.window_measure)
    prepared = Prepared(panel, split, scaler, scaled, starts, anchor, series_of, scaling,
                        window_measure=config.window_measure)
    train_rows = np.arange(len(panel.values)) < np.repeat(split.train_end, panel.lengths)
    return with_covariates(prepared, config, train_rows, covariates), skipped


def evaluation_data(config: RunConfig, data_path: str | None = None) -> tuple[Prepared, str]:
    """A saved run's evaluated windows: its own test part, or every window of a CSV file.

    Returns the prepared series (scaled with the run's scaler) and the part's key in
    `starts`: "test", or "file" for `data_path`.
    """
    scaler = run_scaler(config)
    anchor = anchors_lib.of_run(config)
    covariates = Covariates.from_dict(config.covariates)
    series_input = bool(config.model.series_embedding)
    if config.panel:
        if data_path is not None:
            raise UserError("evaluate --data is for single-series runs; a panel run is "
                            "evaluated on its own test part")
        from .panels import load_panel

        prepared = prepare_panel(load_panel(config.data), config.data, scaler, anchor,
                                 covariates)[0]
        prepared.series_input = series_input
        return prepared, "test"
    if data_path is None:
        series = load_series(config.data)
        return prepare(series, config.data, scaler, anchor, covariates), "test"
    data = config.data
    series = data_lib.read_csv(data_path, data.targets, read_columns(data.features, data.known),
                               data.time_column if _has_column(data_path, data.time_column)
                               else None, data.fill)
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


def _has_column(path: str, column: str | None) -> bool:
    if not column:
        return False
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    return column in [name.strip() for name in header]
