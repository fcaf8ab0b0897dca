"""Future-known covariates: values the model sees over the forecast horizon.

Two kinds, known in advance for every future step:

- calendar features derived from the time column (`--calendar month,dayofweek,...`),
  each encoded as the sine and cosine of its position in its cycle, so that December
  sits next to January:

      phase f in [0, 1)      month: (month - 1) / 12       dayofweek: weekday / 7 (Monday 0)
                             dayofmonth: (day - 1) / days in that month
                             dayofyear: (day of year - 1) / days in that year
                             hour: hour / 24               minute: minute / 60
      features  sin(2 pi f), cos(2 pi f)                   (already in [-1, 1])

- user columns known in advance (`--known price,promo`): a price, a promotion, a
  holiday flag. They are z-scored with their mean and std over the training rows
  (of every series of a panel: one table for all, so a series never seen in training
  is served too); the exported graph does the same inside.

Per row of the data, the covariates are one array `[rows, K]`: the calendar features
first (`<name>_sin`, `<name>_cos`), then the known columns; a window forecasting from row t
sees rows t .. t + horizon - 1 of it (`future_cut`). At predict time the future steps'
calendar features come from the time column continued, the known columns' values from
the CSV's rows after the last target value (`split_future`).

NumPy only: the ONNX `predict` path uses it without TensorFlow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from .timeaxis import continue_time, parse_time

CALENDAR = ("month", "dayofweek", "dayofmonth", "dayofyear", "hour", "minute")


def calendar_names(calendar: list[str]) -> list[str]:
    """The feature names of calendar cycles: `<name>_sin`, `<name>_cos` for each."""
    return [f"{name}_{part}" for name in calendar for part in ("sin", "cos")]


def check_calendar(calendar: list[str]) -> None:
    unknown = [name for name in calendar if name not in CALENDAR]
    if unknown:
        raise UserError(f"--calendar: unknown feature(s) {', '.join(unknown)}; choose from "
                        f"{', '.join(CALENDAR)}")
    repeated = sorted({name for name in calendar if calendar.count(name) > 1})
    if repeated:
        raise UserError(f"--calendar: {', '.join(repeated)} given twice")


def phases(times: np.ndarray, name: str) -> np.ndarray:
    """The position in its cycle, in [0, 1), of each datetime64 time (see the docstring)."""
    stamps = np.asarray(times).astype("datetime64[s]")
    days = stamps.astype("datetime64[D]")
    months = stamps.astype("datetime64[M]")
    if name == "month":
        return (months.astype(np.int64) % 12) / 12.0
    if name == "dayofweek":  # 1970-01-01 was a Thursday (3 with Monday 0)
        return ((days.astype(np.int64) + 3) % 7) / 7.0
    if name == "dayofmonth":
        first = months.astype("datetime64[D]")
        length = (months + 1).astype("datetime64[D]") - first
        return (days - first).astype(np.int64) / length.astype(np.int64)
    if name == "dayofyear":
        years = stamps.astype("datetime64[Y]")
        first = years.astype("datetime64[D]")
        length = (years + 1).astype("datetime64[D]") - first
        return (days - first).astype(np.int64) / length.astype(np.int64)
    seconds = (stamps - days.astype("datetime64[s]")).astype(np.int64)  # into the day
    if name == "hour":
        return (seconds // 3600) / 24.0
    if name == "minute":
        return ((seconds // 60) % 60) / 60.0
    raise UserError(f"unknown calendar feature {name!r}; choose from {', '.join(CALENDAR)}")


def calendar_features(times: np.ndarray, calendar: list[str]) -> np.ndarray:
    """float64 [len(times), 2 * len(calendar)]: sin and cos of each cycle's phase."""
    columns = []
    for name in calendar:
        angle = 2 * np.pi * phases(times, name)
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1) if columns else np.empty((len(times), 0))


def as_datetimes(time, source: str, column: str | None) -> np.ndarray:
    """A time column (text per row, or a parsed array) as datetime64[s]; calendar
    features need dates, not plain numbers."""
    if time is None:
        raise UserError(f"--calendar needs a time column of dates; {source} has none "
                        "(give --time-column)")
    array = np.asarray(time)
    if array.dtype.kind == "M":
        return array.astype("datetime64[s]")
    numbers = UserError(f"--calendar needs a time column of dates; {source}'s time column "
                        f"{column!r} holds plain numbers")
    if array.dtype.kind in "fiu" or (len(array) and isinstance(parse_time(str(array[0])), float)):
        raise numbers
    return np.array([np.datetime64(str(text), "s") for text in array],
                    dtype="datetime64[s]")


