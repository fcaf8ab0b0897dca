"""Z-scores per series, each fitted on its series' training rows (a single series is
a panel of one: one row of statistics)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError


@dataclass
class Scaler:
    """Per-column z-scores of each series, fitted on its training rows only:

        z = (x - mean[s]) / std[s]     mean, std [series, columns], s the row's series

    Arguments:
        mean, std: float64 [series, columns].
        columns: the column names.
        per_series: how config.json records it: True for a panel (`per_series`, nested
            lists), False for a single series (flat lists; a run's one series' statistics
            are constants of its exported model).

    A single series refuses a column constant in its training part (it carries nothing
    to learn from); in a panel such a column gets std 1 in that series (the run still
    learns from the other series).
    """

    mean: np.ndarray
    std: np.ndarray
    columns: list[str]
    per_series: bool = False

    @classmethod
    def fit(cls, values: np.ndarray, columns: list[str],
            parts: list[tuple[int, int]] | None = None) -> "Scaler":
        """Fitted on `values[start:end]` for each series' (start, end) in `parts`, or,
        without `parts`, on all of `values` as one series' training rows."""
        if parts is None:
            mean, std = values.mean(axis=0), values.std(axis=0)
            for name, spread in zip(columns, std):
                if not spread > 1e-12 * max(1.0, float(np.abs(values).max())):
                    raise UserError(f"column {name!r} is constant in the training part; "
                                    "it carries no information to scale or learn from")
            return cls(mean[None], std[None], list(columns))
        mean = np.empty((len(parts), len(columns)))
        std = np.empty_like(mean)
        for i, (start, end) in enumerate(parts):
            rows = values[start:end]
            mean[i], std[i] = rows.mean(axis=0), rows.std(axis=0)
        std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
        return cls(mean, std, list(columns), per_series=True)

    def to_dict(self) -> dict:
        """The `scaler` record of config.json."""
        if self.per_series:
            return {"columns": self.columns, "per_series": True, "mean": self.mean.tolist(),
                    "std": self.std.tolist()}
        return {"columns": self.columns, "mean": self.mean[0].tolist(),
                "std": self.std[0].tolist()}

    @classmethod
    def from_dict(cls, saved: dict) -> "Scaler":
        """The scaler a run recorded in config.json (`to_dict`)."""
        mean = np.asarray(saved["mean"], np.float64)
        std = np.asarray(saved["std"], np.float64)
        per_series = bool(saved.get("per_series"))
        if not per_series:
            mean, std = mean[None], std[None]
        return cls(mean, std, list(saved["columns"]), per_series)

    def transform(self, values: np.ndarray, series: np.ndarray | None = None) -> np.ndarray:
        """Rows [rows, columns] in z-scores; `series` [rows]: each row's series (default
        the first)."""
        index = 0 if series is None else series
        return (values - self.mean[index]) / self.std[index]

    def inverse_targets(self, scaled: np.ndarray, n_targets: int) -> np.ndarray:
        """Un-scale the first series' forecasts [..., targets] (first `n_targets` columns)."""
        return scaled * self.std[0, :n_targets] + self.mean[0, :n_targets]
