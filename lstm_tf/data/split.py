"""The chronological split of a series into training, validation and test rows, and
the default window that leaves the training part windows to learn from.

A split owns rows `[start, end)`. A window belongs to a split when all its *targets*
lie inside the split; its inputs may look back into earlier rows, which are past
observations, never future ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UserError


def default_window(rows: int, season: int | None, horizon: int, val_fraction: float,
                   test_fraction: float, holdout: int | None = None) -> int:
    """Three seasons and a step (room for every seasonal anchor), or 24 without a
    season; at most a third of the training rows, so that a short series keeps windows
    to learn from."""
    wanted = 3 * season + 1 if season else 24
    test = holdout if holdout is not None else int(round(rows * test_fraction))
    train = (rows - test) * (1 - val_fraction)
    return max(1, min(wanted, int((train - horizon) // 3)))


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
               horizon: int, holdout: int | None = None) -> Split:
    """Split `rows` chronologically; every part must hold at least one window.

    The training part needs `window + horizon` rows for its first window; validation
    and test need `horizon` rows each (their inputs look back into earlier rows).
    `holdout` fixes the test part's rows (a backtest block) instead of `test_fraction`;
    validation then takes `val_fraction` of the rows before it.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1
            and val_fraction + test_fraction < 1):
        raise UserError(f"split fractions val={val_fraction} and test={test_fraction} must be "
                        "in (0, 1) and leave room for training data")
    if holdout is not None:
        val_end = rows - holdout
        train_end = val_end - int(round(val_end * val_fraction))
        if train_end < window + horizon or val_end - train_end < horizon:
            raise UserError(f"too few rows ({rows}) for a held-out block of {holdout} rows, "
                            f"window {window} and horizon {horizon}; need at least "
                            f"{holdout + int(math.ceil((window + 2 * horizon) / (1 - val_fraction)))}"
                            " rows, or fewer backtest windows")
        return Split(train_end, val_end, rows)
    val_end = rows - int(round(rows * test_fraction))
    train_end = val_end - int(round(rows * val_fraction))
    split = Split(train_end, val_end, rows)
    if (train_end < window + horizon or val_end - train_end < horizon
            or rows - val_end < horizon):
        smallest = window + 3 * horizon
        need = next((n for n in range(smallest, 100 * smallest + 1000)
                     if _fits(n, val_fraction, test_fraction, window, horizon)), None)
        hint = f"need at least {need} rows" if need else "use more rows or smaller fractions"
        raise UserError(f"too few rows ({rows}) for window {window}, horizon {horizon} and the "
                        f"train/validation/test split (val {val_fraction}, test {test_fraction}); "
                        f"{hint}")
    return split


def _fits(rows: int, val_fraction: float, test_fraction: float, window: int,
          horizon: int) -> bool:
    val_end = rows - int(round(rows * test_fraction))
    train_end = val_end - int(round(rows * val_fraction))
    return (train_end >= window + horizon and val_end - train_end >= horizon
            and rows - val_end >= horizon)
