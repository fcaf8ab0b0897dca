"""The two shapes data takes: one series (`Series`) and many stacked (`Panel`).

A panel keeps every series' rows contiguous and in time order inside ONE float64
array, so windows are cut from it by index exactly as from a single series (no
window is materialised, no per-series Python loop in the input pipeline):

    values[offsets[i]:offsets[i + 1]]  are series i's rows (names[i]), oldest first

A window never crosses from one series into the next: window starts are found per
series (`prepare`), then shifted by the series' offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Series:
    """A loaded time series: target columns first, then extra feature columns."""

    source: str
    targets: list[str]
    features: list[str]
    values: np.ndarray  # float64 [rows, len(targets) + len(features)]
    time: list[str] | None = None  # the time column's text, one per row, if any
    time_column: str | None = None
    # Future-known columns (`--known`), raw [rows, len(known)]: not window inputs.
    known: np.ndarray | None = None
    # A time cell as the file writes it ("2006-08", "1990Q1"): forecasts continue in its
    # style (`timeaxis.format_time`).
    time_format: str | None = None

    @property
    def columns(self) -> list[str]:
        return self.targets + self.features


@dataclass
class Panel:
    """Series stacked along the rows: targets first, then feature columns."""

    source: str
    names: list[str]  # series ids, in row order
    offsets: np.ndarray  # int64 [len(names) + 1]; series i is rows offsets[i]:offsets[i + 1]
    targets: list[str]
    features: list[str]
    values: np.ndarray  # float64 [rows, len(targets) + len(features)]
    # The time column per row, parsed: datetime64[s] or float64 (plain numbers); None
    # when the data has no time column (row order is time order).
    time: np.ndarray | None = None
    time_column: str | None = None
    series_column: str | None = None  # None when the columns were the series (wide CSV)
    # Future-known columns (`--known`), raw [rows, len(known)]: not window inputs.
    known: np.ndarray | None = None
    time_format: str | None = None  # a time cell as written (`Series.time_format`)

    @property
    def columns(self) -> list[str]:
        return self.targets + self.features

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def rows_of(self, index: int) -> slice:
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def series_index(self) -> np.ndarray:
        """int64 [rows]: the index (into `names`) of the series each row belongs to."""
        return np.repeat(np.arange(len(self.names), dtype=np.int64), self.lengths)


def as_panel(series: Series, name: str | None = None) -> Panel:
    """One series as a panel of one (named `name`, default its first target): the same
    values, its time column parsed as a panel's (float64 numbers or datetime64[s] dates;
    the CSV reader has checked it)."""
    time = None
    if series.time is not None:
        try:
            time = np.array(series.time, dtype=np.float64)
        except ValueError:
            time = np.array(series.time, dtype="datetime64[s]")
    return Panel(series.source, [name or series.targets[0]],
                 np.array([0, len(series.values)], dtype=np.int64), list(series.targets),
                 list(series.features), series.values, time, series.time_column, None,
                 series.known, series.time_format)
