"""The chronological split of a series into training, validation and test rows, and
the default window that leaves the training part windows to learn from.

A split owns rows `[start, end)`. A window belongs to a split when all its *targets*
lie inside the split; its inputs may look back into earlier rows, which are past
observations, never future ones.

The rules, one set for a single series and for every series of a panel (`part_rows`):
- test: the last `holdout` rows (`--test-size`, or a backtest's block), else
  `test_fraction` of the rows; validation: the `val_size` rows before it, else
  `val_fraction` of the rows (of those before a fixed test part). A part sized by a
  fraction holds at least `horizon` rows (one forecast); a size given below the
  horizon is refused.
- training: the rest. It must hold a window and its horizon (in a panel, a series too
  short for that is still forecast from a window before its test part), or, where no
  series holds one once a validation part of the fractions' size is taken, there is none
  (`panel_parts`; `split_rows` is its panel of one); a default window (`default_window`)
  shrinks with the training part (a third of it).
  A single series too short for a window of `MIN_WINDOW` rows with `MIN_TRAIN_WINDOWS`
  training windows and its validation part trains without one (`NO_VALIDATION`) if its
  rows before the test part hold `in_sample_windows` and their horizon (a seasonal
  one's window is its season where one such window fits); a shorter one is refused.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .. import seasonal_arima
from ..errors import UserError

MIN_TRAIN_WINDOWS = 4  # a default window leaves at least this many training windows
MIN_WINDOW = 2  # the shortest default window (one row leaves the AR anchors no input)
# A panel's default window keeps this share of the series that can train at all
# (`panel_window`; a synthetic yearly panel of 181 series, h = 6: window 2, where every
# series trains, 0.961 mean MASE on the 169 that window 5 keeps, against 0.880).
PANEL_WINDOW_SHARE = 0.9
# A panel with a season of up to this many rows (quarters) windows three seasons and a step
# where its typical series keeps MIN_TRAIN_WINDOWS training windows, not a third of its room
# (its windows come from every series). Measured: docs/accuracy.md, "Fourteenth session".
PANEL_FULL_SEASONS_MAX = 4
SEASON_WINDOW_MAX = 12  # one seasonal series' window holds its season (docs/accuracy.md)
SARIMA_WINDOW_SEASONS = 4  # ... or this many, for its sarima partner (`_window_for`)


def part_rows(lengths, horizon: int, val_fraction: float, test_fraction: float,
              holdout: int | None = None, val_size: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the validation and test parts of series of `lengths` rows (int64 arrays
    like `lengths`): see the module's docstring."""
    for option, size in (("--test-size", holdout), ("--val-size", val_size)):
        # a fixed part that holds no forecast (but a short series' NO_VALIDATION part)
        if size is not None and size < horizon and (option, size) != ("--val-size", 0):
            raise UserError(f"{option} {size} is shorter than the horizon ({horizon}): the part "
                            "would hold no forecast; give at least the horizon")
    lengths = np.asarray(lengths, np.int64)
    test = (np.full_like(lengths, holdout) if holdout is not None
            else np.maximum(np.round(lengths * test_fraction).astype(np.int64), horizon))
    before = lengths - test if holdout is not None else lengths
    val = (np.full_like(lengths, val_size) if val_size is not None
           else np.maximum(np.round(before * val_fraction).astype(np.int64), horizon))
    return val, test


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1
            and val_fraction + test_fraction < 1):
        raise UserError(f"split fractions val={val_fraction} and test={test_fraction} must be "
                        "in (0, 1) and leave room for training data")


