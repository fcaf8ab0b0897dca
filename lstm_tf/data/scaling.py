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

    A column constant in a series' training part gets std 1 there (a constant target is
    still forecast: the anchor's forecast, in the same units); `check_features_vary`
    refuses a feature that is constant in every series.
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
        mean, std, flat = _statistics(values, parts)
        return cls(mean, np.where(flat, 1.0, std), list(columns), per_series=parts is not None)

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


def _statistics(values: np.ndarray, parts: list[tuple[int, int]] | None):
    """Mean and std [series, columns] of each part's rows, and where the std is ~0."""
    rows = [values[start:end] for start, end in parts or [(0, len(values))]]
    mean = np.array([r.mean(axis=0) for r in rows])
    std = np.array([r.std(axis=0) for r in rows])
    return mean, std, ~(std > 1e-12 * np.maximum(1.0, np.abs(mean)))


def check_features_vary(values: np.ndarray, columns: list[str], n_targets: int,
                        parts: list[tuple[int, int]]) -> None:
    """Refuse a feature (a column after the first `n_targets`) constant in the training
    rows `values[start:end]` of every series: it carries nothing to learn from. (A
    constant target is forecast: its series still has a future to forecast.)"""
    flat = _statistics(values, parts)[2].all(axis=0)
    for column in np.flatnonzero(flat[n_targets:]) + n_targets:
        raise UserError(f"column {columns[column]!r} is constant in the training part"
                        f"{' of every series' if len(parts) > 1 else ''}; it carries no "
                        f"information to scale or learn from")