@dataclass
class Covariates:
    """A run's future-known covariates and their scaling (config.json `covariates`).

    `names` [K]: the calendar features then the known columns; `mean`, `std` [K]: the
    z-scores the network sees them in (0 and 1 for calendar features).
    """

    calendar: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return calendar_names(self.calendar) + list(self.known)

    @property
    def count(self) -> int:
        return 2 * len(self.calendar) + len(self.known)

    def raw(self, time, known_values: np.ndarray | None, source: str = "the data",
            time_column: str | None = None) -> np.ndarray:
        """The raw covariates of some rows [rows, K]: calendar features of `time`, then
        the known columns' values [rows, len(known)]."""
        parts = []
        if self.calendar:
            parts.append(calendar_features(as_datetimes(time, source, time_column),
                                           self.calendar))
        if self.known:
            parts.append(np.asarray(known_values, np.float64))
        return np.concatenate(parts, axis=1)

    def fit(self, train_rows: np.ndarray) -> "Covariates":
        """Fit the known columns' z-scores on the training rows' raw covariates."""
        calendar = 2 * len(self.calendar)
        mean = np.zeros(self.count)
        std = np.ones(self.count)
        if self.known:
            rows = train_rows[:, calendar:]
            mean[calendar:] = rows.mean(axis=0)
            spread = rows.std(axis=0)
            # A column constant in training (a promotion never run) keeps its units.
            std[calendar:] = np.where(spread > 1e-12 * np.maximum(1.0, np.abs(mean[calendar:])),
                                      spread, 1.0)
        self.mean, self.std = mean.tolist(), std.tolist()
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        return (np.asarray(raw, np.float64) - np.asarray(self.mean)) / np.asarray(self.std)

    def to_dict(self) -> dict:
        return {"calendar": list(self.calendar), "known": list(self.known), "names": self.names,
                "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, saved: dict | None) -> "Covariates | None":
        if not saved:
            return None
        return cls(list(saved.get("calendar", [])), list(saved.get("known", [])),
                   list(saved["mean"]), list(saved["std"]))


def future_cut(covariates: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    """The covariates over each window's forecast steps: [n, horizon, K]."""
    return covariates[np.asarray(starts, np.int64)[:, None] + np.arange(horizon)]


def split_future(values: np.ndarray, n_targets: int) -> int:
    """Where the future rows start: after the last row with a target value.

    The convention of `lstm-tf predict` for a model with known covariates: the CSV's
    history is followed by the future rows, whose target (and feature) cells are empty
    and whose known columns hold the values over the forecast horizon.
    """
    filled = np.flatnonzero(~np.isnan(values[:, :n_targets]).all(axis=1))  # has a target
    return int(filled[-1]) + 1 if len(filled) else 0


def future_known(known_rows: np.ndarray, known: list[str], horizon: int, source: str) -> np.ndarray:
    """The known columns' values over the horizon [horizon, len(known)] from the future
    rows (`split_future`); a one-line error naming the first column that lacks them."""
    for j, name in enumerate(known):
        column = known_rows[:horizon, j] if len(known_rows) else np.empty(0)
        count = int(np.sum(~np.isnan(column)))
        if count < horizon:
            raise UserError(
                f"{source}: known column {name!r} has {count} of the {horizon} future "
                f"value(s) the model needs: add {horizon} row(s) after the last target value, "
                f"with the target empty and {name!r} filled")
    return known_rows[:horizon].astype(np.float64)


def read_columns(features: list[str], known: list[str]) -> list[str]:
    """The feature columns to read for a run with known columns: its features, then each
    known column that is not also a feature (a column may be both: its past values in
    the window, its future values over the horizon)."""
    return list(features) + [name for name in known if name not in features]


def split_known(data, features: list[str], known: list[str]):
    """A Series or Panel read with `read_columns(features, known)` as its features, with
    the known columns' values in `known` [rows, len(known)] and only `features` left as
    window inputs."""
    if not known:
        return data
    keep = len(data.targets) + len(features)
    return dataclasses.replace(
        data, features=list(features), values=np.ascontiguousarray(data.values[:, :keep]),
        known=np.ascontiguousarray(data.values[:, [data.columns.index(name) for name in known]]))


def future_covariates(spec: dict, history_time, future_known_rows: np.ndarray | None,
                      horizon: int, source: str, time_column: str | None) -> np.ndarray:
    """The raw covariates over the `horizon` steps after a history [horizon, K]: calendar
    features of the continued time column (`timeaxis.continue_time`), then the known
    columns' values from the future rows. `spec`: the model's `covariates` metadata."""
    parts = []
    if spec["calendar"]:
        if history_time is None:
            raise UserError(f"{source}: the model computes calendar features from the time "
                            f"column {time_column!r}, which the file lacks")
        times = continue_time(as_datetimes(history_time, source, time_column), horizon)
        parts.append(calendar_features(times, spec["calendar"]))
    if spec["known"]:
        rows = (future_known_rows if future_known_rows is not None
                else np.empty((0, len(spec["known"]))))
        parts.append(future_known(rows, spec["known"], horizon, source))
    return np.concatenate(parts, axis=1)