def _window_for(rows: int, season: int | None, horizon: int, val_fraction: float,
                test_fraction: float, holdout: int | None, val_size: int | None,
                panel: bool = False, seasonal: bool = False) -> int:
    """`default_window` before its refusal (possibly below `MIN_WINDOW`); `panel`: the
    window of a panel's typical series (`panel_window`); `seasonal`: one series' rows before
    its test part have a season (`anchors.is_seasonal`)."""
    wanted = 3 * season + 1 if season else 24
    val, test = (int(n[0]) for n in part_rows([rows], horizon, val_fraction, test_fraction,
                                               holdout, val_size))
    room = rows - val - test - horizon  # the longest window the training part holds
    # A third of it, so that the training windows number about twice the window: a short
    # series needs windows more than a season of inputs (six 72-month series with h = 18:
    # geometric-mean MASE 1.88 with window 6, 2.25 with 9, 2.91 with 13).
    third = room // 3
    if val_size == NO_VALIDATION:
        # One series: three quarters, leaving `in_sample_windows` to choose the anchor on (no
        # network is trained), room for the order of its `anchors.HISTORY_ARIMAS` (73 yearly
        # series 1.29 -> 1.06, docs/accuracy.md); a panel, whose anchor has none: half
        # (fertility's last 20 years 1.293 with half, 1.556 with three quarters).
        share = 2 if panel else 3
        window = min(wanted, max(room * share // 4, MIN_WINDOW),
                     room - (in_sample_windows(horizon) - 1))
        # A seasonal window holds its season where the room allows (seasonal candidates need it).
        return season if season and window < season <= room else window
    longest = room - (MIN_TRAIN_WINDOWS - 1)
    if panel and season and season <= PANEL_FULL_SEASONS_MAX and wanted <= longest:
        return wanted
    window = min(wanted, max(third, min(MIN_WINDOW, longest)))
    # (a seasonal series' window holds its season: its seasonal anchors read a season back)
    fits = seasonal and not panel and season and season <= min(longest, SEASON_WINDOW_MAX)
    if fits and season in seasonal_arima.SEASONS and val - horizon + 1 < horizon:
        # ... and, with fewer validation windows than the horizon (its anchor's partner is
        # then sarima, whose predictor reads the window only), SARIMA_WINDOW_SEASONS seasons
        # where more than two fit (docs/accuracy.md, "Sixteenth session": 120 months
        # 0.415 -> 0.358 with window 48, not 22; 84 months 0.663 -> 0.647 with 27, not 12)
        longer = min(SARIMA_WINDOW_SEASONS * season, longest)
        if longer > 2 * season:
            return max(window, longer)
    return max(window, season) if fits else window


# A single series too short for a validation part of `horizon` rows after its training
# windows, yet holding `in_sample_windows(horizon)` windows and their horizon before its
# test part, trains with no validation part (`val_size` 0): its anchor is chosen among the
# fixed candidates on its training windows and its network is not trained.
NO_VALIDATION = 0
# The anchor is chosen on at least this many forecast steps: 3 windows of horizon 1, one
# of horizon 3 or more, so that 14 yearly rows with h = 6 and 18 quarterly with h = 8 train
# (docs/accuracy.md, "Short single series": 8 yearly series of 14 rows 0.785, naive 2.387).
IN_SAMPLE_STEPS = 3


def in_sample_windows(horizon: int) -> int:
    """The training windows a series without a validation part needs: IN_SAMPLE_STEPS
    forecast steps to choose its anchor on."""
    return -(-IN_SAMPLE_STEPS // horizon)


def too_short_to_validate(rows: int, season: int | None, horizon: int, val_fraction: float,
                          test_fraction: float, holdout: int | None = None,
                          seasonal: bool = False) -> bool:
    """Whether a single series' default split is `NO_VALIDATION`'s: no default window
    with a validation part, one without it; or, for a `seasonal` series (a season up to
    SEASON_WINDOW_MAX), a window with a validation part shorter than its season where one
    without it holds the season (docs/accuracy.md, "Sixteenth session": 60 months, h = 18,
    window 2 with a validation part, 18 without; 20 seasonal series 1.217 -> 0.618)."""
    validated = _window_for(rows, season, horizon, val_fraction, test_fraction, holdout,
                            None, seasonal=seasonal)
    unvalidated = _window_for(rows, season, horizon, val_fraction, test_fraction, holdout,
                              NO_VALIDATION)
    return validated < MIN_WINDOW <= unvalidated or bool(
        seasonal and season and 1 < season <= SEASON_WINDOW_MAX
        and validated < season <= unvalidated)


def default_window(rows: int, season: int | None, horizon: int, val_fraction: float,
                   test_fraction: float, holdout: int | None = None,
                   val_size: int | None = None, seasonal: bool = False) -> int:
    """Three seasons and a step (room for every seasonal anchor), or 24 without a season;
    at most a third of the training rows after the horizon, so that a short series keeps
    windows to learn from (a `seasonal` one at least its season of up to SEASON_WINDOW_MAX
    rows where as many remain); at least `MIN_WINDOW` rows, with `MIN_TRAIN_WINDOWS`
    training windows. A series too short for that is refused, with the true minimum."""
    _check_fractions(val_fraction, test_fraction)
    window = _window_for(rows, season, horizon, val_fraction, test_fraction, holdout,
                         val_size, seasonal=seasonal)
    shortest = NO_VALIDATION if val_size is None else val_size
    if window < MIN_WINDOW and val_size is None:  # trained without one (too_short_to_validate)
        window = _window_for(rows, season, horizon, val_fraction, test_fraction, holdout,
                             NO_VALIDATION)
    if window < MIN_WINDOW:
        need = next(n for n in itertools.count(rows + 1)  # the window grows with the rows
                    if _window_for(n, season, horizon, val_fraction, test_fraction, holdout,
                                   shortest) >= MIN_WINDOW)
        what = MIN_TRAIN_WINDOWS if val_size else in_sample_windows(horizon)
        raise UserError(f"too few rows ({rows}) for horizon {horizon} and "
                        f"{_describe(val_fraction, test_fraction, holdout, val_size)}; need at "
                        f"least {need} rows (a window of {MIN_WINDOW} rows and {what} training "
                        f"window{'s' if what > 1 else ''})")
    return window


def _describe(val_fraction: float, test_fraction: float, holdout: int | None,
              val_size: int | None) -> str:
    if holdout is None and val_size is None:
        return f"the train/validation/test split (val {val_fraction}, test {test_fraction})"
    test = f"a test part of {holdout} rows" if holdout is not None else f"test {test_fraction}"
    val = f"{val_size} rows" if val_size is not None else f"{val_fraction}"
    return f"{test} (validation {val})"


# -------------------------------------------------------------------------- split


@dataclass(frozen=True)
class Split:
    """Row ranges of the chronological train/validation/test split."""

    train_end: int
    val_end: int
    rows: int

    def bounds(self, part: str) -> tuple[int, int]:
        return {"train": (0, self.train_end), "val": (self.train_end, self.val_end),
                "test": (self.val_end, self.rows)}[part]


def split_rows(rows: int, val_fraction: float, test_fraction: float, window: int,
               horizon: int, holdout: int | None = None, val_size: int | None = None) -> Split:
    """Split `rows` chronologically: `panel_parts` for a panel of one, refused where it
    keeps no training window. The training part holds `window + horizon` rows for its
    first window, the test part `horizon` rows, the validation part `horizon` rows or none
    (a series too short for one, unless `val_size` asks for it). A refusal names the true
    minimum of rows."""
    _check_fractions(val_fraction, test_fraction)
    val, test, kept = (int(n[0]) for n in panel_parts([rows], window, horizon, val_fraction,
                                                       test_fraction, holdout, val_size))
    # (one series is never kept forecast only, and loses no validation part it asked for)
    if not (kept and rows - val - test >= window + horizon
            and (val > 0 or val_size in (None, NO_VALIDATION))):
        need = minimum_rows(window, horizon, val_fraction, test_fraction, holdout,
                            NO_VALIDATION if val_size is None else val_size)
        hint = f"need at least {need} rows" if need else "use more rows or smaller fractions"
        raise UserError(f"too few rows ({rows}) for window {window}, horizon {horizon} and "
                        f"{_describe(val_fraction, test_fraction, holdout, val_size)}; {hint}")
    return Split(rows - test - val, rows - test, rows)


def minimum_rows(window: int, horizon: int, val_fraction: float, test_fraction: float,
                 holdout: int | None = None, val_size: int | None = None) -> int | None:
    """The fewest rows a series needs for `split_rows` with this window (None: none
    below a bound, the fractions leave too little)."""
    smallest = window + 2 * horizon  # a training window and a test part (no validation)
    for rows in range(smallest, 100 * smallest + 1000):
        val, test = part_rows([rows], horizon, val_fraction, test_fraction, holdout, val_size)
        if rows - int(val[0]) - int(test[0]) >= window + horizon:
            return rows
    return None


def panel_parts(lengths, window: int, horizon: int, val_fraction: float,
                test_fraction: float, holdout: int | None = None,
                val_size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each series' (validation rows, test rows, kept) in a panel (`part_rows`).

    Three kinds of kept series, as long as one series holds a validation part (the
    panel's validation is held by the longer series):
    - validated: its training part holds a window and its horizon, and its validation
      and test parts the horizon each;
    - training: too short for a validation part of its own, but its rows before the test
      part hold a window and its horizon: they are all training rows;
    - forecast only: its rows before the test part hold a window, not its horizon too:
      it gives the global model no training window, yet the model forecasts its test
      part (and `lstm-tf predict` its future) from its last window, so it is evaluated
      like the others rather than left out (`forecast_only`).
    A series whose rows before the test part hold no window is not kept. Where no series
    holds a validation part (and `val_size` asks for none), every series whose rows before
    the test part hold a window and its horizon trains (`NO_VALIDATION`)."""
    lengths = np.asarray(lengths, np.int64)
    val, test = part_rows(lengths, horizon, val_fraction, test_fraction, holdout, val_size)
    full = lengths - val - test >= window + horizon
    if not full.any() and val_size is None:  # none holds one: trained without (NO_VALIDATION)
        full = lengths - test >= window + horizon
        if not full.any():
            return val, test, full
    kept = full | (lengths - test >= window)
    return np.where(lengths - val - test >= window + horizon, val, 0), test, kept


def forecast_only(lengths, val: np.ndarray, test: np.ndarray, window: int,
                  horizon: int) -> np.ndarray:
    """Which series of `panel_parts`' parts hold no training window (kept, they are
    forecast, not trained on)."""
    return np.asarray(lengths, np.int64) - val - test < window + horizon


def panel_window(lengths, season: int | None, horizon: int, val_fraction: float,
                 test_fraction: float, holdout: int | None = None,
                 val_size: int | None = None,
                 share: float = PANEL_WINDOW_SHARE) -> int:
    """A panel's default window: `default_window` of its median series, shortened
    until `share` of the series that can hold a training window at all (one of
    `MIN_WINDOW` rows before their test part) hold one (`panel_parts`), so that short
    series train the global model too."""
    lengths = np.asarray(lengths, np.int64)
    typical = _window_for(int(np.median(lengths)), season, horizon, val_fraction,
                          test_fraction, holdout, val_size, panel=True)
    if typical < MIN_WINDOW and val_size is None:  # as a single series': without validation
        typical = _window_for(int(np.median(lengths)), season, horizon, val_fraction,
                              test_fraction, holdout, NO_VALIDATION, panel=True)

    def kept(window: int) -> int:  # the series that train (forecast-only ones do not)
        val, test, keep = panel_parts(lengths, window, horizon, val_fraction, test_fraction,
                                      holdout, val_size)
        return int((keep & ~forecast_only(lengths, val, test, window, horizon)).sum())

    able = kept(MIN_WINDOW)
    window = max(typical, MIN_WINDOW)
    while window > MIN_WINDOW and kept(window) < share * able:
        window -= 1
    return window
