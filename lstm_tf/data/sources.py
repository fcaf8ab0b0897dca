"""Where data comes from besides a user's file: the built-in datasets and panels, the
seeded generators, and the choice of reader a run's `DataConfig` implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ..errors import UserError
from .covariates import read_columns, split_known
from .csv import _select, parse_csv
from .panel import Panel, Series
from .panel_csv import read_long_csv, read_wide_as_panel


@dataclass(frozen=True)
class BuiltinDataset:
    description: str
    target: str
    time_column: str | None = None
    season: int | None = None  # for the seasonal naive baseline
    file: str | None = None  # CSV shipped in lstm_tf/datasets
    fill: str | None = None  # how its missing values are handled by default
    source: str = ""


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    "elnino": BuiltinDataset(
        "Monthly sea-surface temperature, Nino 1+2 region, 1950-2010 (732 rows, real, NOAA)",
        target="sst", time_column="month", season=12, file="elnino.csv",
        source="NOAA NWS ERSST.V3B Nino 1+2, public domain (via statsmodels)"),
    "sunspots": BuiltinDataset(
        "Yearly sunspot numbers, 1700-2008 (309 rows, real, NOAA NGDC)",
        target="sunspots", time_column="year", season=11, file="sunspots.csv",
        source="NOAA NGDC, public domain (via statsmodels)"),
    "co2": BuiltinDataset(
        "Weekly Mauna Loa atmospheric CO2, 1958-2001 (2284 rows with 59 gaps, real)",
        target="co2", time_column="date", season=52, file="co2.csv", fill="interpolate",
        source="Scripps/CDIAC Mauna Loa, public domain (via statsmodels)"),
    "sine": BuiltinDataset(
        "Synthetic noisy sine, period 24, 1000 rows", target="value", season=24),
    "sine2": BuiltinDataset(
        "Synthetic two targets (sine and cosine) plus a feature (a ramp), 600 rows",
        target="sin,cos", season=24),
}


def load_builtin(name: str, targets: list[str] | None = None,
                 features: list[str] | None = None, fill: str | None = None) -> Series:
    """Load a built-in dataset by name (see `BUILTIN_DATASETS`)."""
    if name not in BUILTIN_DATASETS:
        raise UserError(f"unknown dataset {name!r}; available: {', '.join(BUILTIN_DATASETS)}; "
                        f"panels: {', '.join(BUILTIN_PANELS)}")
    info = BUILTIN_DATASETS[name]
    targets = targets or info.target.split(",")
    if info.file is None:
        columns, rows = _synthetic(name)
        return _select(f"builtin:{name}", columns, rows, targets, features or [], None,
                       fill or info.fill, first_line=2)
    text = resources.files("lstm_tf").joinpath("datasets", info.file).read_text("utf-8")
    return parse_csv(text, f"builtin:{name}", targets, features, info.time_column,
                     fill or info.fill)


def synthetic_sine(rows: int = 1000, period: float = 24.0, noise: float = 0.1,
                   seed: int = 0) -> np.ndarray:
    """A noisy sine: `sin(2*pi*t/period) + noise * N(0, 1)`."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    return np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(rows)


def _synthetic(name: str) -> tuple[list[str], list[list[str]]]:
    if name == "sine":
        values = synthetic_sine()[:, None]
        columns = ["value"]
    else:  # sine2
        rows = 600
        t = np.arange(rows)
        rng = np.random.default_rng(1)
        values = np.stack([
            np.sin(2 * np.pi * t / 24) + 0.05 * rng.standard_normal(rows),
            np.cos(2 * np.pi * t / 24) + 0.05 * rng.standard_normal(rows),
            t / rows,
        ], axis=1)
        columns = ["sin", "cos", "ramp"]
    return columns, [[repr(float(v)) for v in row] for row in values]


# -------------------------------------------------------------------- synthetic

_FREQUENCIES = {"month": "M", "day": "D", "hour": "h"}


def synthetic_panel(series: int = 50, length: int = 240, seed: int = 0,
                    periods: tuple[int, ...] = (6, 12), min_length: int | None = None,
                    frequency: str | None = "month", start: str = "2000-01-01",
                    decimals: int | None = 3) -> Panel:
    """A seeded panel of `series` series that differ the way real panels do.

    Series i, at step t:

        trend_t = level * (1 + slope * t)
        y_t = trend_t * (1 + a * sin(2 pi t / p + phase))      (multiplicative season)
            or trend_t + a * level * sin(2 pi t / p + phase)   (additive season)
        y_t += sigma * level * N(0, 1)

    with level log-uniform in [1, 1000], slope ~ N(0, 0.002) per step, season period
    p drawn from `periods`, amplitude a in [0.05, 0.3], phase uniform, noise sigma in
    [0.01, 0.05] of the level, and multiplicative or additive seasonality by a coin
    flip: every draw comes from `seed` alone.

    Args:
        series, length: the panel's size (rows = series * length without `min_length`).
        periods: the seasonal periods drawn from (the default 6 and 12 both divide 12, so
            a seasonal naive of season 12 fits every series).
        min_length: if given, each series keeps a random run of its steps of length in
            [min_length, length], so the series differ in length and start time.
        frequency: "month" (month starts), "day", "hour" from `start`, or None for
            plain step numbers 0, 1, 2, ...
        decimals: values rounded to this many decimals (so a CSV round-trips them
            exactly), or None.
    """
    if series < 1 or length < 2:
        raise UserError(f"a synthetic panel needs at least 1 series of 2 steps, got "
                        f"{series} x {length}")
    if min_length is not None and not 1 <= min_length <= length:
        raise UserError(f"min_length must be in [1, {length}], got {min_length}")
    rng = np.random.default_rng(seed)
    level = 10 ** rng.uniform(0, 3, series)[:, None]
    slope = rng.normal(0, 0.002, series)[:, None]
    period = rng.choice(np.asarray(periods, dtype=np.float64), series)[:, None]
    amplitude = rng.uniform(0.05, 0.3, series)[:, None]
    phase = rng.uniform(0, 2 * np.pi, series)[:, None]
    sigma = rng.uniform(0.01, 0.05, series)[:, None]
    multiplicative = rng.random(series)[:, None] < 0.5
    noise = rng.standard_normal((series, length))
    t = np.arange(length)[None, :]
    trend = level * (1 + slope * t)
    wave = amplitude * np.sin(2 * np.pi * t / period + phase)
    values = np.where(multiplicative, trend * (1 + wave), trend + wave * level)
    values = values + sigma * level * noise
    if decimals is not None:
        values = np.round(values, decimals)

    if frequency is None:
        steps = np.arange(length, dtype=np.float64)
    elif frequency in _FREQUENCIES:
        unit = _FREQUENCIES[frequency]
        steps = (np.datetime64(start, unit) + np.arange(length)).astype("datetime64[s]")
    else:
        raise UserError(f"unknown frequency {frequency!r}; choose month, day, hour or None")

    if min_length is None:
        first = np.zeros(series, dtype=np.int64)
        lengths = np.full(series, length, dtype=np.int64)
    else:
        lengths = rng.integers(min_length, length + 1, series)
        first = rng.integers(0, length - lengths + 1)
    keep = (t >= first[:, None]) & (t < (first + lengths)[:, None])
    offsets = np.zeros(series + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    width = len(str(series - 1))
    names = [f"s{i:0{width}d}" for i in range(series)]
    return Panel(f"synthetic:{series}x{length}:seed{seed}", names, offsets, ["value"], [],
                 values[keep][:, None], np.broadcast_to(steps, (series, length))[keep],
                 "time", "series")


# --------------------------------------------------------------------- built-in


@dataclass(frozen=True)
class BuiltinPanel:
    description: str
    series: int  # how many series it holds
    season: int | None  # for the seasonal naive baseline
    source: str
    file: str | None = None  # a wide CSV in lstm_tf/datasets; None: made by `synthetic_panel`
    time_column: str | None = None
    options: dict = field(default_factory=dict, hash=False)  # synthetic_panel's arguments


BUILTIN_PANELS: dict[str, BuiltinPanel] = {
    "us-employment": BuiltinPanel(
        "U.S. employment by BLS supersector and the nonfarm total (thousands), monthly "
        "2006-2015, seasonally adjusted, 120 months each (real, BLS)",
        series=22, season=12, file="us-employment.csv", time_column="month",
        source="U.S. Bureau of Labor Statistics, Current Employment Statistics; public "
        "domain (via vega_datasets)"),
    "synthetic": BuiltinPanel(
        "Synthetic, 240 monthly steps each: different levels, trends, seasonal periods "
        "(6, 12) and amplitudes, additive or multiplicative seasons (seed 0)",
        series=50, season=12, source="generated (synthetic_panel)",
        options={"series": 50, "length": 240, "seed": 0}),
}


def load_builtin_panel(name: str, columns: list[str] | None = None,
                       fill: str | None = None) -> Panel:
    """A built-in panel by name (see `BUILTIN_PANELS`); `columns` picks some of a wide
    panel's series."""
    if name not in BUILTIN_PANELS:
        raise UserError(f"unknown panel {name!r}; available: {', '.join(BUILTIN_PANELS)}")
    info = BUILTIN_PANELS[name]
    if info.file is None:
        if columns not in (None, ["value"]):
            raise UserError(f"the {name} panel has one target, value; got {', '.join(columns)}")
        return synthetic_panel(**info.options)
    with resources.as_file(resources.files("lstm_tf").joinpath("datasets", info.file)) as path:
        return read_wide_as_panel(path, columns, info.time_column, fill, f"builtin:{name}")


# ------------------------------------------------------------ from a DataConfig


def is_panel(config) -> bool:
    """Whether a run's `DataConfig` names a panel: a built-in panel, a CSV with a series
    column, or a CSV whose columns are the series."""
    return (config.dataset in BUILTIN_PANELS or config.series_column is not None
            or bool(config.columns_as_series))


def load_panel(config) -> Panel:
    """The panel a run's `DataConfig` names (see `is_panel`)."""
    if config.series_column is not None and config.columns_as_series:
        raise UserError("give --series-column (a long CSV) or --columns-as-series (a wide "
                        "CSV), not both")
    if config.path is None:
        if config.dataset not in BUILTIN_PANELS:
            raise UserError(f"{config.dataset!r} is not a built-in panel; panels: "
                            f"{', '.join(BUILTIN_PANELS)}, or --data FILE with "
                            "--series-column or --columns-as-series")
        if config.series_column is not None:
            raise UserError("--series-column applies to a --data file, not to the built-in "
                            f"panel {config.dataset}")
        if config.features or getattr(config, "known", None):
            raise UserError(f"the built-in panel {config.dataset} has no feature columns")
        return load_builtin_panel(config.dataset, config.series_columns or config.targets,
                                  config.fill)
    if config.series_column is not None:
        known = list(getattr(config, "known", []))
        return split_known(read_long_csv(config.path, config.series_column, config.targets,
                                         read_columns(config.features, known),
                                         config.time_column, config.fill),
                           list(config.features), known)
    if getattr(config, "known", None):
        raise UserError("--known needs a long CSV (--series-column): a known column belongs "
                        "to each series")
    if config.columns_as_series:
        if config.features:
            raise UserError("--features cannot be combined with --columns-as-series (every "
                            "column is a series); use a long CSV with --series-column")
        return read_wide_as_panel(config.path, config.series_columns or config.targets,
                                  config.time_column, config.fill)
    raise UserError(f"{config.path} is not a panel: give --series-column ID (a long CSV) or "
                    "--columns-as-series (a wide CSV)")
